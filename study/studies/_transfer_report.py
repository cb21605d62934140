"""The transfer study's report: setup text, figures, tables and questions, in both languages, from its tables."""
import math

import numpy as np
import pandas as pd

from study._legacy_claims import points
from study.engine.stats import mean_ci, paired_diff
from study.prompts import disagreement_question
from study.studies.transfer import SOURCES, _cond, _few, _sel

# --- report -----------------------------------------------------------------------------------------------------

TEXT = {
    "ja": {"step": "ターゲットでの学習ステップ", "val": "検証正解率(ターゲット)", "acc": "テスト正解率(ターゲット)",
           "labels": "1 クラスあたりのラベル数", "gain": "ゼロからとの差(ポイント)", "frozen": "入力側から固定したブロック数",
           "per_class": "1 クラス {n} 枚", "start": "開始", "slope": "傾き", "asym": "漸近", "source": "事前学習",
           "scratch_line": "ゼロから", "cond": "条件", "steps_to": "{a:.0%} までのステップ", "reached": "到達",
           "start_acc": "開始正解率", "test": "最終テスト正解率", "net": "網", "bn_mode": "BN"},
    "en": {"step": "training steps on the target", "val": "validation accuracy (target)", "acc": "test accuracy (target)",
           "labels": "labels per class", "gain": "gain over scratch (points)", "frozen": "blocks frozen from the input",
           "per_class": "{n} per class", "start": "start", "slope": "slope", "asym": "asymptote", "source": "source",
           "scratch_line": "scratch", "cond": "condition", "steps_to": "steps to {a:.0%}", "reached": "reached",
           "start_acc": "start accuracy", "test": "final test accuracy", "net": "net", "bn_mode": "BN"},
}
SOURCE = {"digits": {"ja": "数字 0–4", "en": "digits 0–4"}, "shapes": {"ja": "図形", "en": "shapes"},
          "none": {"ja": "なし", "en": "none"}}
CONDS = {  # (condition, source) drawn in the curve and label-count figures
    ("scratch", "none"): ({"ja": "ゼロから", "en": "scratch"}, "#7f7f7f"),
    ("finetune", "digits"): ({"ja": "微調整(数字)", "en": "fine-tune (digits)"}, "#1f77b4"),
    ("frozen", "digits"): ({"ja": "固定骨格(数字)", "en": "frozen backbone (digits)"}, "#2ca02c"),
    ("two_stage", "digits"): ({"ja": "二段階(数字)", "en": "two-stage (digits)"}, "#9467bd"),
    ("finetune", "shapes"): ({"ja": "微調整(図形)", "en": "fine-tune (shapes)"}, "#ff7f0e"),
    ("frozen", "shapes"): ({"ja": "固定骨格(図形)", "en": "frozen backbone (shapes)"}, "#d62728"),
}
BN_CONDS = [  # (condition, bn_mode) on the BN backbone
    ("scratch", None, {"ja": "ゼロから", "en": "scratch"}),
    ("frozen", "eval", {"ja": "固定骨格(BN 評価)", "en": "frozen (BN eval)"}),
    ("finetune", "train", {"ja": "全体を微調整(BN 訓練)", "en": "fine-tune all (BN train)"}),
    ("finetune", "eval", {"ja": "全体を微調整(BN 評価)", "en": "fine-tune all (BN eval)"}),
    ("two_stage", "train", {"ja": "二段階(BN 訓練)", "en": "two-stage (BN train)"}),
    ("two_stage", "eval", {"ja": "二段階(BN 評価)", "en": "two-stage (BN eval)"}),
]


