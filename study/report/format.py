"""The one formatter for numbers in reports: a value, or a mean with its 95% interval.

Each function takes an `Estimate`, its dict form (as stored in claims.json and facts), a (mean, lo, hi) tuple or
a plain number, and is registered as a Jinja2 filter of the same name, so templates write `{{ f.gain | pt }}`.
"""
import math

import numpy as np

from study.engine.stats import Estimate, estimate


def _triple(x) -> tuple[float, float, float]:
    if isinstance(x, Estimate):
        return x.mean, x.lo, x.hi
    if isinstance(x, dict):
        return float(x["mean"]), float(x["lo"]), float(x["hi"])
    if isinstance(x, (tuple, list)):
        return tuple(float(v) for v in x)
    return float(x), math.nan, math.nan


def _with_interval(x, one, clip=None) -> str:
    m, lo, hi = _triple(x)
    if not math.isfinite(m):
        return "–"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return one(m)
    if clip:
        lo, hi = max(lo, clip[0]), min(hi, clip[1])
    return f"{one(m)} [{one(lo)}, {one(hi)}]"


def pt(x, digits: int = 1) -> str:
    """A difference of two shares in percentage points: +1.2 pt [+0.3, +2.1]."""
    m, lo, hi = _triple(x)
    if not math.isfinite(m):
        return "–"
    body = _with_interval((m * 100, lo * 100, hi * 100), lambda v: f"{v:+.{digits}f}")
    return body.replace(" [", " pt [", 1) if "[" in body else body + " pt"


def num(x, digits: int = 2) -> str:
    """A value with its interval: 0.12 [0.05, 0.19]."""
    return _with_interval(x, lambda v: f"{v:.{digits}f}")


def signed(x, digits: int = 2) -> str:
    """A signed difference with its interval: +0.12 [+0.05, +0.19]."""
    return _with_interval(x, lambda v: f"{v:+.{digits}f}")


def acc(x, digits: int = 3) -> str:
    """An accuracy or other share with its interval, kept inside [0, 1]: 0.873 [0.861, 0.885]."""
    return _with_interval(x, lambda v: f"{v:.{digits}f}", clip=(0.0, 1.0))


def pct(x, digits: int = 0) -> str:
    """A share in percent with its interval: 87% [80, 92]."""
    m, lo, hi = _triple(x)
    body = _with_interval((m * 100, lo * 100, hi * 100), lambda v: f"{v:.{digits}f}", clip=(0.0, 100.0))
    return body.replace(" [", "% [", 1) if "[" in body else (body + "%" if body != "–" else body)


def sig(x, digits: int = 2) -> str:
    """Significant digits, for numbers over many orders of magnitude (gradient ratios): 2.3e-04 [1.1e-04, …]."""
    return _with_interval(x, lambda v: f"{v:.{digits}g}")


def fixed(x, digits: int = 2) -> str:
    """A plain number, no interval."""
    m = _triple(x)[0]
    return f"{m:.{digits}f}" if math.isfinite(m) else "–"


def count(x) -> str:
    """A whole number with thousands separators."""
    return f"{int(round(float(x))):,}"


def cell(values, digits: int = 3, clip=(0.0, 1.0)) -> str:
    """A table cell from per-seed values: the mean, then its interval on a second line."""
    e = estimate(np.asarray(values, dtype=float))
    if not math.isfinite(e.mean):
        return "–"
    if not e.defined:
        return f"{e.mean:.{digits}f}"
    lo, hi = (max(e.lo, clip[0]), min(e.hi, clip[1])) if clip else (e.lo, e.hi)
    return f"{e.mean:.{digits}f}\n[{lo:.{digits}f},\u00a0{hi:.{digits}f}]"


FILTERS = {f.__name__: f for f in (pt, num, signed, acc, pct, sig, fixed, count)}
