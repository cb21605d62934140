"""Recurrent networks with a leading member dimension: M independent tanh RNNs, LSTMs or GRUs at once.

Member k computes exactly what torch.nn.RNN / LSTM / GRU (one layer, batch_first) followed by nn.Linear on the
last hidden state computes with member k's weights (gate order and the two bias vectors as in PyTorch), so the
batched engine can stand in for per-seed training. Weights are stored transposed for torch.bmm:
W_ih (M, D, G*H), W_hh (M, H, G*H), biases (M, 1, G*H), with G = 1 (rnn), 4 (lstm: i, f, g, o), 3 (gru: r, z, n).
"""
import math
from dataclasses import dataclass

import torch
from torch import nn

from study.engine.nets import MemberLinear, MemberNet

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
RECURRENT_INITS = ("default", "forget1", "orthogonal", "identity")


@dataclass
class RNNSpec:
    cell: str  # "rnn" (tanh Elman), "lstm", "gru"
    d_in: int
    hidden: int
    d_out: int

    @property
    def gates(self) -> int:
        if self.cell not in GATES:
            raise ValueError(f"unknown cell {self.cell!r}; allowed: {', '.join(GATES)}")
        return GATES[self.cell]

    def n_params(self) -> int:
        """Parameters of one member, as counted for torch.nn.RNN/LSTM/GRU + nn.Linear."""
        g, h = self.gates, self.hidden
        return g * h * (self.d_in + h + 2) + (h + 1) * self.d_out