def setup_text(p: dict, lang: str) -> str:
    ch, L = ", ".join(map(str, p["channels"])), len(p["channels"])
    labels, srcs = ", ".join(map(str, p["labels"])), ", ".join(SOURCE[s][lang] for s in p["sources"])
    bn_src = ", ".join(SOURCE[s][lang] for s in p.get("bn_sources", ["digits"]))
    if lang == "ja":
        return (f"3×3 畳み込み {L} ブロック(チャネル {ch}、2 ブロック目の後に 2×2 プーリング)の小さな CNN を、"
                f"事前学習タスク({srcs})で {p['pretrain_epochs']} エポック学習し、出力層を新しいものに取り替えて、"
                f"手書き数字 5–9 の 5 クラス分類(ターゲット)に移した。数字 0–4 は近いタスク、図形(箱・円・横棒・縦棒・×印を"
                f"乱数で生成した 8×8 画像)は遠いタスクである。ターゲットのラベルは 1 クラス {labels} 枚で、シードごとに"
                f"別の標本を引く。どの条件も {p['steps']} ステップ前後、{p['optimizer']}(学習率 {p['lr']})で学習し、"
                f"約 {p['eval_every']} ステップごとに検証正解率を測った。条件: ゼロから、入力側の n ブロックを固定"
                f"(n = {', '.join(map(str, p['freeze']))}。0 は全体の微調整、{L} は固定骨格+新しい出力層)"
                + (f"、二段階(最初の {p['head_fraction']:.0%} は出力層だけ、残りは学習率 ×{p['stage2_lr_factor']:g} で全体)"
                   if p["two_stage"] else "")
                + (f"。BN を各ブロックに入れた網({bn_src} で事前学習)では、微調整中の BN を訓練モードにするか評価モード"
                   f"(事前学習の統計を使い、更新しない)にするかを、1 クラス {', '.join(map(str, p['bn_labels']))} 枚で比べた"
                   if p["bn"] else "")
                + f"。各条件 {p['seeds']} シード。開始 = 学習開始後最初の測定点の検証正解率、傾き = 検証正解率が "
                f"{p['slope_acc']:.0%} に初めて届くステップ(届かなければ予算全体で打ち切り)、漸近 = 最終テスト正解率。")
    return (f"A small CNN ({L} 3×3 convolution blocks with {ch} channels, 2×2 pooling after the second) was trained "
            f"for {p['pretrain_epochs']} epochs on a source task ({srcs}), given a new output layer and moved to the "
            "target: the five-class task of handwritten digits 5–9. Digits 0–4 are a related source; the shapes "
            "(generated 8×8 images of boxes, discs, horizontal and vertical bars and crosses) a distant one. The target "
            f"has {labels} labels per class, a fresh sample for every seed. Every condition trains for about "
            f"{p['steps']} steps with {p['optimizer']} (learning rate {p['lr']}); validation accuracy is measured about "
            f"every {p['eval_every']} steps. Conditions: from scratch; the first n blocks frozen (n = "
            f"{', '.join(map(str, p['freeze']))}; 0 fine-tunes everything, {L} is a frozen backbone with a new head)"
            + (f"; two-stage (the head alone for the first {p['head_fraction']:.0%}, then everything at "
               f"{p['stage2_lr_factor']:g}× the rate)" if p["two_stage"] else "")
            + (f". On a net with BN in every block (pretrained on {bn_src}), BN was kept in train mode or in eval mode "
               f"(the source statistics, not updated) while fine-tuning, with {', '.join(map(str, p['bn_labels']))} "
               "labels per class" if p["bn"] else "")
            + f". {p['seeds']} seeds per condition. Start = validation accuracy at the first point after training "
            f"began; slope = the first step at which validation accuracy reaches {p['slope_acc']:.0%} (capped at the "
            "whole budget when it never does); asymptote = final test accuracy.")


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    T = TEXT[lang]
    figs = [(fig_curves(tables, T, lang),
             {"ja": "ターゲットの学習曲線(平均と 95% 区間)。微調整(数字)とゼロからの間に三つの利点を描いた: 開始(最初の測定点"
                    "の差)、傾き(点線の正解率に届くステップ)、漸近(最後の点の差)。",
              "en": "Target learning curves (mean and 95% interval), with the three benefits drawn between fine-tuning "
                    "(digits) and scratch: start (the gap at the first point), slope (the steps to the dotted accuracy) "
                    "and asymptote (the gap at the end)."}[lang]),
            (fig_labels(tables, T, lang),
             {"ja": "ラベル数と最終テスト正解率(左)、ゼロからとの差(右、シード対応の 95% 区間)。0 より下は負の転移。",
              "en": "Label count and final test accuracy (left), and the gain over scratch (right, paired 95% "
                    "interval). Below 0 is negative transfer."}[lang]),
            (fig_freeze(tables, T, lang),
             {"ja": "入力側から固定したブロック数とテスト正解率(事前学習タスク別、平均と 95% 区間)。破線はゼロから。",
              "en": "Blocks frozen from the input and test accuracy, per source (mean and 95% interval); dashed: "
                    "scratch."}[lang]),
            (fig_bn(tables, T, lang),
             {"ja": "BN を含む骨格の扱い方と最終テスト正解率(平均と 95% 区間)。",
              "en": "Handling a BN backbone, and final test accuracy (mean and 95% interval)."}[lang])]
    return {"setup": setup_text(params, lang), "figures": [(f, c) for f, c in figs if f is not None],
            "tables": [(df, c) for df, c in _tables(tables, lang) if not df.empty],
            "questions": questions(tables, lang)}


