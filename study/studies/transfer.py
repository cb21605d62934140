"""Transfer learning (§27.2, §27.3.1): a small CNN pretrained on one task and moved to another with few labels.

Source: digits 0–4 (a related task) or synthetic shapes (a dissimilar one, `study.data.shapes`). Target: digits 5–9
with a few labelled images per class, a fresh sample for every seed. Conditions on the target: from scratch;
freezing the first n conv blocks of the pretrained backbone for n = 0 … L (0 = fine-tune everything, L = frozen
backbone + new head); two-stage (head only, then everything at a lower rate). On a BatchNorm backbone, the
BN layers are kept in train mode or in eval mode while fine-tuning.

Every condition is one batched engine run over seeds; the same seed shares its labelled sample, its new head's
initial weights and its minibatch order across conditions, so differences are paired by seed. From each target
learning curve come the three benefits of Torrey & Shavlik: start, slope (steps to a stated accuracy) and
asymptote (final test accuracy).
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study._legacy_claims import (
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
    points,
    record,
)
from study.params import param
from study.data.shapes import shapes
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.stats import mean_ci, paired_diff
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train

NAME = "transfer"
ORDER = 60
SECTIONS = "§27.2, §27.3.1"
TITLE = {"ja": "転移学習: 固定・微調整・ゼロからの学習", "en": "Transfer learning: frozen, fine-tuned or from scratch"}

SOURCE_CLASSES = (0, 1, 2, 3, 4)  # pretraining only ever sees these digits
TARGET_CLASSES = (5, 6, 7, 8, 9)  # the target task, relabelled 0–4
SOURCES = ("digits", "shapes")


@dataclass
class Params:
    seeds: int = param(5, min=1, max=100, help="seeds; each pretrains its own backbone and draws its own labels")
    labels: list[int] = param([5, 20, 100], min=1, max=100, help="labelled target images per class")
    sources: list[str] = param(list(SOURCES), choices=list(SOURCES), help="pretraining tasks")
    freeze: list[int] = param([0, 1, 2, 3], min=0, max=16,
                              help="conv blocks frozen from the input (0 = fine-tune all, L = frozen backbone)")
    two_stage: bool = param(True, help="also train the head first, then everything at a lower rate")
    bn: bool = param(True, help="also compare BN handling on a BatchNorm backbone")
    bn_sources: list[str] = param(["digits"], choices=list(SOURCES), help="pretraining tasks of the BN backbones")
    bn_labels: list[int] = param([20], min=1, max=100, help="labels per class for the BN comparison")
    channels: list[int] = param([8, 16, 16], min=1, max=256, help="3x3 conv blocks (2x2 pooling after the 2nd)")
    pretrain_epochs: int = param(20, min=1, max=1000)
    steps: int = param(150, min=1, max=100_000, help="target training steps, the same for every condition")
    eval_every: int = param(15, min=1, max=10_000, help="about this many steps between points of a curve")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lr: float = param(0.01, gt=0, max=10)
    stage2_lr_factor: float = param(0.1, gt=0, max=1, help="two-stage: stage-2 rate = lr x this")
    head_fraction: float = param(0.5, gt=0, max=0.95, help="two-stage: share of the steps spent on the head alone")
    slope_acc: float = param(0.85, gt=0, max=1, help="the accuracy whose first crossing measures the slope")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    depth = len(p.channels)
    if depth < 2:
        raise ValueError(f"channels {p.channels}: need at least 2 conv blocks (pooling follows the 2nd)")
    if max(p.freeze) > depth:
        raise ValueError(f"freeze {p.freeze}: at most {depth} blocks can be frozen with channels {p.channels}")
    for key in ("labels", "sources", "freeze", "bn_labels", "bn_sources"):
        values = getattr(p, key)
        if len(set(values)) != len(values):
            raise ValueError(f"{key} {values} lists a value twice")
    if p.eval_every > p.steps:
        raise ValueError(f"eval_every {p.eval_every} exceeds steps {p.steps}")


# --- data: source and target, never sharing a class --------------------------------------------------------------

def _classes(split: data.Split, classes, offset: int = 0) -> data.Split:
    """The part of a split whose labels are in `classes`, relabelled by subtracting `offset`."""
    cls = torch.tensor(classes)
    parts = []
    for x, y in ((split.x_train, split.y_train), (split.x_val, split.y_val), (split.x_test, split.y_test)):
        keep = torch.isin(y, cls)
        parts += [x[keep], y[keep] - offset]
    return data.Split(*parts)


def tasks(data_seed: int) -> tuple[data.Split, data.Split, data.Split]:
    """(digits source 0–4, shapes source of the same size, target pool 5–9 relabelled 0–4)."""
    digits = data.digits(data_seed)
    source = _classes(digits, SOURCE_CLASSES)
    target = _classes(digits, TARGET_CLASSES, offset=TARGET_CLASSES[0])
    shape = shapes(data_seed, len(source.y_train), len(source.y_val), len(source.y_test))
    return source, shape, target


class MemberRows:
    """A training set per member, shaped for `engine.train`: row i of member k is rows[k, i % n].

    `len()` counts `reps` passes over the n rows, so that one engine "epoch" (after which the engine evaluates)
    lasts about the same number of steps whatever the label count.
    """

    def __init__(self, rows: torch.Tensor, reps: int = 1):
        self.rows, self.n, self.reps = rows, rows.shape[1], reps

    def __len__(self):
        return self.n * self.reps

    def __getitem__(self, idx: torch.Tensor):  # idx: (M, B) from engine.train.member_batches
        members = torch.arange(self.rows.shape[0], device=idx.device).view(-1, 1)
        return self.rows[members, idx % self.n]


def sample_labels(y: torch.Tensor, per_class: int, seeds: list[int], data_seed: int) -> torch.Tensor:
    """(M, per_class * classes) indices into the target pool: each seed's own labelled sample, balanced by class."""
    out = []
    for seed in seeds:
        rng = np.random.default_rng([data_seed, seed, 27])
        idx = [rng.choice(np.flatnonzero(y.cpu().numpy() == c), per_class, replace=False)
               for c in range(int(y.max()) + 1)]
        out.append(np.concatenate(idx))
    return torch.as_tensor(np.stack(out), device=y.device)


