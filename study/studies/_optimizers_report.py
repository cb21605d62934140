"""The optimizer study's report: setup text, figures, tables and questions, in Japanese and English, drawn from
the logged tables only (the leading underscore keeps this helper out of the study registry)."""
import math

import numpy as np
import pandas as pd

from study.engine import landscapes as land
from study.engine.stats import mean_ci
from study.prompts import disagreement_question
from study.studies import optimizers as study

NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad", "rmsprop": "RMSprop",
         "adam": "Adam", "adamw": "AdamW"}
COLORS = {"sgd": "#7f7f7f", "momentum": "#1f77b4", "nesterov": "#17becf", "adagrad": "#2ca02c",
          "rmsprop": "#9467bd", "adam": "#d62728", "adamw": "#ff7f0e"}
TASK = {"mlp": {"ja": "MLP・手書き数字", "en": "MLP, digits"}, "cnn": {"ja": "CNN・手書き数字", "en": "CNN, digits"},
        "seq": {"ja": "再帰網・印付き和の符号", "en": "recurrent net, sign of a marked sum"}}
T = {"ja": {"lr": "学習率", "val_acc": "検証正解率(最終)", "frac": "大域的な谷で終わった割合", "loss": "最終損失(雑音なし)",
            "step": "ステップ", "steps": "許容誤差までの歩数", "gd": "GD(全バッチ)", "tuned": "調整後", "default": "既定値", "classic": "古典的な学習率", "epoch": "エポック", "near": "大域的な極小の近くにいる割合",
            "acc": "テスト正解率", "diverged": "発散"},
     "en": {"lr": "learning rate", "val_acc": "validation accuracy (final)", "frac": "share ending in the global basin",
            "loss": "final loss (noise-free)", "step": "step", "steps": "steps to tolerance", "gd": "GD (full batch)",
            "tuned": "tuned", "default": "default", "classic": "classic rates", "epoch": "epoch", "near": "share near the global minimum", "acc": "test accuracy", "diverged": "diverged"}}


def method_label(method: str, lang: str) -> str:
    return T[lang]["gd"] if method == "gd" else f"SGD (B={method[3:]})"


