"""Stacked-autoencoder pretraining: frozen layers stay frozen, each layer learns to reconstruct, subsets are
balanced, and the study runs end to end under the smoke profile."""

import pytest
import torch

from study.claims import VERDICTS
from study.data import digits
from study.studies import autoencoder as ae


@pytest.fixture(scope="module")
def x():
    return digits(0).x_train[:256]


def test_pretraining_a_layer_leaves_the_frozen_layers_unchanged_and_lowers_its_reconstruction_loss(x):
    seeds = [0, 1, 2]
    first, losses1, _ = ae.pretrain_layer([], x, seeds, 16, epochs=3, lr=1e-2, batch_size=32)
    before = [t.detach().clone() for t in first.parameters()]
    _, losses2, var = ae.pretrain_layer([first], x, seeds, 8, epochs=3, lr=1e-2, batch_size=32)
    for a, b in zip(before, first.parameters()):
        assert torch.equal(a, b) and not b.requires_grad
    for losses in (losses1, losses2):
        assert len(losses) == 4 and losses[0].shape == (3,)
        assert bool((losses[-1] < losses[0]).all()), losses
    # the second layer reconstructs the first layer's codes, whose variance it reports
    codes = ae.encode([first], x)
    assert codes.shape == (3, 256, 16) and torch.allclose(var, codes.var(dim=1, correction=0).mean(-1))


def test_members_do_not_mix_in_pretraining(x):
    """Member k of a batched stack equals the same seed pretrained alone."""
    batched, _, _ = ae.pretrain_layer([], x, [0, 1], 8, epochs=2, lr=1e-2, batch_size=32)
    alone, _, _ = ae.pretrain_layer([], x, [1], 8, epochs=2, lr=1e-2, batch_size=32)
    assert torch.allclose(batched.weight[1], alone.weight[0], atol=1e-5)


def test_pretrain_stack_logs_every_layer_and_epoch(x):
    encoders, table = ae.pretrain_stack(x, [0, 1], depth=3, width=8, epochs=2, lr=1e-2, batch_size=32)
    assert len(encoders) == 3 and all(not e.weight.requires_grad for e in encoders[:-1])
    assert len(table) == 3 * 3 * 2 and set(table["layer"]) == {1, 2, 3} and set(table["epoch"]) == {0, 1, 2}
    assert (table["recon_rel"] > 0).all()


def test_balanced_subset_takes_each_class_equally_and_is_nested():
    y = digits(0).y_train
    for n in (50, 200):
        idx = ae.balanced_subset(y, n)
        assert len(idx) == n == len(set(idx.tolist()))
        assert torch.bincount(y[idx], minlength=10).tolist() == [n // 10] * 10
    assert set(ae.balanced_subset(y, 50).tolist()) <= set(ae.balanced_subset(y, 200).tolist())
    assert len(ae.balanced_subset(y, len(y))) == len(y)


def test_the_claim_needs_pretrained_and_random():
    with pytest.raises(ValueError, match="pretrained"):
        ae.check_params(ae.Params(configs=["relu_he", "random"]))


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(ae.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "grads", "recon", "cost"} <= set(s.tables)
    assert [v["claim"] for v in s.verdicts] == ["C18"]
    assert all(v["verdict"] in VERDICTS and v["numbers"] for v in s.verdicts)
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and ae.TITLE[lang].replace("'", "&#39;") in section and "failure" not in section
        assert all(f"<th>{c}</th>" in section for c in ["C18"])
    assert "C18 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away
