"""Depth vs gradient (§27.1, §27.1.3, §27.1.8): does the gradient vanish with depth, and what rescues it?

Grid: activation × hidden layers × initialisation × BatchNorm × seeds. Each (depth, activation, BN) is one
batched engine run whose members are initialisation schemes × seeds; the same seed index shares its minibatch
order across configurations, so differences between configurations are paired by seed.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study._legacy_claims import (
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
    number,
    points,
    record,
)
from study.params import param
from study.engine import device as devices
from study.engine.measure import decay_per_layer, derivative_on_grid, layer_gradients
from study.engine.nets import ACTIVATIONS, INIT_SCHEMES, MemberMLP, MLPSpec
from study.engine.stats import mean_ci, paired_diff
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train
from study.prompts import disagreement_question

NAME = "depth_gradient"
ORDER = 10
SECTIONS = "§27.1, §27.1.3, §27.1.8"
TITLE = {"ja": "層の深さと勾配消失", "en": "Depth and the vanishing gradient"}


@dataclass
class Params:
    seeds: int = param(3, min=1, max=100, help="seeds per configuration")
    depths: list[int] = param([1, 2, 3, 5, 10], min=1, max=50, help="numbers of hidden layers")
    activations: list[str] = param(["sigmoid", "tanh", "relu"], choices=list(ACTIVATIONS))
    inits: list[str] = param(["normal001", "xavier", "he"], choices=list(INIT_SCHEMES))
    batchnorm: list[bool] = param([False, True], help="affine -> BN -> activation when true")
    width: int = param(64, min=4, max=1024)
    epochs: int = param(20, min=1, max=1000)
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("momentum", choices=list(OPTIMIZERS))
    lr: float = param(0.02, gt=0, max=10)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.batch_size > 1000:
        raise ValueError(f"batch_size {p.batch_size} exceeds the training set (1,078 images)")


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    """Train and measure every configuration; log per-epoch metrics, tidy tables and verdicts to `log`."""
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    split = data.digits(p.data_seed).to(dev)
    tables = {"derivative": derivative_table(p.activations)}
    members, layers, history = [], [], []
    groups = [(d, a, bn) for d in p.depths for a in p.activations for bn in p.batchnorm]
    for g, (depth, act, bn) in enumerate(groups, 1):
        t0 = time.perf_counter()
        inits = [i for i in p.inits for _ in range(p.seeds)]
        seeds = [s for _ in p.inits for s in range(p.seeds)]
        spec = MLPSpec(split.n_features, p.width, depth, split.n_classes, act, batchnorm=bn)
        torch.manual_seed(p.data_seed)  # nothing should draw from the global generator; this makes sure
        model = MemberMLP(spec, seeds, inits).to(dev)
        key = dict(depth=depth, activation=act, batchnorm=bn)
        layers += layer_rows(model, split, key, inits, seeds, "init")

        def on_epoch(epoch, rec):
            log.metrics({f"{m}/{act}-{init}-d{depth}{'-bn' if bn else ''}": float(np.nanmean(rec[m][sel].cpu()))
                         for m in ("train_loss", "val_acc") for init, sel in _by_init(inits).items()}, step=epoch)

        hist = train(model, split, TrainSpec(p.optimizer, p.lr, p.epochs, p.batch_size), on_epoch)
        layers += layer_rows(model, split, key, inits, seeds, "trained")
        test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
        for k, (init, seed) in enumerate(zip(inits, seeds)):
            losses = [float(h["train_loss"][k]) for h in hist]
            diverged = not all(math.isfinite(v) for v in losses)
            members.append({**key, "init": init, "seed": seed, "test_acc": float(test_acc[k]),
                            "test_loss": float(test_loss[k]), "final_train_loss": losses[-1], "diverged": diverged})
            history += [{**key, "init": init, "seed": seed, "epoch": h["epoch"], "train_loss": float(h["train_loss"][k]),
                         "val_loss": float(h["val_loss"][k]), "val_acc": float(h["val_acc"][k])} for h in hist]
        progress(f"[{NAME}] {g}/{len(groups)} depth={depth} {act}{' +BN' if bn else ''}: "
                 f"{len(seeds)} members in {time.perf_counter() - t0:.1f}s, "
                 f"mean test acc {float(test_acc.nanmean()):.3f}")
    tables.update(members=pd.DataFrame(members), layers=pd.DataFrame(layers), history=pd.DataFrame(history))
    tables["decay"] = decay_table(tables["layers"])
    record(log, tables, CLAIMS, started, summary_metrics(tables))
    return tables


def _by_init(inits):
    return {i: torch.tensor([x == i for x in inits]) for i in dict.fromkeys(inits)}


def derivative_table(activations) -> pd.DataFrame:
    rows = []
    for act in activations:
        x, d = derivative_on_grid(act)
        rows.append(pd.DataFrame({"activation": act, "x": x.numpy(), "derivative": d.numpy()}))
    return pd.concat(rows, ignore_index=True)


def layer_rows(model, split, key, inits, seeds, phase) -> list[dict]:
    m = layer_gradients(model, split.x_train, split.y_train)
    rows = []
    for k, (init, seed) in enumerate(zip(inits, seeds)):
        for l in range(model.spec.depth):
            rows.append({**key, "init": init, "seed": seed, "phase": phase, "layer": l + 1,
                         **{name: float(v[k, l]) for name, v in m.items()}})
    return rows


def decay_table(layers: pd.DataFrame) -> pd.DataFrame:
    """Per member: fitted per-layer decay of the back-propagated signal and of the weight gradients, the
    first/last-layer weight-gradient ratio, and the mean activation factor f'(z) over layers."""
    rows = []
    for key, g in layers.groupby(["depth", "activation", "batchnorm", "init", "seed", "phase"]):
        g = g.sort_values("layer")
        sig = torch.tensor(g["signal_grad"].to_numpy())[None]
        w = torch.tensor(g["weight_grad"].to_numpy())[None]
        rows.append({**dict(zip(["depth", "activation", "batchnorm", "init", "seed", "phase"], key)),
                     "signal_decay": float(decay_per_layer(sig)[0]), "weight_decay": float(decay_per_layer(w)[0]),
                     "first_last_ratio": float(w[0, 0] / w[0, -1]) if w[0, -1] > 0 else math.nan,
                     "mean_act_deriv": float(g["act_deriv"].mean()), "max_act_deriv": float(g["act_deriv"].max())})
    return pd.DataFrame(rows)


