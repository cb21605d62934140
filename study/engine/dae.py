"""Stacked denoising autoencoders with a member dimension, as in Bengio et al. (2007) and Vincent et al. (2010).

Every layer is a tied-weight autoencoder: the encoder h = sigmoid(x W + b), the decoder x' = sigmoid(h W^T + c)
with the transposed encoder weight, trained to reconstruct the clean input x from a corrupted copy (masking
noise: each input value set to 0 with probability `noise`) under the cross-entropy of Bernoulli units. Inputs
must lie in [0, 1]: pixels scaled to [0, 1] for the first layer, sigmoid codes for the layers above. Weights
start uniform in ±1/sqrt(fan_in), the initialisation of the pre-2010 literature (LeCun et al. 1998).

Greedy: layer l trains on the codes of the frozen layers below it, which are computed without gradients, so
they cannot move. Members (seeds) are trained at once; each member's initial weights, minibatch order and
noise masks depend only on its own seed. Also here: the relative reconstruction error (how much better than
answering every value's mean a layer reconstructs) and a linear probe of frozen codes (ridge regression to the
one-hot labels, closed form).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from study.engine import rng
from study.engine.train import make_optimizer, member_batches


def uniform_weights(seeds: list[int], d_in: int, d_out: int, stream: int) -> torch.Tensor:
    """(M, d_in, d_out) weights uniform in ±1/sqrt(d_in); member k's draw depends only on seeds[k] and stream."""
    bound = 1.0 / math.sqrt(d_in)
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed(int(seed) * 1_009 + stream)
        out.append((torch.rand(d_in, d_out, generator=g) * 2 - 1) * bound)
    return torch.stack(out)


