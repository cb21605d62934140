"""The optimizer study: update rules against hand-written formulas, the landscapes' noise, tuning, divergence."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from study.claims import VERDICTS
from study.data import digits
from study.engine import landscapes as land
from study.engine import shootout as sh
from study.engine.nets import MemberMLP, MLPSpec
from study.studies import optimizers as study

START = torch.tensor(study.TOY_START, dtype=torch.float64)


def g(p):  # gradient of x²/20 + y²
    return torch.stack([p[0] / 10, 2 * p[1]])


def hand_two_steps(opt: str, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The first two updates written out from each method's definition (torch.optim's default constants)."""
    p0 = START
    g0 = g(p0)
    if opt == "sgd":  # p <- p - lr g
        p1 = p0 - lr * g0
        return p1, p1 - lr * g(p1)
    if opt == "momentum":  # v <- 0.9 v + g ; p <- p - lr v   (v_0 = 0, so v_1 = g_0)
        p1 = p0 - lr * g0
        return p1, p1 - lr * (0.9 * g0 + g(p1))
    if opt == "adagrad":  # h <- h + g² ; p <- p - lr g / (sqrt(h) + 1e-10)
        h1 = g0**2
        p1 = p0 - lr * g0 / (h1.sqrt() + 1e-10)
        g1 = g(p1)
        return p1, p1 - lr * g1 / ((h1 + g1**2).sqrt() + 1e-10)
    if opt == "rmsprop":  # s <- 0.99 s + 0.01 g² ; p <- p - lr g / (sqrt(s) + 1e-8)
        s1 = 0.01 * g0**2
        p1 = p0 - lr * g0 / (s1.sqrt() + 1e-8)
        g1 = g(p1)
        return p1, p1 - lr * g1 / ((0.99 * s1 + 0.01 * g1**2).sqrt() + 1e-8)
    if opt == "adam":  # m <- 0.9 m + 0.1 g ; v <- 0.999 v + 0.001 g² ; p <- p - lr m̂ / (sqrt(v̂) + 1e-8)
        m1, v1 = 0.1 * g0, 0.001 * g0**2
        p1 = p0 - lr * (m1 / 0.1) / ((v1 / 0.001).sqrt() + 1e-8)  # first step: lr · sign(g)
        g1 = g(p1)
        m2, v2 = 0.9 * m1 + 0.1 * g1, 0.999 * v1 + 0.001 * g1**2
        return p1, p1 - lr * (m2 / (1 - 0.9**2)) / ((v2 / (1 - 0.999**2)).sqrt() + 1e-8)
    raise AssertionError(opt)


@pytest.mark.parametrize("opt,lr", list(zip(study.TOY_OPTIMIZERS, study.Params().classic_lrs)))
def test_first_two_steps_follow_the_update_rules(opt, lr):
    path = land.toy_paths(land.toy, study.TOY_START, opt, [lr], 2)[:, 0]
    p1, p2 = hand_two_steps(opt, lr)
    assert torch.allclose(path[1], p1, rtol=1e-9, atol=1e-12), (path[1], p1)
    assert torch.allclose(path[2], p2, rtol=1e-9, atol=1e-12), (path[2], p2)


def test_adagrad_and_adam_first_step_is_lr_times_sign():
    for opt in ("adagrad", "adam"):
        path = land.toy_paths(land.toy, study.TOY_START, opt, [0.5], 1)[:, 0]
        assert torch.allclose(path[1] - path[0], torch.tensor([0.5, -0.5], dtype=torch.float64))


def test_a_grid_of_rates_in_one_tensor_equals_separate_runs():
    lrs = [0.01, 0.1, 0.7]
    for opt in study.TOY_OPTIMIZERS:
        together = land.toy_paths(land.rosenbrock, study.ROSEN_START, opt, lrs, 20)
        for i, lr in enumerate(lrs):
            alone = land.toy_paths(land.rosenbrock, study.ROSEN_START, opt, [lr], 20)[:, 0]
            assert torch.allclose(together[:, i], alone, rtol=1e-10, atol=1e-12, equal_nan=True), opt


