"""A small BERT-style Transformer encoder with a member dimension, BERT's masking, and its pretraining heads.

Every parameter has a leading member axis M, so M independent encoders (seeds, pretraining conditions, corpus
sizes) train in one set of batched matrix products; attention just carries M as one more batch axis. Member k's
initial weights depend only on its seed and the spec, so the same seed starts from the same weights under every
pretraining condition (differences between conditions are paired by seed). Layers are pre-LN (LayerNorm before
attention and feed-forward, one more at the end), which trains faster in a few hundred steps than BERT's post-LN.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from study.data.corpus import MASK, N_SPECIAL, PAD
from study.engine import rng

HEADS = ("mlm", "nsp", "sop", "unrelated")
PAIR_HEADS = ("nsp", "sop")


@dataclass(frozen=True)
class EncoderSpec:
    vocab: int
    width: int = 32
    layers: int = 2
    heads: int = 4
    ffn: int = 64  # hidden units of each feed-forward block
    max_len: int = 24
    unrelated_classes: int = 8


def _shapes(s: EncoderSpec) -> dict[str, tuple]:
    d, f = s.width, s.ffn
    shapes = {"tok": (s.vocab, d), "pos": (s.max_len, d), "seg": (2, d), "ln0_g": (d,), "ln0_b": (d,)}
    for l in range(s.layers):
        shapes.update({f"l{l}_qkv": (d, 3 * d), f"l{l}_qkv_b": (3 * d,), f"l{l}_o": (d, d), f"l{l}_o_b": (d,),
                       f"l{l}_ln1_g": (d,), f"l{l}_ln1_b": (d,), f"l{l}_f1": (d, f), f"l{l}_f1_b": (f,),
                       f"l{l}_f2": (f, d), f"l{l}_f2_b": (d,), f"l{l}_ln2_g": (d,), f"l{l}_ln2_b": (d,)})
    shapes.update({"lnf_g": (d,), "lnf_b": (d,), "mlm": (d, s.vocab), "mlm_b": (s.vocab,), "pool": (d, d), "pool_b": (d,),
                   "nsp": (4 * d, 2), "nsp_b": (2,), "sop": (4 * d, 2), "sop_b": (2,),
                   "unrelated": (d, s.unrelated_classes), "unrelated_b": (s.unrelated_classes,)})
    return shapes


EMBEDDINGS = ("tok", "pos", "seg")


def _init(name: str, shape: tuple, g: torch.Generator) -> torch.Tensor:
    """Embeddings get BERT's scale 0.02 (they pass a LayerNorm, so only their ratio matters); a weight matrix gets
    1/sqrt(fan-in). BERT's 0.02 is about that for its width 768, but at width 32 it is 9 times too small: query and
    key then start near zero, every gradient through attention is a product of two tiny matrices, and next-sentence
    prediction sat at chance for 2000 steps (it leaves chance after about 1500 with this scale)."""
    if name.endswith("_g"):
        return torch.ones(shape)
    if name.endswith("_b"):
        return torch.zeros(shape)
    std = 0.02 if name in EMBEDDINGS else shape[0] ** -0.5
    return torch.randn(shape, generator=g) * std


class MemberEncoder(nn.Module):
    def __init__(self, spec: EncoderSpec, seeds: list[int]):
        super().__init__()
        self.spec, self.seeds = spec, list(seeds)
        per_member = []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            per_member.append({n: _init(n, sh, g) for n, sh in _shapes(spec).items()})
        self.p = nn.ParameterDict({n: nn.Parameter(torch.stack([m[n] for m in per_member]))
                                   for n in _shapes(spec)})

    def select(self, idx: list[int]) -> "MemberEncoder":
        """A new encoder holding copies of the members `idx`."""
        out = MemberEncoder.__new__(MemberEncoder)
        nn.Module.__init__(out)
        out.spec, out.seeds = self.spec, [self.seeds[i] for i in idx]
        out.p = nn.ParameterDict({n: nn.Parameter(v.detach()[idx].clone()) for n, v in self.p.items()})
        return out

    @property
    def members(self) -> int:
        return len(self.seeds)

    def _ln(self, x, name):
        d = self.spec.width
        shape = (self.members,) + (1,) * (x.dim() - 2) + (d,)
        return F.layer_norm(x, (d,)) * self.p[name + "_g"].view(shape) + self.p[name + "_b"].view(shape)

    def _lin(self, x, name):
        """x (M, ..., d_in) @ W (M, d_in, d_out) + b, as one batched matrix product."""
        w, b = self.p[name], self.p[name + "_b"]
        y = torch.bmm(x.reshape(self.members, -1, w.shape[1]), w) + b.unsqueeze(1)
        return y.view(*x.shape[:-1], w.shape[2])

    def forward(self, tokens: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
        """tokens, segments (M, N, L) -> hidden states (M, N, L, d)."""
        M, N, L = tokens.shape
        s, d = self.spec, self.spec.width
        m = torch.arange(M, device=tokens.device).view(M, 1, 1)
        x = self.p["tok"][m, tokens] + self.p["pos"][:, None, :L] + self.p["seg"][m, segments]
        x = self._ln(x, "ln0")
        h, dh = s.heads, d // s.heads
        # no attention to padding; written out rather than SDPA, whose mask checks cost more than the softmax here
        bias = torch.zeros(M * N, 1, 1, L, device=x.device).masked_fill(tokens.reshape(M * N, 1, 1, L) == PAD, -1e9)
        for l in range(s.layers):
            q, k, v = self._lin(self._ln(x, f"l{l}_ln1"), f"l{l}_qkv").view(M * N, L, 3, h, dh).permute(2, 0, 3, 1, 4)
            a = torch.softmax(q @ k.transpose(-1, -2) * dh**-0.5 + bias, -1) @ v
            x = x + self._lin(a.transpose(1, 2).reshape(M, N, L, d), f"l{l}_o")
            x = x + self._lin(F.gelu(self._lin(self._ln(x, f"l{l}_ln2"), f"l{l}_f1")), f"l{l}_f2")
        return self._ln(x, "lnf")

    def head(self, hidden: torch.Tensor, name: str, tokens: torch.Tensor | None = None,
             segments: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of a pretraining head: MLM on every position; the pair tasks (NSP, sentence order) on the pooled
        pair ([CLS], the two sentences' means u and v, and u * v: `pair_pool`); the unrelated task on the pooled
        [CLS] state. A head on [CLS] alone left NSP at chance (loss ln 2) for 1000 steps at width 32: the
        encoder must first learn to compare the two segments inside attention, while u * v lets a linear head
        read "do A and B share a topic or a word" as soon as each sentence's mean carries it."""
        if name == "mlm":
            return self._lin(hidden, "mlm")
        if name in PAIR_HEADS:
            return self._lin(pair_pool(hidden, tokens, segments), name)
        pooled = torch.tanh(self._lin(hidden[:, :, 0], "pool"))
        return self._lin(pooled, name)


