"""Optimizers (§27.1.1, §27.1.2): GD against minibatch SGD on landscapes with several minima and on a small MLP,
the textbook toy x²/20 + y² (classic hand-picked rates, then every optimizer's hyperparameters tuned jointly
under one shared budget, also on the toy turned by 45° and on Rosenbrock), and a tuned shootout on tasks with
headroom.

- Part 1 (C5, C6): every start is one row of a (starts, 2) tensor; the gradient noise of SGD comes from sampling
  the data terms of the landscape only. Besides "wells" (whose global well is also the widest) and "ripples",
  "narrow_global" has a narrow global well and a wide local one, so that "finds the global basin" and "finds a
  wide basin" are told apart. Beside the basin shares the final losses are kept. A multi-start run of a small MLP
  on the digits compares full-batch GD with minibatch SGD (each its own learning rate from one grid).
- Part 2 (C7): each optimizer gets the same number of configurations (`toy_budget`): a learning-rate grid for
  SGD, AdaGrad and RMSprop, a learning-rate × β grid for Momentum and Adam (β1), all rows of one tensor run by
  engine.member_optim. Steps are counted to *sustained* convergence: from the first step after which the run
  stays inside the tolerance.
- Part 3 (C8): random search over each optimizer's main hyperparameters (learning rate; momentum's β; Adam's β1
  and ε; AdaGrad's and RMSprop's ε) with the same number of trials for every optimizer, cosine learning-rate
  decay, the trial chosen on validation accuracy and re-run with fresh seeds (Choi et al. 2019; Schmidt et al.
  2021). Trials and seeds are members of one engine run (engine.member_optim).
No report words here: the module computes named numbers; the report speaks (templates/studies/optimizers.*.j2).
"""
import math
import time
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import torch

from study import data
from study.claims import NOT_SUPPORTED, SUPPORTED, INCONCLUSIVE, Claim, Part, check, equivalent, exact, missing, \
    record, verdict
from study.params import param
from study.engine import device as devices
from study.engine import landscapes as land
from study.engine import member_optim as mo
from study.engine import shootout as sh
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.recurrent import MemberRNN, RNNSpec
from study.engine.stats import estimate, paired, proportion
from study.engine.tuning import TUNE_SEED_BASE, choose, log_grid

NAME = "optimizers"
ORDER = 15
SECTIONS = "§27.1.1, §27.1.2"
EXPECTED_SECONDS = 150  # quick profile measured 410 s at load average 10 on 2 cores; ~72 s for a lighter pilot at load 7

TOY_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam", "rmsprop")
TOY_BETA = {"momentum": "momentum", "adam": "beta1"}  # the second hyperparameter tuned on the toy
TOY_START = (-7.0, 2.0)
ROSEN_START = (-1.2, 1.0)
TASKS = ("canvas", "seq", "mlp", "cnn")
SGD_FAMILY = ("sgd", "momentum", "nesterov")
OPTIMIZERS = mo.NAMES

# Search spaces of the shootout (log-uniform; "1-" means 1 - value is log-uniform, as Choi et al. 2019 sample
# momentum and β1). Every optimizer gets the same number of trials from its own space.
SPACES: dict[str, dict[str, tuple[str, float, float]]] = {
    "sgd": {"lr": ("log", 1e-3, 1.0)},
    "momentum": {"lr": ("log", 1e-3, 1.0), "momentum": ("1-", 1e-3, 1.0)},
    "nesterov": {"lr": ("log", 1e-3, 1.0), "momentum": ("1-", 1e-3, 1.0)},
    "adagrad": {"lr": ("log", 1e-3, 1.0), "eps": ("log", 1e-10, 1.0)},
    "rmsprop": {"lr": ("log", 1e-5, 1e-1), "eps": ("log", 1e-10, 1.0)},
    "adam": {"lr": ("log", 1e-5, 1e-1), "beta1": ("1-", 1e-3, 1.0), "eps": ("log", 1e-10, 1.0)},
    "adamw": {"lr": ("log", 1e-5, 1e-1), "beta1": ("1-", 1e-3, 1.0), "eps": ("log", 1e-10, 1.0)},
}


