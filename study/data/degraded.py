"""Degraded digits: the bundled 8x8 digits at lower contrast, on a brighter background, with fixed pixel noise.

The transfer study's target: harder than the clean digits (noise hides strokes, so a few labels no longer
suffice), and shifted in its statistics (a net pretrained on clean digits, preprocessed the same way, sees
inputs with another mean and variance, so the statistics its BatchNorm layers stored no longer fit).
"""
import numpy as np


def degrade(x: np.ndarray, noise: float, contrast: float, offset: float, seed: int) -> np.ndarray:
    """Raw images x (N, 64) in [0, 1] -> offset + contrast * x + noise * N(0, 1), one fixed noise draw per pixel
    and image (a function of the seed only), not clipped: the noise is part of each image, not a new draw per
    epoch."""
    if noise < 0 or contrast <= 0:
        raise ValueError(f"noise {noise} must be >= 0 and contrast {contrast} > 0")
    rng = np.random.default_rng([seed, 8128])
    z = rng.standard_normal(x.shape).astype(np.float32)
    return (offset + contrast * x + noise * z).astype(np.float32)


def source_and_target(seed: int, noise: float, contrast: float, offset: float, source_classes=(0, 1, 2, 3, 4),
                      target_classes=(5, 6, 7, 8, 9)):
    """(source, target) Splits from one seeded split of the digits: the source is the digits of `source_classes`
    with the pixel noise alone; the target the digits of `target_classes` with the same noise at lower contrast on
    a brighter background, relabelled 0, 1, ... Both are
    standardised with one mean and one standard deviation, those of the source's training images (the
    preprocessing a pretrained net comes with), so the target's shift in statistics reaches the net."""
    import torch

    from study.data.digits import Split, raw_digits, split_indices
    from study.data.used import note

    x, y = raw_digits()
    noisy, bad = degrade(x, noise, 1.0, 0.0, seed), degrade(x, noise, contrast, offset, seed)
    parts = split_indices(len(y), seed)
    src_train = parts[0][np.isin(y[parts[0]], source_classes)]
    mean, std = float(noisy[src_train].mean()), float(noisy[src_train].std())
    out = []
    for images, classes in ((noisy, source_classes), (bad, target_classes)):
        tensors = []
        for idx in parts:
            idx = idx[np.isin(y[idx], classes)]
            tensors += [torch.from_numpy((images[idx] - mean) / std).float(),
                        torch.from_numpy(y[idx] - min(classes)).long()]
        out.append(Split(*tensors))
    note("digits 0-4", "sklearn.datasets.load_digits (bundled), study.data.degraded", out[0],
         {"seed": seed, "noise": noise})
    note("degraded digits 5-9", "sklearn.datasets.load_digits (bundled), study.data.degraded", out[1],
         {"seed": seed, "noise": noise, "contrast": contrast, "offset": offset})
    return out[0], out[1]