def setup_text(p: dict, lang: str) -> str:
    opts = ", ".join(NAMES[o] for o in p["optimizers"])
    if lang == "ja":
        return (f"第1部: 極小が複数ある2次元の地形({', '.join(p['landscapes'])})。損失は {p['n_data']} 個のデータの平均で、"
                f"各データが雑音項 u·x + v·y(標準偏差 {p['noise']}、平均はちょうど 0)を足す。{p['starts']} 個の開始点から、"
                f"全バッチ GD とミニバッチ SGD(B = {', '.join(map(str, p['batch_sizes']))})を同じ学習率 {p['land_lr']}、"
                f"同じ {p['land_epochs']} エポック走らせ、終点がどの極小の谷にあるかを雑音なしの勾配流で判定した。"
                f"第2部: x²/20 + y² を (−7, 2) から {p['toy_steps']} 歩(古典的な学習率)、次に各手法とも学習率を対数格子 "
                f"{p['toy_lr_points']} 点から ‖(x,y)‖ < {p['toy_tol']} までの歩数で選び直し、Rosenbrock 関数"
                f"(許容誤差 {p['rosen_tol']})でも同じことをした。第3部: {opts} を、学習率の対数格子 {p['lr_points']} 点"
                f"({p['lr_min']}–{p['lr_max']})から検証データで選び、選んだ学習率を {p['seeds']} シードで学習し直してテスト"
                "データで評価した。ライブラリの既定の学習率(調整なし)も並べた。Momentum と Nesterov の β は 0.9 に固定し、"
                "学習率だけを調整した。目標までの CPU 秒は、まとめて学習した一回の実行の CPU 時間をメンバー数で割って求めた。")
    return (f"Part 1: 2-D landscapes with several minima ({', '.join(p['landscapes'])}). The loss is an average over "
            f"{p['n_data']} data points, each adding a noise term u·x + v·y (standard deviation {p['noise']}, mean "
            f"exactly 0). From {p['starts']} random starts, full-batch GD and minibatch SGD (B = "
            f"{', '.join(map(str, p['batch_sizes']))}) ran at the same learning rate {p['land_lr']} for the same "
            f"{p['land_epochs']} epochs; each end point's basin was found by noise-free gradient flow. Part 2: "
            f"x²/20 + y² from (−7, 2) for {p['toy_steps']} steps at the classic rates, then each optimizer's rate "
            f"re-chosen from a log grid of {p['toy_lr_points']} points by steps to ‖(x,y)‖ < {p['toy_tol']}, and the "
            f"same on Rosenbrock (tolerance {p['rosen_tol']}). Part 3: {opts}, each with its learning rate chosen "
            f"on validation data from a log grid of {p['lr_points']} points ({p['lr_min']}–{p['lr_max']}), the "
            f"choice re-run with {p['seeds']} seeds and scored on test data; the library's default rate (untuned) "
            "beside it. Momentum and Nesterov keep β = 0.9; only the learning rate is tuned. CPU seconds to target "
            "are a batched run's CPU time divided by its members.")


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    figs = [
        (fig_landscape(tables, lang), {"ja": "地形の等高線と、最初の数個の開始点からの軌跡(エポックごと)。黒い点が極小、星が大域的な極小。",
                                       "en": "Landscape contours and the paths of the first few starts (per epoch). "
                                             "Dots: minima; star: the global minimum."}[lang]),
        (fig_fractions(tables, lang), {"ja": "大域的な谷で終わった割合(Wilson 95% 区間)と、最終損失の分布。",
                                       "en": "Share of runs ending in the global basin (Wilson 95% interval) and "
                                             "the final losses."}[lang]),
        (fig_history(tables, lang), {"ja": "大域的な極小から 0.5 以内にいる開始点の割合の推移(横軸: エポック。SGD は 1 "
                                           "エポックに n/B 回更新する)。谷に入っても、学習率が一定のままの雑音は"
                                           "点を谷底のまわりで揺らし続ける。",
                                     "en": "Share of starts within 0.5 of the global minimum over training (x: epochs; "
                                           "SGD updates n/B times per epoch). Inside the right valley, the noise of a "
                                           "constant learning rate keeps shaking the points around its floor."}[lang]),
        (fig_toy(tables, lang), {"ja": "x²/20 + y² 上の軌跡。上: 古典的な学習率、下: 同じ予算で調整した学習率。",
                                 "en": "Paths on x²/20 + y². Top: the classic hand-picked rates; bottom: rates "
                                       "tuned with one shared budget."}[lang]),
        (fig_toy_grid(tables, lang), {"ja": "学習率と許容誤差までの歩数(到達しなかった点は上端、発散は ×)。",
                                      "en": "Learning rate and steps to tolerance (points that never got there sit "
                                            "at the top; × diverged)."}[lang]),
        (fig_sensitivity(tables, lang), {"ja": "学習率の感度: 調整時の最終検証正解率(× は発散、○ は選ばれた点)。",
                                         "en": "Learning-rate sensitivity: final validation accuracy while tuning "
                                               "(× diverged, ring: chosen)."}[lang]),
        (fig_shootout(tables, lang), {"ja": "調整後と既定の学習率でのテスト正解率(平均と 95% 区間)。",
                                      "en": "Test accuracy, tuned and at the default rate (mean and 95% "
                                            "interval)."}[lang]),
    ]
    return {"setup": setup_text(params, lang), "figures": [(f, c) for f, c in figs if f is not None],
            "tables": [(landscape_table(tables, lang), {"ja": "第1部: 大域的な谷で終わった割合",
                                                        "en": "Part 1: share ending in the global basin"}[lang]),
                       (toy_table(tables, lang), {"ja": "第2部: 最終距離と許容誤差までの歩数",
                                                  "en": "Part 2: final distance and steps to tolerance"}[lang]),
                       (rank_table(tables, lang), {"ja": "第3部: 課題ごとの順位表(平均 [95% 区間]、✓ は最良と区別できない上位群、"
                                                         "* は格子の端で選ばれた学習率、† は発散を含む)",
                                                   "en": "Part 3: rank table per task (mean [95% interval]; ✓ top "
                                                         "group, not separable from the best; * rate chosen at the "
                                                         "grid's edge; † includes diverged runs)"}[lang])],
            "questions": questions(tables, lang)}


def _ci(v, digits=3, clip=None):
    m, lo, hi = mean_ci(np.asarray(v, dtype=float))
    if not math.isfinite(m):
        return "–"
    if clip and math.isfinite(lo):  # accuracies live in [0, 1]; the t-interval does not know that
        lo, hi = max(lo, clip[0]), min(hi, clip[1])
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if math.isfinite(lo) else f"{m:.{digits}f}"