@dataclass
class Params:
    seeds: int = param(5, min=2, max=100, help="fresh seeds the chosen setting is re-run with (shootout)")
    landscapes: list[str] = param(list(land.LANDSCAPES), choices=list(land.LANDSCAPES))
    starts: int = param(100, min=2, max=100_000, help="random starts per landscape (part 1)")
    box: float = param(4.0, gt=0, max=20, help="starts are uniform in [-box, box]²")
    n_data: int = param(256, min=2, max=100_000, help="data points whose noise terms make up each landscape")
    noise: float = param(8.0, min=0, max=1000, help="standard deviation of the per-sample terms u, v")
    batch_sizes: list[int] = param([64, 16, 4], min=1, max=100_000, help="SGD minibatch sizes (GD uses all)")
    land_lr: float = param(0.1, gt=0, max=10, help="one learning rate for GD and every SGD batch size")
    land_epochs: int = param(40, min=1, max=100_000)
    ms_starts: int = param(8, min=2, max=100, help="seeds (starts) of the small MLP, GD and SGD each")
    ms_width: int = param(32, min=2, max=1024, help="hidden width of the small MLP (one hidden layer)")
    ms_epochs: int = param(60, min=1, max=10_000, help="epochs of the small MLP (GD: one step per epoch)")
    ms_batch: int = param(32, min=1, max=1024, help="SGD minibatch of the small MLP")
    ms_lrs: list[float] = param([0.01, 0.03, 0.1, 0.3, 1.0, 3.0], gt=0, max=100,
                                help="learning-rate grid GD and SGD each choose from")
    toy_steps: int = param(30, min=1, max=10_000, help="steps of the classic toy comparison")
    classic_lrs: list[float] = param([0.95, 0.1, 1.5, 0.3, 0.1], gt=0, max=100,
                                     help="SGD, Momentum, AdaGrad, Adam, RMSprop on the toy")
    toy_budget: int = param(225, min=4, max=100_000, help="configurations every optimizer gets on the toy")
    toy_lr_min: float = param(1e-3, gt=0, max=100)
    toy_lr_max: float = param(10.0, gt=0, max=1000)
    toy_beta_max: float = param(0.95, min=0, max=0.999, help="largest β of the Momentum/Adam grids (from 0)")
    toy_max_steps: int = param(500, min=1, max=100_000)
    toy_tol: float = param(1e-3, gt=0, max=1)
    rosen_max_steps: int = param(2000, min=1, max=1_000_000)
    rosen_tol: float = param(1e-2, gt=0, max=1)
    tasks: list[str] = param(["canvas", "seq"], choices=list(TASKS))
    optimizers: list[str] = param(list(OPTIMIZERS), choices=list(OPTIMIZERS))
    trials: int = param(8, min=1, max=1000, help="random-search trials per optimizer and task (the budget)")
    tune_seeds: int = param(1, min=1, max=20, help="seeds per trial while tuning (fresh seeds afterwards)")
    schedule: str = param("cosine", choices=list(mo.SCHEDULES))
    batch_size: int = param(32, min=1, max=1024)
    canvas_side: int = param(28, min=8, max=64)
    canvas_scale: float = param(2.0, min=1.0, max=8.0)
    canvas_width: int = param(64, min=4, max=2048)
    canvas_epochs: int = param(20, min=1, max=1000)
    mlp_width: int = param(64, min=4, max=1024)
    mlp_depth: int = param(2, min=1, max=20)
    mlp_epochs: int = param(20, min=1, max=1000)
    cnn_channels: list[int] = param([8, 16], min=1, max=512, help="3x3 conv blocks, 2x2 pooling after the first two")
    cnn_epochs: int = param(10, min=1, max=1000)
    seq_cell: str = param("gru", choices=["rnn", "lstm", "gru"])
    seq_length: int = param(10, min=2, max=500)
    seq_hidden: int = param(16, min=2, max=1024)
    seq_train: int = param(1024, min=32, max=100_000)
    seq_epochs: int = param(15, min=1, max=1000)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if len(p.classic_lrs) != len(TOY_OPTIMIZERS):
        raise ValueError(f"classic_lrs needs {len(TOY_OPTIMIZERS)} values ({', '.join(TOY_OPTIMIZERS)}), "
                         f"got {len(p.classic_lrs)}")
    if max(p.batch_sizes) >= p.n_data:
        raise ValueError(f"batch size {max(p.batch_sizes)} is not a minibatch of n_data {p.n_data}")
    if p.toy_lr_min >= p.toy_lr_max:
        raise ValueError(f"toy_lr_min {p.toy_lr_min} must be below toy_lr_max {p.toy_lr_max}")
    if p.batch_size > p.seq_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds seq_train {p.seq_train}")
    if p.ms_batch >= 1000:
        raise ValueError(f"ms_batch {p.ms_batch} is not a minibatch of the digits' 1,079 training images")
    if round(8 * p.canvas_scale) > p.canvas_side:
        raise ValueError(f"canvas_scale {p.canvas_scale}: the enlarged digit does not fit canvas_side {p.canvas_side}")


# --- part 1: GD vs SGD on landscapes with several minima ----------------------------------------------------------

STATIONARY = 0.05  # a GD end whose gradient norm is below this sits at a stationary point (it has arrived)


