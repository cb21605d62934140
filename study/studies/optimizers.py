"""Optimizers (§27.1.1, §27.1.2): GD against minibatch SGD on landscapes with several minima, the textbook toy
comparison x²/20 + y² (with the classic hand-picked learning rates and with a shared tuning budget, and on
Rosenbrock), and a fair shootout of seven torch.optim optimizers on three real tasks of different character.

Part 1 runs every start at once as one row of a (starts, 2) tensor; part 2 runs a whole learning-rate grid as
rows; part 3 runs a whole learning-rate grid, and then seeds × {tuned, default}, as members of one engine run.
Report, figures and questions live in `_optimizers_report.py`.
"""
import math
import time
from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import torch

from study import data
from study._legacy_claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
    record,
)
from study.params import param
from study.engine import device as devices
from study.engine import landscapes as land
from study.engine import shootout as sh
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.recurrent import MemberRNN, RNNSpec
from study.engine.stats import paired_diff
from study.engine.train import OPTIMIZERS

NAME = "optimizers"
ORDER = 15
SECTIONS = "§27.1.1, §27.1.2"
TITLE = {"ja": "最適化手法: GD から SGD、Momentum、AdaGrad、Adam へ", "en": "Optimizers: from GD to SGD, Momentum, AdaGrad, Adam"}

TOY_OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam", "rmsprop")
TOY_START = (-7.0, 2.0)
ROSEN_START = (-1.2, 1.0)
TASKS = ("mlp", "cnn", "seq")
SGD_FAMILY = ("sgd", "momentum", "nesterov")


@dataclass
class Params:
    seeds: int = param(3, min=1, max=100, help="seeds of the chosen setting and of the defaults (shootout)")
    landscapes: list[str] = param(list(land.LANDSCAPES), choices=list(land.LANDSCAPES))
    starts: int = param(100, min=2, max=100_000, help="random starts per landscape (part 1)")
    box: float = param(4.0, gt=0, max=20, help="starts are uniform in [-box, box]²")
    n_data: int = param(256, min=2, max=100_000, help="data points whose noise terms make up each landscape")
    noise: float = param(8.0, min=0, max=1000, help="standard deviation of the per-sample terms u, v")
    batch_sizes: list[int] = param([64, 16, 4], min=1, max=100_000, help="SGD minibatch sizes (GD uses all)")
    land_lr: float = param(0.1, gt=0, max=10, help="one learning rate for GD and every SGD batch size")
    land_epochs: int = param(40, min=1, max=100_000)
    toy_steps: int = param(30, min=1, max=10_000, help="steps of the classic toy comparison")
    classic_lrs: list[float] = param([0.95, 0.1, 1.5, 0.3, 0.1], gt=0, max=100,
                                     help="SGD, Momentum, AdaGrad, Adam, RMSprop on the toy")
    toy_lr_min: float = param(1e-3, gt=0, max=100)
    toy_lr_max: float = param(10.0, gt=0, max=1000)
    toy_lr_points: int = param(49, min=2, max=10_000)
    toy_max_steps: int = param(500, min=1, max=100_000)
    toy_tol: float = param(1e-3, gt=0, max=1)
    rosen_max_steps: int = param(2000, min=1, max=1_000_000)
    rosen_tol: float = param(1e-2, gt=0, max=1)
    tasks: list[str] = param(list(TASKS), choices=list(TASKS))
    optimizers: list[str] = param(list(OPTIMIZERS), choices=list(OPTIMIZERS))
    lr_min: float = param(1e-4, gt=0, max=100, help="shootout learning-rate grid (log spaced)")
    lr_max: float = param(10.0, gt=0, max=1000)
    lr_points: int = param(11, min=1, max=100)
    tune_seeds: int = param(1, min=1, max=20, help="seeds per grid point while tuning (fresh seeds afterwards)")
    batch_size: int = param(32, min=1, max=1024)
    mlp_width: int = param(64, min=4, max=1024)
    mlp_depth: int = param(2, min=1, max=20)
    mlp_epochs: int = param(10, min=1, max=1000)
    cnn_channels: list[int] = param([8, 16], min=1, max=512, help="3x3 conv blocks, 2x2 pooling after the first two")
    cnn_epochs: int = param(8, min=1, max=1000)
    seq_cell: str = param("gru", choices=["rnn", "lstm", "gru"])
    seq_length: int = param(10, min=2, max=500)
    seq_hidden: int = param(16, min=2, max=1024)
    seq_train: int = param(1024, min=32, max=100_000)
    seq_epochs: int = param(10, min=1, max=1000)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if len(p.classic_lrs) != len(TOY_OPTIMIZERS):
        raise ValueError(f"classic_lrs needs {len(TOY_OPTIMIZERS)} values ({', '.join(TOY_OPTIMIZERS)}), "
                         f"got {len(p.classic_lrs)}")
    if max(p.batch_sizes) >= p.n_data:
        raise ValueError(f"batch size {max(p.batch_sizes)} is not a minibatch of n_data {p.n_data}")
    for lo, hi, name in ((p.toy_lr_min, p.toy_lr_max, "toy_lr"), (p.lr_min, p.lr_max, "lr")):
        if lo >= hi:
            raise ValueError(f"{name}_min {lo} must be below {name}_max {hi}")
    if p.batch_size > p.seq_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds seq_train {p.seq_train}")


