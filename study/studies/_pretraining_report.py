"""The pretraining study's report: figures, tables, questions and the evidence for the chapter's Q1 and Q2, in
Japanese and English, all drawn from the logged tables (study.studies.pretraining holds the measures)."""
import math

import numpy as np
import pandas as pd

from study.engine.stats import mean_ci
from study.report import plots
from study.studies import pretraining as S

COLORS = {"none": "#7f7f7f", "mlm": "#1f77b4", "nsp": "#ff7f0e", "mlm_nsp": "#2ca02c", "mlm_nsp_sop": "#9467bd",
          "mlm_unrel": "#d62728"}
TEXT = {
    "ja": {"acc": "テスト正解率", "skill": "平均スキル(チャンス 0、完全 1)", "docs": "事前学習コーパス(文書数)",
           "flops": "事前学習の計算量(FLOPs)", "labels": "ラベル数(クラスあたり)", "probe": "線形プローブ(凍結特徴)",
           "ft": "ファインチューニング", "cka": "線形 CKA(同じシード、対角は異なるシード間)", "rank": "実効ランク",
           "width": "幅"},
    "en": {"acc": "test accuracy", "skill": "mean skill (0 chance, 1 perfect)", "docs": "pretraining corpus (documents)",
           "flops": "pretraining compute (FLOPs)", "labels": "labels per class", "probe": "linear probe (frozen)",
           "ft": "fine-tuned", "cka": "linear CKA (same seed; diagonal: between seeds)", "rank": "effective rank",
           "width": "width"},
}


def _lab(c, lang):
    return S.LABEL[c][lang]


def _task(t, lang):
    return S.TASK_LABEL.get(t, {"ja": t, "en": t})[lang]


def _cell(v, clip=True, d=3):
    m, lo, hi = mean_ci(np.asarray(v, dtype=float))
    if clip and math.isfinite(lo):
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f"{m:.{d}f}\n[{lo:.{d}f},\u00a0{hi:.{d}f}]" if math.isfinite(lo) else f"{m:.{d}f}"


# --- setup and discussion ---------------------------------------------------------------------------------------