def test_divergence_is_recorded_not_raised():
    path = land.toy_paths(land.rosenbrock, study.ROSEN_START, "sgd", [1e-4, 1.0], 50)
    assert torch.isfinite(path[:, 0]).all() and not torch.isfinite(path[-1, 1]).all()
    assert land.steps_to(path, (1.0, 1.0), 1e-2)[1] == -1
    split = digits(0)
    r = sh.fit(lambda s: MemberMLP(MLPSpec(64, 8, 2, 10), s), split, "sgd", [0.1, 1e4], [0, 0], 1, 64)
    assert not r["diverged"][0] and r["diverged"][1]
    assert sh.choose([0.1, 1e6], r["val_acc"][-1][:, None], r["val_loss"][-1][:, None], r["diverged"][:, None]) == 0


def test_tuning_picks_the_best_grid_point():
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    acc = np.array([[0.5, 0.6], [0.9, 0.8], [0.85, 0.85], [0.99, 0.99]])
    loss = np.array([[1.0, 1.0], [0.3, 0.4], [0.2, 0.2], [0.1, np.nan]])
    div = np.array([[False, False], [False, False], [False, False], [False, True]])
    assert sh.choose(lrs, acc, loss, div) == 2  # 0.85 beats 0.85 only by the lower loss; 1.0 diverged once
    acc[1] = [0.85, 0.85]
    assert sh.choose(lrs, acc, loss, div) == 2  # tie in accuracy -> lower validation loss
    assert sh.choose(lrs, acc, loss, np.ones_like(div)) == 0  # all diverged -> smallest rate
    rows = [{"steps_to_tol": s, "final_dist": d, "diverged": v} for s, d, v in
            ((-1, 0.5, False), (40, 1e-4, False), (12, 9e-4, False), (-1, math.nan, True))]
    assert study.choose_toy(rows) == 2
    assert study.choose_toy([{**r, "steps_to_tol": -1} for r in rows]) == 1


def test_sustained_convergence_counts_from_the_last_entry_into_the_tolerance():
    # distances per step for four rows: enters at 2 and stays; touches at 1, leaves, re-enters at 4 for good;
    # inside only in the middle; never inside
    d = torch.tensor([[5.0, 5.0, 5.0, 5.0], [2.0, 0.5, 2.0, 3.0], [0.5, 2.0, 0.5, 3.0], [0.4, 2.0, 0.5, 3.0],
                      [0.3, 0.5, 2.0, 3.0], [0.2, 0.4, 2.0, 3.0]], dtype=torch.float64)
    path = torch.stack([d, torch.zeros_like(d)], -1)  # (steps + 1, G, 2): distance along x from the origin
    assert land.sustained_steps(path, (0.0, 0.0), 1.0).tolist() == [2, 4, -1, -1]
    assert land.steps_to(path, (0.0, 0.0), 1.0).tolist() == [2, 1, 2, -1]  # first touch, for contrast
    path[3, 0] = math.nan  # a NaN step is outside
    assert land.sustained_steps(path, (0.0, 0.0), 1.0)[0] == 4


def test_every_optimizer_gets_the_same_toy_budget_and_momentum_its_beta_jointly():
    cfgs = {o: study.toy_configs(o, 225, 1e-3, 10.0, 0.95) for o in study.TOY_OPTIMIZERS}
    assert {o: len(c["lr"]) for o, c in cfgs.items()} == {o: 225 for o in study.TOY_OPTIMIZERS}
    mom = cfgs["momentum"]
    assert sorted(set(mom["momentum"]))[0] == 0.0 and max(mom["momentum"]) == 0.95 and len(set(mom["momentum"])) == 15
    assert len(set(zip(mom["lr"], mom["momentum"]))) == 225 and set(cfgs["adam"]) == {"lr", "beta1"}
    assert len(study.toy_configs("momentum", 50, 1e-3, 10.0, 0.95)["lr"]) == 49 <= 50  # floor(sqrt) squared


def test_rows_with_their_own_beta_follow_torch_optim():
    lrs, betas = [0.05, 0.3, 1.2], [0.9, 0.4, 0.0]
    together = land.member_paths(land.toy, study.TOY_START, "momentum", {"lr": lrs, "momentum": betas}, 15)
    for i in range(3):
        alone = land.toy_paths(land.toy, study.TOY_START, "sgd", [lrs[i]], 15, {"momentum": betas[i]})[:, 0]
        assert torch.allclose(together[:, i], alone, rtol=1e-10, atol=1e-12)