def schedule(n: int, p: Params) -> tuple[int, int, int]:
    """(batch size, passes per engine epoch, steps per engine epoch) for n labelled images."""
    bs = min(p.batch_size, n)
    reps = max(1, round(p.eval_every * bs / n))
    return bs, reps, (n * reps) // bs


def target_split(target: data.Split, per_class: int, seeds: list[int], p: Params) -> tuple[data.Split, int, int]:
    idx = sample_labels(target.y_train, per_class, seeds, p.data_seed)
    bs, reps, spe = schedule(idx.shape[1], p)
    split = data.Split(MemberRows(target.x_train[idx], reps), MemberRows(target.y_train[idx], reps),
                       target.x_val, target.y_val, target.x_test, target.y_test)
    return split, bs, spe


# --- models: pretrain, transplant, freeze ------------------------------------------------------------------------

def spec_for(p: Params, net: str) -> CNNSpec:
    blocks = ("bn act",) * len(p.channels) if net == "bn" else ()
    return CNNSpec(channels=tuple(p.channels), pool_after=(2,), d_out=len(TARGET_CLASSES), side=8, blocks=blocks)


def transplant(model: MemberCNN, backbone: dict) -> MemberCNN:
    """Copy a pretrained backbone (conv weights, BN parameters and statistics) into `model`; its head stays new."""
    model.convs.load_state_dict(backbone["convs"])
    model.blocks.load_state_dict(backbone["blocks"])
    return model


def freeze_first(model: MemberCNN, n: int) -> list[torch.nn.Parameter]:
    """Stop gradients into the first n conv blocks (conv and BN parameters), for every member; returns them.
    Their gradients stay None, so torch's optimizers skip them (no momentum, no weight decay)."""
    frozen = [q for l in range(n) for mod in (model.convs[l], model.blocks[l]) for q in mod.parameters()]
    for q in frozen:
        q.requires_grad_(False)
    return frozen


def unfreeze(model: MemberCNN):
    for q in model.parameters():
        q.requires_grad_(True)


def pretrain(source: data.Split, p: Params, net: str, seeds: list[int], dev) -> tuple[dict, torch.Tensor, MemberCNN]:
    """Train the source task; return the backbone's state, each member's source test accuracy and the model."""
    model = MemberCNN(spec_for(p, net), seeds, "he").to(dev)
    train(model, source, TrainSpec(p.optimizer, p.lr, p.pretrain_epochs, p.batch_size))
    _, acc = evaluate(model, source.x_test, source.y_test)
    state = {k: {n: v.detach().clone() for n, v in getattr(model, k).state_dict().items()} for k in ("convs", "blocks")}
    return state, acc, model


