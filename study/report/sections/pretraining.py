"""The pretraining study's report: named facts, figures and tables, from the logged tables (the measures and the
claims live in study.studies.pretraining)."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import estimate
from study.report import plots
from study.report.format import cell
from study.studies import pretraining as study

FT_CONDITIONS = ("none", "mlm", "nsp", "mlm_nsp", "mlm_nsp_sop")  # five series per panel at most
AUX_TASKS = ("nsp", "sop", "unrelated")


def _conds(values) -> list[str]:
    return [c for c in study.CONDITIONS if c in set(values)]


def _aux_mean(t, task, cond, width=None, docs=None) -> float:
    v = study.aux_values(t, task, cond, width, docs)
    return float(v.mean()) if len(v) else math.nan


def facts(t: dict, params: dict) -> dict:
    f = {"width": study._main_width(t), "big": study._big(t), "aux_margin": study.AUX_MARGIN,
         "mlm_loss_share": study.MLM_LOSS_SHARE}
    q = study.q1_probe(t)
    g = study.generality(t)
    f["conditions"] = _conds(q["condition"]) if not q.empty else []
    f["generality"] = {r["condition"]: {k: (v if isinstance(v, str) else float(v)) for k, v in r.items()}
                       for _, r in g.iterrows()} if not g.empty else {}
    f["aux"] = {c: {task: estimate(study.aux_values(t, task, c, f["width"], f["big"]))
                    for task in ("mlm", *AUX_TASKS) if task in study.CONDITIONS[c]} for c in f["conditions"]}
    f["mlm_chance"] = study.aux_chance(t, "mlm") if not t["aux"].empty else math.nan
    loss = t.get("pretrain_loss", pd.DataFrame())
    f["nsp_last_loss"] = math.nan
    if not loss.empty and "nsp" in set(loss["task"]):
        last = loss[(loss["task"] == "nsp") & (loss["step"] > loss["step"].max() - 100)]
        f["nsp_last_loss"] = float(last["loss"].mean())
    # fine-tuning against steps, and the probe on the same features
    ft = t.get("finetune", pd.DataFrame())
    f["finetune"] = not ft.empty
    if f["finetune"]:
        steps = sorted(set(ft["steps"]))
        n = int(ft["labels"].min())
        last, before = ft[(ft["steps"] == steps[-1]) & (ft["labels"] == n)], \
            ft[(ft["steps"] == steps[max(0, len(steps) - 2)]) & (ft["labels"] == n)]
        j = last.merge(before, on=["condition", "seed", "task"], suffixes=("", "_before"))
        f.update({"ft_steps": steps, "ft_labels": n, "ft_last": estimate(last["acc"]),
                  "ft_still_rising": estimate(j["acc"] - j["acc_before"]),
                  "probe_same": estimate(q[q["condition"].isin(set(last["condition"]))]["acc"]) if not q.empty
                  else estimate([])})
    # representations
    f["seed_cka"] = {c: study.cka_estimate(t, c, c) for c in f["conditions"]}
    f["cka_mlm_nsp"] = study.cka_estimate(t, "mlm", "nsp")
    # Q2
    m = study.mlm_by_size(t)
    m = m[m["width"] == f["width"]] if not m.empty else m
    f["mlm_by_size"] = [{"docs": int(d), "heldout": estimate(g["heldout"]), "train": estimate(g["train"]),
                         "best_step": float(g["best_step"].median())}
                        for d, g in m.groupby("corpus_docs")] if not m.empty else []
    f["early_stopping"] = bool(params.get("val_every")) and bool(f["mlm_by_size"]) \
        and all(math.isfinite(r["best_step"]) for r in f["mlm_by_size"])
    neg = study.negative_transfer(t)
    f["neg_total"] = len(neg)
    f["neg_uncorrected"] = int((neg["hi"] < 0).sum()) if not neg.empty else 0
    f["neg_expected"] = 0.025 * len(neg)
    pts = study.q2_points(t)
    if not pts.empty and pts["flops"].max() > 0:
        hi = pts.groupby(["width", "condition", "corpus_docs"])[["skill", "flops"]].mean()
        best, cheap = hi["skill"].idxmax(), hi["flops"].idxmin()
        f["cost"] = {"best_skill": float(hi.loc[best, "skill"]), "best_gflops": float(hi.loc[best, "flops"]) / 1e9,
                     "cheap_skill": float(hi.loc[cheap, "skill"]), "cheap_gflops": float(hi.loc[cheap, "flops"]) / 1e9}
    else:
        f["cost"] = None
    # the verdicts, so that the chapter questions' evidence quotes only the comparisons that hold
    f["v"] = {c.id: c.decide(t).to_dict() for c in study.CLAIMS}
    return f


# --- figures ----------------------------------------------------------------------------------------------------

def figures(t: dict, p: dict, L: dict) -> list:
    out = [("heads", lambda: fig_heads(t, L)), ("probe", lambda: fig_probe(t, L))]
    if not t.get("finetune", pd.DataFrame()).empty:
        out.append(("finetune", lambda: fig_finetune(t, L)))
    if not t.get("cka", pd.DataFrame()).empty:
        out.append(("cka", lambda: fig_cka(t, L)))
    if study.q2_points(t)["corpus_docs"].nunique() > 1:
        out.append(("q2", lambda: fig_q2(t, L)))
    return out


def fig_heads(t, L):
    """The manipulation check: each auxiliary head's held-out accuracy against its chance level."""
    w, big = study._main_width(t), study._big(t)
    conds = [c for c in study.CONDITIONS if any(k in AUX_TASKS for k in study.CONDITIONS[c])]
    conds = [c for c in conds if len(study.aux_values(t, next(k for k in study.CONDITIONS[c] if k in AUX_TASKS), c, w, big))]
    fig, ax = plots.figure(5.6, 2.8)
    style = plots.bar_styles(AUX_TASKS)
    width = 0.8 / len(AUX_TASKS)
    for i, task in enumerate(AUX_TASKS):
        xs, ms, errs = [], [], []
        for x, c in enumerate(conds):
            if task in study.CONDITIONS[c]:
                e = estimate(study.aux_values(t, task, c, w, big))
                xs.append(x + (i - 1) * width), ms.append(e.mean)
                errs.append([e.mean - e.lo, e.hi - e.mean] if e.defined else [0, 0])
        if xs:
            ax.bar(xs, ms, width, yerr=np.array(errs).T, capsize=3, label=L[f"head_{task}"], **style[task])
            ax.hlines([study.AUX_CHANCE[task] + study.AUX_MARGIN] * len(xs), np.array(xs) - width / 2,
                      np.array(xs) + width / 2, colors="#000", linestyles=":", linewidth=1.2)
    ax.set_xticks(range(len(conds)), [L[c] for c in conds])
    ax.set(ylabel=L["heldout_acc"], ylim=(0, 1))
    plots.legend_below(fig, ax, ncol=3)
    return fig


