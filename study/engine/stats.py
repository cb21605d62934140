"""Intervals over seeds, and how many seeds an interval would need to clear a threshold.

An `Estimate` is a mean with its 95% interval and what made it (the spread and the number of values), so that
the claim engine can say how many seeds would settle an undecided comparison without going back to the data.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
MAX_SEEDS = 10_000  # beyond this, "more seeds" is no longer an answer a course can act on


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    sd: float = math.nan  # per-value standard deviation (of the paired differences for a paired estimate)
    n: int = 0
    kind: str = "t"  # "t": Student-t interval of a mean; "wilson": Wilson interval of a proportion;
    # "newcombe": Newcombe's interval of a difference of two proportions (sd: per-pair spread, n: per share)

    @property
    def defined(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Estimate":
        return cls(**d)

    def seeds_to_clear(self, threshold: float, level: float = LEVEL) -> int | None:
        """The smallest number of values that would put this interval wholly on one side of `threshold` if the
        mean and spread stayed as measured; None when no number would (the mean sits on the threshold, or
        there is no spread to extrapolate from)."""
        return seeds_for_halfwidth(self, abs(self.mean - threshold), level)


def seeds_for_halfwidth(est: Estimate, distance: float, level: float = LEVEL) -> int | None:
    """The smallest n whose interval half-width, at the estimate's spread, is below `distance`."""
    if est.kind == "bootstrap" or not (math.isfinite(distance) and distance > 1e-12 * max(1.0, abs(est.mean))):
        return None  # a bootstrap over inputs (seeds fixed) says nothing about how many seeds would settle it
    sd = est.sd if est.kind in ("t", "newcombe") else math.sqrt(max(est.mean * (1 - est.mean), 1e-12))
    if not (math.isfinite(sd) and sd > 0):
        return None
    z = stats.norm.ppf(0.5 + level / 2)
    n = max(2, math.ceil((z * sd / distance) ** 2))
    if est.kind == "t":  # the t quantile is wider than z: step up until it fits
        while n <= MAX_SEEDS and stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n) >= distance:
            n += max(1, n // 50)
    return n if n <= MAX_SEEDS else MAX_SEEDS + 1


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval; (mean, nan, nan) when fewer than two finite values."""
    e = estimate(values, level)
    return e.mean, e.lo, e.hi


def estimate(values, level: float = LEVEL) -> Estimate:
    """Mean, two-sided Student-t interval, spread and count of the finite values."""
    v = np.asarray([x for x in np.asarray(values, dtype=float).ravel() if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if len(v) < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, 1)
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * sd / math.sqrt(len(v)))
    return Estimate(mean, mean - half, mean + half, sd, len(v))


def paired(a, b, col: str = "test_acc", level: float = LEVEL) -> Estimate:
    """The per-seed difference a - b of two configurations' tables. Configurations that share a seed share
    its minibatch order, so the difference is paired by seed."""
    j = a[["seed", col]].merge(b[["seed", col]], on="seed", suffixes=("_a", "_b"))
    return estimate((j[f"{col}_a"] - j[f"{col}_b"]).to_numpy(), level)


def paired_diff(a, b, col: str = "test_acc") -> tuple[float, float, float]:
    """`paired` as (mean, lo, hi)."""
    e = paired(a, b, col)
    return e.mean, e.lo, e.hi


def proportion(successes: int, n: int, level: float = LEVEL) -> Estimate:
    """A share with its Wilson score interval (sensible at 0/n and n/n, where the normal interval collapses)."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "wilson")
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if successes == 0 else max(0.0, float(centre - half))  # exact ends at 0/n and n/n, no rounding
    hi = 1.0 if successes == n else min(1.0, float(centre + half))
    return Estimate(p, lo, hi, math.sqrt(p * (1 - p)), n, "wilson")


def proportion_difference(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> Estimate:
    """The difference k1/n1 - k2/n2 of two independent shares with Newcombe's (1998, method 10) hybrid score
    interval, built from the two Wilson intervals. `sd` is sqrt(p1(1-p1) + p2(1-p2)), the spread of one pair,
    so that seeds_to_clear can say how many seeds per share would settle a comparison."""
    if n1 == 0 or n2 == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, "newcombe")
    a, b = proportion(k1, n1, level), proportion(k2, n2, level)
    d = a.mean - b.mean
    lo = d - math.sqrt((a.mean - a.lo) ** 2 + (b.hi - b.mean) ** 2)
    hi = d + math.sqrt((a.hi - a.mean) ** 2 + (b.mean - b.lo) ** 2)
    sd = math.sqrt(a.mean * (1 - a.mean) + b.mean * (1 - b.mean))
    return Estimate(d, lo, hi, sd, min(n1, n2), "newcombe")


def p_above(est: Estimate, threshold: float) -> float:
    """One-sided p-value of `mean <= threshold` against `mean > threshold` (t for means, z for proportions)."""
    if est.n < 2 or not math.isfinite(est.sd):
        return math.nan
    if est.sd == 0:
        return 0.0 if est.mean > threshold else 1.0
    stat = (est.mean - threshold) / (est.sd / math.sqrt(est.n))
    return float(stats.t.sf(stat, est.n - 1) if est.kind == "t" else stats.norm.sf(stat))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of N p-values (controls the chance of any false finding at the given level)."""
    order = sorted(range(len(pvalues)), key=lambda i: (not math.isfinite(pvalues[i]), pvalues[i]))
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        if not math.isfinite(pvalues[i]):
            continue
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
