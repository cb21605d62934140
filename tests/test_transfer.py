"""The transfer study: its data never leaks a target class into pretraining, frozen layers really stay put, each
member trains on its own labelled sample, and the three benefits are read correctly off a curve."""

import numpy as np
import pytest
import torch

from study import data
from study.claims import VERDICTS
from study.data.shapes import CLASSES, shapes
from study.engine.convnets import MemberCNN
from study.engine.train import TrainSpec, member_batches, train
from study.studies import transfer


def test_no_target_class_leaks_into_pretraining():
    source, shape, target = transfer.tasks(0)
    for y in (source.y_train, source.y_val, source.y_test):
        assert set(y.tolist()) == set(transfer.SOURCE_CLASSES)
    for y in (target.y_train, target.y_val, target.y_test):
        assert set(y.tolist()) == set(range(len(transfer.TARGET_CLASSES)))
    # no source image is an image of a target class (the digits hold no duplicate images)
    full = data.digits(0)
    xs = torch.cat([full.x_train, full.x_val, full.x_test])
    ys = torch.cat([full.y_train, full.y_val, full.y_test])
    target_images = xs[ys >= transfer.TARGET_CLASSES[0]]
    for x in (source.x_train, source.x_val, source.x_test):
        assert torch.cdist(x, target_images).min() > 0
    assert len(source.y_train) + len(target.y_train) == len(full.y_train)
    # the shapes source is as large as the digits source, with five balanced classes
    assert len(shape.y_train) == len(source.y_train) // 5 * 5
    assert set(shape.y_train.tolist()) == set(range(len(CLASSES)))


def test_each_seed_draws_its_own_balanced_sample_from_the_target_training_pool():
    _, _, target = transfer.tasks(0)
    idx = transfer.sample_labels(target.y_train, 7, [0, 1, 2], data_seed=0)
    assert idx.shape == (3, 35)
    for row in idx:
        assert len(set(row.tolist())) == 35
        assert torch.bincount(target.y_train[row]).tolist() == [7] * 5
    assert not torch.equal(idx[0], idx[1])
    assert torch.equal(idx, transfer.sample_labels(target.y_train, 7, [0, 1, 2], data_seed=0))


def test_member_rows_give_each_member_only_its_own_images():
    m, n, reps = 3, 10, 4
    rows = torch.arange(m * n, dtype=torch.float32).view(m, n, 1) * 1.0  # member k owns values k*n .. k*n + n-1
    x = transfer.MemberRows(rows, reps)
    assert len(x) == n * reps
    seen = [set() for _ in range(m)]
    for idx in member_batches(torch.arange(m), 0, len(x), 5):
        got = x[idx][..., 0]
        for k in range(m):
            vals = set(got[k].long().tolist())
            assert vals <= set(range(k * n, (k + 1) * n))
            seen[k] |= vals
    assert all(len(s) == n for s in seen)  # four passes over ten images per engine epoch reach every image


def small_task(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 64, generator=g), torch.randint(0, 5, (n,), generator=g)
    return data.Split(x, y, x[:10], y[:10], x[:10], y[:10])


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_frozen_blocks_and_their_bn_statistics_stay_bit_identical():
    p = transfer.Params(channels=[4, 8, 8])
    model = MemberCNN(transfer.spec_for(p, "bn"), [0, 1, 2])
    before = snapshot(model)
    frozen = transfer.freeze_first(model, 2)
    assert frozen and all(not q.requires_grad for q in frozen)
    # weight decay on and momentum-like state: a frozen parameter must still not move
    spec = TrainSpec("adamw", 0.05, 3, 8, {"weight_decay": 0.1})
    train(model, small_task(), spec, eval_modules=model.norms()[:2])
    after = snapshot(model)
    for key in before:
        same = torch.equal(before[key], after[key])
        if key.startswith(("convs.0.", "convs.1.", "blocks.0.", "blocks.1.")):
            assert same, key  # parameters and running statistics of the frozen blocks
        elif key.startswith(("convs.2.weight", "out.", "blocks.2.0.running")):
            assert not same, key  # the rest trained, and the unfrozen BN kept updating its statistics


