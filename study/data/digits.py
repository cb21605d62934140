"""Data sets: scikit-learn's bundled handwritten digits (no download), split by seed."""
from dataclasses import dataclass

import numpy as np
import torch


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


def digits(seed: int = 0, val: float = 0.2, test: float = 0.2) -> Split:
    """The 1,797 8x8 digit images, pixels scaled to [0, 1], standardised with training-set statistics."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32) / 16.0
    order = np.random.default_rng(seed).permutation(len(y))
    n_test, n_val = int(round(test * len(y))), int(round(val * len(y)))
    parts = np.split(order, [len(y) - n_val - n_test, len(y) - n_test])
    mean, std = x[parts[0]].mean(0), x[parts[0]].std(0) + 1e-2
    x = (x - mean) / std
    tensors = []
    for idx in parts:
        tensors += [torch.from_numpy(x[idx]), torch.from_numpy(y[idx]).long()]
    return Split(*tensors)
