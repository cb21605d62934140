"""The optimizer study's report: named facts, figures and tables, from the logged tables."""
import math

import numpy as np
import pandas as pd
import torch

from study.engine import landscapes as land
from study.engine.stats import estimate, paired, proportion
from study.report import plots
from study.report.format import cell, pct, pt
from study.studies import optimizers as study

FAMILIES = (("sgd", "momentum", "nesterov"), ("adagrad", "rmsprop", "adam", "adamw"))  # ≤ 5 series per panel
TOY_SETTINGS = ("sgd", "momentum", "momentum_b09", "adagrad", "rmsprop", "adam")


def _err(e) -> list:
    """Error-bar half-lengths of an estimate, never negative (a Wilson bound at 0 or 1 can round past the mean)."""
    return np.maximum(0.0, np.nan_to_num([[e.mean - e.lo], [e.hi - e.mean]])).tolist()


def _smallest(t) -> str:
    r = t["land_runs"]
    return f"sgd{int(r[r['method'] != 'gd']['batch'].min())}"


def _landscapes(t) -> list[str]:
    return list(dict.fromkeys(t["land_runs"]["landscape"]))


def facts(t: dict, params: dict) -> dict:
    f = {"landscapes": _landscapes(t), "smallest": int(_smallest(t)[3:])}
    for n in f["landscapes"]:
        for method, key in (("gd", "gd"), (_smallest(t), "sgd")):
            g = study.land_select(t, n, method)
            f[f"{n}_{key}_global"] = proportion(int(g["global"].astype(bool).sum()), len(g))
            f[f"{n}_{key}_loss"] = estimate(g["final_loss"])
        gd, sgd = study.land_select(t, n, "gd"), study.land_select(t, n, _smallest(t))
        f[f"{n}_loss_diff"] = paired(sgd, gd, "final_loss")
        # where SGD ends: the share in the basin that GD fills most (the widest basin under noise-free flow)
        widest = int(gd["basin"].value_counts().idxmax())
        f[f"{n}_widest_is_global"] = widest == 0
        f[f"{n}_sgd_widest"] = proportion(int((sgd["basin"] == widest).sum()), len(sgd))
        f[f"{n}_gd_widest"] = proportion(int((gd["basin"] == widest).sum()), len(gd))
        mins = t["land_minima"][t["land_minima"]["landscape"] == n]
        f[f"{n}_minima"] = len(mins)
        f[f"{n}_global_f"] = float(mins["f"].iloc[0])
        f[f"{n}_widest_f"] = float(mins["f"].iloc[widest]) if widest < len(mins) else math.nan
    ng = "narrow_global" in f["landscapes"]
    f["noise_selects_width"] = bool(ng and f["narrow_global_sgd_widest"].lo > f["narrow_global_gd_widest"].hi
                                    and f["narrow_global_sgd_global"].hi < f["narrow_global_gd_global"].lo)
    ms = t.get("mlp_starts")
    f["mlp"] = ms is not None and not ms.empty
    if f["mlp"]:
        s, g = ms[ms["method"] == "sgd"], ms[ms["method"] == "gd"]
        f.update({"mlp_gd_lr": float(g["lr"].iloc[0]), "mlp_sgd_lr": float(s["lr"].iloc[0]),
                  "mlp_gd_updates": int(g["updates"].iloc[0]), "mlp_sgd_updates": int(s["updates"].iloc[0]),
                  "mlp_gd_loss": estimate(g["final_train_loss"]), "mlp_sgd_loss": estimate(s["final_train_loss"]),
                  "mlp_loss_diff": paired(s, g, "final_train_loss"), "mlp_gd_test": estimate(g["test_acc"]),
                  "mlp_sgd_test": estimate(s["test_acc"]), "mlp_test_diff": paired(s, g),
                  "mlp_gd_spread": float(g["final_train_loss"].std()), "mlp_sgd_spread": float(s["final_train_loss"].std())})
    f.update(study.toy_numbers(t))
    # Polyak's heavy ball on a quadratic with curvatures L = 2 (y) and mu = 0.1 (x): the optimal beta and rate
    L_, mu = 2.0, 0.1
    kappa = L_ / mu
    f["polyak_beta"] = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
    f["polyak_lr"] = 4 / (math.sqrt(L_) + math.sqrt(mu)) ** 2
    f["margin"] = study.C8_MARGIN
    for fn in ("toy", "rotated"):
        g = t["toy_grid"]
        mom = g[(g["function"] == fn) & (g["optimizer"] == "momentum")]
        f[f"{fn}_momentum_budget"] = int(len(mom))
    m = t.get("members")
    f["shootout"] = m is not None and not m.empty
    if f["shootout"]:
        groups = study.shootout_diffs(m)
        f["tasks"] = list(groups)
        for task, g in groups.items():
            f[f"{task}_best"] = g["best"]
            f[f"{task}_best_acc"] = estimate(m[(m["task"] == task) & (m["optimizer"] == g["best"])]["test_acc"])
            for o, d in g["diffs"].items():
                f[f"{task}_{o}_diff"] = d
                f[f"{task}_{o}_acc"] = estimate(m[(m["task"] == task) & (m["optimizer"] == o)]["test_acc"])
                f[f"{task}_{o}_train_loss"] = estimate(m[(m["task"] == task) & (m["optimizer"] == o)]["final_train_loss"])
        f["optimizers"] = list(dict.fromkeys(m["optimizer"]))
        tu = t["tuning"]
        f["trials"] = int(tu.groupby(["task", "optimizer"])["trial"].nunique().max())
    return f


