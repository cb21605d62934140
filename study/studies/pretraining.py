"""Pretraining on one task or several (§27.2, §27.3.2) and the chapter's discussion questions Q1 and Q2 (§27.3.3).

A small BERT-style encoder is pretrained at equal compute (same steps × batch × sequence length) under each
condition: none, masked LM only, next-sentence prediction only, MLM + NSP (BERT), MLM + NSP + sentence order,
and MLM + a task unrelated to the text (a random label per document). Every pretrained model is then scored on
four downstream tasks, one per level (token, sentence, pair, document), by a ridge probe on frozen features and by
fine-tuning with few labels. Q1 ("what is general?") is answered with the mean and worst score over the tasks, on
how many tasks a condition is within the interval of the best, and the similarity (linear CKA) and effective rank
of the representations. Q2 ("more data, more tasks: always better?") with a grid of corpus size × task set ×
width: score vs corpus size, gain per doubling, every case where adding a task lowered a score beyond the
interval, and the FLOPs and seconds of each point.

All members of one width train as one batched model (study.engine.transformer); the corpus is generated with a
known structure (study.data.corpus) or read from a text file.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from study._legacy_claims import (
    NOT_SUPPORTED,
    SUPPORTED,
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
)
from study.params import param
from study.data import corpus as corpora
from study.data import downstream
from study.engine import device as devices
from study.engine.pretrain import (
    effective_rank,
    encode,
    finetune,
    linear_cka,
    pretrain,
    ridge_probe,
)
from study.engine.stats import mean_ci
from study.engine.transformer import EncoderSpec, MemberEncoder, flops_per_sequence

NAME = "pretraining"
ORDER = 70
SECTIONS = "§27.2, §27.3.2, §27.3.3"
TITLE = {"ja": "事前学習の課題の数と「汎用性」", "en": "How many pretraining tasks, and what 'general' means"}

CONDITIONS = {"none": (), "mlm": ("mlm",), "nsp": ("nsp",), "mlm_nsp": ("mlm", "nsp"),
              "mlm_nsp_sop": ("mlm", "nsp", "sop"), "mlm_unrel": ("mlm", "unrelated")}
LABEL = {"none": {"ja": "事前学習なし", "en": "no pretraining"}, "mlm": {"ja": "MLM のみ", "en": "MLM only"},
         "nsp": {"ja": "NSP のみ", "en": "NSP only"}, "mlm_nsp": {"ja": "MLM+NSP(BERT)", "en": "MLM+NSP (BERT)"},
         "mlm_nsp_sop": {"ja": "MLM+NSP+文順序", "en": "MLM+NSP+order"},
         "mlm_unrel": {"ja": "MLM+無関係な課題", "en": "MLM+unrelated"}}
TASK_LABEL = {"tagging": {"ja": "品詞(語)", "en": "word class (token)"},
              "agreement": {"ja": "一致(文)", "en": "agreement (sentence)"},
              "same_topic": {"ja": "同じ話題か(文対)", "en": "same topic (pair)"},
              "topic": {"ja": "話題(文書)", "en": "topic (document)"},
              "frequency": {"ja": "頻出語か(語)", "en": "frequent word (token)"},
              "word_order": {"ja": "語順(文)", "en": "word order (sentence)"},
              "same_doc": {"ja": "同じ文書か(文対)", "en": "same document (pair)"},
              "document": {"ja": "どの文書か(文書)", "en": "which document (document)"}}
SINGLE = ("mlm", "nsp")
NESTED = (("mlm", "mlm_nsp"), ("mlm_nsp", "mlm_nsp_sop"), ("mlm", "mlm_unrel"))  # "one more task" comparisons


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
    lr: float = param(5e-3, gt=0, max=1)
    probe_train: int = param(100, min=4, max=5000, help="probe training examples per class")
    probe_val: int = param(50, min=2, max=5000)
    test: int = param(100, min=10, max=10000, help="test examples per class")
    labels: list[int] = param([20, 100], min=1, max=5000, help="fine-tuning labels per class")
    ft_steps: int = param(30, min=0, max=10000, help="fine-tuning steps (0: probes only)")
    ft_batch: int = param(16, min=1, max=1024)
    ft_lr: float = param(1e-3, gt=0, max=1)
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


def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    # the encoders and their data stay on the CPU (CUDA is not implemented for this study); `device` sets threads
    devices.configure("cpu", threads)
    pre_corpus, eval_corpus = load_corpus(p)
    sents = corpora.to_tensors(pre_corpus, seed=p.data_seed)
    tasks = downstream.suite(eval_corpus, p.max_len, p.probe_train, p.probe_val, p.test, p.data_seed)
    grid = plan(p, len(pre_corpus.docs))
    big = max(s for members in grid.values() for _, s, _ in members)
    probe, ft, loss_rows, cost, reps = [], [], [], [], {}
    jobs = len(grid) + 1
    for j, (w, members) in enumerate(list(grid.items()) + [(p.width, None)], 1):
        t0 = time.perf_counter()
        spec = EncoderSpec(len(pre_corpus.vocab), w, p.layers, p.heads, 2 * w, p.max_len)
        if members is None:  # no pretraining: the same initial weights the pretrained members started from
            members = [("none", 0, s) for s in range(p.seeds)] if "none" in p.conditions else []
            if not members:
                continue
            model = MemberEncoder(spec, [s for *_, s in members])
        else:
            model = MemberEncoder(spec, [s for *_, s in members])
            rows = pretrain(model, sents, [CONDITIONS[c] for c, _, _ in members], [s for _, s, _ in members],
                            p.steps, p.batch_size, p.lr,
                            on_log=lambda step, l: log.metrics({f"pretrain_loss/{t}-w{w}": v for t, v in l.items()},
                                                               step=step))
            loss_rows += [{**r, "width": w, "condition": members[r["member"]][0],
                           "corpus_docs": members[r["member"]][1], "seed": members[r["member"]][2]} for r in rows]
        pre_seconds = time.perf_counter() - t0
        for k, (c, s, seed) in enumerate(members):
            heads = CONDITIONS[c]
            cost.append({"width": w, "condition": c, "corpus_docs": s, "seed": seed,
                         "flops": p.steps * p.batch_size * flops_per_sequence(spec, p.max_len, heads) if heads else 0.0,
                         "seconds": pre_seconds / len(members) if heads else 0.0})
        key = lambda k: {"width": w, "condition": members[k][0], "corpus_docs": members[k][1],
                         "seed": members[k][2]}
        for name, task in tasks.items():
            pair = task.level == "pair"
            parts = [(encode(model, *task.take(part)[:3], pair=pair), task.take(part)[3])
                     for part in ("train", "val", "test")]
            acc = ridge_probe(*parts, task.n_classes)
            probe += [{**key(k), "task": name, "acc": float(acc[k]), "chance": 1 / task.n_classes}
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
                                       p.ft_batch, p.ft_lr, stream=1000 * t_i + n, pair=task.level == "pair")
                        ft += [{**key(k), "task": name, "labels": n, "acc": float(acc[i]),
                                "chance": 1 / task.n_classes} for i, k in enumerate(q1)]
        done = pd.DataFrame([r for r in probe if r["width"] == w])
        progress(f"[{NAME}] {j}/{jobs} width {w}: {len(members)} members in {time.perf_counter() - t0:.1f}s "
                 f"(pretraining {pre_seconds:.1f}s), mean probe acc {done['acc'].mean():.3f}")
    tables = {"probe": pd.DataFrame(probe), "finetune": pd.DataFrame(ft), "pretrain_loss": pd.DataFrame(loss_rows),
              "cost": pd.DataFrame(cost), **representation_tables(reps), "tasks": task_table(tasks)}
    for name, df in tables.items():
        log.table(name, df)
    verdicts = [c.decide(tables) for c in CLAIMS]
    log.json("claims.json", [v.to_dict() for v in verdicts])
    log.tags({"claims": " ".join(f"{v.claim}={v.verdict}" for v in verdicts)})
    log.metrics({"train_seconds": time.perf_counter() - started - log.seconds, "mlflow_seconds": log.seconds})
    log.flush()
    return tables


def task_table(tasks) -> pd.DataFrame:
    return pd.DataFrame([{"task": n, "level": t.level, "classes": t.n_classes} for n, t in tasks.items()])


def representation_tables(reps: dict) -> dict[str, pd.DataFrame]:
    """Linear CKA between every two Q1 models (same inputs), and each model's effective rank."""
    keys = list(reps)
    cka = [{"condition_a": a[0], "seed_a": a[1], "condition_b": b[0], "seed_b": b[1],
            "cka": linear_cka(reps[a], reps[b])} for i, a in enumerate(keys) for b in keys[i + 1:]]
    rank = [{"condition": c, "seed": s, "effective_rank": effective_rank(x), "dims": x.shape[-1]}
            for (c, s), x in reps.items()]
    return {"cka": pd.DataFrame(cka), "rank": pd.DataFrame(rank)}


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


