"""CNN vs MLP (§27.1.5): does a CNN use the 2-D neighbourhood of pixels that a fully connected net ignores?

Two tests, each arm with its own learning rate chosen on validation data from one shared grid and budget:

- *Neighbourhood*: a small CNN (conv-pool-conv-pool-linear) and an MLP with about as many parameters, on the
  8x8 digits as they are and on the same images under one fixed, seeded pixel permutation. The permutation
  keeps every pixel's information but destroys every neighbourhood: an MLP cannot tell the difference, a CNN
  should lose its edge. The claim is decided on that interaction, paired by seed. The trained nets are also
  tested on images shifted by one pixel.
- *Harder images*: the same digits enlarged and placed at a random offset on a larger canvas
  (`data.canvas`), where position varies as in real photographs: CNN against the parameter-matched MLP, with
  a wide MLP (many times the parameters) beside them as the baseline a practitioner might reach for.

Each (network, task) is one batched engine run over seeds; a seed shares its minibatch order across runs.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study.claims import Claim, above, check, missing, record, verdict
from study.params import param
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.stats import estimate, paired
from study.engine.train import LINEAR_IN_LR, OPTIMIZERS, TrainSpec, evaluate
from study.engine.tuning import tune_then_train

NAME = "cnn_vs_mlp"
ORDER = 45
SECTIONS = "§27.1.5"

SIDE = 8
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (dx, dy): one pixel right, left, down, up
ARCHS = ("cnn", "mlp")
ORDERS = ("original", "permuted")
CANVAS_ARCHS = ("cnn", "mlp", "wide")


@dataclass
class Params:
    seeds: int = param(8, min=2, max=100, help="seeds per configuration (paired intervals need two)")
    cnn_channels: list[int] = param([8, 16], min=1, max=256, help="channels of the two 3x3 conv layers")
    mlp_depth: int = param(1, min=1, max=8, help="hidden layers of the MLP; its width is chosen to match the "
                                                 "CNN's parameter count")
    perm_seed: int = param(2718, min=0, help="seed of the one fixed pixel permutation")
    epochs: int = param(20, min=1, max=1000, help="epochs on the 8x8 digits (every arm)")
    lrs: list[float] = param([1e-3, 3e-3, 1e-2, 3e-2], gt=0, max=10, help="learning-rate grid every arm is tuned on")
    tune_seeds: int = param(2, min=1, max=20, help="seeds (1000, 1001, ...) the grid is scored on")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    canvas: bool = param(True, help="also run the harder task (digits at a random place on a larger canvas)")
    canvas_side: int = param(20, min=8, max=64, help="side of the canvas in pixels")
    canvas_scale: float = param(1.5, min=1.0, max=8.0, help="how much each 8x8 digit is enlarged")
    canvas_seeds: int = param(5, min=2, max=100)
    canvas_epochs: int = param(15, min=1, max=1000)
    wide_width: int = param(256, min=1, max=4096, help="width of the wide reference MLP on the canvas")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if len(p.cnn_channels) != 2:
        raise ValueError(f"cnn_channels {p.cnn_channels}: the study's CNN has exactly two conv layers "
                         "(conv-pool-conv-pool-linear)")
    if p.batch_size > 1000:
        raise ValueError(f"batch_size {p.batch_size} exceeds the training set (1,079 images)")
    if round(8 * p.canvas_scale) > p.canvas_side:
        raise ValueError(f"canvas_scale {p.canvas_scale}: an enlarged digit ({round(8 * p.canvas_scale)} pixels) "
                         f"does not fit canvas_side {p.canvas_side}")
    if len(p.lrs) > 1 and p.optimizer not in LINEAR_IN_LR:
        raise ValueError(f"optimizer {p.optimizer}: a learning-rate grid runs as members, which needs an "
                         "optimizer whose update is linear in its rate")


# --- the two image transformations ------------------------------------------------------------------------------

def pixel_permutation(seed: int, n: int = SIDE * SIDE) -> torch.Tensor:
    """One fixed permutation of the n pixel positions, a function of its seed only."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(n))


