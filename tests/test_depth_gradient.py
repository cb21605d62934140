"""Depth and the vanishing gradient: the mean-field factor, the measurements, the engine speedups the study relies
on (exact), the decision rules on constructed tables (each able to come out either way), and the smoke run."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from study.claims import INCONCLUSIVE, NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, VERDICTS
from study.data import digits
from study.engine.measure import layer_gradients
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.train import OPTIMIZERS, TrainSpec, grad_scaling_is_exact, lr_scaling_is_exact, train
from study.studies import depth_gradient as dg


# --- the mean-field factor and the measurement -------------------------------------------------------------------

def test_the_mean_field_factor_is_the_weights_scale_times_the_rms_derivative():
    # Xavier at equal fan-in and fan-out has n·σ² = 1, He has 2, N(0, 0.01²) at n = 64 has 0.0064
    assert dg.mean_field_factor(64, "xavier", 0.25 ** 2) == pytest.approx(0.25)
    assert dg.mean_field_factor(64, "he", 0.25 ** 2) == pytest.approx(0.25 * math.sqrt(2))
    assert dg.mean_field_factor(64, "normal001", 0.25 ** 2) == pytest.approx(0.02)


def sigmoid_probe(init, depth=8, width=64, seeds=4):
    split = digits(0)
    model = MemberMLP(MLPSpec(split.n_features, width, depth, split.n_classes, "sigmoid"), list(range(seeds)), init)
    rows = dg.layer_rows(model, split.x_train, split.y_train, {"depth": depth, "activation": "sigmoid",
                                                               "batchnorm": False}, [init] * seeds,
                         list(range(seeds)), "init")
    for r in rows:
        del r["member"]
    return dg.decay_table(pd.DataFrame(rows), width)


@pytest.mark.parametrize("init,expected", [("normal001", 0.020), ("xavier", 0.234), ("he", 0.314)])
def test_measured_sigmoid_factors_match_the_mean_field_prediction(init, expected):
    d = sigmoid_probe(init)
    assert d["signal_decay"].mean() == pytest.approx(expected, rel=0.06)
    assert (d["signal_decay"] / d["mean_field"]).mean() == pytest.approx(1.0, abs=dg.MEANFIELD_MARGIN)
    assert (d["max_act_deriv"] <= 0.25 + 1e-6).all()  # σ' alone never exceeds 0.25, whatever the weights


def test_with_tiny_relu_weights_the_weight_gradient_looks_healthy_while_the_signal_vanishes():
    split = digits(0)
    model = MemberMLP(MLPSpec(split.n_features, 64, 8, split.n_classes, "relu"), [0, 1], "normal001")
    g = layer_gradients(model, split.x_train, split.y_train)
    weight_ratio = g["weight_grad"][:, 0] / g["weight_grad"][:, -1]
    signal_ratio = g["signal_grad"][:, 0] / g["signal_grad"][:, -1]
    assert (weight_ratio > 0.3).all() and (signal_ratio < 1e-6).all()


def test_measuring_gradients_leaves_the_batchnorm_running_statistics_alone():
    split = digits(0)
    model = MemberMLP(MLPSpec(split.n_features, 16, 3, split.n_classes, "sigmoid", batchnorm=True), [0, 1], "xavier")
    train(model, split, TrainSpec("momentum", 0.05, 1, 64))
    before = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in model.norms()]
    layer_gradients(model, split.x_train, split.y_train)
    for bn, (mean, var) in zip(model.norms(), before):
        assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)


# --- the engine speedups are exact ---------------------------------------------------------------------------------

def test_loss_scaling_is_exact_for_the_sgd_family_only():
    exact = {name for name in OPTIMIZERS if grad_scaling_is_exact(name)}
    assert exact == {"sgd", "momentum", "nesterov"}
    assert all(lr_scaling_is_exact(name) for name in OPTIMIZERS)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
def test_a_member_trained_in_a_grid_by_loss_scaling_equals_the_same_member_trained_alone(optimizer):
    # (the adaptive optimizers keep the scaled-step path, checked member by member in test_engine.py)
    split = digits(0)
    spec = MLPSpec(split.n_features, 16, 3, split.n_classes, "sigmoid", batchnorm=True)
    lrs = [0.03, 0.3]
    grid = MemberMLP(spec, [5, 5], "xavier")
    train(grid, split, TrainSpec(optimizer, lrs, 2, 64))
    alone = MemberMLP(spec, [5], "xavier")
    train(alone, split, TrainSpec(optimizer, lrs[1], 2, 64))
    for a, b in zip(grid.parameters(), alone.parameters()):
        assert torch.allclose(a[1], b[0], atol=1e-4, rtol=1e-4)
    bn_grid, bn_alone = grid.norms()[0], alone.norms()[0]
    assert torch.allclose(bn_grid.running_var[1], bn_alone.running_var[0], rtol=1e-4)


def test_batchnorm_members_match_torchs_batchnorm1d():
    x = torch.randn(3, 32, 8)
    from study.engine.nets import MemberBatchNorm

    bn = MemberBatchNorm(3, 8)
    out = bn(x)
    for k in range(3):
        ref = torch.nn.BatchNorm1d(8)
        assert torch.allclose(out[k], ref(x[k]), atol=1e-5)
        assert torch.allclose(bn.running_var[k, 0], ref.running_var, atol=1e-6)


# --- preconditions and rules on constructed tables -----------------------------------------------------------------

def tables(acc: dict, signal: dict, decay: dict | None = None, seeds=4, steps=None) -> dict:
    """Members and init-phase decay rows for depths 1 and 10. acc[(act, depth, bn)] = test accuracy (a small
    seed-to-seed spread is added); signal[(act, bn)] = first/last ∂L/∂h ratio at depth 10;
    decay[(act, bn)] = per-layer signal factor."""
    jitter = np.linspace(-0.01, 0.01, seeds)
    members, dec = [], []
    for (act, depth, bn), a in acc.items():
        for s in range(seeds):
            members.append({"depth": depth, "activation": act, "batchnorm": bn, "init": dg.DESIGNED[act], "seed": s,
                            "lr": 0.1, "lr_at_edge": False, "test_acc": a + jitter[s], "diverged": False,
                            "steps_to_target": steps if steps else math.nan})
    for (act, bn), r in signal.items():
        inits = ("normal001", "xavier", "he") if act == "sigmoid" else (dg.DESIGNED[act],)
        for s in range(seeds):
            for init in inits:
                pred = dg.mean_field_factor(64, init, 0.23 ** 2)
                f = (decay or {}).get((act, bn), pred) if init == dg.DESIGNED[act] else pred
                dec.append({"depth": 10, "activation": act, "batchnorm": bn, "init": init, "seed": s,
                            "phase": "init", "signal_decay": f * (1 + 0.01 * jitter[s]), "mean_field": pred,
                            "signal_ratio": r * (1 + jitter[s]), "first_last_ratio": 1.0, "mean_act_deriv": 0.2,
                            "max_act_deriv": 0.2, "rms_act_deriv": 0.23, "mean_pre_std": 1.0})
    x = np.linspace(-6, 6, 1201)
    s = 1 / (1 + np.exp(-x))
    layers = pd.DataFrame([{"depth": 10}])
    return {"members": pd.DataFrame(members), "decay": pd.DataFrame(dec), "layers": layers,
            "derivative": pd.DataFrame({"activation": "sigmoid", "x": x, "derivative": s * (1 - s)})}


HEALTHY = {("sigmoid", 1, False): 0.95, ("relu", 1, False): 0.95, ("sigmoid", 1, True): 0.95,
           ("relu", 1, True): 0.95}


def test_c2_and_c3_are_supported_when_deep_sigmoid_fails_and_deep_relu_trains():
    t = tables({**HEALTHY, ("sigmoid", 10, False): 0.1, ("relu", 10, False): 0.93, ("sigmoid", 10, True): 0.93,
                ("relu", 10, True): 0.95}, {("sigmoid", False): 1e-4, ("relu", False): 0.8,
                                           ("sigmoid", True): 0.5, ("relu", True): 0.9},
               {("sigmoid", False): 0.25, ("sigmoid", True): 0.9})
    assert dg.decide_c2(t).verdict == SUPPORTED
    assert dg.decide_c3(t).verdict == SUPPORTED
    c4 = dg.decide_c4(t)
    assert c4.verdict == SUPPORTED and c4.parts["signal"].verdict == SUPPORTED


def test_c2_and_c3_are_not_supported_when_a_tuned_deep_sigmoid_trains_as_well():
    t = tables({**HEALTHY, ("sigmoid", 10, False): 0.95, ("relu", 10, False): 0.95, ("sigmoid", 10, True): 0.95,
                ("relu", 10, True): 0.95}, {("sigmoid", False): 1e-4, ("relu", False): 0.8,
                                           ("sigmoid", True): 0.5, ("relu", True): 0.9})
    c2, c3 = dg.decide_c2(t), dg.decide_c3(t)
    assert c2.verdict == NOT_SUPPORTED and c2.parts["vanish"].verdict == SUPPORTED
    assert c2.parts["acc_drop"].verdict == NOT_SUPPORTED and c2.numbers["onset"] is None
    assert c3.verdict == NOT_SUPPORTED
    c4 = dg.decide_c4(t)  # BN changes nothing: no rescue
    assert c4.verdict == NOT_SUPPORTED and c4.parts["rescue"].verdict == NOT_SUPPORTED


def test_the_gradient_part_decides_on_the_signal_not_on_the_weight_gradient():
    # deep relu trains better, but its back-propagated signal vanished: C3 is not supported
    t = tables({**HEALTHY, ("sigmoid", 10, False): 0.1, ("relu", 10, False): 0.9}, {("sigmoid", False): 1e-4,
                                                                                    ("relu", False): 1e-5})
    c3 = dg.decide_c3(t)
    assert c3.parts["survives"].verdict == NOT_SUPPORTED and c3.verdict == NOT_SUPPORTED


def test_a_task_that_even_the_shallowest_net_cannot_learn_makes_the_claims_not_testable():
    t = tables({("sigmoid", 1, False): 0.12, ("relu", 1, False): 0.95, ("sigmoid", 10, False): 0.1,
                ("relu", 10, False): 0.9}, {("sigmoid", False): 1e-4, ("relu", False): 0.8})
    c2 = dg.decide_c2(t)
    assert c2.verdict == NOT_TESTABLE and c2.failed_checks[0].subject == "sigmoid-1"


def test_the_onset_is_the_shallowest_depth_from_which_every_deeper_gap_clears_the_threshold():
    from study.engine.stats import Estimate

    e = lambda lo: Estimate(lo + 0.01, lo, lo + 0.02, 0.01, 4, "t")
    assert dg.onset({1: e(-0.01), 3: e(0.01), 5: e(0.2), 10: e(0.5)}) == 5
    assert dg.onset({1: e(0.3), 3: e(0.01), 10: e(0.5)}) == 10
    assert dg.onset({1: e(0.0), 10: e(0.0)}) is None


def test_c1_decides_on_the_mean_field_prediction_either_way():
    t = tables(HEALTHY, {("sigmoid", False): 1e-4})
    c1 = dg.decide_c1(t)
    assert c1.verdict == SUPPORTED and c1.numbers["max_derivative"] == pytest.approx(0.25)
    assert c1.numbers["above_bound"] == ["he"]
    # a measured factor 30% under its prediction fails the equivalence test
    t["decay"].loc[t["decay"]["init"] == "he", "signal_decay"] *= 0.7
    assert dg.decide_c1(t).verdict == NOT_SUPPORTED
    # too shallow to fit a per-layer factor
    t["layers"] = pd.DataFrame([{"depth": 2}])
    assert dg.decide_c1(t).verdict == NOT_TESTABLE


def test_a_bad_extra_configuration_is_refused():
    with pytest.raises(ValueError, match="activation-init"):
        dg.check_params(dg.Params(also_train=["relu-glorot"]))
    assert dg.trained_inits(dg.Params(also_train=["relu-normal001"]), "relu") == ["he", "normal001"]
    assert dg.trained_inits(dg.Params(also_train=["relu-normal001"]), "sigmoid") == ["xavier"]


def test_steps_to_target_counts_optimizer_steps_until_the_first_crossing():
    assert dg.steps_to(np.array([0.5, 0.89, 0.91, 0.95]), 0.9, 33) == 99
    assert math.isnan(dg.steps_to(np.array([0.5, np.nan, 0.8]), 0.9, 33))


# --- the smoke run ------------------------------------------------------------------------------------------------

def test_the_smoke_run_decides_every_claim_and_renders_its_words(smoke_study):
    s = smoke_study(dg.NAME)
    assert [v["claim"] for v in s.verdicts] == ["C1", "C2", "C3", "C4"]
    assert all(v["verdict"] in VERDICTS for v in s.verdicts)
    assert s.verdicts[0]["verdict"] == SUPPORTED
    for lang in ("en", "ja"):
        assert "{{" not in s.sections[lang] and "Traceback" not in s.sections[lang]
