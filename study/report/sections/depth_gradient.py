"""The depth-gradient study's report: named facts, four figures and the accuracy table, from the logged tables."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import estimate
from study.report import plots
from study.report.facts import seed_disagreement
from study.report.format import cell
from study.studies import depth_gradient as study


def _deep(t) -> int:
    return int(t["members"]["depth"].max())


def _series(t) -> list[tuple[str, bool]]:
    """(activation, BN) pairs in a fixed order: at most 3 activations × 2 = 6 series, drawn in two panels."""
    acts = [a for a in ("sigmoid", "tanh", "relu") if a in set(t["members"]["activation"])]
    return [(a, bn) for bn in sorted(set(t["members"]["batchnorm"])) for a in acts]


def facts(t: dict, params: dict) -> dict:
    m, deep = t["members"], _deep(t)
    f = {"deep": deep, "shallow": int(m["depth"].min()), "depths": sorted(set(m["depth"])),
         "steps_per_epoch": int(t["history"]["step"].min()), "target": study.TARGET_ACC}
    for (act, bn), g in m[m["depth"] == deep].groupby(["activation", "batchnorm"]):
        g = g[g["init"] == study.init_for(t, act)]
        f[f"acc_{act}{'_bn' if bn else ''}"] = estimate(g["test_acc"])
        f[f"lr_{act}{'_bn' if bn else ''}"] = float(g["lr"].iloc[0])
    small = m[(m["activation"] == "relu") & (m["init"] == "normal001") & (m["depth"] == deep) & (~m["batchnorm"])]
    f["relu_small"] = estimate(small["test_acc"]) if not small.empty else None
    f["edges"] = int(t["tuning"].drop_duplicates(["depth", "activation", "batchnorm", "init"])["at_edge"].sum())
    f["tuned"] = int(len(t["tuning"].drop_duplicates(["depth", "activation", "batchnorm", "init"])))
    f["disagreement"] = seed_disagreement(m, ["activation", "init", "depth", "batchnorm"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    return [("factor", lambda: fig_factor(t, L)), ("gradients", lambda: fig_gradients(t, L)),
            ("accuracy", lambda: fig_accuracy(t, L)), ("curves", lambda: fig_curves(t, L))]


def fig_factor(t, L):
    """Left: each activation's derivative with the 0.25 line. Right: the sigmoid nets' measured per-layer
    factor of ∂L/∂h against the mean-field prediction, per initialisation."""
    fig, (ax, bx) = plots.figure(6.6, 3.0, ncols=2)
    d = t["derivative"]
    acts = list(dict.fromkeys(d["activation"]))
    st = plots.styles(acts)
    for act in acts:
        g = d[d["activation"] == act]
        ax.plot(g["x"], g["derivative"], label=act, markevery=100, **st[act])
    ax.axhline(study.FACTOR, color="#555", ls=":", lw=1)
    ax.set(xlabel=L["x"], ylabel=L["dfdx"], ylim=(0, 1.05), title=L["derivative"])
    ax.legend(loc="upper right")
    deep = int(t["layers"]["depth"].max())
    dec = t["decay"]
    dec = dec[(dec["activation"] == "sigmoid") & (dec["depth"] == deep) & (dec["phase"] == "init")
              & (~dec["batchnorm"])]
    inits = [i for i in ("normal001", "xavier", "he") if i in set(dec["init"])]
    x = np.arange(len(inits))
    bs = plots.bar_styles(["measured", "predicted"])
    for j, (col, key) in enumerate((("signal_decay", "measured"), ("mean_field", "predicted"))):
        es = [estimate(dec[dec["init"] == i][col]) for i in inits]
        err = np.nan_to_num(np.array([[e.mean - e.lo, e.hi - e.mean] for e in es]).T)
        bx.bar(x + (j - 0.5) * 0.38, [e.mean for e in es], 0.38, yerr=err, capsize=3, label=L[key], **bs[key])
    bx.axhline(study.FACTOR, color="#555", ls=":", lw=1, label=L["bound"])
    bx.set_xticks(x, [L[f"init_{i}"] for i in inits])
    bx.set(ylabel=L["factor"], title=L["factor_title"].format(depth=deep))
    bx.legend(loc="upper left")
    fig.tight_layout()
    return fig


def fig_gradients(t, L):
    """‖∂L/∂h_l‖ relative to the last hidden layer at initialisation, deepest nets, without and with BN."""
    lay = t["layers"]
    deep = int(lay["depth"].max())
    lay = lay[(lay["depth"] == deep) & (lay["phase"] == "init")]
    bns = sorted(set(lay["batchnorm"]))
    fig, axes = plots.figure(6.6, 3.2, ncols=len(bns), sharey=True, squeeze=False)
    keys = [(a, i) for a in ("sigmoid", "tanh", "relu") for i in ("normal001", "xavier", "he")
            if not lay[(lay["activation"] == a) & (lay["init"] == i)].empty
            and (i == study.DESIGNED[a] or (a, i) == ("relu", "normal001"))]
    st = plots.styles(keys)
    for ax, bn in zip(axes[0], bns):
        for a, i in keys:
            g = lay[(lay["activation"] == a) & (lay["init"] == i) & (lay["batchnorm"] == bn)]
            top = g[g["layer"] == deep].set_index("seed")["signal_grad"]
            g = g.assign(rel=np.log10(g["signal_grad"] / g["seed"].map(top)), k=deep - g["layer"])
            s = [estimate(v["rel"]) for _, v in g.groupby("k")]
            ks = sorted(set(g["k"]))
            plots.band(ax, ks, [10 ** e.mean for e in s], [10 ** e.lo for e in s], [10 ** e.hi for e in s],
                       f"{a}, {L['init_' + i]}", **st[(a, i)])
        k = np.arange(deep)
        ax.plot(k, study.FACTOR ** k, color="#555", ls=":", lw=1, label=L["line"])
        ax.set_yscale("log")
        ax.set(title=L["bn"] if bn else L["nobn"], xlabel=L["below"])
    axes[0, 0].set_ylabel(L["grad"])
    plots.legend_below(fig, axes[0, 0], ncol=3)
    return fig


def fig_accuracy(t, L):
    """Test accuracy against depth, each configuration at its own tuned rate; one panel per BN setting."""
    m = t["members"]
    series = _series(t)
    bns = sorted(set(m["batchnorm"]))
    st = plots.styles(dict.fromkeys(a for a, _ in series))
    fig, axes = plots.figure(6.6, 3.0, ncols=len(bns), sharey=True, squeeze=False)
    for ax, bn in zip(axes[0], bns):
        for act in dict.fromkeys(a for a, b in series if b == bn):
            g = m[(m["activation"] == act) & (m["batchnorm"] == bn) & (m["init"] == study.init_for(t, act))]
            ds = sorted(set(g["depth"]))
            es = [estimate(g[g["depth"] == d]["test_acc"]) for d in ds]
            plots.band(ax, ds, [e.mean for e in es], [max(e.lo, 0) for e in es], [min(e.hi, 1) for e in es],
                       f"{act}, {L['init_' + study.init_for(t, act)]}", **st[act])
        ax.axhline(study.CHANCE, color="#555", ls=":", lw=1)
        ax.set_xscale("log")
        ds = sorted(set(m["depth"]))
        ax.set_xticks(ds, [str(d) for d in ds])
        ax.minorticks_off()
        ax.set(title=L["bn"] if bn else L["nobn"], xlabel=L["depth"], ylim=(0, 1.02))
    axes[0, 0].set_ylabel(L["acc"])
    plots.legend_below(fig, axes[0, 0], ncol=3)
    return fig


def fig_curves(t, L):
    """Validation accuracy against optimizer steps, at the deepest depth and at 3 layers (if run)."""
    h = t["history"]
    deep = _deep(t)
    shown = [d for d in sorted(set(h["depth"])) if d == 3 and d != deep] + [deep]
    series = _series(t)
    st = plots.styles(series)
    fig, axes = plots.figure(6.6, 3.2, ncols=len(shown), sharey=True, squeeze=False)
    for ax, d in zip(axes[0], shown):
        for act, bn in series:
            g = h[(h["depth"] == d) & (h["activation"] == act) & (h["batchnorm"] == bn)
                  & (h["init"] == study.init_for(t, act))]
            s = g.groupby("step")["val_acc"].mean()
            ax.plot(s.index, s.values, label=f"{act} ({L['bn'] if bn else L['nobn']})", markevery=max(1, len(s) // 6),
                    **st[(act, bn)])
        ax.axhline(study.TARGET_ACC, color="#555", ls=":", lw=1)
        ax.set(title=L["layers"].format(depth=d), xlabel=L["steps"], ylim=(0, 1.02))
    axes[0, 0].set_ylabel(L["val_acc"])
    plots.legend_below(fig, axes[0, 0], ncol=2)
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    """Test accuracy per configuration and depth, each with its tuned rate (narrow: one row per depth)."""
    m = t["members"]
    rows = []
    for d in sorted(set(m["depth"])):
        row = {L["col_depth"]: str(d)}
        for act, bn in _series(t):
            g = m[(m["depth"] == d) & (m["activation"] == act) & (m["batchnorm"] == bn)
                  & (m["init"] == study.init_for(t, act))]
            if g.empty:
                continue
            lr = float(g["lr"].iloc[0])
            row[f"{act}{' + BN' if bn else ''}"] = (cell(g["test_acc"]) + (" †" if g["diverged"].any() else "")
                                                     + f"\nlr {lr:g}" + (" *" if g["lr_at_edge"].iloc[0] else ""))
        rows.append(row)
    return [("accuracy", pd.DataFrame(rows))]
