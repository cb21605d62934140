"""The transfer study's report: named facts, figures and tables, from the logged tables."""
import numpy as np
import pandas as pd

from study.engine.stats import estimate, paired
from study.report import plots
from study.report.facts import seed_disagreement
from study.report.format import cell
from study.studies import transfer as study

PLAIN = ("scratch", "finetune", "frozen", "frozen_random")
BN_CELLS = [(s, m) for s in study.SCHEDULES for m in study.BN_MODES]


def _labels(t) -> list[int]:
    return study.plain_labels(t)


def _has_bn(t) -> bool:
    return bool((t["members"]["net"] == "bn").any())


def _bn_labels(t) -> int:
    m = t["members"]
    return int(m[m["net"] == "bn"]["labels"].iloc[0])


def facts(t: dict, params: dict) -> dict:
    f = {"labels": _labels(t), "bn": _has_bn(t), "few": study.few(_labels(t)), "slope_acc": study.SLOPE_ACC,
         "good_acc": study.GOOD_ACC}
    n0, nf = f["labels"][0], f["few"]
    f["n0"], f["total0"], f["total_few"] = n0, n0 * len(study.TARGET_CLASSES), nf * len(study.TARGET_CLASSES)
    for arm in PLAIN:
        for n in f["labels"]:
            g = study.select(t, arm, n)
            f[f"{arm}_{n}"] = estimate(g["test_acc"])
            f[f"lr_{arm}_{n}"] = float(g["lr"].iloc[0])
    for n in f["labels"]:
        f[f"features_{n}"] = paired(study.select(t, "frozen", n), study.select(t, "frozen_random", n))
        f[f"ft_gain_{n}"] = paired(study.select(t, "finetune", n), study.select(t, "scratch", n))
        f[f"frozen_gain_{n}"] = paired(study.select(t, "frozen", n), study.select(t, "scratch", n))
    pre = t["pretrain"]
    f["source_acc"] = estimate(pre[pre["net"] == "plain"]["source_test_acc"])
    if f["bn"]:
        nb = f["bn_labels"] = _bn_labels(t)
        for s, m in BN_CELLS:
            g = study.select(t, f"bn_{s}_{m}", nb)
            f[f"bn_{s}_{m}"] = estimate(g["test_acc"])
            f[f"lr_bn_{s}_{m}"] = float(g["lr"].iloc[0])
        st = t["bn_stats"]
        first = st[st["bn_layer"] == 1].groupby("images")[["mean_shift", "var_ratio"]].mean()
        f["shift_target"], f["ratio_target"] = (float(first.loc["target", c]) for c in ("mean_shift", "var_ratio"))
        f["shift_source"], f["ratio_source"] = (float(first.loc["source", c]) for c in ("mean_shift", "var_ratio"))
    f["disagreement"] = seed_disagreement(t["members"], ["arm", "labels"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    out = [("curves", lambda: fig_curves(t, L))]
    if _has_bn(t):
        out.append(("bn", lambda: fig_bn(t, L)))
    return out + [("examples", lambda: fig_examples(p, L))]


def _curve(t, arm, n):
    h = t["history"]
    h = h[(h["arm"] == arm) & (h["labels"] == n)]
    s = h.groupby("step")["val_acc"].apply(lambda v: estimate(v.to_numpy()))
    return s.index.to_numpy(), np.array([[e.mean, e.lo, e.hi] for e in s])


def fig_curves(t, L):
    labels = _labels(t)
    fig, axes = plots.figure(3.2 * len(labels) + 0.4, 3.4, ncols=len(labels), sharey=True, squeeze=False)
    style = plots.styles(PLAIN)
    for ax, n in zip(axes[0], labels):
        for arm in PLAIN:
            x, e = _curve(t, arm, n)
            plots.band(ax, x, e[:, 0], np.nan_to_num(e[:, 1], nan=e[:, 0]).clip(0, 1),
                       np.nan_to_num(e[:, 2], nan=e[:, 0]).clip(0, 1), L[arm], markevery=max(1, len(x) // 8),
                       **style[arm])
        ax.axhline(study.SLOPE_ACC, color="k", ls=":", lw=0.8)
        ax.axhline(study.CHANCE, color="#777", lw=0.6)
        ax.set(xlabel=L["step"], title=L["per_class"].format(n=n))
    axes[0][0].set_ylabel(L["val_acc"])
    plots.legend_below(fig, axes[0][0], ncol=2)
    return fig


def fig_bn(t, L):
    nb = _bn_labels(t)
    fig, ax = plots.figure(3.6, 3.0)
    style = plots.styles(study.BN_MODES)
    x = np.arange(len(study.SCHEDULES))
    for i, mode in enumerate(study.BN_MODES):
        es = [estimate(study.select(t, f"bn_{s}_{mode}", nb)["test_acc"]) for s in study.SCHEDULES]
        mean = np.array([e.mean for e in es])
        err = np.nan_to_num(np.array([[e.mean - e.lo, e.hi - e.mean] for e in es]).T)
        ax.errorbar(x + (i - 0.5) * 0.08, mean, yerr=err, capsize=3, label=L[f"mode_{mode}"], **style[mode])
    ax.set_xticks(x, [L[s] for s in study.SCHEDULES])
    ax.set_xlim(-0.4, len(x) - 0.6)
    ax.set_ylabel(L["test_acc"])
    plots.legend_below(fig, ax, ncol=2)
    return fig


def fig_examples(p, L):
    """Three digits of each task, as the nets see them (before standardisation), from the same generator."""
    from study.data.degraded import degrade
    from study.data.digits import raw_digits

    x, y = raw_digits()
    src = np.flatnonzero(y < 5)[:3]
    tgt = np.flatnonzero(y >= 5)[:3]
    rows = [(L["source_row"], degrade(x, p["noise"], 1.0, 0.0, p["data_seed"])[src]),
            (L["target_row"], degrade(x, p["noise"], p["contrast"], p["offset"], p["data_seed"])[tgt])]
    lo = min(float(r.min()) for _, r in rows)
    hi = max(float(r.max()) for _, r in rows)
    fig, axes = plots.figure(3.6, 2.6, nrows=2, ncols=3, squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for k in range(3):
            plots.pixels(axes[r, k], imgs[k].reshape(8, 8), cmap="gray_r", vmin=lo, vmax=hi)
            plots.bare(axes[r, k])
        axes[r, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def _row(t, arm, n, L):
    g = study.select(t, arm, n)
    k = study.steps_to(t, arm, n, study.SLOPE_ACC)
    return {L["col_labels"]: n, L["col_arm"]: L[arm],
            L["col_lr"]: f"{float(g['lr'].iloc[0]):g}" + (" *" if g["lr_at_edge"].any() else ""),
            L["col_start"]: cell(g["start_acc"]),
            L["col_steps"]: cell(k["steps"], 0, None) + f" ({int(k['reached'].sum())}/{len(k)})",
            L["col_test"]: cell(g["test_acc"]) + (" †" if g["diverged"].any() else "")}


def tables(t: dict, p: dict, L: dict) -> list:
    out = [("results", pd.DataFrame([_row(t, arm, n, L) for n in _labels(t) for arm in PLAIN]))]
    if _has_bn(t):
        nb = _bn_labels(t)
        out.append(("bn", pd.DataFrame([_row(t, f"bn_{s}_{m}", nb, L) for s, m in BN_CELLS])))
        st = t["bn_stats"].groupby(["bn_layer", "images"])[["mean_shift", "var_ratio"]].mean().unstack("images")
        out.append(("bn_stats", pd.DataFrame({
            L["col_layer"]: st.index.astype(int),
            L["col_shift_source"]: [f"{v:.2f}" for v in st[("mean_shift", "source")]],
            L["col_shift_target"]: [f"{v:.2f}" for v in st[("mean_shift", "target")]],
            L["col_ratio_source"]: [f"{v:.2f}" for v in st[("var_ratio", "source")]],
            L["col_ratio_target"]: [f"{v:.2f}" for v in st[("var_ratio", "target")]]})))
    return out
