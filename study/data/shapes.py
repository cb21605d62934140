"""Synthetic 8x8 shape images, generated from a seed: a source task that is deliberately unlike handwritten digits.

Five classes drawn at a random place, size and brightness with a little pixel noise: a hollow box, a filled disc,
a horizontal bar, a vertical bar and a diagonal cross. Pixels lie in [0, 1] like the scaled digits and are
standardised with the training part's statistics, exactly as `data.digits` does.
"""
import numpy as np
import torch

from study.data import Split
from study.data.used import recorded

SIDE = 8
CLASSES = ("box", "disc", "hbar", "vbar", "cross")


def _draw(kind: int, rng: np.random.Generator) -> np.ndarray:
    img = np.zeros((SIDE, SIDE), dtype=np.float32)
    if kind == 0:  # hollow box
        h, w = rng.integers(4, SIDE + 1, size=2)
        r, c = rng.integers(0, SIDE - h + 1), rng.integers(0, SIDE - w + 1)
        img[r, c:c + w] = img[r + h - 1, c:c + w] = 1
        img[r:r + h, c] = img[r:r + h, c + w - 1] = 1
    elif kind == 1:  # filled disc
        radius = rng.uniform(1.5, 3.0)
        cy, cx = rng.uniform(radius - 0.5, SIDE - radius + 0.5, size=2)
        yy, xx = np.mgrid[:SIDE, :SIDE]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = 1
    elif kind in (2, 3):  # a bar, one or two pixels thick
        length, thick = rng.integers(5, SIDE + 1), rng.integers(1, 3)
        r, c = rng.integers(0, SIDE - thick + 1), rng.integers(0, SIDE - length + 1)
        img[r:r + thick, c:c + length] = 1
        if kind == 3:
            img = img.T.copy()
    else:  # diagonal cross
        size = rng.integers(4, SIDE + 1)
        r, c = rng.integers(0, SIDE - size + 1, size=2)
        i = np.arange(size)
        img[r + i, c + i] = img[r + i, c + size - 1 - i] = 1
    return img


def images(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): n_per_class images of each class, flattened to 64 pixels in [0, 1], in a seeded random order."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(CLASSES)), n_per_class)
    rng.shuffle(y)
    x = np.stack([_draw(int(k), rng) * rng.uniform(0.6, 1.0) for k in y])
    x = np.clip(x + rng.normal(0.0, 0.05, x.shape), 0.0, 1.0).astype(np.float32)
    return x.reshape(len(y), -1), y


@recorded("shapes", "seeded 8x8 shape generator (study.data.shapes)")
def shapes(seed: int, n_train: int, n_val: int, n_test: int) -> Split:
    """A Split of about n_train / n_val / n_test images (rounded down to whole classes), standardised like digits."""
    parts = [images(n // len(CLASSES), seed * 3 + i) for i, n in enumerate((n_train, n_val, n_test))]
    mean, std = parts[0][0].mean(0), parts[0][0].std(0) + 1e-2
    tensors = []
    for x, y in parts:
        tensors += [torch.from_numpy((x - mean) / std), torch.from_numpy(y).long()]
    return Split(*tensors)
