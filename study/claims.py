"""The claim engine shared by every study: numbers in, verdicts out, no words.

A claim (id and chapter section from CLAIMS.md) has a decision function over a run's tables and the thresholds
it declares beside it. The function measures, then states

- its **checks** (manipulation checks, preconditions): the conditions under which the test means anything,
  e.g. "the baseline trains above chance". If one fails, the claim is *not testable in this run*, whatever the
  comparisons say;
- its **parts**: comparisons with a declared threshold, each an interval test (`above`, `below`), an
  equivalence test with a margin (`equivalent`, two one-sided tests), a Holm-corrected "any of N" test
  (`any_above`) or an exact comparison of a deterministic number (`exact`);
- any further named **numbers** the report cites.

`verdict()` combines them: not testable if a check failed; otherwise every part must hold. An undecided verdict
carries the number of seeds that would settle it if the means and spreads stayed as measured (or None when no
number would). The words (statements, rules, reasons) live in the templates and are rendered at report time
from what `Verdict.to_dict()` stores in each run's `claims.json`.
"""
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from study.data.used import used
from study.engine.stats import MAX_SEEDS, Estimate, holm, p_above, seeds_for_halfwidth

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE = "supported", "not supported", "inconclusive", "not testable"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTABLE)
ALPHA = 0.025  # one-sided, so that a single comparison matches the two-sided 95% interval
OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


@dataclass
class Check:
    """A manipulation check: `value op threshold` must hold for the claim's test to mean anything. A value that
    could not be measured (NaN) fails. `subject` says what was checked when one check runs for several
    arms (e.g. name "trains", subject "mlp-permuted"); the template's `check_<name>` macro words it."""
    name: str
    value: float
    op: str
    threshold: float
    subject: str = ""
    passed: bool = field(init=False)

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"check {self.name}: unknown comparison {self.op!r}; allowed: {', '.join(OPS)}")
        self.value, self.threshold = float(self.value), float(self.threshold)
        self.passed = math.isfinite(self.value) and bool(OPS[self.op](self.value, self.threshold))


def check(name: str, value: float, op: str, threshold: float, subject: str = "") -> Check:
    return Check(name, value, op, threshold, subject)


@dataclass
class Part:
    """One comparison of a claim, with its own verdict."""
    name: str
    test: str  # above | below | equivalent | any_above | exact
    verdict: str
    threshold: float  # the margin, for `equivalent`
    estimate: dict | None = None  # Estimate.to_dict()
    seeds_needed: int | None = None  # for an inconclusive part: seeds that would settle it; None: no number would
    comparisons: dict | None = None  # for any_above: name -> {estimate, p_holm}
    unit: str = "num"  # how the report formats its numbers: pt (a difference of shares), acc, num, signed, sig, pct


def _side(est: Estimate, threshold: float, above: bool) -> str:
    if not est.defined:
        return INCONCLUSIVE
    if above:
        return SUPPORTED if est.lo > threshold else NOT_SUPPORTED if est.hi < threshold else INCONCLUSIVE
    return SUPPORTED if est.hi < threshold else NOT_SUPPORTED if est.lo > threshold else INCONCLUSIVE


def above(name: str, est: Estimate, threshold: float, unit: str = "num") -> Part:
    """Supported when the whole 95% interval lies above the threshold, not supported when wholly below."""
    v = _side(est, threshold, True)
    return Part(name, "above", v, threshold, est.to_dict(),
                est.seeds_to_clear(threshold) if v == INCONCLUSIVE else None, unit=unit)


def below(name: str, est: Estimate, threshold: float, unit: str = "num") -> Part:
    """Supported when the whole 95% interval lies below the threshold, not supported when wholly above."""
    v = _side(est, threshold, False)
    return Part(name, "below", v, threshold, est.to_dict(),
                est.seeds_to_clear(threshold) if v == INCONCLUSIVE else None, unit=unit)


def equivalent(name: str, est: Estimate, margin: float, unit: str = "num") -> Part:
    """"No difference beyond ±margin", by two one-sided tests: supported when the 90% interval lies inside the
    margins; not supported when the 95% interval lies wholly outside them; inconclusive in between."""
    if not est.defined:
        return Part(name, "equivalent", INCONCLUSIVE, margin, est.to_dict(), None, unit=unit)
    half95 = (est.hi - est.lo) / 2
    half90 = half95 * _t_ratio(est.n, 0.90, 0.95) if est.kind == "t" else half95 * 1.6449 / 1.9600
    if abs(est.mean) + half90 < margin:
        v = SUPPORTED
    elif est.lo > margin or est.hi < -margin:
        v = NOT_SUPPORTED
    else:
        v = INCONCLUSIVE
    need = None
    if v == INCONCLUSIVE:
        inside = abs(est.mean) < margin
        need = seeds_for_halfwidth(est, abs(margin - abs(est.mean)), 0.90 if inside else 0.95)
    return Part(name, "equivalent", v, margin, est.to_dict(), need, unit=unit)


