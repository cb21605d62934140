"""The stacked-autoencoder study's report: named facts, figures and tables, from the logged tables."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import estimate
from study.report import plots
from study.report.facts import seed_disagreement
from study.report.format import cell
from study.studies import autoencoder as study

CONTEXT = ("sigmoid_bn", "relu_he", "relu_bn")


def _configs(t) -> list[str]:
    return [c for c in study.CONFIGS if c in set(t["members"]["config"])]


def _sizes(t) -> list[int]:
    return sorted(int(n) for n in set(t["members"]["n_labels"]))


def _grad_ratio(t, config) -> float:
    """Geometric mean over seeds of the first over the last hidden layer's weight gradient."""
    g = t["grads"]
    g = g[g["config"] == config]
    if g.empty:
        return math.nan
    first = g[g["layer"] == 1].set_index("seed")["weight_grad"]
    last = g[g["layer"] == g["layer"].max()].set_index("seed")["weight_grad"]
    return float(np.exp(np.log((first / last).clip(lower=1e-300)).mean()))


def facts(t: dict, params: dict) -> dict:
    sizes, configs = _sizes(t), _configs(t)
    small, big = sizes[0], sizes[-1]
    r = t["recon"]
    first, last = r[r["epoch"] == 0], r[r["epoch"] == r["epoch"].max()]
    rel = last.groupby("layer")["rel_held_out"].mean()
    var = last.groupby("layer")["input_var"].mean()
    top = int(rel.index.max())
    f = {"small": small, "big": big, "sizes": sizes, "configs": configs, "top": top,
         "rel_first": float(rel.loc[1]), "rel_top": float(rel.loc[top]), "rel_worst": float(rel.max()),
         "rel_best": float(rel.min()), "rel_before": float(first.groupby("layer")["rel_held_out"].mean().min()),
         "var_first": float(var.loc[1]), "var_top": float(var.loc[top]),
         "var_fall": float((var.iloc[1] / var.iloc[-1]) ** (1 / max(1, len(var) - 2))) if len(var) > 2 else math.nan,
         "context": [c for c in CONTEXT if c in configs]}
    pr = t["probe"]
    for codes in ("pretrained", "untrained"):
        for n in sizes:
            g = pr[(pr["codes"] == codes) & (pr["n_labels"] == n)]
            f[f"probe_{codes}_top_n{n}"] = estimate(g[g["layer"] == top]["probe_acc"])
    for n in sizes:
        f[f"probe_pixels_n{n}"] = estimate(pr[(pr["n_labels"] == n) & (pr["layer"] == 0)
                                              & (pr["codes"] == "pretrained")]["probe_acc"])
    f["probe_gap"] = estimate(study.probe_gap(t, small))
    for c in configs:
        for n in sizes:
            g = study.select(t, c, n)
            f[f"acc_{c}_n{n}"] = estimate(g["test_acc"])
            f[f"train_{c}_n{n}"] = estimate(g["train_acc"])
            f[f"lr_{c}_n{n}"] = float(g["lr"].iloc[0])
        f[f"grad_ratio_{c}"] = _grad_ratio(t, c)
    for b in study.BASELINES:
        if b in configs:
            for n in sizes:
                f[f"ratio_{b}_n{n}"] = estimate(study.error_ratio(t, b, n))
    cost = t["cost"].iloc[0]
    f.update(pretrain_seconds=float(cost["pretrain_seconds"]), finetune_seconds=float(cost["finetune_seconds"]),
             passes=int(cost["pretrain_passes"]))
    f["disagreement"] = seed_disagreement(t["members"], ["config", "n_labels"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    return [("layers", lambda: fig_layers(t, L)), ("accuracy", lambda: fig_accuracy(t, L)),
            ("grads", lambda: fig_grads(t, L))]


def _band(ax, xs, series, label, style):
    stats = [estimate(v) for v in series]
    mean = np.array([s.mean for s in stats])
    lo = np.array([s.lo if math.isfinite(s.lo) else s.mean for s in stats])
    hi = np.array([s.hi if math.isfinite(s.hi) else s.mean for s in stats])
    plots.band(ax, xs, mean, lo, hi, label, **style)


def fig_layers(t, L):
    """Left: each layer's relative reconstruction error on held-out codes after pretraining, with the check's
    threshold. Right: linear probes of each layer's codes, pretrained and untrained (smallest labelled set)."""
    fig, (a, b) = plots.figure(6.4, 3.0, ncols=2)
    st = plots.styles(["pretrained", "untrained", "threshold"])
    r = t["recon"]
    last = r[r["epoch"] == r["epoch"].max()]
    layers = sorted(set(last["layer"]))
    _band(a, layers, [last[last["layer"] == l]["rel_held_out"] for l in layers], L["pretrained_codes"],
          st["pretrained"])
    a.axhline(study.RECON_MAX, color="#444", ls="--", lw=1, label=L["check_line"])
    a.set(xlabel=L["layer"], ylabel=L["recon"], ylim=(0, max(0.6, float(last["rel_held_out"].max()) * 1.1)))
    a.set_xticks(layers)
    a.legend(loc="upper right")
    pr = t["probe"]
    pr = pr[pr["n_labels"] == pr["n_labels"].min()]
    ls = sorted(set(pr["layer"]))
    for codes in ("pretrained", "untrained"):
        g = pr[pr["codes"] == codes]
        _band(b, ls, [g[g["layer"] == l]["probe_acc"] for l in ls], L[f"{codes}_codes"], st[codes])
    b.set(xlabel=L["layer_or_pixels"], ylabel=L["probe"], ylim=(0, 1))
    b.set_xticks(ls)
    b.legend(loc="lower left")
    fig.tight_layout()
    return fig


def fig_accuracy(t, L):
    """Test accuracy against labelled-set size: the pretrained net and its three baselines; the context arms
    (BN, ReLU), when run, in a second panel beside the pretrained net."""
    configs, sizes = _configs(t), _sizes(t)
    panels = [["pretrained"] + [c for c in study.BASELINES if c in configs]]
    if any(c in configs for c in CONTEXT):
        panels.append(["pretrained"] + [c for c in CONTEXT if c in configs])
    fig, axes = plots.figure(3.3 * len(panels) + 0.4, 3.2, ncols=len(panels), sharey=True, squeeze=False)
    st = plots.styles(configs)
    for ax, names in zip(axes[0], panels):
        for c in names:
            _band(ax, sizes, [study.select(t, c, n)["test_acc"] for n in sizes], L[c], st[c])
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set(xlabel=L["labels"], ylim=(0, 1))
    axes[0, 0].set_ylabel(L["acc"])
    handles = {}
    for ax in axes[0]:  # one legend under the panels, each series once
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    ncol = 2 if len(panels) == 1 else 3
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, frameon=False,
               bbox_to_anchor=(0.5, 0))
    fig.tight_layout(rect=(0, 0.1 + 0.055 * ((len(handles) - 1) // ncol), 1, 1))
    return fig


def fig_grads(t, L):
    """Weight-gradient norm per hidden layer at the start of fine-tuning (largest labelled set), log scale."""
    g = t["grads"]
    names = [c for c in ["pretrained", *study.BASELINES] if c in set(g["config"])]
    fig, ax = plots.figure(4.6, 3.0)
    st = plots.styles(_configs(t))
    layers = sorted(set(g["layer"]))
    for c in names:
        gc = g[g["config"] == c]
        s = [estimate(np.log10(gc[gc["layer"] == l]["weight_grad"].clip(lower=1e-300))) for l in layers]
        mean = np.array([e.mean for e in s])
        lo = np.array([e.lo if math.isfinite(e.lo) else e.mean for e in s])
        hi = np.array([e.hi if math.isfinite(e.hi) else e.mean for e in s])
        plots.band(ax, layers, 10 ** mean, 10 ** lo, 10 ** hi, L[c], **st[c])
    ax.set_yscale("log")
    ax.set_xticks(layers)
    ax.set(xlabel=L["layer"], ylabel=L["grad"])
    plots.legend_below(fig, ax, ncol=2)
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    sizes = _sizes(t)
    rows = []
    for c in _configs(t):
        row = {L["col_config"]: L[c]}
        for n in sizes:
            g = study.select(t, c, n)
            mark = (" †" if g["diverged"].any() else "") + (" *" if bool(g["lr_at_edge"].iloc[0]) else "")
            row[L["col_n"].format(n=n)] = cell(g["test_acc"]) + f"\n(lr {float(g['lr'].iloc[0]):g}){mark}"
        rows.append(row)
    r = t["recon"]
    first, last = r[r["epoch"] == 0], r[r["epoch"] == r["epoch"].max()]
    pr = t["probe"]
    pr = pr[pr["n_labels"] == min(sizes)]
    layers = []
    for l in sorted(set(r["layer"])):
        probe = lambda codes: cell(pr[(pr["codes"] == codes) & (pr["layer"] == l)]["probe_acc"])
        layers.append({L["col_layer"]: str(l),
                       L["col_var"]: f"{float(last[last['layer'] == l]['input_var'].mean()):.3g}",
                       L["col_before"]: f"{float(first[first['layer'] == l]['rel_held_out'].mean()):.2f}",
                       L["col_after"]: cell(last[last["layer"] == l]["rel_held_out"], clip=None),
                       L["col_probe_pre"]: probe("pretrained"), L["col_probe_rand"]: probe("untrained")})
    return [("accuracy", pd.DataFrame(rows)), ("layers", pd.DataFrame(layers))]
