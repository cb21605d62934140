"""RNN vs LSTM (§27.1.6): does a plain tanh RNN lose what it saw long ago, and do LSTM's cell and forget gate keep it?

Task: the adding problem of Hochreiter & Schmidhuber (1997, experiment 4) with its two marked values at the
first and the last step, asked as a yes/no question (is u_1 + u_T > 1?), so the lag is exactly T - 1 steps and
the memoryless baseline is known: 3/4 (see study.data.sequences.compare_first_last).

Arms: a tanh RNN with PyTorch's default initialisation, the same RNN with an orthogonal recurrent matrix (Saxe
et al. 2014) or the identity (Le et al. 2015), an LSTM (forget-gate bias 1, Gers et al. 2000) and optionally a
GRU, sized to about the LSTM's parameter count. Every (lag, arm) gets its own learning rate, chosen from one grid
on tuning seeds under the same budget of steps; then it is trained on the study's seeds with that rate and that
budget. Arms of one cell (the two RNNs) train as members of one engine run,
seeds as members too, so a seed shares its minibatch order and, apart from W_hh, its initial weights across arms.

Measured per member: test accuracy and success (accuracy above the baseline by a stated margin) after the whole
budget, validation success after every epoch (success against training budget), and the norm of dL/dh_t at every
step t before and after training.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from study.claims import Claim, above, below, check, missing, record, verdict
from study.data.sequences import compare_first_last
from study.engine import device as devices
from study.engine.recurrent import MemberRNN, RNNSpec
from study.engine.stats import Estimate, estimate, proportion, proportion_difference
from study.engine.train import LINEAR_IN_LR, OPTIMIZERS, TrainSpec, evaluate, train
from study.engine.tuning import TUNE_SEED_BASE, choose
from study.params import param

NAME = "rnn_lstm"
ORDER = 50
SECTIONS = "§27.1.6"
EXPECTED_SECONDS = 110  # quick profile, 1 thread, unloaded (estimated: 203 CPU-s measured at load 10 on 2 cores)

D_IN, CLASSES = 2, 2  # (value, marker) per step; yes/no
BASELINE = 0.75  # the best accuracy without memory of u_1: answer "yes" when u_T > 1/2
# arm -> (cell, initialisation of the recurrent weights)
ARMS = {"rnn": ("rnn", "default"), "rnn_orth": ("rnn", "orthogonal"), "rnn_id": ("rnn", "identity"),
        "lstm": ("lstm", "default"), "gru": ("gru", "default")}
PLAIN = ("rnn", "rnn_orth", "rnn_id")  # the plain (ungated) RNN arms


@dataclass
class Params:
    seeds: int = param(6, min=2, max=200, help="seeds per (lag, arm); success rates are over these")
    lags: list[int] = param([5, 20, 50], min=2, max=1000, help="sequence lengths T (lag T - 1 steps)")
    arms: list[str] = param(["rnn", "rnn_orth", "lstm"], choices=list(ARMS),
                            help="rnn: tanh RNN, PyTorch's default init; rnn_orth / rnn_id: the same with an "
                                 "orthogonal / identity W_hh; lstm; gru")
    lstm_hidden: int = param(16, min=2, max=1024, help="LSTM units; the other cells get the width whose "
                                                        "parameter count is closest to the LSTM's")
    forget_bias: float = param(1.0, min=-5, max=10, help="LSTM forget-gate bias at initialisation: 1 as Gers et al. "
                                                          "(2000) advise; large values approach the 1997 LSTM, "
                                                          "which had no forget gate")
    n_train: int = param(2048, min=64, max=1_000_000, help="training sequences (fixed, reused every epoch)")
    n_test: int = param(1024, min=100, max=100_000)
    epochs: int = param(32, min=1, max=10_000, help="the budget: epochs of n_train // batch_size steps, every arm")
    batch_size: int = param(32, min=1, max=4096)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lrs: list[float] = param([1e-3, 3e-3, 1e-2], gt=0, max=10, help="learning-rate grid every arm is tuned on")
    tune_seeds: int = param(1, min=1, max=20, help="seeds (1000, 1001, ...) the grid is scored on, at every lag")
    margin: float = param(0.1, gt=0, max=0.25, help=f"success: test accuracy at least {BASELINE} + margin")
    probe: int = param(256, min=8, max=100_000, help="test sequences on which dL/dh_t is measured")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.batch_size > p.n_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds n_train {p.n_train}")
    if p.probe > p.n_test:
        raise ValueError(f"probe {p.probe} exceeds n_test {p.n_test}")
    if len(set(p.lags)) != len(p.lags) or len(set(p.arms)) != len(p.arms):
        raise ValueError(f"lags {p.lags} and arms {p.arms} must not repeat")
    if len(p.lrs) > 1 and p.optimizer not in LINEAR_IN_LR:
        raise ValueError(f"optimizer {p.optimizer}: a learning-rate grid runs as members, which needs an "
                         "optimizer whose update is linear in its rate")


def matched_hidden(cell: str, target: int) -> int:
    """The width whose parameter count (cell + linear head) is closest to `target`."""
    return min(range(1, 4096), key=lambda h: (abs(RNNSpec(cell, D_IN, h, CLASSES).n_params() - target), h))


def specs(p: Params) -> dict[str, RNNSpec]:
    """One spec per cell used by the arms; arms of the same cell share it."""
    target = RNNSpec("lstm", D_IN, p.lstm_hidden, CLASSES).n_params()
    cells = dict.fromkeys(ARMS[a][0] for a in p.arms)
    return {c: RNNSpec(c, D_IN, matched_hidden(c, target), CLASSES) for c in cells}


def by_cell(arms: list[str]) -> dict[str, list[str]]:
    """The arms grouped by cell, in the given order: each group trains as one engine run."""
    out = {}
    for a in arms:
        out.setdefault(ARMS[a][0], []).append(a)
    return out


def build(spec: RNNSpec, members: list[tuple[str, int]], p: Params, dev) -> MemberRNN:
    """One batched model whose member k is arm members[k][0] with seed members[k][1]."""
    return MemberRNN(spec, [s for _, s in members], [ARMS[a][1] for a, _ in members],
                     forget_bias=p.forget_bias if spec.cell == "lstm" else None).to(dev)


def task(p: Params, T: int, dev):
    # One data set per lag, shared by every arm and seed (tuning included: the rate is chosen on validation data,
    # the study scored on test data).
    return compare_first_last(p.data_seed * 100_003 + T, T, p.n_train, min(512, p.n_test), p.n_test).to(dev)


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    torch.manual_seed(p.data_seed)  # nothing should draw from the global generator; this makes sure
    sp, groups = specs(p), by_cell(p.arms)
    steps_per_epoch = p.n_train // p.batch_size
    members, curve, grads, grid = [], [], [], []
    jobs = [(T, cell) for T in p.lags for cell in groups]
    for j, (T, cell) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        split, spec = task(p, T, dev), sp[cell]
        chosen, rows = tune(p, spec, groups[cell], split)
        grid += [{"lag": T, **r} for r in rows]
        who = [(a, s) for a in groups[cell] for s in range(p.seeds)]
        model = build(spec, who, p, dev)
        probe = (split.x_test[: p.probe], split.y_test[: p.probe])
        grads += grad_rows(model, *probe, T, who, "init")

        def on_epoch(epoch, rec):
            acc = rec["val_acc"].cpu()
            for k, (a, s) in enumerate(who):
                curve.append({"arm": a, "lag": T, "seed": s, "epoch": epoch, "steps": epoch * steps_per_epoch,
                              "val_acc": float(acc[k]), "success": bool(acc[k] >= BASELINE + p.margin)})
            log.metrics({f"val_acc/{a}-T{T}": float(np.nanmean([acc[k] for k, (b, _) in enumerate(who) if b == a]))
                         for a in groups[cell]}, step=epoch)

        lr = [chosen[a] for a, _ in who]
        hist = train(model, split, TrainSpec(p.optimizer, lr if len(set(lr)) > 1 else lr[0], p.epochs, p.batch_size),
                     on_epoch)
        grads += grad_rows(model, *probe, T, who, "trained")
        test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
        for k, (a, s) in enumerate(who):
            acc = float(test_acc[k])
            members.append({"arm": a, "cell": cell, "init": ARMS[a][1], "lag": T, "seed": s, "lr": chosen[a],
                            "hidden": spec.hidden, "n_params": spec.n_params(), "test_acc": acc,
                            "test_loss": float(test_loss[k]), "success": bool(acc >= BASELINE + p.margin),
                            "diverged": not all(math.isfinite(float(h["train_loss"][k])) for h in hist)})
        done = {a: sum(m["success"] for m in members[-len(who):] if m["arm"] == a) for a in groups[cell]}
        progress(f"[{NAME}] {j}/{len(jobs)} T={T} {cell} (H={spec.hidden}): tuned and trained in "
                 f"{time.perf_counter() - t0:.1f}s; " + ", ".join(f"{a} (lr {chosen[a]:g}) {k}/{p.seeds}"
                                                               for a, k in done.items()))
    tables = {"members": pd.DataFrame(members), "curve": pd.DataFrame(curve), "gradients": pd.DataFrame(grads),
              "tuning": pd.DataFrame(grid)}
    tables["success"] = success_table(tables["members"])
    tables["budget"] = budget_table(tables["curve"])
    record(log, tables, CLAIMS, started, {f"success/{r.arm}-T{r.lag}": r.rate for r in tables["success"].itertuples()})
    return tables


def tune(p: Params, spec: RNNSpec, arms: list[str], split) -> tuple[dict[str, float], list[dict]]:
    """Each arm's learning rate at this lag: the grid point with the best final validation accuracy, mean over the
    tuning seeds (study.engine.tuning.choose), under the study's budget. One engine run with (arm, rate, tuning
    seed) as members."""
    if len(p.lrs) == 1:
        return {a: p.lrs[0] for a in arms}, []
    seeds = [TUNE_SEED_BASE + s for s in range(p.tune_seeds)]
    who = [(a, lr, s) for a in arms for lr in p.lrs for s in seeds]
    model = build(spec, [(a, s) for a, _, s in who], p, split.x_train.device)
    hist = train(model, split, TrainSpec(p.optimizer, [lr for _, lr, _ in who], p.epochs, p.batch_size))
    val_acc, val_loss = hist[-1]["val_acc"].cpu().numpy(), hist[-1]["val_loss"].cpu().numpy()
    bad = ~np.isfinite(torch.stack([h["train_loss"] for h in hist]).cpu().numpy()).all(0)
    chosen, grid = {}, []
    for a in arms:
        idx = np.array([k for k, (b, _, _) in enumerate(who) if b == a]).reshape(len(p.lrs), len(seeds))
        best = choose(p.lrs, val_acc[idx], val_loss[idx], bad[idx])
        chosen[a] = p.lrs[best]
        grid += [{"arm": a, "lr": lr, "tune_seed": s, "val_acc": float(val_acc[idx[i, j]]),
                  "val_loss": float(val_loss[idx[i, j]]), "diverged": bool(bad[idx[i, j]]), "chosen": i == best,
                  "at_edge": best in (0, len(p.lrs) - 1)}
                 for i, lr in enumerate(p.lrs) for j, s in enumerate(seeds)]
    return chosen, grid


def hidden_gradients(model, x, y) -> torch.Tensor:
    """(M, T): the norm of dL/dh_t for each member and step, L = mean cross-entropy over the probe batch."""
    was_training = model.training
    model.eval()
    logits, rec = model(x, record=True)
    m, b = logits.shape[:2]
    loss = F.cross_entropy(logits.reshape(m * b, -1), y.repeat(m), reduction="none").view(m, b).mean(1)
    model.zero_grad(set_to_none=True)
    loss.sum().backward()  # members never mix, so each member's h_t receives its own loss's gradient
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return torch.stack([h.grad.flatten(1).norm(dim=1) for h in rec["hidden"]], dim=1).detach()


def grad_rows(model, x, y, lag, who, phase) -> list[dict]:
    g = hidden_gradients(model, x, y).cpu()
    T = g.shape[1]
    return [{"arm": a, "lag": lag, "seed": s, "phase": phase, "t": t + 1, "steps_back": T - 1 - t,
             "grad": float(g[k, t]), "rel": float(g[k, t] / g[k, -1]) if g[k, -1] > 0 else math.nan}
            for k, (a, s) in enumerate(who) for t in range(T)]


# --- success rates and their intervals --------------------------------------------------------------------------

def success_table(members: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, lag): successes out of seeds after the whole budget, with the Wilson interval."""
    rows = []
    for (arm, lag), g in members.groupby(["arm", "lag"], sort=False):
        k, n = int(g["success"].sum()), len(g)
        e = proportion(k, n)
        rows.append({"arm": arm, "lag": lag, "hidden": int(g["hidden"].iloc[0]), "lr": float(g["lr"].iloc[0]),
                     "n_params": int(g["n_params"].iloc[0]), "successes": k, "seeds": n, "rate": e.mean,
                     "rate_lo": e.lo, "rate_hi": e.hi, "median_acc": float(g["test_acc"].median()),
                     "diverged": int(g["diverged"].sum())})
    return pd.DataFrame(rows)


