"""Many BN/Dropout layouts of one MLP in a single batched model (the Dropout × BatchNorm study's engine).

A `LayoutMLP` holds members × layouts: every layout (a placement of BN and noise, with its own rate) gets one
member per seed, and all of them run as one batched matmul per layer, so eight layouts at two rates cost about
what one does. Every block is `affine -> [noise] -> [BN] -> ReLU -> [noise]` with at most one noise per block;
which parts are on is a per-member mask, so the arithmetic is the same for every member. Members with the same
seed share their initial weights and minibatch order (a comparison between layouts is paired by seed).

Noise is drawn from one `torch.Generator` per model (seeded by `noise_seed`), as float32 uniforms, one tensor per
block for all members: about 15× faster than the counter-based per-member streams of `engine.rng`, at the price
that a member's masks depend on the model it is batched in (the run is still reproducible from its seeds).
"""
from dataclasses import dataclass

import torch
from torch import nn

from study.engine.nets import MemberBatchNorm, init_std

NOISE = ("drop", "uout")


@dataclass(frozen=True)
class Block:
    pre: str | None = None  # noise between the affine layer and BN ("drop" or "uout")
    bn: bool = False
    post: str | None = None  # noise after the activation


@dataclass(frozen=True)
class Layout:
    name: str
    blocks: tuple[Block, ...]
    head: bool = False  # one dropout before the output layer
    rate: float = 0.0  # drop rate, or Uout's beta

    @property
    def noise_kind(self) -> str | None:
        kinds = {k for b in self.blocks for k in (b.pre, b.post) if k} | ({"drop"} if self.head else set())
        if len(kinds) > 1:
            raise ValueError(f"layout {self.name}: one kind of noise per layout, got {sorted(kinds)}")
        return next(iter(kinds), None)


def parse_block(text: str) -> Block:
    """'drop bn act' -> Block(pre='drop', bn=True); 'bn act drop' -> Block(bn=True, post='drop')."""
    ops = text.split()
    if ops.count("act") != 1:
        raise ValueError(f"block {text!r}: exactly one 'act'")
    before, after = ops[: ops.index("act")], ops[ops.index("act") + 1:]
    bn = "bn" in before
    pre = [o for o in before if o in NOISE]
    post = [o for o in after if o in NOISE]
    if (bn and before[-1] != "bn") or set(before) - {"bn", *NOISE} or set(after) - set(NOISE) or len(pre) + len(post) > 1:
        raise ValueError(f"block {text!r}: the form is [noise] [bn] act [noise], with at most one noise")
    return Block(pre[0] if pre else None, bn, post[0] if post else None)


def layout(name: str, blocks: list[str], head: bool = False, rate: float = 0.0) -> Layout:
    return Layout(name, tuple(parse_block(b) for b in blocks), head, rate)


class FastBatchNorm(MemberBatchNorm):
    """MemberBatchNorm over (M, B, C) with the batch statistics computed by hand: on CPU this is about 3× faster
    forward and backward than torch.var_mean over the middle dimension. Same running statistics."""

    def forward(self, x):
        if not self.training:
            return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps) * self.weight + self.bias
        mean = x.mean(1, keepdim=True)
        c = x - mean
        var = (c * c).mean(1, keepdim=True)
        with torch.no_grad():
            n = x.shape[1]
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (n / max(n - 1, 1)), self.momentum)
        return c * torch.rsqrt(var + self.eps) * self.weight + self.bias


def first_bn_after_noise(lay: Layout) -> int | None:
    """The ordinal (1-based, counting only BN layers) of the first BN layer downstream of any noise, or None
    when no BN layer sees noise (noise only after the last BN, or no noise at all)."""
    seen, ordinal = False, 0
    for b in lay.blocks:
        seen = seen or b.pre is not None
        if b.bn:
            ordinal += 1
            if seen:
                return ordinal
        seen = seen or b.post is not None
    return None