def summary_metrics(t) -> dict[str, float]:
    out = {}
    d = t["derivative"]
    for act, g in d.groupby("activation"):
        i = g["derivative"].idxmax()
        out[f"max_derivative/{act}"] = float(g.loc[i, "derivative"])
        out[f"argmax_derivative/{act}"] = float(g.loc[i, "x"])
    for (act, init, depth, bn), g in t["members"].groupby(["activation", "init", "depth", "batchnorm"]):
        out[f"test_acc/{act}-{init}-d{depth}{'-bn' if bn else ''}"] = float(g["test_acc"].mean())
    return out


# --- claims -----------------------------------------------------------------------------------------------------

FACTOR = 0.25  # the chapter's bound on the sigmoid's derivative
RATIO_MAX = 0.1  # "barely update": the first layer gets under a tenth of the last layer's gradient
ACC_GAP = 0.05  # a difference in test accuracy that matters: 5 percentage points


def _pick(t, **where):
    df = t["members"] if "phase" not in where else t["decay"]
    for k, v in where.items():
        df = df[df[k] == v]
    return df


def _deep(t):
    return int(t["members"]["depth"].max())


def _shallow(t):
    return int(t["members"]["depth"].min())


def _init_for(t, act):
    """The initialisation each activation was designed with, when it is in the grid."""
    want = "he" if act == "relu" else "xavier"
    inits = set(t["members"]["init"])
    return want if want in inits else sorted(inits)[0]


