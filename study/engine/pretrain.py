"""Pretraining, probing and fine-tuning of member encoders (study.engine.transformer) on a corpus.

Every member has its own pretraining tasks and its own corpus size, so one batched run covers a whole grid of
conditions at equal compute: the same steps, the same batch, the same sequence length for all.
"""
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from study.data.corpus import Sentences, sample_pairs
from study.engine import rng
from study.engine.transformer import (
    MemberEncoder,
    features,
    loss_per_member,
    mask_tokens,
)

TASKS = ("mlm", "nsp", "sop", "unrelated")


def _schedule(steps: int):
    warm = max(1, steps // 10)
    return lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))


@dataclass
class Pretrained:
    rows: list  # (step, member, task, training loss)
    validation: list  # (step, member, loss): the early-stopping criterion on validation pairs
    best_step: list[int]  # per member, the step whose weights it keeps (`steps` without validation)


def _pair_kinds(has: dict, M: int, n: int) -> torch.Tensor:
    """(M, n) row kinds: 1 NSP, 2 sentence order, 0 neither; a member with both gives each half of its rows."""
    kind = torch.zeros(M, n, dtype=torch.long)
    kind[has["nsp"] & ~has["sop"]] = 1
    kind[has["sop"] & ~has["nsp"]] = 2
    kind[has["nsp"] & has["sop"]] = torch.where(torch.arange(n) >= n // 2, 2, 1)
    return kind


def _task_losses(model: MemberEncoder, b: dict, masked, target, has: dict, kind) -> dict:
    inputs = torch.where(has["mlm"].view(-1, 1, 1), masked, b["tokens"])
    h = model(inputs, b["segments"])
    return {"mlm": loss_per_member(model.head(h, "mlm"), target),
            "nsp": loss_per_member(model.head(h, "nsp", inputs, b["segments"]), torch.where(kind == 1, b["nsp"], -100)),
            "sop": loss_per_member(model.head(h, "sop", inputs, b["segments"]), torch.where(kind == 2, b["sop"], -100)),
            "unrelated": loss_per_member(model.head(h, "unrelated"), b["unrelated"])}


def pretrain(model: MemberEncoder, sents: Sentences, tasks: list[tuple[str, ...]], n_docs: list[int], steps: int,
             batch: int, lr: float, on_log: Callable[[int, dict], None] | None = None, log_every: int = 25,
             val: Sentences | None = None, val_every: int = 100, val_pairs: int = 256) -> Pretrained:
    """Adam with warm-up and linear decay. Member k trains on the sum of its tasks' losses: masked LM on the
    corrupted tokens; NSP on the rows built for it; sentence order on the rows built for it (a member with both
    NSP and SOP gives each half of its batch); the unrelated task predicts a random label fixed per document.

    With `val` (sentences of documents none of the members trains on), every `val_every` steps each member's
    loss on the same `val_pairs` validation pairs (its own tasks but the unrelated one, which only memorising can
    learn) is measured, and each member ends with the weights of its lowest validation loss: early stopping, so
    that a small corpus is judged at its best rather than after the budget has memorised it (Kaplan et al. 2020
    measure loss against data size the same way)."""
    M, L = model.members, model.spec.max_len
    seeds = torch.tensor(model.seeds)
    has = {t: torch.tensor([t in ts for ts in tasks]) for t in TASKS}
    kind = _pair_kinds(has, M, batch)
    nd = torch.tensor(n_docs)
    validate = _validator(model, val, has, val_pairs) if val is not None and val_every > 0 else None
    best = {n: v.detach().clone() for n, v in model.p.items()}
    best_loss, best_step, validation = torch.full((M,), math.inf), [steps] * M, []
    opt = torch.optim.Adam(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(steps))
    rows = []
    for step in range(steps):
        b = sample_pairs(sents, rng.uniform(seeds, 2 * step, (batch, 5)), nd, kind, L)
        masked, target = mask_tokens(b["tokens"], seeds, 2 * step + 1, model.spec.vocab)
        losses = _task_losses(model, b, masked, target, has, kind)
        total = sum(torch.where(has[t], losses[t], 0.0) for t in TASKS)
        opt.zero_grad(set_to_none=True)
        total.sum().backward()
        opt.step()
        sched.step()
        if validate and ((step + 1) % val_every == 0 or step + 1 == steps):
            loss = validate()
            validation += [{"step": step + 1, "member": k, "loss": float(loss[k])} for k in range(M)]
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_step = [step + 1 if better[k] else best_step[k] for k in range(M)]
            with torch.no_grad():
                for n, v in model.p.items():
                    best[n][better] = v.detach()[better]
        if (step + 1) % log_every == 0 or step + 1 == steps:
            for t in TASKS:
                for k in range(M):
                    if has[t][k]:
                        rows.append({"step": step + 1, "member": k, "task": t, "loss": float(losses[t][k].detach())})
            if on_log:
                on_log(step + 1, {t: float(losses[t][has[t]].detach().mean()) for t in TASKS if has[t].any()})
    if validate:
        with torch.no_grad():
            for n, v in model.p.items():
                v.copy_(best[n])
    return Pretrained(rows, validation, best_step)


def _validator(model: MemberEncoder, val: Sentences, has: dict, n: int, stream: int = 555_555) -> Callable:
    """A function giving each member's loss on the same `n` validation pairs and masks (its own tasks, the
    unrelated one left out)."""
    M, L = model.members, model.spec.max_len
    same = torch.full((M,), stream)
    kind = _pair_kinds(has, M, n)
    b = sample_pairs(val, rng.uniform(same, 0, (n, 5)), torch.full((M,), len(val.doc_n)), kind, L)
    masked, target = mask_tokens(b["tokens"], same, 1, model.spec.vocab)

    @torch.no_grad()
    def loss() -> torch.Tensor:
        losses = _task_losses(model, b, masked, target, has, kind)
        return sum(torch.where(has[t], losses[t], 0.0) for t in TASKS if t != "unrelated")
    return loss


@torch.no_grad()
def encode(model: MemberEncoder, tokens, segments, pos=None, chunk: int = 256, pair: bool = False) -> torch.Tensor:
    """Frozen features (M, N, F) of the same N inputs under every member (`pair`: with the pair features)."""
    model.eval()
    out = []
    for i in range(0, tokens.shape[0], chunk):
        t = tokens[i:i + chunk].expand(model.members, -1, -1)
        s = segments[i:i + chunk].expand(model.members, -1, -1)
        h = model(t, s)
        out.append(features(h, t, None if pos is None or not pos.any() else pos[i:i + chunk].expand(model.members, -1),
                            s if pair else None))
    return torch.cat(out, 1)


def ridge_probe(train: tuple, val: tuple, test: tuple, n_classes: int,
                lambdas=(1e-2, 1.0, 1e2)) -> torch.Tensor:
    """A linear probe in closed form, per member: ridge regression onto one-hot targets on standardised
    features, the ridge chosen on the validation part. Each part is (features (M, N, F), labels (N,)).
    Returns test accuracy (M,)."""
    (xtr, ytr), (xva, yva), (xte, yte) = train, val, test
    mu, sd = xtr.mean(1, keepdim=True), xtr.std(1, keepdim=True) + 1e-6
    prep = lambda x: torch.cat([(x - mu) / sd, torch.ones_like(x[..., :1])], -1).double()
    a, b, c = prep(xtr), prep(xva), prep(xte)
    y = torch.nn.functional.one_hot(ytr, n_classes).double().expand(a.shape[0], -1, -1)
    gram, rhs = a.transpose(1, 2) @ a, a.transpose(1, 2) @ y
    eye = torch.eye(gram.shape[-1], dtype=torch.float64)
    best_val = torch.full((a.shape[0],), -1.0, dtype=torch.float64)
    best_test = torch.zeros(a.shape[0], dtype=torch.float64)
    for lam in lambdas:
        w = torch.linalg.solve(gram + lam * eye, rhs)
        val_acc = ((b @ w).argmax(-1) == yva).double().mean(1)
        test_acc = ((c @ w).argmax(-1) == yte).double().mean(1)
        better = val_acc > best_val
        best_val, best_test = torch.where(better, val_acc, best_val), torch.where(better, test_acc, best_test)
    return best_test.float()


@torch.no_grad()
def heldout_heads(model: MemberEncoder, pretrain_sents: Sentences, heldout_sents: Sentences, n_docs: list[int],
                  tasks: list[tuple[str, ...]], n: int = 600, stream: int = 987_654) -> dict[str, torch.Tensor]:
    """What each member's pretraining heads do on pairs it never trained on: accuracy of next-sentence prediction
    and of sentence order, and the masked-LM loss, on `n` pairs from documents held out of pretraining (the same
    pairs for every member); for the unrelated task (a random label per document, which only memorising can
    learn) the accuracy on `n` pairs from the member's own pretraining documents. NaN where a member lacks the
    task. Returns task -> (M,)."""
    model.eval()
    M, L = model.members, model.spec.max_len
    same = torch.full((M,), stream)
    held_docs = torch.full((M,), len(heldout_sents.doc_n))
    out = {}
    for task, kind in (("nsp", 1), ("sop", 2)):
        b = sample_pairs(heldout_sents, rng.uniform(same, kind, (n, 5)), held_docs,
                         torch.full((M, n), kind, dtype=torch.long), L)
        logits = model.head(model(b["tokens"], b["segments"]), task, b["tokens"], b["segments"])
        out[task] = (logits.argmax(-1) == b[task]).float().mean(1)
    b = sample_pairs(heldout_sents, rng.uniform(same, 3, (n, 5)), held_docs, torch.zeros(M, n, dtype=torch.long), L)
    masked, target = mask_tokens(b["tokens"], same, 4, model.spec.vocab)
    out["mlm"] = loss_per_member(model.head(model(masked, b["segments"]), "mlm"), target)
    b = sample_pairs(pretrain_sents, rng.uniform(same, 5, (n, 5)), torch.tensor(n_docs),
                     torch.zeros(M, n, dtype=torch.long), L)
    out["unrelated"] = (model.head(model(b["tokens"], b["segments"]), "unrelated").argmax(-1)
                        == b["unrelated"]).float().mean(1)
    for task in out:
        has = torch.tensor([task in ts for ts in tasks])
        out[task] = torch.where(has, out[task], torch.nan)
    model.train()
    return out


def finetune(model: MemberEncoder, train: tuple, test: tuple, n_classes: int, steps: int, batch: int, lr: float,
             stream: int, pair: bool = False, checkpoints: list[int] | None = None) -> torch.Tensor:
    """Fine-tune a copy of every member with a fresh linear head on (tokens, segments, pos, labels); test accuracy
    (C, M) after each of the `checkpoints` steps (default: only the last). Minibatches are drawn from each
    member's own seed."""
    checkpoints = sorted(set(checkpoints or [steps]))
    model = copy.deepcopy(model).train()
    M = model.members
    seeds = torch.tensor(model.seeds)
    tok, seg, pos, y = train
    token_level = bool(pos.any())
    dim = model.spec.width * (1 if token_level else 4 if pair else 2)
    g = torch.Generator().manual_seed(stream)
    head = torch.nn.Parameter(torch.randn(M, dim, n_classes, generator=g) * 0.02)
    bias = torch.nn.Parameter(torch.zeros(M, 1, n_classes))
    opt = torch.optim.Adam([*model.parameters(), head, bias], lr)
    n, bs = tok.shape[0], min(batch, tok.shape[0])
    test_tok, test_seg, test_pos, test_y = test
    scores = []

    def score():
        f = encode(model, test_tok, test_seg, test_pos if token_level else None, pair=pair)
        model.train()
        with torch.no_grad():
            return ((torch.bmm(f, head) + bias).argmax(-1) == test_y).float().mean(1)

    if 0 in checkpoints:
        scores.append(score())
    for step in range(steps):
        idx = (rng.uniform(seeds, stream * 100_003 + step, (bs,)) * n).long().clamp(max=n - 1)
        h = model(tok[idx], seg[idx])
        f = features(h, tok[idx], pos[idx] if token_level else None, seg[idx] if pair else None)
        loss = loss_per_member(torch.bmm(f, head) + bias, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        if step + 1 in checkpoints:
            scores.append(score())
    return torch.stack(scores)


def cka_bootstrap(reps: dict, pairs: list[tuple], replicates: int, seed: int = 0) -> torch.Tensor:
    """Linear CKA of each pair of representations (keys of `reps`, each (N, F) on the same N inputs) on
    `replicates` resamples of the inputs, the same resample for every pair (so that differences between pairs
    have a joint bootstrap distribution). Returns (replicates, pairs); every value lies in [0, 1]."""
    n = next(iter(reps.values())).shape[0]
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(replicates, len(pairs), dtype=torch.float64)
    for r in range(replicates):
        idx = torch.randint(n, (n,), generator=g)
        cache = {}
        for j, (a, b) in enumerate(pairs):
            for k in (a, b):
                if k not in cache:
                    x = reps[k][idx].double()
                    x = x - x.mean(0)
                    cache[k] = (x, (x.T @ x).pow(2).sum().sqrt())
            (x, nx), (y, ny) = cache[a], cache[b]
            out[r, j] = (y.T @ x).pow(2).sum() / (nx * ny)
    return out


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear centred kernel alignment of two feature matrices (N, F1), (N, F2) of the same inputs (Kornblith et
    al. 2019): 1 for representations equal up to rotation and isotropic scaling, near 0 for unrelated ones."""
    x, y = (x - x.mean(0)).double(), (y - y.mean(0)).double()
    num = (y.T @ x).pow(2).sum()
    return float(num / ((x.T @ x).pow(2).sum().sqrt() * (y.T @ y).pow(2).sum().sqrt()))


def effective_rank(x: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of centred features (Roy & Vetterli 2007)."""
    s = torch.linalg.svdvals((x - x.mean(0)).double())
    p = s / s.sum()
    return float(math.exp(-(p * torch.log(p.clamp(min=1e-30))).sum()))