def setup_text(p: dict, lang: str) -> str:
    sizes = ", ".join(map(str, p["corpus_docs"]))
    widths = ", ".join(map(str, p["widths"]))
    src = {"ja": f"テキストファイル {p['corpus']}({p['tokenise']} で分割)" if p.get("corpus") else
           f"生成したコーパス(話題 {p['topics']} 個、内容語が話題の語彙から出る確率 {p['topic_strength']})",
           "en": f"the text file {p['corpus']} (split by {p['tokenise']})" if p.get("corpus") else
           f"a generated corpus ({p['topics']} topics; a content word comes from its topic's vocabulary with "
           f"probability {p['topic_strength']})"}[lang]
    if lang == "ja":
        return (f"{src}で、幅 {p['width']}、{p['layers']} 層、{p['heads']} ヘッドの小さな Transformer エンコーダ"
                f"([CLS]/[SEP] と区間埋め込みつき、系列長 {p['max_len']})を事前学習した。条件はすべて同じ計算量"
                f"({p['steps']} ステップ × バッチ {p['batch_size']}、Adam 学習率 {p['lr']}、最初の 1 割のステップで 0 から上げ、その後 0 まで直線的に下げる)で、事前学習なし、MLM のみ"
                "(15% の語を選び、80% を [MASK]、10% を別の語、10% をそのままにする)、NSP のみ(半分は本当の次の文、"
                "半分は別の文書の文)、MLM+NSP(BERT)、MLM+NSP+文の順序(半分は 2 文を入れ替え)、MLM+無関係な課題"
                "(文書ごとに固定した乱数ラベルを当てる)。生成コーパスでは各文の主語が前の文の目的語で、動詞は主語と"
                "数が一致し、名詞にも動詞にもなる語がある。下流課題は語(名詞/動詞の両方になる語の品詞)、文(主語と動詞の"
                "一致)、文対(同じ話題か)、文書(話題)の 4 つで、事前学習とは別の文書から作った。各モデルを、凍結特徴"
                f"([CLS] と平均。語の課題はその位置の状態、文対の課題は各文の平均 u, v の |u−v| と u⊙v も加える)へのリッジ回帰の線形プローブ(クラスあたり {p['probe_train']} 例)"
                f"と、クラスあたり {', '.join(map(str, p['labels']))} 例での全体のファインチューニング({p['ft_steps']} "
                f"ステップ)で評価した。Q2 では、コーパス {sizes} 文書 × 課題の組 × 幅 {widths} を比べた。各条件 "
                f"{p['seeds']} シードで、同じシードは同じ初期重みから始まる(差はシード対応)。スキルは正解率をチャンス 0、"
                "完全 1 に揃えた値。FLOPs は形から数えた理論値(学習 1 系列 ≈ 順伝播の 3 倍)、秒はまとめて学習した中での"
                "1 モデル分の割り当て。\n\n公表された証拠: BERT の論文(Devlin ら 2019、表 5)では NSP を外すと MNLI-m が "
                "0.5、QNLI が 3.5、SQuAD の F1 が 0.6 ポイント下がった。一方 RoBERTa(Liu ら 2019)は、文書から連続した"
                "文をつめて NSP なしで学習すると同等かやや良いと報告し、Muppet(Aghajanyan ら 2021)は事前学習後の多課題学習"
                "で課題が少ないうちはかえって悪くなり、約 15 課題を超えると良くなると報告した。以下の判定は本プロジェクトの"
                "データだけから出している。")
    return (f"A small Transformer encoder (width {p['width']}, {p['layers']} layers, {p['heads']} heads, [CLS]/[SEP] and "
            f"segment embeddings, sequences of {p['max_len']} tokens) pretrained on {src}. Every condition gets the "
            f"same compute ({p['steps']} steps × batch {p['batch_size']}, Adam, learning rate {p['lr']} reached after "
            "a warm-up over the first tenth of the steps, then decayed linearly to 0): no "
            "pretraining; masked LM only (15% of tokens chosen; of those 80% become [MASK], 10% a random word, 10% "
            "stay); next-sentence prediction only (half true next sentences, half from another document); MLM+NSP "
            "(BERT); MLM+NSP+sentence order (half the pairs swapped); MLM+an unrelated task (a random label fixed per "
            "document). In the generated corpus each sentence's subject is the previous sentence's object, verbs "
            "agree with their subjects, and some words are both nouns and verbs. Four downstream tasks, built from "
            "documents not used for pretraining: word class of a noun-or-verb word (token), subject–verb agreement "
            "(sentence), same topic (pair), topic (document). Each model is scored by a ridge linear probe on frozen "
            f"features ([CLS] and mean; the word's own state for the token task; for the pair task also |u−v| and u⊙v of "
            f"the two sentences' means u, v, as in Sentence-BERT; {p['probe_train']} examples per "
            f"class) and by fine-tuning the whole model with {', '.join(map(str, p['labels']))} labels per class "
            f"({p['ft_steps']} steps). Q2 crosses corpus sizes {sizes} documents × task sets × widths {widths}. "
            f"{p['seeds']} seeds per condition; a seed starts from the same weights under every condition (differences "
            "are paired by seed). Skill rescales accuracy so that chance is 0 and perfect 1. FLOPs are counted from "
            "the shapes (a training sequence ≈ 3 forward passes); seconds are each model's share of the batched run."
            "\n\nPublished evidence: in BERT's ablation (Devlin et al. 2019, Table 5) removing NSP cost 0.5 points on "
            "MNLI-m, 3.5 on QNLI and 0.6 SQuAD F1. RoBERTa (Liu et al. 2019) found that packing contiguous sentences "
            "and dropping NSP matched or slightly improved downstream results, and Muppet (Aghajanyan et al. 2021) "
            "found that multi-task pre-finetuning with few tasks can hurt, while beyond about 15 tasks it helps. The "
            "verdicts below come from this project's data only.")


# --- figures ----------------------------------------------------------------------------------------------------

