"""The RNN vs LSTM study: its task generator, the batched recurrent engine against torch.nn, and its run."""
import math

import pandas as pd
import pytest
import torch

from study.claims import VERDICTS
from study.data.sequences import compare_first_last
from study.engine.loop import train_standalone
from study.engine.recurrent import MemberRNN, RNNSpec, standalone_rnn
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

def test_cells_are_sized_to_about_the_lstms_parameter_count():
    sp = study.specs(study.Params(lstm_hidden=24))
    counts = {c: s.n_params() for c, s in sp.items()}
    assert sp["lstm"].hidden == 24
    for c, s in sp.items():  # one more unit would move the count further from the LSTM's
        wider = RNNSpec(c, s.d_in, s.hidden + 1, s.d_out).n_params()
        assert abs(counts[c] - counts["lstm"]) <= abs(wider - counts["lstm"])
    assert sp["rnn"].hidden > sp["gru"].hidden > sp["lstm"].hidden


def test_wilson_and_newcombe_intervals_match_published_values():
    # Newcombe (1998), Table I: 81/263 gives [0.2553, 0.3662]; Table II example (56/70 - 48/80): [0.0524, 0.3339]
    lo, hi = study.wilson(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    d, lo, hi = study.newcombe(56, 70, 48, 80)
    assert (round(d, 2), round(lo, 4), round(hi, 4)) == (0.2, 0.0524, 0.3339)
    assert study.wilson(0, 10)[0] == 0.0 and study.wilson(10, 10)[1] == 1.0


def _tables(rnn_short, rnn_long, lstm_long, n=10, grad_gap=3.0):
    members, grads = [], []
    for cell, lag, k in [("rnn", 5, rnn_short), ("rnn", 50, rnn_long), ("lstm", 5, n), ("lstm", 50, lstm_long)]:
        for seed in range(n):
            members.append({"cell": cell, "lag": lag, "seed": seed, "hidden": 8, "n_params": 100,
                            "test_acc": 0.99 if seed < k else 0.75, "success": seed < k, "diverged": False})
            rel = 10.0 ** (-(6 + seed % 3) + (grad_gap if cell == "lstm" else 0))
            grads.append({"cell": cell, "lag": lag, "seed": seed, "phase": "init", "t": 1, "rel": rel})
    m = pd.DataFrame(members)
    return {"members": m, "gradients": pd.DataFrame(grads), "success": study.success_table(m)}


@pytest.mark.parametrize("counts,n,grad_gap,expected", [
    ((10, 0, 10), 10, 3.0, "supported"),
    ((10, 0, 10), 10, 0.2, "not supported"),  # the gradient part: a gain under one decade
    ((20, 20, 20), 20, 3.0, "not supported"),  # the RNN loses nothing: change 0, interval [-0.16, 0.16]
    ((10, 10, 10), 10, 3.0, "inconclusive"),  # the same with 10 seeds: [-0.28, 0.28] reaches past -0.25
    ((10, 6, 9), 10, 3.0, "inconclusive"),  # a real drop, but its interval reaches above -0.25
    ((0, 0, 0), 20, 3.0, "not supported"),  # nothing learns at all
])
def test_the_verdict_follows_the_intervals(counts, n, grad_gap, expected):
    v = study.decide_c20(_tables(*counts, n=n, grad_gap=grad_gap))
    assert v.verdict == expected, v.reason["en"]


def test_the_claim_needs_both_cells_and_two_lags():
    t = _tables(10, 0, 10)
    t["success"] = t["success"][t["success"]["cell"] == "rnn"]
    assert study.decide_c20(t).verdict == "inconclusive" and not study.decide_c20(t).numbers


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        study.check_params(study.Params(batch_size=512, n_train=256))
    with pytest.raises(ValueError, match="repeat"):
        study.check_params(study.Params(lags=[5, 5]))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(study.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "gradients", "success"} <= set(s.tables)
    assert [v["claim"] for v in s.verdicts] == ["C20"]
    assert all(v["verdict"] in VERDICTS and v["numbers"] for v in s.verdicts)
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and study.TITLE[lang] in section and "failure" not in section and "<th>C20</th>" in section
    assert "C20 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away
