"""The claim engine shared by every study.

A claim carries its id (from CLAIMS.md), its chapter section, a statement in both languages, and a decision
rule whose threshold is declared beside it. Deciding it over a run's tables yields a verdict with the numbers
that decided it; reports show those numbers, never hand-typed ones.
"""
import math
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
