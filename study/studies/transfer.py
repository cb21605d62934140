"""Transfer learning (§27.2, §27.3.1): a small CNN pretrained on clean digits 0–4, moved to a harder target.

Target: digits 5–9 at lower contrast on a brighter background with fixed pixel noise (`study.data.degraded`),
preprocessed with the source's statistics, so that (a) a few labels per class no longer suffice from scratch and
(b) the statistics a pretrained BatchNorm layer stored do not fit the target. Each seed draws its own labelled
sample. Arms on a plain CNN, a 2×2 of backbone (pretrained, random) × what trains (everything, the new head
alone): scratch = random/all, fine-tune = pretrained/all, frozen = pretrained/head and the control
frozen random = random/head. On a BN CNN, a 2×2 of BN mode (train, eval) × schedule (direct: everything from
the start; two-stage: the head alone first, then everything).

Every arm chooses its learning rate from one shared grid on validation accuracy, with the same tuning seeds
(never reported) and the same number of steps (the two-stage arm tunes its second stage; its head stage runs at
`head_lr`). The chosen rate is re-run with the reported seeds; the same seed shares its labelled sample, its new
head's initial weights and its minibatch order across arms, so differences are paired by seed. Learning curves
are measured every `eval_every` steps.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study.claims import Claim, above, below, check, missing, record, verdict
from study.data.degraded import source_and_target
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.stats import estimate, paired
from study.engine.train import LINEAR_IN_LR, OPTIMIZERS, TrainSpec, evaluate, train
from study.engine.tuning import TUNE_SEED_BASE, choose
from study.params import param

NAME = "transfer"
ORDER = 60
SECTIONS = "§27.2, §27.3.1"
EXPECTED_SECONDS = 45  # quick profile, 1 thread, unloaded (measured: 44.6 s)

SOURCE_CLASSES = (0, 1, 2, 3, 4)  # pretraining only ever sees these digits
TARGET_CLASSES = (5, 6, 7, 8, 9)  # the target task, relabelled 0–4
PLAIN_ARMS = (("random", "all"), ("pretrained", "all"), ("pretrained", "head"), ("random", "head"))
BN_MODES = ("train", "eval")
SCHEDULES = ("direct", "two_stage")


@dataclass
class Params:
    seeds: int = param(5, min=2, max=100, help="seeds; each draws its own labelled sample (paired intervals need two)")
    labels: list[int] = param([2, 20], min=1, max=100, help="labelled target images per class (plain CNN)")
    bn: bool = param(True, help="also run the BN mode x schedule factorial on a BatchNorm CNN")
    bn_labels: int = param(20, min=1, max=100, help="labels per class for the BN factorial")
    noise: float = param(0.3, min=0, max=5, help="std of the fixed pixel noise, source and target (raw pixels "
                                                 "lie in [0, 1])")
    contrast: float = param(0.5, gt=0, max=2, help="target only: its ink is scaled by this")
    offset: float = param(0.7, min=-2, max=2, help="target only: added to every pixel (a brighter background)")
    channels: list[int] = param([8, 16, 16], min=1, max=256, help="3x3 conv blocks (2x2 pooling after the 2nd)")
    pretrain_epochs: int = param(20, min=1, max=1000)
    pretrain_lr: float = param(0.01, gt=0, max=10)
    steps: int = param(150, min=1, max=100_000, help="target training steps, the same for every arm")
    eval_every: int = param(10, min=1, max=10_000, help="steps between points of a learning curve")
    lrs: list[float] = param([1e-3, 3e-3, 1e-2, 3e-2], gt=0, max=10,
                             help="learning-rate grid every arm is tuned on")
    tune_seeds: int = param(2, min=1, max=20, help="seeds (1000, 1001, ...) the grid is scored on")
    head_lr: float = param(0.01, gt=0, max=10, help="two-stage: rate of the head-only first stage")
    head_fraction: float = param(0.5, gt=0, max=0.95, help="two-stage: share of the steps spent on the head alone")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if len(p.channels) < 2:
        raise ValueError(f"channels {p.channels}: need at least 2 conv blocks (pooling follows the 2nd)")
    if len(set(p.labels)) != len(p.labels):
        raise ValueError(f"labels {p.labels} lists a value twice")
    if p.eval_every > p.steps:
        raise ValueError(f"eval_every {p.eval_every} exceeds steps {p.steps}")
    if len(p.lrs) > 1 and p.optimizer not in LINEAR_IN_LR:
        raise ValueError(f"optimizer {p.optimizer}: a learning-rate grid runs as members, which needs an "
                         "optimizer whose update is linear in its rate")


# --- data: each member's own labelled sample -------------------------------------------------------------------

class MemberRows:
    """A training set per member, shaped for `engine.train`: row i of member k is rows[k, i % n].

    `len()` counts `reps` passes over the n rows, so that one engine "epoch" (after which the engine evaluates)
    lasts about `eval_every` steps whatever the label count.
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


