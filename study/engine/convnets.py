"""A small CNN with a leading member dimension: M independent copies, computed by grouped convolution.

Activations are (M, B, C, H, W). A convolution folds the members into the channel dimension and runs one
conv2d with groups=M, so member k only ever sees its own channels and weights.
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from study.engine.nets import (
    BLOCK_OPS,
    MemberDropout,
    MemberLinear,
    MemberNet,
    block_op,
    init_std,
)


class MemberConv2d(nn.Module):
    def __init__(self, members: int, c_in: int, c_out: int, kernel: int = 3, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(members, c_out)) if bias else None

    def forward(self, x):
        m, b, c, h, w = x.shape
        k = self.weight.shape[-1]
        y = F.conv2d(x.transpose(0, 1).reshape(b, m * c, h, w), self.weight.reshape(-1, c, k, k),
                     None if self.bias is None else self.bias.reshape(-1), padding=k // 2, groups=m)
        return y.view(b, m, -1, h, w).transpose(0, 1)


def max_pool(x):
    m, b = x.shape[:2]
    y = F.max_pool2d(x.reshape(m * b, *x.shape[2:]), 2)
    return y.view(m, b, *y.shape[1:])


@dataclass
class CNNSpec:
    """3x3 convolution blocks, each followed by the operations in `blocks` (as MLPSpec; default "act"),
    2x2 max-pooling after the blocks in `pool_after`, then one linear layer to the classes."""

    channels: tuple[int, ...] = (16, 32, 32, 32)
    pool_after: tuple[int, ...] = (2,)
    d_out: int = 10
    side: int = 8  # images are side x side
    in_channels: int = 1
    activation: str = "relu"
    dropout: float = 0.0
    blocks: tuple[str, ...] = field(default=())
    head_dropout: bool = False

    @property
    def depth(self) -> int:
        return len(self.channels)

    def layout(self) -> list[list[str]]:
        out = [b.split() for b in self.blocks] if self.blocks else [["act"]] * self.depth
        if len(out) != self.depth or {op for b in out for op in b} - set(BLOCK_OPS):
            raise ValueError(f"bad block layout {self.blocks} for {self.depth} conv blocks")
        return out


class MemberCNN(MemberNet):
    def __init__(self, spec: CNNSpec, seeds: list[int], inits: list[str] | str = "he"):
        super().__init__()
        m = len(seeds)
        inits = [inits] * m if isinstance(inits, str) else list(inits)
        self.spec = spec
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        layout = spec.layout()
        chans = (spec.in_channels, *spec.channels)
        self.convs = nn.ModuleList(MemberConv2d(m, a, b, bias=layout[l][:1] != ["bn"])
                                   for l, (a, b) in enumerate(zip(chans[:-1], chans[1:])))
        self.blocks = nn.ModuleList(nn.ModuleList(block_op(name, m, spec.channels[l], spec, l, spatial=True)
                                                  for name in ops) for l, ops in enumerate(layout))
        side = spec.side // 2 ** len(spec.pool_after)
        self.flat = spec.channels[-1] * side * side
        self.head = MemberDropout(spec.dropout, stream=spec.depth) if spec.head_dropout else None
        self.out = MemberLinear(m, self.flat, spec.d_out)
        self._initialise(seeds, inits)

    @torch.no_grad()
    def _initialise(self, seeds, inits):
        for k, (seed, scheme) in enumerate(zip(seeds, inits)):
            g = torch.Generator().manual_seed(int(seed))
            for conv in self.convs:
                c_out, c_in, kh, kw = conv.weight.shape[1:]
                w = torch.randn(c_out, c_in, kh, kw, generator=g) * init_std(scheme, c_in * kh * kw, c_out * kh * kw)
                conv.weight[k].copy_(w)
            w = torch.randn(self.flat, self.spec.d_out, generator=g) * init_std(scheme, self.flat, self.spec.d_out)
            self.out.weight[k].copy_(w)

    def forward(self, x, record: bool = False):
        """x: flattened images (B, side*side*in_channels), shared, or (M, B, ...) per member."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        s = self.spec
        h = x.reshape(self.members, x.shape[1], s.in_channels, s.side, s.side)
        rec = {"pre": [], "hidden": [], "bn_in": []} if record else None
        for l, (conv, ops) in enumerate(zip(self.convs, self.blocks)):
            h = self.run_block(ops, conv(h), rec)
            if l + 1 in s.pool_after:
                h = max_pool(h)
            if record:
                rec["hidden"].append(h)
        h = h.reshape(self.members, h.shape[1], -1)
        if self.head is not None:
            h = self.head(h, self.seeds)
        out = self.out(h)
        return (out, rec) if record else out
