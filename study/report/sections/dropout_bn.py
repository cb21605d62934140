"""The Dropout × BatchNorm study's report: named facts, figures and tables, from the logged tables."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import estimate, paired
from study.report import plots
from study.report.facts import seed_disagreement
from study.report.format import cell
from study.studies import dropout_bn as study

SHIFT_PANELS = (("bn", "drop_bn", "bn_drop", "uout_matched", "uout"), ("bn", "split", "drop_after_bn"))
STYLE = plots.styles(("bn", "drop_bn", "bn_drop", "uout_matched", "uout", "split", "drop_after_bn", "dropout"))
STYLE["none"] = {"color": "#777777", "ls": (0, (1, 1)), "marker": "x"}


def _rates(t):
    return study._rates(t)


def _theory(t, config, rate):
    th = t["theory"]
    row = th[(th["config"] == config) & np.isclose(th["rate"], rate if config in study.NOISY else 0.0)]
    return row.iloc[0] if len(row) else None


def _shift_at(t, config, rate, bn_layer, setting="full"):
    lay = t["layers"]
    lay = lay[(lay["setting"] == setting) & (lay["config"] == config) & (lay["bn_layer"] == bn_layer)]
    if config in study.NOISY:
        lay = lay[np.isclose(lay["rate"], rate)]
    return estimate(lay["shift"])


def _settings(t):
    return [s for s in ("full", "cnn") if s in set(t["members"]["setting"])]


def facts(t: dict, params: dict) -> dict:
    r, rr, sr = _rates(t)
    sel = study.select
    f = {"rate": r, "remedy_rate": rr, "small_rate": sr, "cnn": "cnn" in _settings(t),
         "beta_matched": study.matched_beta(r), "theory_drop": 1 / (1 - r),
         "noise_var_drop": study.noise_variance("drop_bn", r), "noise_var_uout": study.noise_variance("uout", r),
         "variance_ratio": study.noise_variance("drop_bn", r) / study.noise_variance("uout", r),
         "depth": int(params.get("depth", 10)), "multi_rate": len(params.get("rates", [r])) > 1}
    for c in study.CONFIGS:
        g = sel(t, c, r)
        if not g.empty:
            f[f"acc_{c}"] = estimate(g["test_acc"])
            f[f"reest_{c}"] = estimate(g["test_acc_reest"])
            f[f"train_{c}"] = estimate(g["train_acc"])
            f[f"first_{c}"] = int(g["first_bn"].iloc[0])
            f[f"shift_{c}"] = estimate(g["shift_first"])
    for c in ("drop_bn", "bn_drop"):
        f[f"shift1_{c}"] = _shift_at(t, c, r, 1)
        f[f"shift2_{c}"] = _shift_at(t, c, r, 2)
        f[f"shift_last_{c}"] = _shift_at(t, c, r, f["depth"])
    if not sel(t, "drop_bn", r).empty:
        f["reest_gain"] = estimate(sel(t, "drop_bn", r)["test_acc_reest"] - sel(t, "drop_bn", r)["test_acc"])
    if not (sel(t, "split", r).empty or sel(t, "bn").empty):
        f["split_minus_bn"] = paired(sel(t, "split", r), sel(t, "bn"))
    if f["cnn"]:
        cr = float(t["members"].query("setting == 'cnn' and rate > 0")["rate"].min())
        f["cnn_rate"] = cr
        f["cnn_interaction"] = study.interaction(t, cr, "cnn")
        f["cnn_shift_drop_bn"] = estimate(sel(t, "drop_bn", cr, "cnn")["shift_first"])
    none, drop = sel(t, "none", 0.0, "small"), sel(t, "dropout", sr, "small")
    f["small"] = not (none.empty or drop.empty)
    if f["small"]:
        for name, g in (("none", none), ("drop", drop)):
            f[f"small_train_{name}"] = estimate(g["train_acc"])
            f[f"small_test_{name}"] = estimate(g["test_acc"])
            f[f"small_nll_{name}"] = estimate(g["test_nll"])
        f["small_mc_nll"] = estimate(drop["mc_nll"])
        f["small_mc_acc"] = estimate(drop["mc_acc"])
    f["disagreement"] = seed_disagreement(t["members"], ["setting", "config", "rate"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    out = [("shift", lambda: fig_shift(t, L)), ("interaction", lambda: fig_interaction(t, L)),
           ("placements", lambda: fig_placements(t, L))]
    if "small" in set(t["members"]["setting"]):
        out.append(("small", lambda: fig_small(t, L)))
    return out


def fig_shift(t, L):
    r = _rates(t)[0]
    lay = t["layers"]
    lay = lay[lay["setting"] == "full"]
    fig, axes = plots.figure(6.6, 3.3, ncols=2, sharey=True)
    for ax, configs, title in zip(axes, SHIFT_PANELS, (L["panel_upstream"], L["panel_downstream"])):
        for c in configs:
            g = lay[(lay["config"] == c) & (np.isclose(lay["rate"], r) if c in study.NOISY else True)]
            if g.empty:
                continue
            s = g.groupby("bn_layer")["shift"].apply(lambda v: estimate(v))
            x = np.array(s.index)
            plots.band(ax, x, [e.mean for e in s], [e.lo for e in s], [e.hi for e in s], L[c], **STYLE[c])
            first = int(study.select(t, c, r)["first_bn"].iloc[0]) if c in study.NOISY else 0
            th = _theory(t, c, r)
            if first and th is not None and math.isfinite(th["predicted_shift"]):
                ax.plot([first], [th["predicted_shift"]], marker="*", ms=10, color=STYLE[c]["color"], ls="none",
                        markeredgecolor="black", markeredgewidth=0.5)
        ax.axhline(1.0, color="black", lw=0.6)
        ax.set_title(title)
        ax.set_xlabel(L["bn_layer"])
        ax.xaxis.set_major_locator(plots.plt.MaxNLocator(integer=True))
        ax.legend(loc="upper left", fontsize=7.5)
    axes[0].set_ylabel(L["shift"])
    fig.tight_layout()
    return fig


def _floor(t, setting):
    """A y-axis floor that keeps a few points of difference visible: 5 points under the lowest seed, in steps of 0.05."""
    m = t["members"]
    lo = float(m[m["setting"] == setting]["test_acc"].min())
    return max(0.0, math.floor((lo - 0.05) * 20) / 20) if math.isfinite(lo) else 0.0


def _bar(ax, i, e, width, style, label):
    ax.bar(i, e.mean, width, yerr=np.nan_to_num([[e.mean - e.lo], [e.hi - e.mean]]), capsize=3, label=label,
           error_kw={"elinewidth": 0.8}, **style)


def fig_interaction(t, L):
    settings = _settings(t)
    r = _rates(t)[0]
    fig, axes = plots.figure(3.3 * len(settings) + 0.4, 3.0, ncols=len(settings), squeeze=False, sharey=True)
    style = plots.bar_styles(("no_dropout", "with_dropout"))
    for ax, s in zip(axes[0], settings):
        rate = r if s == "full" else float(t["members"].query("setting == 'cnn' and rate > 0")["rate"].min())
        for gi, (base, noisy) in enumerate((("none", "dropout"), ("bn", "drop_bn"))):
            for k, (c, key) in enumerate(((base, "no_dropout"), (noisy, "with_dropout"))):
                e = estimate(study.select(t, c, rate, s)["test_acc"])
                _bar(ax, gi + (k - 0.5) * 0.38, e, 0.38, style[key], L[key] + (f" {rate:g}" if k else "")
                     if gi == 0 else None)
        ax.set_xticks([0, 1], [L["without_bn"], L["with_bn"]])
        ax.set_title(L[f"net_{s}"])
        ax.set_ylim(_floor(t, s), 1)
    axes[0][0].set_ylabel(L["test_accuracy"])
    plots.legend_below(fig, axes[0][0], ncol=2)
    return fig


def fig_placements(t, L):
    r = _rates(t)[0]
    configs = [c for c in study.CONFIGS if not study.select(t, c, r).empty]
    fig, ax = plots.figure(6.6, 3.2)
    style = plots.bar_styles(("as_trained", "reestimated"))
    for k, (col, key) in enumerate((("test_acc", "as_trained"), ("test_acc_reest", "reestimated"))):
        for i, c in enumerate(configs):
            _bar(ax, i + (k - 0.5) * 0.38, estimate(study.select(t, c, r)[col]), 0.38, style[key],
                 L[key] if i == 0 else None)
    ax.set_xticks(range(len(configs)), [L[c] for c in configs], rotation=25, ha="right")
    ax.set(ylabel=L["test_accuracy"], ylim=(_floor(t, "full"), 1))
    plots.legend_below(fig, ax, ncol=2)
    return fig


def fig_small(t, L):
    sr = _rates(t)[2]
    groups = (("none", 0.0), ("dropout", sr))
    fig, axes = plots.figure(6.4, 3.2, ncols=2)
    acc_style = plots.bar_styles(("train", "test"))
    nll_style = plots.bar_styles(("weight_scaling", "mc_dropout"))
    for i, (c, rate) in enumerate(groups):
        g = study.select(t, c, rate, "small")
        for k, (col, key) in enumerate((("train_acc", "train"), ("test_acc", "test"))):
            _bar(axes[0], i + (k - 0.5) * 0.38, estimate(g[col]), 0.38, acc_style[key], L[key] if i == 0 else None)
        mc = g["mc_nll"] if c == "dropout" else g["test_nll"]
        for k, (vals, key) in enumerate(((g["test_nll"], "weight_scaling"), (mc, "mc_dropout"))):
            _bar(axes[1], i + (k - 0.5) * 0.38, estimate(vals), 0.38, nll_style[key], L[key] if i == 0 else None)
    names = [L["none"], f"{L['dropout']} {sr:g}"]
    m = study.select(t, "none", 0.0, "small")
    axes[0].set(xticks=[0, 1], ylabel=L["accuracy"], ylim=(max(0.0, float(m["test_acc"].min()) - 0.1), 1.02))
    axes[0].set_xticklabels(names)
    axes[1].set(xticks=[0, 1], ylabel=L["test_nll"])
    axes[1].set_xticklabels(names)
    for ax in axes:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    rows = []
    m = t["members"]
    for s in _settings(t):
        g_s = m[m["setting"] == s]
        for (c, rate), g in g_s.groupby(["config", "rate"], sort=False):
            th = _theory(t, c, rate) if s == "full" else None
            first = int(g["first_bn"].iloc[0])
            rows.append({**({L["col_net"]: L[f"net_{s}"]} if len(_settings(t)) > 1 else {}), L["col_config"]: L[c],
                         L["col_rate"]: (f"{rate:g}" + (f" (β {g['beta'].iloc[0]:.2f})" if c.startswith("uout") else ""))
                         if c in study.NOISY else "–",
                         L["col_test"]: cell(g["test_acc"]) + (" †" if g["diverged"].any() else ""),
                         L["col_reest"]: cell(g["test_acc_reest"]) if (g["shift_max"].notna().any()) else "–",
                         L["col_shift"]: f"BN {first}: " + cell(g["shift_first"], 2, None) if first else "–",
                         L["col_noise"]: f"{int(th['noise_layers'])}" if th is not None else "–"})
    out = [("results", pd.DataFrame(rows))]
    small = m[m["setting"] == "small"]
    if not small.empty:
        srows = []
        for (c, rate), g in small.groupby(["config", "rate"], sort=False):
            srows.append({L["col_config"]: L[c] + (f" {rate:g}" if c in study.NOISY else ""),
                          L["col_train"]: cell(g["train_acc"]), L["col_test"]: cell(g["test_acc"]),
                          L["col_nll"]: cell(g["test_nll"], 3, None),
                          L["col_mc_nll"]: cell(g["mc_nll"] if c in study.NOISY else g["test_nll"], 3, None)})
        out.append(("small", pd.DataFrame(srows)))
    return out