def target_split(target, per_class: int, seeds: list[int], p: Params):
    from study.data import Split

    idx = sample_labels(target.y_train, per_class, seeds, p.data_seed)
    bs, reps, spe = schedule(idx.shape[1], p)
    split = Split(MemberRows(target.x_train[idx], reps), MemberRows(target.y_train[idx], reps),
                  target.x_val, target.y_val, target.x_test, target.y_test)
    return split, bs, spe


# --- models: pretrain, transplant, freeze ----------------------------------------------------------------------

def spec_for(p: Params, net: str) -> CNNSpec:
    blocks = ("bn act",) * len(p.channels) if net == "bn" else ()
    return CNNSpec(channels=tuple(p.channels), pool_after=(2,), d_out=len(TARGET_CLASSES), side=8, blocks=blocks)


def backbone_state(model: MemberCNN) -> dict:
    return {k: {n: v.detach().clone() for n, v in getattr(model, k).state_dict().items()} for k in ("convs", "blocks")}


def members_of(backbone: dict, rows: list[int]) -> dict:
    """The backbone state of some members (every tensor has the member dimension first)."""
    return {k: {n: v[rows].clone() for n, v in part.items()} for k, part in backbone.items()}


def transplant(model: MemberCNN, backbone: dict) -> MemberCNN:
    """Copy a pretrained backbone (conv weights, BN parameters and statistics) into `model`; its head stays new."""
    model.convs.load_state_dict(backbone["convs"])
    model.blocks.load_state_dict(backbone["blocks"])
    return model


def freeze_backbone(model: MemberCNN) -> list[torch.nn.Parameter]:
    """Stop gradients into every conv block (conv and BN parameters), for every member; returns them. Their
    gradients stay None, so torch's optimizers skip them (no momentum, no weight decay)."""
    frozen = [q for l in range(len(model.convs)) for mod in (model.convs[l], model.blocks[l]) for q in mod.parameters()]
    for q in frozen:
        q.requires_grad_(False)
    return frozen


def unfreeze(model: MemberCNN):
    for q in model.parameters():
        q.requires_grad_(True)


def pretrain(source, p: Params, net: str, seeds: list[int], dev) -> tuple[dict, torch.Tensor, MemberCNN]:
    """Train the source task; return the backbone's state, each member's source test accuracy and the model."""
    model = MemberCNN(spec_for(p, net), seeds, "he").to(dev)
    train(model, source, TrainSpec(p.optimizer, p.pretrain_lr, p.pretrain_epochs, p.batch_size))
    _, acc = evaluate(model, source.x_test, source.y_test)
    return backbone_state(model), acc, model


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
    backbone: str  # "pretrained" or "random"
    trains: str  # "all" (everything from the start), "head" (frozen backbone) or "two_stage" (head, then all)
    bn_mode: str  # "train" or "eval" for BN layers while training on the target; "none" on the plain net
    labels: int

    @property
    def arm(self) -> str:
        """The arm's name, also the key of its words in the report: scratch, finetune, frozen, frozen_random,
        or bn_<schedule>_<mode>."""
        if self.net == "bn":
            return f"bn_{'two_stage' if self.trains == 'two_stage' else 'direct'}_{self.bn_mode}"
        return {("random", "all"): "scratch", ("pretrained", "all"): "finetune", ("pretrained", "head"): "frozen",
                ("random", "head"): "frozen_random"}[self.backbone, self.trains]

    @property
    def tag(self) -> str:
        return f"{self.arm}/n{self.labels}"