def test_joint_tuning_finds_a_small_beta_that_beats_beta_09_on_the_toy():
    """Real values: the condition number 20 of x²/20 + y² wants β near Polyak's ((√20-1)/(√20+1))² = 0.40."""
    cfg = study.toy_configs("momentum", 225, 1e-3, 10.0, 0.95)
    path = land.member_paths(land.toy, study.TOY_START, "momentum", cfg, 300)
    steps = land.sustained_steps(path, (0.0, 0.0), 1e-3)
    steps = torch.where(steps < 0, torch.full_like(steps, 10**6), steps)
    best = int(steps.argmin())
    fixed = [i for i, b in enumerate(cfg["momentum"]) if b == 0.95]  # the largest β on the grid
    assert 0.3 <= cfg["momentum"][best] <= 0.6 and int(steps[best]) < 40
    assert int(steps[fixed].min()) > 2 * int(steps[best])
    sgd = land.sustained_steps(land.member_paths(land.toy, study.TOY_START, "sgd", study.toy_configs(
        "sgd", 225, 1e-3, 10.0, 0.95), 300), (0.0, 0.0), 1e-3)
    assert int(sgd[sgd >= 0].min()) > 2 * int(steps[best])


def test_turning_the_toy_by_45_degrees_keeps_sgd_and_hurts_adagrad():
    start = land.unrotate(study.TOY_START)
    assert abs(float(land.rotated_toy(torch.tensor(start))) - float(land.toy(torch.tensor(study.TOY_START)))) < 1e-12
    lrs = sh.log_grid(1e-2, 10.0, 40)
    res = {}
    for fn, st in (("toy", study.TOY_START), ("rotated", start)):
        for opt in ("sgd", "adagrad"):
            s = land.sustained_steps(land.member_paths(land.FUNCTIONS[fn], st, opt, {"lr": lrs}, 400), (0.0, 0.0), 1e-3)
            res[fn, opt] = int(s[s >= 0].min()) if (s >= 0).any() else 10**6
    assert res["toy", "sgd"] == res["rotated", "sgd"]  # SGD does not see the coordinates
    assert res["toy", "adagrad"] < res["toy", "sgd"] and res["rotated", "adagrad"] > 3 * res["toy", "adagrad"]


def test_the_narrow_global_landscape_has_a_narrow_deep_and_a_wide_shallow_well():
    f = land.narrow_global
    mins = land.minima(f, 4.0)
    basins = land.basin(f, land.starts(0, 400, 4.0), mins)
    share = torch.bincount(basins, minlength=len(mins)).float() / 400
    assert share[0] < 0.3 and int(share.argmax()) != 0  # the global basin is not the widest
    wells_share = torch.bincount(land.basin(land.wells, land.starts(0, 400, 4.0), land.minima(land.wells, 4.0)))
    assert int(wells_share.argmax()) == 0  # on "wells" it is


def test_random_search_trials_stay_in_their_space_and_depend_only_on_their_seed():
    for opt in study.OPTIMIZERS:
        a, b = study.sample_trials(opt, 16, 0), study.sample_trials(opt, 16, 0)
        assert a == b and a != study.sample_trials(opt, 16, 1) and set(a) == set(study.SPACES[opt])
        for k, (kind, lo, hi) in study.SPACES[opt].items():
            v = np.array(a[k])
            v = 1 - v if kind == "1-" else v
            assert len(v) == 16 and (v >= lo * (1 - 1e-9)).all() and (v <= hi * (1 + 1e-9)).all(), (opt, k)


def test_full_batch_descent_follows_the_noise_free_gradient():
    noise = land.noise_terms(3, 64, 5.0)
    assert torch.allclose(noise.mean(0), torch.zeros(2), atol=1e-5)
    p0 = land.starts(0, 8, 3.0)
    path = land.descend(land.wells, p0, noise, 64, 0.1, 5, torch.arange(8))
    p = p0.clone()
    for _ in range(5):
        p = p - 0.1 * land.grad(land.wells, p)
    assert torch.allclose(path[-1], p, atol=1e-5)


def test_each_start_draws_its_minibatches_from_its_own_seed():
    both = land.epoch_batches(torch.tensor([5, 6]), 3, 40, 8)
    alone = land.epoch_batches(torch.tensor([6]), 3, 40, 8)
    assert torch.equal(both[:, 1], alone[:, 0]) and not torch.equal(both[:, 0], both[:, 1])
    assert sorted(both[:, 0].flatten().tolist()) == list(range(40))  # a permutation: each point once per epoch


