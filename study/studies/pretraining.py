"""Pretraining on one task or several (§27.2, §27.3.2) and the chapter's discussion questions Q1 and Q2 (§27.3.3).

A small BERT-style encoder is pretrained at equal compute (same steps × batch × sequence length) under each
condition: none, masked LM only, next-sentence prediction only, MLM + NSP (BERT), MLM + NSP + sentence order,
and MLM + a task unrelated to the text (a random label per document). Every pretrained model is then scored on
four downstream tasks, one per level (token, sentence, pair, document), by a ridge probe on frozen features and by
fine-tuning with few labels (scored at several step counts, so that convergence can be seen).

Manipulation checks first: each auxiliary head is scored on pairs it never trained on (NSP and sentence order
on held-out documents; the unrelated label, which only memorising can learn, on the member's own documents),
and the masked-LM loss on held-out documents. A claim about "two tasks" is not testable while the second task
stays at chance. Q1 ("what is general?") is answered with the mean and worst score over the tasks, on how many
tasks a condition is within the interval of the best, and the similarity (linear CKA, with a bootstrap interval
over the test inputs, bounded in [0, 1]) of the representations. Q2 ("more data, more tasks: always better?")
with a grid of corpus size × task set × width: gain per doubling, held-out MLM loss per corpus size, Holm-corrected
negative transfer over every "one more task" comparison, and the FLOPs and seconds of each point.

All members of one width train as one batched model (study.engine.transformer); the corpus is generated with a
known structure (study.data.corpus) or read from a text file. No words here: the report's are in
templates/studies/pretraining.*.j2.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Claim,
    Part,
    above,
    any_above,
    below,
    check,
    exact,
    missing,
    record,
    verdict,
)
from study.data import corpus as corpora
from study.data import downstream
from study.engine import device as devices
from study.engine.pretrain import (
    cka_bootstrap,
    effective_rank,
    encode,
    finetune,
    heldout_heads,
    linear_cka,
    pretrain,
    ridge_probe,
)
from study.engine.stats import Estimate, estimate
from study.engine.transformer import EncoderSpec, MemberEncoder, flops_per_sequence
from study.params import param

NAME = "pretraining"
ORDER = 70
SECTIONS = "§27.2, §27.3.2, §27.3.3"
EXPECTED_SECONDS = 260  # quick profile, 1 thread, unloaded: 263 s through papermill (batch 32, early stopping)

CONDITIONS = {"none": (), "mlm": ("mlm",), "nsp": ("nsp",), "mlm_nsp": ("mlm", "nsp"),
              "mlm_nsp_sop": ("mlm", "nsp", "sop"), "mlm_unrel": ("mlm", "unrelated")}
SINGLE = ("mlm", "nsp")
NESTED = (("mlm", "mlm_nsp"), ("mlm_nsp", "mlm_nsp_sop"), ("mlm", "mlm_unrel"))  # "one more task" comparisons
ADDED = {"mlm_nsp": "nsp", "mlm_nsp_sop": "sop", "mlm_unrel": "unrelated"}  # the task each nested step adds
AUX_CHANCE = {"nsp": 0.5, "sop": 0.5, "unrelated": 1 / 8}
CKA_REPLICATES = 200


@dataclass
class Params:
    seeds: int = param(3, min=1, max=50)
    width: int = param(32, min=8, max=512, help="model width of the Q1 conditions (divisible by heads)")
    widths: list[int] = param([16, 32], min=8, max=512, help="widths of the Q2 grid; must include `width`")
    widths_at: str = param("largest", choices=["largest", "all"],
                           help="other widths at the largest corpus only, or at every corpus size")
    layers: int = param(2, min=1, max=12)
    heads: int = param(4, min=1, max=16)
    max_len: int = param(24, min=16, max=64, help="tokens per sequence, [CLS] and [SEP] included")
    conditions: list[str] = param(list(CONDITIONS), choices=list(CONDITIONS), help="Q1 conditions")
    task_sets: list[str] = param(["mlm", "mlm_nsp", "mlm_nsp_sop", "mlm_unrel"],
                                 choices=[c for c in CONDITIONS if c != "none"], help="Q2 task sets")
    corpus_docs: list[int] = param([100, 400, 1600], min=2, max=100_000,
                                   help="pretraining corpus sizes in documents (Q1 uses the largest)")
    steps: int = param(400, min=1, max=100_000, help="pretraining steps, the same for every condition")
    batch_size: int = param(16, min=2, max=1024)
    val_every: int = param(100, min=0, max=100_000,
                           help="steps between validation losses; each member keeps its best (0: no early stopping)")
    lr: float = param(5e-3, gt=0, max=1)
    probe_train: int = param(100, min=4, max=5000, help="probe training examples per class")
    probe_val: int = param(50, min=2, max=5000)
    test: int = param(100, min=10, max=10000, help="test examples per class")
    labels: list[int] = param([20, 100], min=1, max=5000, help="fine-tuning labels per class")
    ft_steps: int = param(30, min=0, max=10000, help="fine-tuning steps (0: probes only)")
    ft_evals: int = param(3, min=1, max=20, help="fine-tuning is scored after this many evenly spaced step counts")
    ft_batch: int = param(16, min=1, max=1024)
    ft_lr: float = param(1e-3, gt=0, max=1)
    heldout_pairs: int = param(600, min=10, max=100_000, help="held-out pairs each pretraining head is scored on")
    topics: int = param(4, min=2, max=20)
    topic_strength: float = param(0.8, min=0.0, max=1.0, help="chance a content word comes from the topic")
    corpus: str = param("", help="a UTF-8 text file to pretrain on instead of the generated corpus")
    tokenise: str = param("whitespace", choices=list(corpora.TOKENISERS))
    vocab_size: int = param(200, min=10, max=5000, help="vocabulary kept from a text file")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.width not in p.widths:
        raise ValueError(f"width {p.width} must be one of widths {p.widths}")
    for w in p.widths:
        if w % p.heads:
            raise ValueError(f"width {w} is not divisible by heads {p.heads}")
    if sorted(set(p.corpus_docs)) != p.corpus_docs:
        raise ValueError(f"corpus_docs {p.corpus_docs} must be increasing without repeats")
    if max(p.labels) > p.probe_train:
        raise ValueError(f"labels {p.labels} exceed probe_train {p.probe_train} (fine-tuning draws from it)")
    if p.corpus:
        load_corpus(p)  # a missing, empty, non-UTF-8 or too short file fails here, before anything runs


def load_corpus(p: Params) -> tuple[corpora.Corpus, corpora.Corpus]:
    """(pretraining corpus, corpus the downstream tasks are drawn from)."""
    if p.corpus:
        c = corpora.read_corpus(p.corpus, p.tokenise, p.vocab_size, (p.max_len - 3) // 2)
        return c, c
    k = p.probe_train + p.probe_val + p.test
    return (corpora.generate(max(p.corpus_docs), p.data_seed, p.topics, p.topic_strength),
            corpora.generate(int(1.5 * k * p.topics) + 50, p.data_seed + 1000, p.topics, p.topic_strength))


def validation_corpus(p: Params) -> corpora.Corpus:
    """Documents for early stopping, generated apart from the pretraining corpus and from the documents the
    held-out checks and downstream tasks use; a text file has no documents to spare, so it is its own."""
    if p.corpus:
        return load_corpus(p)[0]
    return corpora.generate(200, p.data_seed + 2000, p.topics, p.topic_strength)


# --- run --------------------------------------------------------------------------------------------------------

def plan(p: Params, n_docs_available: int) -> dict[int, list[tuple[str, int, int]]]:
    """width -> members (condition, corpus size, seed). Q1 at the main width and largest corpus; Q2's task sets
    at every size (main width) and at the other widths."""
    sizes = sorted({min(s, n_docs_available) for s in p.corpus_docs})
    big = sizes[-1]
    out = {}
    for w in p.widths:
        points = []
        if w == p.width:
            points += [(c, big) for c in p.conditions if c != "none"]
        for s in sizes if (w == p.width or p.widths_at == "all") else [big]:
            points += [(c, s) for c in p.task_sets if (c, s) not in points]
        out[w] = [(c, s, seed) for c, s in points for seed in range(p.seeds)]
    return out


def _member_key(width: int, member: tuple) -> dict:
    """The columns that name one member of a batched model in every table: (condition, corpus size, seed)."""
    condition, docs, seed = member
    return {"width": width, "condition": condition, "corpus_docs": docs, "seed": seed}


def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    # the encoders and their data stay on the CPU (CUDA is not implemented for this study); `device` sets threads
    devices.configure("cpu", threads)
    pre_corpus, eval_corpus = load_corpus(p)
    sents = corpora.to_tensors(pre_corpus, seed=p.data_seed)
    held_sents = corpora.to_tensors(eval_corpus, seed=p.data_seed)
    val_sents = corpora.to_tensors(validation_corpus(p), seed=p.data_seed) if p.val_every else None
    tasks = downstream.suite(eval_corpus, p.max_len, p.probe_train, p.probe_val, p.test, p.data_seed)
    grid = plan(p, len(pre_corpus.docs))
    big = max(s for members in grid.values() for _, s, _ in members)
    checkpoints = sorted({max(1, round(p.ft_steps * (i + 1) / p.ft_evals)) for i in range(p.ft_evals)})
    probe, ft, loss_rows, val_rows, cost, aux, reps = [], [], [], [], [], [], {}
    jobs = len(grid) + 1
    for j, (w, members) in enumerate(list(grid.items()) + [(p.width, None)], 1):
        t0 = time.perf_counter()
        spec = EncoderSpec(len(pre_corpus.vocab), w, p.layers, p.heads, 2 * w, p.max_len)
        if members is None:  # no pretraining: the same initial weights the pretrained members started from
            members = [("none", 0, s) for s in range(p.seeds)] if "none" in p.conditions else []
            if not members:
                continue
            model = MemberEncoder(spec, [s for *_, s in members])
            stopped = [0] * len(members)
        else:
            model = MemberEncoder(spec, [s for *_, s in members])
            done = pretrain(model, sents, [CONDITIONS[c] for c, _, _ in members], [s for _, s, _ in members],
                            p.steps, p.batch_size, p.lr,
                            on_log=lambda step, l: log.metrics({f"pretrain_loss/{t}-w{w}": v for t, v in l.items()},
                                                               step=step),
                            val=val_sents, val_every=p.val_every)
            loss_rows += [{**r, **_member_key(w, members[r["member"]])} for r in done.rows]
            val_rows += [{**r, **_member_key(w, members[r["member"]])} for r in done.validation]
            stopped = done.best_step
        pre_seconds = time.perf_counter() - t0
        heads = [CONDITIONS[c] for c, _, _ in members]
        scored = heldout_heads(model, sents, held_sents, [max(s, 2) for _, s, _ in members], heads, p.heldout_pairs)
        aux += [{**_member_key(w, members[k]), "task": task, "value": float(v[k]),
                 "chance": AUX_CHANCE.get(task, math.log(len(pre_corpus.vocab)))}
                for task, v in scored.items() for k in range(len(members)) if math.isfinite(float(v[k]))]
        for k, (c, s, seed) in enumerate(members):
            h = CONDITIONS[c]
            cost.append({"width": w, "condition": c, "corpus_docs": s, "seed": seed,
                         "flops": p.steps * p.batch_size * flops_per_sequence(spec, p.max_len, h) if h else 0.0,
                         "seconds": pre_seconds / len(members) if h else 0.0, "best_step": stopped[k]})
        for name, task in tasks.items():
            pair = task.level == "pair"
            parts = [(encode(model, *task.take(part)[:3], pair=pair), task.take(part)[3])
                     for part in ("train", "val", "test")]
            acc = ridge_probe(*parts, task.n_classes)
            probe += [{**_member_key(w, members[k]), "task": name, "acc": float(acc[k]), "chance": 1 / task.n_classes}
                      for k in range(len(members))]
        q1 = [k for k, (c, s, _) in enumerate(members) if w == p.width and (s == big or c == "none")
              and c in p.conditions]
        if q1:
            sub = model.select(q1)
            probe_set = tasks[list(tasks)[-1]].take("test")
            feats = encode(sub, *probe_set[:3])
            for i, k in enumerate(q1):
                reps[(members[k][0], members[k][2])] = feats[i]
            if p.ft_steps:
                for t_i, (name, task) in enumerate(tasks.items()):
                    for n in p.labels:
                        acc = finetune(sub, task.take("train", n), task.take("test"), task.n_classes, p.ft_steps,
                                       p.ft_batch, p.ft_lr, stream=1000 * t_i + n, pair=task.level == "pair",
                                       checkpoints=checkpoints)
                        ft += [{**_member_key(w, members[k]), "task": name, "labels": n, "steps": st,
                                "acc": float(acc[c_i, i]), "chance": 1 / task.n_classes}
                               for c_i, st in enumerate(checkpoints) for i, k in enumerate(q1)]
        done = pd.DataFrame([r for r in probe if r["width"] == w])
        progress(f"[{NAME}] {j}/{jobs} width {w}: {len(members)} members in {time.perf_counter() - t0:.1f}s "
                 f"(pretraining {pre_seconds:.1f}s), mean probe acc {done['acc'].mean():.3f}")
    tables = {"probe": pd.DataFrame(probe), "finetune": pd.DataFrame(ft), "pretrain_loss": pd.DataFrame(loss_rows),
              "validation": pd.DataFrame(val_rows),
              "cost": pd.DataFrame(cost), "aux": pd.DataFrame(aux), **representation_tables(reps),
              "tasks": task_table(tasks)}
    q = tables["aux"]
    record(log, tables, CLAIMS, started,
           {f"heldout_{k}/{c}": float(g["value"].mean()) for (k, c), g in q.groupby(["task", "condition"])})
    return tables


def task_table(tasks) -> pd.DataFrame:
    return pd.DataFrame([{"task": n, "level": t.level, "classes": t.n_classes} for n, t in tasks.items()])


def representation_tables(reps: dict) -> dict[str, pd.DataFrame]:
    """Linear CKA between every two Q1 models (same inputs), with its bootstrap replicates over the inputs (the
    same resample for every pair), and each model's effective rank."""
    keys = list(reps)
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    cka = [{"condition_a": a[0], "seed_a": a[1], "condition_b": b[0], "seed_b": b[1],
            "cka": linear_cka(reps[a], reps[b])} for a, b in pairs]
    boot = cka_bootstrap(reps, pairs, CKA_REPLICATES) if pairs else torch.empty(0, 0)
    rows = [{"condition_a": a[0], "seed_a": a[1], "condition_b": b[0], "seed_b": b[1], "replicate": r,
             "cka": float(boot[r, j])} for j, (a, b) in enumerate(pairs) for r in range(boot.shape[0])]
    rank = [{"condition": c, "seed": s, "effective_rank": effective_rank(x), "dims": x.shape[-1]}
            for (c, s), x in reps.items()]
    return {"cka": pd.DataFrame(cka), "cka_boot": pd.DataFrame(rows), "rank": pd.DataFrame(rank)}


