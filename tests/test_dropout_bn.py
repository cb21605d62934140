"""The Dropout × BatchNorm study: its measurements against what theory says they must be, the batched layout
model against the member MLP, where each layout's shift is read, and every decision rule on synthetic tables."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from study.claims import VERDICTS
from study.data import digits
from study.engine import layouts as lay
from study.engine.measure import reestimate_bn, variance_shift
from study.engine.nets import Activation, MemberBatchNorm, MemberDropout, MemberMLP, MemberUout, MLPSpec
from study.studies import dropout_bn as db


def shifted_net(blocks, rate, d=32, seeds=(0, 1, 2)):
    """A layer whose input is zero-mean Gaussian, its BN statistics accumulated in train mode over many batches."""
    torch.manual_seed(0)
    spec = MLPSpec(d, d, len(blocks), 2, "relu", dropout=rate, blocks=blocks)
    model = MemberMLP(spec, list(seeds), "xavier")
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(300):
            model(torch.randn(256, d, generator=g))
    return model, torch.randn(20_000, d, generator=g)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_directly_before_bn_shifts_the_variance_by_the_retain_rate(rate):
    model, x = shifted_net(("drop bn act",), rate)
    shift = variance_shift(model, x)["shift"][:, 0]
    assert torch.allclose(shift, torch.full_like(shift, 1 / (1 - rate)), rtol=0.04), shift


def test_no_noise_means_no_shift_and_reestimation_removes_a_shift():
    clean, x = shifted_net(("bn act",), 0.0)
    assert torch.allclose(variance_shift(clean, x)["shift"][:, 0], torch.ones(3), rtol=0.03)
    noisy, x = shifted_net(("drop bn act",), 0.5)
    reestimate_bn(noisy, x)
    assert torch.allclose(variance_shift(noisy, x)["shift"][:, 0], torch.ones(3), rtol=1e-3)


# --- the layout model -------------------------------------------------------------------------------------------

def test_blocks_parse_into_noise_bn_and_noise_and_bad_forms_are_refused():
    assert lay.parse_block("drop bn act") == lay.Block("drop", True, None)
    assert lay.parse_block("bn act drop") == lay.Block(None, True, "drop")
    assert lay.parse_block("uout bn act") == lay.Block("uout", True, None)
    assert lay.parse_block("act") == lay.Block()
    for bad in ("bn drop act", "drop bn act drop", "act bn", "bn"):
        with pytest.raises(ValueError):
            lay.parse_block(bad)


def test_the_shift_is_read_at_the_first_bn_downstream_of_the_noise():
    first = {c: lay.first_bn_after_noise(lay.layout(c, *db.CONFIGS[c](10), 0.1)) for c in db.CONFIGS}
    assert first == {"none": None, "bn": None, "dropout": None, "drop_bn": 1, "bn_drop": 2, "split": None,
                     "drop_after_bn": None, "uout": 1, "uout_matched": 1}
    assert db.noise_layers("drop_bn", 10) == 10 and db.noise_layers("drop_after_bn", 10) == 1
    assert db.noise_layers("split", 10) == 2 and db.noise_layers("bn", 10) == 0


def test_uout_at_the_matched_beta_carries_dropouts_noise_variance():
    for p in (0.1, 0.3, 0.5):
        b = db.matched_beta(p)
        assert math.isclose(b**2 / 3, p / (1 - p))
        assert math.isclose(db.noise_variance("uout_matched", p), db.noise_variance("drop_bn", p))
    assert 14 < db.noise_variance("drop_bn", 0.3) / db.noise_variance("uout", 0.3) < 15  # the 14x


def small_model(configs, rate=0.3, d=32, seeds=(0, 1, 2), depth=1):
    lays = db.layouts_for(db.Params(), depth, configs, [rate])
    return lay.LayoutMLP(d, d, 2, lays, list(seeds), noise_seed=5)


def test_the_layout_model_matches_the_member_mlp_at_initialisation():
    d = digits(0)
    model = small_model(["none", "bn"], d=64, depth=3)
    for config in ("none", "bn"):
        blocks, _ = db.CONFIGS[config](3)
        ref = MemberMLP(MLPSpec(64, 64, 3, 2, "relu", blocks=tuple(blocks)), [0, 1, 2], "he")
        model.eval(), ref.eval()
        out = model(d.x_test[:50])[model.index(f"{config}@0")]
        assert torch.allclose(out, ref(d.x_test[:50]), atol=1e-5), config


def test_noise_masks_have_the_declared_rate_and_range():
    model = small_model(["dropout", "uout_matched"], rate=0.3)
    u = model._noise((model.members, 4000, 8))
    drop, uout = u[model.index("dropout@0.3")], u[model.index("uout_matched@0.3")]
    assert abs(float((drop == 0).float().mean()) - 0.3) < 0.01 and abs(float(drop.mean()) - 1) < 0.02
    b = db.matched_beta(0.3)
    assert float(uout.min()) >= 1 - b - 1e-6 and float(uout.max()) <= 1 + b + 1e-6
    assert abs(float(uout.var()) - b**2 / 3) < 0.02


@pytest.mark.parametrize("config,rate,want", [("drop_bn", 0.3, 1 / 0.7), ("uout_matched", 0.3, 1 / 0.7),
                                              ("uout", 0.3, 1 + 0.09 / 3), ("bn", 0.0, 1.0)])
def test_the_layout_models_shift_at_bn_1_is_the_predicted_one(config, rate, want):
    model = small_model([config], rate=rate)
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(300):
            model(torch.randn(256, 32, generator=g))
    shift = lay.layer_shift(model, torch.randn(20_000, 32, generator=g))["shift"][:, 0]
    assert torch.allclose(shift, torch.full_like(shift, want), rtol=0.04), shift


def test_layers_without_bn_have_no_shift_and_mc_dropout_of_a_clean_net_is_its_prediction():
    model = small_model(["none", "dropout"], depth=2)
    x, y = torch.randn(64, 32), torch.randint(0, 2, (64,))
    assert torch.isnan(lay.layer_shift(model, x)["shift"]).all()
    probs = lay.mc_predict(model, x, 3)
    model.eval()
    clean = torch.softmax(model(x), -1)
    i = model.index("none@0")
    assert torch.allclose(probs[i], clean[i], atol=1e-6) and not torch.allclose(probs[model.index("dropout@0.3")],
                                                                                clean[model.index("dropout@0.3")])
    want = F.cross_entropy(model(x)[i].reshape(-1, 2), y.repeat(3), reduction="none").view(3, -1).mean(1)
    assert torch.allclose(lay.nll(clean, y)[i], want, atol=1e-5)


def test_members_with_the_same_seed_start_from_the_same_weights():
    model = small_model(["bn", "drop_bn", "uout"], depth=2)
    w = model.weights[0]
    a, b = model.index("bn@0"), model.index("uout@0.3")
    assert torch.equal(w[a], w[b]) and not torch.equal(w[a][0], w[a][1])


# --- decision rules on synthetic tables -------------------------------------------------------------------------

def members(acc: dict, setting="full", rate=0.1, n=12, spread=0.004, **cols):
    rows = []
    for (config, base) in acc.items():
        for s in range(n):
            r = rate if config in db.NOISY else 0.0
            row = {"setting": setting, "config": config, "rate": r, "seed": s, "test_acc": base + spread * (s % 3 - 1),
                   "test_acc_reest": base + spread * (s % 3 - 1), "shift_first": 1.11 if config == "drop_bn" else math.nan,
                   "shift_max": 1.05, "train_acc": 1.0, "test_nll": 0.2, "mc_nll": 0.2, "first_bn": 0}
            row.update({k: v(config, s) if callable(v) else v for k, v in cols.items()})
            rows.append(row)
    return rows


def tables(rows):
    return {"members": pd.DataFrame(rows)}


def test_c10_is_decided_on_the_interaction_and_gated_by_training_and_shift():
    hurt = tables(members({"none": 0.96, "dropout": 0.95, "bn": 0.97, "drop_bn": 0.93}))
    v = db.decide_c10(hurt, 0.1)
    assert v.verdict == "supported" and abs(v.parts["interaction"].estimate["mean"] - (-0.03)) < 1e-9
    helps = tables(members({"none": 0.968, "dropout": 0.936, "bn": 0.971, "drop_bn": 0.974}))  # the quick run
    assert db.decide_c10(helps, 0.1).verdict == "not supported"
    dead = tables(members({"none": 0.96, "dropout": 0.25, "bn": 0.97, "drop_bn": 0.93}))
    v = db.decide_c10(dead, 0.1)
    assert v.verdict == "not testable" and [c.subject for c in v.failed_checks] == ["dropout-0.1"]
    flat = tables(members({"none": 0.96, "dropout": 0.95, "bn": 0.97, "drop_bn": 0.93}, shift_first=1.0))
    assert [c.name for c in db.decide_c10(flat, 0.1).failed_checks] == ["shift"]


def test_c11_is_an_equivalence_test_with_a_one_point_margin():
    same = tables(members({"bn": 0.97, "split": 0.969}, spread=0.001))
    assert db.decide_c11(same, 0.1).verdict == "supported"
    worse = tables(members({"bn": 0.97, "split": 0.94}, spread=0.001))
    assert db.decide_c11(worse, 0.1).verdict == "not supported"
    noisy = tables(members({"bn": 0.97, "split": 0.967}, spread=0.0,
                           test_acc=lambda c, s: 0.97 + (0.04 * (s % 2 - 0.5) if c == "split" else 0) - 0.003 *
                           (c == "split")))
    v = db.decide_c11(noisy, 0.1)
    assert v.verdict == "inconclusive" and v.seeds_needed > 12


def test_c12_needs_a_loss_to_remedy_and_then_every_remedy_to_beat_the_mixed_placement():
    nothing = tables(members({"bn": 0.971, "drop_bn": 0.974, "drop_after_bn": 0.974, "uout_matched": 0.972}))
    v = db.decide_c12(nothing, 0.1)
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["harm"]
    assert abs(v.failed_checks[0].value - (-0.003)) < 1e-9
    reest = lambda c, s: 0.95 + 0.004 * (s % 3 - 1) if c == "drop_bn" else 0.9  # noqa: E731
    loss = tables(members({"bn": 0.97, "drop_bn": 0.90, "drop_after_bn": 0.96, "uout_matched": 0.95},
                          test_acc_reest=reest))
    v = db.decide_c12(loss, 0.1)
    assert v.verdict == "supported" and set(v.parts) == {"drop_after_bn", "uout_matched", "reestimate"}
    loss["members"].loc[loss["members"]["config"] == "uout_matched", "test_acc"] -= 0.06
    assert db.decide_c12(loss, 0.1).verdict == "not supported"


def test_c9_needs_overfitting_and_then_higher_accuracy_and_lower_ensemble_nll():
    nll = lambda c, s: 0.15 + 0.01 * (s % 3) if c == "dropout" else 0.19 + 0.01 * (s % 3)  # noqa: E731
    good = tables(members({"none": 0.95, "dropout": 0.962}, "small", 0.3, train_acc=1.0, mc_nll=nll, test_nll=nll))
    v = db.decide_c9(good, 0.3)
    assert v.verdict == "supported" and abs(v.parts["nll_change"].estimate["mean"] + 0.04) < 1e-9
    fits = tables(members({"none": 0.95, "dropout": 0.962}, "small", 0.3, train_acc=0.96))
    v = db.decide_c9(fits, 0.3)
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["overfits"]


def test_the_deciding_rates_are_read_from_the_logged_theory_table():
    p = db.Params(rates=[0.1, 0.3], decide_rate=0.3, remedy_rate=0.1, small_rate=0.5)
    assert db._rates({"theory": db.theory_table(p)}) == (0.3, 0.1, 0.5)
    with pytest.raises(ValueError, match="decide_rate"):
        db.check_params(db.Params(rates=[0.3], decide_rate=0.1))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(db.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "layers", "theory"} <= set(s.tables)
    lay_t = s.tables["layers"]
    first = lay_t[(lay_t["config"] == "bn_drop") & lay_t["downstream"]]["bn_layer"].min()
    assert first == 2  # case (b): the first BN after the noise is BN 2
    assert [v["claim"] for v in s.verdicts] == ["C9", "C10", "C11", "C12"]
    assert all(v["verdict"] in VERDICTS and "reason" not in v for v in s.verdicts)
    for lang, title in (("ja", "Dropout と BatchNorm"), ("en", "Dropout and BatchNorm")):
        section = s.sections[lang]
        assert section and title in section and "failure" not in section
        assert "<th>C10</th>" in section
    assert "C10 [" not in s.notebook and "tables = study.run" in s.notebook
    assert not np.isnan(s.tables["members"].query("setting == 'small' and config == 'dropout'")["mc_nll"]).any()
