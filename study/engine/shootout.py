"""A fair optimizer comparison after DeepOBS (Schneider et al. 2019) and "Descending through a Crowded Valley"
(Schmidt et al. 2021): every optimizer gets the same learning-rate grid and the same epochs, the grid point is
chosen on validation data, the chosen setting is re-run with fresh seeds and scored on test data, and the
library's default learning rate is run beside it.

One engine run holds a whole learning-rate grid (or seeds × {tuned, default}) as members: every optimizer here
is linear in its learning rate (train.lr_scaling_is_exact), so members may each carry their own rate.
"""
import inspect
import math
import time

import numpy as np
import torch

from study.data import Split
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train


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


def fit(make_model, split: Split, optimizer: str, lrs: list[float], seeds: list[int], epochs: int,
        batch_size: int) -> dict:
    """Train one member per (lr, seed) pair in one engine run. Returns per-member arrays: the validation curve
    (epochs, M), final test/train metrics, and the run's CPU seconds per member and epoch."""
    model = make_model(seeds)
    t0 = time.process_time()
    with np.errstate(invalid="ignore"):
        hist = train(model, split, TrainSpec(optimizer, list(lrs) if len(set(lrs)) > 1 else lrs[0], epochs,
                                             batch_size))
    seconds = (time.process_time() - t0) / (len(seeds) * epochs)
    test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
    _, train_acc = evaluate(model, split.x_train, split.y_train)
    curve = lambda key: torch.stack([h[key] for h in hist]).cpu().numpy()
    train_curve = curve("train_loss")
    return {"val_loss": curve("val_loss"), "val_acc": curve("val_acc"), "train_loss": train_curve,
            "test_loss": test_loss.cpu().numpy(), "test_acc": test_acc.cpu().numpy(),
            "train_acc": train_acc.cpu().numpy(), "seconds_per_epoch": seconds,
            "diverged": diverged(train_curve, test_loss.cpu().numpy(), split.n_classes)}


BLOWUP = 10.0  # a loss above 10× that of a uniform guess, log(classes), counts as blown up


def diverged(train_curve: np.ndarray, test_loss: np.ndarray, classes: int) -> np.ndarray:
    """Per member: a NaN/inf loss anywhere, or a final loss above BLOWUP × log(classes) (a ReLU net can blow up
    to huge finite losses without ever producing a NaN)."""
    limit = BLOWUP * math.log(classes)
    with np.errstate(invalid="ignore"):
        return (~np.isfinite(train_curve).all(0) | ~np.isfinite(test_loss) | (train_curve[-1] > limit)
                | (test_loss > limit))


def choose(lrs: list[float], val_acc: np.ndarray, val_loss: np.ndarray, diverged: np.ndarray) -> int:
    """Index of the grid point with the best final validation accuracy (mean over tuning seeds; ties go to the
    lower validation loss). A point where any tuning seed diverged is never chosen; if every point diverged,
    the smallest learning rate is returned."""
    best, key = None, None
    for i, lr in enumerate(lrs):
        if diverged[i].any() or not np.isfinite(val_loss[i]).all():
            continue
        k = (round(float(np.mean(val_acc[i])), 9), -float(np.mean(val_loss[i])))  # round: float means tie exactly
        if key is None or k > key:
            best, key = i, k
    return int(np.argmin(lrs)) if best is None else best


def log_grid(lo: float, hi: float, points: int) -> list[float]:
    if points == 1:
        return [lo]
    return [float(v) for v in np.logspace(math.log10(lo), math.log10(hi), points)]


def first_epoch_below(curve: np.ndarray, target: float) -> np.ndarray:
    """Per member (columns), the first epoch (1-based) whose validation loss is <= target; NaN if never."""
    hit = np.nan_to_num(curve, nan=np.inf) <= target
    first = hit.argmax(0).astype(float) + 1
    first[~hit.any(0)] = np.nan
    return first