def fig_matrix(t, T, lang):
    import matplotlib.pyplot as plt

    q = S.q1_probe(t)
    if q.empty:
        return None
    conds = [c for c in S.CONDITIONS if c in set(q["condition"])]
    tasks = list(dict.fromkeys(q["task"]))
    panels = [("probe", q)]
    ft = t.get("finetune", pd.DataFrame())
    if not ft.empty:
        n = ft["labels"].min()
        panels.append((f"ft{n}", ft[ft["labels"] == n]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels) + 1.6, 0.42 * len(conds) + 2.2), squeeze=False)
    for ax, (kind, df) in zip(axes[0], panels):
        m = np.array([[df[(df["condition"] == c) & (df["task"] == k)]["acc"].mean() for k in tasks] for c in conds])
        plots.pixels(ax, m, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        for i in range(len(conds)):
            for j in range(len(tasks)):
                if math.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] < 0.6 else "black")
        ax.set_xticks(range(len(tasks)), [_task(k, lang) for k in tasks], rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(conds)), [_lab(c, lang) if ax is axes[0][0] else "" for c in conds], fontsize=7)
        ax.grid(False)
        ax.set_title(T["probe"] if kind == "probe" else f"{T['ft']} ({kind[2:]} / class)", fontsize=8)
    fig.tight_layout()
    return fig