def budget_table(curve: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, lag, epoch): validation successes so far in the budget, with the Wilson interval."""
    rows = []
    for (arm, lag, epoch), g in curve.groupby(["arm", "lag", "epoch"], sort=False):
        k, n = int(g["success"].sum()), len(g)
        e = proportion(k, n)
        rows.append({"arm": arm, "lag": lag, "epoch": epoch, "steps": int(g["steps"].iloc[0]), "successes": k,
                     "seeds": n, "rate": e.mean, "rate_lo": e.lo, "rate_hi": e.hi})
    return pd.DataFrame(rows)


# --- claims -----------------------------------------------------------------------------------------------------

SOLVE_SHORT = 0.75  # manipulation check: every arm solves the shortest lag on at least 3/4 of its seeds
RATE_GAP = 0.25  # a difference in success rate that matters: a quarter of the seeds
GRAD_GAP = 1.0  # a difference in surviving gradient that matters: one order of magnitude (log10)


def counts(t, arm, lag) -> tuple[int, int] | None:
    s = t["success"]
    r = s[(s["arm"] == arm) & (s["lag"] == lag)]
    return (int(r["successes"].iloc[0]), int(r["seeds"].iloc[0])) if len(r) else None


def rate(t, arm, lag) -> Estimate:
    k, n = counts(t, arm, lag)
    return proportion(k, n)


def rate_difference(t, arm_a, lag_a, arm_b, lag_b) -> Estimate:
    """Success rate of (arm_a, lag_a) minus (arm_b, lag_b), Newcombe's interval (seeds are independent draws)."""
    return proportion_difference(*counts(t, arm_a, lag_a), *counts(t, arm_b, lag_b))