def _tables(tables, lang):
    return [(benefit_table(tables, lang),
             {"ja": "三つの利点(平均 [95% 区間])。ステップ数は届かなかったシードを予算全体で数える(下限)。括弧内は届いた"
                    "シード数。",
              "en": "The three benefits (mean [95% interval]). Steps count the whole budget for seeds that never "
                    "reached the accuracy (a lower bound); in brackets, the seeds that reached it."}[lang]),
            (bn_table(tables, lang), {"ja": "BN 骨格の扱い方(平均 [95% 区間])",
                                      "en": "Handling a BN backbone (mean [95% interval])"}[lang])]


def _fmt(v, digits=3, top=1.0):
    """Mean and t-interval, clipped to what the quantity can be ([0, 1] for accuracies, >= 0 for steps)."""
    m, lo, hi = mean_ci(v)
    if not math.isfinite(m):
        return "–"
    lo, hi = max(lo, 0.0), min(hi, top)
    if not math.isfinite(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f}\n[{lo:.{digits}f},\u00a0{hi:.{digits}f}]"


def _row(g, T, thr):
    return {T["start_acc"]: _fmt(g["start_acc"]),
            T["steps_to"].format(a=thr): _fmt(g["steps_capped"], 0, top=math.inf)
            + f" ({int(g['reached'].sum())}/{len(g)})",
            T["test"]: _fmt(g["test_acc"]) + (" †" if g["diverged"].any() else "")}


def benefit_table(t, lang) -> pd.DataFrame:
    T, rows = TEXT[lang], []
    thr = float(t["settings"]["slope_acc"].iloc[0])
    for n in sorted(set(_sel(t)["labels"])):
        for (cond, source), (label, _) in CONDS.items():
            g = _cond(t, cond, n, source=source)
            if not g.empty:
                rows.append({T["labels"]: n, T["cond"]: label[lang], **_row(g, T, thr)})
    return pd.DataFrame(rows)


def bn_table(t, lang) -> pd.DataFrame:
    T, rows = TEXT[lang], []
    thr = float(t["settings"]["slope_acc"].iloc[0])
    for source in _bn_sources(t):
        for n in sorted(set(_sel(t, "bn")["labels"])):
            for cond, mode, label in BN_CONDS:
                g = _cond(t, cond, n, "bn", source, bn_mode=mode)
                if not g.empty:
                    rows.append({T["source"]: SOURCE[source][lang], T["labels"]: n, T["cond"]: label[lang],
                                 **_row(g, T, thr)})
    return pd.DataFrame(rows)


def _bn_sources(t) -> list[str]:
    found = set(_sel(t, "bn")["source"])
    return [s for s in SOURCES if s in found]