def fig_finetune(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    ft = t.get("finetune", pd.DataFrame())
    if ft.empty or ft["labels"].nunique() < 1:
        return None
    tasks = list(dict.fromkeys(ft["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.5 * len(tasks) + 0.6, 3.4), squeeze=False)
    for ax, k in zip(axes[0], tasks):
        for c in [c for c in S.CONDITIONS if c in set(ft["condition"])]:
            g = ft[(ft["task"] == k) & (ft["condition"] == c)]
            s = g.groupby("labels")["acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
            band(ax, s.index, s[0], s[1].clip(0, 1), s[2].clip(0, 1), _lab(c, lang), color=COLORS[c])
        ax.set_ylim(0, 1.02)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(ft["labels"])), [str(x) for x in sorted(set(ft["labels"]))])
        ax.set(xlabel=T["labels"], ylabel=T["acc"] if ax is axes[0][0] else "", title=_task(k, lang))
        ax.title.set_fontsize(8)
    return _legend_below(fig, axes[0][0])


def _legend_below(fig, ax, ncol=3):
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.18, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    return fig


def fig_repr(t, T, lang):
    import matplotlib.pyplot as plt

    rank = t.get("rank", pd.DataFrame())
    if rank.empty or t.get("cka", pd.DataFrame()).empty:
        return None
    conds = [c for c in S.CONDITIONS if c in set(rank["condition"])]
    m = np.array([[np.nanmean(S.cka_between(t, a, b)) if len(S.cka_between(t, a, b)) else np.nan for b in conds]
                  for a in conds])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.4, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    plots.pixels(ax, m, cmap="magma", vmin=0, vmax=1)
    for i in range(len(conds)):
        for j in range(len(conds)):
            if math.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < 0.5 else "black")
    names = [_lab(c, lang) for c in conds]
    ax.set_xticks(range(len(conds)), names, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(conds)), names, fontsize=7)
    ax.grid(False)
    ax.set_title(T["cka"], fontsize=8)
    stats = [mean_ci(rank[rank["condition"] == c]["effective_rank"].to_numpy()) for c in conds]
    err = np.nan_to_num(np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T)
    bx.barh(range(len(conds)), [s[0] for s in stats], xerr=err, color=[COLORS[c] for c in conds], capsize=3)
    bx.set_yticks(range(len(conds)), names, fontsize=7)
    bx.invert_yaxis()
    bx.set_xlabel(f"{T['rank']} (/{int(rank['dims'].iloc[0])})")
    fig.tight_layout()
    return fig


def fig_q2(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    pts = S.q2_points(t)
    if pts.empty or pts["corpus_docs"].nunique() < 2:
        return None
    main = S._main_width(t)
    fig, (ax, cx) = plt.subplots(1, 2, figsize=(8.6, 4.0))
    for (w, c), g in pts.groupby(["width", "condition"]):
        s = g.groupby("corpus_docs")["skill"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
        style = {"color": COLORS[c]} if w == main else {"color": COLORS[c], "ls": "--", "marker": "^"}
        if w == main:
            band(ax, s.index, s[0], s[1], s[2], _lab(c, lang), **style)
        else:
            ax.errorbar(s.index, s[0], yerr=np.nan_to_num([s[0] - s[1], s[2] - s[0]]), capsize=3, ms=5, **style)
        f = g.groupby("flops")["skill"].mean()
        cx.scatter(f.index, f.values, color=COLORS[c], marker="o" if w == main else "^", s=20)
    ax.set_xscale("log", base=2)
    means = pts.groupby(["width", "condition", "corpus_docs"])["skill"].mean()
    ax.set_ylim(means.min() - 0.15, means.max() + 0.15)  # the t-intervals of a few seeds can be far wider
    ax.set(xlabel=T["docs"], ylabel=T["skill"], title=f"● {T['width']} {main}   ▲ " + ", ".join(
        str(w) for w in sorted(set(pts["width"])) if w != main))
    cx.set_xscale("log")
    cx.set(xlabel=T["flops"], ylabel=T["skill"])
    for a in (ax, cx):
        a.title.set_fontsize(8)
    return _legend_below(fig, ax, ncol=5)


# --- tables -----------------------------------------------------------------------------------------------------

def generality_table(t, lang) -> pd.DataFrame:
    q = S.q1_probe(t)
    g = S.generality(t)
    if g.empty:
        return g
    s = S.per_seed(q)
    rows = []
    for _, r in g.iterrows():
        m = s[s["condition"] == r["condition"]]
        rows.append({"condition": _lab(r["condition"], lang), "mean skill": _cell(m["mean"], clip=False),
                     "worst skill": _cell(m["worst"], clip=False),
                     "within best": f"{r['within_best']}/{r['tasks']}",
                     "strongest": _task(r["best_task"], lang), "weakest": _task(r["worst_task"], lang),
                     **{_task(k, lang): _cell(q[(q["condition"] == r["condition"]) & (q["task"] == k)]["acc"])
                        for k in dict.fromkeys(q["task"])}})
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"condition": "条件", "mean skill": "平均スキル", "worst skill": "最悪課題のスキル",
                                "within best": "最良の区間内", "strongest": "最も得意", "weakest": "最も苦手"})
    return df


def finetune_table(t, lang) -> pd.DataFrame:
    ft = t.get("finetune", pd.DataFrame())
    if ft.empty:
        return ft
    rows = []
    for (c, n), g in ft.groupby(["condition", "labels"], sort=False):
        rows.append({"condition": _lab(c, lang), "labels": n,
                     **{_task(k, lang): _cell(g[g["task"] == k]["acc"]) for k in dict.fromkeys(ft["task"])}})
    df = pd.DataFrame(rows)
    return df.rename(columns={"condition": "条件", "labels": "ラベル/クラス"}) if lang == "ja" else df


def q2_table(t, lang) -> pd.DataFrame:
    pts, gains = S.q2_points(t), S.doubling_gains(t)
    rows = []
    for (w, c, s), g in pts.groupby(["width", "condition", "corpus_docs"]):
        gg = gains[(gains["width"] == w) & (gains["condition"] == c) & (gains["to_docs"] == s)] if not gains.empty \
            else gains
        rows.append({"width": w, "task set": _lab(c, lang), "docs": s, "mean skill": _cell(g["skill"], clip=False),
                     "gain / doubling": _cell(gg["gain"], clip=False) if not gg.empty else "–",
                     "GFLOPs": f"{g['flops'].mean() / 1e9:.1f}", "seconds": f"{g['seconds'].mean():.1f}"})
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"width": "幅", "task set": "課題の組", "docs": "文書数", "mean skill": "平均スキル",
                                "gain / doubling": "倍ごとの伸び", "seconds": "秒"})
    return df