def paired(q: pd.DataFrame, a: str, b: str, col: str) -> tuple[float, float, float]:
    x = q[q["condition"] == a].set_index("seed")[col]
    y = q[q["condition"] == b].set_index("seed")[col]
    j = (x - y).dropna()
    return mean_ci(j.to_numpy())


def within_best(q: pd.DataFrame) -> pd.DataFrame:
    """For each task, which conditions are within the interval of the best (paired by seed: the 95% interval of
    their difference to the best reaches 0)."""
    rows = []
    for task, g in q.groupby("task"):
        means = g.groupby("condition")["skill"].mean()
        best = means.idxmax()
        for c in means.index:
            m, lo, hi = paired(g, c, best, "skill") if c != best else (0.0, 0.0, 0.0)
            rows.append({"task": task, "condition": c, "best": best, "diff": m,
                         "within": bool(c == best or (math.isfinite(hi) and hi >= 0) or not math.isfinite(hi))})
    return pd.DataFrame(rows)


def generality(t) -> pd.DataFrame:
    """One row per Q1 condition: mean and worst skill (with intervals over seeds), tasks within the best."""
    q = q1_probe(t)
    if q.empty:
        return pd.DataFrame()
    s, wb = per_seed(q), within_best(q)
    rows = []
    for c in [c for c in CONDITIONS if c in set(q["condition"])]:
        m, w = s[s["condition"] == c], wb[wb["condition"] == c]
        rows.append({"condition": c, **dict(zip(("mean", "mean_lo", "mean_hi"), mean_ci(m["mean"]))),
                     **dict(zip(("worst", "worst_lo", "worst_hi"), mean_ci(m["worst"]))),
                     "within_best": int(w["within"].sum()), "tasks": len(w),
                     "best_task": q[q["condition"] == c].groupby("task")["skill"].mean().idxmax(),
                     "worst_task": q[q["condition"] == c].groupby("task")["skill"].mean().idxmin()})
    return pd.DataFrame(rows)


