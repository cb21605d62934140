"""Transitional: the claim helpers of the studies whose words still live in Python (reasons frozen into
claims.json per language). Each study moves to study.claims and templates/studies/; this module goes with the
last one.

A claim carries its id (from CLAIMS.md), its chapter section, a statement in both languages, and a decision
rule whose threshold is declared beside it. Deciding it over a run's tables yields a verdict with the numbers
that decided it; reports show those numbers, never hand-typed ones.
"""
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)


@dataclass
class Verdict:
    claim: str
    verdict: str
    numbers: dict[str, float]  # the deciding numbers, named
    reason: dict[str, str]  # one sentence per language, built from `numbers`

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    statement: dict[str, str]  # paraphrase of the chapter, per language
    rule: dict[str, str]  # the decision rule in words, per language (thresholds formatted in)
    decide: Callable[[dict], Verdict] = field(repr=False)


def interval_verdict(lo: float, hi: float, threshold: float, *, above: bool = True) -> str:
    """Supported when the whole 95% interval lies on the claim's side of the threshold, not supported when it
    lies wholly on the other side, inconclusive when it straddles the threshold or is undefined (too few seeds)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return INCONCLUSIVE
    if above:
        return SUPPORTED if lo > threshold else NOT_SUPPORTED if hi < threshold else INCONCLUSIVE
    return SUPPORTED if hi < threshold else NOT_SUPPORTED if lo > threshold else INCONCLUSIVE


def all_of(*verdicts: str) -> str:
    """A claim made of several parts holds only if every part does."""
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return NOT_SUPPORTED if NOT_SUPPORTED in verdicts else INCONCLUSIVE


def missing(cid: str, what: str) -> Verdict:
    """The verdict when a profile's grid lacks what a claim needs."""
    return Verdict(cid, INCONCLUSIVE, {}, {"ja": f"この設定の格子には判定に必要な条件({what})がない。",
                                          "en": f"The grid of this profile lacks what the claim needs ({what})."})


def points(m: float, lo: float, hi: float) -> str:
    """A difference of accuracies in percentage points with its 95% interval."""
    if not math.isfinite(lo):
        return f"{m * 100:+.1f} pt (n<2)"
    return f"{m * 100:+.1f} pt [{lo * 100:+.1f}, {hi * 100:+.1f}]"


def number(m: float, lo: float, hi: float) -> str:
    """A value with its 95% interval, two decimals."""
    return f"{m:.2f} [{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else f"{m:.2f} (n<2)"


def talking_point(claim: Claim, verdict: dict | None, lang: str) -> str | None:
    """An instructor's prompt for a claim the data did not plainly support."""
    if not verdict or verdict["verdict"] == SUPPORTED:
        return None
    reason = verdict["reason"][lang]
    if verdict["verdict"] == NOT_SUPPORTED:
        return {"ja": f"{claim.id}({claim.section})はこのデータでは支持されなかった: {reason} "
                      "章の主張が誤りなのか、実験の設定(深さ、初期化、学習率、予算)が主張の前提と違うのかを学生に問う。",
                "en": f"{claim.id} ({claim.section}) is not supported by this data: {reason} Ask whether the chapter "
                      "is wrong or whether the setup (depth, initialisation, learning rate, budget) differs from what "
                      "the claim assumes."}[lang]
    return {"ja": f"{claim.id}({claim.section})は判断保留: {reason} 区間が基準をまたいでいる。シードを増やすと"
                  "決着するのか、効果そのものが小さいのかを議論する。",
            "en": f"{claim.id} ({claim.section}) is inconclusive: {reason} The interval straddles the threshold. "
                  "Discuss whether more seeds would settle it or whether the effect itself is small."}[lang]


def record(log, tables: dict, claims: list[Claim], started: float, metrics: dict | None = None) -> list[Verdict]:
    """The end of every study's run(): log its tables, decide its claims (claims.json and a `claims` tag for the
    MLflow runs list), and log summary metrics with the training and logging seconds since `started`."""
    for name, df in tables.items():
        log.table(name, df)
    verdicts = [c.decide(tables) for c in claims]
    log.json("claims.json", [v.to_dict() for v in verdicts])
    if hasattr(log, "datasets"):
        from study.data.used import used

        log.datasets(used())
    log.tags({"claims": " ".join(f"{v.claim}={v.verdict}" for v in verdicts)})
    log.metrics({**(metrics or {}), "train_seconds": time.perf_counter() - started - log.seconds,
                 "mlflow_seconds": log.seconds})
    log.flush()
    if hasattr(log, "close_children"):
        log.close_children()
    return verdicts