def permute(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Scramble flattened images (N, n): new pixel i is old pixel perm[i]. Undo with permute(x, perm.argsort())."""
    return x[:, perm.to(x.device)]


def blank_pixels(x_train: torch.Tensor) -> torch.Tensor:
    """What an empty (raw 0) pixel looks like after standardisation: each pixel's training-set minimum, since
    every pixel of the digits is 0 in some training image."""
    return x_train.min(0).values


def shift(x: torch.Tensor, dx: int, dy: int, blank: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """Move flattened side x side images by dx columns (right > 0) and dy rows (down > 0); the pixels that
    come in from the border are blank."""
    img = x.view(-1, side, side)
    out = blank.view(1, side, side).expand_as(img).clone()
    rows_to, rows_from = slice(max(dy, 0), side + min(dy, 0)), slice(max(-dy, 0), side - max(dy, 0))
    cols_to, cols_from = slice(max(dx, 0), side + min(dx, 0)), slice(max(-dx, 0), side - max(dx, 0))
    out[:, rows_to, cols_to] = img[:, rows_from, cols_from]
    return out.reshape(x.shape)


# --- the networks -----------------------------------------------------------------------------------------------

def cnn_spec(p: Params, side: int = SIDE, classes: int = 10) -> CNNSpec:
    return CNNSpec(channels=tuple(p.cnn_channels), pool_after=(1, 2), d_out=classes, side=side)


def count(model) -> int:
    """Parameters of one member."""
    return sum(t.numel() for t in model.parameters()) // model.members


def mlp_params(d_in: int, width: int, depth: int, d_out: int) -> int:
    return (d_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * d_out


def matching_width(target: int, d_in: int, depth: int, d_out: int) -> int:
    """The MLP width whose parameter count is closest to `target`."""
    return min(range(1, 4097), key=lambda w: (abs(mlp_params(d_in, w, depth, d_out) - target), w))


def builder(arch: str, p: Params, split, side: int):
    """A function of the seeds that builds one arm's batched model."""
    spec = cnn_spec(p, side, split.n_classes)
    if arch == "cnn":
        return lambda seeds: MemberCNN(spec, seeds, "he").to(split.x_train.device)
    width = p.wide_width if arch == "wide" else matching_width(count(MemberCNN(spec, [0])), split.n_features,
                                                               p.mlp_depth, split.n_classes)
    mlp = MLPSpec(split.n_features, width, p.mlp_depth if arch == "mlp" else 1, split.n_classes, "relu")
    return lambda seeds: MemberMLP(mlp, seeds, "he").to(split.x_train.device)


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    split = data.digits(p.data_seed, per_pixel=False).to(dev)
    perm, blank = pixel_permutation(p.perm_seed), blank_pixels(split.x_train)
    members, shifted, filters, sizes, grid = [], [], [], [], []
    jobs = [("digits", a, o) for a in ARCHS for o in ORDERS]
    if p.canvas:
        jobs += [("canvas", a, "original") for a in CANVAS_ARCHS]
        wide = data.canvas(p.data_seed, p.canvas_side, p.canvas_scale).to(dev)
    for j, (task, arch, order) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        scramble = (lambda x: permute(x, perm)) if order == "permuted" else (lambda x: x)
        s = (data.Split(*(scramble(t) if t.dtype.is_floating_point else t for t in vars(split).values()))
             if task == "digits" else wide)
        side = SIDE if task == "digits" else p.canvas_side
        seeds = list(range(p.seeds if task == "digits" else p.canvas_seeds))
        tag = f"{task}-{arch}-{order}"

        def on_epoch(epoch, rec):
            log.metrics({f"val_acc/{tag}": float(np.nanmean(rec["val_acc"].cpu())),
                         f"train_loss/{tag}": float(np.nanmean(rec["train_loss"].cpu()))}, step=epoch)

        make = builder(arch, p, s, side)
        w0 = make(seeds).convs[0].weight.detach().clone() if arch == "cnn" else None
        epochs = p.epochs if task == "digits" else p.canvas_epochs
        tuned = tune_then_train(make, s, TrainSpec(p.optimizer, p.lrs[0], epochs, p.batch_size), p.lrs,
                                p.tune_seeds, seeds, on_epoch)
        model = tuned.model
        grid += [{"task": task, "arch": arch, "order": order, **row} for row in tuned.grid]
        sizes.append({"task": task, "arch": arch, "order": order, "params": count(model),
                      "width": model.spec.width if arch != "cnn" else 0, "lr": tuned.lr, "lr_at_edge": tuned.at_edge})
        # how far training moved the first-layer filters from their initial values (relative, per member)
        moved = ((model.convs[0].weight.detach() - w0).flatten(1).norm(dim=1) / w0.flatten(1).norm(dim=1)
                 if arch == "cnn" else torch.full((len(seeds),), math.nan))
        test_loss, test_acc = evaluate(model, s.x_test, s.y_test)
        _, train_acc = evaluate(model, s.x_train, s.y_train)
        shift_acc = torch.full((len(seeds),), math.nan)
        if task == "digits":
            by_shift = []
            for dx, dy in SHIFTS:  # shift the picture, then scramble it as the net was trained to see it
                _, acc = evaluate(model, scramble(shift(split.x_test, dx, dy, blank)), split.y_test)
                by_shift.append(acc)
                shifted += [{"arch": arch, "order": order, "seed": sd, "dx": dx, "dy": dy, "test_acc": float(acc[k])}
                            for k, sd in enumerate(seeds)]
            shift_acc = torch.stack(by_shift).mean(0)
        for k, sd in enumerate(seeds):
            losses = [float(h["train_loss"][k]) for h in tuned.history]
            members.append({"task": task, "arch": arch, "order": order, "seed": sd, "lr": tuned.lr,
                            "test_acc": float(test_acc[k]), "test_loss": float(test_loss[k]),
                            "train_acc": float(train_acc[k]), "shift_acc": float(shift_acc[k]),
                            "filter_change": float(moved[k]), "final_train_loss": losses[-1],
                            "diverged": not all(map(math.isfinite, losses))})
        if arch == "cnn" and task == "digits":
            w = model.convs[0].weight.detach().cpu()  # (M, c_out, 1, 3, 3)
            filters += [{"order": order, "seed": sd, "filter": f, "row": r, "col": c, "weight": float(w[k, f, 0, r, c])}
                        for k, sd in enumerate(seeds) for f in range(w.shape[1]) for r in range(3) for c in range(3)]
        progress(f"[{NAME}] {j}/{len(jobs)} {tag}: lr {tuned.lr:g}, {len(seeds)} members in "
                 f"{time.perf_counter() - t0:.1f}s, test acc {float(test_acc.nanmean()):.3f}")
    tables = {"members": pd.DataFrame(members), "shifts": pd.DataFrame(shifted), "filters": pd.DataFrame(filters),
              "sizes": pd.DataFrame(sizes), "tuning": pd.DataFrame(grid),
              "permutation": pd.DataFrame({"position": range(len(perm)), "source_pixel": perm.numpy()})}
    record(log, tables, CLAIMS, started, {f"test_acc/{t}-{a}-{o}": float(g["test_acc"].mean())
                                         for (t, a, o), g in tables["members"].groupby(["task", "arch", "order"])})
    return tables


# --- claims -----------------------------------------------------------------------------------------------------

CHANCE = 0.1  # ten digit classes
CHANCE_MARGIN = 0.10  # every arm must beat chance (1/10) by 10 points, or the comparison is between nets that failed
SHRINK_MIN = 0.0  # the CNN's edge must shrink when the neighbourhood is destroyed
CANVAS_GAIN = 0.05  # on the harder images the CNN must beat the matched MLP by more than 5 points


def select(t, task, arch, order="original"):
    m = t["members"]
    return m[(m["task"] == task) & (m["arch"] == arch) & (m["order"] == order)]


def gap(t, order: str, task: str = "digits") -> pd.DataFrame:
    """Per seed CNN minus MLP test accuracy under one pixel order, as a table with a 'gap' column."""
    j = select(t, task, "cnn", order)[["seed", "test_acc"]].merge(
        select(t, task, "mlp", order)[["seed", "test_acc"]], on="seed", suffixes=("_cnn", "_mlp"))
    return j.assign(gap=j["test_acc_cnn"] - j["test_acc_mlp"])[["seed", "gap"]]


def decide_c19(t):
    if any(select(t, "digits", a, o).empty for a in ARCHS for o in ORDERS):
        return missing("C19", "cnn and mlp, original and permuted")
    checks = [check("trains", float(select(t, "digits", a, o)["test_acc"].mean()), ">", CHANCE + CHANCE_MARGIN,
                    f"digits-{a}-{o}") for a in ARCHS for o in ORDERS]
    parts = [above("shrink", paired(gap(t, "original"), gap(t, "permuted"), "gap"), SHRINK_MIN, "pt")]
    numbers = {"gain_digits": estimate(gap(t, "original")["gap"]),
               "mlp_perm_change": paired(select(t, "digits", "mlp", "permuted"), select(t, "digits", "mlp")),
               "cnn_perm_change": paired(select(t, "digits", "cnn", "permuted"), select(t, "digits", "cnn"))}
    if not select(t, "canvas", "cnn").empty:
        checks += [check("trains", float(select(t, "canvas", a)["test_acc"].mean()), ">", CHANCE + CHANCE_MARGIN,
                         f"canvas-{a}-original") for a in ("cnn", "mlp")]
        parts.append(above("canvas_gain", estimate(gap(t, "original", "canvas")["gap"]), CANVAS_GAIN, "pt"))
        wide = select(t, "canvas", "wide")
        if not wide.empty:
            numbers["cnn_minus_wide"] = paired(select(t, "canvas", "cnn"), wide)
    return verdict("C19", parts, checks, numbers)


CLAIMS = [Claim("C19", "§27.1.5", decide_c19, {"chance_margin": CHANCE_MARGIN, "shrink_min": SHRINK_MIN,
                                               "canvas_gain": CANVAS_GAIN})]


def params_dict(p: Params) -> dict:
    return asdict(p)