def cka_between(t, a: str, b: str) -> np.ndarray:
    """Per-seed CKA between conditions a and b (same seed); for a == b, between different seeds."""
    c = t.get("cka", pd.DataFrame())
    if c.empty:
        return np.array([])
    if a == b:
        sel = (c["condition_a"] == a) & (c["condition_b"] == a) & (c["seed_a"] != c["seed_b"])
        return c[sel]["cka"].to_numpy()
    sel = (((c["condition_a"] == a) & (c["condition_b"] == b)) | ((c["condition_a"] == b) & (c["condition_b"] == a))) \
        & (c["seed_a"] == c["seed_b"])
    return c[sel].sort_values("seed_a")["cka"].to_numpy()


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


def negative_transfer(t) -> pd.DataFrame:
    """Every (width, corpus size, downstream task, one more task) whose score fell beyond the interval."""
    pr = t["probe"]
    rows = []
    for (w, s, task), g in pr[pr["condition"] != "none"].groupby(["width", "corpus_docs", "task"]):
        for a, b in NESTED:
            if {a, b} <= set(g["condition"]):
                m, lo, hi = paired(g, b, a, "acc")
                rows.append({"width": w, "corpus_docs": s, "task": task, "from": a, "to": b, "diff": m, "lo": lo,
                             "hi": hi, "negative": bool(math.isfinite(hi) and hi < 0)})
    return pd.DataFrame(rows)