# --- measures shared by claims, report and the chapter questions ------------------------------------------------

def skill(df: pd.DataFrame) -> pd.Series:
    """Accuracy rescaled so that chance is 0 and perfect is 1: tasks with 2 and 4 classes become comparable."""
    return (df["acc"] - df["chance"]) / (1 - df["chance"])


def q1_probe(t) -> pd.DataFrame:
    pr = t["probe"]
    if pr.empty:
        return pr
    w = _main_width(t)
    big = pr[pr["condition"] != "none"]["corpus_docs"].max()
    q = pr[(pr["width"] == w) & ((pr["corpus_docs"] == big) | (pr["condition"] == "none"))]
    return q.assign(skill=skill(q))


def _main_width(t) -> int:
    pr = t["probe"]
    none = pr[pr["condition"] == "none"]
    if not none.empty:
        return int(none["width"].iloc[0])
    return int(pr.groupby("width")["condition"].nunique().idxmax())


def per_seed(q: pd.DataFrame) -> pd.DataFrame:
    """Per (condition, seed): mean and worst skill over the tasks."""
    g = q.groupby(["condition", "seed"])["skill"]
    return pd.DataFrame({"mean": g.mean(), "worst": g.min()}).reset_index()


def paired(q: pd.DataFrame, a: str, b: str, col: str) -> Estimate:
    """Condition a minus condition b in column `col`, paired by seed."""
    x = q[q["condition"] == a].set_index("seed")[col]
    y = q[q["condition"] == b].set_index("seed")[col]
    return estimate((x - y).dropna().to_numpy())