def test_landscape_minima_are_stationary_and_the_global_one_is_lowest():
    for name, f in land.LANDSCAPES.items():
        mins = land.minima(f, 4.0)
        assert len(mins) >= 3, name
        assert land.grad(f, mins).norm(dim=1).max() < 1e-3, name
        assert (f(mins)[1:] > f(mins)[0]).all(), name
    assert torch.allclose(land.minima(land.ripples, 4.0)[0], torch.zeros(2), atol=1e-3)


def test_wilson_interval_matches_known_values():
    assert land.wilson(0, 10)[1] == 0.0 and abs(land.wilson(0, 10)[2] - 0.2775) < 1e-3
    p, lo, hi = land.wilson(5, 10)
    assert p == 0.5 and abs(lo - 0.2366) < 1e-3 and abs(hi - 0.7634) < 1e-3


def test_marked_sum_labels_are_the_sign_of_the_two_marked_values():
    s = sh.marked_sum(1, 12, n_train=500, n_val=10, n_test=10)
    assert s.x_train.shape == (500, 12, 2) and (s.x_train[..., 1].sum(1) == 2).all()
    y = ((s.x_train[..., 0] * s.x_train[..., 1]).sum(1) > 0).long()
    assert torch.equal(y, s.y_train) and 0.4 < s.y_train.float().mean() < 0.6
    assert torch.equal(sh.marked_sum(1, 12, n_train=500, n_val=10, n_test=10).x_train, s.x_train)


def _members(acc_by_task):
    rows = []
    for task, accs in acc_by_task.items():
        for opt, acc in accs.items():
            for seed in range(6):
                rows.append({"task": task, "optimizer": opt, "seed": seed,
                             "test_acc": acc + 0.002 * ((seed * 7 + len(opt)) % 3)})
    return pd.DataFrame(rows)


def test_c8_is_decided_by_equivalence_to_each_tasks_best():
    # a silver bullet: Adam within the margin of the best on both tasks -> not supported
    t = {"members": _members({"canvas": {"sgd": 0.70, "adam": 0.70, "rmsprop": 0.60},
                              "seq": {"sgd": 0.80, "adam": 0.95, "rmsprop": 0.95}})}
    v = study.decide_c8(t)
    assert v.verdict == "not supported" and v.numbers["silver"] == ["adam"] and v.numbers["candidate"] == "adam"
    # every optimizer clearly loses somewhere, and SGD wins one task -> supported
    t = {"members": _members({"canvas": {"sgd": 0.70, "adam": 0.60, "rmsprop": 0.60},
                              "seq": {"sgd": 0.80, "adam": 0.95, "rmsprop": 0.90}})}
    v = study.decide_c8(t)
    assert v.verdict == "supported" and v.numbers["sgd_tied"] == ["sgd"] and v.parts["no_silver_bullet"].verdict == "supported"
    # at ceiling on every task -> not testable, whatever the comparison says
    t = {"members": _members({"a": {"sgd": 0.99, "adam": 0.985}, "b": {"sgd": 0.985, "adam": 0.99}})}
    v = study.decide_c8(t)
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["headroom"]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="classic_lrs"):
        study.check_params(study.Params(classic_lrs=[0.1]))
    with pytest.raises(ValueError, match="minibatch"):
        study.check_params(study.Params(batch_sizes=[256], n_data=256))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(study.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"land_runs", "toy_paths", "toy_grid", "tuning", "members", "mlp_starts"} <= set(s.tables)
    assert [v["claim"] for v in s.verdicts] == ["C5", "C6", "C7", "C8"]
    assert all(v["verdict"] in VERDICTS and "reason" not in v for v in s.verdicts)
    titles = {"ja": "最適化手法", "en": "Optimizers"}
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and titles[lang] in section and "failure" not in section
        assert all(f"<th>{c}</th>" in section for c in ["C5", "C6", "C7", "C8"])
    assert "C5 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away



def test_time_to_target_is_the_first_epoch_at_or_below_it():
    curve = np.array([[3.0, 2.0, 5.0], [1.0, np.nan, 4.0], [0.5, 1.0, 3.0]])  # (epochs, members)
    first = sh.first_epoch_below(curve, 1.0)
    assert first[0] == 2 and first[1] == 3 and np.isnan(first[2])