def landscape_table(t, lang) -> pd.DataFrame:
    rows = []
    for (name, method), g in t["land_runs"].groupby(["landscape", "method"], sort=False):
        k, n = int(g["global"].astype(bool).sum()), len(g)
        f, lo, hi = land.wilson(k, n)
        rows.append({"landscape": name, "method": method_label(method, lang),
                     "updates/epoch": int(g["updates_per_epoch"].iloc[0]),
                     "global basin": f"{f:.2f} [{lo:.2f}, {hi:.2f}] ({k}/{n})",
                     "final loss (median)": f"{g['final_loss'].median():.3f}"})
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"landscape": "地形", "method": "手法", "updates/epoch": "更新回数/エポック",
                                "global basin": "大域的な谷", "final loss (median)": "最終損失(中央値)"})
    return df


def toy_table(t, lang) -> pd.DataFrame:
    tp, g = t["toy_paths"], t["toy_grid"]
    rows = []
    for opt in study.TOY_OPTIMIZERS:
        c = tp[(tp["function"] == "toy") & (tp["setting"] == "classic") & (tp["optimizer"] == opt)]
        row = {"optimizer": NAMES[opt]}
        if not c.empty:
            row["classic lr"] = f"{c['lr'].iloc[0]:g}"
            row["classic: final distance"] = f"{c.sort_values('step')['dist'].iloc[-1]:.3g}"
        for fname in ("toy", "rosenbrock"):
            ch = g[(g["function"] == fname) & (g["optimizer"] == opt) & g["chosen"].astype(bool)]
            if not ch.empty:
                s = int(ch["steps_to_tol"].iloc[0])
                row[f"{fname}: tuned lr"] = f"{ch['lr'].iloc[0]:.3g}"
                row[f"{fname}: steps"] = str(s) if s >= 0 else f"> {int(ch['max_steps'].iloc[0])}"
        rows.append(row)
    df = pd.DataFrame(rows)
    if lang == "ja":
        df.columns = [c.replace("optimizer", "手法").replace("classic lr", "古典的な学習率")
                      .replace("classic: final distance", "古典: 最終距離").replace("toy:", "x²/20+y²:")
                      .replace("rosenbrock:", "Rosenbrock:").replace("tuned lr", "調整後の学習率")
                      .replace("steps", "歩数") for c in df.columns]
    return df


def rank_table(t, lang) -> pd.DataFrame:
    m = t["members"]
    groups = study.top_groups(m)
    grid = t["tuning"]["lr"]
    edges = {grid.min(), grid.max()}  # a choice at the grid's edge: the best rate may lie outside it
    rows = []
    for task, g in groups.items():
        d = m[m["task"] == task]
        for rank, opt in enumerate(sorted(g["means"], key=lambda o: -g["means"][o]), 1):
            tu, de = d[(d["optimizer"] == opt) & (d["setting"] == "tuned")], d[(d["optimizer"] == opt)
                                                                                  & (d["setting"] == "default")]
            diff, lo, hi = g["diffs"][opt]
            rows.append({"task": TASK[task][lang], "rank": rank, "optimizer": NAMES[opt],
                         "top group": "✓" if opt in g["top"] else "",
                         "lr": f"{tu['lr'].iloc[0]:.2g}" + (" *" if tu["lr"].iloc[0] in edges else ""), "test acc": _ci(tu["test_acc"], clip=(0, 1))
                         + (" †" if tu["diverged"].astype(bool).any() else ""),
                         "vs best": "–" if opt == g["best"] else (f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                                                                   if math.isfinite(lo) else f"{diff:+.3f}"),
                         "gap": _ci(tu["gap"]), "steps to target": _ci(tu["steps_to_target"], 0),
                         "seconds to target": _ci(tu["seconds_to_target"], 2),
                         "default lr": f"{de['lr'].iloc[0]:g}", "default test acc": _ci(de["test_acc"], clip=(0, 1))
                         + (" †" if de["diverged"].astype(bool).any() else "")})
    df = pd.DataFrame(rows)
    if lang == "ja" and not df.empty:
        df = df.rename(columns={"task": "課題", "rank": "順位", "optimizer": "手法", "top group": "上位群",
                                "lr": "学習率", "test acc": "テスト正解率", "vs best": "最良との差",
                                "gap": "訓練−テスト", "steps to target": "目標までの歩数",
                                "seconds to target": "目標までの CPU 秒", "default lr": "既定の学習率",
                                "default test acc": "既定でのテスト正解率"})
    return df


