"""A fair optimizer comparison after DeepOBS (Schneider et al. 2019) and "Descending through a Crowded Valley"
(Schmidt et al. 2021): every optimizer gets the same learning-rate grid and the same epochs, the grid point is
chosen on validation data, the chosen setting is re-run with fresh seeds and scored on test data, and the
library's default learning rate is run beside it.

One engine run holds a whole learning-rate grid (or seeds × {tuned, default}) as members: every optimizer here
is linear in its learning rate (train.lr_scaling_is_exact), so members may each carry their own rate.
"""
import inspect

import torch

from study.data import Split
from study.engine.train import OPTIMIZERS
from study.engine.tuning import BLOWUP, choose, diverged, first_epoch_below, fit, log_grid  # noqa: F401


def default_lr(optimizer: str) -> float:
    """The learning rate torch.optim uses when none is given (SGD's variants share SGD's)."""
    cls, _ = OPTIMIZERS[optimizer]
    return float(inspect.signature(cls).parameters["lr"].default)


def marked_sum(seed: int, length: int, n_train: int = 1024, n_val: int = 512, n_test: int = 1024) -> Split:
    """A sequence task: each step carries a value u ~ U(-1, 1) and a marker bit; exactly two steps are marked,
    and the label is 1 when the two marked values sum to more than 0 (a classification form of the adding
    problem of Hochreiter & Schmidhuber 1997). The net must find the marks and remember their values.
    x: (N, length, 2) float32, y: (N,) int64 in {0, 1}, both classes equally likely."""
    if length < 2:
        raise ValueError(f"marked_sum needs length >= 2, got {length}")
    g = torch.Generator().manual_seed(int(seed))
    n = n_train + n_val + n_test
    u = torch.rand(n, length, generator=g) * 2 - 1
    marks = torch.rand(n, length, generator=g).argsort(1)[:, :2]  # two distinct positions per sequence
    flag = torch.zeros(n, length).scatter_(1, marks, 1.0)
    y = ((u * flag).sum(1) > 0).long()
    x = torch.stack([u, flag], -1)
    a, b = n_train, n_train + n_val
    return Split(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])