def landscape_tables(p: Params, progress) -> dict[str, pd.DataFrame]:
    runs, paths, history, mins_rows = [], [], [], []
    methods = [("gd", p.n_data)] + [(f"sgd{b}", b) for b in p.batch_sizes]
    for name in p.landscapes:
        f = land.LANDSCAPES[name]
        t0 = time.perf_counter()
        mins = land.minima(f, p.box)
        mins_rows += [{"landscape": name, "minimum": k, "x": float(m[0]), "y": float(m[1]), "f": float(f(m))}
                      for k, m in enumerate(mins)]
        p0 = land.starts(p.data_seed, p.starts, p.box)
        noise = land.noise_terms(p.data_seed + 1, p.n_data, p.noise)
        seeds = torch.arange(p.starts) + 10_000
        ends = {}
        per_epoch = p.n_data // min(p.batch_sizes)
        for method, b in methods:
            if method == "gd":  # as many updates as the smallest-batch SGD, so that every GD run has arrived
                path = land.descend(f, p0, noise, b, p.land_lr, p.land_epochs * per_epoch, seeds)[::per_epoch]
            else:
                path = land.descend(f, p0, noise, b, p.land_lr, p.land_epochs, seeds)
            ends[method] = path[-1]
            near = ((path - mins[0]).norm(dim=-1) < 0.5).float().mean(1)
            history += [{"landscape": name, "method": method, "batch": b, "epoch": e,
                         "updates": e * (per_epoch if b >= p.n_data else p.n_data // b),
                         "mean_loss": float(f(path[e]).nanmean()), "near_global": float(near[e])}
                        for e in range(p.land_epochs + 1)]
            shown = min(p.starts, 8)
            paths += [{"landscape": name, "method": method, "start": s, "epoch": e, "x": float(path[e, s, 0]),
                       "y": float(path[e, s, 1])} for s in range(shown) for e in range(p.land_epochs + 1)]
        finals = torch.cat(list(ends.values()))
        safe = torch.nan_to_num(finals, nan=1e6)
        basins = land.basin(f, safe, mins).view(len(methods), -1)
        gnorm = land.grad(f, safe).norm(dim=1).view(len(methods), -1)
        for j, (method, b) in enumerate(methods):
            e = ends[method]
            for s in range(p.starts):
                runs.append({"landscape": name, "method": method, "batch": b, "start": s, "seed": s,
                             "updates_per_epoch": 1 if b >= p.n_data else p.n_data // b,
                             "updates": p.land_epochs * (per_epoch if b >= p.n_data else p.n_data // b),
                             "x0": float(p0[s, 0]), "y0": float(p0[s, 1]), "x": float(e[s, 0]), "y": float(e[s, 1]),
                             "final_loss": float(f(e[s])), "grad_norm": float(gnorm[j, s]),
                             "basin": int(basins[j, s]), "global": bool(basins[j, s] == 0)})
        progress(f"[{NAME}] landscape {name}: {len(methods)} methods × {p.starts} starts in "
                 f"{time.perf_counter() - t0:.1f}s")
    return {"land_runs": pd.DataFrame(runs), "land_paths": pd.DataFrame(paths),
            "land_history": pd.DataFrame(history), "land_minima": pd.DataFrame(mins_rows)}


def mlp_start_tables(p: Params, dev, progress) -> dict[str, pd.DataFrame]:
    """Full-batch GD against minibatch SGD on a small MLP, many starts each: same epochs (as many gradient
    evaluations per example), each method its learning rate from one grid, chosen on validation accuracy."""
    t0 = time.perf_counter()
    split = data.digits(p.data_seed).to(dev)
    spec = MLPSpec(split.n_features, p.ms_width, 1, split.n_classes, "relu")
    make = lambda seeds: MemberMLP(spec, seeds, "he").to(dev)
    n = len(split.y_train)
    tune = [TUNE_SEED_BASE + s for s in range(2)]
    rows, grid = [], []
    for method, batch in (("gd", n), ("sgd", p.ms_batch)):
        lrs = [lr for lr in p.ms_lrs for _ in tune]
        r = mo.fit(make, split, "sgd", {"lr": lrs}, tune * len(p.ms_lrs), p.ms_epochs, batch)
        shape = (len(p.ms_lrs), len(tune))
        va, vl, dv = r.val_acc[-1].reshape(shape), r.val_loss[-1].reshape(shape), r.diverged.reshape(shape)
        best = choose(p.ms_lrs, va, vl, dv)
        grid += [{"method": method, "lr": lr, "val_acc": float(va[i].mean()), "chosen": i == best}
                 for i, lr in enumerate(p.ms_lrs)]
        seeds = list(range(p.ms_starts))
        f = mo.fit(make, split, "sgd", {"lr": p.ms_lrs[best]}, seeds, p.ms_epochs, batch)
        rows += [{"method": method, "seed": s, "lr": p.ms_lrs[best], "batch": batch,
                  "updates": p.ms_epochs * (n // batch), "final_train_loss": float(f.final_train_loss[k]),
                  "train_acc": float(f.train_acc[k]), "test_acc": float(f.test_acc[k]),
                  "test_loss": float(f.test_loss[k]), "diverged": bool(f.diverged[k])} for k, s in enumerate(seeds)]
    progress(f"[{NAME}] small MLP, GD vs SGD × {p.ms_starts} starts in {time.perf_counter() - t0:.1f}s")
    return {"mlp_starts": pd.DataFrame(rows), "mlp_grid": pd.DataFrame(grid)}


# --- part 2: the textbook toy, turned by 45°, and Rosenbrock -------------------------------------------------------

def toy_configs(opt: str, budget: int, lr_min: float, lr_max: float, beta_max: float) -> dict[str, list[float]]:
    """The configurations one optimizer gets on the toy: `budget` learning rates (log grid) for a one-knob
    optimizer, a floor(√budget) × floor(√budget) grid of learning rate × β for Momentum and Adam (β1).
    Every optimizer thus gets at most `budget` runs."""
    if opt not in TOY_BETA:
        return {"lr": log_grid(lr_min, lr_max, budget)}
    k = max(2, math.isqrt(budget))
    lrs, betas = log_grid(lr_min, lr_max, k), [float(b) for b in np.linspace(0.0, beta_max, k)]
    return {"lr": [lr for lr in lrs for _ in betas], TOY_BETA[opt]: [b for _ in lrs for b in betas]}


def choose_toy(rows: list[dict]) -> int:
    """The configuration with the fewest steps to sustained convergence; if none converges, the smallest final
    distance among those that did not diverge (then the first)."""
    reached = [i for i, r in enumerate(rows) if r["steps_to_tol"] >= 0]
    if reached:
        return min(reached, key=lambda i: (rows[i]["steps_to_tol"], rows[i]["final_dist"]))
    finite = [i for i, r in enumerate(rows) if not r["diverged"] and math.isfinite(r["final_dist"])]
    return min(finite, key=lambda i: rows[i]["final_dist"]) if finite else 0


def toy_tables(p: Params, progress) -> dict[str, pd.DataFrame]:
    t0 = time.perf_counter()
    paths, grid = [], []

    def path_rows(fname, setting, opt, lr, beta, path):
        f = land.FUNCTIONS[fname]
        opt_xy = torch.tensor(land.OPTIMUM[fname], dtype=path.dtype)
        return [{"function": fname, "setting": setting, "optimizer": opt, "lr": lr, "beta": beta, "step": t,
                 "x": float(path[t, 0]), "y": float(path[t, 1]), "f": float(f(path[t])),
                 "dist": float((path[t] - opt_xy).norm())} for t in range(len(path))]

    for opt, lr in zip(TOY_OPTIMIZERS, p.classic_lrs):
        beta = {"momentum": 0.9, "adam": 0.9}.get(opt, math.nan)
        paths += path_rows("toy", "classic", opt, lr, beta,
                           land.toy_paths(land.toy, TOY_START, opt, [lr], p.toy_steps)[:, 0])
    settings = [(opt, opt) for opt in TOY_OPTIMIZERS] + [("momentum", "momentum_b09")]
    problems = (("toy", TOY_START, p.toy_max_steps, p.toy_tol),
                ("rotated", land.unrotate(TOY_START), p.toy_max_steps, p.toy_tol),
                ("rosenbrock", ROSEN_START, p.rosen_max_steps, p.rosen_tol))
    for fname, start, steps, tol in problems:
        for opt, setting in settings:
            if setting == "momentum_b09":  # the old design: β fixed at 0.9, the whole budget on the rate
                cfg = {"lr": log_grid(p.toy_lr_min, p.toy_lr_max, p.toy_budget), "momentum": [0.9] * p.toy_budget}
            else:
                cfg = toy_configs(opt, p.toy_budget, p.toy_lr_min, p.toy_lr_max, p.toy_beta_max)
            with np.errstate(all="ignore"):
                path = land.member_paths(land.FUNCTIONS[fname], start, opt, cfg, steps)
            hit = land.sustained_steps(path, land.OPTIMUM[fname], tol)
            first = land.steps_to(path, land.OPTIMUM[fname], tol)
            dist = (path[-1] - torch.tensor(land.OPTIMUM[fname], dtype=path.dtype)).norm(dim=-1)
            beta = cfg.get(TOY_BETA.get(opt, ""), [math.nan] * len(cfg["lr"]))
            rows = [{"function": fname, "optimizer": setting, "lr": lr, "beta": float(beta[i]),
                     "steps_to_tol": int(hit[i]), "first_touch": int(first[i]), "final_dist": float(dist[i]),
                     "diverged": not bool(torch.isfinite(path[:, i]).all()), "tol": tol, "max_steps": steps,
                     "budget": len(cfg["lr"])} for i, lr in enumerate(cfg["lr"])]
            best = choose_toy(rows)
            for i, r in enumerate(rows):
                r["chosen"] = i == best
            grid += rows
            shown = path[: (rows[best]["steps_to_tol"] if rows[best]["steps_to_tol"] >= 0 else steps) + 1, best]
            paths += path_rows(fname, "tuned", setting, rows[best]["lr"], rows[best]["beta"], shown)
    progress(f"[{NAME}] toy, rotated toy and Rosenbrock: {len(settings)} settings × {p.toy_budget} configurations "
             f"in {time.perf_counter() - t0:.1f}s")
    return {"toy_paths": pd.DataFrame(paths), "toy_grid": pd.DataFrame(grid)}


# --- part 3: the tuned shootout -------------------------------------------------------------------------------

def sample_trials(opt: str, n: int, seed: int) -> dict[str, list[float]]:
    """`n` random-search trials from the optimizer's space (SPACES), a function of (optimizer, n, seed) only."""
    g = np.random.default_rng([seed, OPTIMIZERS.index(opt)])
    out = {}
    for k, (kind, lo, hi) in SPACES[opt].items():
        v = np.exp(g.uniform(math.log(lo), math.log(hi), n))
        out[k] = [float(x) for x in (1 - v if kind == "1-" else v)]
    return out


def task_setup(task: str, p: Params, dev):
    """(split, model builder, epochs) of one shootout task."""
    if task == "seq":
        split = sh.marked_sum(p.data_seed, p.seq_length, n_train=p.seq_train).to(dev)
        spec = RNNSpec(p.seq_cell, 2, p.seq_hidden, 2)
        return split, lambda seeds: MemberRNN(spec, seeds).to(dev), p.seq_epochs
    if task == "canvas":
        split = data.canvas(p.data_seed, p.canvas_side, p.canvas_scale).to(dev)
        spec = MLPSpec(split.n_features, p.canvas_width, 1, split.n_classes, "relu")
        return split, lambda seeds: MemberMLP(spec, seeds, "he").to(dev), p.canvas_epochs
    split = data.digits(p.data_seed).to(dev)
    if task == "cnn":
        pools = tuple(range(1, min(2, len(p.cnn_channels)) + 1))
        spec = CNNSpec(channels=tuple(p.cnn_channels), pool_after=pools, d_out=split.n_classes, side=8)
        return split, lambda seeds: MemberCNN(spec, seeds, "he").to(dev), p.cnn_epochs
    spec = MLPSpec(split.n_features, p.mlp_width, p.mlp_depth, split.n_classes, "relu")
    return split, lambda seeds: MemberMLP(spec, seeds, "he").to(dev), p.mlp_epochs


def shootout_tables(p: Params, dev, log, progress) -> dict[str, pd.DataFrame]:
    tune_seeds = [TUNE_SEED_BASE + s for s in range(p.tune_seeds)]
    seeds = list(range(p.seeds))
    tuning, members, curves = [], [], []
    jobs = [(t, o) for t in p.tasks for o in p.optimizers]
    for j, (task, opt) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        split, make, epochs = task_setup(task, p, dev)
        trials = sample_trials(opt, p.trials, p.data_seed)
        rep = {k: [x for x in v for _ in tune_seeds] for k, v in trials.items()}
        r = mo.fit(make, split, opt, rep, tune_seeds * p.trials, epochs, p.batch_size, p.schedule)
        shape = (p.trials, len(tune_seeds))
        va, vl, dv = r.val_acc[-1].reshape(shape), r.val_loss[-1].reshape(shape), r.diverged.reshape(shape)
        best = choose(trials["lr"], va, vl, dv)
        tuning += [{"task": task, "optimizer": opt, "trial": i, **{k: v[i] for k, v in trials.items()},
                    "seed": s, "val_acc": float(va[i, k]), "val_loss": float(vl[i, k]), "diverged": bool(dv[i, k]),
                    "chosen": i == best} for i in range(p.trials) for k, s in enumerate(tune_seeds)]
        chosen = {k: v[best] for k, v in trials.items()}
        final = mo.fit(make, split, opt, chosen, seeds, epochs, p.batch_size, p.schedule)
        for k, seed in enumerate(seeds):
            members.append({"task": task, "optimizer": opt, "seed": seed, **chosen,
                            "test_acc": float(final.test_acc[k]), "test_loss": float(final.test_loss[k]),
                            "train_acc": float(final.train_acc[k]),
                            "final_train_loss": float(final.final_train_loss[k]),
                            "gap": float(final.train_acc[k] - final.test_acc[k]),
                            "diverged": bool(final.diverged[k]), "seconds_per_epoch": final.seconds_per_epoch})
            curves += [{"task": task, "optimizer": opt, "seed": seed, "epoch": e + 1,
                        "val_loss": float(final.val_loss[e, k]), "val_acc": float(final.val_acc[e, k]),
                        "train_loss": float(final.train_loss[e, k])} for e in range(epochs)]
        acc = float(np.nanmean(final.test_acc)) if np.isfinite(final.test_acc).any() else math.nan
        log.metrics({f"test_acc/{task}-{opt}": acc})
        progress(f"[{NAME}] {j}/{len(jobs)} {task}/{opt}: trial {best} of {p.trials} "
                 f"({', '.join(f'{k} {v:.3g}' for k, v in chosen.items())}), test acc {acc:.3f} in "
                 f"{time.perf_counter() - t0:.1f}s")
    return {"tuning": pd.DataFrame(tuning), "members": pd.DataFrame(members), "curves": pd.DataFrame(curves)}


# --- run ----------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    # Parts 1 and 2 compute on tensors of a few thousand numbers: a second intra-op thread there only waits and
    # spins (measured: 25x the CPU time on a busy 2-core machine), so they run on one thread.
    torch.set_num_threads(1)
    tables = {**landscape_tables(p, progress), **toy_tables(p, progress)}
    torch.set_num_threads(max(1, int(threads)))
    tables.update(mlp_start_tables(p, dev, progress))
    tables.update(shootout_tables(p, dev, log, progress))
    record(log, tables, CLAIMS, started)
    return tables


# --- claims -------------------------------------------------------------------------------------------------------

C5_MIN_TRAPPED = 0.10  # "GD can be trapped": on every landscape over 10% of GD runs end outside the global basin
C5_ARRIVED = 0.90  # check: at least 90% of GD's ends are stationary points (trapped, not still on the way)
C6_MIN_GAIN = 0.0  # SGD (smallest batch) must end in the global basin more often than GD, on every landscape
C7_ZIGZAG = 0.5  # "SGD zig-zags": y changes sign in at least half of the classic toy steps
C8_MARGIN = 0.01  # test accuracy within ±1 pt of the task's best (TOST) counts as "as good as the best"
C8_CHANCE_MARGIN = 0.10  # every task's best optimizer must beat chance by 10 points
C8_HEADROOM = 0.03  # at least one task must leave the best optimizer more than 3% test error (not at ceiling)


def land_select(t, landscape, method):
    r = t["land_runs"]
    return r[(r["landscape"] == landscape) & (r["method"] == method)]


def decide_c5(t):
    r = t.get("land_runs")
    if r is None or r.empty:
        return missing("C5", "landscape runs")
    names = list(dict.fromkeys(r["landscape"]))
    checks, parts, numbers, ivs = [], [], {}, []
    for n in names:
        gd = land_select(t, n, "gd")
        trapped = proportion(int((~gd["global"].astype(bool)).sum()), len(gd))
        numbers[f"{n}_gd_trapped"] = trapped
        numbers[f"{n}_gd_loss"] = estimate(gd["final_loss"])
        checks.append(check("arrived", float((gd["grad_norm"] < STATIONARY).mean()), ">=", C5_ARRIVED, n))
        parts.append(Part(f"trapped_{n}", "above", _wilson_side(trapped, C5_MIN_TRAPPED), C5_MIN_TRAPPED,
                          trapped.to_dict(), unit="pct"))
        ivs.append((trapped.lo, trapped.hi))
    ivs.sort()
    apart = any(a[1] < b[0] for a, b in pairwise(ivs))
    parts.append(exact("depends", float(apart), ">", 0.5))
    return verdict("C5", parts, checks, numbers)


def _wilson_side(e, threshold):
    return SUPPORTED if e.lo > threshold else NOT_SUPPORTED if e.hi < threshold else INCONCLUSIVE


def decide_c6(t):
    r = t.get("land_runs")
    if r is None or r.empty or (r["method"] == "gd").all():
        return missing("C6", "SGD runs")
    numbers, parts = {}, []
    for n in dict.fromkeys(r["landscape"]):
        d = r[r["landscape"] == n]
        b = int(d[d["method"] != "gd"]["batch"].min())
        sgd, gd = d[d["batch"] == b], d[d["method"] == "gd"]
        gain = paired(sgd.assign(g=sgd["global"].astype(float)), gd.assign(g=gd["global"].astype(float)), "g")
        parts.append(Part(f"gain_{n}", "above", _gain_side(gain, C6_MIN_GAIN), C6_MIN_GAIN, gain.to_dict(), unit="pt"))
        numbers.update({f"{n}_batch": b, f"{n}_updates_per_epoch": int(sgd["updates_per_epoch"].iloc[0]),
                        f"{n}_sgd_global": proportion(int(sgd["global"].astype(bool).sum()), len(sgd)),
                        f"{n}_gd_global": proportion(int(gd["global"].astype(bool).sum()), len(gd)),
                        f"{n}_loss_diff": paired(sgd, gd, "final_loss"),
                        f"{n}_sgd_loss": estimate(sgd["final_loss"]), f"{n}_gd_loss": estimate(gd["final_loss"])})
    ms = t.get("mlp_starts")
    if ms is not None and not ms.empty:
        s, g = ms[ms["method"] == "sgd"], ms[ms["method"] == "gd"]
        numbers.update({"mlp_train_loss_diff": paired(s, g, "final_train_loss"), "mlp_test_diff": paired(s, g),
                        "mlp_gd_train_loss": estimate(g["final_train_loss"]),
                        "mlp_sgd_train_loss": estimate(s["final_train_loss"]),
                        "mlp_gd_test": estimate(g["test_acc"]), "mlp_sgd_test": estimate(s["test_acc"])})
    return verdict("C6", parts, [], numbers)


def _gain_side(e, threshold):
    """A paired difference of 0/1 outcomes: when every start agrees the spread is 0 and the t-interval is
    undefined, but the difference is then exact."""
    if e.n >= 2 and e.sd == 0:
        return SUPPORTED if e.mean > threshold else NOT_SUPPORTED
    return SUPPORTED if e.lo > threshold else NOT_SUPPORTED if e.hi < threshold else INCONCLUSIVE


def toy_numbers(t) -> dict:
    """Zig-zag (share of steps where y changes sign), AdaGrad's/Adam's per-parameter step ratio and AdaGrad's
    shrinking steps at the classic rates; tuned steps to sustained convergence and the chosen settings."""
    tp = t["toy_paths"]
    out = {}
    for opt in TOY_OPTIMIZERS:
        c = tp[(tp["function"] == "toy") & (tp["setting"] == "classic") & (tp["optimizer"] == opt)].sort_values("step")
        x, y = c["x"].to_numpy(), c["y"].to_numpy()
        if len(x) < 3:
            continue
        out[f"{opt}_zigzag"] = float(np.mean(np.sign(y[1:]) != np.sign(y[:-1])))
        gx, gy = x[0] / 10, 2 * y[0]  # the gradient of x²/20 + y² at the start
        out[f"{opt}_ratio"] = float(abs((x[1] - x[0]) / gx) / abs((y[1] - y[0]) / gy))  # x's step per gradient / y's
        steps = np.hypot(np.diff(x), np.diff(y))
        out[f"{opt}_shrink"] = float(steps[-5:].mean() / steps[0])
    g = t["toy_grid"]
    for (fname, opt), rows in g[g["chosen"].astype(bool)].groupby(["function", "optimizer"]):
        s = int(rows["steps_to_tol"].iloc[0])
        out[f"{fname}_{opt}_steps"] = float(s) if s >= 0 else math.inf
        out[f"{fname}_{opt}_lr"] = float(rows["lr"].iloc[0])
        out[f"{fname}_{opt}_beta"] = float(rows["beta"].iloc[0])
        out[f"{fname}_{opt}_first"] = float(rows["first_touch"].iloc[0])
    return out


def decide_c7(t):
    if t.get("toy_paths") is None or t["toy_paths"].empty:
        return missing("C7", "toy runs")
    n = toy_numbers(t)
    need = ("sgd_zigzag", "momentum_zigzag", "adagrad_ratio", "adagrad_shrink", "adam_zigzag", "adam_ratio",
            "toy_sgd_steps", "toy_momentum_steps")
    if any(k not in n for k in need):
        return missing("C7", "SGD, Momentum, AdaGrad and Adam on the toy")
    finite = lambda v: v if math.isfinite(v) else -1.0
    checks = [check("converges", finite(n[f"toy_{o}_steps"]), ">=", 0, o) for o in ("sgd", "momentum")]
    parts = [exact("zigzag", n["sgd_zigzag"], ">=", C7_ZIGZAG),
             exact("slow", n["toy_sgd_steps"] - n["toy_momentum_steps"] if checks[0].passed and checks[1].passed
                   else math.nan, ">", 0),
             exact("momentum_damps", n["sgd_zigzag"] - n["momentum_zigzag"], ">", 0),
             exact("adagrad_ratio", n["adagrad_ratio"], ">", 1), exact("adagrad_shrinks", n["adagrad_shrink"], "<", 1),
             exact("adam_damps", n["sgd_zigzag"] - n["adam_zigzag"], ">", 0), exact("adam_ratio", n["adam_ratio"], ">", 1)]
    return verdict("C7", parts, checks, {k: v for k, v in n.items() if math.isfinite(v)})


def shootout_diffs(members: pd.DataFrame) -> dict:
    """Per task: the best optimizer by mean test accuracy, and every optimizer's paired (by seed) difference to it."""
    out = {}
    for task, m in members.groupby("task", sort=False):
        means = m.groupby("optimizer")["test_acc"].mean().dropna()
        if means.empty:
            continue
        best = str(means.idxmax())
        out[task] = {"best": best, "means": {k: float(v) for k, v in means.items()},
                     "diffs": {o: paired(m[m["optimizer"] == o], m[m["optimizer"] == best]) for o in means.index}}
    return out


def standing(est, is_best: bool, margin: float) -> str:
    """'tied': the best itself, or equivalent to it within ±margin (TOST); 'beaten': below it beyond the margin
    (the 95% interval wholly under -margin); 'open' otherwise."""
    if is_best:
        return "tied"
    v = equivalent("d", est, margin).verdict
    return "tied" if v == SUPPORTED else "beaten" if est.defined and est.hi < -margin else "open"


def decide_c8(t):
    m = t.get("members")
    if m is None or m.empty:
        return missing("C8", "shootout runs")
    groups = shootout_diffs(m)
    if len(groups) < 2:
        return missing("C8", "at least two tasks")
    opts = sorted(set.intersection(*(set(g["means"]) for g in groups.values())), key=OPTIMIZERS.index)
    stand = {o: {task: standing(g["diffs"][o], g["best"] == o, C8_MARGIN) for task, g in groups.items()}
             for o in opts}
    checks = [check("trains", g["means"][g["best"]], ">", 1 / _classes(task) + C8_CHANCE_MARGIN, task)
              for task, g in groups.items()]
    checks.append(check("headroom", max(1 - g["means"][g["best"]] for g in groups.values()), ">", C8_HEADROOM))
    # The candidate silver bullet: the optimizer whose worst task is closest to that task's best.
    worst = {o: min(groups, key=lambda task: groups[task]["diffs"][o].lo if groups[task]["best"] != o else math.inf)
             for o in opts}
    lo = lambda o: (groups[worst[o]]["diffs"][o].lo if groups[worst[o]]["best"] != o else 0.0)
    cand = max(opts, key=lambda o: (lo(o), -OPTIMIZERS.index(o)))
    silver = [o for o in opts if all(s == "tied" for s in stand[o].values())]
    no_bullet = NOT_SUPPORTED if silver else SUPPORTED if all("beaten" in stand[o].values() for o in opts) \
        else INCONCLUSIVE
    est_c = groups[worst[cand]]["diffs"][cand]
    sgd_ok = [o for o in opts if o in SGD_FAMILY and "tied" in stand[o].values()]
    sgd_v = SUPPORTED if sgd_ok else NOT_SUPPORTED if all(
        all(s == "beaten" for s in stand[o].values()) for o in opts if o in SGD_FAMILY) else INCONCLUSIVE
    sgd_best = max((o for o in opts if o in SGD_FAMILY),
                   key=lambda o: max(groups[k]["diffs"][o].mean for k in groups), default=None)
    parts = [Part("no_silver_bullet", "equivalent", no_bullet, C8_MARGIN, est_c.to_dict(), unit="pt")]
    if sgd_best is not None:
        task = max(groups, key=lambda k: groups[k]["diffs"][sgd_best].mean)
        parts.append(Part("sgd_as_good", "equivalent", sgd_v, C8_MARGIN, groups[task]["diffs"][sgd_best].to_dict(),
                          unit="pt"))
    numbers = {"candidate": cand, "candidate_task": worst[cand], "silver": silver, "sgd_tied": sgd_ok,
               "sgd_best": sgd_best, "standing": stand,
               **{f"{task}_best": g["best"] for task, g in groups.items()},
               **{f"{task}_best_acc": g["means"][g["best"]] for task, g in groups.items()}}
    return verdict("C8", parts, checks, numbers)


def _classes(task: str) -> int:
    return 2 if task == "seq" else 10


CLAIMS = [
    Claim("C5", "§27.1.1", decide_c5, {"min_trapped": C5_MIN_TRAPPED, "arrived": C5_ARRIVED, "stationary": STATIONARY}),
    Claim("C6", "§27.1.1", decide_c6, {"min_gain": C6_MIN_GAIN}),
    Claim("C7", "§27.1.2", decide_c7, {"zigzag": C7_ZIGZAG}),
    Claim("C8", "§27.1.2", decide_c8, {"margin": C8_MARGIN, "chance_margin": C8_CHANCE_MARGIN,
                                       "headroom": C8_HEADROOM}),
]


def params_dict(p: Params) -> dict:
    return asdict(p)
