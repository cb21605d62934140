"""Intervals over seeds."""
import math

import numpy as np
from scipy import stats


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval; (mean, nan, nan) when fewer than two finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def paired_diff(a, b, col: str = "test_acc") -> tuple[float, float, float]:
    """Mean and 95% interval of the per-seed difference a - b of two configurations' tables. Configurations
    that share a seed share its minibatch order, so the difference is paired by seed."""
    j = a[["seed", col]].merge(b[["seed", col]], on="seed", suffixes=("_a", "_b"))
    return mean_ci((j[f"{col}_a"] - j[f"{col}_b"]).to_numpy())