def jobs_for(p: Params) -> list[Job]:
    out = [Job("plain", b, t, "none", n) for n in p.labels for b, t in PLAIN_ARMS]
    if p.bn:
        out += [Job("bn", "pretrained", "two_stage" if s == "two_stage" else "all", m, p.bn_labels)
                for s in SCHEDULES for m in BN_MODES]
    return out


def fit(job: Job, p: Params, split, bs: int, spe: int, backbone: dict | None, seeds: list[int], lr, dev,
        on_epoch=None):
    """Train one arm on the target at `lr` (one value or one per member). Returns the model, its learning curve
    [(step, val_acc per member)] and whether each member diverged."""
    model = MemberCNN(spec_for(p, job.net), seeds, "he").to(dev)
    if backbone is not None:
        transplant(model, backbone)
    keep_eval = model.norms() if job.bn_mode == "eval" else []
    epochs = max(1, round(p.steps / spe))
    curve = [(0, evaluate(model, split.x_val, split.y_val)[1])]
    losses = []

    def stage(rate, n_epochs):
        if n_epochs < 1:
            return
        start = len(curve) - 1
        hist = train(model, split, TrainSpec(p.optimizer, rate, n_epochs, bs),
                     on_epoch=(lambda e, r: on_epoch(start + e, r)) if on_epoch else None, eval_modules=keep_eval)
        curve.extend(((start + h["epoch"]) * spe, h["val_acc"]) for h in hist)
        losses.extend(h["train_loss"] for h in hist)

    if job.trains == "two_stage":
        first = min(epochs - 1, max(1, round(epochs * p.head_fraction)))
        freeze_backbone(model)
        stage(p.head_lr, first)
        unfreeze(model)
        stage(lr, epochs - first)
    else:
        if job.trains == "head":
            freeze_backbone(model)
        stage(lr, epochs)
    diverged = ~torch.stack(losses).isfinite().all(0)
    return model, curve, diverged


