"""The transfer study: the degraded target is seeded, harder and shifted as stated and never leaks a class into
pretraining; frozen layers stay put; each member trains on its own sample; the steps-to-level measure, the
factorial contrasts and the decision rules read real numbers correctly; the study runs end to end under smoke."""

import numpy as np
import pandas as pd
import pytest
import torch

from study.claims import VERDICTS
from study.data.degraded import degrade, source_and_target
from study.data.digits import raw_digits
from study.engine.convnets import MemberCNN
from study.engine.train import TrainSpec, member_batches, train
from study.studies import transfer


def test_degrade_is_seeded_and_does_what_it_says():
    x, _ = raw_digits()
    a, b, c = degrade(x[:100], 0.3, 0.5, 0.7, 1), degrade(x[:100], 0.3, 0.5, 0.7, 1), degrade(x[:100], 0.3, 0.5, 0.7, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.allclose(degrade(x[:100], 0.0, 0.5, 0.7, 1), 0.7 + 0.5 * x[:100])  # no noise: contrast and offset
    noise = a - (0.7 + 0.5 * x[:100])
    assert abs(noise.std() - 0.3) < 0.01 and abs(noise.mean()) < 0.01
    with pytest.raises(ValueError):
        degrade(x[:2], -1, 1, 0, 0)


def test_source_and_target_never_share_a_class_and_differ_in_statistics():
    src, tgt = source_and_target(0, 0.3, 0.5, 0.7)
    x, y = raw_digits()
    assert sum(len(s.y_train) + len(s.y_val) + len(s.y_test) for s in (src, tgt)) == len(y)
    for s in (src, tgt):
        for labels in (s.y_train, s.y_val, s.y_test):
            assert set(labels.tolist()) == set(range(5))
    # standardised with the source's training statistics: the source is centred, the target is not
    assert abs(float(src.x_train.mean())) < 1e-4 and abs(float(src.x_train.std()) - 1) < 1e-3
    assert float(tgt.x_train.mean()) > 0.5 and float(tgt.x_train.std()) < 0.9
    # without degradation the target is the clean digits 5-9, standardised like the source
    clean_src, clean = source_and_target(0, 0.0, 1.0, 0.0)
    keep = (y >= 5)
    assert len(clean.y_train) + len(clean.y_val) + len(clean.y_test) == int(keep.sum())
    assert abs(float(clean.x_train.mean()) - float(clean_src.x_train.mean())) < 0.3


def test_each_seed_draws_its_own_balanced_sample_from_the_target_training_pool():
    _, target = source_and_target(0, 0.3, 0.5, 0.7)
    idx = transfer.sample_labels(target.y_train, 2, [0, 1, 2], data_seed=0)
    assert idx.shape == (3, 10)
    for row in idx:
        assert len(set(row.tolist())) == 10
        assert torch.bincount(target.y_train[row]).tolist() == [2] * 5
    assert not torch.equal(idx[0], idx[1])
    assert torch.equal(idx, transfer.sample_labels(target.y_train, 2, [0, 1, 2], data_seed=0))


def test_member_rows_give_each_member_only_its_own_images():
    m, n, reps = 3, 10, 4
    rows = torch.arange(m * n, dtype=torch.float32).view(m, n, 1)
    x = transfer.MemberRows(rows, reps)
    assert len(x) == n * reps
    seen = [set() for _ in range(m)]
    for idx in member_batches(torch.arange(m), 0, len(x), 5):
        got = x[idx][..., 0]
        for k in range(m):
            vals = set(got[k].long().tolist())
            assert vals <= set(range(k * n, (k + 1) * n))
            seen[k] |= vals
    assert all(len(s) == n for s in seen)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_a_frozen_backbone_and_its_bn_statistics_stay_bit_identical_and_two_stage_moves_them():
    p = transfer.Params(channels=[4, 8, 8], steps=6, eval_every=3, batch_size=8)
    seeds = [0, 1]
    _, target = source_and_target(0, 0.3, 0.5, 0.7)
    source = MemberCNN(transfer.spec_for(p, "bn"), [5, 6])
    train(source, target, TrainSpec("adam", 0.01, 1, 8))
    backbone = transfer.backbone_state(source)
    split, bs, spe = transfer.target_split(target, 2, seeds, p)
    job = transfer.Job("bn", "pretrained", "head", "eval", 2)
    model, curve, diverged = transfer.fit(job, p, split, bs, spe, backbone, seeds, 0.01, "cpu")
    for k in ("convs", "blocks"):
        for key, value in snapshot(getattr(model, k)).items():
            assert torch.equal(value, backbone[k][key]), f"{k}.{key}"
    assert [s for s, _ in curve] == [k * spe for k in range(round(6 / spe) + 1)] and not diverged.any()
    job = transfer.Job("bn", "pretrained", "two_stage", "train", 2)
    model, _, _ = transfer.fit(job, p, split, bs, spe, backbone, seeds, [0.01, 0.001], "cpu")
    assert not torch.equal(model.convs[0].weight, backbone["convs"]["0.weight"])


def test_members_of_picks_each_members_backbone():
    p = transfer.Params(channels=[4, 8, 8])
    state = transfer.backbone_state(MemberCNN(transfer.spec_for(p, "bn"), [0, 1, 2]))
    one = transfer.members_of(state, [2, 0])
    assert torch.equal(one["convs"]["0.weight"], state["convs"]["0.weight"][[2, 0]])
    model = transfer.transplant(MemberCNN(transfer.spec_for(p, "bn"), [7, 8]), one)
    assert torch.equal(model.convs[1].weight[0], state["convs"]["1.weight"][2])


def test_the_arms_form_two_factorials():
    jobs = transfer.jobs_for(transfer.Params(labels=[2, 20], bn_labels=20))
    assert [j.arm for j in jobs if j.labels == 2] == ["scratch", "finetune", "frozen", "frozen_random"]
    assert sorted(j.arm for j in jobs if j.net == "bn") == ["bn_direct_eval", "bn_direct_train",
                                                            "bn_two_stage_eval", "bn_two_stage_train"]


def history(arm, labels, curves):
    return [{"arm": arm, "labels": labels, "seed": s, "step": 10 * i, "val_acc": a}
            for s, curve in enumerate(curves) for i, a in enumerate(curve)]


def test_steps_to_level_ignores_step_zero_and_caps_at_the_budget():
    t = {"history": pd.DataFrame(history("x", 2, [[0.5, 0.3, 0.45, 0.5], [0.5, 0.2, 0.3, 0.35]]))}
    k = transfer.steps_to(t, "x", 2, 0.4)
    assert k["steps"].tolist() == [20.0, 30.0] and k["reached"].tolist() == [True, False]


def synthetic(frozen=0.85, random=0.6, scratch=0.5, finetune=0.6, bn=(0.70, 0.72, 0.78, 0.80), shift=0.9,
              seeds=6):
    """Tables as run() writes them, with chosen accuracies (a small per-seed wobble, so intervals are tight)."""
    members, hist = [], []
    accs = {("scratch", 2): 0.4, ("finetune", 2): 0.55, ("frozen", 2): 0.5, ("frozen_random", 2): 0.3,
            ("scratch", 20): scratch, ("finetune", 20): finetune, ("frozen", 20): frozen,
            ("frozen_random", 20): random, ("bn_direct_train", 20): bn[0], ("bn_direct_eval", 20): bn[1],
            ("bn_two_stage_train", 20): bn[2], ("bn_two_stage_eval", 20): bn[3]}
    for (arm, n), a in accs.items():
        for s in range(seeds):
            w = 0.004 * (s % 3)
            members.append({"arm": arm, "net": "bn" if arm.startswith("bn") else "plain", "labels": n, "seed": s,
                            "test_acc": a + w, "start_acc": a - 0.1 + w, "lr": 0.01, "lr_at_edge": False,
                            "diverged": False})
            hist += [{"arm": arm, "labels": n, "seed": s, "step": 10 * i, "val_acc": v}
                     for i, v in enumerate([0.2, a - 0.15 + w, a - 0.05, a])]
    pre = pd.DataFrame([{"net": net, "seed": s, "source_test_acc": 0.97} for net in ("plain", "bn")
                        for s in range(seeds)])
    stats = pd.DataFrame([{"images": im, "seed": s, "bn_layer": 1, "mean_shift": v, "var_ratio": 1.0}
                          for im, v in (("source", 0.01), ("target", shift)) for s in range(seeds)])
    return {"members": pd.DataFrame(members), "history": pd.DataFrame(hist), "pretrain": pre, "bn_stats": stats}


def test_c13_is_decided_on_start_slope_and_asymptote_and_gated_by_a_hard_target():
    t = synthetic()
    v = transfer.decide_c13(t)
    assert v.verdict == "supported" and set(v.parts) == {"start", "slope", "final"}
    assert abs(v.parts["final"].estimate["mean"] - 0.15) < 1e-9
    assert v.parts["slope"].estimate["mean"] < 0  # fine-tune reaches 40% at step 10, scratch at step 20
    m = t["members"]
    m.loc[(m["arm"] == "scratch") & (m["labels"] == 2), "test_acc"] = 0.9  # an easy target
    v = transfer.decide_c13(t)
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["hard"]


def test_c21_needs_pretrained_features_to_beat_random_ones_and_a_real_bn_shift():
    v = transfer.decide_c21(synthetic())
    assert v.verdict == "supported"
    assert abs(v.parts["bn_schedule"].estimate["mean"] - 0.08) < 1e-9  # (0.78+0.80)/2 - (0.70+0.72)/2
    assert abs(v.numbers["bn_mode"]["mean"] - 0.02) < 1e-9
    assert abs(v.numbers["bn_interaction"]["mean"]) < 1e-9  # parallel lines
    v = transfer.decide_c21(synthetic(random=0.85))  # random features as good: the claim's premise fails
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["features"]
    v = transfer.decide_c21(synthetic(shift=0.1))
    assert v.verdict == "not testable" and [c.name for c in v.failed_checks] == ["bn_shift"]
    v = transfer.decide_c21(synthetic(frozen=0.75, random=0.6))  # beats random and scratch, but not 0.8
    assert v.verdict == "not supported" and v.parts["good"].verdict == "not supported"
    v = transfer.decide_c21(synthetic(bn=(0.80, 0.80, 0.70, 0.70)))
    assert v.verdict == "not supported" and v.parts["bn_schedule"].verdict == "not supported"


def test_few_picks_the_label_count_closest_to_100_in_all():
    assert transfer.few([2, 20]) == 20 and transfer.few([1, 2]) == 2 and transfer.few([]) is None


@pytest.mark.parametrize("bad, message", [
    ({"labels": [5, 5]}, "twice"),
    ({"eval_every": 500, "steps": 100}, "exceeds steps"),
    ({"channels": [8]}, "at least 2"),
])
def test_bad_parameters_are_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        transfer.check_params(transfer.Params(**bad))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(transfer.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "history", "pretrain", "tuning", "bn_stats"} <= set(s.tables)
    assert len(set(s.tables["tuning"]["lr"])) >= 2  # every arm chose its rate from a grid
    assert [v["claim"] for v in s.verdicts] == ["C13", "C21"]
    assert all(v["verdict"] in VERDICTS and "reason" not in v for v in s.verdicts)
    titles = {"ja": "転移学習", "en": "Transfer learning"}
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and titles[lang] in section and "failure" not in section
        assert all(f"<th>{c}</th>" in section for c in ["C13", "C21"])
    assert "C13 [" not in s.notebook and "tables = study.run" in s.notebook
    assert s.tables["history"]["val_acc"].between(0, 1).all()
