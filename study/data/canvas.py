"""The digits on a larger canvas: each 8x8 digit enlarged (bilinear) and pasted at a seeded random place.

A harder image task that stays local and cheap: where a digit sits is no longer fixed, so a net has to
recognise the same strokes wherever they appear. A convolutional net's shared local filters are built for
that; a fully connected net has to learn every position separately. Same images, labels and train /
validation / test split as `data.digits(seed)`; pixels standardised globally (one mean and std).
"""
import numpy as np
import torch
import torch.nn.functional as F

from study.data.digits import Split, raw_digits, split_indices, standardised_split
from study.data.used import recorded


def placed(x: np.ndarray, side: int, scale: float, seed: int, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Enlarge flattened 8x8 images (N, 64) by `scale` and paste each at a random offset on a side x side
    canvas of zeros; add Gaussian pixel noise of std `noise` (clipped to [0, 1]). Returns the flattened canvases
    (N, side*side) and the offsets (N, 2) as (row, column) of the digit's top-left corner."""
    size = int(round(8 * scale))
    if not 8 <= size <= side:
        raise ValueError(f"an 8x8 digit enlarged {scale}x is {size}x{size}: it must fit a {side}x{side} canvas")
    rng = np.random.default_rng(seed)
    big = F.interpolate(torch.from_numpy(x).view(-1, 1, 8, 8), size=(size, size), mode="bilinear",
                        align_corners=False).clamp(0, 1)[:, 0].numpy()
    offsets = rng.integers(0, side - size + 1, size=(len(x), 2))
    out = np.zeros((len(x), side, side), dtype=np.float32)
    for img, (r, c), digit in zip(out, offsets, big):
        img[r:r + size, c:c + size] = digit
    if noise:
        out = np.clip(out + rng.normal(0.0, noise, out.shape), 0.0, 1.0).astype(np.float32)
    return out.reshape(len(x), -1), offsets


@recorded("digits-on-canvas", "sklearn digits placed at seeded offsets (study.data.canvas)")
def canvas(seed: int = 0, side: int = 20, scale: float = 1.5, noise: float = 0.0) -> Split:
    """The digits split by `seed` (as data.digits), each enlarged and placed at a random offset (drawn from
    the same seed) on a side x side canvas."""
    x, y = raw_digits()
    big, _ = placed(x, side, scale, seed + 7919, noise)
    return standardised_split(big, y, split_indices(len(y), seed), per_pixel=False)