def test_a_frozen_backbone_keeps_the_pretrained_weights_exactly():
    p = transfer.Params(channels=[4, 8, 8], steps=6, eval_every=3, batch_size=8)
    seeds = [0, 1]
    source = MemberCNN(transfer.spec_for(p, "bn"), [5, 6])
    train(source, small_task(seed=1), TrainSpec("adam", 0.01, 2, 8))
    backbone = {k: snapshot(getattr(source, k)) for k in ("convs", "blocks")}
    _, _, target = transfer.tasks(0)
    split, bs, spe = transfer.target_split(target, 5, seeds, p)
    job = transfer.Job("bn", "digits", "freeze", 3, "eval", 5)
    model, curve, diverged = transfer.fit(job, p, split, bs, spe, backbone, seeds, "cpu", lambda *a: None)
    for k in ("convs", "blocks"):
        for key, value in snapshot(getattr(model, k)).items():
            assert torch.equal(value, backbone[k][key]), f"{k}.{key}"
    assert [s for s, _ in curve] == [0, spe, 2 * spe] and not diverged.any()
    # two-stage: the backbone is frozen for the head stage, then trains at the lower rate
    job = transfer.Job("bn", "digits", "two_stage", 0, "train", 5)
    model, _, _ = transfer.fit(job, p, split, bs, spe, backbone, seeds, "cpu", lambda *a: None)
    assert not torch.equal(model.convs[0].weight, backbone["convs"]["0.weight"])


def test_scratch_and_transfer_share_the_new_heads_initial_weights():
    p = transfer.Params(channels=[4, 8, 8])
    a = MemberCNN(transfer.spec_for(p, "plain"), [0, 1])
    b = transfer.transplant(MemberCNN(transfer.spec_for(p, "plain"), [0, 1]),
                            {k: snapshot(getattr(MemberCNN(transfer.spec_for(p, "plain"), [7, 8]), k))
                             for k in ("convs", "blocks")})
    assert torch.equal(a.out.weight, b.out.weight)
    assert not torch.equal(a.convs[0].weight, b.convs[0].weight)


def test_benefits_read_start_slope_and_asymptote_off_a_curve():
    steps = np.array([0, 15, 30, 45, 60])
    b = transfer.benefits(steps, np.array([0.2, 0.5, 0.86, 0.84, 0.9]), 0.85)
    assert b["initial_acc"] == 0.2 and b["start_acc"] == 0.5 and b["final_val_acc"] == 0.9
    assert b["steps_to_acc"] == 30 and b["reached"] and b["steps_capped"] == 30
    never = transfer.benefits(steps, np.array([0.9, 0.5, 0.6, 0.7, 0.8]), 0.85)  # step 0 does not count
    assert np.isnan(never["steps_to_acc"]) and not never["reached"] and never["steps_capped"] == 60


def test_shapes_are_seeded_balanced_and_tell_their_classes_apart():
    a, b, c = shapes(0, 500, 100, 250), shapes(0, 500, 100, 250), shapes(1, 500, 100, 250)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    assert torch.bincount(a.y_train).tolist() == [100] * 5 and torch.bincount(a.y_test).tolist() == [50] * 5
    assert a.x_train.mean(0).abs().max() < 1e-4  # standardised with the training part's statistics
    # a nearest-class-mean classifier beats chance (0.2) by far despite random positions: distinct patterns
    means = torch.stack([a.x_train[a.y_train == k].mean(0) for k in range(5)])
    acc = (torch.cdist(a.x_test, means).argmin(1) == a.y_test).float().mean()
    assert acc > 0.4, acc


@pytest.mark.parametrize("bad, message", [
    ({"freeze": [0, 4]}, "at most 3 blocks"),
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
    assert {"members", "history", "pretrain"} <= set(s.tables)
    assert [v["claim"] for v in s.verdicts] == ["C13", "C21"]
    assert all(v["verdict"] in VERDICTS and v["numbers"] for v in s.verdicts)
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and transfer.TITLE[lang].replace("'", "&#39;") in section and "failure" not in section
        assert all(f"<th>{c}</th>" in section for c in ["C13", "C21"])
    assert "C13 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away
    assert (s.tables["members"]["labels"] > 0).all() and s.tables["history"]["val_acc"].between(0, 1).all()