# --- figures ------------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    out = [("landscape", lambda: fig_landscape(t, L)), ("basins", lambda: fig_basins(t, L))]
    if "mlp_starts" in t and not t["mlp_starts"].empty:
        out.append(("mlp", lambda: fig_mlp(t, L)))
    out += [("toy", lambda: fig_toy(t, L)), ("toy_grid", lambda: fig_toy_grid(t, L)), ("beta", lambda: fig_beta(t, L))]
    if "members" in t and not t["members"].empty:
        out += [("shootout", lambda: fig_shootout(t, p, L)), ("sensitivity", lambda: fig_sensitivity(t, L)),
                ("curves", lambda: fig_curves(t, L))]
    return out


def _contour(ax, f, lim_x, lim_y, levels=16, log=False):
    # A 120-point grid is smooth at this size and keeps the vector figure small.
    xs, ys = np.linspace(*lim_x, 120), np.linspace(*lim_y, 120)
    gx, gy = np.meshgrid(xs, ys)
    z = f(torch.tensor(np.stack([gx, gy], -1), dtype=torch.float64)).numpy()
    ax.contour(gx, gy, np.log10(z + 1e-3) if log else z, levels=levels, colors="#bbbbbb", linewidths=0.6)


def _method(method: str, L) -> str:
    return L["gd"] if method == "gd" else L["sgd_b"].format(b=method[3:])