def tune(job: Job, p: Params, target, backbone, dev) -> tuple[float, list[dict]]:
    """Choose the arm's rate from the grid: every (rate, tuning seed) is one member of one engine run, each
    tuning seed with its own labelled sample and (`backbone(seeds)`, None for a random start) its own pretrained
    backbone; the choice is the best final validation accuracy (tuning.choose)."""
    tune_seeds = [TUNE_SEED_BASE + s for s in range(p.tune_seeds)]
    if len(p.lrs) == 1:
        return p.lrs[0], []
    seeds = [s for _ in p.lrs for s in tune_seeds]
    rates = [lr for lr in p.lrs for _ in tune_seeds]
    split, bs, spe = target_split(target, job.labels, seeds, p)
    model, _, diverged = fit(job, p, split, bs, spe, backbone(seeds), seeds, rates, dev)
    val_loss, val_acc = (t.cpu().numpy().reshape(len(p.lrs), len(tune_seeds))
                         for t in evaluate(model, split.x_val, split.y_val))
    div = diverged.cpu().numpy().reshape(val_acc.shape)
    best = choose(p.lrs, val_acc, val_loss, div)
    rows = [{"arm": job.arm, "labels": job.labels, "lr": lr, "tune_seed": s, "val_acc": float(val_acc[i, j]),
             "val_loss": float(val_loss[i, j]), "diverged": bool(div[i, j]), "chosen": i == best}
            for i, lr in enumerate(p.lrs) for j, s in enumerate(tune_seeds)]
    return p.lrs[best], rows


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    seeds = list(range(p.seeds))
    tune_seeds = [TUNE_SEED_BASE + s for s in range(p.tune_seeds)]
    source, target = (s.to(dev) for s in source_and_target(p.data_seed, p.noise, p.contrast, p.offset))
    short = min(int((target.y_train == c).sum()) for c in range(len(TARGET_CLASSES)))
    if max(p.labels + [p.bn_labels]) > short:
        raise ValueError(f"labels {p.labels}/{p.bn_labels}: the target's smallest class has only {short} training "
                         f"images with data_seed {p.data_seed}")
    jobs = jobs_for(p)
    nets = sorted({j.net for j in jobs})
    backbones, pre, bn_stats = {}, [], []
    everyone = seeds + tune_seeds  # the tuning seeds get backbones of their own, pretrained alongside
    for net in nets:
        t0 = time.perf_counter()
        backbones[net], acc, model = pretrain(source, p, net, everyone, dev)
        pre += [{"net": net, "seed": s, "source_test_acc": float(acc[k])} for k, s in enumerate(everyone)
                if s in seeds]
        if net == "bn":  # the source's own images are the reference: there the stored statistics fit
            for images, x in (("source", source.x_train), ("target", target.x_train)):
                mm = bn_mismatch(model, x)
                bn_stats += [{"images": images, "seed": s, "bn_layer": l + 1,
                              "mean_shift": float(mm["mean_shift"][k, l]), "var_ratio": float(mm["var_ratio"][k, l])}
                             for k, s in enumerate(everyone) if s in seeds for l in range(mm["mean_shift"].shape[1])]
        progress(f"[{NAME}] pretrain {net}: {len(everyone)} members in {time.perf_counter() - t0:.1f}s, "
                 f"source test acc {float(acc[:len(seeds)].mean()):.3f}")
    rows_of = {s: k for k, s in enumerate(everyone)}
    members, history, grid = [], [], []
    for i, job in enumerate(jobs, 1):
        t0 = time.perf_counter()
        pretrained = job.backbone == "pretrained"
        bb = lambda ss: members_of(backbones[job.net], [rows_of[s] for s in ss]) if pretrained else None
        lr, rows = tune(job, p, target, bb, dev)
        grid += rows
        split, bs, spe = target_split(target, job.labels, seeds, p)

        def on_epoch(epoch, rec, tag=job.tag, spe=spe):
            log.metrics({f"val_acc/{tag}": float(np.nanmean(rec["val_acc"].cpu()))}, step=epoch * spe)

        model, curve, diverged = fit(job, p, split, bs, spe, bb(seeds), seeds, lr, dev, on_epoch)
        _, test_acc = evaluate(model, split.x_test, split.y_test)
        key = {"arm": job.arm, **asdict(job)}
        steps = np.array([s for s, _ in curve])
        accs = torch.stack([a for _, a in curve], 1).cpu().numpy()  # (M, points)
        for k, seed in enumerate(seeds):
            history += [{**key, "seed": seed, "step": int(s), "val_acc": float(a)} for s, a in zip(steps, accs[k])]
            members.append({**key, "seed": seed, "lr": lr, "lr_at_edge": lr in (min(p.lrs), max(p.lrs)),
                            "diverged": bool(diverged[k]), "test_acc": float(test_acc[k]),
                            "start_acc": float(accs[k, 1]), "final_val_acc": float(accs[k, -1])})
        progress(f"[{NAME}] {i}/{len(jobs)} {job.tag}: lr {lr:g}, {len(seeds)} members in "
                 f"{time.perf_counter() - t0:.1f}s, test acc {float(test_acc.nanmean()):.3f}")
    tables = {"members": pd.DataFrame(members), "history": pd.DataFrame(history), "pretrain": pd.DataFrame(pre),
              "tuning": pd.DataFrame(grid, columns=["arm", "labels", "lr", "tune_seed", "val_acc", "val_loss",
                                                    "diverged", "chosen"]),
              "bn_stats": pd.DataFrame(bn_stats, columns=["images", "seed", "bn_layer", "mean_shift", "var_ratio"])}
    record(log, tables, CLAIMS, started, {f"test_acc/{a}/n{n}": float(g["test_acc"].mean())
                                         for (a, n), g in tables["members"].groupby(["arm", "labels"])})
    return tables