def within_best(q: pd.DataFrame) -> pd.DataFrame:
    """For each task, which conditions are within the interval of the best (paired by seed: the 95% interval of
    their difference to the best reaches 0; with fewer than two seeds every condition counts as within)."""
    rows = []
    for task, g in q.groupby("task"):
        means = g.groupby("condition")["skill"].mean()
        best = means.idxmax()
        for c in means.index:
            e = paired(g, c, best, "skill") if c != best else Estimate(0.0, 0.0, 0.0)
            rows.append({"task": task, "condition": c, "best": best, "diff": e.mean,
                         "within": bool(c == best or not math.isfinite(e.hi) or e.hi >= 0)})
    return pd.DataFrame(rows)


def generality(t) -> pd.DataFrame:
    """One row per Q1 condition: mean and worst skill over the tasks (means over seeds), tasks within the best."""
    q = q1_probe(t)
    if q.empty:
        return pd.DataFrame()
    s, wb = per_seed(q), within_best(q)
    rows = []
    for c in [c for c in CONDITIONS if c in set(q["condition"])]:
        m, w = s[s["condition"] == c], wb[wb["condition"] == c]
        by_task = q[q["condition"] == c].groupby("task")["skill"].mean()
        rows.append({"condition": c, "mean": float(m["mean"].mean()), "worst": float(m["worst"].mean()),
                     "within_best": int(w["within"].sum()), "tasks": len(w),
                     "best_task": by_task.idxmax(), "worst_task": by_task.idxmin()})
    return pd.DataFrame(rows)