@torch.no_grad()
def bn_mismatch(model: MemberCNN, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far the inputs of each BN layer, for images x, sit from the statistics BN stored while pretraining
    (eval mode, as a frozen backbone sees them). Per member and layer, averaged over channels:
    mean_shift = |batch mean - stored mean| / stored std; var_ratio = batch variance / stored variance."""
    model.eval()
    _, rec = model(x, record=True)
    shifts, ratios = [], []
    for h, bn in zip(rec["bn_in"], model.norms()):
        var, mean = torch.var_mean(h, dim=bn.dims, keepdim=True, correction=0)
        shifts.append(((mean - bn.running_mean).abs() / bn.running_var.sqrt()).flatten(1).mean(1))
        ratios.append((var / bn.running_var).flatten(1).mean(1))
    return {"mean_shift": torch.stack(shifts, 1), "var_ratio": torch.stack(ratios, 1)}


@dataclass(frozen=True)
class Job:
    net: str  # "plain" or "bn"
    source: str  # "none" (scratch), "digits" or "shapes"
    method: str  # "scratch", "freeze" (first `frozen` blocks) or "two_stage"
    frozen: int
    bn_mode: str  # "train" or "eval": BN layers while training on the target (plain nets: "train", no BN)
    labels: int

    @property
    def tag(self) -> str:
        what = {"scratch": "scratch", "two_stage": "two_stage"}.get(self.method, f"freeze{self.frozen}")
        return f"{self.net}/{self.source}/{what}/{self.bn_mode}/n{self.labels}"


def jobs_for(p: Params) -> list[Job]:
    depth, out = len(p.channels), []
    for n in p.labels:
        out.append(Job("plain", "none", "scratch", 0, "train", n))
        for s in p.sources:
            out += [Job("plain", s, "freeze", f, "train", n) for f in p.freeze]
            if p.two_stage:
                out.append(Job("plain", s, "two_stage", 0, "train", n))
    for n in p.bn_labels if p.bn else []:
        out.append(Job("bn", "none", "scratch", 0, "train", n))
        for s in p.bn_sources:
            out += [Job("bn", s, "freeze", depth, "eval", n), Job("bn", s, "freeze", 0, "train", n),
                    Job("bn", s, "freeze", 0, "eval", n), Job("bn", s, "two_stage", 0, "train", n),
                    Job("bn", s, "two_stage", 0, "eval", n)]
    return out


def fit(job: Job, p: Params, split, bs: int, spe: int, backbone: dict | None, seeds: list[int], dev, on_epoch):
    """Train one condition on the target; returns the model and its learning curve [(step, val_acc per member)]."""
    model = MemberCNN(spec_for(p, job.net), seeds, "he").to(dev)
    if backbone is not None:
        transplant(model, backbone)
    keep_eval = model.norms() if job.bn_mode == "eval" else []
    epochs = max(1, round(p.steps / spe))
    curve = [(0, evaluate(model, split.x_val, split.y_val)[1])]
    losses = []

    def stage(lr, n_epochs):
        if n_epochs < 1:
            return
        start = len(curve) - 1
        hist = train(model, split, TrainSpec(p.optimizer, lr, n_epochs, bs), on_epoch=lambda e, r: on_epoch(start + e, r),
                     eval_modules=keep_eval)
        curve.extend(((start + h["epoch"]) * spe, h["val_acc"]) for h in hist)
        losses.extend(h["train_loss"] for h in hist)

    if job.method == "two_stage":
        first = max(1, round(epochs * p.head_fraction))
        freeze_first(model, len(p.channels))
        stage(p.lr, first)
        unfreeze(model)
        stage(p.lr * p.stage2_lr_factor, epochs - first)
    else:
        freeze_first(model, job.frozen if job.method == "freeze" else 0)
        stage(p.lr, epochs)
    diverged = ~torch.stack(losses).isfinite().all(0)
    return model, curve, diverged


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    seeds = list(range(p.seeds))
    digits_src, shapes_src, target = (s.to(dev) for s in tasks(p.data_seed))
    short = min(int((target.y_train == c).sum()) for c in range(len(TARGET_CLASSES)))
    if max(p.labels + p.bn_labels) > short:
        raise ValueError(f"labels {p.labels}/{p.bn_labels}: the target's smallest class has only {short} training "
                         f"images with data_seed {p.data_seed}")
    jobs = jobs_for(p)
    need = sorted({(j.source, j.net) for j in jobs if j.source != "none"})
    backbones, pre, bn_stats = {}, [], []
    for i, (source, net) in enumerate(need, 1):
        t0 = time.perf_counter()
        src = digits_src if source == "digits" else shapes_src
        backbones[source, net], acc, model = pretrain(src, p, net, seeds, dev)
        pre += [{"source": source, "net": net, "seed": s, "source_test_acc": float(acc[k])} for k, s in enumerate(seeds)]
        if net == "bn":  # the source's own images are the reference: there the stored statistics fit
            for images, x in (("source", src.x_train), ("target", target.x_train)):
                mm = bn_mismatch(model, x)
                bn_stats += [{"source": source, "images": images, "seed": s, "bn_layer": l + 1,
                              "mean_shift": float(mm["mean_shift"][k, l]), "var_ratio": float(mm["var_ratio"][k, l])}
                             for k, s in enumerate(seeds) for l in range(mm["mean_shift"].shape[1])]
        progress(f"[{NAME}] pretrain {i}/{len(need)} {net}/{source}: {len(seeds)} members in "
                 f"{time.perf_counter() - t0:.1f}s, source test acc {float(acc.mean()):.3f}")
    splits = {n: target_split(target, n, seeds, p) for n in sorted({j.labels for j in jobs})}
    members, history = [], []
    for i, job in enumerate(jobs, 1):
        t0 = time.perf_counter()
        split, bs, spe = splits[job.labels]

        def on_epoch(epoch, rec, tag=job.tag, spe=spe):
            log.metrics({f"val_acc/{tag}": float(np.nanmean(rec["val_acc"].cpu()))}, step=epoch * spe)

        model, curve, diverged = fit(job, p, split, bs, spe, backbones.get((job.source, job.net)), seeds, dev,
                                     on_epoch)
        _, test_acc = evaluate(model, split.x_test, split.y_test)
        key = {**asdict(job), "depth": len(p.channels)}
        steps = np.array([s for s, _ in curve])
        accs = torch.stack([a for _, a in curve], 1).cpu().numpy()  # (M, points)
        for k, seed in enumerate(seeds):
            history += [{**key, "seed": seed, "step": int(s), "val_acc": float(a)} for s, a in zip(steps, accs[k])]
            members.append({**key, "seed": seed, "diverged": bool(diverged[k]), "test_acc": float(test_acc[k]),
                             **benefits(steps, accs[k], p.slope_acc)})
        progress(f"[{NAME}] {i}/{len(jobs)} {job.tag}: {len(seeds)} members in {time.perf_counter() - t0:.1f}s, "
                 f"test acc {float(test_acc.nanmean()):.3f}")
    tables = {"members": pd.DataFrame(members), "history": pd.DataFrame(history), "pretrain": pd.DataFrame(pre),
              "bn_stats": pd.DataFrame(bn_stats, columns=["source", "images", "seed", "bn_layer", "mean_shift",
                                                          "var_ratio"]),
              "settings": pd.DataFrame([{"slope_acc": p.slope_acc, "steps": p.steps, "depth": len(p.channels)}])}
    record(log, tables, CLAIMS, started)
    return tables


def benefits(steps: np.ndarray, acc: np.ndarray, threshold: float) -> dict:
    """Torrey & Shavlik's three measures from one learning curve (steps[0] = 0 is before target training):
    start = accuracy at the first point after training began; slope = first step with accuracy >= threshold
    (`steps_to_acc` NaN if never; `steps_capped` then counts the whole budget, a lower bound);
    asymptote = accuracy at the last point."""
    hit = np.flatnonzero(acc[1:] >= threshold)
    first = float(steps[1:][hit[0]]) if len(hit) else math.nan
    return {"initial_acc": float(acc[0]), "start_acc": float(acc[1]), "final_val_acc": float(acc[-1]),
            "steps_to_acc": first, "reached": bool(len(hit)), "steps_capped": first if len(hit) else float(steps[-1])}


# --- claims -----------------------------------------------------------------------------------------------------

GOOD_ACC = 0.8  # "classifies well": the frozen backbone's test accuracy interval must lie above this (chance 0.2)
FEW = 100  # the chapter's tutorial trains its new head on about this many labelled images in all


def _sel(t, net="plain", **where) -> pd.DataFrame:
    df = t["members"]
    df = df[df["net"] == net]
    for k, v in where.items():
        df = df[df[k] == v]
    return df


def _depth(t) -> int:
    return int(t["members"]["depth"].iloc[0])


def _cond(t, cond: str, n: int, net="plain", source="digits", bn_mode=None) -> pd.DataFrame:
    """One condition's members: scratch, finetune (freeze 0), frozen (freeze L), freeze<k>, two_stage."""
    if cond == "scratch":
        return _sel(t, net, source="none", labels=n)
    df = _sel(t, net, source=source, labels=n)
    if bn_mode:
        df = df[df["bn_mode"] == bn_mode]
    if cond == "two_stage":
        return df[df["method"] == "two_stage"]
    frozen = {"finetune": 0, "frozen": _depth(t)}.get(cond)
    frozen = int(cond.removeprefix("freeze")) if frozen is None else frozen
    return df[(df["method"] == "freeze") & (df["frozen"] == frozen)]


def _few(values) -> int | None:
    values = sorted({int(v) for v in values})
    return min(values, key=lambda n: abs(n * len(TARGET_CLASSES) - FEW)) if values else None


def decide_c13(t) -> Verdict:
    labels = sorted({int(v) for v in _sel(t)["labels"]})
    n = labels[0] if labels else None
    ft, sc = (_cond(t, "finetune", n), _cond(t, "scratch", n)) if n else (None, None)
    if n is None or ft.empty or sc.empty:
        return missing("C13", "scratch and fine-tuning from digits")
    s, slo, shi = paired_diff(ft, sc, "start_acc")
    k, klo, khi = paired_diff(ft, sc, "steps_capped")
    a, alo, ahi = paired_diff(ft, sc, "test_acc")
    thr = float(t["settings"]["slope_acc"].iloc[0])
    v = all_of(interval_verdict(slo, shi, 0.0), interval_verdict(klo, khi, 0.0, above=False),
               interval_verdict(alo, ahi, 0.0))
    nums = {"labels": n, "start_gain": s, "start_gain_lo": slo, "start_gain_hi": shi, "steps_change": k,
            "steps_change_lo": klo, "steps_change_hi": khi, "final_gain": a, "final_gain_lo": alo,
            "final_gain_hi": ahi, "slope_acc": thr}
    steps = f"{k:+.0f} [{klo:+.0f}, {khi:+.0f}]" if math.isfinite(klo) else f"{k:+.0f} (n<2)"
    return Verdict("C13", v, nums, {
        "ja": f"1 クラス {n} 枚のラベルで、数字 0–4 で事前学習して全体を微調整すると、ゼロからの学習に比べ開始時の正解率が "
              f"{points(s, slo, shi)}、検証正解率 {thr:.0%} に届くまでのステップ数が {steps}、最終テスト正解率が "
              f"{points(a, alo, ahi)} 変わった(基準: 開始 > 0、ステップ < 0、最終 > 0 のすべて)。",
        "en": f"With {n} labels per class, pretraining on digits 0–4 and fine-tuning everything changed, against "
              f"training from scratch, the start accuracy by {points(s, slo, shi)}, the steps to {thr:.0%} validation "
              f"accuracy by {steps} and the final test accuracy by {points(a, alo, ahi)} (rule: start > 0, steps < 0 "
              "and final > 0, all three)."})


def decide_c21(t) -> Verdict:
    n = _few(_sel(t)["labels"])
    fr, sc = (_cond(t, "frozen", n), _cond(t, "scratch", n)) if n else (None, None)
    nb = _few(_sel(t, "bn")["labels"])
    two, direct = ((_cond(t, "two_stage", nb, "bn", bn_mode="eval"), _cond(t, "finetune", nb, "bn", bn_mode="train"))
                   if nb else (None, None))
    if n is None or fr.empty or sc.empty or nb is None or two.empty or direct.empty:
        return missing("C21", "frozen backbone and scratch; BN two-stage and direct fine-tuning")
    g, glo, ghi = paired_diff(fr, sc)
    f, flo, fhi = mean_ci(fr["test_acc"].to_numpy())
    b, blo, bhi = paired_diff(two, direct)
    v = all_of(interval_verdict(glo, ghi, 0.0), interval_verdict(flo, fhi, GOOD_ACC), interval_verdict(blo, bhi, 0.0))
    nums = {"labels": n, "frozen_acc": f, "frozen_acc_lo": flo, "frozen_acc_hi": fhi, "gain": g, "gain_lo": glo,
            "gain_hi": ghi, "bn_labels": nb, "bn_gain": b, "bn_gain_lo": blo, "bn_gain_hi": bhi}
    acc = f"{f:.3f} [{max(flo, 0):.3f}, {min(fhi, 1):.3f}]" if math.isfinite(flo) else f"{f:.3f}"
    return Verdict("C21", v, nums, {
        "ja": f"ラベル計 {n * 5} 枚(1 クラス {n} 枚)で、固定した事前学習済み骨格+新しい出力層のテスト正解率は {acc}、"
              f"ゼロからとの差は {points(g, glo, ghi)}。BN 入りの骨格(計 {nb * 5} 枚)では、出力層を先に学習してから BN を"
              f"評価モードのまま全体を低い学習率で微調整すると、最初から全体を(BN 訓練モードで)微調整するのに比べ "
              f"{points(b, blo, bhi)}。基準: 固定骨格の正解率 > {GOOD_ACC:.0%}、ゼロからとの差 > 0、二段階の差 > 0。",
        "en": f"With {n * 5} labels in all ({n} per class), a frozen pretrained backbone with a new head reached test "
              f"accuracy {acc}, {points(g, glo, ghi)} against scratch. On a BN backbone ({nb * 5} labels), training the "
              f"head first and then everything at a low rate with BN in eval mode changed accuracy by "
              f"{points(b, blo, bhi)} against fine-tuning everything at once with BN in train mode. Rule: frozen "
              f"accuracy > {GOOD_ACC:.0%}, gain over scratch > 0, two-stage gain > 0."})


CLAIMS = [
    Claim("C13", "§27.2",
          {"ja": "転移学習は、ターゲットだけで学習する場合に比べ、開始時の性能が高く、学習曲線が急で、最終的な性能も高くなりやすい。",
           "en": "Transfer learning tends to give a better start, a steeper learning curve and a better final result "
                 "than learning the target task alone."},
          {"ja": "最少ラベル数で、微調整のゼロからに対する差(シード対応の 95% 区間)が、開始正解率 > 0、所定の正解率に届く"
                 "までのステップ数 < 0、最終テスト正解率 > 0 のすべてを満たせば支持。",
           "en": "Supported if, at the smallest label count, fine-tuning's paired 95% intervals against scratch lie above "
                 "0 for start accuracy, below 0 for the steps to the stated accuracy, and above 0 for final test "
                 "accuracy."}, decide_c13),
    Claim("C21", "§27.3.1",
          {"ja": "事前学習済みの骨格に新しい出力層を付ければ 100 枚程度のサンプルでよく分類できる。BN を含むなら、まず骨格を"
                 "固定して学習し、その後で学習率を下げて全体を微調整する。",
           "en": "A pretrained backbone with a new head, trained on about 100 samples, classifies well; with BN, "
                 "freeze first and then fine-tune everything at a low rate."},
          {"ja": f"計 100 枚に最も近いラベル数で、固定骨格のテスト正解率の区間が {GOOD_ACC:.0%} より上かつゼロからとの差の区間が 0 "
                 "より上、さらに BN 骨格で二段階(BN 評価モード)の直接微調整(BN 訓練モード)に対する差の区間が 0 より上なら支持。",
           "en": f"Supported if, at the label count closest to 100 in all, the frozen backbone's test accuracy interval "
                 f"lies above {GOOD_ACC:.0%} and its gain over scratch above 0, and on the BN backbone the two-stage "
                 "recipe (BN in eval mode) beats direct fine-tuning (BN in train mode) with an interval above 0."},
          decide_c21),
]


def summary_table(tables: dict, lang: str):
    """The three benefits per condition and label count (what the notebook shows)."""
    from study.studies import _transfer_report

    return _transfer_report.benefit_table(tables, lang)


def report(tables: dict, params: dict, lang: str) -> dict:
    """Setup, figures, tables and questions (in `_transfer_report.py`)."""
    from study.studies import _transfer_report

    return _transfer_report.report(tables, params, lang)

def params_dict(p: Params) -> dict:
    return asdict(p)