def _t_ratio(n: int, level_a: float, level_b: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + level_a / 2, n - 1) / stats.t.ppf(0.5 + level_b / 2, n - 1))


def any_above(name: str, estimates: dict[str, Estimate], threshold: float, unit: str = "num") -> Part:
    """"At least one of N comparisons lies above the threshold", Holm-corrected over the N: supported when the
    smallest Holm-adjusted one-sided p-value is below ALPHA; not supported when every comparison lies
    significantly below (Holm again); inconclusive otherwise."""
    names = list(estimates)
    up = holm([p_above(estimates[k], threshold) for k in names])
    down = holm([p_above(_mirror(estimates[k]), -threshold) for k in names])
    comps = {k: {"estimate": estimates[k].to_dict(), "p_holm": up[i]} for i, k in enumerate(names)}
    if any(p < ALPHA for p in up if math.isfinite(p)):
        v = SUPPORTED
    elif names and all(math.isfinite(p) and p < ALPHA for p in down):
        v = NOT_SUPPORTED
    else:
        v = INCONCLUSIVE
    need = None
    if v == INCONCLUSIVE:  # the comparison closest to clearing the first Holm step (level 1 - 2·ALPHA/N)
        level = 1 - 2 * ALPHA / max(1, len(names))
        options = [e.seeds_to_clear(threshold, level) for e in estimates.values() if e.mean > threshold]
        options = [n for n in options if n is not None]
        need = min(options) if options else None
    return Part(name, "any_above", v, threshold, None, need, comps, unit)


def _mirror(est: Estimate) -> Estimate:
    return Estimate(-est.mean, -est.hi, -est.lo, est.sd, est.n, est.kind)


def exact(name: str, value: float, op: str, threshold: float, unit: str = "num") -> Part:
    """A deterministic number (computed, not sampled over seeds) against a threshold: supported or not."""
    ok = math.isfinite(float(value)) and bool(OPS[op](float(value), threshold))
    return Part(name, f"exact {op}", SUPPORTED if ok else NOT_SUPPORTED, threshold,
                Estimate(float(value), float(value), float(value)).to_dict(), unit=unit)


@dataclass
class Verdict:
    claim: str
    verdict: str
    parts: dict[str, Part]
    checks: list[Check]
    numbers: dict  # further named numbers the reason cites: floats, or Estimate dicts
    seeds_needed: int | None = None  # when inconclusive: seeds that would settle every undecided part
    missing: str | None = None  # when the profile's grid lacks what the claim needs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["parts"] = {k: asdict(p) for k, p in self.parts.items()}
        return d

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def verdict(claim: str, parts: list[Part], checks: list[Check] = (), numbers: dict | None = None) -> Verdict:
    """Combine a claim's parts (every one must hold) under its checks (every one must pass)."""
    numbers = {k: v.to_dict() if isinstance(v, Estimate) else v for k, v in (numbers or {}).items()}
    checks, states = list(checks), [p.verdict for p in parts]
    if not parts:
        raise ValueError(f"{claim}: a verdict needs at least one part")
    if any(not c.passed for c in checks):
        return Verdict(claim, NOT_TESTABLE, {p.name: p for p in parts}, checks, numbers)
    if all(s == SUPPORTED for s in states):
        v = SUPPORTED
    elif NOT_SUPPORTED in states:
        v = NOT_SUPPORTED
    else:
        v = INCONCLUSIVE
    need = None
    if v == INCONCLUSIVE:
        open_parts = [p.seeds_needed for p in parts if p.verdict == INCONCLUSIVE]
        need = None if None in open_parts else min(max(open_parts), MAX_SEEDS + 1)
    return Verdict(claim, v, {p.name: p for p in parts}, checks, numbers, need)


def missing(claim: str, what: str) -> Verdict:
    """The verdict when the profile's grid lacks what the claim needs: not testable, saying what is missing."""
    return Verdict(claim, NOT_TESTABLE, {}, [], {}, None, what)


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    decide: Callable[[dict], Verdict] = field(repr=False)
    thresholds: dict = field(default_factory=dict)  # declared before the data: the rule's words cite them


def record(log, tables: dict, claims: list[Claim], started: float, metrics: dict | None = None) -> list[Verdict]:
    """The end of every study's run(): log its tables, decide its claims (claims.json and a `claims` tag for the
    MLflow runs list), and log summary metrics with the training and logging seconds since `started`."""
    for name, df in tables.items():
        log.table(name, df)
    verdicts = [c.decide(tables) for c in claims]
    log.json("claims.json", [v.to_dict() for v in verdicts])
    if hasattr(log, "datasets"):
        log.datasets(used())
    log.tags({"claims": " ".join(f"{v.claim}={v.verdict.replace(' ', '_')}" for v in verdicts)})
    log.metrics({**(metrics or {}), "train_seconds": time.perf_counter() - started - log.seconds,
                 "mlflow_seconds": log.seconds})
    log.flush()
    if hasattr(log, "close_children"):
        log.close_children()
    return verdicts