def _curve(t, g):
    """Mean and interval of a condition's learning curve over seeds: DataFrame indexed by step."""
    h = t["history"].merge(g[["net", "source", "method", "frozen", "bn_mode", "labels", "seed"]])
    return h.groupby("step")["val_acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)


def _legend_below(fig, ax, ncol=3):
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    return fig


def fig_curves(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    labels = sorted(set(_sel(t)["labels"]))
    if not labels:
        return None
    shown = list(dict.fromkeys([labels[0], _few(labels), labels[-1]]))
    thr = float(t["settings"]["slope_acc"].iloc[0])
    fig, axes = plt.subplots(1, len(shown), figsize=(3.5 * len(shown) + 0.6, 4.4), squeeze=False)
    for ax, n in zip(axes[0], shown):
        curves = {}
        for (cond, source), (label, color) in CONDS.items():
            g = _cond(t, cond, n, source=source)
            if g.empty or cond == "two_stage":
                continue
            c = curves[cond, source] = _curve(t, g)
            band(ax, c.index, c[0], c[1].clip(0, 1), c[2].clip(0, 1), label[lang], color=color)
        ax.axhline(thr, color="k", ls=":", lw=0.8)
        ft, sc = curves.get(("finetune", "digits")), curves.get(("scratch", "none"))
        if ft is not None and sc is not None:
            _mark_benefits(ax, t, n, ft, sc, thr, T)
        ax.set(xlabel=T["step"], ylabel=T["val"] if ax is axes[0][0] else "", title=T["per_class"].format(n=n),
               ylim=(0, 1.02))
    return _legend_below(fig, axes[0][0])


def _mark_benefits(ax, t, n, ft, sc, thr, T):
    """Draw start, slope and asymptote of fine-tuning (digits) against scratch on the real curves."""
    x0 = ft.index[1]
    ax.annotate("", (x0, ft[0].iloc[1]), (x0, sc[0].iloc[1]), arrowprops={"arrowstyle": "<->", "color": "k", "lw": 1})
    ax.text(x0, (ft[0].iloc[1] + sc[0].iloc[1]) / 2, " " + T["start"], fontsize=7, va="center")
    for cond, source, color in (("finetune", "digits", "#1f77b4"), ("scratch", "none", "#7f7f7f")):
        k = _cond(t, cond, n, source=source)["steps_capped"].mean()
        if math.isfinite(k):
            ax.plot([k, k], [0, thr], color=color, ls="--", lw=0.9)
    ax.text(ax.get_xlim()[0], thr + 0.01, " " + T["slope"] + f" ({thr:.0%})", fontsize=7, va="bottom")
    x1 = ft.index[-1]
    ax.annotate("", (x1, ft[0].iloc[-1]), (x1, sc[0].iloc[-1]), arrowprops={"arrowstyle": "<->", "color": "k", "lw": 1})
    ax.text(x1, min(ft[0].iloc[-1], sc[0].iloc[-1]) - 0.04, T["asym"] + " ", fontsize=7, ha="right", va="top")


def _gain(t, cond, source, n, col="test_acc", net="plain", bn_mode=None):
    a, b = _cond(t, cond, n, net, source, bn_mode), _cond(t, "scratch", n, net)
    return paired_diff(a, b, col) if not (a.empty or b.empty) else (math.nan,) * 3


def fig_labels(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    labels = sorted(set(_sel(t)["labels"]))
    if not labels:
        return None
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.4, 4.2))
    for (cond, source), (label, color) in CONDS.items():
        stats = [mean_ci(_cond(t, cond, n, source=source)["test_acc"].to_numpy()) for n in labels]
        if all(not math.isfinite(s[0]) for s in stats):
            continue
        s = np.array(stats)
        band(ax, labels, s[:, 0], s[:, 1].clip(0, 1), s[:, 2].clip(0, 1), label[lang], color=color)
        if cond != "scratch":
            d = np.array([_gain(t, cond, source, n) for n in labels]) * 100
            band(ax2, labels, d[:, 0], d[:, 1], d[:, 2], label[lang], color=color)
    ax2.axhline(0, color="k", lw=0.8)
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xticks(labels, [str(n) for n in labels])
        a.minorticks_off()
        a.set_xlabel(T["labels"])
    ax.set_ylabel(T["acc"])
    ax2.set_ylabel(T["gain"])
    return _legend_below(fig, ax)


def fig_freeze(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    m = _sel(t, method="freeze")
    sources = [s for s in SOURCES if s in set(m["source"])]
    if not sources or len(set(m["frozen"])) < 2:
        return None
    labels = sorted(set(m["labels"]))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(labels)))
    fig, axes = plt.subplots(1, len(sources), figsize=(3.8 * len(sources) + 0.6, 4.2), squeeze=False, sharey=True)
    for ax, source in zip(axes[0], sources):
        for n, color in zip(labels, colors):
            g = m[(m["source"] == source) & (m["labels"] == n)]
            s = g.groupby("frozen")["test_acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
            band(ax, s.index, s[0], s[1].clip(0, 1), s[2].clip(0, 1), T["per_class"].format(n=n), color=color)
            sc = _cond(t, "scratch", n)
            if not sc.empty:
                ax.axhline(sc["test_acc"].mean(), color=color, ls="--", lw=0.9)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set(xlabel=T["frozen"], ylabel=T["acc"] if ax is axes[0][0] else "",
               title=f"{T['source']}: {SOURCE[source][lang]}")
    return _legend_below(fig, axes[0][0], ncol=len(labels))


def fig_bn(t, T, lang):
    import matplotlib.pyplot as plt

    labels = sorted(set(_sel(t, "bn")["labels"]))
    groups = [(s, n) for s in _bn_sources(t) for n in labels]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(max(7.2, 2.4 * len(groups)), 3.8))
    width = 0.8 / len(BN_CONDS)
    x = np.arange(len(groups))
    for i, (cond, mode, label) in enumerate(BN_CONDS):
        stats = np.array([mean_ci(_cond(t, cond, n, "bn", s, bn_mode=mode)["test_acc"].to_numpy()) for s, n in groups])
        err = np.nan_to_num(np.array([stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]]))
        ax.bar(x + (i - (len(BN_CONDS) - 1) / 2) * width, stats[:, 0], width, yerr=err, capsize=2,
               label=label[lang], color=plt.get_cmap("tab10")(i))
    ax.set_xticks(x, [f"{SOURCE[s][lang]}\n{T['per_class'].format(n=n)}" for s, n in groups])
    lo = np.nanmin(_sel(t, "bn")["test_acc"].to_numpy())
    ax.set(ylabel=T["acc"], ylim=(max(0.0, lo - 0.1), 1.0))
    return _legend_below(fig, ax)