# --- measures read off the logged tables -------------------------------------------------------------------------

def select(t, arm: str, labels: int | None = None) -> pd.DataFrame:
    m = t["members"]
    m = m[m["arm"] == arm]
    return m if labels is None else m[m["labels"] == labels]


def steps_to(t, arm: str, labels: int, level: float) -> pd.DataFrame:
    """Per seed, the first step after training began whose validation accuracy reaches `level`; a seed that
    never does counts the whole budget (a lower bound). Columns seed, steps, reached."""
    h = t["history"]
    h = h[(h["arm"] == arm) & (h["labels"] == labels) & (h["step"] > 0)]
    rows = []
    for seed, g in h.sort_values("step").groupby("seed"):
        hit = g[g["val_acc"] >= level]
        rows.append({"seed": seed, "steps": float(hit["step"].iloc[0] if len(hit) else g["step"].max()),
                     "reached": bool(len(hit))})
    return pd.DataFrame(rows, columns=["seed", "steps", "reached"])


def plain_labels(t) -> list[int]:
    m = t["members"]
    return sorted({int(v) for v in m[m["net"] == "plain"]["labels"]})


def few(labels: list[int]) -> int | None:
    """The label count per class closest to the chapter's ~100 labelled images in all."""
    return min(labels, key=lambda n: (abs(n * len(TARGET_CLASSES) - FEW), n)) if labels else None


def bn_shift(t, images: str = "target") -> float:
    """Mean over seeds of the first BN layer's mean shift (stored standard deviations) on these images."""
    s = t["bn_stats"]
    s = s[(s["images"] == images) & (s["bn_layer"] == 1)]
    return float(s["mean_shift"].mean()) if len(s) else math.nan


def effect(t, plus: list[str], minus: list[str], labels: int) -> pd.DataFrame:
    """Per seed, the mean test accuracy of the `plus` arms minus that of the `minus` arms (a factorial contrast)."""
    def mean_of(arms):
        return pd.concat([select(t, a, labels)[["seed", "test_acc"]] for a in arms]).groupby("seed").mean()
    d = (mean_of(plus) - mean_of(minus)).dropna().reset_index()
    return d


# --- claims -----------------------------------------------------------------------------------------------------

CHANCE = 0.2  # five target classes
TRAINS_MARGIN = 0.05  # scratch must beat chance by 5 points, or there is no learning curve to compare with
HARD_CEILING = 0.80  # ...and stay below 0.80 test accuracy, or the target leaves transfer no room to show
SOURCE_MIN = 0.90  # the pretrained backbones must classify their own source (digits 0–4) above 0.90
SLOPE_ACC = 0.40  # slope: steps until validation accuracy first reaches 0.40 (chance 0.2)
GOOD_ACC = 0.80  # "classifies well": the frozen pretrained backbone's test accuracy interval lies above 0.80
FEW = 100  # the chapter's tutorial trains its new head on about this many labelled images in all
FEATURE_MIN = 0.0  # precondition of C21: frozen pretrained features beat frozen random ones (paired lower bound)
BN_SHIFT_MIN = 0.5  # the target must move the first BN layer's input mean by > 0.5 stored standard deviations


