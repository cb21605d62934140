"""The claim engine: manipulation checks gate every verdict, undecided verdicts say how many seeds would settle
them, "no difference" is decided by equivalence, and "any of N" is Holm-corrected."""
import math

import pytest
from scipy import stats

from study import claims as C
from study.engine.stats import Estimate, holm, p_above, proportion


def est(mean, sd, n):
    """An Estimate with the t-interval of n values of this mean and spread."""
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, sd, n)


def test_a_failed_check_makes_any_verdict_not_testable():
    clear_win = C.above("gain", est(0.30, 0.01, 10), 0.0)
    clear_loss = C.above("gain", est(-0.30, 0.01, 10), 0.0)
    for part in (clear_win, clear_loss):
        assert part.verdict in (C.SUPPORTED, C.NOT_SUPPORTED)
        bad = C.verdict("C0", [part], [C.check("baseline_trains", 0.11, ">", 0.2, "mlp")])
        assert bad.verdict == C.NOT_TESTABLE and [c.name for c in bad.failed_checks] == ["baseline_trains"]
        good = C.verdict("C0", [part], [C.check("baseline_trains", 0.95, ">", 0.2, "mlp")])
        assert good.verdict == part.verdict
    # a check that could not be measured fails too, and the stored form keeps the failing number
    v = C.verdict("C0", [clear_win], [C.check("aux_leaves_chance", math.nan, ">", 0.6)])
    assert v.verdict == C.NOT_TESTABLE
    d = v.to_dict()
    assert d["verdict"] == "not testable" and d["checks"][0]["passed"] is False and "reason" not in d


def test_interval_parts_and_their_combination():
    assert C.above("a", est(0.1, 0.05, 8), 0.0).verdict == C.SUPPORTED
    assert C.below("a", est(0.1, 0.05, 8), 0.0).verdict == C.NOT_SUPPORTED
    straddle = C.above("a", est(0.01, 0.05, 8), 0.0)
    assert straddle.verdict == C.INCONCLUSIVE
    win, loss = C.above("w", est(0.1, 0.05, 8), 0.0), C.above("l", est(-0.1, 0.05, 8), 0.0)
    assert C.verdict("C0", [win, win]).verdict == C.SUPPORTED
    assert C.verdict("C0", [win, straddle]).verdict == C.INCONCLUSIVE
    assert C.verdict("C0", [straddle, loss]).verdict == C.NOT_SUPPORTED
    assert C.above("a", Estimate(0.3, math.nan, math.nan, math.nan, 1), 0.0).verdict == C.INCONCLUSIVE


def test_power_says_how_many_seeds_would_settle_an_undecided_interval():
    part = C.above("gain", est(0.01, 0.02, 5), 0.0)
    assert part.verdict == C.INCONCLUSIVE
    n = part.seeds_needed
    # with n seeds at the same mean and spread the interval clears 0; with n - 1 it does not
    assert C.above("gain", est(0.01, 0.02, n), 0.0).verdict == C.SUPPORTED
    assert C.above("gain", est(0.01, 0.02, n - 1), 0.0).verdict == C.INCONCLUSIVE
    assert 15 < n < 40  # about (1.96 * 0.02 / 0.01)^2 = 15.4, a little more for the t quantile
    # a mean sitting on the threshold: no number of seeds would do
    assert C.above("gain", est(0.0, 0.02, 5), 0.0).seeds_needed is None
    v = C.verdict("C0", [part, C.above("other", est(0.002, 0.02, 5), 0.0)])
    assert v.verdict == C.INCONCLUSIVE and v.seeds_needed > n  # the harder part decides
    assert C.verdict("C0", [part, C.above("flat", est(0.0, 0.02, 5), 0.0)]).seeds_needed is None
    assert C.verdict("C0", [C.above("w", est(0.1, 0.01, 5), 0.0)]).seeds_needed is None  # decided: no power


def test_power_for_a_share_uses_its_wilson_interval():
    e = proportion(6, 10)  # 0.6, undecided against 0.5
    part = C.above("success", e, 0.5)
    assert part.verdict == C.INCONCLUSIVE and part.seeds_needed > 10
    k = part.seeds_needed
    assert proportion(round(0.6 * k * 1.1), round(k * 1.1)).lo > 0.5  # 10% above the estimate clears it


def test_equivalence_can_support_no_difference():
    tie = C.equivalent("tie", est(0.002, 0.01, 12), 0.02)
    assert tie.verdict == C.SUPPORTED
    far = C.equivalent("tie", est(0.08, 0.01, 12), 0.02)
    assert far.verdict == C.NOT_SUPPORTED
    unsure = C.equivalent("tie", est(0.005, 0.03, 4), 0.02)
    assert unsure.verdict == C.INCONCLUSIVE and unsure.seeds_needed > 4
    # the 90% interval decides equivalence (two one-sided 5% tests), not the 95% one
    e = est(0.0, 0.02, 10)
    half90 = stats.t.ppf(0.95, 9) * 0.02 / math.sqrt(10)
    assert C.equivalent("t", e, half90 * 1.01).verdict == C.SUPPORTED
    assert C.equivalent("t", e, half90 * 0.99).verdict == C.INCONCLUSIVE


def test_holm_controls_any_of_n():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan])[0] == 1.0  # an undefined comparison still counts towards N (conservative)
    # one comparison that clears the uncorrected 2.5% but not Holm over 48 is not "supported"
    weak = est(0.02, 0.02, 8)
    assert p_above(weak, 0.0) < C.ALPHA
    flat = {f"c{i}": est(0.001 * (i % 3 - 1), 0.02, 8) for i in range(47)}
    part = C.any_above("negative_transfer", {"weak": weak, **flat}, 0.0)
    assert part.verdict == C.INCONCLUSIVE
    assert part.comparisons["weak"]["p_holm"] > C.ALPHA
    strong = C.any_above("x", {"strong": est(0.2, 0.01, 8), **flat}, 0.0)
    assert strong.verdict == C.SUPPORTED
    none = C.any_above("x", {f"c{i}": est(-0.2, 0.01, 8) for i in range(5)}, 0.0)
    assert none.verdict == C.NOT_SUPPORTED


def test_missing_grid_is_not_testable_and_records_what_is_missing():
    v = C.missing("C9", "rates with dropout")
    assert v.verdict == C.NOT_TESTABLE and v.to_dict()["missing"] == "rates with dropout"


def test_a_check_needs_a_known_comparison():
    with pytest.raises(ValueError):
        C.check("x", 1.0, "=>", 0.0)