class TiedAutoencoder(nn.Module):
    """One layer's autoencoder for M members: weight (M, D, H), encoder bias (M, 1, H), decoder bias (M, 1, D)."""

    def __init__(self, seeds: list[int], d_in: int, width: int, stream: int = 0):
        super().__init__()
        self.weight = nn.Parameter(uniform_weights(seeds, d_in, width, stream))
        self.bias = nn.Parameter(torch.zeros(len(seeds), 1, width))
        self.dec_bias = nn.Parameter(torch.zeros(len(seeds), 1, d_in))

    @property
    def members(self) -> int:
        return self.weight.shape[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(torch.baddbmm(self.bias, x, self.weight))

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.dec_bias, h, self.weight.transpose(1, 2))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(self.encode(x)))

    def loss(self, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """Per-member cross-entropy of the clean input under the reconstruction of the noisy one, summed over
        the input's values and averaged over the batch: (M,)."""
        logits = self.decode_logits(self.encode(noisy))
        return F.binary_cross_entropy_with_logits(logits, clean, reduction="none").sum(-1).mean(-1)


def members_view(x: torch.Tensor, m: int) -> torch.Tensor:
    return x.expand(m, *x.shape) if x.dim() == 2 else x


@torch.no_grad()
def encode(stack: list[TiedAutoencoder], x: torch.Tensor, members: int | None = None) -> torch.Tensor:
    """The codes of a stack: x (N, D) shared, or (M, N, D) -> (M, N, width); the input itself for an empty stack
    (then `members` says how many copies)."""
    m = stack[0].members if stack else members
    h = members_view(x, m)
    for layer in stack:
        h = layer.encode(h)
    return h


def mask(x: torch.Tensor, seeds: torch.Tensor, stream: int, noise: float) -> torch.Tensor:
    """Masking noise: each value of x (M, B, D) set to 0 with probability `noise`, per member from its own seed."""
    if noise == 0:
        return x
    u = rng.uniform(seeds, stream, tuple(x.shape[1:]))
    return x * (u >= noise).to(x.dtype)


@torch.no_grad()
def relative_error(layer: TiedAutoencoder, h: torch.Tensor) -> torch.Tensor:
    """Per member: squared reconstruction error of the clean input h (M, N, D) divided by the squared error of
    answering each value's mean over the N inputs (1 = no better than the mean, 0 = perfect)."""
    err = ((layer.reconstruct(h) - h) ** 2).sum((1, 2))
    base = ((h - h.mean(1, keepdim=True)) ** 2).sum((1, 2))
    return err / base


def pretrain_layer(stack: list[TiedAutoencoder], x: torch.Tensor, seeds: list[int], width: int, epochs: int,
                   lr: float, batch_size: int, noise: float, held_out: torch.Tensor | None = None,
                   optimizer: str = "adam") -> tuple[TiedAutoencoder, list[dict]]:
    """Train one denoising autoencoder on the codes of the frozen `stack` below it.

    Returns the layer and one record per epoch (0 = before training) with per-member tensors: the training
    loss (cross-entropy per input, clean reconstruction), the relative error on the training codes and, with
    `held_out` inputs, on theirs. Only the new layer's parameters reach the optimizer.
    """
    for layer in stack:
        layer.requires_grad_(False)
    m, depth = len(seeds), len(stack)
    h = encode(stack, x, m)
    h_out = encode(stack, held_out, m) if held_out is not None else None
    ae = TiedAutoencoder(seeds, h.shape[-1], width, stream=depth + 1).to(h.device)
    opt = make_optimizer(optimizer, ae.parameters(), lr)
    seeds_t = torch.tensor(seeds, device=h.device)
    rows = torch.arange(m, device=h.device).view(-1, 1)

    def measure(epoch):
        with torch.no_grad():
            rec = {"epoch": epoch, "loss": ae.loss(h, h), "rel_train": relative_error(ae, h)}
            if h_out is not None:
                rec["rel_held_out"] = relative_error(ae, h_out)
        return rec

    history = [measure(0)]
    calls = 0
    for epoch in range(epochs):
        # a different minibatch order per layer, still a function of the member's seed only
        for idx in member_batches(seeds_t, 10_000 * (depth + 1) + epoch, h.shape[1], batch_size):
            clean = h[rows, idx]
            noisy = mask(clean, seeds_t, 1_000_003 * (depth + 1) + calls, noise)
            calls += 1
            loss = ae.loss(noisy, clean)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        history.append(measure(epoch + 1))
    ae.requires_grad_(False)
    return ae, history


def pretrain_stack(x, seeds, depth, width, epochs, lr, batch_size, noise, held_out=None, optimizer="adam",
                   progress=None):
    """Greedy pretraining of `depth` layers: returns the layers and each layer's history (see pretrain_layer)."""
    stack, histories = [], []
    for _ in range(depth):
        ae, hist = pretrain_layer(stack, x, seeds, width, epochs, lr, batch_size, noise, held_out, optimizer)
        stack.append(ae)
        histories.append(hist)
        if progress:
            progress(len(stack), hist)
    return stack, histories


def random_stack(seeds: list[int], d_in: int, width: int, depth: int) -> list[TiedAutoencoder]:
    """The same stack untrained: each layer at its initial weights (what pretraining starts from)."""
    sizes = [d_in] + [width] * depth
    return [TiedAutoencoder(seeds, a, b, stream=l + 1).requires_grad_(False)
            for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]


@torch.no_grad()
def ridge_probe(train_codes: torch.Tensor, y_train: torch.Tensor, test_codes: torch.Tensor, y_test: torch.Tensor,
                ridge: float = 1.0) -> torch.Tensor:
    """Per-member test accuracy of a linear probe: codes standardised with the training codes' statistics, then
    ridge regression (penalty `ridge`, bias unpenalised) onto the one-hot labels; predicted class = largest
    output. Codes (M, N, H); labels shared (N,)."""
    mean, std = train_codes.mean(1, keepdim=True), train_codes.std(1, keepdim=True, correction=0) + 1e-6
    a, b = (train_codes - mean) / std, (test_codes - mean) / std
    ones = lambda z: torch.cat([z, torch.ones_like(z[..., :1])], -1)
    a, b = ones(a), ones(b)
    k = a.shape[-1]
    target = F.one_hot(y_train, int(max(y_train.max(), y_test.max())) + 1).to(a.dtype)
    penalty = torch.eye(k, dtype=a.dtype, device=a.device) * ridge
    penalty[-1, -1] = 0.0
    w = torch.linalg.solve(a.transpose(1, 2) @ a + penalty, a.transpose(1, 2) @ target.expand(a.shape[0], -1, -1))
    return ((b @ w).argmax(-1) == y_test).float().mean(1)