def bn_shift_text(t) -> dict[str, str]:
    """What the BN layers' stored statistics meet on target images, per BN backbone, in words."""
    st, out = t.get("bn_stats"), {"ja": "", "en": ""}
    if st is None or st.empty:
        return out
    first = st[st["bn_layer"] == 1].groupby(["source", "images"])[["mean_shift", "var_ratio"]].mean()
    for source in [s for s in SOURCES if (s, "target") in first.index and (s, "source") in first.index]:
        a, b = first.loc[(source, "source")], first.loc[(source, "target")]
        out["ja"] += (f"{SOURCE[source]['ja']}で事前学習した骨格の第1 BN 層では、蓄えた統計に対する入力の平均のずれ(蓄えた"
                      f"標準偏差が単位)がソースの画像で {a['mean_shift']:.2f}、ターゲットの画像で {b['mean_shift']:.2f}、"
                      f"分散の比は {a['var_ratio']:.2f} と {b['var_ratio']:.2f} だった。")
        out["en"] += (f"In the first BN layer of the backbone pretrained on {SOURCE[source]['en']}, the input mean sat "
                      f"{a['mean_shift']:.2f} stored standard deviations from the stored mean on source images and "
                      f"{b['mean_shift']:.2f} on target images; the variance ratio was {a['var_ratio']:.2f} and "
                      f"{b['var_ratio']:.2f}. ")
    return out


