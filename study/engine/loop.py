"""The per-seed baseline: one plain torch.nn model per member, trained in a Python loop.

It is what the engine replaces; the benchmark measures both, and the exactness tests check that member k of
the batched engine equals this loop started from member k's initial weights on member k's batches.
"""
import torch
import torch.nn.functional as F
from torch import nn

from study.engine import rng
from study.engine.convnets import MemberCNN
from study.engine.nets import ACTIVATIONS
from study.engine.train import make_optimizer, member_batches


class SeedNoise(nn.Module):
    """nn.Dropout (or Uout) with the engine's per-seed random numbers, so that both sides draw the same masks."""

    def __init__(self, kind, rate, stream, seed):
        super().__init__()
        self.kind, self.rate, self.stream, self.seed, self.calls = kind, rate, stream, torch.tensor([seed]), 0

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        u = rng.uniform(self.seed.to(x.device), self.stream * 1_000_003 + self.calls, tuple(x.shape))[0]
        self.calls += 1
        if self.kind == "uout":
            return x * (1 + (2 * u - 1) * self.rate)
        return x * (u < 1 - self.rate).to(x.dtype) / (1 - self.rate)


class Act(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.f = ACTIVATIONS[name]

    def forward(self, x):
        return self.f(x)


def _op(name, spec, channels, l, seed, spatial=False):
    if name == "bn":
        return (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(channels)
    if name == "act":
        return Act(spec.activation)
    return SeedNoise(name, spec.dropout, l, seed)


def _linear(lin, k) -> nn.Linear:
    ref = nn.Linear(*lin.weight.shape[1:], bias=lin.bias is not None)
    with torch.no_grad():
        ref.weight.copy_(lin.weight[k].T)
        if lin.bias is not None:
            ref.bias.copy_(lin.bias[k].flatten())
    return ref


def standalone_cnn(model: MemberCNN, k: int) -> nn.Sequential:
    """Member k of a batched CNN as an ordinary nn.Sequential of nn.Conv2d / nn.BatchNorm2d layers."""
    spec, seed = model.spec, int(model.seeds[k])
    layers = [nn.Unflatten(1, (spec.in_channels, spec.side, spec.side))]
    for l, (conv, ops) in enumerate(zip(model.convs, spec.layout())):
        c_out, c_in, kh, _ = conv.weight.shape[1:]
        ref = nn.Conv2d(c_in, c_out, kh, padding=kh // 2, bias=conv.bias is not None)
        with torch.no_grad():
            ref.weight.copy_(conv.weight[k])
            if conv.bias is not None:
                ref.bias.copy_(conv.bias[k])
        layers.append(ref)
        layers += [_op(name, spec, c_out, l, seed, spatial=True) for name in ops]
        if l + 1 in spec.pool_after:
            layers.append(nn.MaxPool2d(2))
    layers.append(nn.Flatten())
    if spec.head_dropout:
        layers.append(SeedNoise("drop", spec.dropout, spec.depth, seed))
    layers.append(_linear(model.out, k))
    return nn.Sequential(*layers).to(model.seeds.device)


def standalone(model, k: int) -> nn.Sequential:
    """Member k of a batched model as an ordinary nn.Sequential of nn.Linear / nn.BatchNorm1d layers."""
    if isinstance(model, MemberCNN):
        return standalone_cnn(model, k)
    spec, seed, layers = model.spec, int(model.seeds[k]), []
    layout = spec.layout() + [[]]
    for l, lin in enumerate(model.linears):
        if l == spec.depth and spec.head_dropout:
            layers.append(SeedNoise("drop", spec.dropout, l, seed))
        layers.append(_linear(lin, k))
        layers += [_op(name, spec, spec.width, l, seed) for name in layout[l]]
    return nn.Sequential(*layers).to(model.seeds.device)


def train_standalone(net: nn.Sequential, seed: int, split, optimizer: str, lr: float, epochs: int,
                     batch_size: int) -> list[float]:
    """Train one plain model; returns the mean training loss of each epoch."""
    opt = make_optimizer(optimizer, net.parameters(), lr)
    seeds = torch.tensor([seed], device=split.x_train.device)
    losses = []
    net.train()
    for epoch in range(epochs):
        total, batches = 0.0, member_batches(seeds, epoch, len(split.y_train), batch_size)
        for idx in batches[:, 0]:
            loss = F.cross_entropy(net(split.x_train[idx]), split.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        losses.append(total / len(batches))
    return losses