def negative_table(t, lang) -> pd.DataFrame:
    neg = S.negative_transfer(t)
    if neg.empty:
        return neg
    neg = neg.sort_values("diff")
    neg = pd.concat([neg[neg["negative"]], neg[~neg["negative"]].head(max(0, 8 - int(neg["negative"].sum())))])
    rows = [{"width": r["width"], "docs": r["corpus_docs"], "task": _task(r["task"], lang),
             "added": f"{_lab(r['from'], lang)} → {_lab(r['to'], lang)}",
             "change": S._f(r["diff"], r["lo"], r["hi"]), "beyond interval": "✔" if r["negative"] else ""}
            for _, r in neg.iterrows()]
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"width": "幅", "docs": "文書数", "task": "下流課題", "added": "課題の追加",
                                "change": "正解率の変化", "beyond interval": "区間を超えて低下"})
    return df


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    T = TEXT[lang]
    cap = {
        "matrix": {"ja": "条件 × 下流課題のテスト正解率(左: 凍結特徴の線形プローブ、右: 最少ラベルでのファインチューニング。"
                         "シード平均)。", "en": "Test accuracy per condition × downstream task (left: linear probe on "
                         "frozen features; right: fine-tuning with the fewest labels; mean over seeds)."},
        "ft": {"ja": "ラベル数とファインチューニング後の正解率(平均と 95% 区間)。",
               "en": "Labels per class and accuracy after fine-tuning (mean and 95% interval)."},
        "repr": {"ja": "表現の比較: 条件間の線形 CKA(文書課題のテスト入力での [CLS] と平均の特徴)と実効ランク。",
                 "en": "Representations compared: linear CKA between conditions (features of the document task's test "
                       "inputs) and effective rank."},
        "q2": {"ja": "Q2: 事前学習コーパスの大きさと平均スキル(● 主な幅、▲ 他の幅。平均と 95% 区間)。右は同じ点を"
                     "事前学習の計算量に対して描いた。",
               "en": "Q2: pretraining corpus size and mean skill (● main width, ▲ other widths; mean and 95% "
                     "interval). Right: the same points against pretraining compute."},
    }
    figs = [(fig_matrix(tables, T, lang), cap["matrix"][lang]), (fig_finetune(tables, T, lang), cap["ft"][lang]),
            (fig_repr(tables, T, lang), cap["repr"][lang]), (fig_q2(tables, T, lang), cap["q2"][lang])]
    tabs = [(generality_table(tables, lang), {"ja": "Q1: 条件ごとの汎用性(線形プローブ。平均 [95% 区間])",
                                              "en": "Q1: generality per condition (linear probe; mean [95% interval])"}),
            (finetune_table(tables, lang), {"ja": "ファインチューニング後のテスト正解率", "en": "Test accuracy after "
                                                                                              "fine-tuning"}),
            (q2_table(tables, lang), {"ja": "Q2: 幅 × 課題の組 × コーパスの大きさ(平均スキル、倍ごとの伸び、計算量)",
                                      "en": "Q2: width × task set × corpus size (mean skill, gain per doubling, cost)"}),
            (negative_table(tables, lang), {"ja": "課題を一つ足したときの変化が最も悪かった組み合わせ(✔ は区間を超えた低下)",
                                            "en": "Adding one task: the worst changes (✔ marks a drop beyond the "
                                                  "interval)"})]
    return {"setup": setup_text(params, lang), "figures": [(f, c) for f, c in figs if f is not None],
            "tables": [(df, c[lang]) for df, c in tabs if not df.empty], "questions": questions(tables, lang)}


# --- questions and the chapter's Q1/Q2 ----------------------------------------------------------------------------