def _pairs(c: pd.DataFrame, a: str, b: str) -> pd.Series:
    """Rows of a CKA table between conditions a and b: the same seed for a != b, different seeds for a == b."""
    if c.empty:
        return pd.Series(dtype=bool)
    if a == b:
        return (c["condition_a"] == a) & (c["condition_b"] == a) & (c["seed_a"] != c["seed_b"])
    return (((c["condition_a"] == a) & (c["condition_b"] == b)) | ((c["condition_a"] == b) & (c["condition_b"] == a))) \
        & (c["seed_a"] == c["seed_b"])


def cka_between(t, a: str, b: str) -> np.ndarray:
    """Per-seed CKA between conditions a and b (same seed); for a == b, between different seeds."""
    c = t.get("cka", pd.DataFrame())
    return c[_pairs(c, a, b)].sort_values("seed_a")["cka"].to_numpy() if not c.empty else np.array([])


def bootstrap_estimate(point: float, replicates: np.ndarray) -> Estimate:
    """A point value with the 2.5–97.5 percentile interval of its bootstrap replicates (kind "bootstrap")."""
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if len(r) < 2 or not math.isfinite(point):
        return Estimate(point, math.nan, math.nan, math.nan, len(r), "bootstrap")
    return Estimate(float(point), float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5)),
                    float(r.std(ddof=1)), len(r), "bootstrap")


