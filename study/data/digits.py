"""Data sets: scikit-learn's bundled handwritten digits (no download), split by seed."""
from dataclasses import dataclass

import numpy as np
import torch
from study.data.used import recorded


@dataclass
class Split:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_classes(self) -> int:
        return int(self.y_train.max()) + 1

    def to(self, device) -> "Split":
        return Split(*(t.to(device) for t in vars(self).values()))


def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digit images, flattened, pixels scaled to [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32) / 16.0, y


def split_indices(n: int, seed: int, val: float = 0.2, test: float = 0.2) -> list[np.ndarray]:
    """Train, validation and test indices of n items, a function of the seed only."""
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(test * n)), int(round(val * n))
    return np.split(order, [n - n_val - n_test, n - n_test])


def standardised_split(x: np.ndarray, y: np.ndarray, parts: list[np.ndarray], per_pixel: bool = True) -> Split:
    """Standardise with the training part's statistics: per pixel (each pixel's own mean and std, + 0.01 so an
    always-blank pixel does not divide by zero) or globally (one mean and std over all training pixels, so no
    pixel gets huge z-values where the training images barely vary)."""
    train = x[parts[0]]
    mean, std = (train.mean(0), train.std(0) + 1e-2) if per_pixel else (train.mean(), train.std())
    x = ((x - mean) / std).astype(np.float32)
    tensors = []
    for idx in parts:
        tensors += [torch.from_numpy(x[idx]), torch.from_numpy(y[idx]).long()]
    return Split(*tensors)


@recorded("digits", "sklearn.datasets.load_digits (bundled, 1,797 8x8 images)")
def digits(seed: int = 0, val: float = 0.2, test: float = 0.2, per_pixel: bool = True) -> Split:
    """The 1,797 8x8 digit images, pixels scaled to [0, 1], standardised with training-set statistics."""
    x, y = raw_digits()
    return standardised_split(x, y, split_indices(len(y), seed, val, test), per_pixel)