def questions(t, lang) -> list[str]:
    qs = []
    g = S.generality(t)
    if not g.empty and {"mlm", "nsp"} <= set(g["condition"]):
        r = g.set_index("condition")
        for c in ("mlm", "nsp"):
            qs.append({"ja": f"{_lab(c, 'ja')} は「{_task(r.loc[c, 'best_task'], 'ja')}」が最も得意で、"
                             f"「{_task(r.loc[c, 'worst_task'], 'ja')}」が最も苦手だった(4 課題の平均スキル "
                             f"{r.loc[c, 'mean']:.2f}、最悪の課題 {r.loc[c, 'worst']:.2f})。二つの課題はそれぞれ、"
                             "その事前学習から何を受け継ぎ、何を受け継がなかったと言えるか。",
                       "en": f"{_lab(c, 'en')} was strongest on '{_task(r.loc[c, 'best_task'], 'en')}' and weakest "
                             f"on '{_task(r.loc[c, 'worst_task'], 'en')}' (mean skill over the tasks "
                             f"{r.loc[c, 'mean']:.2f}, worst task {r.loc[c, 'worst']:.2f}). What did each of the two "
                             "tasks inherit from that pretraining, and what not?"}[lang])
    loss = t.get("pretrain_loss", pd.DataFrame())
    if not loss.empty and "nsp" in set(loss["task"]):
        last = loss[loss["step"] == loss["step"].max()]
        nsp = last[last["task"] == "nsp"]["loss"].mean()
        qs.append({"ja": f"学習の最後の NSP の損失は平均 {nsp:.3f} だった(当て推量なら ln 2 = 0.693)。この予算で NSP は"
                         "何を学べたのか。BERT の表 5 と RoBERTa の結論が食い違う理由と結びつけて考えよう。",
                   "en": f"At the end of pretraining the NSP loss averaged {nsp:.3f} (guessing gives ln 2 = 0.693). "
                         "What could NSP learn on this budget? Relate this to why BERT's Table 5 and RoBERTa "
                         "disagree."}[lang])
    neg = S.negative_transfer(t)
    if not neg.empty:
        worst = neg.sort_values("diff").iloc[0]
        qs.append({"ja": f"課題を足して最も下がったのは、幅 {worst['width']}・{worst['corpus_docs']} 文書で "
                         f"{_lab(worst['from'], 'ja')} → {_lab(worst['to'], 'ja')} の「{_task(worst['task'], 'ja')}」"
                         f"({worst['diff'] * 100:+.1f} ポイント)。比較は全部で {len(neg)} 通りある。その中で一つ"
                         "下がったことを「負の転移」と呼んでよいか。",
                   "en": f"The largest drop from adding a task: width {worst['width']}, {worst['corpus_docs']} "
                         f"documents, {_lab(worst['from'], 'en')} → {_lab(worst['to'], 'en')} on "
                         f"'{_task(worst['task'], 'en')}' ({worst['diff'] * 100:+.1f} points), one of {len(neg)} "
                         "comparisons. May we call a single drop among so many comparisons negative transfer?"}[lang])
    pts = S.q2_points(t)
    if not pts.empty and pts["flops"].max() > 0:
        hi = pts.groupby(["width", "condition", "corpus_docs"])[["skill", "flops"]].mean()
        best, cheap = hi["skill"].idxmax(), hi["flops"].idxmin()
        qs.append({"ja": f"最も高い平均スキル {hi.loc[best, 'skill']:.3f} には {hi.loc[best, 'flops'] / 1e9:.3g} GFLOPs、"
                         f"最も安い点は {hi.loc[cheap, 'flops'] / 1e9:.3g} GFLOPs で {hi.loc[cheap, 'skill']:.3f}。この差は"
                         "その計算量に見合うか。誰がそれを決めるのか。",
                   "en": f"The highest mean skill, {hi.loc[best, 'skill']:.3f}, cost {hi.loc[best, 'flops'] / 1e9:.3g} "
                         f"GFLOPs; the cheapest point reached {hi.loc[cheap, 'skill']:.3f} with "
                         f"{hi.loc[cheap, 'flops'] / 1e9:.3g} GFLOPs. Is the difference worth its compute, and who "
                         "decides?"}[lang])
    return qs


