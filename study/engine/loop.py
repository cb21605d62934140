"""The per-seed baseline: one plain torch.nn model per member, trained in a Python loop.

It is what the engine replaces; the benchmark measures both, and the exactness tests check that member k of
the batched engine equals this loop started from member k's initial weights on member k's batches.
"""
import torch
import torch.nn.functional as F
from torch import nn

from study.engine import rng
from study.engine.nets import ACTIVATIONS, MemberMLP
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


def standalone(model: MemberMLP, k: int) -> nn.Sequential:
    """Member k of a batched model as an ordinary nn.Sequential of nn.Linear / nn.BatchNorm1d layers."""
    spec, seed, layers = model.spec, int(model.seeds[k]), []
    layout = spec.layout() + [[]]
    for l, lin in enumerate(model.linears):
        if l == spec.depth and spec.head_dropout:
            layers.append(SeedNoise("drop", spec.dropout, l, seed))
        ref = nn.Linear(*lin.weight.shape[1:], bias=lin.bias is not None)
        with torch.no_grad():
            ref.weight.copy_(lin.weight[k].T)
            if lin.bias is not None:
                ref.bias.copy_(lin.bias[k, 0])
        layers.append(ref)
        for op in layout[l]:
            layers.append(nn.BatchNorm1d(spec.width) if op == "bn" else Act(spec.activation) if op == "act"
                          else SeedNoise(op, spec.dropout, l, seed))
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
