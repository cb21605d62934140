"""The RNN vs LSTM study: its task generator, the batched recurrent engine against torch.nn, and its run."""
import math

import numpy as np

import pandas as pd
import pytest
import torch

from study.claims import VERDICTS
from study.engine.stats import proportion, proportion_difference
from study.data.sequences import compare_first_last
from study.engine.loop import train_standalone
from study.engine.recurrent import MemberRNN, RNNSpec, orthogonal, standalone_rnn
from study.engine.train import TrainSpec, train
from study.studies import rnn_lstm as study

CELLS = ["rnn", "lstm", "gru"]


@pytest.fixture
def float64():
    # As in test_engine.py: compared in float64, so that summation order cannot hide or fake a difference.
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


# --- the task -----------------------------------------------------------------------------------------------

def test_the_adding_label_is_whether_the_two_marked_values_sum_above_one():
    split = compare_first_last(5, length=9, n_train=300, n_val=40, n_test=50)
    for x, y in [(split.x_train, split.y_train), (split.x_test, split.y_test)]:
        assert x.shape[1:] == (9, 2)
        marker = torch.zeros(9)
        marker[0] = marker[-1] = 1
        assert torch.equal(x[..., 1], marker.expand(len(x), 9))
        assert torch.equal(y, (x[:, 0, 0] + x[:, -1, 0] > 1).long())
        assert float(x[..., 0].min()) >= 0 and float(x[..., 0].max()) < 1
    assert torch.equal(split.x_train, compare_first_last(5, 9, 300, 40, 50).x_train)
    assert not torch.equal(split.x_train, compare_first_last(6, 9, 300, 40, 50).x_train)


def test_without_memory_of_the_first_value_the_best_rule_scores_three_quarters():
    split = compare_first_last(0, 30, n_train=20_000, n_val=10, n_test=10)
    x, y = split.x_train, split.y_train
    last_only = (x[:, -1, 0] > 0.5).long()  # the Bayes rule given u_T alone
    assert abs(float((last_only == y).float().mean()) - study.BASELINE) < 0.01
    # a middle value carries nothing: agreement with y stays at chance
    assert abs(float(((x[:, 15, 0] > 0.5).long() == y).float().mean()) - 0.5) < 0.015
    with pytest.raises(ValueError, match="length"):
        compare_first_last(0, 1)


# --- the engine ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS)
def test_member_k_computes_what_torch_nn_computes_with_its_weights(cell, float64):
    spec = RNNSpec(cell, 5, 7, 3)
    model = MemberRNN(spec, [4, 5, 6])
    x = torch.randn(11, 9, 5)
    out, rec = model(x, record=True)
    assert out.shape == (3, 11, 3) and len(rec["hidden"]) == 9
    for k in range(3):
        ref = standalone_rnn(model, k)
        assert sum(p.numel() for p in ref.parameters()) == spec.n_params()
        assert torch.allclose(out[k], ref(x), atol=1e-12)
        assert torch.allclose(rec["hidden"][-1][k], ref.rnn(x)[0][:, -1], atol=1e-12)
        assert torch.allclose(rec["hidden"][3][k], ref.rnn(x)[0][:, 3], atol=1e-12)


def test_hidden_states_keep_their_gradient_and_the_last_step_gets_the_head_gradient():
    model = MemberRNN(RNNSpec("lstm", 4, 6, 4), [0, 1])
    out, rec = model(torch.randn(8, 5, 4), record=True)
    out.sum().backward()
    grads = [h.grad for h in rec["hidden"]]
    assert all(g is not None and g.shape == (2, 8, 6) for g in grads)
    expected = model.out.weight.detach().sum(-1)  # d(sum of logits)/dh_T = W_out summed over classes
    assert torch.allclose(grads[-1], expected[:, None, :].expand(2, 8, 6))