def decide_c13(t):
    labels = plain_labels(t)
    n = labels[0] if labels else None
    if n is None or select(t, "finetune", n).empty or select(t, "scratch", n).empty or t["pretrain"].empty:
        return missing("C13", "scratch and fine-tuning on the plain CNN")
    ft, sc = select(t, "finetune", n), select(t, "scratch", n)
    scratch_acc = float(sc["test_acc"].mean())
    pre = t["pretrain"]
    checks = [check("source", float(pre[pre["net"] == "plain"]["source_test_acc"].mean()), ">", SOURCE_MIN, "plain"),
              check("trains", scratch_acc, ">", CHANCE + TRAINS_MARGIN, f"scratch-{n}"),
              check("hard", scratch_acc, "<", HARD_CEILING, f"scratch-{n}")]
    k_ft, k_sc = steps_to(t, "finetune", n, SLOPE_ACC), steps_to(t, "scratch", n, SLOPE_ACC)
    parts = [above("start", paired(ft, sc, "start_acc"), 0.0, "pt"),
             below("slope", paired(k_ft, k_sc, "steps"), 0.0, "num"),
             above("final", paired(ft, sc), 0.0, "pt")]
    numbers = {"labels": n, "scratch": estimate(sc["test_acc"]), "finetune": estimate(ft["test_acc"]),
               "reached_finetune": int(k_ft["reached"].sum()), "reached_scratch": int(k_sc["reached"].sum()),
               "seeds": len(ft), "lr_finetune": float(ft["lr"].iloc[0]), "lr_scratch": float(sc["lr"].iloc[0])}
    return verdict("C13", parts, checks, numbers)


def decide_c21(t):
    n = few(plain_labels(t))
    arms = ("frozen", "scratch", "frozen_random")
    bn_arms = [f"bn_{s}_{m}" for s in SCHEDULES for m in BN_MODES]
    m = t["members"]
    nb = int(m[m["net"] == "bn"]["labels"].iloc[0]) if (m["net"] == "bn").any() else None
    if n is None or any(select(t, a, n).empty for a in arms) or nb is None or \
            any(select(t, a, nb).empty for a in bn_arms):
        return missing("C21", "scratch, frozen pretrained and frozen random backbones; the BN factorial")
    fr, sc, rnd = (select(t, a, n) for a in arms)
    features = paired(fr, rnd)
    pre = t["pretrain"]
    checks = [check("source", float(pre[pre["net"] == "plain"]["source_test_acc"].mean()), ">", SOURCE_MIN, "plain"),
              check("source", float(pre[pre["net"] == "bn"]["source_test_acc"].mean()), ">", SOURCE_MIN, "bn"),
              check("features", features.lo, ">", FEATURE_MIN),
              check("bn_shift", bn_shift(t), ">", BN_SHIFT_MIN)]
    schedule_effect = effect(t, [f"bn_two_stage_{m}" for m in BN_MODES], [f"bn_direct_{m}" for m in BN_MODES], nb)
    mode_effect = effect(t, [f"bn_{s}_eval" for s in SCHEDULES], [f"bn_{s}_train" for s in SCHEDULES], nb)
    inter = effect(t, ["bn_two_stage_eval", "bn_direct_train"], ["bn_two_stage_train", "bn_direct_eval"], nb)
    parts = [above("good", estimate(fr["test_acc"]), GOOD_ACC, "acc"),
             above("gain", paired(fr, sc), 0.0, "pt"),
             above("bn_schedule", estimate(schedule_effect["test_acc"]), 0.0, "pt")]
    numbers = {"labels": n, "bn_labels": nb, "features": features, "frozen_random": estimate(rnd["test_acc"]),
               "scratch": estimate(sc["test_acc"]), "bn_mode": estimate(mode_effect["test_acc"]),
               "bn_interaction": estimate(2 * inter["test_acc"]),  # (a-b)-(c-d) = 2 x the mean contrast
               "recipe_vs_naive": paired(select(t, "bn_two_stage_eval", nb), select(t, "bn_direct_train", nb)),
               "bn_shift_target": bn_shift(t), "bn_shift_source": bn_shift(t, "source")}
    return verdict("C21", parts, checks, numbers)


CLAIMS = [
    Claim("C13", "§27.2", decide_c13, {"slope_acc": SLOPE_ACC, "chance": CHANCE, "trains_margin": TRAINS_MARGIN,
                                       "hard_ceiling": HARD_CEILING, "source_min": SOURCE_MIN}),
    Claim("C21", "§27.3.1", decide_c21, {"good_acc": GOOD_ACC, "few": FEW, "source_min": SOURCE_MIN,
                                         "feature_min": FEATURE_MIN, "bn_shift_min": BN_SHIFT_MIN}),
]


def params_dict(p: Params) -> dict:
    return asdict(p)