# --- claims -----------------------------------------------------------------------------------------------------

WIDTH_MARGIN = 0.05  # C15: a narrower model is "enough" if it loses less than 5 skill points (interval)
CKA_SAME = 0.9  # C15: seeds whose representations have CKA below this found different solutions
SPREAD_SMALL = 0.03  # C15: ... while their mean skill differs by less than this (standard deviation over seeds)


def _f(m, lo, hi, d=3):
    return f"{m:+.{d}f} [{lo:+.{d}f}, {hi:+.{d}f}]" if math.isfinite(lo) else f"{m:+.{d}f} (n<2)"


def decide_c14(t) -> Verdict:
    q = q1_probe(t)
    have = set(q["condition"]) if not q.empty else set()
    singles = [c for c in SINGLE if c in have]
    if "mlm_nsp" not in have or not singles:
        return missing("C14", "MLM+NSP and a single-task condition")
    s = per_seed(q)
    rival = max(singles, key=lambda c: s[s["condition"] == c]["mean"].mean())
    dm = paired(s, "mlm_nsp", rival, "mean")
    dw = paired(s, "mlm_nsp", rival, "worst")
    v = all_of(interval_verdict(dm[1], dm[2], 0.0), interval_verdict(dw[1], dw[2], 0.0))
    n = {"rival": rival, "mean_diff": dm[0], "mean_lo": dm[1], "mean_hi": dm[2], "worst_diff": dw[0],
         "worst_lo": dw[1], "worst_hi": dw[2]}
    return Verdict("C14", v, n, {
        "ja": f"凍結特徴の線形プローブで、MLM+NSP は最良の単一課題({LABEL[rival]['ja']})に比べ、4 課題の平均スキルが "
              f"{_f(*dm)}、最悪課題のスキルが {_f(*dw)} 違った(スキル: チャンス 0、完全 1。基準: 両方 > 0)。",
        "en": f"With a ridge probe on frozen features, MLM+NSP differed from the better single-task model "
              f"({LABEL[rival]['en']}) by {_f(*dm)} in mean skill over the tasks and {_f(*dw)} in worst-task skill "
              "(skill: 0 chance, 1 perfect; rule: both > 0)."})


