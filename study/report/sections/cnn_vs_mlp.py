"""The CNN vs MLP study's report: named facts, figures and the results table, from the logged tables."""
import numpy as np
import pandas as pd
import torch

from study.engine.stats import estimate, paired
from study.report import plots
from study.report.facts import seed_disagreement
from study.report.format import cell
from study.studies import cnn_vs_mlp as study


def _size(t, task, arch, col="params", order="original"):
    s = t["sizes"]
    return s[(s["task"] == task) & (s["arch"] == arch) & (s["order"] == order)][col].iloc[0]


def _has_canvas(t) -> bool:
    return "canvas" in set(t["members"]["task"])


def facts(t: dict, params: dict) -> dict:
    sel = lambda *k: study.select(t, *k)
    f = {"cnn_params": int(_size(t, "digits", "cnn")), "mlp_params": int(_size(t, "digits", "mlp")),
         "mlp_width": int(_size(t, "digits", "mlp", "width")), "canvas": _has_canvas(t)}
    for arch in study.ARCHS:
        for order in study.ORDERS:
            g = sel("digits", arch, order)
            f[f"acc_{arch}_{order}"] = estimate(g["test_acc"])
            f[f"shift_{arch}_{order}"] = estimate(g["shift_acc"])
            f[f"lr_{arch}_{order}"] = float(_size(t, "digits", arch, "lr", order))
            f[f"edge_{arch}_{order}"] = bool(_size(t, "digits", arch, "lr_at_edge", order))
        g = sel("digits", arch)
        f[f"shift_drop_{arch}"] = estimate(g["test_acc"] - g["shift_acc"])
        f[f"perm_change_{arch}"] = paired(sel("digits", arch, "permuted"), g)
    f["moved_original"] = float(sel("digits", "cnn")["filter_change"].mean())
    f["moved_permuted"] = float(sel("digits", "cnn", "permuted")["filter_change"].mean())
    if f["canvas"]:
        for arch in study.CANVAS_ARCHS:
            f[f"canvas_{arch}"] = estimate(sel("canvas", arch)["test_acc"])
            f[f"canvas_train_{arch}"] = estimate(sel("canvas", arch)["train_acc"])
            f[f"canvas_params_{arch}"] = int(_size(t, "canvas", arch))
            f[f"canvas_lr_{arch}"] = float(_size(t, "canvas", arch, "lr"))
        f["canvas_mlp_width"] = int(_size(t, "canvas", "mlp", "width"))
        f["canvas_cnn_minus_wide"] = paired(sel("canvas", "cnn"), sel("canvas", "wide"))
        f["wide_times"] = f["canvas_params_wide"] / f["canvas_params_cnn"]
    f["disagreement"] = seed_disagreement(t["members"], ["task", "arch", "order"])
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    out = [("accuracy", lambda: fig_accuracy(t, L))]
    if _has_canvas(t):
        out.append(("canvas", lambda: fig_canvas(t, L)))
    return out + [("filters", lambda: fig_filters(t, L)), ("examples", lambda: fig_examples(t, p, L))]


def _bars(ax, groups, arms, values, L, style):
    x = np.arange(len(groups))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        stats = [values(arm, g) for g in groups]
        mean = np.array([s.mean for s in stats])
        err = np.nan_to_num(np.array([[s.mean - s.lo, s.hi - s.mean] for s in stats]).T)
        ax.bar(x + (i - (len(arms) - 1) / 2) * width, mean, width, yerr=err, capsize=3, label=L[arm],
               error_kw={"elinewidth": 0.8}, **style[arm])
    ax.set_xticks(x, [L[g] for g in groups])


def fig_accuracy(t, L):
    fig, axes = plots.figure(6.4, 3.2, ncols=2, sharey=True)
    style = plots.bar_styles(study.ARCHS)
    for ax, col, title in zip(axes, ("test_acc", "shift_acc"), (L["as_they_are"], L["shifted"])):
        _bars(ax, study.ORDERS, study.ARCHS,
              lambda a, o: estimate(study.select(t, "digits", a, o)[col]), L, style)
        ax.set_title(title)
    m = t["members"][t["members"]["task"] == "digits"]
    axes[0].set(ylabel=L["test_accuracy"], ylim=(max(0.0, float(m[["test_acc", "shift_acc"]].min().min()) - 0.1), 1.0))
    plots.legend_below(fig, axes[0], ncol=2)
    return fig