def decide_c1(t) -> Verdict:
    d = t["derivative"][t["derivative"]["activation"] == "sigmoid"]
    if d.empty:
        return missing("C1", "sigmoid")
    i = d["derivative"].idxmax()
    peak, at = float(d.loc[i, "derivative"]), round(float(d.loc[i, "x"]), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
    dec = _pick(t, activation="sigmoid", phase="init", batchnorm=False)
    worst = float(dec["max_act_deriv"].max()) if not dec.empty else math.nan
    ok = abs(peak - FACTOR) < 1e-6 and abs(at) < 1e-6 and (math.isnan(worst) or worst <= FACTOR + 1e-6)
    n = {"max_derivative": peak, "argmax": at, "max_layer_factor_in_nets": worst,
         "bound_2_layers": FACTOR**2, "bound_3_layers": FACTOR**3}
    return Verdict("C1", "supported" if ok else "not supported", n, {
        "ja": f"自動微分で測った σ'(x) の最大値は {peak:.4f}(x = {at:.3f})。学習前のシグモイド網の各層で測った "
              f"σ'(z) の層平均の最大は {worst:.4f} で、0.25 を超えなかった。",
        "en": f"Autograd gives max σ'(x) = {peak:.4f} at x = {at:.3f}. In the untrained sigmoid nets the "
              f"largest per-layer mean of σ'(z) was {worst:.4f}, never above 0.25."})


def decide_c2(t) -> Verdict:
    deep, shallow = _deep(t), _shallow(t)
    init = _init_for(t, "sigmoid")
    r = _pick(t, activation="sigmoid", init=init, batchnorm=False, depth=deep, phase="init")
    if r.empty or deep < 2:
        return missing("C2", "sigmoid, depth >= 2")
    lr_m, lr_lo, lr_hi = mean_ci(np.log10(r["first_last_ratio"].to_numpy()))
    acc_m, acc_lo, acc_hi = paired_diff(_pick(t, activation="sigmoid", init=init, batchnorm=False, depth=shallow),
                                         _pick(t, activation="sigmoid", init=init, batchnorm=False, depth=deep),
                                         "test_acc")
    v = all_of(interval_verdict(lr_lo, lr_hi, math.log10(RATIO_MAX), above=False),
               interval_verdict(acc_lo, acc_hi, ACC_GAP, above=True))
    n = {"depth": deep, "first_last_ratio": 10**lr_m, "ratio_lo": 10**lr_lo, "ratio_hi": 10**lr_hi,
         "acc_drop": acc_m, "acc_drop_lo": acc_lo, "acc_drop_hi": acc_hi}
    return Verdict("C2", v, n, {
        "ja": f"シグモイド({init} 初期化)、{deep} 層: 第1層と最終隠れ層の重み勾配の比は {_r(n, 'first_last_ratio')}"
              f"(基準 < {RATIO_MAX})。{shallow} 層からの正解率の低下は {points(acc_m, acc_lo, acc_hi)}"
              f"(基準 > {ACC_GAP * 100:.0f} ポイント)。",
        "en": f"Sigmoid ({init} init), {deep} layers: first/last hidden-layer weight-gradient ratio "
              f"{_r(n, 'first_last_ratio')} (rule: < {RATIO_MAX}). Test-accuracy drop from {shallow} layer(s): "
              f"{points(acc_m, acc_lo, acc_hi)} (rule: > {ACC_GAP * 100:.0f} points)."})


def decide_c3(t) -> Verdict:
    deep = _deep(t)
    si, ri = _init_for(t, "sigmoid"), _init_for(t, "relu")
    relu = _pick(t, activation="relu", init=ri, batchnorm=False, depth=deep)
    sig = _pick(t, activation="sigmoid", init=si, batchnorm=False, depth=deep)
    if relu.empty or sig.empty:
        return missing("C3", "relu and sigmoid")
    m, lo, hi = paired_diff(relu, sig, "test_acc")
    rr = _pick(t, activation="relu", init=ri, batchnorm=False, depth=deep, phase="init")
    sr = _pick(t, activation="sigmoid", init=si, batchnorm=False, depth=deep, phase="init")
    rm, rlo, rhi = paired_diff(rr.assign(l=np.log10(rr["first_last_ratio"])),
                                sr.assign(l=np.log10(sr["first_last_ratio"])), "l")
    v = all_of(interval_verdict(lo, hi, ACC_GAP), interval_verdict(rlo, rhi, 0.0)) if deep > 1 else \
        interval_verdict(lo, hi, ACC_GAP)
    n = {"depth": deep, "acc_gain": m, "acc_gain_lo": lo, "acc_gain_hi": hi,
         "log10_ratio_gain": rm, "log10_ratio_gain_lo": rlo, "log10_ratio_gain_hi": rhi}
    return Verdict("C3", v, n, {
        "ja": f"{deep} 層で ReLU({ri})はシグモイド({si})より正解率が {points(m, lo, hi)} 高い(基準 > "
              f"{ACC_GAP * 100:.0f} ポイント)。第1層/最終層の勾配比は log10 で {number(rm, rlo, rhi)} 大きい(基準 > 0)。",
        "en": f"At {deep} layers ReLU ({ri}) beats sigmoid ({si}) by {points(m, lo, hi)} test accuracy (rule: > "
              f"{ACC_GAP * 100:.0f} points); its first/last gradient ratio is larger by {number(rm, rlo, rhi)} "
              f"in log10 (rule: > 0)."})


def decide_c4(t) -> Verdict:
    deep = _deep(t)
    if set(t["members"]["batchnorm"]) != {False, True}:
        return missing("C4", "batchnorm: [false, true]")
    results, n = [], {"depth": deep}
    for act in sorted(set(t["members"]["activation"])):
        init = _init_for(t, act)
        m, lo, hi = paired_diff(_pick(t, activation=act, init=init, batchnorm=True, depth=deep),
                                 _pick(t, activation=act, init=init, batchnorm=False, depth=deep), "test_acc")
        n.update({f"{act}_gain": m, f"{act}_gain_lo": lo, f"{act}_gain_hi": hi})
        results.append((act, interval_verdict(lo, hi, -ACC_GAP), m, lo, hi))
    # BN must never cost more than ACC_GAP, and must rescue at least one activation by more than ACC_GAP.
    rescue = max((interval_verdict(lo, hi, ACC_GAP) for _, _, m, lo, hi in results),
                 key=["not supported", "inconclusive", "supported"].index)
    v = all_of(rescue, *(r[1] for r in results))
    parts_ja = "、".join(f"{a} {points(m, lo, hi)}" for a, _, m, lo, hi in results)
    parts_en = ", ".join(f"{a} {points(m, lo, hi)}" for a, _, m, lo, hi in results)
    return Verdict("C4", v, n, {
        "ja": f"{deep} 層で BN を入れたときの正解率の変化: {parts_ja}。基準: どの活性化でも {ACC_GAP * 100:.0f} "
              f"ポイントを超えて悪化せず、少なくとも一つで {ACC_GAP * 100:.0f} ポイントを超えて改善。",
        "en": f"Change in test accuracy from adding BN at {deep} layers: {parts_en}. Rule: no activation loses "
              f"more than {ACC_GAP * 100:.0f} points and at least one gains more than {ACC_GAP * 100:.0f}."})


def _r(n, k):
    return f"{n[k]:.2g} [{n['ratio_lo']:.2g}, {n['ratio_hi']:.2g}]"


CLAIMS = [
    Claim("C1", "§27.1",
          {"ja": "シグモイドの導関数は x = 0 で最大 0.25。L 層重ねると活性化関数の因子だけで 0.25^L 以下になる。",
           "en": "The sigmoid's derivative peaks at 0.25 (x = 0); through L sigmoid layers the activation factor "
                 "alone is at most 0.25^L."},
          {"ja": "自動微分で求めた最大値が 0.25(x = 0)であり、実際の網の各層の σ'(z) 平均も 0.25 以下なら支持。",
           "en": "Supported if autograd's maximum is 0.25 at x = 0 and every layer's mean σ'(z) in real nets is "
                 "at most 0.25."}, decide_c1),
    Claim("C2", "§27.1",
          {"ja": "そのため深いシグモイド網では入力側の層がほとんど更新されず、深くしても学習できない。",
           "en": "Hence deep sigmoid networks barely update their early layers and cannot be fitted in practice."},
          {"ja": f"最深のシグモイド網で第1層/最終層の勾配比の 95% 区間が {RATIO_MAX} 未満、かつ最浅からの"
                 f"正解率低下の区間が {ACC_GAP * 100:.0f} ポイント超なら支持。",
           "en": f"Supported if, in the deepest sigmoid net, the 95% interval of the first/last gradient ratio lies "
                 f"below {RATIO_MAX} and the accuracy drop from the shallowest lies above {ACC_GAP * 100:.0f} points."},
          decide_c2),
    Claim("C3", "§27.1.3",
          {"ja": "ReLU は正の入力で勾配 1 を通すので、深くしても勾配が残り、シグモイドよりずっと効率よく学習できる。",
           "en": "ReLU passes a gradient of 1 for positive inputs, so gradients survive depth and it learns far "
                 "more efficiently than sigmoid."},
          {"ja": f"最深で ReLU−シグモイドの正解率差の区間が {ACC_GAP * 100:.0f} ポイント超、かつ勾配比の差が正なら支持。",
           "en": f"Supported if, at the deepest depth, ReLU − sigmoid accuracy lies above {ACC_GAP * 100:.0f} points "
                 "and its gradient ratio is larger."}, decide_c3),
    Claim("C4", "§27.1.8",
          {"ja": "affine → BN → 活性化 の順に BN を入れると各層の入力が適度に広がり、深い網も学習できる。",
           "en": "BatchNorm after the affine layer keeps each layer's input well spread and makes deep nets "
                 "trainable."},
          {"ja": f"最深で BN の効果の区間が、どの活性化でも −{ACC_GAP * 100:.0f} ポイントを下回らず、"
                 f"少なくとも一つで +{ACC_GAP * 100:.0f} ポイントを上回れば支持。",
           "en": f"Supported if, at the deepest depth, BN's effect stays above −{ACC_GAP * 100:.0f} points for every "
                 f"activation and lies above +{ACC_GAP * 100:.0f} points for at least one."}, decide_c4),
]


# --- report content (per language) ------------------------------------------------------------------------------

def setup_text(params: dict, lang: str) -> str:
    p = params
    if lang == "ja":
        return (f"データは scikit-learn 同梱の手書き数字(8×8 画素、1,797 枚)を訓練・検証・テストに分割したもの。"
                f"幅 {p['width']} の全結合網を隠れ層 {', '.join(map(str, p['depths']))} 層で作り、活性化関数 "
                f"{', '.join(p['activations'])}、初期化 {', '.join(p['inits'])}、BN の有無を組み合わせた。各条件を "
                f"{p['seeds']} 個のシードで、{p['optimizer']}(学習率 {p['lr']})、{p['epochs']} エポック、"
                f"ミニバッチ {p['batch_size']} で学習した。勾配は学習前と学習後に訓練データ全体で測った。")
    return (f"Data: scikit-learn's bundled handwritten digits (8×8 pixels, 1,797 images) split into train, "
            f"validation and test sets. Fully connected nets of width {p['width']} with "
            f"{', '.join(map(str, p['depths']))} hidden layers, activations {', '.join(p['activations'])}, "
            f"initialisations {', '.join(p['inits'])}, with and without BN. Each configuration was trained with "
            f"{p['seeds']} seeds using {p['optimizer']} (learning rate {p['lr']}) for {p['epochs']} epochs with "
            f"minibatches of {p['batch_size']}. Gradients were measured on the whole training set before and after "
            f"training.")


COLORS = {"relu": "#1f77b4", "sigmoid": "#ff7f0e", "tanh": "#2ca02c"}  # one colour per activation everywhere
LABELS = {
    "ja": {"deriv": "活性化関数の導関数(自動微分)", "x": "入力 x", "dfdx": "導関数 f'(x)",
           "grad": "‖∂L/∂h_l‖(相対値)", "below": "出力側から数えた層の距離",
           "line": "0.25^k(章の上限)", "acc": "テスト正解率", "depth": "隠れ層の数", "nobn": "BN なし",
           "bn": "BN あり", "spread": "各層の前活性 z_l の標準偏差", "layer": "層 l(入力側から)",
           "init": "初期化", "weight": "‖∂L/∂W_l‖(相対値)"},
    "en": {"deriv": "Derivative of each activation (autograd)", "x": "input x", "dfdx": "derivative f'(x)",
           "grad": "‖∂L/∂h_l‖ (relative)",
           "below": "layers below the last hidden layer", "line": "0.25^k (the chapter's bound)",
           "acc": "test accuracy", "depth": "hidden layers", "nobn": "no BN", "bn": "with BN",
           "spread": "std of pre-activation z_l per layer", "layer": "layer l (from the input)", "init": "init",
           "weight": "‖∂L/∂W_l‖ (relative)"},
}


def report(tables: dict, params: dict, lang: str) -> dict:
    """What the report shows for this study in one language: setup, figures, tables, questions."""
    from study.report import plots

    plots.setup_matplotlib()
    L = LABELS[lang]
    figs = [(fig_derivative(tables, L), L["deriv"]),
            (fig_gradients(tables, L), {"ja": "学習前の勾配の層ごとの減衰(最深の網、BN なし)。上段は逆伝播信号 "
                                               "‖∂L/∂h_l‖、下段は重み勾配 ‖∂L/∂W_l‖ で、どちらも最終隠れ層の値を 1 "
                                               "とした相対値(対数軸)。破線は 0.25^k。",
                                         "en": "Gradient decay per layer at initialisation (deepest nets, no BN). Top: "
                                               "the back-propagated signal ‖∂L/∂h_l‖; bottom: the weight gradient "
                                               "‖∂L/∂W_l‖; both relative to the last hidden layer (log scale). "
                                               "Dashed: 0.25^k."}[lang]),
            (fig_accuracy(tables, L), {"ja": "深さとテスト正解率(平均と 95% 区間)。",
                                        "en": "Depth and test accuracy (mean and 95% interval)."}[lang]),
            (fig_spread(tables, L), {"ja": "最深の網で各層の前活性の広がり(学習前)。",
                                      "en": "Spread of each layer's pre-activation in the deepest nets "
                                            "(initialisation)."}[lang])]
    return {"setup": setup_text(params, lang), "figures": figs,
            "tables": [(accuracy_table(tables, lang), {"ja": "テスト正解率(平均 [95% 区間])",
                                                       "en": "Test accuracy (mean [95% interval])"}[lang])],
            "questions": questions(tables, lang)}


def accuracy_table(t, lang) -> pd.DataFrame:
    m = t["members"]
    rows = []
    for (act, init, bn), g in m.groupby(["activation", "init", "batchnorm"]):
        row = {"activation": act, "init": init, "BN": "✓" if bn else ""}
        for depth, gd in g.groupby("depth"):
            col = f"{depth} 層" if lang == "ja" else f"{depth} layer{'s' * (depth > 1)}"
            mean, lo, hi = mean_ci(gd["test_acc"])
            lo, hi = max(lo, 0.0), min(hi, 1.0)  # accuracy lives in [0, 1]; the t-interval does not know that
            row[col] = f"{mean:.3f}\n[{lo:.3f},\u00a0{hi:.3f}]" if math.isfinite(lo) else f"{mean:.3f}"
            if gd["diverged"].any():
                row[col] += " †"
        rows.append(row)
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"activation": "活性化", "init": "初期化"})
    return df