def log10_ratio(t, arm, lag, phase="init") -> pd.DataFrame:
    """Per seed: log10(||dL/dh_1|| / ||dL/dh_T||), how much of the gradient survives the whole lag."""
    g = t["gradients"]
    g = g[(g["arm"] == arm) & (g["lag"] == lag) & (g["phase"] == phase) & (g["t"] == 1)]
    return g.assign(l10=np.log10(g["rel"].clip(lower=1e-300)))[["seed", "l10"]]


def grad_gain(t, arm_a, arm_b, lag, phase="init") -> Estimate:
    """Seed-paired difference of log10 surviving gradient, arm_a minus arm_b."""
    j = log10_ratio(t, arm_a, lag, phase).merge(log10_ratio(t, arm_b, lag, phase), on="seed", suffixes=("_a", "_b"))
    return estimate((j["l10_a"] - j["l10_b"]).to_numpy())


def at_budget(t, arm, lag, fraction) -> Estimate:
    """Validation success share after `fraction` of the budget (the epoch closest below it)."""
    b = t["budget"]
    b = b[(b["arm"] == arm) & (b["lag"] == lag)]
    if b.empty:
        return proportion(0, 0)
    epoch = max(1, int(math.floor(b["epoch"].max() * fraction)))
    r = b[b["epoch"] == epoch].iloc[0]
    return proportion(int(r["successes"]), int(r["seeds"]))


