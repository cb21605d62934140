"""The RNN vs LSTM study's report: named facts, figures and the results tables, from the logged tables."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import estimate, proportion
from study.report import plots
from study.report.facts import seed_disagreement
from study.studies import rnn_lstm as study

MAX_PANELS = 5  # budget curves: one panel per lag, at most this many (the longest lags are kept)
FLOOR = 1e-30  # gradient figure: smaller ratios (a saturated or dead recurrence) are drawn at this floor


def _arms(t) -> list[str]:
    present = set(t["members"]["arm"])
    return [a for a in study.ARMS if a in present]


def _lags(t) -> list[int]:
    return sorted(int(v) for v in set(t["members"]["lag"]))


def facts(t: dict, params: dict) -> dict:
    s, arms, lags = t["success"], _arms(t), _lags(t)
    long_ = lags[-1]
    f = {"arms": arms, "lags": lags, "long_lag": long_, "short_lag": lags[0],
         "steps": int(params["n_train"] // params["batch_size"] * params["epochs"]),
         "steps_per_epoch": int(params["n_train"] // params["batch_size"]),
         "tuned": len(params["lrs"]) > 1}
    for a in arms:
        row = s[s["arm"] == a].iloc[0]
        f[f"hidden_{a}"], f[f"params_{a}"] = int(row["hidden"]), int(row["n_params"])
        for T in lags:
            k, n = study.counts(t, a, T)
            f[f"k_{a}_{T}"], f[f"n_{a}_{T}"] = k, n
        for phase in ("init", "trained"):
            d = estimate(study.log10_ratio(t, a, long_, phase)["l10"])
            f[f"decay_{a}_{phase}"] = d
            f[f"per_step_{a}_{phase}"] = 10 ** (d.mean / (long_ - 1)) if math.isfinite(d.mean) else math.nan
        half = study.at_budget(t, a, long_, 0.5)
        full = study.at_budget(t, a, long_, 1.0)
        f[f"half_{a}"], f[f"full_{a}"] = half, full
    if "lstm" in arms and "rnn" in arms:
        f["grad_gain"] = study.grad_gain(t, "lstm", "rnn", long_)
    m = t["members"]
    f["plateau"] = int(((m["test_acc"] > study.BASELINE - 0.02) & (m["test_acc"] < study.BASELINE + 0.02)).sum())
    f["disagreement"] = seed_disagreement(m, ["arm", "lag"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    return [("success", lambda: fig_success(t, L)), ("budget", lambda: fig_budget(t, L)),
            ("gradients", lambda: fig_gradients(t, L)), ("accuracy", lambda: fig_accuracy(t, p, L))]


def fig_success(t, L):
    s, arms = t["success"], _arms(t)
    style = plots.styles(arms)
    fig, ax = plots.figure(5.2, 3.2)
    for i, a in enumerate(arms):
        g = s[s["arm"] == a].sort_values("lag")
        x = g["lag"].to_numpy() * (1 + 0.035 * (i - (len(arms) - 1) / 2))  # small offsets keep bars apart
        err = np.clip(np.array([g["rate"] - g["rate_lo"], g["rate_hi"] - g["rate"]]), 0, None)
        ax.errorbar(x, g["rate"], yerr=err, capsize=3, label=L[a], **style[a])
    ax.set_xscale("log")
    lags = _lags(t)
    ax.set_xticks(lags, [str(v) for v in lags])
    ax.minorticks_off()
    ax.set(xlabel=L["lag"], ylabel=L["rate"], ylim=(-0.05, 1.05))
    plots.legend_below(fig, ax, ncol=min(4, len(arms)))
    return fig


def fig_budget(t, L):
    b, arms = t["budget"], _arms(t)
    lags = _lags(t)[-MAX_PANELS:]
    style = plots.styles(arms)
    fig, axes = plots.figure(6.7, 2.9, ncols=len(lags), sharey=True, squeeze=False)
    for ax, T in zip(axes[0], lags):
        for a in arms:
            g = b[(b["arm"] == a) & (b["lag"] == T)].sort_values("steps")
            every = max(1, len(g) // 6)
            ax.plot(g["steps"], g["rate"], label=L[a], markevery=every, markersize=4, **style[a])
            ax.fill_between(g["steps"], g["rate_lo"], g["rate_hi"], color=style[a]["color"], alpha=0.10, lw=0)
        ax.set_title(f"T = {T}")
        ax.set(xlabel=L["steps"], ylim=(-0.05, 1.05))
    axes[0, 0].set_ylabel(L["val_rate"])
    plots.legend_below(fig, axes[0, 0], ncol=min(4, len(arms)))
    return fig


def fig_gradients(t, L):
    g, arms = t["gradients"], _arms(t)
    long_ = _lags(t)[-1]
    g = g[g["lag"] == long_]
    style = plots.styles(arms)
    fig, axes = plots.figure(6.7, 3.1, ncols=2, sharey=True)
    for ax, phase in zip(axes, ("init", "trained")):
        for a in arms:
            h = g[(g["arm"] == a) & (g["phase"] == phase)]
            s = h.groupby("steps_back")["rel"].apply(
                lambda v: estimate(np.log10(v.clip(lower=FLOOR).to_numpy()))).apply(lambda e: pd.Series([e.mean, e.lo, e.hi]))
            every = max(1, len(s) // 8)
            plots.band(ax, s.index, 10 ** s[0], 10 ** s[1], 10 ** s[2], L[a], markevery=every, markersize=4,
                       **style[a])
        ax.set_yscale("log")
        ax.set_ylim(bottom=FLOOR / 10)
        ax.set(title=L[phase], xlabel=L["back"])
    axes[0].set_ylabel(L["grad"])
    plots.legend_below(fig, axes[0], ncol=min(4, len(arms)))
    return fig


def fig_accuracy(t, p, L):
    m, arms, lags = t["members"], _arms(t), _lags(t)
    style = plots.styles(arms)
    fig, ax = plots.figure(6.0, 3.2)
    rng = np.random.default_rng(0)  # horizontal jitter only, so overlapping seeds stay visible
    for i, a in enumerate(arms):
        g = m[m["arm"] == a]
        x = np.array([lags.index(v) for v in g["lag"]]) + (i - (len(arms) - 1) / 2) * 0.8 / len(arms)
        ax.scatter(x + rng.uniform(-0.04, 0.04, len(g)), g["test_acc"], s=16, color=style[a]["color"],
                   marker=style[a]["marker"], label=L[a], alpha=0.85)
    ax.axhline(study.BASELINE, color="gray", ls="--", lw=1, label=L["base"])
    ax.axhline(study.BASELINE + p["margin"], color="gray", ls=":", lw=1, label=L["thr"])
    ax.set_xticks(range(len(lags)), [str(v) for v in lags])
    ax.set(xlabel=L["lag"], ylabel=L["acc"])
    plots.legend_below(fig, ax, ncol=3)
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def _at_edge(t, arm, lag) -> bool:
    tun = t["tuning"]
    return bool(len(tun) and tun[(tun["arm"] == arm) & (tun["lag"] == lag)]["at_edge"].any())


def tables(t: dict, p: dict, L: dict) -> list:
    s, arms = t["success"], _arms(t)
    rows = []
    for a in arms:
        for r in s[s["arm"] == a].sort_values("lag").itertuples():
            rows.append({L["col_arm"]: L[a], "T": int(r.lag), L["col_lr"]: f"{r.lr:g}" + (" *" if _at_edge(t, a, r.lag) else ""),
                         L["col_success"]: f"{r.successes}/{r.seeds}" + (" †" if r.diverged else ""),
                         L["col_interval"]: f"[{r.rate_lo:.2f}, {r.rate_hi:.2f}]",
                         L["col_median"]: f"{r.median_acc:.3f}"})
    arms_rows = []
    for a in arms:
        r = s[s["arm"] == a].iloc[0]
        arms_rows.append({L["col_arm"]: L[a], L["col_units"]: int(r["hidden"]), L["col_params"]: f"{int(r['n_params']):,}"})
    return [("success", pd.DataFrame(rows)), ("arms", pd.DataFrame(arms_rows))]
