"""CNN vs MLP: the pixel permutation is fixed and invertible, shifts move pixels where intended, the canvas
places each digit where it says, the nets have similar sizes, and the study runs end to end under smoke."""

import numpy as np
import pytest
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


def test_blank_is_the_standardised_raw_zero_and_no_pixel_gets_a_huge_z_value():
    """Standardised globally, a raw 0 is one value for every pixel (the recipe, recomputed here), and the
    largest |z| stays small; per-pixel standardisation puts near-constant pixels at |z| > 10."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16.0
    order = np.random.default_rng(0).permutation(len(y))
    train = order[: len(y) - 2 * round(0.2 * len(y))]
    zero = (0 - x[train].mean()) / x[train].std()
    split = digits(0, per_pixel=False)
    assert np.allclose(cm.blank_pixels(split.x_train).numpy(), zero, atol=1e-5)
    assert float(split.x_test.abs().max()) < 3 < 10 < float(digits(0).x_test.abs().max())


def test_the_canvas_pastes_each_enlarged_digit_at_its_offset():
    from study.data.canvas import canvas, placed
    from study.data.digits import raw_digits

    x, y = raw_digits()
    imgs, offsets = placed(x[:50], 20, 1.5, seed=3)
    again, _ = placed(x[:50], 20, 1.5, seed=3)
    assert np.array_equal(imgs, again) and not np.array_equal(imgs, placed(x[:50], 20, 1.5, seed=4)[0])
    imgs = imgs.reshape(50, 20, 20)
    for img, (r, c), raw in zip(imgs, offsets, x[:50]):
        assert 0 <= r <= 8 and 0 <= c <= 8
        inside = np.zeros_like(img, dtype=bool)
        inside[r:r + 12, c:c + 12] = True
        assert img[~inside].max() == 0  # nothing outside the pasted 12x12 square
        assert abs(img[inside].sum() / 1.5**2 - raw.sum()) < 0.25 * raw.sum()  # the same ink, enlarged
    assert len(set(map(tuple, offsets))) > 20  # the offsets really vary
    split, plain = canvas(0), digits(0)
    assert split.x_train.shape == (len(plain.y_train), 400) and torch.equal(split.y_test, plain.y_test)
    assert abs(float(split.x_train.mean())) < 1e-4 and abs(float(split.x_train.std()) - 1) < 1e-3
    with pytest.raises(ValueError, match="must fit"):
        placed(x[:2], 10, 1.5, 0)


def test_the_mlp_is_sized_like_the_cnn():
    p = cm.Params()
    from study.data import canvas

    for split, side in ((digits(0), 8), (canvas(0), 20)):
        cnn, mlp = cm.builder("cnn", p, split, side)([0, 1]), cm.builder("mlp", p, split, side)([0, 1])
        n_cnn, n_mlp = cm.count(cnn), cm.count(mlp)
        flat = 16 * (side // 4) ** 2
        assert n_cnn == 1 * 8 * 9 + 8 + 8 * 16 * 9 + 16 + flat * 10 + 10
        d = side * side
        assert n_mlp == cm.mlp_params(d, mlp.spec.width, 1, 10)
        assert abs(n_mlp - n_cnn) <= cm.mlp_params(d, 2, 1, 10) - cm.mlp_params(d, 1, 1, 10)
        assert cm.count(cm.builder("wide", p, split, side)([0])) > 10 * n_cnn


def test_the_verdict_is_decided_on_the_permutation_interaction_and_gated_by_training():
    """Synthetic tables: the CNN loses its edge under the permutation -> supported; the same with an MLP that
    stays at chance -> not testable, whatever the comparison says."""
    import pandas as pd

    rows = []
    for seed in range(6):
        for arch, order, acc in (("cnn", "original", 0.97), ("cnn", "permuted", 0.93), ("mlp", "original", 0.95),
                                 ("mlp", "permuted", 0.95)):
            rows.append({"task": "digits", "arch": arch, "order": order, "seed": seed,
                         "test_acc": acc + 0.002 * seed})
        for arch, acc in (("cnn", 0.8), ("mlp", 0.4), ("wide", 0.75)):
            rows.append({"task": "canvas", "arch": arch, "order": "original", "seed": seed,
                         "test_acc": acc + 0.003 * (seed % 3)})
    t = {"members": pd.DataFrame(rows)}
    v = cm.decide_c19(t)
    assert v.verdict == "supported" and set(v.parts) == {"shrink", "canvas_gain"}
    assert abs(v.parts["shrink"].estimate["mean"] - 0.04) < 1e-9
    m = t["members"]
    m.loc[(m["arch"] == "mlp") & (m["task"] == "canvas"), "test_acc"] = 0.12
    v = cm.decide_c19(t)
    assert v.verdict == "not testable" and [c.subject for c in v.failed_checks] == ["canvas-mlp-original"]


def test_smoke_run_logs_tables_verdicts_and_report_sections(smoke_study):
    s = smoke_study(cm.NAME)
    assert s.run.info.status == "FINISHED"
    assert {"members", "shifts", "filters", "sizes", "permutation", "tuning"} <= set(s.tables)
    assert len(set(s.tables["tuning"]["lr"])) >= 2  # every arm chose its rate from a grid
    assert [v["claim"] for v in s.verdicts] == ["C19"]
    assert all(v["verdict"] in VERDICTS and v["parts"] and "reason" not in v for v in s.verdicts)
    titles = {"ja": "CNN と全結合網", "en": "CNN vs MLP"}
    for lang in ("ja", "en"):
        section = s.sections[lang]
        assert section and titles[lang] in section and "failure" not in section
        assert "<th>C19</th>" in section
    assert "C19 [" not in s.notebook and "tables = study.run" in s.notebook  # ran, gave no answers away