def decide_c15(t) -> Verdict:
    q = q1_probe(t)
    pts = q2_points(t)
    w = _main_width(t)
    narrow = sorted(x for x in set(pts["width"]) if x < w)
    cond = "mlm_nsp" if "mlm_nsp" in set(pts["condition"]) else (sorted(set(pts["condition"])) or [None])[0]
    same = cka_between(t, cond, cond)
    if not narrow or cond is None or len(same) == 0 or q.empty:
        return missing("C15", "a narrower width, and several seeds of one condition")
    big = pts["corpus_docs"].max()
    at = pts[(pts["corpus_docs"] == big) & (pts["condition"] == cond)]
    x = at[at["width"] == narrow[0]].set_index("seed")["skill"]
    y = at[at["width"] == w].set_index("seed")["skill"]
    dn = mean_ci((x - y).dropna().to_numpy())
    ck = mean_ci(same)
    spread = float(y.std(ddof=1)) if len(y) > 1 else math.nan
    s = per_seed(q)
    specialised = []
    for c in SINGLE:
        if c in set(s["condition"]) and "mlm_nsp" in set(s["condition"]):
            d = paired(s, c, "mlm_nsp", "worst")
            specialised.append(interval_verdict(d[1], d[2], 0.0, above=False))
    parts = [interval_verdict(dn[1], dn[2], -WIDTH_MARGIN), interval_verdict(ck[1], ck[2], CKA_SAME, above=False),
             SUPPORTED if math.isfinite(spread) and spread < SPREAD_SMALL else NOT_SUPPORTED if
             math.isfinite(spread) else "inconclusive", *specialised]
    n = {"narrow_width": narrow[0], "width": w, "narrow_diff": dn[0], "narrow_lo": dn[1], "narrow_hi": dn[2],
         "seed_cka": ck[0], "seed_cka_lo": ck[1], "seed_cka_hi": ck[2], "seed_sd": spread}
    return Verdict("C15", all_of(*parts), n, {
        "ja": f"幅を {w} から {narrow[0]} に減らすと {LABEL[cond]['ja']} の平均スキルは {_f(*dn)} 変わった(基準 > "
              f"−{WIDTH_MARGIN})。同じ条件のシード間の表現の CKA は {ck[0]:.2f} [{ck[1]:.2f}, {ck[2]:.2f}](基準 < "
              f"{CKA_SAME})、平均スキルのシード間標準偏差は {spread:.3f}(基準 < {SPREAD_SMALL})。単一課題モデルの最悪課題は "
              "MLM+NSP より低いこと(区間 < 0)も求めた。",
        "en": f"Narrowing the model from {w} to {narrow[0]} changed {LABEL[cond]['en']}'s mean skill by {_f(*dn)} "
              f"(rule > −{WIDTH_MARGIN}). Between seeds of one condition the representations' CKA was {ck[0]:.2f} "
              f"[{ck[1]:.2f}, {ck[2]:.2f}] (rule < {CKA_SAME}) while mean skill varied by sd {spread:.3f} (rule < "
              f"{SPREAD_SMALL}); the single-task models' worst task also had to be below MLM+NSP's (interval < 0)."})


def decide_c16(t) -> Verdict:
    g = generality(t)
    if g.empty or not {"mlm_nsp", "mlm", "nsp"} <= set(g["condition"]):
        return missing("C16", "MLM+NSP, MLM only and NSP only")
    pre = g[g["condition"] != "none"].set_index("condition")
    breadth = SUPPORTED if pre.loc["mlm_nsp", "within_best"] >= pre["within_best"].max() else NOT_SUPPORTED
    base = cka_between(t, "mlm", "nsp")
    parts, n = [breadth], {"within_best": int(pre.loc["mlm_nsp", "within_best"]),
                           "max_within_best": int(pre["within_best"].max()), "cka_mlm_nsp_single": float(np.mean(base))}
    for c in SINGLE:
        d = mean_ci(cka_between(t, "mlm_nsp", c) - base)
        parts.append(interval_verdict(d[1], d[2], 0.0))
        n.update({f"cka_to_{c}_minus_single": d[0], f"cka_to_{c}_lo": d[1], f"cka_to_{c}_hi": d[2]})
    return Verdict("C16", all_of(*parts), n, {
        "ja": f"MLM+NSP は {n['within_best']}/{int(pre.loc['mlm_nsp', 'tasks'])} 課題で最良の区間内(どの条件でも最多は "
              f"{n['max_within_best']})。その表現と MLM のみの CKA は、MLM と NSP の間の CKA({n['cka_mlm_nsp_single']:.2f})より "
              f"{_f(n['cka_to_mlm_minus_single'], n['cka_to_mlm_lo'], n['cka_to_mlm_hi'], 2)}、NSP のみとは "
              f"{_f(n['cka_to_nsp_minus_single'], n['cka_to_nsp_lo'], n['cka_to_nsp_hi'], 2)} 高い(基準: 最多かつ両方 > 0)。",
        "en": f"MLM+NSP is within the interval of the best on {n['within_best']}/{int(pre.loc['mlm_nsp', 'tasks'])} "
              f"tasks (the most of any condition: {n['max_within_best']}). Its representation's CKA to MLM only "
              f"exceeds the MLM–NSP CKA ({n['cka_mlm_nsp_single']:.2f}) by "
              f"{_f(n['cka_to_mlm_minus_single'], n['cka_to_mlm_lo'], n['cka_to_mlm_hi'], 2)}, to NSP only by "
              f"{_f(n['cka_to_nsp_minus_single'], n['cka_to_nsp_lo'], n['cka_to_nsp_hi'], 2)} (rule: the most, and "
              "both > 0)."})