# --- part 1: GD vs SGD on landscapes with several minima ----------------------------------------------------------

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
        for method, b in methods:
            path = land.descend(f, p0, noise, b, p.land_lr, p.land_epochs, seeds)
            ends[method] = path[-1]
            near = ((path - mins[0]).norm(dim=-1) < 0.5).float().mean(1)
            history += [{"landscape": name, "method": method, "batch": b, "epoch": e,
                         "updates": e * (1 if b >= p.n_data else p.n_data // b),
                         "mean_loss": float(f(path[e]).nanmean()), "near_global": float(near[e])}
                        for e in range(p.land_epochs + 1)]
            shown = min(p.starts, 8)
            paths += [{"landscape": name, "method": method, "start": s, "epoch": e, "x": float(path[e, s, 0]),
                       "y": float(path[e, s, 1])} for s in range(shown) for e in range(p.land_epochs + 1)]
        finals = torch.cat(list(ends.values()))
        basins = land.basin(f, torch.nan_to_num(finals, nan=1e6), mins).view(len(methods), -1)
        for j, (method, b) in enumerate(methods):
            e = ends[method]
            for s in range(p.starts):
                runs.append({"landscape": name, "method": method, "batch": b, "start": s,
                             "updates_per_epoch": 1 if b >= p.n_data else p.n_data // b,
                             "x0": float(p0[s, 0]), "y0": float(p0[s, 1]), "x": float(e[s, 0]), "y": float(e[s, 1]),
                             "final_loss": float(f(e[s])), "basin": int(basins[j, s]),
                             "global": bool(basins[j, s] == 0)})
        progress(f"[{NAME}] landscape {name}: {len(methods)} methods × {p.starts} starts in "
                 f"{time.perf_counter() - t0:.1f}s")
    return {"land_runs": pd.DataFrame(runs), "land_paths": pd.DataFrame(paths),
            "land_history": pd.DataFrame(history), "land_minima": pd.DataFrame(mins_rows)}


# --- part 2: the textbook toy and Rosenbrock ----------------------------------------------------------------------

def toy_tables(p: Params, progress) -> dict[str, pd.DataFrame]:
    t0 = time.perf_counter()
    paths, grid = [], []

    def path_rows(fname, setting, opt, lr, path):
        f = land.FUNCTIONS[fname]
        opt_xy = torch.tensor(land.OPTIMUM[fname], dtype=path.dtype)
        return [{"function": fname, "setting": setting, "optimizer": opt, "lr": lr, "step": t,
                 "x": float(path[t, 0]), "y": float(path[t, 1]), "f": float(f(path[t])),
                 "dist": float((path[t] - opt_xy).norm())} for t in range(len(path))]

    for opt, lr in zip(TOY_OPTIMIZERS, p.classic_lrs):
        paths += path_rows("toy", "classic", opt, lr, land.toy_paths(land.toy, TOY_START, opt, [lr], p.toy_steps)[:, 0])
    lrs = sh.log_grid(p.toy_lr_min, p.toy_lr_max, p.toy_lr_points)
    for fname, start, steps, tol in (("toy", TOY_START, p.toy_max_steps, p.toy_tol),
                                     ("rosenbrock", ROSEN_START, p.rosen_max_steps, p.rosen_tol)):
        for opt in TOY_OPTIMIZERS:
            with np.errstate(all="ignore"):
                path = land.toy_paths(land.FUNCTIONS[fname], start, opt, lrs, steps)
            hit = land.steps_to(path, land.OPTIMUM[fname], tol)
            dist = (path[-1] - torch.tensor(land.OPTIMUM[fname], dtype=path.dtype)).norm(dim=-1)
            rows = [{"function": fname, "optimizer": opt, "lr": lr, "steps_to_tol": int(hit[i]),
                     "final_dist": float(dist[i]), "diverged": not bool(torch.isfinite(path[:, i]).all()),
                     "tol": tol, "max_steps": steps} for i, lr in enumerate(lrs)]
            best = choose_toy(rows)
            for i, r in enumerate(rows):
                r["chosen"] = i == best
            grid += rows
            shown = path[: (rows[best]["steps_to_tol"] if rows[best]["steps_to_tol"] >= 0 else steps) + 1, best]
            paths += path_rows(fname, "tuned", opt, lrs[best], shown)
    progress(f"[{NAME}] toy and Rosenbrock: {len(TOY_OPTIMIZERS)} optimizers × {len(lrs)} rates in "
             f"{time.perf_counter() - t0:.1f}s")
    return {"toy_paths": pd.DataFrame(paths), "toy_grid": pd.DataFrame(grid)}


def choose_toy(rows: list[dict]) -> int:
    """The grid point that reaches the tolerance in the fewest steps; if none does, the smallest final
    distance among the points that did not diverge (then the smallest rate)."""
    reached = [i for i, r in enumerate(rows) if r["steps_to_tol"] >= 0]
    if reached:
        return min(reached, key=lambda i: (rows[i]["steps_to_tol"], rows[i]["final_dist"]))
    finite = [i for i, r in enumerate(rows) if not r["diverged"] and math.isfinite(r["final_dist"])]
    return min(finite, key=lambda i: rows[i]["final_dist"]) if finite else 0


# --- part 3: the shootout -----------------------------------------------------------------------------------------

def task_setup(task: str, p: Params, dev):
    """(split, model builder, epochs) of one shootout task."""
    if task == "seq":
        split = sh.marked_sum(p.data_seed, p.seq_length, n_train=p.seq_train).to(dev)
        spec = RNNSpec(p.seq_cell, 2, p.seq_hidden, 2)
        return split, lambda seeds: MemberRNN(spec, seeds).to(dev), p.seq_epochs
    split = data.digits(p.data_seed).to(dev)
    if task == "cnn":
        pools = tuple(range(1, min(2, len(p.cnn_channels)) + 1))
        spec = CNNSpec(channels=tuple(p.cnn_channels), pool_after=pools, d_out=split.n_classes, side=8)
        return split, lambda seeds: MemberCNN(spec, seeds, "he").to(dev), p.cnn_epochs
    spec = MLPSpec(split.n_features, p.mlp_width, p.mlp_depth, split.n_classes, "relu")
    return split, lambda seeds: MemberMLP(spec, seeds, "he").to(dev), p.mlp_epochs


def shootout_tables(p: Params, dev, log, progress) -> dict[str, pd.DataFrame]:
    grid = sh.log_grid(p.lr_min, p.lr_max, p.lr_points)
    tune_seeds = [1000 + s for s in range(p.tune_seeds)]
    seeds = list(range(p.seeds))
    tuning, members, curves = [], [], []
    jobs = [(t, o) for t in p.tasks for o in p.optimizers]
    for j, (task, opt) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        split, make, epochs = task_setup(task, p, dev)
        lrs = [lr for lr in grid for _ in tune_seeds]
        r = sh.fit(make, split, opt, lrs, tune_seeds * len(grid), epochs, p.batch_size)
        shape = (len(grid), len(tune_seeds))
        va, vl, dv = (r["val_acc"][-1].reshape(shape), r["val_loss"][-1].reshape(shape),
                      r["diverged"].reshape(shape))
        best = sh.choose(grid, va, vl, dv)
        tuning += [{"task": task, "optimizer": opt, "lr": lr, "seed": s, "val_acc": float(va[i, k]),
                    "val_loss": float(vl[i, k]), "diverged": bool(dv[i, k]), "chosen": i == best}
                   for i, lr in enumerate(grid) for k, s in enumerate(tune_seeds)]
        lr_d = sh.default_lr(opt)
        final = sh.fit(make, split, opt, [grid[best]] * len(seeds) + [lr_d] * len(seeds), seeds + seeds, epochs,
                       p.batch_size)
        steps_per_epoch = len(split.y_train) // p.batch_size
        for k, (setting, seed) in enumerate([("tuned", s) for s in seeds] + [("default", s) for s in seeds]):
            members.append({"task": task, "optimizer": opt, "setting": setting, "seed": seed,
                            "lr": grid[best] if setting == "tuned" else lr_d,
                            "test_acc": float(final["test_acc"][k]), "test_loss": float(final["test_loss"][k]),
                            "train_acc": float(final["train_acc"][k]),
                            "gap": float(final["train_acc"][k] - final["test_acc"][k]),
                            "diverged": bool(final["diverged"][k]), "steps_per_epoch": steps_per_epoch,
                            "seconds_per_epoch": final["seconds_per_epoch"]})
            curves += [{"task": task, "optimizer": opt, "setting": setting, "seed": seed, "epoch": e + 1,
                        "val_loss": float(final["val_loss"][e, k]), "val_acc": float(final["val_acc"][e, k]),
                        "train_loss": float(final["train_loss"][e, k])} for e in range(epochs)]
        tuned = final["test_acc"][: len(seeds)]
        log.metrics({f"test_acc/{task}-{opt}": float(np.nanmean(tuned)) if np.isfinite(tuned).any() else math.nan})
        progress(f"[{NAME}] {j}/{len(jobs)} {task}/{opt}: lr {grid[best]:.3g} chosen from {len(grid)}, "
                 f"test acc {np.nanmean(tuned) if np.isfinite(tuned).any() else math.nan:.3f} in "
                 f"{time.perf_counter() - t0:.1f}s")
    members = pd.DataFrame(members)
    curves = pd.DataFrame(curves)
    return {"tuning": pd.DataFrame(tuning), "members": add_time_to_target(members, curves), "curves": curves}


def add_time_to_target(members: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Epochs, steps and CPU seconds until the validation loss first reaches the task's target: the loosest of
    the tuned optimizers' best mean validation losses, so every tuned optimizer that trains reaches it."""
    out = []
    for task, m in members.groupby("task", sort=False):
        c = curves[(curves["task"] == task)]
        mean = c[c["setting"] == "tuned"].groupby(["optimizer", "epoch"])["val_loss"].mean()
        target = float(mean.groupby("optimizer").min().max())
        m = m.copy()
        m["target_val_loss"] = target
        epochs = []
        for _, row in m.iterrows():
            cur = c[(c["optimizer"] == row["optimizer"]) & (c["setting"] == row["setting"])
                    & (c["seed"] == row["seed"])].sort_values("epoch")["val_loss"].to_numpy()
            epochs.append(float(sh.first_epoch_below(cur[:, None], target)[0]))
        m["epochs_to_target"] = epochs
        m["steps_to_target"] = m["epochs_to_target"] * m["steps_per_epoch"]
        m["seconds_to_target"] = m["epochs_to_target"] * m["seconds_per_epoch"]
        out.append(m)
    return pd.concat(out, ignore_index=True)


# --- run ----------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    # Parts 1 and 2 compute on tensors of a few thousand numbers: a second intra-op thread there only waits and
    # spins (measured: 25x the CPU time on a busy 2-core machine), so they run on one thread.
    torch.set_num_threads(1)
    tables = {**landscape_tables(p, progress), **toy_tables(p, progress)}
    torch.set_num_threads(max(1, int(threads)))
    tables.update(shootout_tables(p, dev, log, progress))
    record(log, tables, CLAIMS, started)
    return tables


# --- claims -------------------------------------------------------------------------------------------------------

C5_MIN_TRAPPED = 0.10  # "GD can be trapped": at least 10% of GD runs end outside the global basin
C7_ZIGZAG = 0.5  # "SGD zig-zags": y changes sign in at least half of the classic toy steps


def global_fraction(t, landscape, method) -> tuple[float, float, float]:
    r = t["land_runs"]
    r = r[(r["landscape"] == landscape) & (r["method"] == method)]
    return land.wilson(int(r["global"].astype(bool).sum()), len(r))


def decide_c5(t) -> Verdict:
    r = t.get("land_runs")
    if r is None or r.empty:
        return missing("C5", "landscape runs")
    names = list(dict.fromkeys(r["landscape"]))
    numbers, parts = {}, []
    for n in names:
        g, lo, hi = global_fraction(t, n, "gd")  # trapped = 1 - global, so its interval is (1 - hi, 1 - lo)
        numbers.update({f"{n}_gd_trapped": 1 - g, f"{n}_gd_trapped_lo": 1 - hi, f"{n}_gd_trapped_hi": 1 - lo})
        parts.append(interval_verdict(1 - hi, 1 - lo, C5_MIN_TRAPPED))
    ivs = sorted((numbers[f"{n}_gd_trapped_lo"], numbers[f"{n}_gd_trapped_hi"]) for n in names)
    parts.append(SUPPORTED if any(a[1] < b[0] for a, b in pairwise(ivs)) else INCONCLUSIVE)
    words = {lang: ", ".join(f"{n} {100 * numbers[f'{n}_gd_trapped']:.0f}% [{100 * numbers[f'{n}_gd_trapped_lo']:.0f}, "
                             f"{100 * numbers[f'{n}_gd_trapped_hi']:.0f}]" for n in names) for lang in ("ja", "en")}
    return Verdict("C5", all_of(*parts), numbers, {
        "ja": f"全バッチ GD が大域的な谷の外で終わった割合(Wilson 95% 区間): {words['ja']}。基準: どの地形でも下限 > "
              f"{C5_MIN_TRAPPED:.0%}、かつ地形の間で区間が離れている(問題に依存する)。",
        "en": f"Share of full-batch GD runs ending outside the global basin (Wilson 95% interval): {words['en']}. "
              f"Rule: lower bound > {C5_MIN_TRAPPED:.0%} on every landscape, and intervals apart between landscapes "
              "(it depends on the problem)."})


def decide_c6(t) -> Verdict:
    r = t.get("land_runs")
    if r is None or r.empty or (r["method"] == "gd").all():
        return missing("C6", "SGD runs")
    numbers, parts, words = {}, [], []
    for n in dict.fromkeys(r["landscape"]):
        d = r[r["landscape"] == n]
        b = int(d[d["method"] != "gd"]["batch"].min())
        sgd, gd = d[d["batch"] == b], d[d["method"] == "gd"]
        diff, lo, hi = paired_diff(sgd.assign(seed=sgd["start"], g=sgd["global"].astype(float)),
                                   gd.assign(seed=gd["start"], g=gd["global"].astype(float)), "g")
        numbers.update({f"{n}_batch": b, f"{n}_gain": diff, f"{n}_gain_lo": lo, f"{n}_gain_hi": hi,
                        f"{n}_updates_per_epoch": int(sgd["updates_per_epoch"].iloc[0])})
        parts.append(interval_verdict(lo, hi, 0.0))
        words.append((n, b, diff, lo, hi))
    w = lambda fmt: ", ".join(fmt.format(*x) for x in words)
    return Verdict("C6", all_of(*parts), numbers, {
        "ja": "最小ミニバッチの SGD が大域的な谷で終わった割合の GD との差(同じ開始点で対応づけ、95% 区間): "
              + w("{0}(B={1}){2:+.2f} [{3:+.2f}, {4:+.2f}]") + "。基準: どの地形でも下限 > 0。",
        "en": "Gain in the share of runs ending in the global basin, SGD at the smallest batch minus GD (paired by "
              "start, 95% interval): " + w("{0} (B={1}) {2:+.2f} [{3:+.2f}, {4:+.2f}]")
              + ". Rule: lower bound > 0 on every landscape."})


def toy_numbers(t) -> dict:
    """Zig-zag (share of steps where y changes sign), AdaGrad's/Adam's per-parameter step ratio and AdaGrad's
    shrinking steps on the classic toy; tuned steps to tolerance."""
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
        out[f"{opt}_final_dist"] = float(np.hypot(x[-1], y[-1]))
    g = t["toy_grid"]
    for (fname, opt), rows in g[g["chosen"].astype(bool)].groupby(["function", "optimizer"]):
        s = int(rows["steps_to_tol"].iloc[0])
        out[f"{fname}_{opt}_steps"] = s if s >= 0 else math.inf
    return out


def decide_c7(t) -> Verdict:
    if t.get("toy_paths") is None or t["toy_paths"].empty:
        return missing("C7", "toy runs")
    n = toy_numbers(t)
    need = ("sgd_zigzag", "momentum_zigzag", "adagrad_ratio", "adagrad_shrink", "adam_zigzag", "adam_ratio")
    if any(k not in n for k in need) or "toy_sgd_steps" not in n:
        return missing("C7", "SGD, Momentum, AdaGrad and Adam on the toy")
    yes = lambda c: SUPPORTED if c else NOT_SUPPORTED
    parts = {"zigzag": yes(n["sgd_zigzag"] >= C7_ZIGZAG),
             "slow": yes(n["toy_sgd_steps"] > n["toy_momentum_steps"]),
             "momentum": yes(n["momentum_zigzag"] < n["sgd_zigzag"]),
             "adagrad": yes(n["adagrad_ratio"] > 1 and n["adagrad_shrink"] < 1),
             "adam": yes(n["adam_zigzag"] < n["sgd_zigzag"] and n["adam_ratio"] > 1)}
    numbers = {k: v for k, v in n.items() if math.isfinite(v)}
    numbers.update({f"part_{k}": v == SUPPORTED for k, v in parts.items()})
    st = lambda o: "∞" if not math.isfinite(n[f"toy_{o}_steps"]) else str(n[f"toy_{o}_steps"])
    return Verdict("C7", all_of(*parts.values()), numbers, {
        "ja": f"古典的な学習率で y の符号が反転した割合: SGD {n['sgd_zigzag']:.2f}、Momentum {n['momentum_zigzag']:.2f}、"
              f"Adam {n['adam_zigzag']:.2f}。初回の一歩の x/y 比(勾配あたり): AdaGrad {n['adagrad_ratio']:.1f}、Adam "
              f"{n['adam_ratio']:.1f}。AdaGrad の最後 5 歩の歩幅/初回 {n['adagrad_shrink']:.3f}。学習率を揃えて調整すると "
              f"‖(x,y)‖ < 許容誤差までの歩数は SGD {st('sgd')}、Momentum {st('momentum')}、Adam {st('adam')}。"
              f"基準: SGD の反転割合 ≥ {C7_ZIGZAG}、SGD が Momentum より遅い、Momentum と Adam は反転が少ない、"
              "AdaGrad と Adam は比 > 1、AdaGrad の歩幅は縮む。",
        "en": f"Share of steps where y changed sign at the classic rates: SGD {n['sgd_zigzag']:.2f}, Momentum "
              f"{n['momentum_zigzag']:.2f}, Adam {n['adam_zigzag']:.2f}. First step's x/y ratio per unit gradient: "
              f"AdaGrad {n['adagrad_ratio']:.1f}, Adam {n['adam_ratio']:.1f}. AdaGrad's last 5 steps / first step "
              f"{n['adagrad_shrink']:.3f}. Tuned, steps to ‖(x,y)‖ < tolerance: SGD {st('sgd')}, Momentum "
              f"{st('momentum')}, Adam {st('adam')}. Rule: SGD sign changes ≥ {C7_ZIGZAG}, SGD slower than "
              "Momentum, Momentum and Adam change sign less, AdaGrad and Adam ratio > 1, AdaGrad's steps shrink."})


def top_groups(members: pd.DataFrame) -> dict:
    """Per task: the best tuned optimizer by mean test accuracy, every optimizer's paired difference to it, and
    the top group (those whose difference is not wholly below 0)."""
    out = {}
    tuned = members[members["setting"] == "tuned"]
    for task, m in tuned.groupby("task", sort=False):
        means = m.groupby("optimizer")["test_acc"].mean().dropna()
        if means.empty:
            continue
        best = str(means.idxmax())
        diffs = {o: paired_diff(m[m["optimizer"] == o], m[m["optimizer"] == best]) for o in means.index}
        top = [o for o in means.sort_values(ascending=False).index
               if o == best or interval_verdict(*diffs[o][1:], 0.0, above=False) != SUPPORTED]
        out[task] = {"best": best, "means": means.to_dict(), "diffs": diffs, "top": top}
    return out


def decide_c8(t) -> Verdict:
    m = t.get("members")
    if m is None or m.empty:
        return missing("C8", "shootout runs")
    groups = top_groups(m)
    if len(groups) < 2:
        return missing("C8", "at least two tasks")
    common = set.intersection(*(set(g["top"]) for g in groups.values()))
    sole = [g["top"][0] for g in groups.values() if len(g["top"]) == 1]
    a = SUPPORTED if not common else (NOT_SUPPORTED if len(sole) == len(groups) and len(set(sole)) == 1
                                      else INCONCLUSIVE)
    b = SUPPORTED if any(set(g["top"]) & set(SGD_FAMILY) for g in groups.values()) else NOT_SUPPORTED
    numbers = {f"{task}_best_acc": g["means"][g["best"]] for task, g in groups.items()}
    numbers.update({f"{task}_top_size": len(g["top"]) for task, g in groups.items()})
    numbers["always_top"] = len(common)
    best = {lang: "; ".join(f"{task}: {g['best']} ({g['means'][g['best']]:.3f}; "
                             + ("同等" if lang == "ja" else "tied") + f": {', '.join(g['top'][1:]) or '–'})"
                             for task, g in groups.items()) for lang in ("ja", "en")}
    always = ", ".join(sorted(common)) or "–"
    return Verdict("C8", all_of(a, b), numbers, {
        "ja": f"課題ごとの最良(調整後のテスト正解率の平均)と、それと区間で区別できない手法: {best['ja']}。全課題で上位群に"
              f"入った手法: {always}。基準: 全課題で上位群に入る手法がない、かつ SGD 系がどこかの課題で上位群に入る。",
        "en": f"Best optimizer per task (mean tuned test accuracy) and those not separable from it by the interval: "
              f"{best['en']}. In the top group on every task: {always}. Rule: no optimizer is in the top group on "
              "every task, and an SGD-family optimizer is in the top group on some task."})


CLAIMS = [
    Claim("C5", "§27.1.1",
          {"ja": "谷が複数ある損失では全バッチの勾配降下法(GD)が局所解にとらわれうる。その頻度は問題とモデルによる。",
           "en": "Full-batch gradient descent can be trapped in a local minimum when the loss has several valleys; "
                 "how often depends on the problem."},
          {"ja": f"GD が大域的な谷の外で終わる割合の Wilson 区間の下限がどの地形でも {C5_MIN_TRAPPED:.0%} を超え、地形の間で区間が"
                 "離れていれば支持。",
           "en": f"Supported if the Wilson lower bound of GD's share ending outside the global basin exceeds "
                 f"{C5_MIN_TRAPPED:.0%} on every landscape and the intervals of two landscapes do not overlap."},
          decide_c5),
    Claim("C6", "§27.1.1",
          {"ja": "ランダムに選んだミニバッチで学習する SGD は毎回違う地形を見るので局所解にとらわれにくく、更新も頻繁になる。",
           "en": "Minibatch SGD sees a different landscape at every step, so it is trapped less often, and it "
                 "updates more often."},
          {"ja": "同じ学習率・同じエポック数で、最小ミニバッチの SGD が大域的な谷で終わる割合から GD の割合を引いた差(開始点で"
                 "対応づけ)の区間が、どの地形でも 0 より上なら支持。",
           "en": "Supported if, at the same learning rate and epochs, the share ending in the global basin of SGD "
                 "at the smallest batch minus GD's (paired by start) has an interval above 0 on every landscape."},
          decide_c6),
    Claim("C7", "§27.1.2",
          {"ja": "素の SGD はジグザグに進んで遅い。Momentum はジグザグを和らげ、AdaGrad はパラメータごとに歩幅を変え(はじめ大きく"
                 "次第に小さく)、Adam は両者を合わせる。",
           "en": "Plain SGD zig-zags and is slow; Momentum damps the zig-zag; AdaGrad adapts each parameter's step "
                 "(large at first, then shrinking); Adam combines the two."},
          {"ja": f"x²/20 + y² で、古典的な学習率の SGD の y の符号反転割合 ≥ {C7_ZIGZAG}、Momentum と Adam は SGD より少ない、"
                 "AdaGrad と Adam の初回の x/y 歩幅比(勾配あたり) > 1、AdaGrad の歩幅が縮む、そして調整後の学習率で SGD の"
                 "許容誤差までの歩数が Momentum より多ければ支持(決定的な計算なので区間はない)。",
           "en": f"On x²/20 + y²: at the classic rates SGD's y changes sign in ≥ {C7_ZIGZAG} of steps, Momentum and "
                 "Adam less often, AdaGrad's and Adam's first-step x/y ratio per unit gradient > 1, AdaGrad's steps "
                 "shrink; and with tuned rates SGD needs more steps to the tolerance than Momentum (deterministic, "
                 "so no interval)."},
          decide_c7),
    Claim("C8", "§27.1.2",
          {"ja": "銀の弾丸はない。どの最適化手法が良いかは問題による。Adam が最新だが、SGD が向く場面も少なくない。",
           "en": "There is no silver bullet: the best optimizer depends on the problem; Adam is newest, yet SGD "
                 "is still the better choice in quite a few cases."},
          {"ja": "同じ調整予算で、課題ごとに最良手法との差(シードで対応づけ)の区間が 0 を下回らない手法を上位群とする。全課題の"
                 "上位群に入る手法がなく、SGD 系(SGD、Momentum、Nesterov)がどこかで上位群に入れば支持。一つの手法が全課題で"
                 "単独の上位なら不支持。",
           "en": "Same tuning budget for all. Per task the top group holds the optimizers whose paired difference to "
                 "the best is not wholly below 0. Supported if no optimizer is in every task's top group and an "
                 "SGD-family optimizer (SGD, Momentum, Nesterov) is in some task's; not supported if one optimizer "
                 "is alone at the top of every task."},
          decide_c8),
]


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.studies import _optimizers_report

    return _optimizers_report.report(tables, params, lang)


def params_dict(p: Params) -> dict:
    return asdict(p)