def test_the_hidden_gradient_probe_sees_only_the_last_step_when_the_recurrence_is_cut():
    model = MemberRNN(RNNSpec("rnn", 2, 6, 2), [0, 1, 2])
    split = compare_first_last(0, 7, n_train=64, n_val=8, n_test=32)
    g = study.hidden_gradients(model, split.x_test, split.y_test)
    assert g.shape == (3, 7) and bool((g > 0).all())
    with torch.no_grad():
        model.w_hh.zero_()  # h_t (t < T) then reaches the loss through nothing
    g = study.hidden_gradients(model, split.x_test, split.y_test)
    assert bool((g[:, :-1] == 0).all()) and bool((g[:, -1] > 0).all())


def test_members_are_initialised_from_their_own_seed_within_pytorchs_default_bound():
    spec = RNNSpec("gru", 3, 8, 2)
    alone, batch = MemberRNN(spec, [7]), MemberRNN(spec, [1, 7, 9])
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        assert torch.equal(getattr(alone, name)[0], getattr(batch, name)[1])
        assert float(getattr(batch, name).detach().abs().max()) <= 1 / math.sqrt(8)
    assert not torch.equal(batch.w_hh[0], batch.w_hh[1])


def test_forget1_opens_the_lstm_forget_gate_and_is_refused_for_other_cells():
    model = MemberRNN(RNNSpec("lstm", 3, 5, 2), [0, 1], init="forget1")
    assert torch.equal(model.b_ih[:, 0, 5:10], torch.ones(2, 5))
    assert torch.equal(model.b_hh[:, 0, 5:10], torch.zeros(2, 5))
    assert torch.equal(MemberRNN(RNNSpec("lstm", 3, 5, 2), [0], forget_bias=3.0).b_ih[0, 0, 5:10], torch.full((5,), 3.0))
    with pytest.raises(ValueError, match="forget"):
        MemberRNN(RNNSpec("rnn", 3, 5, 2), [0], init="forget1")
    with pytest.raises(ValueError, match="forget"):
        MemberRNN(RNNSpec("gru", 3, 5, 2), [0], forget_bias=1.0)
    with pytest.raises(ValueError, match="unknown cell"):
        MemberRNN(RNNSpec("elman", 3, 5, 2), [0])


def test_orthogonal_draws_are_orthogonal_seeded_and_not_all_alike():
    a = orthogonal(12, torch.Generator().manual_seed(3))
    assert torch.allclose(a @ a.T, torch.eye(12, dtype=a.dtype), atol=1e-12)
    assert torch.equal(a, orthogonal(12, torch.Generator().manual_seed(3)))
    assert not torch.allclose(a, orthogonal(12, torch.Generator().manual_seed(4)))
    # Haar: with the sign fix the diagonal has no preferred sign (QR alone would make R's diagonal positive)
    diag = torch.cat([torch.diagonal(orthogonal(8, torch.Generator().manual_seed(s))) for s in range(200)])
    assert abs(float((diag > 0).float().mean()) - 0.5) < 0.06


def test_per_member_inits_change_only_w_hh_and_keep_every_other_weight_of_the_seed():
    spec = RNNSpec("rnn", 2, 10, 2)
    model = MemberRNN(spec, [5, 5, 5], ["default", "orthogonal", "identity"])
    w = model.w_hh.detach()
    assert torch.allclose(w[1] @ w[1].T, torch.eye(10), atol=1e-5)  # stored transposed; still orthogonal
    assert torch.equal(w[2], torch.eye(10))
    assert torch.equal(w[0], MemberRNN(spec, [5]).w_hh[0])  # the default member is the plain default draw
    for name in ("w_ih", "b_ih", "b_hh"):
        p = getattr(model, name).detach()
        assert torch.equal(p[0], p[1]) and torch.equal(p[0], p[2])
    assert torch.equal(model.out.weight[0], model.out.weight[1])
    lstm = MemberRNN(RNNSpec("lstm", 2, 4, 2), [0], "orthogonal").w_hh.detach()[0]  # (H, 4H): one block per gate
    for j in range(4):
        block = lstm[:, 4 * j:4 * (j + 1)]
        assert torch.allclose(block @ block.T, torch.eye(4), atol=1e-5)
    with pytest.raises(ValueError, match="names for"):
        MemberRNN(spec, [0, 1], ["default"])
    with pytest.raises(ValueError, match="unknown recurrent init"):
        MemberRNN(spec, [0], "xavier")