def _contour(ax, f, lim_x, lim_y, levels=16, log=False):
    # A 120-point grid is smooth at this size and keeps the vector figure small (200 points and 25 levels made
    # the landscape figure 1.2 MB of SVG).
    xs, ys = np.linspace(*lim_x, 120), np.linspace(*lim_y, 120)
    import torch

    gx, gy = np.meshgrid(xs, ys)
    z = f(torch.tensor(np.stack([gx, gy], -1), dtype=torch.float64)).numpy()
    ax.contour(gx, gy, np.log10(z + 1e-3) if log else z, levels=levels, colors="#bbbbbb", linewidths=0.6)


def fig_landscape(t, lang):
    import matplotlib.pyplot as plt

    runs, paths, mins = t["land_runs"], t["land_paths"], t["land_minima"]
    names = list(dict.fromkeys(runs["landscape"]))
    methods = ["gd", f"sgd{int(runs[runs['method'] != 'gd']['batch'].min())}"]
    fig, axes = plt.subplots(len(names), 2, figsize=(7.0, 3.4 * len(names)), squeeze=False)
    box = float(max(runs["x0"].abs().max(), runs["y0"].abs().max()))
    for i, name in enumerate(names):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            _contour(ax, land.LANDSCAPES[name], (-box, box), (-box, box))
            p = paths[(paths["landscape"] == name) & (paths["method"] == method)]
            for s, g in p.groupby("start"):
                g = g.sort_values("epoch")
                ax.plot(g["x"], g["y"], lw=0.8, alpha=0.8)
                ax.plot(g["x"].iloc[0], g["y"].iloc[0], "o", ms=2, color="#555555")
            mm = mins[mins["landscape"] == name]
            ax.plot(mm["x"], mm["y"], "k.", ms=5)
            ax.plot(mm["x"].iloc[0], mm["y"].iloc[0], "k*", ms=11)
            ax.set(xlim=(-box, box), ylim=(-box, box), title=f"{name}: {method_label(method, lang)}", aspect="equal")
    fig.tight_layout()
    return fig


def fig_fractions(t, lang):
    import matplotlib.pyplot as plt

    runs = t["land_runs"]
    names = list(dict.fromkeys(runs["landscape"]))
    fig, axes = plt.subplots(2, len(names), figsize=(3.4 * len(names) + 0.6, 6.0), squeeze=False)
    for i, name in enumerate(names):
        d = runs[runs["landscape"] == name]
        methods = list(dict.fromkeys(d["method"]))
        stats = [land.wilson(int(d[d["method"] == m]["global"].astype(bool).sum()), int((d["method"] == m).sum()))
                 for m in methods]
        x = np.arange(len(methods))
        err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
        axes[0, i].bar(x, [s[0] for s in stats], yerr=err, capsize=3, color=["#7f7f7f"] + ["#1f77b4"] * (len(x) - 1))
        labels = [method_label(m, lang) for m in methods]
        axes[0, i].set_xticks(x, labels, rotation=20, fontsize=7)
        axes[0, i].set(ylim=(0, 1), ylabel=T[lang]["frac"] if i == 0 else "", title=name)
        axes[1, i].boxplot([d[d["method"] == m]["final_loss"].dropna() for m in methods])
        axes[1, i].set_xticks(x + 1, labels, rotation=20, fontsize=7)
        axes[1, i].set(ylabel=T[lang]["loss"] if i == 0 else "")
    fig.tight_layout()
    return fig