def fig_probe(t, L):
    q = study.q1_probe(t)
    conds, tasks = _conds(q["condition"]), list(dict.fromkeys(q["task"]))
    m = np.array([[q[(q["condition"] == c) & (q["task"] == k)]["acc"].mean() for k in tasks] for c in conds])
    fig, ax = plots.figure(4.8, 0.38 * len(conds) + 1.9)
    plots.pixels(ax, m, aspect="auto", cmap="Greys", vmin=0, vmax=1)
    for i in range(len(conds)):
        for j in range(len(tasks)):
            if math.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > 0.55 else "black")
    ax.set_xticks(range(len(tasks)), [L[f"task_{k}"] for k in tasks], rotation=20, ha="right")
    ax.set_yticks(range(len(conds)), [L[c] for c in conds])
    ax.grid(False)
    fig.tight_layout()
    return fig


def fig_finetune(t, L):
    ft = t["finetune"]
    n = int(ft["labels"].min())
    ft = ft[ft["labels"] == n]
    tasks = list(dict.fromkeys(ft["task"]))
    conds = [c for c in FT_CONDITIONS if c in set(ft["condition"])]
    style = plots.styles(conds)
    fig, axes = plots.figure(6.7, 2.8, ncols=len(tasks), sharey=True, squeeze=False)
    for ax, k in zip(axes[0], tasks):
        for c in conds:
            g = ft[(ft["task"] == k) & (ft["condition"] == c)].groupby("steps")["acc"].mean()
            ax.plot(g.index, g.values, label=L[c], **style[c])
        ax.set_title(L[f"task_{k}"])
        ax.set(xlabel=L["ft_steps"], ylim=(0, 1))
    axes[0][0].set_ylabel(L["test_acc"])
    plots.legend_below(fig, axes[0][0], ncol=3)
    return fig