def cka_estimate(t, a: str, b: str, minus: tuple[str, str] | None = None) -> Estimate:
    """Mean CKA between a and b (over seeds, or seed pairs for a == b), minus the mean CKA of `minus` if given,
    with a bootstrap interval over the test inputs (every pair resampled alike). A single CKA lies in [0, 1],
    and so does its interval."""
    c, boot = t.get("cka", pd.DataFrame()), t.get("cka_boot", pd.DataFrame())
    if c.empty or boot.empty or not _pairs(c, a, b).any():
        return Estimate(math.nan, math.nan, math.nan)

    def stat2(df, x, y):
        sel = df[_pairs(df, x, y)]
        return sel.groupby("replicate")["cka"].mean() if "replicate" in df else sel["cka"].mean()

    point, reps = stat2(c, a, b), stat2(boot, a, b)
    if minus:
        if not _pairs(c, *minus).any():
            return Estimate(math.nan, math.nan, math.nan)
        point, reps = point - stat2(c, *minus), reps - stat2(boot, *minus)
    return bootstrap_estimate(float(point), reps.to_numpy())


def aux_values(t, task: str, condition: str, width: int | None = None, docs: int | None = None) -> pd.Series:
    """Held-out score of one pretraining head per seed (accuracy; for "mlm" the held-out loss)."""
    a = t.get("aux", pd.DataFrame())
    if a.empty:
        return pd.Series(dtype=float)
    sel = (a["task"] == task) & (a["condition"] == condition)
    if width is not None:
        sel &= a["width"] == width
    if docs is not None:
        sel &= a["corpus_docs"] == docs
    return a[sel].set_index("seed")["value"]


def aux_chance(t, task: str) -> float:
    a = t["aux"]
    return float(a[a["task"] == task]["chance"].iloc[0])


def _big(t) -> int:
    pr = t["probe"]
    return int(pr[pr["condition"] != "none"]["corpus_docs"].max())