def fig_history(t, lang):
    import matplotlib.pyplot as plt

    h = t["land_history"]
    names = list(dict.fromkeys(h["landscape"]))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.8, 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for method, g in h[h["landscape"] == name].groupby("method", sort=False):
            ax.plot(g["epoch"], g["near_global"], label=method_label(method, lang),
                    color="#7f7f7f" if method == "gd" else None)
        ax.set(xlabel=T[lang]["epoch"], ylabel=T[lang]["near"] if name == names[0] else "", ylim=(0, 1), title=name)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_toy(t, lang):
    import matplotlib.pyplot as plt

    tp = t["toy_paths"]
    fig, axes = plt.subplots(2, len(study.TOY_OPTIMIZERS), figsize=(11, 4.6), squeeze=False, sharex=True, sharey=True)
    for i, setting in enumerate(("classic", "tuned")):
        for j, opt in enumerate(study.TOY_OPTIMIZERS):
            ax = axes[i, j]
            _contour(ax, land.toy, (-10, 10), (-5, 5), levels=np.logspace(-2, 2, 12))
            c = tp[(tp["function"] == "toy") & (tp["setting"] == setting) & (tp["optimizer"] == opt)]
            c = c.sort_values("step")
            ax.plot(c["x"], c["y"], "o-", ms=2, lw=0.8, color=COLORS[opt])
            ax.plot(0, 0, "k+", ms=8)
            lr = c["lr"].iloc[0] if not c.empty else math.nan
            ax.set(xlim=(-10, 10), ylim=(-5, 5), title=f"{NAMES[opt]} (lr {lr:.3g})",
                   ylabel=T[lang][setting] if j == 0 else "")
            ax.title.set_fontsize(8)
    fig.tight_layout()
    return fig