def fig_cka(t, L):
    conds = _conds(t["rank"]["condition"])
    m = np.array([[study.cka_estimate(t, a, b).mean for b in conds] for a in conds])
    fig, ax = plots.figure(4.6, 3.6)
    plots.pixels(ax, m, cmap="Greys", vmin=0, vmax=1)
    for i in range(len(conds)):
        for j in range(len(conds)):
            if math.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > 0.55 else "black")
    ax.set_xticks(range(len(conds)), [L[c] for c in conds], rotation=35, ha="right")
    ax.set_yticks(range(len(conds)), [L[c] for c in conds])
    ax.grid(False)
    fig.tight_layout()
    return fig


def fig_q2(t, L):
    pts = study.q2_points(t)
    w = study._main_width(t)
    pts = pts[pts["width"] == w]
    conds = _conds(pts["condition"])
    style = plots.styles(conds)
    m = study.mlm_by_size(t)
    m = m[m["width"] == w]
    fig, (ax, bx) = plots.figure(6.7, 3.0, ncols=2)
    for c in conds:
        s = pts[pts["condition"] == c].groupby("corpus_docs")["skill"].agg(lambda v: estimate(v))
        plots.band(ax, s.index, [e.mean for e in s], [e.lo for e in s], [e.hi for e in s], L[c], **style[c])
        g = m[m["condition"] == c].groupby("corpus_docs")
        if len(g):
            bx.plot(g["heldout"].mean().index, g["heldout"].mean().values, **style[c])
            bx.plot(g["train"].mean().index, g["train"].mean().values, **{**style[c], "alpha": 0.45, "marker": "x"})
    for a in (ax, bx):
        a.set_xscale("log", base=2)
        a.set_xlabel(L["docs"])
    means = pts.groupby(["condition", "corpus_docs"])["skill"].mean()
    ax.set(ylabel=L["skill"], ylim=(means.min() - 0.15, means.max() + 0.15))
    bx.set(ylabel=L["mlm_loss"], title=L["mlm_loss_title"])
    plots.legend_below(fig, ax, ncol=4)
    return fig


# --- tables -----------------------------------------------------------------------------------------------------

def tables(t: dict, p: dict, L: dict) -> list:
    out = []
    q = study.q1_probe(t)
    g = study.generality(t)
    w, big = study._main_width(t), study._big(t)
    if not g.empty:
        s = study.per_seed(q)
        rows = []
        for _, r in g.iterrows():
            m = s[s["condition"] == r["condition"]]
            rows.append({L["col_condition"]: L[r["condition"]], L["col_mean"]: cell(m["mean"], clip=None),
                         L["col_worst"]: cell(m["worst"], clip=None),
                         L["col_within"]: f"{r['within_best']}/{r['tasks']}"})
        out.append(("generality", pd.DataFrame(rows)))
    rows = []
    for c in _conds(t["aux"]["condition"]) if not t["aux"].empty else []:
        row = {L["col_condition"]: L[c]}
        for task in ("mlm", *AUX_TASKS):
            v = study.aux_values(t, task, c, w, big)
            row[L[f"col_{task}"]] = cell(v, clip=None if task == "mlm" else (0.0, 1.0)) if len(v) else "–"
        rows.append(row)
    if rows:
        out.append(("heads", pd.DataFrame(rows)))
    pts, m = study.q2_points(t), study.mlm_by_size(t)
    if pts["corpus_docs"].nunique() > 1:
        rows = []
        for (c, d), g2 in pts[pts["width"] == w].groupby(["condition", "corpus_docs"]):
            mm = m[(m["width"] == w) & (m["condition"] == c) & (m["corpus_docs"] == d)]
            rows.append({L["col_task_set"]: L[c], L["col_docs"]: int(d), L["col_mean"]: cell(g2["skill"], clip=None),
                         L["col_mlm_heldout"]: cell(mm["heldout"], 2, None) if len(mm) else "–",
                         L["col_mlm_train"]: cell(mm["train"], 2, None) if len(mm) else "–"})
        out.append(("q2", pd.DataFrame(rows)))
    v = study.decide_c17(t).to_dict()
    comps = (v["parts"].get("no_drop") or {}).get("comparisons") or {}
    if comps:
        rows = []
        for key, c in sorted(comps.items(), key=lambda kv: kv[1]["p_holm"])[:8]:
            to, width, docs, task = key.split("|")
            e = c["estimate"]
            rows.append({L["col_added"]: L[to], L["col_width_docs"]: f"{width} / {docs}",
                         L["col_task"]: L[f"task_{task}"],
                         L["col_drop"]: f"{e['mean'] * 100:+.1f}\n[{e['lo'] * 100:+.1f},\u00a0{e['hi'] * 100:+.1f}]",
                         L["col_p"]: f"{c['p_holm']:.2f}"})
        out.append(("transfer", pd.DataFrame(rows)))
    return out