def fig_derivative(t, L):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for act, g in t["derivative"].groupby("activation"):
        ax.plot(g["x"], g["derivative"], label=act, color=COLORS[act])
    ax.axhline(FACTOR, color="gray", ls="--", lw=1)
    ax.text(ax.get_xlim()[0], FACTOR, " 0.25", va="bottom", color="gray")
    ax.set(xlabel=L["x"], ylabel=L["dfdx"], title=L["deriv"])
    ax.legend()
    fig.tight_layout()
    return fig


def fig_gradients(t, L):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    lay = t["layers"]
    deep = int(lay["depth"].max())
    lay = lay[(lay["depth"] == deep) & (lay["phase"] == "init") & (~lay["batchnorm"])]
    inits = sorted(set(lay["init"]))
    fig, axes = plt.subplots(2, len(inits), figsize=(3.3 * len(inits), 5.6), sharey="row", squeeze=False)
    for col, init in enumerate(inits):
        for row, (metric, ylabel) in enumerate([("signal_grad", L["grad"]), ("weight_grad", L["weight"])]):
            ax = axes[row, col]
            for act, g in lay[lay["init"] == init].groupby("activation"):
                top = g[g["layer"] == deep].set_index("seed")[metric]
                g = g.assign(rel=g[metric] / g["seed"].map(top), k=deep - g["layer"])
                s = g.groupby("k")["rel"].apply(lambda v: mean_ci(np.log10(v.to_numpy()))).apply(pd.Series)
                band(ax, s.index, 10 ** s[0], 10 ** s[1], 10 ** s[2], act, color=COLORS[act])
            k = np.arange(deep)
            ax.plot(k, FACTOR ** k, "k--", lw=1, label=L["line"])
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
            ax.set(title=f"{L['init']}: {init}", xlabel=L["below"] if row else "", ylabel=ylabel if col == 0 else "")
            ax.yaxis.label.set_size(8)
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_accuracy(t, L):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    m = t["members"]
    inits = sorted(set(m["init"]))
    fig, axes = plt.subplots(1, len(inits), figsize=(3.3 * len(inits), 3.4), sharey=True, squeeze=False)
    for ax, init in zip(axes[0], inits):
        for (act, bn), g in m[m["init"] == init].groupby(["activation", "batchnorm"]):
            s = g.groupby("depth")["test_acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
            band(ax, s.index, s[0], s[1], s[2], f"{act} ({L['bn'] if bn else L['nobn']})", ls="-" if bn else "--",
                 color=COLORS[act])
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(m["depth"])), [str(d) for d in sorted(set(m["depth"]))])
        ax.set(title=f"{L['init']}: {init}", xlabel=L["depth"])
    axes[0, 0].set_ylabel(L["acc"])
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_spread(t, L):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    lay = t["layers"]
    deep = int(lay["depth"].max())
    lay = lay[(lay["depth"] == deep) & (lay["phase"] == "init")]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for (act, bn), g in lay.groupby(["activation", "batchnorm"]):
        g = g[g["init"] == _init_for({"members": lay}, act)]
        s = g.groupby("layer")["pre_std"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
        band(ax, s.index, s[0], s[1], s[2], f"{act} ({L['bn'] if bn else L['nobn']})", ls="-" if bn else "--",
             color=COLORS[act])
    ax.set_yscale("log")
    ax.set(xlabel=L["layer"], ylabel=L["spread"])
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def questions(t, lang) -> list[str]:
    """Discussion prompts built from the measured numbers."""
    d = t["decay"]
    d = d[(d["phase"] == "init") & (~d["batchnorm"]) & (d["depth"] == d["depth"].max())]
    qs = []
    sig = d[d["activation"] == "sigmoid"]
    if not sig.empty and sig["depth"].iloc[0] > 1:
        per = {i: mean_ci(g["signal_decay"]) for i, g in sig.groupby("init")}
        txt_ja = "、".join(f"{i} で {m:.3g}" for i, (m, _, _) in per.items())
        txt_en = ", ".join(f"{m:.3g} with {i}" for i, (m, _, _) in per.items())
        qs.append({"ja": f"シグモイド網で測った 1 層あたりの勾配の減衰率は {txt_ja} だった(章の値は 0.25)。"
                         "活性化関数だけでなく、重みの大きさはこの値にどう関わっているだろうか。",
                   "en": f"In sigmoid nets the measured per-layer gradient factor was {txt_en} (the chapter's "
                         "figure is 0.25). Besides the activation, how do the weights' scale enter this number?"}[lang])
    m = t["members"]
    deep = int(m["depth"].max())
    relu_small = m[(m["activation"] == "relu") & (m["init"] == "normal001") & (m["depth"] == deep) & (~m["batchnorm"])]
    relu_he = m[(m["activation"] == "relu") & (m["init"] == "he") & (m["depth"] == deep) & (~m["batchnorm"])]
    if not relu_small.empty and not relu_he.empty:
        a, b = relu_small["test_acc"].mean(), relu_he["test_acc"].mean()
        qs.append({"ja": f"{deep} 層の ReLU 網は N(0, 0.01²) 初期化で正解率 {a:.2f}、He 初期化で {b:.2f} だった。"
                         "「ReLU なら勾配は消えない」という説明に、何が欠けているだろうか。",
                   "en": f"A {deep}-layer ReLU net reached {a:.2f} test accuracy with N(0, 0.01²) initialisation and "
                         f"{b:.2f} with He initialisation. What is missing from 'ReLU does not let gradients "
                         "vanish'?"}[lang])
    bn = m[(m["depth"] == deep) & (m["activation"] == "sigmoid")]
    if set(bn["batchnorm"]) == {False, True}:
        a = bn[~bn["batchnorm"]]["test_acc"].mean()
        b = bn[bn["batchnorm"]]["test_acc"].mean()
        qs.append({"ja": f"{deep} 層のシグモイド網の平均正解率は BN なしで {a:.2f}、BN ありで {b:.2f}。BN は"
                         "勾配消失のどの原因に効き、どの原因には効かないのだろうか。",
                   "en": f"The {deep}-layer sigmoid nets averaged {a:.2f} test accuracy without BN and {b:.2f} with "
                         "it. Which cause of vanishing gradients does BN address, and which does it leave alone?"}[lang])
    q = disagreement_question(m, ["activation", "init", "depth", "batchnorm"], lang)
    if q:
        qs.append(q)
    return qs


def params_dict(p: Params) -> dict:
    return asdict(p)