def test_an_orthogonal_recurrence_keeps_a_small_state_norm_where_the_default_shrinks_it():
    # the linear part of the step: ||h W_hh|| = ||h|| for an orthogonal W_hh; the default draw (±1/sqrt(H)) shrinks it
    spec = RNNSpec("rnn", 2, 64, 2)
    model = MemberRNN(spec, [0, 0], ["default", "orthogonal"])
    h = torch.randn(2, 16, 64)
    ratio = (torch.bmm(h, model.w_hh.detach()).norm(dim=-1) / h.norm(dim=-1)).mean(1)
    assert abs(float(ratio[1]) - 1) < 1e-5 and float(ratio[0]) < 0.7


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("optimizer,lrs", [("sgd", [0.1, 0.3]), ("adam", [1e-2, 3e-3])])
def test_member_k_equals_a_standalone_torch_nn_run_with_seed_k(cell, optimizer, lrs, float64):
    split = compare_first_last(0, 6, n_train=128, n_val=32, n_test=32)
    split = type(split)(*(t.double() if t.is_floating_point() else t for t in vars(split).values()))
    model = MemberRNN(RNNSpec(cell, 2, 5, 2), [21, 22], forget_bias=2.0 if cell == "lstm" else None)
    refs = [standalone_rnn(model, k) for k in range(2)]
    hist = train(model, split, TrainSpec(optimizer, lrs, epochs=2, batch_size=32))
    out = model(split.x_test)
    for k, ref in enumerate(refs):
        losses = train_standalone(ref, 21 + k, split, optimizer, lrs[k], epochs=2, batch_size=32)
        # 1e-6, not 1e-12: per-member learning rates reach the engine as float32 numbers (see train.py).
        assert torch.allclose(out[k], ref(split.x_test), atol=1e-6, rtol=1e-6), f"member {k} differs"
        assert [float(h["train_loss"][k]) for h in hist] == pytest.approx(losses, rel=1e-6)


# --- the study ----------------------------------------------------------------------------------------------

def test_arms_are_sized_to_about_the_lstms_parameter_count_and_rnn_arms_share_one_run():
    p = study.Params(lstm_hidden=24, arms=["rnn", "rnn_orth", "lstm", "gru"])
    sp = study.specs(p)
    counts = {c: s.n_params() for c, s in sp.items()}
    assert sp["lstm"].hidden == 24 and set(sp) == {"rnn", "lstm", "gru"}
    for c, s in sp.items():  # one more unit would move the count further from the LSTM's
        wider = RNNSpec(c, s.d_in, s.hidden + 1, s.d_out).n_params()
        assert abs(counts[c] - counts["lstm"]) <= abs(wider - counts["lstm"])
    assert sp["rnn"].hidden > sp["gru"].hidden > sp["lstm"].hidden
    assert study.by_cell(p.arms) == {"rnn": ["rnn", "rnn_orth"], "lstm": ["lstm"], "gru": ["gru"]}
    model = study.build(sp["rnn"], [("rnn", 0), ("rnn_orth", 0)], p, "cpu")
    assert model.inits == ["default", "orthogonal"] and model.forget_bias is None
    assert study.build(sp["lstm"], [("lstm", 0)], p, "cpu").forget_bias == p.forget_bias


def test_wilson_and_newcombe_intervals_match_published_values():
    # Newcombe (1998), Table I: 81/263 gives [0.2553, 0.3662]; Table II example (56/70 - 48/80): [0.0524, 0.3339]
    e = proportion(81, 263)
    assert (round(e.lo, 4), round(e.hi, 4)) == (0.2553, 0.3662)
    d = proportion_difference(56, 70, 48, 80)
    assert (round(d.mean, 2), round(d.lo, 4), round(d.hi, 4)) == (0.2, 0.0524, 0.3339) and d.kind == "newcombe"
    assert proportion(0, 10).lo == 0.0 and proportion(10, 10).hi == 1.0
    e = proportion_difference(0, 10, 10, 10)  # the extremes stay inside [-1, 1]
    assert e.mean == -1 and -1 <= e.lo < e.hi < -0.6
    assert d.seeds_to_clear(0.0) is not None  # a spread to extrapolate from