class MemberRNN(MemberNet):
    def __init__(self, spec: RNNSpec, seeds: list[int], init: str | list[str] = "default",
                 forget_bias: float | None = None):
        """init "default": PyTorch's U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (the head's fan-in is
        H too). "forget1" (LSTM only): the same, then the forget gate's input bias set to 1 and its hidden bias
        to 0, so the forget gate starts mostly open (Gers et al. 2000; Jozefowicz et al. 2015). `forget_bias`
        (LSTM only) sets that bias to any value instead: large values approach the 1997 LSTM, whose cell had no
        forget gate at all (a gate fixed at 1). "orthogonal": the default draw, then every H x H block of W_hh
        replaced by a random orthogonal matrix (Saxe et al. 2014; the Haar-distributed QR draw with the sign
        fix of Mezzadri 2007), so that the linear part of the recurrence preserves norms. "identity": every
        block of W_hh set to the identity (Le et al. 2015, whose IRNN also used ReLU units; here the cell keeps
        its own nonlinearity). `init` may be one name per member, so that arms differing only in their
        initialisation train as members of one model; a member's draws depend only on its seed."""
        super().__init__()
        g = spec.gates
        m, h = len(seeds), spec.hidden
        inits = [init] * m if isinstance(init, str) else list(init)
        if len(inits) != m:
            raise ValueError(f"init has {len(inits)} names for {m} members")
        for name in set(inits):
            if name not in RECURRENT_INITS:
                raise ValueError(f"unknown recurrent init {name!r}; allowed: {', '.join(RECURRENT_INITS)}")
        if ("forget1" in inits or forget_bias is not None) and spec.cell != "lstm":
            raise ValueError("a forget-gate bias is an LSTM's; it has no meaning for a " + spec.cell)
        self.spec, self.inits = spec, inits
        self.init = inits[0] if len(set(inits)) == 1 else "mixed"
        self.forget_bias = 1.0 if "forget1" in inits and forget_bias is None else forget_bias
        self.register_buffer("seeds", torch.tensor(seeds, dtype=torch.int64))
        self.w_ih = nn.Parameter(torch.empty(m, spec.d_in, g * h))
        self.w_hh = nn.Parameter(torch.empty(m, h, g * h))
        self.b_ih = nn.Parameter(torch.empty(m, 1, g * h))
        self.b_hh = nn.Parameter(torch.empty(m, 1, g * h))
        self.out = MemberLinear(m, h, spec.d_out)
        self._initialise(seeds)

    @torch.no_grad()
    def _initialise(self, seeds):
        # Each member draws from its own generator, in a fixed order and in PyTorch's (out, in) layout, whatever
        # M is; the weights are then stored transposed.
        h, bound = self.spec.hidden, 1.0 / math.sqrt(self.spec.hidden)
        for k, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for p in (self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.out.weight, self.out.bias):
                rows, cols = p.shape[2], p.shape[1]
                u = torch.rand(rows, cols, generator=gen, dtype=p.dtype) * (2 * bound) - bound
                p[k].copy_(u.T)
            if self.inits[k] in ("orthogonal", "identity"):
                for j in range(self.spec.gates):  # block j of W_hh (PyTorch layout rows j*H..(j+1)*H)
                    if self.inits[k] == "identity":
                        w = torch.eye(h, dtype=self.w_hh.dtype)
                    else:  # drawn after every default weight, so the other weights equal the default member's
                        w = orthogonal(h, gen).to(self.w_hh.dtype)
                    self.w_hh[k, :, j * h:(j + 1) * h] = w.T
            if self.forget_bias is not None:
                self.b_ih[k, 0, h:2 * h] = float(self.forget_bias)
                self.b_hh[k, 0, h:2 * h] = 0.0

    def step(self, xw_t, h, c):
        """One time step; xw_t = x_t W_ih + b_ih (M, B, G*H). Returns (h, c); c is None except for the LSTM."""
        hw = torch.baddbmm(self.b_hh, h, self.w_hh)
        cell = self.spec.cell
        if cell == "rnn":
            return torch.tanh(xw_t + hw), None
        if cell == "lstm":
            i, f, gg, o = (xw_t + hw).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            return torch.sigmoid(o) * torch.tanh(c), c
        xr, xz, xn = xw_t.chunk(3, dim=-1)
        hr, hz, hn = hw.chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return n + z * (h - n), None  # (1 - z) * n + z * h

    def forward(self, x, record: bool = False):
        """x: (B, T, D) shared by all members, or (M, B, T, D). Returns logits (M, B, d_out) from the last
        hidden state; with record=True also {"hidden": [h_1 .. h_T]}, each (M, B, H) and keeping its gradient,
        so that dL/dh_t can be read after backward."""
        if x.dim() == 3:
            x = x.expand(self.members, *x.shape)
        m, b, t, d = x.shape
        # The input projection of every time step in one batched product; only the recurrence is sequential.
        # unbind (not xw[:, :, s]) so that backward assembles the input gradient once, not once per step.
        xw = torch.baddbmm(self.b_ih, x.reshape(m, b * t, d), self.w_ih).view(m, b, t, -1).unbind(2)
        h = x.new_zeros(m, b, self.spec.hidden)
        c = x.new_zeros(m, b, self.spec.hidden) if self.spec.cell == "lstm" else None
        hidden = [] if record else None
        for xw_t in xw:
            h, c = self.step(xw_t, h, c)
            if record:
                if h.requires_grad:
                    h.retain_grad()
                hidden.append(h)
        out = self.out(h)
        return (out, {"hidden": hidden}) if record else out


def orthogonal(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random n x n orthogonal matrix, uniformly (Haar) distributed: QR of a Gaussian matrix with the signs of
    R's diagonal moved into Q (Mezzadri 2007), in float64 so that Q is orthogonal to rounding."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


class StandaloneRNN(nn.Module):
    """One plain torch.nn.RNN/LSTM/GRU (batch_first) + nn.Linear on the last hidden state: what member k is."""

    def __init__(self, spec: RNNSpec):
        super().__init__()
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[spec.cell]
        self.rnn = cls(spec.d_in, spec.hidden, batch_first=True)
        self.out = nn.Linear(spec.hidden, spec.d_out)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


@torch.no_grad()
def standalone_rnn(model: MemberRNN, k: int) -> StandaloneRNN:
    """Member k of a batched recurrent model as a plain torch.nn model with the same weights."""
    ref = StandaloneRNN(model.spec).to(device=model.seeds.device, dtype=model.w_ih.dtype)
    ref.rnn.weight_ih_l0.copy_(model.w_ih[k].T)
    ref.rnn.weight_hh_l0.copy_(model.w_hh[k].T)
    ref.rnn.bias_ih_l0.copy_(model.b_ih[k, 0])
    ref.rnn.bias_hh_l0.copy_(model.b_hh[k, 0])
    ref.out.weight.copy_(model.out.weight[k].T)
    ref.out.bias.copy_(model.out.bias[k, 0])
    return ref