def fig_toy_grid(t, lang):
    import matplotlib.pyplot as plt

    g = t["toy_grid"]
    fns = list(dict.fromkeys(g["function"]))
    fig, axes = plt.subplots(1, len(fns), figsize=(3.6 * len(fns) + 0.8, 3.4), squeeze=False)
    for ax, fname in zip(axes[0], fns):
        d = g[g["function"] == fname]
        cap = int(d["max_steps"].iloc[0])
        for opt, o in d.groupby("optimizer", sort=False):
            steps = o["steps_to_tol"].where(o["steps_to_tol"] >= 0, cap)
            ax.plot(o["lr"], steps, "-o", ms=2, color=COLORS[opt], label=NAMES[opt])
            dv = o[o["diverged"].astype(bool)]
            ax.plot(dv["lr"], [cap] * len(dv), "x", color=COLORS[opt])
        ax.set(xscale="log", yscale="log", xlabel=T[lang]["lr"], ylabel=T[lang]["steps"],
               title="x²/20 + y²" if fname == "toy" else "Rosenbrock")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_sensitivity(t, lang):
    import matplotlib.pyplot as plt

    tu = t["tuning"]
    tasks = list(dict.fromkeys(tu["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks) + 0.8, 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        d = tu[tu["task"] == task]
        for opt, o in d.groupby("optimizer", sort=False):
            mean = o.groupby("lr")["val_acc"].mean()
            ax.plot(mean.index, mean.to_numpy(), "-o", ms=2, color=COLORS[opt], label=NAMES[opt])
            dv = o[o["diverged"].astype(bool)]
            ax.plot(dv["lr"], [0.0] * len(dv), "x", color=COLORS[opt])
            ch = o[o["chosen"].astype(bool)]
            ax.plot(ch["lr"], ch["val_acc"], "o", ms=7, mfc="none", color=COLORS[opt])
        ax.set(xscale="log", ylim=(-0.03, 1.02), xlabel=T[lang]["lr"], title=TASK[task][lang],
               ylabel=T[lang]["val_acc"] if task == tasks[0] else "")
    axes[0][0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def fig_shootout(t, lang):
    import matplotlib.pyplot as plt

    m = t["members"]
    tasks = list(dict.fromkeys(m["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks) + 0.8, 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        d = m[m["task"] == task]
        opts = list(dict.fromkeys(d["optimizer"]))
        x = np.arange(len(opts))
        for i, setting in enumerate(("tuned", "default")):
            s = [mean_ci(d[(d["optimizer"] == o) & (d["setting"] == setting)]["test_acc"].to_numpy()) for o in opts]
            mean = np.nan_to_num(np.array([v[0] for v in s]))
            err = np.nan_to_num(np.array([[v[0] - v[1], v[2] - v[0]] for v in s]).T)
            ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, yerr=err, capsize=2, label=T[lang][setting],
                   color=[COLORS[o] for o in opts], alpha=1.0 if setting == "tuned" else 0.4)
        ax.set_xticks(x, [NAMES[o] for o in opts], rotation=40, fontsize=7)
        ax.set(ylim=(0, 1.02), title=TASK[task][lang], ylabel=T[lang]["acc"] if task == tasks[0] else "")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def questions(t, lang) -> list[str]:
    qs = []
    runs = t["land_runs"]
    for name in dict.fromkeys(runs["landscape"]):
        d = runs[runs["landscape"] == name]
        by = d.groupby("method")["global"].apply(lambda v: v.astype(bool).mean())
        big = d[d["method"] != "gd"]
        if "gd" in by and not big.empty:
            bmax = int(big["batch"].max())
            bmin = int(big["batch"].min())
            qs.append({"ja": f"地形 {name} で大域的な谷に着いた割合は GD {by['gd']:.2f}、SGD(B={bmax}){by[f'sgd{bmax}']:.2f}、"
                             f"SGD(B={bmin}){by[f'sgd{bmin}']:.2f} だった。ミニバッチが小さいほど何が変わったのか。同じ"
                             "エポック数でも更新回数が違うことはどう効いているか。",
                       "en": f"On {name}, the share ending in the global basin was {by['gd']:.2f} for GD, "
                             f"{by[f'sgd{bmax}']:.2f} for SGD (B={bmax}) and {by[f'sgd{bmin}']:.2f} for SGD "
                             f"(B={bmin}). What changes as the minibatch shrinks, and what does the different number "
                             "of updates per epoch contribute?"}[lang])
            break
    n = study.toy_numbers(t)
    if "sgd_final_dist" in n and "toy_sgd_steps" in n:
        st = lambda o: "∞" if not math.isfinite(n.get(f"toy_{o}_steps", math.inf)) else str(n[f"toy_{o}_steps"])
        qs.append({"ja": f"古典的な学習率で 30 歩後の原点からの距離は SGD {n['sgd_final_dist']:.3g}、Adam "
                         f"{n['adam_final_dist']:.3g}。学習率を同じ予算で選び直すと、許容誤差までの歩数は SGD {st('sgd')}、"
                         f"Momentum {st('momentum')}、AdaGrad {st('adagrad')}、Adam {st('adam')} になった。教科書の図の差の"
                         "うち、どれだけが手法の差で、どれだけが学習率の選び方の差だろうか。",
                   "en": f"At the classic rates, the distance from the origin after 30 steps was "
                         f"{n['sgd_final_dist']:.3g} for SGD and {n['adam_final_dist']:.3g} for Adam. With rates "
                         f"re-chosen under one budget, steps to the tolerance were SGD {st('sgd')}, Momentum "
                         f"{st('momentum')}, AdaGrad {st('adagrad')}, Adam {st('adam')}. How much of the textbook "
                         "picture is the method, and how much the choice of learning rate?"}[lang])
    m = t.get("members")
    if m is not None and not m.empty:
        d = m.groupby(["task", "optimizer", "setting"])["test_acc"].mean().unstack("setting")
        if {"tuned", "default"} <= set(d.columns):
            loss = (d["tuned"] - d["default"]).dropna()
            if not loss.empty:
                (task, opt), v = loss.idxmax(), loss.max()
                qs.append({"ja": f"既定の学習率のままだと、{TASK[task]['ja']} の {NAMES[opt]} はテスト正解率が調整後より "
                                 f"{v * 100:.1f} ポイント低かった。「Adam は調整なしで使える」という言い方は、この表のどこまで"
                                 "当てはまるか。",
                           "en": f"At its default learning rate, {NAMES[opt]} on {TASK[task]['en']} scored "
                                 f"{v * 100:.1f} points below its tuned self. How far does 'Adam works without tuning' "
                                 "hold in this table?"}[lang])
        tuned = m[m["setting"] == "tuned"]
        gap = tuned.groupby("optimizer")["gap"].mean()
        if not gap.empty:
            hi, lo = gap.idxmax(), gap.idxmin()
            qs.append({"ja": f"訓練とテストの正解率の差(全課題平均)は {NAMES[hi]} が最大 {gap[hi]:.3f}、{NAMES[lo]} が最小 "
                             f"{gap[lo]:.3f}。速く下がる手法ほど汎化が悪いと言えるだろうか。",
                       "en": f"The train–test accuracy gap (mean over tasks) was largest for {NAMES[hi]} ({gap[hi]:.3f}) "
                             f"and smallest for {NAMES[lo]} ({gap[lo]:.3f}). Do the optimizers that descend fastest "
                             "generalise worse?"}[lang])
        q = disagreement_question(tuned, ["task", "optimizer"], lang)
        if q:
            qs.append(q)
    return qs