def decide_c20(t):
    s = t["success"]
    if not {"rnn", "lstm"} <= set(s["arm"]) or s["lag"].nunique() < 2:
        return missing("C20", "arms rnn and lstm, two or more lags")
    short, long_ = int(s["lag"].min()), int(s["lag"].max())
    plain = [a for a in PLAIN if a in set(s["arm"])]
    arms = plain + ["lstm"]
    checks = [check("solves_short", rate(t, a, short).mean, ">=", SOLVE_SHORT, a) for a in arms]
    parts = [below("rnn_drop", rate_difference(t, "rnn", long_, "rnn", short), -RATE_GAP, "pt")]
    parts += [above(f"lstm_vs_{a}", rate_difference(t, "lstm", long_, a, long_), RATE_GAP, "pt") for a in plain]
    parts.append(above("grad_gain", grad_gain(t, "lstm", "rnn", long_), GRAD_GAP, "num"))
    numbers = {"short_lag": short, "long_lag": long_}
    for a in arms:
        numbers[f"{a}_short"], numbers[f"{a}_long"] = rate(t, a, short), rate(t, a, long_)
        numbers[f"{a}_long_half"] = at_budget(t, a, long_, 0.5)
        for phase in ("init", "trained"):
            d = estimate(log10_ratio(t, a, long_, phase)["l10"])
            numbers[f"{a}_decay_{phase}"] = d  # log10 of the share of dL/dh_T that reaches h_1
            numbers[f"{a}_per_step_{phase}"] = 10 ** (d.mean / (long_ - 1))  # geometric mean factor per step
    return verdict("C20", parts, checks, numbers)


CLAIMS = [Claim("C20", "§27.1.6", decide_c20, {"solve_short": SOLVE_SHORT, "rate_gap": RATE_GAP,
                                               "grad_gap": GRAD_GAP, "baseline": BASELINE})]


def params_dict(p: Params) -> dict:
    return asdict(p)