def questions(t, lang) -> list[str]:
    qs = []
    labels = sorted({int(v) for v in _sel(t)["labels"]})
    gains = [(n, _gain(t, "finetune", "digits", n)) for n in labels]
    gains = [(n, g) for n, g in gains if math.isfinite(g[0])]
    if len(gains) >= 2:
        above = [n for n, g in gains if g[1] > 0]
        listing = {"ja": "、".join(f"{n} 枚で {points(*g)}" for n, g in gains),
                   "en": ", ".join(f"{points(*g)} at {n}" for n, g in gains)}
        where = {"ja": f"区間が 0 より上だったのは 1 クラス {', '.join(map(str, above))} 枚のとき。" if above else
                       "区間が 0 より上になったラベル数はなかった。",
                 "en": f"Its interval lay above 0 at {', '.join(map(str, above))} per class. " if above else
                       "At no label count did its interval lie above 0. "}
        qs.append({"ja": f"数字 0–4 から全体を微調整したときのゼロからとの差(1 クラスあたりのラベル数別)は {listing['ja']}。"
                         f"{where['ja']}ラベル付きデータが増えると転移の利点はなぜ縮むのか。この 8×8 の数字では、ゼロからでも"
                         "少数のラベルでどこまで学べてしまうかも考えよう。",
                   "en": f"Fine-tuning everything from digits 0–4 changed test accuracy against scratch (by labels per "
                         f"class) by {listing['en']}. {where['en']}Why does transfer help less as labelled data grows, "
                         "and how much can these 8×8 digits be learned from scratch with only a few labels?"}[lang])
    n = labels[0] if labels else None
    got = {(c, s): _gain(t, c, s, n) for c in ("frozen", "finetune") for s in ("digits", "shapes")} if n else {}
    if got and all(math.isfinite(v[0]) for v in got.values()):
        fd, fs, td, ts = (points(*got[k]) for k in (("frozen", "digits"), ("frozen", "shapes"), ("finetune", "digits"),
                                                    ("finetune", "shapes")))
        qs.append({"ja": f"1 クラス {n} 枚のとき、ゼロからとの差は、固定骨格で 数字 {fd}、図形 {fs}、全体の微調整で 数字 {td}、"
                         f"図形 {ts} だった。Yosinski ら(2014)は、タスクが離れるほど固定した特徴の転移が層ごとに悪くなり、"
                         "微調整すれば小さな利得が残ると報告した。このデータに同じ傾向は見えるか。見えないなら、3 ブロックしかない網の"
                         "特徴(縁や線の検出器)がどれほどタスクに固有かを考えよう。",
                   "en": f"With {n} labels per class the change against scratch was, for a frozen backbone, {fd} from "
                         f"digits and {fs} from shapes; for fine-tuning everything, {td} and {ts}. Yosinski et al. (2014) "
                         "found that frozen features transfer worse, layer by layer, the more the tasks differ, while "
                         "fine-tuning keeps a small gain. Does this data show that pattern? If not, how task-specific can "
                         "the features of a three-block net (edge and stroke detectors) be?"}[lang])
    nb = _few(_sel(t, "bn")["labels"])
    if nb:
        acc = {(c, m): _cond(t, c, nb, "bn", bn_mode=m)["test_acc"].mean() for c, m, _ in BN_CONDS}
        ftt, fte = acc[("finetune", "train")], acc[("finetune", "eval")]
        tst, tse = acc[("two_stage", "train")], acc[("two_stage", "eval")]
        shift = bn_shift_text(t)
        if all(math.isfinite(v) for v in (ftt, fte, tst, tse)):
            qs.append({"ja": f"BN 入りの骨格を 1 クラス {nb} 枚で全体微調整すると、テスト正解率は BN 訓練モードで {ftt:.3f}、"
                             f"評価モードで {fte:.3f}、二段階では訓練モード {tst:.3f}、評価モード {tse:.3f} だった。{shift['ja']}"
                             "訓練モードの BN は少数の画像のミニバッチ統計で正規化し、評価時には更新された移動平均を使う。BN の扱いに"
                             "注意が要るのはなぜか。この実験で差が小さかった(または大きかった)理由は何か。",
                       "en": f"Fine-tuning the BN backbone with {nb} labels per class gave test accuracy {ftt:.3f} with "
                             f"BN in train mode and {fte:.3f} in eval mode; two-stage gave {tst:.3f} and {tse:.3f}. "
                             f"{shift['en']}In train mode BN normalises with the statistics of a minibatch of a few "
                             "images and evaluates with running averages it keeps overwriting. Why does BN need care when "
                             "fine-tuning, and why was the difference small (or large) here?"}[lang])
    q = disagreement_question(t["members"], ["net", "source", "method", "frozen", "bn_mode", "labels"], lang)
    if q:
        qs.append(q)
    return qs