def aux_checks(t, conditions, width=None, docs=None) -> list:
    """The manipulation checks of a comparison between `conditions`: every auxiliary head they train (NSP,
    sentence order, the unrelated label) beats chance by AUX_MARGIN on pairs it did not train on, and every
    masked-LM head ends below MLM_LOSS_SHARE of the loss of guessing uniformly (ln of the vocabulary)."""
    width = _main_width(t) if width is None else width
    docs = _big(t) if docs is None else docs
    out = []
    for c in conditions:
        for task in CONDITIONS[c]:
            v = aux_values(t, task, c, width, docs)
            if task == "mlm":
                out.append(check("mlm_learns", float(v.mean()), "<", MLM_LOSS_SHARE * aux_chance(t, "mlm"),
                                 f"{c}-w{width}-d{docs}"))
            else:
                out.append(check(f"{task}_learns", float(v.mean()), ">", AUX_CHANCE[task] + AUX_MARGIN,
                                 f"{c}-w{width}-d{docs}"))
    return out


def q2_points(t) -> pd.DataFrame:
    """Mean skill over tasks per (width, task set, corpus size, seed), with its cost."""
    pr = t["probe"]
    pr = pr[pr["condition"] != "none"]
    pr = pr.assign(skill=skill(pr))
    g = pr.groupby(["width", "condition", "corpus_docs", "seed"])["skill"].mean().rename("skill").reset_index()
    return g.merge(t["cost"], on=["width", "condition", "corpus_docs", "seed"], how="left")


def doubling_gains(t) -> pd.DataFrame:
    """Gain in mean skill per doubling of the corpus between successive sizes, per width, task set and seed."""
    pts = q2_points(t)
    rows = []
    for (w, c), g in pts.groupby(["width", "condition"]):
        sizes = sorted(set(g["corpus_docs"]))
        for a, b in zip(sizes, sizes[1:]):
            x = g[g["corpus_docs"] == a].set_index("seed")["skill"]
            y = g[g["corpus_docs"] == b].set_index("seed")["skill"]
            for seed, v in ((y - x) / math.log2(b / a)).dropna().items():
                rows.append({"width": w, "condition": c, "from_docs": a, "to_docs": b, "seed": seed, "gain": v})
    return pd.DataFrame(rows)


def mlm_by_size(t) -> pd.DataFrame:
    """Per (width, task set with MLM, corpus size, seed): the held-out masked-LM loss, the training loss over
    the last tenth of the steps (their gap shows how much of a small corpus was memorised) and the step whose
    weights the member kept (early stopping)."""
    a, loss = t.get("aux", pd.DataFrame()), t.get("pretrain_loss", pd.DataFrame())
    if a.empty or loss.empty:
        return pd.DataFrame()
    held = a[a["task"] == "mlm"].rename(columns={"value": "heldout"})
    last = loss[(loss["task"] == "mlm") & (loss["step"] > 0.9 * loss["step"].max())]
    train = last.groupby(["width", "condition", "corpus_docs", "seed"])["loss"].mean().rename("train").reset_index()
    keys = ["width", "condition", "corpus_docs", "seed"]
    out = held.merge(train, on=keys)
    cost = t.get("cost", pd.DataFrame())
    if "best_step" in cost:  # runs logged before early stopping have no such column
        out = out.merge(cost[keys + ["best_step"]], on=keys, how="left")
    else:
        out = out.assign(best_step=math.nan)
    return out[keys + ["heldout", "train", "best_step"]]


def negative_transfer(t) -> pd.DataFrame:
    """Every (width, corpus size, downstream task, one more task): the accuracy change, paired by seed, and
    whether the added task's head learned (its manipulation check at that width and corpus size)."""
    pr = t["probe"]
    rows = []
    for (w, s, task), g in pr[pr["condition"] != "none"].groupby(["width", "corpus_docs", "task"]):
        for a, b in NESTED:
            if {a, b} <= set(g["condition"]):
                e = paired(g, b, a, "acc")
                learned = all(c.passed for c in aux_checks(t, [b], w, s) if c.name == f"{ADDED[b]}_learns")
                rows.append({"width": w, "corpus_docs": s, "task": task, "from": a, "to": b, "diff": e.mean,
                             "lo": e.lo, "hi": e.hi, "sd": e.sd, "n": e.n, "added_learned": learned})
    return pd.DataFrame(rows)


# --- claims -----------------------------------------------------------------------------------------------------

AUX_MARGIN = 0.10  # an auxiliary head must beat chance by 10 points on held-out pairs, or its task was not learned
MLM_LOSS_SHARE = 0.75  # the held-out MLM loss must end below 3/4 of ln(vocabulary), the loss of guessing uniformly
WIDTH_MARGIN = 0.05  # C15a: a narrower model is "enough" if it loses less than 5 skill points (interval)
CKA_SAME = 0.9  # C15b: seeds whose representations have CKA below this found different solutions (bootstrap)
SPREAD_SMALL = 0.03  # C15b: ... while their mean skill's standard deviation over seeds stays below this
BREADTH_MIN = 0  # C16: MLM+NSP within the best on at least as many tasks as any other condition (difference >= 0)
GAIN_MIN = 0.0  # C17: "gets better": every gain per doubling above 0, and no drop from adding a task (Holm)