def features(hidden: torch.Tensor, tokens: torch.Tensor, pos: torch.Tensor | None = None,
             segments: torch.Tensor | None = None) -> torch.Tensor:
    """What a probe sees: the state at `pos` (token-level tasks), else [CLS] beside the mean over real tokens.
    With `segments` (pair tasks) also |u - v| and u * v of the means u, v over the two sentences, as in
    Sentence-BERT: "do A and B share X" is an XOR of what A and B say, which no linear probe can read from the
    mean over both sentences; from u * v it is a sum, so the probe can find it if the encoder encodes X per sentence."""
    if pos is not None:
        idx = pos.view(*pos.shape, 1, 1).expand(*pos.shape, 1, hidden.shape[-1])
        return hidden.gather(2, idx).squeeze(2)
    real = (tokens != PAD).unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * real).sum(2) / real.sum(2).clamp(min=1)
    out = [hidden[:, :, 0], mean]
    if segments is not None:
        b = real * segments.unsqueeze(-1).to(hidden.dtype)
        a = real - b
        a[:, :, 0] = 0  # [CLS] is not part of sentence A
        u = (hidden * a).sum(2) / a.sum(2).clamp(min=1)
        v = (hidden * b).sum(2) / b.sum(2).clamp(min=1)
        out += [(u - v).abs(), u * v]
    return torch.cat(out, -1)


def pair_pool(hidden: torch.Tensor, tokens: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """(M, N, L, d) -> (M, N, 4d): [CLS], the mean u over sentence A, the mean v over sentence B, and u * v. Unlike
    |u - v| in `features`, u and v keep the order of the two sentences (which the sentence-order task asks)."""
    real = (tokens != PAD).unsqueeze(-1).to(hidden.dtype)
    b = real * segments.unsqueeze(-1).to(hidden.dtype)
    a = real - b
    a[:, :, 0] = 0
    u = (hidden * a).sum(2) / a.sum(2).clamp(min=1)
    v = (hidden * b).sum(2) / b.sum(2).clamp(min=1)
    return torch.cat([hidden[:, :, 0], u, v, u * v], -1)


def mask_tokens(tokens: torch.Tensor, seeds: torch.Tensor, stream: int, vocab: int, rate: float = 0.15):
    """BERT's masked-LM corruption of tokens (M, N, L): each non-special token is chosen with probability `rate`;
    a chosen token becomes [MASK] 80% of the time, a random word 10%, stays itself 10%. The draws come from each
    member's own seed. Returns (inputs, targets) with targets -100 where nothing is predicted."""
    u = rng.uniform(seeds, stream, (*tokens.shape[1:], 3))
    chosen = (u[..., 0] < rate) & (tokens >= N_SPECIAL)
    word = N_SPECIAL + (u[..., 2] * (vocab - N_SPECIAL)).long().clamp(max=vocab - N_SPECIAL - 1)
    inputs = torch.where(chosen & (u[..., 1] < 0.8), torch.full_like(tokens, MASK), tokens)
    inputs = torch.where(chosen & (u[..., 1] >= 0.8) & (u[..., 1] < 0.9), word, inputs)
    return inputs, torch.where(chosen, tokens, torch.full_like(tokens, -100))


def flops_per_sequence(s: EncoderSpec, L: int, heads: tuple[str, ...] = HEADS, train: bool = True) -> float:
    """Floating-point operations for one sequence of L tokens, counted from the shapes (2 per multiply-add);
    a training step costs about three forward passes (forward, and twice that backward)."""
    d, f = s.width, s.ffn
    per_layer = L * (3 * d * d + d * d + 2 * d * f) + 2 * L * L * d  # projections, feed-forward, QK^T and AV
    macs = s.layers * per_layer
    if "mlm" in heads:
        macs += L * d * s.vocab
    cls = [h for h in heads if h != "mlm"]
    if cls:
        macs += d * d + sum({"nsp": 8, "sop": 8, "unrelated": s.unrelated_classes}[h] * d for h in cls)
    return 2.0 * macs * (3 if train else 1)


def loss_per_member(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per member over the positions whose target is not -100; logits (M, ..., C)."""
    M, C = logits.shape[0], logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, C), targets.reshape(-1), ignore_index=-100, reduction="none")
    ce, valid = ce.view(M, -1), (targets.reshape(M, -1) != -100)
    return ce.sum(1) / valid.sum(1).clamp(min=1)


def _param_count(s: EncoderSpec) -> int:
    return sum(math.prod(sh) for sh in _shapes(s).values())
