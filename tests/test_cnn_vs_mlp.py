"""CNN vs MLP: the pixel permutation is fixed and invertible, shifts move pixels where intended, the two nets
have similar sizes, and the study runs end to end under the smoke profile."""

import numpy as np
import torch

from study.claims import VERDICTS
from study.data import digits
from study.studies import cnn_vs_mlp as cm


def test_the_permutation_is_fixed_by_its_seed_and_invertible():
    a, b, other = cm.pixel_permutation(7), cm.pixel_permutation(7), cm.pixel_permutation(8)
    assert torch.equal(a, b) and not torch.equal(a, other)
    assert sorted(a.tolist()) == list(range(64)) and not torch.equal(a, torch.arange(64))
    x = digits(0).x_test
    y = cm.permute(x, a)
    assert torch.equal(cm.permute(y, a.argsort()), x)
    assert torch.equal(y[:, 5], x[:, a[5]])  # new pixel i is old pixel perm[i]


def test_a_shift_moves_every_pixel_by_one_step_and_fills_the_border_with_blank():
    blank = torch.full((64,), -9.0)
    img = torch.arange(64, dtype=torch.float32).view(1, 64)
    for dx, dy in cm.SHIFTS:
        out = cm.shift(img, dx, dy, blank).view(8, 8)
        src = img.view(8, 8)
        for r in range(8):
            for c in range(8):
                r0, c0 = r - dy, c - dx
                want = src[r0, c0] if 0 <= r0 < 8 and 0 <= c0 < 8 else -9.0
                assert out[r, c] == want, (dx, dy, r, c)
    # shifting right then left restores all but the column that fell off
    back = cm.shift(cm.shift(img, 1, 0, blank), -1, 0, blank).view(8, 8)
    assert torch.equal(back[:, :7], img.view(8, 8)[:, :7])


def test_blank_is_the_standardised_raw_zero():
    """Each pixel's training minimum is what data.digits makes of a raw 0 (its recipe, recomputed here)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16.0
    order = np.random.default_rng(0).permutation(len(y))
    train = order[: len(y) - 2 * round(0.2 * len(y))]
    zero = (0 - x[train].mean(0)) / (x[train].std(0) + 1e-2)
    assert np.allclose(cm.blank_pixels(digits(0).x_train).numpy(), zero, atol=1e-5)


def test_the_mlp_is_sized_like_the_cnn():
    p, split = cm.Params(), digits(0)
    cnn, mlp = cm.build("cnn", p, [0, 1], split), cm.build("mlp", p, [0, 1], split)
    n_cnn, n_mlp = cm.count(cnn), cm.count(mlp)
    assert n_cnn == 1 * 8 * 9 + 8 + 8 * 16 * 9 + 16 + 16 * 2 * 2 * 10 + 10
    assert n_mlp == cm.mlp_params(64, mlp.spec.width, 1, 10)
    assert abs(n_mlp - n_cnn) <= cm.mlp_params(64, 2, 1, 10) - cm.mlp_params(64, 1, 1, 10)


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(cm.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "shifts", "filters", "sizes", "permutation"} <= set(s.tables)
    assert [v["claim"] for v in s.verdicts] == ["C19"]
    assert all(v["verdict"] in VERDICTS and v["numbers"] for v in s.verdicts)
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and cm.TITLE[lang].replace("'", "&#39;") in section and "failure" not in section
        assert all(f"<th>{c}</th>" in section for c in ["C19"])
    assert "C19 [" in s.notebook  # the notebook printed its verdicts