def _tables(rates, n=10, grad_gap=3.0, epochs=4):
    """Synthetic tables: rates {(arm, lag): successes out of n}; seeds < k succeed, and in the budget curve a seed
    succeeds from epoch 1 + (seed % epochs) on, so that half the budget shows fewer successes."""
    members, grads, curve = [], [], []
    for (arm, lag), k in rates.items():
        for seed in range(n):
            members.append({"arm": arm, "cell": study.ARMS[arm][0], "init": study.ARMS[arm][1], "lag": lag,
                            "seed": seed, "lr": 0.003, "hidden": 8, "n_params": 100,
                            "test_acc": 0.99 if seed < k else 0.75, "success": seed < k, "diverged": False})
            rel = 10.0 ** (-(6 + seed % 3) + (grad_gap if arm == "lstm" else 0))
            for phase in ("init", "trained"):
                grads.append({"arm": arm, "lag": lag, "seed": seed, "phase": phase, "t": 1, "steps_back": lag - 1,
                              "rel": rel})
            for e in range(1, epochs + 1):
                ok = seed < k and e >= 1 + seed % epochs
                curve.append({"arm": arm, "lag": lag, "seed": seed, "epoch": e, "steps": 10 * e, "val_acc": 0.9,
                              "success": ok})
    m, c = pd.DataFrame(members), pd.DataFrame(curve)
    return {"members": m, "gradients": pd.DataFrame(grads), "curve": c, "success": study.success_table(m),
            "budget": study.budget_table(c)}


def _rates(rnn_short, rnn_long, lstm_long, orth_long=None, short=10, lstm_short=10, orth_short=10):
    r = {("rnn", 5): rnn_short, ("rnn", 50): rnn_long, ("lstm", 5): lstm_short, ("lstm", 50): lstm_long}
    if orth_long is not None:
        r |= {("rnn_orth", 5): orth_short, ("rnn_orth", 50): orth_long}
    return r


@pytest.mark.parametrize("rates,n,grad_gap,expected", [
    (_rates(10, 0, 10, orth_long=0), 10, 3.0, "supported"),
    (_rates(10, 0, 10), 10, 3.0, "supported"),  # without the orthogonal arm its comparison is simply absent
    (_rates(20, 0, 20, orth_long=20, lstm_short=20, orth_short=20), 20, 3.0,
     "not supported"),  # the re-initialised RNN keeps up with the LSTM: 0 pt [-16, +16] lies below +25
    (_rates(10, 0, 10, orth_long=10), 10, 3.0, "inconclusive"),  # the same on 10 seeds: [-28, +28] straddles +25
    (_rates(10, 0, 10, orth_long=0), 10, 0.2, "not supported"),  # the gradient part: a gain under one decade
    (_rates(20, 20, 20, lstm_short=20), 20, 3.0, "not supported"),  # the RNN loses nothing: change 0, interval [-0.16, 0.16]
    (_rates(10, 10, 10), 10, 3.0, "inconclusive"),  # the same with 10 seeds: [-0.28, 0.28] reaches past -0.25
    (_rates(10, 6, 9), 10, 3.0, "inconclusive"),  # a real drop, but its interval reaches above -0.25
    (_rates(10, 0, 10, orth_long=0, lstm_short=5), 10, 3.0, "not testable"),  # the LSTM fails even the short lag
    (_rates(10, 0, 10, orth_long=0, orth_short=7), 10, 3.0, "not testable"),  # 7/10 < 3/4
    (_rates(10, 0, 10, orth_long=0, orth_short=8), 10, 3.0, "supported"),  # 8/10 >= 3/4
])
def test_the_verdict_follows_the_intervals(rates, n, grad_gap, expected):
    v = study.decide_c20(_tables(rates, n=n, grad_gap=grad_gap))
    assert v.verdict == expected, (v.parts, v.checks)