def fig_landscape(t, L):
    runs, paths, mins = t["land_runs"], t["land_paths"], t["land_minima"]
    names = _landscapes(t)
    methods = ["gd", _smallest(t)]
    style = plots.styles(methods)
    fig, axes = plots.figure(5.6, 2.7 * len(names), nrows=len(names), ncols=2, squeeze=False)
    box = float(max(runs["x0"].abs().max(), runs["y0"].abs().max()))
    for i, name in enumerate(names):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            _contour(ax, land.LANDSCAPES[name], (-box, box), (-box, box))
            pth = paths[(paths["landscape"] == name) & (paths["method"] == method)]
            for k, (_, g) in enumerate(pth.groupby("start")):
                g = g.sort_values("epoch")
                ax.plot(g["x"], g["y"], lw=0.8, ms=1.5, label=_method(method, L) if k == 0 else None,
                        **style[method])
            mm = mins[mins["landscape"] == name]
            ax.plot(mm["x"], mm["y"], "k.", ms=5)
            ax.plot(mm["x"].iloc[0], mm["y"].iloc[0], "k*", ms=10, label=L["global_min"] if j == 0 else None)
            ax.set(xlim=(-box, box), ylim=(-box, box), aspect="equal",
                   title=f"{L['land_' + name]}: {_method(method, L)}")
    handles = [h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]]
    labels = [lb for ax in axes[0] for lb in ax.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def fig_basins(t, L):
    runs = t["land_runs"]
    names = _landscapes(t)
    fig, axes = plots.figure(6.6, 4.6, nrows=2, ncols=len(names), squeeze=False)
    for i, name in enumerate(names):
        d = runs[runs["landscape"] == name]
        methods = list(dict.fromkeys(d["method"]))
        style = plots.bar_styles(methods)
        for k, m in enumerate(methods):
            g = d[d["method"] == m]
            e = proportion(int(g["global"].astype(bool).sum()), len(g))
            axes[0, i].bar(k, e.mean, 0.7, yerr=_err(e), capsize=3, **style[m])
            lo = estimate(g["final_loss"])
            axes[1, i].bar(k, lo.mean, 0.7, yerr=_err(lo), capsize=3,
                           **style[m])
        for r in (0, 1):
            axes[r, i].set_xticks(range(len(methods)), [_method(m, L) for m in methods], rotation=30)
        axes[0, i].set(ylim=(0, 1), title=L["land_" + name])
    axes[0, 0].set_ylabel(L["global_share"])
    axes[1, 0].set_ylabel(L["final_loss"])
    fig.tight_layout()
    return fig


def fig_mlp(t, L):
    ms = t["mlp_starts"]
    fig, axes = plots.figure(5.0, 2.8, ncols=2)
    style = plots.styles(["gd", "sgd"])
    for ax, col, label in zip(axes, ("final_train_loss", "test_acc"), (L["train_loss"], L["test_accuracy"])):
        for k, m in enumerate(("gd", "sgd")):
            v = ms[ms["method"] == m][col].to_numpy()
            jitter = np.linspace(-0.12, 0.12, len(v))
            ax.plot(k + jitter, v, ls="none", color=style[m]["color"], marker=style[m]["marker"], ms=4)
            e = estimate(v)
            ax.errorbar(k + 0.3, e.mean, yerr=_err(e), fmt="k_", capsize=3)
        ax.set_xticks([0, 1], [L["gd"], L["sgd_b"].format(b=int(ms[ms["method"] == "sgd"]["batch"].iloc[0]))])
        ax.set(ylabel=label, xlim=(-0.5, 1.6))
    axes[0].set_yscale("log")
    fig.tight_layout()
    return fig


def fig_toy(t, L):
    tp = t["toy_paths"]
    rows = [("toy", "classic"), ("toy", "tuned"), ("rotated", "tuned")]
    style = plots.styles(study.TOY_OPTIMIZERS)
    fig, axes = plots.figure(6.7, 4.9, nrows=len(rows), ncols=len(study.TOY_OPTIMIZERS), squeeze=False,
                             sharex=True, sharey=True)
    for i, (fn, setting) in enumerate(rows):
        for j, opt in enumerate(study.TOY_OPTIMIZERS):
            ax = axes[i, j]
            _contour(ax, land.FUNCTIONS[fn], (-10, 10), (-6, 6), levels=np.logspace(-2, 2, 10))
            c = tp[(tp["function"] == fn) & (tp["setting"] == setting) & (tp["optimizer"] == opt)].sort_values("step")
            ax.plot(c["x"], c["y"], lw=0.8, ms=2, **style[opt])
            ax.plot(0, 0, "k+", ms=7)
            ax.set(xlim=(-10, 10), ylim=(-6, 6))
            if i == 0:
                ax.set_title(L["opt_" + opt])
            if j == 0:
                ax.set_ylabel(L[f"row_{fn}_{setting}"])
    fig.tight_layout()
    return fig


def _best_over_beta(d, cap):
    """Per learning rate, the fewest steps to sustained convergence over β (cap where none converges)."""
    s = d.assign(s=d["steps_to_tol"].where(d["steps_to_tol"] >= 0, np.nan))
    best = s.groupby("lr")["s"].min()
    return best.index.to_numpy(), best.fillna(cap).to_numpy()


def fig_toy_grid(t, L):
    g = t["toy_grid"]
    fns = list(dict.fromkeys(g["function"]))
    groups = (("sgd", "momentum", "momentum_b09"), ("adagrad", "rmsprop", "adam"))
    style = plots.styles(TOY_SETTINGS)
    fig, axes = plots.figure(6.7, 4.6, nrows=2, ncols=len(fns), squeeze=False, sharex=True)
    for j, fn in enumerate(fns):
        d = g[g["function"] == fn]
        cap = int(d["max_steps"].iloc[0])
        for i, group in enumerate(groups):
            ax = axes[i, j]
            for opt in group:
                o = d[d["optimizer"] == opt]
                if o.empty:
                    continue
                x, y = _best_over_beta(o, cap)
                ax.plot(x, y, lw=1.0, ms=2, markevery=max(1, len(x) // 12), label=L["opt_" + opt], **style[opt])
            ax.axhline(cap, color="#888", lw=0.6, ls=":")
            ax.set(xscale="log", yscale="log")
            if i == 0:
                ax.set_title(L["fn_" + fn])
            if i == 1:
                ax.set_xlabel(L["lr"])
            if j == 0:
                ax.set_ylabel(L["steps"])
                ax.legend(loc="lower left", fontsize=7.5)
    fig.tight_layout()
    return fig


def fig_beta(t, L):
    g = t["toy_grid"]
    fns = [fn for fn in ("toy", "rotated") if fn in set(g["function"])]
    style = plots.styles(fns)
    fig, ax = plots.figure(4.0, 2.8)
    for fn in fns:
        d = g[(g["function"] == fn) & (g["optimizer"] == "momentum")]
        cap = int(d["max_steps"].iloc[0])
        s = d.assign(s=d["steps_to_tol"].where(d["steps_to_tol"] >= 0, np.nan)).groupby("beta")["s"].min()
        ax.plot(s.index, s.fillna(cap).to_numpy(), label=L["fn_" + fn], **style[fn])
    ax.set(xlabel=L["beta"], ylabel=L["steps"], yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig


def fig_shootout(t, p, L):
    """Each optimizer's difference to the task's best (paired by seed, 95% interval) with the ±margin band."""
    m = t["members"]
    groups = study.shootout_diffs(m)
    tasks = list(groups)
    fig, axes = plots.figure(6.4, 0.35 * len(set(m["optimizer"])) + 1.6, ncols=len(tasks), squeeze=False, sharey=True)
    opts = [o for o in study.OPTIMIZERS if o in set(m["optimizer"])]
    for ax, task in zip(axes[0], tasks):
        margin = study.C8_MARGIN
        ax.axvline(0, color="#444", lw=0.6)
        for k, o in enumerate(opts):
            e = groups[task]["diffs"].get(o)
            if e is None:
                continue
            fam = 0 if o in study.SGD_FAMILY else 1
            mk = "s" if fam == 0 else "o"
            ax.errorbar(100 * e.mean, k, xerr=100 * np.array(_err(e)),
                        fmt=mk, color=plots.COLORS[fam], capsize=3, ms=5)
        ax.axvspan(-100 * margin, 100 * margin, color="#bbbbbb", alpha=0.5, lw=0)
        ax.set(title=f"{L['task_' + task]} ({L['best']}: {L['opt_' + groups[task]['best']]})", xlabel=L["diff_pt"])
        ax.set_xlim(left=min(ax.get_xlim()[0], -3 * 100 * margin), right=max(ax.get_xlim()[1], 100 * margin * 1.5))
    axes[0, 0].set_yticks(range(len(opts)), [L["opt_" + o] for o in opts])
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def fig_sensitivity(t, L):
    tu = t["tuning"]
    tasks = list(dict.fromkeys(tu["task"]))
    fams = [f for f in FAMILIES if set(f) & set(tu["optimizer"])]
    style = plots.styles(study.OPTIMIZERS)
    fig, axes = plots.figure(6.4, 2.4 * len(tasks), nrows=len(tasks), ncols=len(fams), squeeze=False, sharey=True)
    for i, task in enumerate(tasks):
        for j, fam in enumerate(fams):
            ax = axes[i, j]
            for o in fam:
                d = tu[(tu["task"] == task) & (tu["optimizer"] == o)]
                if d.empty:
                    continue
                mean = d.groupby("trial").agg(lr=("lr", "first"), val_acc=("val_acc", "mean"),
                                              chosen=("chosen", "first")).sort_values("lr")
                ax.plot(mean["lr"], mean["val_acc"].fillna(0), ls="none", label=L["opt_" + o],
                        **{k: v for k, v in style[o].items() if k != "ls"})
                ch = mean[mean["chosen"].astype(bool)]
                ax.plot(ch["lr"], ch["val_acc"], "o", ms=9, mfc="none", color=style[o]["color"])
            ax.set(xscale="log", ylim=(-0.03, 1.02), title=L["task_" + task])
            if i == len(tasks) - 1:
                ax.set_xlabel(L["lr"])
            if j == 0:
                ax.set_ylabel(L["val_acc"])
            if i == 0:
                ax.legend(loc="lower left", fontsize=7.5)
    fig.tight_layout()
    return fig


def fig_curves(t, L):
    c = t["curves"]
    tasks = list(dict.fromkeys(c["task"]))
    fams = [f for f in FAMILIES if set(f) & set(c["optimizer"])]
    style = plots.styles(study.OPTIMIZERS)
    fig, axes = plots.figure(6.4, 2.4 * len(tasks), nrows=len(tasks), ncols=len(fams), squeeze=False)
    for i, task in enumerate(tasks):
        for j, fam in enumerate(fams):
            ax = axes[i, j]
            for o in fam:
                d = c[(c["task"] == task) & (c["optimizer"] == o)]
                if d.empty:
                    continue
                mean = d.groupby("epoch")["train_loss"].mean()
                ax.plot(mean.index, mean.to_numpy(), label=L["opt_" + o], markevery=max(1, len(mean) // 6),
                        **style[o])
            ax.set(yscale="log", title=L["task_" + task])
            if i == len(tasks) - 1:
                ax.set_xlabel(L["epoch"])
            if j == 0:
                ax.set_ylabel(L["train_loss"])
            if i == 0:
                ax.legend(fontsize=7.5)
    fig.tight_layout()
    return fig


# --- tables -------------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    out = [("landscape", landscape_table(t, L))]
    if "mlp_starts" in t and not t["mlp_starts"].empty:
        out.append(("mlp", mlp_table(t, L)))
    out.append(("toy", toy_table(t, L)))
    if "members" in t and not t["members"].empty:
        out.append(("shootout", shootout_table(t, L)))
    return out


def landscape_table(t, L) -> pd.DataFrame:
    rows = []
    for (name, method), g in t["land_runs"].groupby(["landscape", "method"], sort=False):
        e = proportion(int(g["global"].astype(bool).sum()), len(g))
        rows.append({L["col_landscape"]: L["land_" + name], L["col_method"]: _method(method, L),
                     L["col_updates"]: int(g["updates_per_epoch"].iloc[0]), L["col_global"]: pct(e),
                     L["col_loss"]: cell(g["final_loss"], 2, clip=None)})
    return pd.DataFrame(rows)


def mlp_table(t, L) -> pd.DataFrame:
    ms = t["mlp_starts"]
    rows = []
    for m, g in ms.groupby("method", sort=False):
        rows.append({L["col_method"]: L["gd"] if m == "gd" else L["sgd_b"].format(b=int(g["batch"].iloc[0])),
                     L["col_lr"]: f"{g['lr'].iloc[0]:g}", L["col_updates_total"]: int(g["updates"].iloc[0]),
                     L["col_train_loss"]: cell(g["final_train_loss"], 3, clip=None),
                     L["col_test"]: cell(g["test_acc"])})
    return pd.DataFrame(rows)


def toy_table(t, L) -> pd.DataFrame:
    g = t["toy_grid"]
    ch = g[g["chosen"].astype(bool)]
    rows = []
    for opt in TOY_SETTINGS:
        row = {L["col_opt"]: L["opt_" + opt]}
        for fn in dict.fromkeys(g["function"]):
            c = ch[(ch["function"] == fn) & (ch["optimizer"] == opt)]
            if c.empty:
                continue
            s = int(c["steps_to_tol"].iloc[0])
            beta = float(c["beta"].iloc[0])
            setting = f"{c['lr'].iloc[0]:.3g}" + ("" if math.isnan(beta) else f", β {beta:.2f}")
            row[L["col_" + fn]] = (str(s) if s >= 0 else f"> {int(c['max_steps'].iloc[0])}") + f" ({setting})"
        rows.append(row)
    return pd.DataFrame(rows)


def shootout_table(t, L) -> pd.DataFrame:
    m = t["members"]
    groups = study.shootout_diffs(m)
    stand = {}
    for task, g in groups.items():
        for o, d in g["diffs"].items():
            stand[(task, o)] = study.standing(d, o == g["best"], study.C8_MARGIN)
    rows = []
    for task, g in groups.items():
        d = m[m["task"] == task]
        for o in sorted(g["means"], key=lambda o: -g["means"][o]):
            r = d[d["optimizer"] == o]
            hyper = ", ".join(f"{L.get('h_' + k, k)} {r[k].iloc[0]:.2g}" for k in study.SPACES[o])
            rows.append({L["col_task"]: L["task_" + task], L["col_opt"]: L["opt_" + o], L["col_hyper"]: hyper,
                         L["col_test"]: cell(r["test_acc"]) + (" †" if r["diverged"].astype(bool).any() else ""),
                         L["col_vs_best"]: "–" if o == g["best"] else pt(g["diffs"][o]),
                         L["col_standing"]: L["stand_" + stand[(task, o)]]})
    return pd.DataFrame(rows)