def fig_canvas(t, L):
    fig, ax = plots.figure(4.6, 3.0)
    style = plots.bar_styles(study.CANVAS_ARCHS)
    for i, arch in enumerate(study.CANVAS_ARCHS):
        for col, alpha in (("train_acc", 0.35), ("test_acc", 1.0)):
            e = estimate(study.select(t, "canvas", arch)[col])
            ax.bar(i + (0.2 if col == "test_acc" else -0.2), e.mean, 0.38, alpha=alpha,
                   yerr=np.nan_to_num([[e.mean - e.lo], [e.hi - e.mean]]), capsize=3, **style[arch],
                   label=L["train"] if (col == "train_acc" and i == 0) else (L["test"] if i == 0 else None))
    ax.set_xticks(range(len(study.CANVAS_ARCHS)),
                  [f"{L[a + '_canvas']}\n({int(_size(t, 'canvas', a)):,})" for a in study.CANVAS_ARCHS])
    ax.set(ylabel=L["accuracy"], ylim=(0, 1))
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def fig_filters(t, L):
    f = t["filters"]
    f = f[f["seed"] == f["seed"].min()]
    n = int(f["filter"].max()) + 1
    fig, axes = plots.figure(0.75 * n + 1.4, 2.2, nrows=2, ncols=n, squeeze=False)
    for r, order in enumerate(study.ORDERS):
        for k in range(n):
            g = f[(f["order"] == order) & (f["filter"] == k)].sort_values(["row", "col"])
            w = g["weight"].to_numpy().reshape(3, 3)
            s = float(np.abs(w).max()) or 1.0
            plots.pixels(axes[r, k], w, cmap="RdBu_r", vmin=-s, vmax=s)
            plots.bare(axes[r, k])
        axes[r, 0].set_ylabel(L[order])
    fig.tight_layout()
    return fig


def fig_examples(t, p, L):
    """Three digits in both pixel orders (from sklearn's raw images and the logged permutation), and on the
    canvas when the study ran it."""
    from sklearn.datasets import load_digits

    from study.data.canvas import placed

    perm = torch.tensor(t["permutation"].sort_values("position")["source_pixel"].to_numpy())
    x = load_digits().data[:3].astype(np.float32) / 16.0
    rows = [(L["original"], x, study.SIDE), (L["permuted"], study.permute(torch.from_numpy(x), perm).numpy(),
                                                study.SIDE)]
    if _has_canvas(t):
        side = p["canvas_side"]
        rows.append((L["canvas_row"], placed(x, side, p["canvas_scale"], 0)[0], side))
    fig, axes = plots.figure(4.2, 1.2 * len(rows), nrows=len(rows), ncols=3, squeeze=False)
    for r, (name, imgs, side) in enumerate(rows):
        for k in range(3):
            plots.pixels(axes[r, k], imgs[k].reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
            plots.bare(axes[r, k])
        axes[r, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    rows = []
    for task, arch, order in [("digits", a, o) for a in study.ARCHS for o in study.ORDERS] + \
                             ([("canvas", a, "original") for a in study.CANVAS_ARCHS] if _has_canvas(t) else []):
        g = study.select(t, task, arch, order)
        rows.append({L["col_task"]: L[f"task_{task}"] + ("" if order == "original" else f" ({L['permuted']})"),
                     L["col_net"]: L[arch if task == "digits" else f"{arch}_canvas"],
                     L["col_params"]: f"{int(_size(t, task, arch, order=order)):,}",
                     L["col_lr"]: f"{float(_size(t, task, arch, 'lr', order)):g}"
                                  + (" *" if _size(t, task, arch, "lr_at_edge", order) else ""),
                     L["col_train"]: cell(g["train_acc"]),
                     L["col_test"]: cell(g["test_acc"]) + (" †" if g["diverged"].any() else ""),
                     L["col_shift"]: cell(g["shift_acc"]) if task == "digits" else "–"})
    return [("accuracy", pd.DataFrame(rows))]