def decide_c14(t):
    q = q1_probe(t)
    have = set(q["condition"]) if not q.empty else set()
    singles = [c for c in SINGLE if c in have]
    if "mlm_nsp" not in have or not singles or t.get("aux", pd.DataFrame()).empty:
        return missing("C14", "MLM+NSP and a single-task condition")
    s = per_seed(q)
    rival = max(singles, key=lambda c: s[s["condition"] == c]["mean"].mean())
    checks = aux_checks(t, ["mlm_nsp", *singles])
    parts = [above("mean", paired(s, "mlm_nsp", rival, "mean"), 0.0, "signed"),
             above("worst", paired(s, "mlm_nsp", rival, "worst"), 0.0, "signed")]
    return verdict("C14", parts, checks, {"rival": rival})


def decide_c15a(t):
    pts = q2_points(t)
    if pts.empty:
        return missing("C15a", "a narrower width")
    w = _main_width(t)
    narrow = sorted(x for x in set(pts["width"]) if x < w)
    cond = next((c for c in ("mlm", "mlm_nsp") if c in set(pts["condition"])), None)
    if not narrow or cond is None:
        return missing("C15a", "a narrower width")
    big = int(pts["corpus_docs"].max())
    at = pts[(pts["corpus_docs"] == big) & (pts["condition"] == cond)]
    x = at[at["width"] == narrow[0]].set_index("seed")["skill"]
    y = at[at["width"] == w].set_index("seed")["skill"]
    checks = aux_checks(t, [cond], w, big) + aux_checks(t, [cond], narrow[0], big)
    parts = [above("narrow", estimate((x - y).dropna().to_numpy()), -WIDTH_MARGIN, "signed")]
    return verdict("C15a", parts, checks, {"condition": cond, "narrow_width": narrow[0], "width": w,
                                           "skill_wide": estimate(y.to_numpy()), "skill_narrow": estimate(x.to_numpy())})


def decide_c15b(t):
    q = q1_probe(t)
    cond = "mlm"
    if q.empty or cond not in set(q["condition"]) or len(cka_between(t, cond, cond)) == 0:
        return missing("C15b", "several seeds of MLM only")
    s = per_seed(q)
    mine = s[s["condition"] == cond]["mean"]
    checks = aux_checks(t, [cond])
    if "none" in set(s["condition"]):  # a solution at all: better than the same nets untrained
        checks.append(check("solution", float(paired(s, cond, "none", "mean").mean), ">", 0.0, cond))
    parts = [below("seed_cka", cka_estimate(t, cond, cond), CKA_SAME, "num"),
             exact("skill_sd", float(mine.std(ddof=1)) if len(mine) > 1 else math.nan, "<", SPREAD_SMALL, "num")]
    untrained = cka_estimate(t, "none", "none")
    return verdict("C15b", parts, checks, {"condition": cond, "untrained_seed_cka": untrained,
                                           "trained_minus_untrained": cka_estimate(t, cond, cond, ("none", "none"))})


def decide_c15c(t):
    q = q1_probe(t)
    have = set(q["condition"]) if not q.empty else set()
    if not {"mlm_nsp", *SINGLE} <= have or t.get("aux", pd.DataFrame()).empty:
        return missing("C15c", "MLM+NSP, MLM only and NSP only")
    s = per_seed(q)
    parts = [below(f"worst_{c}", paired(s, c, "mlm_nsp", "worst"), 0.0, "signed") for c in SINGLE]
    return verdict("C15c", parts, aux_checks(t, ["mlm_nsp", *SINGLE]))


