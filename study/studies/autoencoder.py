"""Stacked autoencoders (§27.1.4): greedy layer-wise pretraining of a deep sigmoid MLP on digits, against the same
net from three random initialisations (the small fixed N(0, 0.01²), the pre-2010 uniform ±1/sqrt(fan_in), and
Xavier), and optionally against a sigmoid net with BatchNorm and ReLU nets.

The recipe is the classic one (Bengio et al. 2007; Vincent et al. 2010), in `study.engine.dae`: pixels scaled to
[0, 1], each layer a tied-weight denoising autoencoder with sigmoid encoder and decoder, cross-entropy
reconstruction of the clean input from a masked copy, uniform ±1/sqrt(fan_in) initial weights. Pretraining uses
every training image without its label; each layer is frozen before the next one trains on its codes. All seeds
are pretrained at once.

Two manipulation checks say whether the pretraining learned anything: every layer reconstructs held-out codes
clearly better than their mean, and a linear probe of the top code is not below one of the untrained stack's
codes. Fine-tuning then trains the whole net with a classifier head on a class-balanced labelled subset of each
size; every arm (configuration) chooses its learning rate from one shared grid by validation accuracy, all grid
points and seeds of a net family being one batched engine run. A seed shares its minibatch order across arms,
so differences are paired by seed.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study.claims import Claim, below, check, missing, record, verdict
from study.data.digits import raw_digits, split_indices
from study.data.used import note
from study.engine import dae
from study.engine import device as devices
from study.engine.measure import layer_gradients
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.stats import estimate
from study.engine.train import LINEAR_IN_LR, OPTIMIZERS, TrainSpec, evaluate, train
from study.engine.tuning import choose, diverged
from study.params import param

NAME = "autoencoder"
ORDER = 40
SECTIONS = "§27.1.4"
EXPECTED_SECONDS = 50

TRAIN_IMAGES = 1079  # the digits training split (60% of 1,797)

# configuration -> (activation, batchnorm, initialisation, pretrained). "uniform" is ±1/sqrt(fan_in).
CONFIGS = {
    "pretrained": ("sigmoid", False, "uniform", True),
    "normal001": ("sigmoid", False, "normal001", False),
    "uniform": ("sigmoid", False, "uniform", False),
    "xavier": ("sigmoid", False, "xavier", False),
    "sigmoid_bn": ("sigmoid", True, "xavier", False),
    "relu_he": ("relu", False, "he", False),
    "relu_bn": ("relu", True, "he", False),
}
BASELINES = ("normal001", "uniform", "xavier")  # the same deep sigmoid net from random initial weights


@dataclass
class Params:
    seeds: int = param(5, min=2, max=100, help="seeds per configuration (paired intervals need two)")
    depth: int = param(5, min=2, max=12, help="hidden layers of the deep sigmoid net")
    width: int = param(64, min=4, max=1024, help="units per hidden layer")
    configs: list[str] = param(["pretrained", *BASELINES], choices=list(CONFIGS),
                               help="arms: the pretrained net, its three random-init baselines, and optionally "
                                    "sigmoid_bn, relu_he, relu_bn")
    labels: list[int] = param([50, 200, TRAIN_IMAGES], min=10, max=TRAIN_IMAGES,
                              help="labelled-set sizes for fine-tuning, class-balanced (1079: all)")
    pretrain_epochs: int = param(15, min=1, max=1000, help="epochs per autoencoder layer")
    pretrain_lr: float = param(1e-2, gt=0, max=1, help="Adam's learning rate in pretraining")
    noise: float = param(0.1, min=0.0, max=0.9, help="masking noise: share of each input's values set to 0")
    steps: int = param(800, min=1, max=100_000, help="fine-tuning steps, the same for every labelled-set size")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lrs: list[float] = param([3e-3, 1e-2, 3e-2], gt=0, max=10,
                             help="fine-tuning learning-rate grid every arm chooses from (by validation accuracy)")
    ridge: float = param(1.0, gt=0, max=1e6, help="penalty of the linear probe (ridge regression on codes)")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if "pretrained" not in p.configs or not any(b in p.configs for b in BASELINES):
        raise ValueError(f"configs {p.configs} must include 'pretrained' and a random-init baseline "
                         f"({', '.join(BASELINES)}): the claim compares them")
    if len(set(p.labels)) != len(p.labels):
        raise ValueError(f"labels {p.labels} repeat a size")
    if len(p.lrs) > 1 and p.optimizer not in LINEAR_IN_LR:
        raise ValueError(f"optimizer {p.optimizer}: a learning-rate grid runs as members, which needs an "
                         "optimizer whose update is linear in its rate")


# --- data: the digits with pixels in [0, 1] ---------------------------------------------------------------------

def unit_digits(seed: int = 0) -> data.Split:
    """The digits split of `data.digits(seed)`, pixels scaled to [0, 1] and not standardised: the first
    autoencoder's cross-entropy treats each pixel as the probability of a Bernoulli unit."""
    x, y = raw_digits()
    tensors = []
    for idx in split_indices(len(y), seed):
        tensors += [torch.from_numpy(x[idx]), torch.from_numpy(y[idx]).long()]
    split = data.Split(*tensors)
    note("digits", "sklearn.datasets.load_digits (bundled, 1,797 8x8 images)", split, {"pixels": "[0, 1]"})
    return split


