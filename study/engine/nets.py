"""Networks with a leading member dimension: M independent copies of one architecture, computed by batched matmul.

Every tensor inside carries the member dimension first: inputs (M, B, D), weights (M, D_in, D_out),
BatchNorm statistics (M, C). Members never mix, so the sum of their losses back-propagates each member's own
gradient, and one torch.optim step updates all of them.
"""
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from study.engine import rng

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of a zero-mean normal initialisation."""
    if scheme == "normal001":  # the small fixed scale of early networks
        return 0.01
    if scheme == "xavier":  # Glorot & Bengio (2010), as torch.nn.init.xavier_normal_
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he":  # He et al. (2015), as torch.nn.init.kaiming_normal_ with the ReLU gain
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown init scheme {scheme!r}; allowed: normal001, xavier, he")


INIT_SCHEMES = ("normal001", "xavier", "he")


class MemberLinear(nn.Module):
    def __init__(self, members: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(members, 1, d_out)) if bias else None

    def forward(self, x):
        return torch.bmm(x, self.weight) if self.bias is None else torch.baddbmm(self.bias, x, self.weight)


class MemberBatchNorm(nn.Module):
    """BatchNorm1d per member: batch statistics over dim 1, running statistics of shape (M, C)."""

    def __init__(self, members: int, channels: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(members, 1, channels))
        self.bias = nn.Parameter(torch.zeros(members, 1, channels))
        self.register_buffer("running_mean", torch.zeros(members, 1, channels))
        self.register_buffer("running_var", torch.ones(members, 1, channels))

    def forward(self, x):
        if self.training:
            var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
            with torch.no_grad():
                n = x.shape[1]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * (n / max(n - 1, 1)), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class MemberDropout(nn.Module):
    """Inverted dropout whose masks come from each member's own seed (see engine.rng)."""

    def __init__(self, rate: float, stream: int):
        super().__init__()
        self.rate, self.stream = rate, stream
        self.calls = 0

    def forward(self, x, seeds: torch.Tensor):
        if not self.training or self.rate == 0:
            return x
        u = rng.uniform(seeds, self.stream * 1_000_003 + self.calls, tuple(x.shape[1:]))
        self.calls += 1
        keep = 1.0 - self.rate
        return x * (u < keep).to(x.dtype) / keep


@dataclass
class MLPSpec:
    """One architecture; members differ only in seed and initialisation scheme."""

    d_in: int
    width: int
    depth: int  # number of hidden layers
    d_out: int
    activation: str = "relu"
    batchnorm: bool = False  # affine -> BN -> activation, as in §27.1.8
    dropout: float = 0.0
    dropout_layers: tuple[int, ...] = field(default=())  # hidden layers (1-based) followed by dropout


class MemberMLP(nn.Module):
    def __init__(self, spec: MLPSpec, seeds: list[int], inits: list[str] | str = "he"):
        super().__init__()
        if spec.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {spec.activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        m = len(seeds)
        inits = [inits] * m if isinstance(inits, str) else list(inits)
        if len(inits) != m:
            raise ValueError(f"{len(inits)} init schemes for {m} members")
        self.spec, self.act = spec, ACTIVATIONS[spec.activation]
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        sizes = [spec.d_in] + [spec.width] * spec.depth + [spec.d_out]
        # An affine layer followed by BN gets no bias: BN's shift replaces it, and a parameter with no effect on
        # the loss only collects rounding noise (which adaptive optimizers then amplify into real steps).
        self.linears = nn.ModuleList(
            MemberLinear(m, a, b, bias=not (spec.batchnorm and l < spec.depth))
            for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.norms = nn.ModuleList(
            MemberBatchNorm(m, spec.width) if spec.batchnorm else nn.Identity() for _ in range(spec.depth)
        )
        self.drops = nn.ModuleList(
            MemberDropout(spec.dropout if l + 1 in spec.dropout_layers else 0.0, stream=l) for l in range(spec.depth)
        )
        self._initialise(seeds, inits)

    @torch.no_grad()
    def _initialise(self, seeds, inits):
        # Each member draws from its own generator, in a fixed order, whatever M is.
        for k, (seed, scheme) in enumerate(zip(seeds, inits)):
            g = torch.Generator().manual_seed(int(seed))
            for lin in self.linears:
                d_in, d_out = lin.weight.shape[1:]
                w = torch.randn(d_in, d_out, generator=g) * init_std(scheme, d_in, d_out)
                lin.weight[k].copy_(w)

    @property
    def members(self) -> int:
        return self.seeds.numel()

    def forward(self, x, record: bool = False):
        """x: (M, B, D) or (B, D) shared by all members. With record=True also returns, per hidden layer,
        the pre-activation z_l and the output h_l (h_l keeps its gradient for per-layer measurements)."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        pre, hidden = [], []
        h = x
        for lin, norm, drop in zip(self.linears[:-1], self.norms, self.drops):
            z = norm(lin(h))
            h = drop(self.act(z), self.seeds)
            if record:
                h.retain_grad()
                pre.append(z)
                hidden.append(h)
        out = self.linears[-1](h)
        return (out, pre, hidden) if record else out