def decide_c17(t) -> Verdict:
    gains, neg = doubling_gains(t), negative_transfer(t)
    if gains.empty or neg.empty:
        return missing("C17", "several corpus sizes and nested task sets")
    w = _main_width(t)
    g = gains[gains["width"] == w]
    steps = sorted(set(zip(g["from_docs"], g["to_docs"])))
    per_step = {s: mean_ci(g[(g["from_docs"] == s[0]) & (g["to_docs"] == s[1])]["gain"].to_numpy()) for s in steps}
    parts = [interval_verdict(lo, hi, 0.0) for _, lo, hi in per_step.values()]
    dim = (math.nan,) * 3
    if len(steps) >= 2:
        first = g[(g["from_docs"] == steps[0][0])].set_index(["condition", "seed"])["gain"]
        last = g[(g["from_docs"] == steps[-1][0])].set_index(["condition", "seed"])["gain"]
        dim = mean_ci((last - first).dropna().to_numpy())
        parts.append(interval_verdict(dim[1], dim[2], 0.0))
    n_neg = int(neg["negative"].sum())
    parts.append(NOT_SUPPORTED if n_neg else SUPPORTED)
    first_gain, last_gain = per_step[steps[0]], per_step[steps[-1]]
    n = {"first_gain": first_gain[0], "first_lo": first_gain[1], "first_hi": first_gain[2], "last_gain": last_gain[0],
         "last_lo": last_gain[1], "last_hi": last_gain[2], "diminishing": dim[0], "diminishing_lo": dim[1],
         "diminishing_hi": dim[2], "negative_cases": n_neg, "comparisons": len(neg)}
    return Verdict("C17", all_of(*parts), n, {
        "ja": f"コーパスを倍にするごとの平均スキルの伸びは、最初の区間で {_f(*first_gain)}、最後の区間で {_f(*last_gain)}"
              f"(差 {_f(*dim)})。課題を一つ足して下流の正解率が区間を超えて下がった場合: {n_neg}/{len(neg)} 件。"
              "基準:「何もかも良くなる」と言えるのは、どの伸びも > 0、伸びが減らず、負の転移が 0 件のとき。",
        "en": f"Gain in mean skill per doubling of the corpus: {_f(*first_gain)} over the first step, "
              f"{_f(*last_gain)} over the last (difference {_f(*dim)}). Adding a task lowered a downstream accuracy "
              f"beyond the interval in {n_neg} of {len(neg)} comparisons. Rule: 'everything simply gets better' "
              "holds only if every gain is > 0, gains do not shrink, and there is no negative transfer."})