def balanced_subset(y: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of n training images, as class-balanced as possible: the first images of each class in the
    (already shuffled) split's order, taken round-robin over classes."""
    yy = y.cpu().numpy()
    rank = pd.Series(yy).groupby(yy).cumcount().to_numpy()  # position of each image within its class
    order = np.lexsort((np.arange(len(yy)), rank))  # all first-of-class, then all second-of-class, ...
    return torch.from_numpy(np.sort(order[:n])).to(y.device)


# --- pretraining and its checks ---------------------------------------------------------------------------------

def pretrain(p: Params, split: data.Split, seeds: list[int], progress=print):
    """The greedy stack and its tidy history: one row per (layer, epoch, seed) with the training loss, the
    relative reconstruction error on the training and the validation images' codes, and the variance of the
    layer's input (its codes' mean variance per unit)."""
    rows = []
    t0 = time.perf_counter()

    def done(layer, hist):
        progress(f"[{NAME}] pretrain layer {layer}/{p.depth}: relative error on held-out codes "
                 f"{float(hist[0]['rel_held_out'].mean()):.3f} -> {float(hist[-1]['rel_held_out'].mean()):.3f} "
                 f"({time.perf_counter() - t0:.1f}s)")

    stack, histories = dae.pretrain_stack(split.x_train, seeds, p.depth, p.width, p.pretrain_epochs, p.pretrain_lr,
                                          p.batch_size, p.noise, split.x_val, progress=done)
    for l, hist in enumerate(histories):
        var = dae.encode(stack[:l], split.x_train, len(seeds)).var(1, correction=0).mean(-1)
        for rec in hist:
            for k, s in enumerate(seeds):
                rows.append({"layer": l + 1, "epoch": rec["epoch"], "seed": s, "loss": float(rec["loss"][k]),
                             "rel_train": float(rec["rel_train"][k]), "rel_held_out": float(rec["rel_held_out"][k]),
                             "input_var": float(var[k])})
    return stack, pd.DataFrame(rows)


def probes(p: Params, split: data.Split, stack, seeds: list[int]) -> pd.DataFrame:
    """Linear probes (test accuracy) of the frozen codes of every layer, pretrained and untrained (the same
    stack at its initial weights), trained on each labelled subset; layer 0 is the pixels themselves."""
    untrained = dae.random_stack(seeds, split.n_features, p.width, p.depth)
    rows = []
    for n in sorted(p.labels):
        idx = balanced_subset(split.y_train, n)
        for codes, layers in (("pretrained", stack), ("untrained", untrained)):
            for l in range(p.depth + 1):
                acc = dae.ridge_probe(dae.encode(layers[:l], split.x_train[idx], len(seeds)), split.y_train[idx],
                                      dae.encode(layers[:l], split.x_test, len(seeds)), split.y_test, p.ridge)
                rows += [{"n_labels": n, "codes": codes, "layer": l, "seed": s, "probe_acc": float(acc[k])}
                         for k, s in enumerate(seeds)]
    return pd.DataFrame(rows)


# --- fine-tuning ------------------------------------------------------------------------------------------------

def _families(configs: list[str]):
    """Configurations that share one architecture train as one batched model: (activation, batchnorm) -> names."""
    fam = {}
    for c in configs:
        act, bn, _, _ = CONFIGS[c]
        fam.setdefault((act, bn), []).append(c)
    return fam


def build(p: Params, split: data.Split, stack, members: list[tuple[str, float, int]]) -> MemberMLP:
    """One batched net for members (config, lr, seed) of one family. Pretrained members take the autoencoders'
    encoder weights and biases in every hidden layer; their head and the 'uniform' members are uniform
    ±1/sqrt(fan_in) from the member's seed."""
    act, bn, _, _ = CONFIGS[members[0][0]]
    spec = MLPSpec(split.n_features, p.width, p.depth, split.n_classes, act, batchnorm=bn)
    schemes = [CONFIGS[c][2] for c, _, _ in members]
    model = MemberMLP(spec, [s for _, _, s in members], [("xavier" if s == "uniform" else s) for s in schemes])
    with torch.no_grad():
        for k, ((c, _, s), scheme) in enumerate(zip(members, schemes)):
            if scheme == "uniform":
                for l, lin in enumerate(model.linears):
                    lin.weight[k].copy_(dae.uniform_weights([s], *lin.weight.shape[1:], stream=100 + l)[0])
            if CONFIGS[c][3]:
                for lin, ae in zip(model.linears, stack):
                    lin.weight[k].copy_(ae.weight[s])
                    lin.bias[k].copy_(ae.bias[s])
    return model.to(split.x_train.device)


def finetune(p: Params, split: data.Split, stack, seeds: list[int], log, progress=print):
    """Every (labelled-set size, family): all arms × learning rates × seeds in one batched run. Returns the grid
    (one row per member) and the start-of-fine-tuning gradients per layer (largest labelled set)."""
    grid, grads = [], []
    jobs = [(n, names) for n in sorted(p.labels) for names in _families(p.configs).values()]
    for j, (n, names) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        idx = balanced_subset(split.y_train, n)
        members = [(c, lr, s) for c in names for lr in p.lrs for s in seeds]
        model = build(p, split, stack, members)
        if n == max(p.labels):
            g = layer_gradients(model, split.x_train[idx], split.y_train[idx])
            grads += [{"config": c, "seed": s, "layer": l + 1, "weight_grad": float(g["weight_grad"][k, l]),
                       "signal_grad": float(g["signal_grad"][k, l])}
                      for k, (c, lr, s) in enumerate(members) if lr == p.lrs[0] for l in range(p.depth)]
        bs = batch_for(n, p.batch_size)
        epochs = math.ceil(p.steps / (n // bs))
        # the loop's per-epoch validation pass would cost more than training at 1 step per epoch: validation
        # is scored once, at the end (the only place the choice uses it)
        sub = data.Split(split.x_train[idx], split.y_train[idx], split.x_val[:1], split.y_val[:1],
                         split.x_test, split.y_test)
        with np.errstate(invalid="ignore"):
            hist = train(model, sub, TrainSpec(p.optimizer, [lr for _, lr, _ in members], epochs, bs))
        val_loss, val_acc = evaluate(model, split.x_val, split.y_val)
        test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
        _, train_acc = evaluate(model, sub.x_train, sub.y_train)
        curve = torch.stack([h["train_loss"] for h in hist]).cpu().numpy()
        bad = diverged(curve, test_loss.cpu().numpy(), split.n_classes)
        for k, (c, lr, s) in enumerate(members):
            grid.append({"config": c, "n_labels": n, "lr": lr, "seed": s, "val_acc": float(val_acc[k]),
                         "val_loss": float(val_loss[k]), "test_acc": float(test_acc[k]),
                         "test_loss": float(test_loss[k]), "train_acc": float(train_acc[k]),
                         "final_train_loss": float(curve[-1, k]), "diverged": bool(bad[k])})
        chosen = choose_lrs(pd.DataFrame(grid[-len(members):]), p.lrs)
        log.metrics({f"test_acc/n{n}-{c}": float(chosen[chosen["config"] == c]["test_acc"].mean()) for c in names})
        progress(f"[{NAME}] {j}/{len(jobs)} n={n} {'/'.join(names)}: {len(members)} members, {epochs} epochs in "
                 f"{time.perf_counter() - t0:.1f}s, test acc " + ", ".join(
                     f"{c} {chosen[chosen['config'] == c]['test_acc'].mean():.3f}" for c in names))
    return pd.DataFrame(grid), pd.DataFrame(grads)


def batch_for(n: int, batch_size: int) -> int:
    """The minibatch size for n images: as close to batch_size as lets every epoch use all n in equal batches
    (50 images at 32 -> two batches of 25), all n when fewer."""
    return n // math.ceil(n / batch_size)


def choose_lrs(grid: pd.DataFrame, lrs: list[float]) -> pd.DataFrame:
    """Per (config, labelled-set size) the rows of the learning rate with the best mean validation accuracy
    (tuning.choose: never a rate where a seed diverged), with `lr_at_edge` when it sits at an end of the grid."""
    out = []
    for (c, n), g in grid.groupby(["config", "n_labels"], sort=False):
        seeds = sorted(set(g["seed"]))
        at = lambda col: np.array([[g[(g["lr"] == lr) & (g["seed"] == s)][col].iloc[0] for s in seeds]
                                   for lr in lrs])
        best = choose(lrs, at("val_acc"), at("val_loss"), at("diverged"))
        out.append(g[g["lr"] == lrs[best]].assign(lr_at_edge=len(lrs) > 1 and best in (0, len(lrs) - 1)))
    return pd.concat(out, ignore_index=True)


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    split = unit_digits(p.data_seed).to(dev)
    seeds = list(range(p.seeds))
    t0 = time.perf_counter()
    stack, recon = pretrain(p, split, seeds, progress)
    pretrain_seconds = time.perf_counter() - t0
    for epoch, g in recon.groupby("epoch"):
        log.metrics({f"recon_rel/layer{l}": float(v) for l, v in g.groupby("layer")["rel_held_out"].mean().items()},
                    step=int(epoch))
    probe = probes(p, split, stack, seeds)
    t0 = time.perf_counter()
    grid, grads = finetune(p, split, stack, seeds, log, progress)
    tables = {"members": choose_lrs(grid, p.lrs), "tuning": grid, "grads": grads, "recon": recon, "probe": probe,
              "cost": pd.DataFrame([{"pretrain_seconds": pretrain_seconds,
                                     "finetune_seconds": time.perf_counter() - t0,
                                     "pretrain_passes": p.depth * p.pretrain_epochs, "finetune_steps": p.steps}])}
    record(log, tables, CLAIMS, started, {"pretrain_seconds": pretrain_seconds})
    return tables


# --- claims -----------------------------------------------------------------------------------------------------

RECON_MAX = 0.5  # K1: every layer's held-out reconstruction error below half of the error of answering the mean
PROBE_MIN = 0.0  # K2: top-code probe minus untrained-code probe (at the smallest rule size) must not be below 0
CHANCE = 0.1  # ten digit classes
CHANCE_MARGIN = 0.10  # with the largest labelled set every arm must beat chance by 10 points...
MAY_FAIL = ("normal001",)  # ...except N(0, 0.01²): a deep sigmoid net that stays near chance from it is the
# vanishing gradient the claim is about, not a broken baseline (its number is reported all the same)
RULE_LABELS = (50, 200)  # the labelled-set sizes the rule is decided at
RATIO_MAX = 0.8  # "a clear gain": pretrained test error below 0.8 x the baseline's (a fifth of its errors gone)


def select(t, config, n, table="members"):
    m = t[table]
    return m[(m["config"] == config) & (m["n_labels"] == n)]


def error_ratio(t, config: str, n: int) -> pd.Series:
    """Per seed: the pretrained net's test error divided by the baseline `config`'s (paired by seed)."""
    j = select(t, "pretrained", n)[["seed", "test_acc"]].merge(select(t, config, n)[["seed", "test_acc"]],
                                                              on="seed", suffixes=("_pre", "_base"))
    return (1 - j["test_acc_pre"]) / (1 - j["test_acc_base"]).clip(lower=1e-9)


def final_recon(t) -> pd.Series:
    """Mean over seeds of each layer's relative reconstruction error on held-out codes after pretraining."""
    r = t["recon"]
    last = r[r["epoch"] == r["epoch"].max()]
    return last.groupby("layer")["rel_held_out"].mean()


def probe_gap(t, n: int, layer: int | None = None) -> pd.Series:
    """Per seed: probe accuracy of the pretrained codes minus the untrained stack's codes at `layer` (top)."""
    pr = t["probe"]
    layer = int(pr["layer"].max()) if layer is None else layer
    pr = pr[(pr["n_labels"] == n) & (pr["layer"] == layer)]
    j = pr[pr["codes"] == "pretrained"][["seed", "probe_acc"]].merge(
        pr[pr["codes"] == "untrained"][["seed", "probe_acc"]], on="seed", suffixes=("_pre", "_rand"))
    return (j["probe_acc_pre"] - j["probe_acc_rand"]).round(9)  # accuracies are k/N: equal ones give exactly 0


def decide_c18(t):
    m = t["members"]
    baselines = [b for b in BASELINES if b in set(m["config"])]
    if "pretrained" not in set(m["config"]) or not baselines:
        return missing("C18", "pretrained and a random-init baseline")
    if not set(RULE_LABELS) <= set(m["n_labels"]):
        return missing("C18", "labelled-set sizes " + " and ".join(map(str, RULE_LABELS)))
    checks = [check("recon", v, "<", RECON_MAX, f"layer{l}") for l, v in final_recon(t).items()]
    checks.append(check("probe", float(probe_gap(t, min(RULE_LABELS)).mean()), ">=", PROBE_MIN,
                        str(min(RULE_LABELS))))
    big = int(m["n_labels"].max())
    checks += [check("trains", float(select(t, c, big)["test_acc"].mean()), ">", CHANCE + CHANCE_MARGIN, f"{c}-{big}")
               for c in ["pretrained", *baselines] if c not in MAY_FAIL]
    parts = [below(f"ratio_{b}_n{n}", estimate(error_ratio(t, b, n)), RATIO_MAX, "num")
             for b in baselines for n in RULE_LABELS]
    numbers = {f"gain_{b}_n{n}": estimate((select(t, "pretrained", n).set_index("seed")["test_acc"]
                                          - select(t, b, n).set_index("seed")["test_acc"]).dropna())
               for b in baselines for n in sorted(set(m["n_labels"]))}
    numbers["probe_gap"] = estimate(probe_gap(t, min(RULE_LABELS)))
    numbers["recon_worst"] = float(final_recon(t).max())
    return verdict("C18", parts, checks, numbers)


CLAIMS = [Claim("C18", "§27.1.4", decide_c18, {"recon_max": RECON_MAX, "probe_min": PROBE_MIN,
                                               "chance_margin": CHANCE_MARGIN, "rule_labels": list(RULE_LABELS),
                                               "ratio_max": RATIO_MAX})]


def params_dict(p: Params) -> dict:
    return asdict(p)