def decide_c16(t):
    g = generality(t)
    if g.empty or not {"mlm_nsp", "mlm", "nsp"} <= set(g["condition"]) or t.get("aux", pd.DataFrame()).empty:
        return missing("C16", "MLM+NSP, MLM only and NSP only")
    pre = g[g["condition"] != "none"].set_index("condition")
    wb = within_best(q1_probe(t))
    checks = aux_checks(t, ["mlm_nsp", *SINGLE])
    checks.append(check("discriminates", float((~wb["within"]).sum()), ">", 0.0))
    others = pre.drop(index="mlm_nsp")["within_best"].max()
    parts = [exact("breadth", float(pre.loc["mlm_nsp", "within_best"] - others), ">=", BREADTH_MIN, "num"),
             above("cka_to_mlm", cka_estimate(t, "mlm_nsp", "mlm", ("mlm", "nsp")), 0.0, "signed"),
             above("cka_to_nsp", cka_estimate(t, "mlm_nsp", "nsp", ("mlm", "nsp")), 0.0, "signed")]
    return verdict("C16", parts, checks, {"within_best": int(pre.loc["mlm_nsp", "within_best"]),
                                          "others_best": int(others), "tasks": int(pre.loc["mlm_nsp", "tasks"]),
                                          "cka_mlm_nsp_single": cka_estimate(t, "mlm", "nsp")})


def _flip(part: Part, name: str) -> Part:
    """'No drop' from a Holm test for 'some drop': supported <-> not supported, inconclusive stays."""
    swap = {SUPPORTED: NOT_SUPPORTED, NOT_SUPPORTED: SUPPORTED, INCONCLUSIVE: INCONCLUSIVE}
    return Part(name, part.test, swap[part.verdict], part.threshold, part.estimate, part.seeds_needed,
                part.comparisons, part.unit)


def decide_c17(t):
    gains, neg = doubling_gains(t), negative_transfer(t)
    if gains.empty or neg.empty or t.get("aux", pd.DataFrame()).empty:
        return missing("C17", "several corpus sizes and nested task sets")
    w = _main_width(t)
    g = gains[gains["width"] == w]
    steps = sorted(set(zip(g["from_docs"], g["to_docs"])))
    parts = [above(f"gain_{i}", estimate(g[(g["from_docs"] == a) & (g["to_docs"] == b)]["gain"]), GAIN_MIN, "signed")
             for i, (a, b) in enumerate(steps, 1)]
    m = mlm_by_size(t)
    m = m[m["width"] == w]
    sizes = sorted(set(m["corpus_docs"]))
    numbers = {"compared": len(neg), "excluded": int((~neg["added_learned"]).sum()),
               "steps": [[int(a), int(b)] for a, b in steps]}
    if len(sizes) >= 2:  # held-out MLM loss per doubling: positive = lower loss with more data
        lo, hi = (m[m["corpus_docs"] == x].set_index(["condition", "seed"])["heldout"] for x in (sizes[0], sizes[-1]))
        parts.append(above("heldout_mlm", estimate(((lo - hi) / math.log2(sizes[-1] / sizes[0])).dropna()),
                           GAIN_MIN, "signed"))
        numbers.update({"mlm_small": int(sizes[0]), "mlm_large": int(sizes[-1])})
    kept = neg[neg["added_learned"]]
    checks = [check("added_learned", float(len(kept)), ">", 0.0)]
    drops = {f"{r['to']}|{r['width']}|{r['corpus_docs']}|{r['task']}":
             Estimate(-r["diff"], -r["hi"], -r["lo"], r["sd"], int(r["n"])) for _, r in kept.iterrows()}
    if drops:
        parts.append(_flip(any_above("drop", drops, 0.0, "pt"), "no_drop"))
    return verdict("C17", parts, checks, numbers)


CLAIMS = [Claim("C14", "§27.3.2", decide_c14, {"aux_margin": AUX_MARGIN, "mlm_loss_share": MLM_LOSS_SHARE}),
          Claim("C15a", "§27.3.2", decide_c15a, {"width_margin": WIDTH_MARGIN, "mlm_loss_share": MLM_LOSS_SHARE}),
          Claim("C15b", "§27.3.2", decide_c15b, {"cka_same": CKA_SAME, "spread_small": SPREAD_SMALL,
                                                 "mlm_loss_share": MLM_LOSS_SHARE}),
          Claim("C15c", "§27.3.2", decide_c15c, {"aux_margin": AUX_MARGIN, "mlm_loss_share": MLM_LOSS_SHARE}),
          Claim("C16", "§27.3.3 Q1", decide_c16, {"aux_margin": AUX_MARGIN, "breadth_min": BREADTH_MIN}),
          Claim("C17", "§27.3.3 Q2", decide_c17, {"aux_margin": AUX_MARGIN, "gain_min": GAIN_MIN})]


def params_dict(p: Params) -> dict:
    return asdict(p)