def test_the_verdict_reports_the_lstms_own_decay_and_the_budget():
    v = study.decide_c20(_tables(_rates(10, 0, 10, orth_long=0), n=10, grad_gap=3.0))
    d = v.numbers["lstm_decay_init"]  # log10 of 10^-(6..8) * 10^3, seeds cycling 0, 1, 2
    assert d["mean"] == pytest.approx(-3 - np.mean([s % 3 for s in range(10)]))
    assert v.numbers["lstm_per_step_init"] == pytest.approx(10 ** (d["mean"] / 49))
    assert v.parts["grad_gain"].estimate["mean"] == pytest.approx(3.0)
    # half the budget (epoch 2 of 4): seeds with seed % 4 <= 1 have succeeded: 0, 1, 4, 5, 8, 9
    assert v.numbers["lstm_long_half"]["mean"] == pytest.approx(0.6)
    assert v.numbers["lstm_long"]["mean"] == 1.0 and v.numbers["rnn_long"]["mean"] == 0.0
    assert [c.subject for c in v.checks] == ["rnn", "rnn_orth", "lstm"]


def test_the_budget_table_counts_successes_per_epoch_with_wilson_intervals():
    t = _tables(_rates(10, 4, 10), n=10, epochs=4)
    b = t["budget"]
    row = b[(b["arm"] == "rnn") & (b["lag"] == 50)].set_index("epoch")
    assert list(row["successes"]) == [1, 2, 3, 4]  # seeds 0..3 succeed from epochs 1..4
    e = proportion(2, 10)
    assert (row.loc[2, "rate_lo"], row.loc[2, "rate_hi"]) == (e.lo, e.hi)
    assert study.at_budget(t, "rnn", 50, 0.5).mean == pytest.approx(0.2)
    assert study.at_budget(t, "rnn", 50, 1.0).mean == pytest.approx(0.4)


def test_the_claim_needs_rnn_lstm_and_two_lags():
    t = _tables(_rates(10, 0, 10))
    t["success"] = t["success"][t["success"]["arm"] == "rnn"]
    v = study.decide_c20(t)
    assert v.verdict == "not testable" and v.missing


def test_each_arm_gets_its_own_rate_from_the_grid_on_tuning_seeds():
    p = study.Params(seeds=2, lags=[3, 6], arms=["rnn", "rnn_orth"], lstm_hidden=4, n_train=128, n_test=128,
                     probe=16, epochs=2, batch_size=32, lrs=[1e-4, 3e-2], tune_seeds=2)
    chosen, grid = study.tune(p, study.specs(p)["rnn"], p.arms, study.task(p, 6, "cpu"))
    g = pd.DataFrame(grid)
    assert set(chosen) == set(p.arms) and all(lr in p.lrs for lr in chosen.values())
    assert set(g["tune_seed"]) == {1000, 1001} and len(g) == 2 * 2 * 2
    for a in p.arms:  # the chosen rate is the one with the best mean validation accuracy
        acc = g[g["arm"] == a].groupby("lr")["val_acc"].mean()
        assert acc[chosen[a]] == acc.max()
        assert g[(g["arm"] == a) & g["chosen"]]["lr"].unique().tolist() == [chosen[a]]
    assert study.tune(study.Params(lrs=[0.01]), study.specs(p)["rnn"], p.arms, None) == (
        {"rnn": 0.01, "rnn_orth": 0.01}, [])


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        study.check_params(study.Params(batch_size=512, n_train=256))
    with pytest.raises(ValueError, match="repeat"):
        study.check_params(study.Params(lags=[5, 5]))
    with pytest.raises(ValueError, match="repeat"):
        study.check_params(study.Params(arms=["rnn", "rnn"]))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(study.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "gradients", "success", "curve", "budget", "tuning"} <= set(s.tables)
    assert set(s.tables["members"]["arm"]) >= {"rnn", "rnn_orth", "lstm"}
    assert [v["claim"] for v in s.verdicts] == ["C20"]
    assert all(v["verdict"] in VERDICTS and v["parts"] and "reason" not in v for v in s.verdicts)
    titles = {"ja": "RNN と LSTM", "en": "RNN vs LSTM"}
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and titles[lang] in section and "failure" not in section and "<th>C20</th>" in section
    assert "C20 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away