def chapter_evidence(qid: str, tables: dict, lang: str) -> str:
    """A short answer to the chapter's Q1 or Q2 from this run's numbers."""
    if qid == "Q1":
        g = S.generality(tables)
        if g.empty:
            return {"ja": "この実行には Q1 の条件がない。", "en": "This run has no Q1 conditions."}[lang]
        broad = g[g["within_best"] == g["within_best"].max()]["condition"]
        names = ", ".join(_lab(c, lang) for c in broad) if lang == "en" else "、".join(_lab(c, lang) for c in broad)
        best_mean, best_worst = g.loc[g["mean"].idxmax()], g.loc[g["worst"].idxmax()]
        singles = g[g["condition"].isin(S.SINGLE)]
        worst_single = ", ".join(f"{_lab(r['condition'], lang)} {r['worst']:.2f} ({_task(r['worst_task'], lang)})"
                                 for _, r in singles.iterrows())
        base = S.cka_between(tables, "mlm", "nsp")
        cka = ""
        if len(base):
            a, b = S.cka_between(tables, "mlm_nsp", "mlm"), S.cka_between(tables, "mlm_nsp", "nsp")
            cka = {"ja": f" 表現の CKA は MLM+NSP–MLM {np.mean(a):.2f}、MLM+NSP–NSP {np.mean(b):.2f}、MLM–NSP "
                         f"{np.mean(base):.2f}。",
                   "en": f" Representation CKA: MLM+NSP–MLM {np.mean(a):.2f}, MLM+NSP–NSP {np.mean(b):.2f}, MLM–NSP "
                         f"{np.mean(base):.2f}."}[lang]
        n, k = int(g["within_best"].max()), int(g["tasks"].iloc[0])
        loss = tables.get("pretrain_loss", pd.DataFrame())
        if not loss.empty and "nsp" in set(loss["task"]):
            nsp = loss[(loss["step"] == loss["step"].max()) & (loss["task"] == "nsp")]["loss"].mean()
            cka += {"ja": f" NSP の事前学習損失は最後に {nsp:.3f}(当て推量は 0.693)。",
                    "en": f" NSP's pretraining loss ended at {nsp:.3f} (guessing: 0.693)."}[lang]
        if lang == "ja":
            return (f"「汎用的」を三つの量で測った。最良の区間内に入った課題の数が最多({n}/{k})だったのは {names}。"
                    f"4 課題の平均スキルが最も高かったのは {_lab(best_mean['condition'], 'ja')}({best_mean['mean']:.2f})、"
                    f"最も苦手な課題でのスキルが最も高かったのは {_lab(best_worst['condition'], 'ja')}"
                    f"({best_worst['worst']:.2f})。単一課題モデルの最悪課題: {worst_single}。" + cka)
        return (f"'General' measured three ways. Within the best's interval on the most tasks ({n}/{k}): {names}. "
                f"Highest mean skill over the tasks: {_lab(best_mean['condition'], 'en')} ({best_mean['mean']:.2f}); "
                f"highest skill on its weakest task: {_lab(best_worst['condition'], 'en')} ({best_worst['worst']:.2f}). "
                f"Single-task models' weakest task: {worst_single}." + cka)
    if qid == "Q2":
        gains, neg, pts = S.doubling_gains(tables), S.negative_transfer(tables), S.q2_points(tables)
        if gains.empty or neg.empty:
            return {"ja": "この実行には Q2 の格子(複数のコーパスの大きさと課題の組)がない。",
                    "en": "This run lacks the Q2 grid (several corpus sizes and task sets)."}[lang]
        w = S._main_width(tables)
        g = gains[gains["width"] == w]
        steps = sorted(set(zip(g["from_docs"], g["to_docs"])))
        per = [(a, b, mean_ci(g[(g["from_docs"] == a) & (g["to_docs"] == b)]["gain"].to_numpy())) for a, b in steps]
        gain_txt = ", ".join(f"{a}→{b}: {S._f(*m, 3)}" for a, b, m in per)
        n_neg = int(neg["negative"].sum())
        worst = neg.sort_values("diff").iloc[0]
        cost = pts.groupby("flops")["skill"].mean()
        if lang == "ja":
            return (f"幅 {w} で、コーパスを倍にするごとの平均スキルの伸びは {gain_txt}。課題を一つ足して下流の正解率が区間を"
                    f"超えて下がったのは {n_neg}/{len(neg)} 通り(最大の低下は {_lab(worst['from'], 'ja')} → "
                    f"{_lab(worst['to'], 'ja')} の「{_task(worst['task'], 'ja')}」で {worst['diff'] * 100:+.1f} ポイント)。"
                    f"計算量は {cost.index.min() / 1e9:.3g}〜{cost.index.max() / 1e9:.3g} GFLOPs。「増やせば何もかも良くなる」"
                    "かは、伸びの大きさ、負の転移、その代価の三つで答える。")
        return (f"At width {w}, the gain in mean skill per doubling of the corpus was {gain_txt}. Adding one task "
                f"lowered a downstream accuracy beyond the interval in {n_neg} of {len(neg)} comparisons (largest drop: "
                f"{_lab(worst['from'], 'en')} → {_lab(worst['to'], 'en')} on '{_task(worst['task'], 'en')}', "
                f"{worst['diff'] * 100:+.1f} points). Compute ranged over {cost.index.min() / 1e9:.3g}–"
                f"{cost.index.max() / 1e9:.3g} GFLOPs. Whether 'more' makes everything better is answered by the size "
                "of the gains, the negative transfer and the price.")
    return ""
