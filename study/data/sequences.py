"""Synthetic sequence tasks with a controllable time lag, generated from a seed (no download)."""
import torch

from study.data import Split
from study.data.used import recorded


@recorded("adding-problem", "seeded sequences (study.data.sequences)")
def compare_first_last(seed: int, length: int, n_train: int = 2048, n_val: int = 512, n_test: int = 1024) -> Split:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4) with its two marked values at the first
    and the last step, asked as a yes/no question: is u_1 + u_T > 1?

    Input per step: (u_t ~ U(0, 1), marker), the marker 1 at steps 1 and T. Between them lie length - 2 unmarked
    distractor values, so u_1 must be carried, as an analogue value, across a lag of length - 1 steps. Without
    memory the best rule uses u_T alone (answer yes when u_T > 1/2) and is right 3/4 of the time.
    x: (N, length, 2) float32, y: (N,) int64.
    """
    if length < 2:
        raise ValueError(f"need length >= 2 (two marked steps), got {length}")
    g = torch.Generator().manual_seed(int(seed))
    n = n_train + n_val + n_test
    u = torch.rand(n, length, generator=g)
    flag = torch.zeros(n, length)
    flag[:, 0] = flag[:, -1] = 1.0
    x = torch.stack([u, flag], dim=-1)
    y = (u[:, 0] + u[:, -1] > 1).long()
    a, b = n_train, n_train + n_val
    return Split(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])