class LayoutMLP(nn.Module):
    def __init__(self, d_in: int, width: int, d_out: int, layouts: list[Layout], seeds: list[int],
                 noise_seed: int = 0):
        super().__init__()
        depths = {len(l.blocks) for l in layouts}
        if len(depths) != 1:
            raise ValueError(f"every layout needs the same depth, got {sorted(depths)}")
        self.depth, self.layouts, self.n_seeds = depths.pop(), list(layouts), len(seeds)
        m = len(layouts) * len(seeds)
        self.register_buffer("seeds", torch.tensor([s for _ in layouts for s in seeds], dtype=torch.int64))
        sizes = [d_in] + [width] * self.depth + [d_out]
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(m, a, b)) for a, b in zip(sizes[:-1], sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(m, 1, b)) for b in sizes[1:])
        self.bns = nn.ModuleList(FastBatchNorm(m, width) for _ in range(self.depth))

        def mask(f):  # (depth, M, 1, 1) bool: f(layout, block) per member
            return torch.tensor([[f(lay, b) for lay in layouts for _ in seeds] for b in range(self.depth)]
                                ).view(self.depth, m, 1, 1)

        self.register_buffer("bn_on", mask(lambda lay, b: lay.blocks[b].bn))
        self.register_buffer("pre_on", mask(lambda lay, b: lay.blocks[b].pre is not None))
        self.register_buffer("post_on", mask(lambda lay, b: lay.blocks[b].post is not None))
        self.register_buffer("head_on", torch.tensor([lay.head for lay in layouts for _ in seeds]).view(m, 1, 1))
        self.register_buffer("uout", torch.tensor([lay.noise_kind == "uout" for lay in layouts for _ in seeds]
                                                  ).view(m, 1, 1))
        rate = torch.tensor([lay.rate if lay.noise_kind else 0.0 for lay in layouts for _ in seeds]).view(m, 1, 1)
        self.register_buffer("rate", rate.float())
        self.register_buffer("bias_on", (~self.bn_on).float())  # an affine layer directly before BN has no bias
        flags = self.uout.flatten().tolist()
        self.first_uout = flags.index(True) if True in flags and all(flags[flags.index(True):]) else (
            m if True not in flags else None)
        self.gen = torch.Generator().manual_seed(int(noise_seed))
        with torch.no_grad():  # member k draws from its own seed's generator: same seed, same initial weights
            for k, seed in enumerate(self.seeds.tolist()):
                g = torch.Generator().manual_seed(int(seed))
                for w in self.weights:
                    d_a, d_b = w.shape[1:]
                    w[k].copy_(torch.randn(d_a, d_b, generator=g) * init_std("he", d_a, d_b))

    @property
    def members(self) -> int:
        return self.seeds.numel()

    def norms(self) -> list[MemberBatchNorm]:
        return list(self.bns)

    def index(self, name: str) -> slice:
        """The members of one layout."""
        i = [l.name for l in self.layouts].index(name)
        return slice(i * self.n_seeds, (i + 1) * self.n_seeds)

    def _noise(self, shape) -> torch.Tensor:
        """Multiplicative noise of mean 1 for every member: inverted-dropout masks, or Uout's 1 + U(−β, β)."""
        u = torch.rand(shape, generator=self.gen)
        if u.device != self.rate.device:
            u = u.to(self.rate.device)
        k = self.first_uout  # members [k:] are Uout when the Uout layouts come last (the cheap path)
        if k is None:
            keep = 1.0 - self.rate
            return torch.where(self.uout, 1.0 + (2.0 * u - 1.0) * self.rate, (u < keep).to(u.dtype) / keep)
        keep = 1.0 - self.rate[:k]
        out = torch.empty_like(u)
        torch.div((u[:k] < keep).to(u.dtype), keep, out=out[:k])
        out[k:] = (2.0 * u[k:] - 1.0) * self.rate[k:] + 1.0
        return out

    def forward(self, x, record: bool = False):
        """x (M, B, D) or shared (B, D). With record=True also returns {"bn_in": [z per block]} (BN's input for
        the members that have BN there, the affine output for the others)."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        rec = {"bn_in": []}
        h = x
        for l in range(self.depth):
            z = torch.baddbmm(self.biases[l] * self.bias_on[l], h, self.weights[l])
            noisy = self.training and bool(self.pre_on[l].any() or self.post_on[l].any())
            mult = self._noise(z.shape) if noisy else None
            if noisy:
                z = torch.where(self.pre_on[l], z * mult, z)
            if record:
                rec["bn_in"].append(z)
            z = torch.where(self.bn_on[l], self.bns[l](z), z)
            h = torch.relu(z)
            if noisy:
                h = torch.where(self.post_on[l], h * mult, h)
        if self.training and bool(self.head_on.any()):
            h = torch.where(self.head_on, h * self._noise(h.shape), h)
        out = torch.baddbmm(self.biases[-1], h, self.weights[-1])
        return (out, rec) if record else out


@torch.no_grad()
def layer_shift(model: LayoutMLP, x) -> dict[str, torch.Tensor]:
    """The variance shift of Li et al. (2019) at every block's BN, (M, depth); NaN where a member has no BN.
    train_var: BN's running variance (accumulated in train mode, noise on); eval_var: the variance of BN's input
    re-measured in eval mode (noise off) on x; shift = max(a/b, b/a). Both averaged over channels."""
    was = model.training
    model.eval()
    _, rec = model(x, record=True)
    model.train(was)
    eval_var = torch.stack([z.var(dim=1, correction=0).mean(-1) for z in rec["bn_in"]], 1)
    train_var = torch.stack([bn.member_running_var().mean(-1) for bn in model.bns], 1)
    ratio = train_var / eval_var
    on = model.bn_on.view(model.depth, -1).T
    nan = torch.full_like(ratio, float("nan"))
    return {"train_var": torch.where(on, train_var, nan), "eval_var": torch.where(on, eval_var, nan),
            "shift": torch.where(on, torch.maximum(ratio, 1 / ratio), nan)}


@torch.no_grad()
def mc_predict(model, x, passes: int) -> torch.Tensor:
    """MC dropout: the mean of `passes` softmax outputs with the noise on and BN in eval mode, (M, N, classes)."""
    was = model.training
    model.train()
    for bn in model.norms():
        bn.eval()
    probs = sum(torch.softmax(model(x), -1) for _ in range(passes)) / passes
    model.train(was)
    return probs


def nll(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood per member of predicted probabilities (M, N, C) for labels y (N,)."""
    p = probs.gather(-1, y.view(1, -1, 1).expand(probs.shape[0], -1, 1)).squeeze(-1)
    return -torch.log(p.clamp_min(1e-12)).mean(1)