CLAIMS = [
    Claim("C14", "§27.3.2",
          {"ja": "一つのモデルを二つの異なる課題(BERT: マスク言語モデルと次文予測)で事前学習すると、一つの課題に特化した"
                 "モデルより汎用的な表現が得られる。",
           "en": "Pretraining one model on two different tasks (BERT: masked LM and next-sentence prediction) gives a "
                 "more general representation than a model specialised to one task."},
          {"ja": "凍結特徴の線形プローブで、MLM+NSP の 4 課題平均スキルと最悪課題スキルが、良い方の単一課題モデルより"
                 "ともに高い(シード対応の差の 95% 区間 > 0)なら支持。",
           "en": "Supported if, with a linear probe on frozen features, MLM+NSP beats the better single-task model in "
                 "both mean skill over the four tasks and worst-task skill (95% interval of the seed-paired "
                 "difference > 0)."},
          decide_c14),
    Claim("C15", "§27.3.2",
          {"ja": "100〜200 次元の密な空間は言語モデルには大きすぎ、同じくらい良い解が多数ある。一つの課題だけで学んだモデルは"
                 "特化して硬くなる。",
           "en": "A 100–200-dimensional dense space is more than a language model needs; many equally good "
                 "solutions exist, and a single-task model ends up specialised and rigid."},
          {"ja": f"(i) 幅を下げても平均スキルの低下が {WIDTH_MARGIN} 未満(区間)、(ii) シード間の表現の CKA < {CKA_SAME}"
                 f"(区間)なのにスキルの標準偏差 < {SPREAD_SMALL}、(iii) 単一課題モデルの最悪課題が MLM+NSP より低い"
                 "(区間 < 0)。すべて満たせば支持。",
           "en": f"Supported if (i) a narrower model loses less than {WIDTH_MARGIN} mean skill (interval), (ii) seeds "
                 f"reach representations with CKA < {CKA_SAME} (interval) while their skill's sd is < "
                 f"{SPREAD_SMALL}, and (iii) each single-task model's worst task is below MLM+NSP's (interval < 0)."},
          decide_c15),
    Claim("C16", "§27.3.3 Q1",
          {"ja": "(問い)二つの課題で事前学習したモデルが「汎用的」とはどういうことか。ここでは「多くの下流課題で最良に"
                 "並び、表現が両方の単一課題モデルと共有する部分を持つ」ことと測る。",
           "en": "(question) What does 'general' mean for a model pretrained on two tasks? Measured here as: on a "
                 "par with the best on the most downstream tasks, with a representation that shares more with each "
                 "single-task model than those two share with each other."},
          {"ja": "MLM+NSP が最良の区間内にある課題数が全条件で最多、かつ MLM のみ・NSP のみとの CKA がともに MLM–NSP 間の "
                 "CKA より高い(シード対応の区間 > 0)なら支持。",
           "en": "Supported if MLM+NSP is within the best's interval on the most tasks of any condition and its CKA "
                 "to MLM only and to NSP only both exceed the MLM–NSP CKA (seed-paired interval > 0)."},
          decide_c16),
    Claim("C17", "§27.3.3 Q2",
          {"ja": "(問い)データを増やし、課題を増やせば、何もかも単純に良くなるのか。",
           "en": "(question) With a bigger dataset and more, different tasks, does everything simply get better?"},
          {"ja": "コーパスを倍にするごとの平均スキルの伸びがどの区間でも > 0 で、最初より最後の伸びが小さくなく、課題を"
                 "一つ足して下流の正解率が区間を超えて下がる場合が一つもなければ「支持」(何もかも良くなる)。負の転移か"
                 "伸びの縮小・マイナスが区間で示されれば「不支持」。",
           "en": "'Supported' (everything gets better) if every per-doubling gain in mean skill is > 0 (interval), "
                 "the last gain is not smaller than the first, and adding a task never lowers a downstream accuracy "
                 "beyond the interval. 'Not supported' if negative transfer, shrinking or negative gains are shown "
                 "by an interval."},
          decide_c17),
]


# --- report -----------------------------------------------------------------------------------------------------

def summary_table(tables: dict, lang: str):
    """Mean and worst downstream skill per pretraining condition (what the notebook shows)."""
    from study.studies import _pretraining_report

    return _pretraining_report.generality_table(tables, lang)


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.studies._pretraining_report import (
        report as build,  # figures and words live in their own module
    )

    return build(tables, params, lang)


def chapter_evidence(qid: str, tables: dict, lang: str) -> str:
    """A short answer to the chapter's discussion question Q1 or Q2 from this run's numbers."""
    from study.studies._pretraining_report import chapter_evidence as answer

    return answer(qid, tables, lang)


def params_dict(p: Params) -> dict:
    return asdict(p)
