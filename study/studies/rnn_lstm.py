"""RNN vs LSTM (§27.1.6): does a plain tanh RNN lose what it saw long ago, and do LSTM's cell and forget gate keep it?

Task: the adding problem of Hochreiter & Schmidhuber (1997, experiment 4) with its two marked values at the
first and the last step, asked as a yes/no question (is u_1 + u_T > 1?), so the lag is exactly T - 1 steps and
the memoryless baseline is known: 3/4 (see study.data.sequences.compare_first_last). Grid: lag T × cell (tanh RNN,
LSTM, GRU, sized to about the same parameter count) × seeds, all cells under the same optimizer, learning rate
and number of steps. Each (T, cell) is one batched engine run over seeds. Measured per member: test accuracy,
success (accuracy above the baseline by a stated margin), and the norm of dL/dh_t at every step t, before and
after training.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats as sps

from study._legacy_claims import (
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
    number,
    record,
)
from study.params import param
from study.data.sequences import compare_first_last
from study.engine import device as devices
from study.engine.recurrent import GATES, MemberRNN, RNNSpec
from study.engine.stats import mean_ci
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train
from study.prompts import disagreement_question

NAME = "rnn_lstm"
ORDER = 50
SECTIONS = "§27.1.6"
TITLE = {"ja": "RNN と LSTM: 長い時間差を越える記憶", "en": "RNN vs LSTM: memory across long time lags"}

D_IN, CLASSES = 2, 2  # (value, marker) per step; yes/no
BASELINE = 0.75  # the best accuracy without memory of u_1: answer "yes" when u_T > 1/2


@dataclass
class Params:
    seeds: int = param(8, min=2, max=200, help="seeds per (lag, cell); success rates are over these")
    lags: list[int] = param([5, 10, 20, 50], min=2, max=1000, help="sequence lengths T (lag T - 1 steps)")
    cells: list[str] = param(["rnn", "lstm", "gru"], choices=list(GATES))
    lstm_hidden: int = param(24, min=2, max=1024, help="LSTM units; the other cells get the width whose "
                                                        "parameter count is closest to the LSTM's")
    forget_bias: float = param(1.0, min=-5, max=10, help="LSTM forget-gate bias at initialisation: 1 as Gers et al. "
                                                          "(2000) advise; large values approach the 1997 LSTM, "
                                                          "which had no forget gate")
    n_train: int = param(2048, min=64, max=1_000_000, help="training sequences (fixed, reused every epoch)")
    n_test: int = param(1024, min=100, max=100_000)
    epochs: int = param(20, min=1, max=10_000)
    batch_size: int = param(64, min=1, max=4096)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lr: float = param(0.003, gt=0, max=10)
    margin: float = param(0.1, gt=0, max=0.25, help=f"success: test accuracy >= {BASELINE} + margin")
    probe: int = param(256, min=8, max=100_000, help="test sequences on which dL/dh_t is measured")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.batch_size > p.n_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds n_train {p.n_train}")
    if p.probe > p.n_test:
        raise ValueError(f"probe {p.probe} exceeds n_test {p.n_test}")
    if len(set(p.lags)) != len(p.lags) or len(set(p.cells)) != len(p.cells):
        raise ValueError(f"lags {p.lags} and cells {p.cells} must not repeat")


def matched_hidden(cell: str, target: int) -> int:
    """The width whose parameter count (cell + linear head) is closest to `target`."""
    return min(range(1, 4096), key=lambda h: (abs(RNNSpec(cell, D_IN, h, CLASSES).n_params() - target), h))


def specs(p: Params) -> dict[str, RNNSpec]:
    target = RNNSpec("lstm", D_IN, p.lstm_hidden, CLASSES).n_params()
    return {c: RNNSpec(c, D_IN, matched_hidden(c, target), CLASSES) for c in p.cells}


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    seeds = list(range(p.seeds))
    members, grads = [], []
    jobs = [(T, c, s) for T in p.lags for c, s in specs(p).items()]
    for j, (T, cell, spec) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        # One data set per lag, shared by every cell and seed: cells with the same seed also share its minibatch
        # order, so they differ only in the cell. The validation set (per-epoch curves in MLflow) is separate.
        split = compare_first_last(p.data_seed * 100_003 + T, T, p.n_train, min(512, p.n_test), p.n_test).to(dev)
        torch.manual_seed(p.data_seed)  # nothing should draw from the global generator; this makes sure
        model = MemberRNN(spec, seeds, forget_bias=p.forget_bias if cell == "lstm" else None).to(dev)
        key = {"lag": T, "cell": cell}
        probe = (split.x_test[: p.probe], split.y_test[: p.probe])
        grads += grad_rows(model, *probe, key, seeds, "init")

        def on_epoch(epoch, rec):
            log.metrics({f"val_acc/{cell}-T{T}": float(np.nanmean(rec["val_acc"].cpu())),
                         f"train_loss/{cell}-T{T}": float(np.nanmean(rec["train_loss"].cpu()))}, step=epoch)

        hist = train(model, split, TrainSpec(p.optimizer, p.lr, p.epochs, p.batch_size), on_epoch)
        grads += grad_rows(model, *probe, key, seeds, "trained")
        test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
        for k, seed in enumerate(seeds):
            diverged = not all(math.isfinite(float(h["train_loss"][k])) for h in hist)
            acc = float(test_acc[k])
            members.append({**key, "seed": seed, "hidden": spec.hidden, "n_params": spec.n_params(),
                            "test_acc": acc, "test_loss": float(test_loss[k]),
                            "success": bool(acc >= BASELINE + p.margin), "diverged": diverged})
        progress(f"[{NAME}] {j}/{len(jobs)} T={T} {cell} (H={spec.hidden}): {len(seeds)} members in "
                 f"{time.perf_counter() - t0:.1f}s, {sum(m['success'] for m in members[-len(seeds):])}/"
                 f"{len(seeds)} succeeded")
    tables = {"members": pd.DataFrame(members), "gradients": pd.DataFrame(grads)}
    tables["success"] = success_table(tables["members"])
    record(log, tables, CLAIMS, started, {f"success/{r.cell}-T{r.lag}": r.rate for r in tables["success"].itertuples()})
    return tables


def hidden_gradients(model, x, y) -> torch.Tensor:
    """(M, T): the norm of dL/dh_t for each member and step, L = mean cross-entropy over the probe batch."""
    was_training = model.training
    model.eval()
    logits, rec = model(x, record=True)
    m, b = logits.shape[:2]
    loss = F.cross_entropy(logits.reshape(m * b, -1), y.repeat(m), reduction="none").view(m, b).mean(1)
    model.zero_grad(set_to_none=True)
    loss.sum().backward()  # members never mix, so each member's h_t receives its own loss's gradient
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return torch.stack([h.grad.flatten(1).norm(dim=1) for h in rec["hidden"]], dim=1).detach()


def grad_rows(model, x, y, key, seeds, phase) -> list[dict]:
    g = hidden_gradients(model, x, y).cpu()
    T = g.shape[1]
    return [{**key, "seed": seed, "phase": phase, "t": t + 1, "steps_back": T - 1 - t, "grad": float(g[k, t]),
             "rel": float(g[k, t] / g[k, -1]) if g[k, -1] > 0 else math.nan}
            for k, seed in enumerate(seeds) for t in range(T)]


# --- success rates and their intervals --------------------------------------------------------------------------

Z95 = float(sps.norm.ppf(0.975))


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (sensible at 0/n and n/n, unlike the normal approximation)."""
    if n == 0:
        return math.nan, math.nan
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)  # exact ends, no rounding


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """Difference p1 - p2 of two independent proportions with Newcombe's (1998) hybrid score interval, built from
    the two Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def success_table(members: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (cell, lag), g in members.groupby(["cell", "lag"]):
        k, n = int(g["success"].sum()), len(g)
        lo, hi = wilson(k, n)
        rows.append({"cell": cell, "lag": lag, "hidden": int(g["hidden"].iloc[0]),
                     "n_params": int(g["n_params"].iloc[0]), "successes": k, "seeds": n, "rate": k / n,
                     "rate_lo": lo, "rate_hi": hi, "median_acc": float(g["test_acc"].median()),
                     "diverged": int(g["diverged"].sum())})
    return pd.DataFrame(rows)


# --- claims -----------------------------------------------------------------------------------------------------

def _rate(t, cell, lag):
    s = t["success"]
    r = s[(s["cell"] == cell) & (s["lag"] == lag)]
    return (int(r["successes"].iloc[0]), int(r["seeds"].iloc[0])) if len(r) else None


def log10_ratio(t, cell, lag, phase="init") -> pd.DataFrame:
    """Per seed: log10(||dL/dh_1|| / ||dL/dh_T||), how much of the gradient survives the whole lag."""
    g = t["gradients"]
    g = g[(g["cell"] == cell) & (g["lag"] == lag) & (g["phase"] == phase) & (g["t"] == 1)]
    return g.assign(l10=np.log10(g["rel"].clip(lower=1e-300)))[["seed", "l10"]]


RATE_GAP = 0.25  # a difference in success rate that matters: a quarter of the seeds
GRAD_GAP = 1.0  # a difference in surviving gradient that matters: one order of magnitude (log10)


def decide_c20(t) -> Verdict:
    s = t["success"]
    if not {"rnn", "lstm"} <= set(s["cell"]) or s["lag"].nunique() < 2:
        return missing("C20", "cells rnn and lstm, two or more lags")
    short, long_ = int(s["lag"].min()), int(s["lag"].max())
    (rs, n1), (rl, n2), (ll, n3) = _rate(t, "rnn", short), _rate(t, "rnn", long_), _rate(t, "lstm", long_)
    drop, drop_lo, drop_hi = newcombe(rl, n2, rs, n1)  # RNN at the longest lag minus at the shortest
    gap, gap_lo, gap_hi = newcombe(ll, n3, rl, n2)  # LSTM minus RNN at the longest lag
    j = log10_ratio(t, "lstm", long_).merge(log10_ratio(t, "rnn", long_), on="seed", suffixes=("_l", "_r"))
    g_m, g_lo, g_hi = mean_ci((j["l10_l"] - j["l10_r"]).to_numpy())
    v = all_of(interval_verdict(drop_lo, drop_hi, -RATE_GAP, above=False),
               interval_verdict(gap_lo, gap_hi, RATE_GAP), interval_verdict(g_lo, g_hi, GRAD_GAP))
    n = {"short_lag": short, "long_lag": long_, "rnn_short": rs / n1, "rnn_long": rl / n2, "lstm_long": ll / n3,
         "rnn_drop": drop, "rnn_drop_lo": drop_lo, "rnn_drop_hi": drop_hi,
         "lstm_gain": gap, "lstm_gain_lo": gap_lo, "lstm_gain_hi": gap_hi,
         "log10_grad_gain": g_m, "log10_grad_gain_lo": g_lo, "log10_grad_gain_hi": g_hi}
    return Verdict("C20", v, n, {
        "ja": f"成功率: RNN は T={short} で {rs}/{n1}、T={long_} で {rl}/{n2}(変化 {_pp(drop, drop_lo, drop_hi)}、"
              f"基準 < −{RATE_GAP * 100:.0f} pt)。T={long_} で LSTM は {ll}/{n3}、RNN との差 {_pp(gap, gap_lo, gap_hi)}"
              f"(基準 > +{RATE_GAP * 100:.0f} pt)。学習前に系列の先頭まで届く勾配 ‖∂L/∂h_1‖/‖∂L/∂h_T‖ は LSTM が RNN "
              f"より log10 で {number(g_m, g_lo, g_hi)} 大きい(基準 > {GRAD_GAP:g})。",
        "en": f"Success: the RNN solved {rs}/{n1} seeds at T={short} and {rl}/{n2} at T={long_} (change "
              f"{_pp(drop, drop_lo, drop_hi)}, rule: < −{RATE_GAP * 100:.0f} pt). At T={long_} the LSTM solved "
              f"{ll}/{n3}, {_pp(gap, gap_lo, gap_hi)} above the RNN (rule: > +{RATE_GAP * 100:.0f} pt). At "
              f"initialisation the gradient that reaches the first step, ‖∂L/∂h_1‖/‖∂L/∂h_T‖, is larger for the "
              f"LSTM by {number(g_m, g_lo, g_hi)} in log10 (rule: > {GRAD_GAP:g})."})


def _pp(m, lo, hi):
    return f"{m * 100:+.0f} pt [{lo * 100:+.0f}, {hi * 100:+.0f}]"


CLAIMS = [
    Claim("C20", "§27.1.6",
          {"ja": "単純な RNN は長い系列では過去の情報が薄れて学習できないが、LSTM はメモリセルと忘却ゲートによって"
                 "それを保持し、勾配を劣化させずに過去へ伝える。",
           "en": "A plain RNN loses information over long sequences; LSTM's memory cell and forget gate keep it "
                 "and pass the gradient back without decay."},
          {"ja": f"3 つとも満たせば支持: (1) RNN の成功率が最長の時間差で最短より {RATE_GAP * 100:.0f} ポイントを超えて"
                 f"低い(差の 95% 区間が −{RATE_GAP * 100:.0f} pt 未満)、(2) 最長の時間差で LSTM の成功率が RNN を "
                 f"{RATE_GAP * 100:.0f} ポイントを超えて上回る、(3) 学習前、最長の時間差で先頭まで届く勾配の割合が LSTM の"
                 f"方が 10^{GRAD_GAP:g} 倍を超えて大きい(シードで対にした log10 差の区間)。どれかの区間が基準の反対側に"
                 "あれば不支持。成功とはテスト正解率が記憶なしの最良値 0.75 を余裕分以上上回ること。成功率の区間は "
                 "Wilson、差の区間は Newcombe。",
           "en": f"Supported if all three hold: (1) the RNN's success rate at the longest lag is more than "
                 f"{RATE_GAP * 100:.0f} points below that at the shortest (95% interval of the change below "
                 f"−{RATE_GAP * 100:.0f} pt); (2) at the longest lag the LSTM's success rate is more than "
                 f"{RATE_GAP * 100:.0f} points above the RNN's; (3) at initialisation, at the longest lag, the share "
                 f"of the gradient that reaches the first step is larger for the LSTM by more than a factor "
                 f"10^{GRAD_GAP:g} (seed-paired log10 difference). Not supported if an interval lies wholly on the "
                 "other side. Success means test accuracy above the memoryless best, 0.75, by the stated margin. "
                 "Intervals: Wilson for rates, Newcombe for their differences."}, decide_c20),
]


# --- report -----------------------------------------------------------------------------------------------------

COLORS = {"rnn": "#d62728", "lstm": "#1f77b4", "gru": "#2ca02c"}
CELL = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
TEXT = {
    "ja": {"lag": "系列長 T(時間差 T − 1 ステップ)", "rate": "成功率(シードの割合)", "acc": "テスト正解率",
           "base": "記憶なしの最良値 0.75", "thr": "成功の基準", "back": "最後のステップから遡ったステップ数",
           "grad": "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖", "init": "学習前", "trained": "学習後"},
    "en": {"lag": "sequence length T (lag T − 1 steps)", "rate": "success rate (share of seeds)",
           "acc": "test accuracy", "base": "memoryless best 0.75", "thr": "success threshold",
           "back": "steps back from the last step", "grad": "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖", "init": "at initialisation",
           "trained": "after training"},
}


# How a profile's budget is chosen (stated in every report; the profiles' comments give the pilot's numbers).
BUDGET_RULE = {
    "ja": "訓練の予算(ステップ数、学習率、ミニバッチ、大きさ)は全セル共通で、LSTM だけから、別のシードと別のデータでの"
          "予備実験で決めた(quick では、LSTM がその予算内に安定して、つまり 7/8 以上のシードで学習できた最長の時間差を"
          "最長の系列長とした)。RNN の結果は予算の選択に使っていない。",
    "en": "The training budget (steps, learning rate, minibatch, sizes) is the same for every cell and was fixed from "
          "the LSTM alone, in a pilot on other seeds and other data (quick profile: the longest length is the longest "
          "lag the LSTM learned reliably, on 7/8 seeds or more, within that budget). The RNN's results played no "
          "part in choosing it.",
}


def setup_text(p: dict, lang: str) -> str:
    cells = ", ".join(CELL[c] for c in p["cells"])
    steps = p["epochs"] * (p["n_train"] // p["batch_size"])
    lags = ", ".join(map(str, p["lags"]))
    if lang == "ja":
        return (f"課題は Hochreiter & Schmidhuber(1997)の加算問題を、時間差がちょうど決まる形にしたもの。各ステップの"
                f"入力は一様乱数 u_t ∈ [0, 1] と目印で、目印は最初と最後のステップだけ 1。系列を最後まで読んだ後に"
                f"「u_1 + u_T > 1 か」を答える。u_1 を T − 1 ステップ運ばなければならず、運べなければ u_T だけを見る"
                f"最良の規則(u_T > 1/2 なら「はい」)の正解率 0.75 が上限になる。テスト正解率が 0.75 + {p['margin']} "
                f"以上のシードを「成功」と数えた。系列長 T = {lags}、セルは {cells}。LSTM は {p['lstm_hidden']} ユニット"
                f"(忘却ゲートのバイアス初期値 {p['forget_bias']:g})、他のセルはパラメータ数が最も近くなる幅にそろえた。全セル同じ "
                f"{p['optimizer']}(学習率 {p['lr']})、ミニバッチ {p['batch_size']}、訓練系列 {p['n_train']} 本を "
                f"{p['epochs']} エポック(計 {steps} ステップ)、各条件 {p['seeds']} シード。勾配 ‖∂L/∂h_t‖ はテスト系列 "
                f"{p['probe']} 本で学習前と学習後に測った。" + BUDGET_RULE["ja"])
    return (f"The task is Hochreiter & Schmidhuber's (1997) adding problem, shaped so that the lag is exact. Each "
            f"step feeds a value u_t ~ U(0, 1) and a marker that is 1 only at the first and the last step; after the "
            f"last step the net answers whether u_1 + u_T > 1. It must carry u_1 across T − 1 steps; without it the "
            f"best rule looks at u_T alone (yes when u_T > 1/2) and is right 0.75 of the time. A seed counts as a "
            f"success when its test accuracy is at least 0.75 + {p['margin']}. Lengths T = {lags}; cells: {cells}. "
            f"The LSTM has {p['lstm_hidden']} units (forget-gate bias initialised to {p['forget_bias']:g}); the other cells get the "
            f"width with the closest parameter count. Every cell used {p['optimizer']} (learning rate {p['lr']}), "
            f"minibatches of {p['batch_size']}, {p['n_train']} training sequences for {p['epochs']} epochs ({steps} "
            f"steps), {p['seeds']} seeds per condition. The gradient ‖∂L/∂h_t‖ was measured on "
            f"{p['probe']} test sequences before and after training. " + BUDGET_RULE["en"])


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    T = TEXT[lang]
    long_ = int(tables["members"]["lag"].max())
    figs = [(fig_success(tables, T), {"ja": "系列長と成功率(成功したシードの割合と Wilson の 95% 区間)。",
                                      "en": "Sequence length and success rate (share of seeds that succeeded, "
                                            "Wilson 95% interval)."}[lang]),
            (fig_accuracy(tables, params, T), {"ja": "シードごとのテスト正解率。破線は記憶なしの最良値 0.75、点線は"
                                                     "成功の基準。",
                                               "en": "Test accuracy of every seed. Dashed: the memoryless best, 0.75; "
                                                     "dotted: the success threshold."}[lang]),
            (fig_gradients(tables, T), {"ja": f"T = {long_} での ‖∂L/∂h_t‖(最後のステップの値を 1 とする、対数軸、"
                                              "log10 の平均と 95% 区間)。左が学習前、右が学習後。",
                                        "en": f"‖∂L/∂h_t‖ at T = {long_}, relative to the last step (log scale; mean "
                                              "of log10 and its 95% interval). Left: at initialisation; right: "
                                              "after training."}[lang])]
    return {"setup": setup_text(params, lang), "figures": figs,
            "tables": [(summary_table(tables, lang), {"ja": "成功したシード数 / シード数 [Wilson 95% 区間]",
                                                      "en": "Seeds that succeeded / seeds [Wilson 95% interval]"}[lang])],
            "questions": questions(tables, lang)}


def summary_table(t, lang) -> pd.DataFrame:
    s = t["success"]
    rows = []
    for cell in [c for c in CELL if c in set(s["cell"])]:
        g = s[s["cell"] == cell].sort_values("lag")
        row = {"cell": CELL[cell], "H": int(g["hidden"].iloc[0]), "params": int(g["n_params"].iloc[0])}
        for r in g.itertuples():
            row[f"T={r.lag}"] = (f"{r.successes}/{r.seeds}\n[{r.rate_lo:.2f},\u00a0{r.rate_hi:.2f}]"
                                 + (" †" if r.diverged else ""))
        rows.append(row)
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"cell": "セル", "H": "ユニット数", "params": "パラメータ数"})
    return df


def _cells(t):
    return [c for c in CELL if c in set(t["members"]["cell"])]


def fig_success(t, T):
    import matplotlib.pyplot as plt

    s = t["success"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    cells = _cells(t)
    for i, cell in enumerate(cells):
        g = s[s["cell"] == cell].sort_values("lag")
        x = g["lag"].to_numpy() * (1 + 0.04 * (i - (len(cells) - 1) / 2))  # small offsets keep bars apart
        err = np.array([g["rate"] - g["rate_lo"], g["rate_hi"] - g["rate"]])
        ax.errorbar(x, g["rate"], yerr=err, marker="o", capsize=3, label=CELL[cell], color=COLORS[cell])
    ax.set_xscale("log")
    lags = sorted(set(s["lag"]))
    ax.set_xticks(lags, [str(v) for v in lags])
    ax.set(xlabel=T["lag"], ylabel=T["rate"], ylim=(-0.05, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_accuracy(t, params, T):
    import matplotlib.pyplot as plt

    m = t["members"]
    cells, lags = _cells(t), sorted(set(m["lag"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    rng = np.random.default_rng(0)  # horizontal jitter only, so overlapping seeds stay visible
    for i, cell in enumerate(cells):
        g = m[m["cell"] == cell]
        x = np.array([lags.index(v) for v in g["lag"]]) + (i - (len(cells) - 1) / 2) * 0.25
        ax.scatter(x + rng.uniform(-0.06, 0.06, len(g)), g["test_acc"], s=14, alpha=0.8, color=COLORS[cell],
                   label=CELL[cell])
    ax.axhline(BASELINE, color="gray", ls="--", lw=1, label=T["base"])
    ax.axhline(BASELINE + params["margin"], color="gray", ls=":", lw=1, label=T["thr"])
    ax.set_xticks(range(len(lags)), [str(v) for v in lags])
    ax.set(xlabel=T["lag"], ylabel=T["acc"])
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def fig_gradients(t, T):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    g = t["gradients"]
    long_ = int(g["lag"].max())
    g = g[g["lag"] == long_]
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.4), sharey=True)
    for ax, phase in zip(axes, ["init", "trained"]):
        for cell in _cells(t):
            h = g[(g["cell"] == cell) & (g["phase"] == phase)]
            s = h.groupby("steps_back")["rel"].apply(
                lambda v: mean_ci(np.log10(v.clip(lower=1e-300).to_numpy()))).apply(pd.Series)
            band(ax, s.index, 10 ** s[0], 10 ** s[1], 10 ** s[2], CELL[cell], color=COLORS[cell])
        ax.set_yscale("log")
        ax.set(title=T[phase], xlabel=T["back"])
    axes[0].set_ylabel(T["grad"])
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def questions(t, lang) -> list[str]:
    """Discussion prompts built from the measured numbers."""
    qs = []
    s, m = t["success"], t["members"]
    lags = sorted(set(s["lag"]))
    rnn = s[s["cell"] == "rnn"].set_index("lag")
    if len(rnn) >= 2:
        parts_ja = "、".join(f"T={v} で {rnn.loc[v, 'successes']}/{rnn.loc[v, 'seeds']}" for v in rnn.index)
        parts_en = ", ".join(f"{rnn.loc[v, 'successes']}/{rnn.loc[v, 'seeds']} at T={v}" for v in rnn.index)
        qs.append({"ja": f"tanh RNN が成功したシードは {parts_ja} だった。Hochreiter & Schmidhuber(1997)は、BPTT で"
                         "学習する RNN は時間差が 10 ステップ程度を超えると失敗すると報告している。ここでの境目はどこに"
                         "あり、1997 年の設定(最適化手法、初期化、課題)との違いはそれをどちらへ動かすと考えられるか。",
                   "en": f"The tanh RNN succeeded in {parts_en}. Hochreiter & Schmidhuber (1997) report that RNNs "
                         "trained with BPTT fail once lags exceed about 10 steps. Where is the edge here, and which "
                         "way should the differences from 1997 (optimizer, initialisation, task) move it?"}[lang])
    long_ = lags[-1] if lags else None
    ratios = {}
    for cell in ("rnn", "lstm"):
        r = log10_ratio(t, cell, long_) if long_ is not None else pd.DataFrame()
        if len(r) and long_ > 1:
            ratios[cell] = float(np.median(r["l10"]))
    if len(ratios) == 2:
        per = {c: 10 ** (v / (long_ - 1)) for c, v in ratios.items()}  # the geometric mean factor per step
        qs.append({"ja": f"学習前、T={long_} で最初のステップまで届いた勾配は、最後のステップの値に対して RNN で "
                         f"10^{ratios['rnn']:.1f}、LSTM で 10^{ratios['lstm']:.1f} だった(中央値)。1 ステップあたりに"
                         f"直すと RNN は {per['rnn']:.2f} 倍、LSTM は {per['lstm']:.2f} 倍。RNN のこの因子を "
                         "∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh から見積もり、LSTM のセル c_t を通る経路では何がそれに"
                         "代わるか(忘却ゲートのバイアス初期値との関係も)を考えよう。",
                   "en": f"At initialisation, at T={long_}, the gradient reaching the first step was "
                         f"10^{ratios['rnn']:.1f} of the last step's for the RNN and 10^{ratios['lstm']:.1f} for the "
                         f"LSTM (medians): a factor of {per['rnn']:.2f} per step for the RNN and {per['lstm']:.2f} for "
                         "the LSTM. Estimate the RNN's factor from ∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh, and say what "
                         "takes its place along the LSTM's cell c_t (and how the forget-gate bias enters)."}[lang])
    pair = [s[(s["cell"] == c) & (s["lag"] == long_)] for c in ("rnn", "lstm")]
    if len(ratios) == 2 and all(len(x) for x in pair):
        r, l = pair[0].iloc[0], pair[1].iloc[0]
        gain = ratios["lstm"] - ratios["rnn"]
        qs.append({"ja": f"T={long_} で、学習前に最初のステップへ届く勾配は LSTM の方が RNN より約 10^{gain:.1f} 倍大きかった。"
                         f"それでも同じ学習予算で成功したシードは LSTM {l['successes']}/{l['seeds']}、RNN "
                         f"{r['successes']}/{r['seeds']} だった。勾配が届くことのほかに、長い時間差を学ぶには何が必要だろうか"
                         "(予算を増やすと何が変わると予想するか)。",
                   "en": f"At T={long_} the gradient reaching the first step at initialisation was about 10^{gain:.1f} "
                         f"times larger for the LSTM than for the RNN. Yet under the same budget the LSTM solved "
                         f"{l['successes']}/{l['seeds']} seeds and the RNN {r['successes']}/{r['seeds']}. Besides a "
                         "gradient that arrives, what does learning a long lag need (and what would you expect from a "
                         "larger budget)?"}[lang])
    if "gru" in set(s["cell"]) and long_ is not None:
        row = s[(s["cell"] == "gru") & (s["lag"] == long_)]
        lstm = s[(s["cell"] == "lstm") & (s["lag"] == long_)]
        if len(row) and len(lstm):
            a, b = row.iloc[0], lstm.iloc[0]
            qs.append({"ja": f"T={long_} で GRU は {a['successes']}/{a['seeds']}、LSTM は {b['successes']}/{b['seeds']} "
                             "のシードで成功した。GRU には独立したメモリセルも出力ゲートもない。それでも長い時間差を越え"
                             "られる(あるいは越えられない)のは、どの仕組みのためだろうか。",
                       "en": f"At T={long_} the GRU succeeded in {a['successes']}/{a['seeds']} seeds and the LSTM in "
                             f"{b['successes']}/{b['seeds']}. The GRU has no separate memory cell and no output gate. "
                             "Which of its mechanisms lets it bridge (or fail to bridge) long lags?"}[lang])
    near = m[(m["test_acc"] > BASELINE - 0.02) & (m["test_acc"] < BASELINE + 0.02)]
    if len(near):
        qs.append({"ja": f"{len(near)} 個のモデルはテスト正解率が 0.75 付近(±0.02)で止まった。これらのモデルは何を"
                         "学び、何を学べなかったのだろうか。損失は下がっているのに課題は解けていない状態を、どう見分け"
                         "られるか。",
                   "en": f"{len(near)} models stopped near 0.75 test accuracy (±0.02). What did they learn, and what did "
                         "they not? How could one tell this state apart from real progress if one watched only the "
                         "loss?"}[lang])
    q = disagreement_question(m, ["cell", "lag"], lang)
    if q:
        qs.append(q)
    return qs


def params_dict(p: Params) -> dict:
    return asdict(p)
