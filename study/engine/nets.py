"""Networks with a leading member dimension: M independent copies of one architecture, computed by batched matmul.

Every tensor inside carries the member dimension first: inputs (M, B, D), weights (M, D_in, D_out),
BatchNorm statistics (M, C). Members never mix, so the sum of their losses back-propagates each member's own
gradient, and one torch.optim step updates all of them.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
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
    """BatchNorm per member. Input (M, B, C) (like BatchNorm1d) or (M, B, C, H, W) (like BatchNorm2d, with
    statistics over batch and space); parameters and running statistics are per member and channel."""

    def __init__(self, members: int, channels: int, momentum: float = 0.1, eps: float = 1e-5, spatial=False):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        shape = (members, 1, channels) + ((1, 1) if spatial else ())
        self.dims = (1, 3, 4) if spatial else (1,)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))

    def forward(self, x):
        # One F.batch_norm call over all members at once: members x channels become the channels of a
        # (B, M*C[, H, W]) tensor, so torch's fused kernel (forward and backward) serves every member. Its running
        # statistics are views of this module's buffers and are updated in place (unbiased variance, as
        # nn.BatchNorm1d/2d).
        m, b, c = x.shape[:3]
        flat = x.transpose(0, 1).reshape(b, m * c, *x.shape[3:])
        out = F.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1), self.weight.reshape(-1),
                           self.bias.reshape(-1), self.training, self.momentum, self.eps)
        return out.view(b, m, c, *x.shape[3:]).transpose(0, 1)

    def member_running_var(self) -> torch.Tensor:
        return self.running_var.reshape(self.running_var.shape[0], -1)


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


class MemberUout(MemberDropout):
    """Uniform multiplicative noise x + x*r, r ~ U(-beta, beta) (Li et al. 2019): mean-preserving, and its
    variance moves less between training and evaluation than Bernoulli dropout's."""

    def forward(self, x, seeds: torch.Tensor):
        if not self.training or self.rate == 0:
            return x
        u = rng.uniform(seeds, self.stream * 1_000_003 + self.calls, tuple(x.shape[1:]))
        self.calls += 1
        return x * (1 + (2 * u - 1) * self.rate)


class Activation(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.name, self.f = name, ACTIVATIONS[name]

    def forward(self, x):
        return self.f(x)


BLOCK_OPS = ("bn", "act", "drop", "uout")


@dataclass
class MLPSpec:
    """One architecture; members differ only in seed and initialisation scheme.

    Each hidden block is an affine layer followed by the operations named in `blocks` (one string per block,
    e.g. "bn act" for affine -> BN -> activation, "drop bn act" for dropout directly before BN). Without
    `blocks`, every block is "act", with "bn" before it when `batchnorm` and "drop" after it in `dropout_layers`.
    `head_dropout` puts one dropout before the output layer.
    """

    d_in: int
    width: int
    depth: int  # number of hidden layers
    d_out: int
    activation: str = "relu"
    batchnorm: bool = False  # affine -> BN -> activation, as in §27.1.8
    dropout: float = 0.0  # drop rate of "drop", or beta of "uout"
    dropout_layers: tuple[int, ...] = field(default=())  # hidden layers (1-based) followed by dropout
    blocks: tuple[str, ...] = field(default=())
    head_dropout: bool = False

    def layout(self) -> list[list[str]]:
        if self.blocks:
            if len(self.blocks) != self.depth:
                raise ValueError(f"{len(self.blocks)} block layouts for {self.depth} hidden layers")
            out = [b.split() for b in self.blocks]
            bad = {op for b in out for op in b} - set(BLOCK_OPS)
            if bad or any(b.count("act") != 1 for b in out):
                raise ValueError(f"bad block layout {self.blocks}: ops are {BLOCK_OPS}, one 'act' per block")
            return out
        return [(["bn"] if self.batchnorm else []) + ["act"] + (["drop"] if l + 1 in self.dropout_layers else [])
                for l in range(self.depth)]


def block_op(name: str, members: int, channels: int, spec, stream: int, spatial: bool = False) -> nn.Module:
    """One operation of a block layout ("bn", "act", "drop", "uout") for `members` members."""
    if name == "bn":
        return MemberBatchNorm(members, channels, spatial=spatial)
    if name == "act":
        return Activation(spec.activation)
    return (MemberDropout if name == "drop" else MemberUout)(spec.dropout, stream=stream)


class MemberNet(nn.Module):
    """What the member MLP and CNN share: the member count, their BN layers, and running one block's ops."""

    @property
    def members(self) -> int:
        return self.seeds.numel()

    def norms(self) -> list[MemberBatchNorm]:
        return [m for m in self.modules() if isinstance(m, MemberBatchNorm)]

    def run_block(self, ops, h, rec):
        """Apply a block's ops after its affine/conv layer; with rec, keep the activation's and BN's inputs."""
        for op in ops:
            if isinstance(op, Activation):
                if rec is not None:
                    rec["pre"].append(h)
                h = op(h)
            elif isinstance(op, MemberBatchNorm):
                if rec is not None:
                    rec["bn_in"].append(h)
                h = op(h)
            else:
                h = op(h, self.seeds)
        return h


class MemberMLP(MemberNet):
    def __init__(self, spec: MLPSpec, seeds: list[int], inits: list[str] | str = "he"):
        super().__init__()
        if spec.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {spec.activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        m = len(seeds)
        inits = [inits] * m if isinstance(inits, str) else list(inits)
        if len(inits) != m:
            raise ValueError(f"{len(inits)} init schemes for {m} members")
        self.spec = spec
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        sizes = [spec.d_in] + [spec.width] * spec.depth + [spec.d_out]
        layout = spec.layout()
        # An affine layer followed directly by BN gets no bias: BN's shift replaces it, and a parameter with no
        # effect on the loss only collects rounding noise (which adaptive optimizers then amplify into real steps).
        self.linears = nn.ModuleList(
            MemberLinear(m, a, b, bias=not (l < spec.depth and layout[l][:1] == ["bn"]))
            for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.blocks = nn.ModuleList(nn.ModuleList(block_op(name, m, spec.width, spec, l) for name in ops)
                                    for l, ops in enumerate(layout))
        self.head = MemberDropout(spec.dropout, stream=spec.depth) if spec.head_dropout else None
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

    def forward(self, x, record: bool = False):
        """x: (M, B, D) or (B, D) shared by all members. With record=True also returns a dict of per-block
        lists: "pre" (the activation's input z_l), "hidden" (the block's output h_l, which keeps its gradient)
        and "bn_in" (each BN layer's input)."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        rec = {"pre": [], "hidden": [], "bn_in": []} if record else None
        h = x
        for lin, ops in zip(self.linears[:-1], self.blocks):
            h = self.run_block(ops, lin(h), rec)
            if record:
                if h.requires_grad:
                    h.retain_grad()
                rec["hidden"].append(h)
        if self.head is not None:
            h = self.head(h, self.seeds)
        out = self.linears[-1](h)
        return (out, rec) if record else out
