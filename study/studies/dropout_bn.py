"""Dropout × BatchNorm (§27.1.7, §27.1.8 and its tip): the variance shift of Li et al. (CVPR 2019), the
chapter's "keep them apart" advice, and the published remedies, on a 10-hidden-layer MLP on digits (setting
"full", which decides the claims) and a small CNN on digits (setting "cnn"), plus a wide, shallow MLP on a few
hundred images for dropout against overfitting (setting "small").

Each (configuration, drop rate) is one batched engine run over seeds. After training every member is measured:
test accuracy, training-set accuracy in train mode and in eval mode, the variance shift at each BN layer, and
test accuracy again after its BN statistics are re-estimated with the noise off.
"""
import copy
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
    points,
    record,
)
from study.params import param
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.measure import reestimate_bn, train_mode_accuracy, variance_shift
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.stats import mean_ci, paired_diff
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train
from study.prompts import disagreement_question

NAME = "dropout_bn"
ORDER = 55  # chapter order: after the RNN (§27.1.6), before transfer (§27.2)
SECTIONS = "§27.1.7, §27.1.8"
TITLE = {"ja": "Dropout と BatchNorm の不調和", "en": "The disharmony of Dropout and BatchNorm"}

# configuration -> (layout of each of L blocks, dropout before the output layer). "drop"/"uout" use the rate.
CONFIGS = {
    "none": lambda L: (["act"] * L, False),
    "bn": lambda L: (["bn act"] * L, False),
    "dropout": lambda L: (["act drop"] * L, False),
    "drop_bn": lambda L: (["drop bn act"] * L, False),  # the paper's case (a): dropout directly before BN
    "bn_drop": lambda L: (["bn act drop"] * L, False),  # case (b): dropout reaches the next BN via a weight layer
    "split": lambda L: (["bn act"] * (L - 2) + ["act drop"] * 2, False),  # the chapter's tip (8 + 2 for L = 10)
    "drop_after_bn": lambda L: (["bn act"] * L, True),  # remedy: one dropout after all BN layers
    "uout": lambda L: (["uout bn act"] * L, False),  # remedy: variance-stable uniform noise in place of dropout
}
NOISY = {"dropout", "drop_bn", "bn_drop", "split", "drop_after_bn", "uout"}
LABEL = {
    "none": {"ja": "なし", "en": "none"}, "bn": {"ja": "BN のみ", "en": "BN only"},
    "dropout": {"ja": "Dropout のみ", "en": "Dropout only"},
    "drop_bn": {"ja": "Dropout→BN(a)", "en": "Dropout→BN (a)"},
    "bn_drop": {"ja": "BN→ReLU→Dropout(b)", "en": "BN→ReLU→Dropout (b)"},
    "split": {"ja": "分離(BN が前、Dropout は最後の 2 層)", "en": "split (BN first, Dropout in the last 2)"},
    "drop_after_bn": {"ja": "全 BN の後に Dropout 1 つ", "en": "one Dropout after all BN"},
    "uout": {"ja": "Uout→BN", "en": "Uout→BN"},
}


@dataclass
class Params:
    seeds: int = param(3, min=1, max=100)
    depth: int = param(10, min=3, max=40, help="hidden layers (the chapter's tip speaks of 10)")
    width: int = param(64, min=4, max=1024)
    rates: list[float] = param([0.1, 0.3, 0.5], gt=0.0, max=0.9, help="drop rates (and Uout's beta)")
    configs: list[str] = param(list(CONFIGS), choices=list(CONFIGS))
    epochs: int = param(20, min=1, max=1000)
    small_train: int = param(300, min=50, max=1000, help="training images in the small-data setting (C9)")
    small_epochs: int = param(100, min=1, max=2000)
    small_depth: int = param(2, min=1, max=40, help="hidden layers of the small-data net (C9)")
    small_width: int = param(256, min=4, max=4096, help="its width: wide enough to overfit a few hundred images")
    cnn: bool = param(True, help="also run every configuration on a small CNN")
    cnn_channels: list[int] = param([8, 16, 16, 16], min=1, max=512, help="3x3 conv blocks (pool after the 2nd)")
    cnn_rates: list[float] = param([0.3], gt=0.0, max=0.9, help="drop rates for the CNN (it costs ~10x the MLP)")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("momentum", choices=list(OPTIMIZERS))
    lr: float = param(0.02, gt=0, max=10)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.batch_size > p.small_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds small_train {p.small_train}")
    if p.cnn and len(p.cnn_channels) < 3:
        raise ValueError(f"cnn_channels {p.cnn_channels}: the split placement needs at least 3 conv blocks")


def spec_for(config: str, rate: float, p: Params, split, setting: str = "full"):
    noise = rate if config in NOISY else 0.0
    if setting == "cnn":
        blocks, head = CONFIGS[config](len(p.cnn_channels))
        return CNNSpec(channels=tuple(p.cnn_channels), pool_after=(2,), d_out=split.n_classes, side=8,
                       dropout=noise, blocks=tuple(blocks), head_dropout=head)
    depth, width = (p.depth, p.width) if setting == "full" else (p.small_depth, p.small_width)
    blocks, head = CONFIGS[config](depth)
    return MLPSpec(split.n_features, width, depth, split.n_classes, "relu",
                   dropout=noise, blocks=tuple(blocks), head_dropout=head)


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    full = data.digits(p.data_seed).to(dev)
    small = data.Split(full.x_train[: p.small_train], full.y_train[: p.small_train], full.x_val, full.y_val,
                       full.x_test, full.y_test)
    nets = ["full"] + (["cnn"] if p.cnn else [])
    rates = {"full": p.rates, "cnn": p.cnn_rates}
    jobs = [(n, c, r) for n in nets for c in p.configs for r in (rates[n] if c in NOISY else [0.0])]
    jobs += [("small", c, r) for c in ("none", "dropout") if c in p.configs
             for r in (p.rates if c in NOISY else [0.0])]
    members, layers = [], []
    for j, (setting, config, rate) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        split = small if setting == "small" else full
        seeds = list(range(p.seeds))
        net = MemberCNN if setting == "cnn" else MemberMLP
        model = net(spec_for(config, rate, p, split, setting), seeds, "he").to(dev)
        epochs = p.small_epochs if setting == "small" else p.epochs
        tag = f"{setting}/{config}" + (f"-{rate:g}" if config in NOISY else "")

        def on_epoch(epoch, rec):
            log.metrics({f"val_acc/{tag}": float(np.nanmean(rec["val_acc"].cpu())),
                         f"train_loss/{tag}": float(np.nanmean(rec["train_loss"].cpu()))}, step=epoch)

        hist = train(model, split, TrainSpec(p.optimizer, p.lr, epochs, p.batch_size), on_epoch)
        m = measure(model, split)
        key = {"setting": setting, "config": config, "rate": rate}
        for k, seed in enumerate(seeds):
            diverged = not all(math.isfinite(float(h["train_loss"][k])) for h in hist)
            members.append({**key, "seed": seed, "diverged": diverged,
                            **{name: float(v[k]) for name, v in m.items() if v.dim() == 1}})
            for l in range(m["shift"].shape[1]):
                layers.append({**key, "seed": seed, "bn_layer": l + 1, "train_var": float(m["train_var"][k, l]),
                               "eval_var": float(m["eval_var"][k, l]), "shift": float(m["shift"][k, l])})
        progress(f"[{NAME}] {j}/{len(jobs)} {tag}: {len(seeds)} members in {time.perf_counter() - t0:.1f}s, "
                 f"test acc {float(m['test_acc'].nanmean()):.3f}")
    tables = {"members": pd.DataFrame(members), "layers": pd.DataFrame(layers), "theory": theory_table(p)}
    record(log, tables, CLAIMS, started)
    return tables


def measure(model, split) -> dict[str, torch.Tensor]:
    """Everything measured on a trained model; 1-D tensors are per member, 2-D per member and BN layer."""
    _, test_acc = evaluate(model, split.x_test, split.y_test)
    _, train_acc_eval = evaluate(model, split.x_train, split.y_train)
    train_acc_train = train_mode_accuracy(model, split.x_train, split.y_train)
    shift = variance_shift(model, split.x_train)
    fixed = copy.deepcopy(model)
    reestimate_bn(fixed, split.x_train)
    _, reest_acc = evaluate(fixed, split.x_test, split.y_test)
    return {"test_acc": test_acc, "train_acc_eval": train_acc_eval, "train_acc_train": train_acc_train,
            "test_acc_reestimated": reest_acc,
            "shift_first": shift["shift"][:, 0] if shift["shift"].shape[1] else torch.full_like(test_acc, math.nan),
            "shift_max": shift["shift"].amax(1) if shift["shift"].shape[1] else torch.full_like(test_acc, math.nan),
            **shift}


def theory_table(p: Params) -> pd.DataFrame:
    """The variance shift the paper's analysis predicts at the first BN layer (zero-mean input, no weight layer
    between the noise and BN): Bernoulli dropout with retain rate q gives eval/train variance q, hence a shift
    of 1/q; Uout with beta gives 3 / (3 + beta^2), hence (3 + beta^2) / 3."""
    rows = []
    for r in p.rates:
        rows.append({"config": "drop_bn", "rate": r, "predicted_shift": 1 / (1 - r)})
        rows.append({"config": "uout", "rate": r, "predicted_shift": (3 + r**2) / 3})
    return pd.DataFrame(rows)


# --- claims -----------------------------------------------------------------------------------------------------

ACC_MARGIN = 0.01  # "not below BN-only beyond the interval": more than one accuracy point worse counts as worse


def _sel(t, setting="full", **where):
    df = t["members"]
    df = df[df["setting"] == setting]
    for k, v in where.items():
        df = df[df[k] == v] if not isinstance(v, float) else df[np.isclose(df[k], v)]
    return df


def _mid_rate(t) -> float:
    rates = sorted(r for r in set(t["members"]["rate"]) if r > 0)
    return rates[len(rates) // 2] if rates else math.nan


def decide_c9(t) -> Verdict:
    r = _mid_rate(t)
    none, drop = _sel(t, "small", config="none"), _sel(t, "small", config="dropout", rate=r)
    if none.empty or drop.empty:
        return missing("C9", "small-data none and dropout")
    g, glo, ghi = paired_diff(drop, none)
    gap = lambda d: d.assign(gap=d["train_acc_eval"] - d["test_acc"])  # noqa: E731
    d, dlo, dhi = paired_diff(gap(drop), gap(none), "gap")
    v = all_of(interval_verdict(glo, ghi, 0.0), interval_verdict(dlo, dhi, 0.0, above=False))
    n = {"rate": r, "acc_gain": g, "acc_gain_lo": glo, "acc_gain_hi": ghi, "gap_change": d, "gap_change_lo": dlo,
         "gap_change_hi": dhi}
    return Verdict("C9", v, n, {
        "ja": f"少数データで Dropout(率 {r:g})は正解率を {points(g, glo, ghi)} 変え、訓練とテストの差を "
              f"{points(d, dlo, dhi)} 変えた(基準: 正解率の変化 > 0 かつ差の変化 < 0)。",
        "en": f"With few training images, Dropout (rate {r:g}) changed test accuracy by {points(g, glo, ghi)} and the "
              f"train–test gap by {points(d, dlo, dhi)} (rule: accuracy change > 0 and gap change < 0)."})


def _first_shift(t, config, rate):
    lay = t["layers"]
    lay = lay[(lay["setting"] == "full") & (lay["config"] == config) & np.isclose(lay["rate"], rate)
              & (lay["bn_layer"] == 1)]
    return mean_ci(lay["shift"].to_numpy())


def decide_c10(t) -> Verdict:
    r = _mid_rate(t)
    mixed, bn = _sel(t, config="drop_bn", rate=r), _sel(t, config="bn")
    if mixed.empty or bn.empty:
        return missing("C10", "drop_bn and bn")
    m, lo, hi = paired_diff(mixed, bn)
    s, slo, shi = _first_shift(t, "drop_bn", r)
    v = all_of(interval_verdict(lo, hi, 0.0, above=False), interval_verdict(slo, shi, 1.0))
    n = {"rate": r, "acc_change": m, "acc_change_lo": lo, "acc_change_hi": hi, "shift": s, "shift_lo": slo,
         "shift_hi": shi, "predicted_shift": 1 / (1 - r)}
    return Verdict("C10", v, n, {
        "ja": f"Dropout(率 {r:g})を各 BN の直前に置くと、BN のみに比べ正解率が {points(m, lo, hi)} 変わった。第1 BN 層の"
              f"分散シフトは {s:.2f} [{slo:.2f}, {shi:.2f}](理論値 {1 / (1 - r):.2f})。基準: 正解率の変化 < 0 かつシフト > 1。",
        "en": f"Dropout (rate {r:g}) directly before every BN changed test accuracy by {points(m, lo, hi)} against BN "
              f"only. Variance shift at the first BN layer: {s:.2f} [{slo:.2f}, {shi:.2f}] (theory "
              f"{1 / (1 - r):.2f}). Rule: accuracy change < 0 and shift > 1."})


def decide_c11(t) -> Verdict:
    r = _mid_rate(t)
    split, bn = _sel(t, config="split", rate=r), _sel(t, config="bn")
    if split.empty or bn.empty:
        return missing("C11", "split and bn")
    m, lo, hi = paired_diff(split, bn)
    s, slo, shi = mean_ci(split["shift_max"].to_numpy())
    v = interval_verdict(lo, hi, -ACC_MARGIN)
    n = {"rate": r, "acc_change": m, "acc_change_lo": lo, "acc_change_hi": hi, "max_shift": s}
    return Verdict("C11", v, n, {
        "ja": f"分離配置(率 {r:g})は BN のみに比べ正解率が {points(m, lo, hi)}(基準: −{ACC_MARGIN * 100:.0f} ポイントより上)。"
              f"その BN 層の最大分散シフトは {s:.3f}。",
        "en": f"The split placement (rate {r:g}) changed test accuracy by {points(m, lo, hi)} against BN only (rule: "
              f"above −{ACC_MARGIN * 100:.0f} point). Largest variance shift among its BN layers: {s:.3f}."})


REMEDY = {"drop_after_bn": {"ja": "全 BN の後に Dropout", "en": "Dropout after all BN"},
          "uout": {"ja": "Uout", "en": "Uout"},
          "reestimate": {"ja": "BN 統計の再推定", "en": "re-estimated BN statistics"}}


def decide_c12(t) -> Verdict:
    r = _mid_rate(t)
    mixed = _sel(t, config="drop_bn", rate=r)
    if mixed.empty:
        return missing("C12", "drop_bn")
    parts, n, words = [], {"rate": r}, {"ja": [], "en": []}
    remedies = [("drop_after_bn", _sel(t, config="drop_after_bn", rate=r), "test_acc"),
                ("uout", _sel(t, config="uout", rate=r), "test_acc"),
                ("reestimate", mixed.assign(test_acc=mixed["test_acc_reestimated"]), "test_acc")]
    for name, df, col in remedies:
        if df.empty:
            continue
        m, lo, hi = paired_diff(df, mixed, col)
        n.update({f"{name}_gain": m, f"{name}_gain_lo": lo, f"{name}_gain_hi": hi})
        parts.append(interval_verdict(lo, hi, 0.0))
        for lang in words:
            words[lang].append(f"{REMEDY[name][lang]} {points(m, lo, hi)}")
    if not parts:
        return missing("C12", "a remedy")
    return Verdict("C12", all_of(*parts), n, {
        "ja": f"Dropout→BN(率 {r:g})に対する正解率の改善: " + "、".join(words["ja"]) + "。基準: どの対策も > 0。",
        "en": f"Accuracy gain over Dropout→BN (rate {r:g}): " + ", ".join(words["en"]) + ". Rule: every remedy > 0."})


CLAIMS = [
    Claim("C9", "§27.1.7",
          {"ja": "Dropout はミニバッチごとに別の部分ネットワークを学習させるアンサンブルのような働きで、過学習を抑え精度を上げる。",
           "en": "Dropout trains a different sub-network at every minibatch, like an ensemble, which curbs "
                 "overfitting and raises accuracy."},
          {"ja": "少数データで、Dropout による正解率の変化の 95% 区間が 0 より上、かつ訓練–テスト差の変化が 0 より下なら支持。",
           "en": "Supported if, with few training images, the 95% interval of Dropout's accuracy change lies above 0 "
                 "and that of its change in the train–test gap lies below 0."}, decide_c9),
    Claim("C10", "§27.1.8",
          {"ja": "BatchNorm と Dropout を同じ箇所で使うと性能が落ちる(分散シフトによる不調和)。",
           "en": "Using BatchNorm and Dropout at the same place hurts (the disharmony of variance shift)."},
          {"ja": "Dropout を BN の直前に置いた網の、BN のみに対する正解率変化の区間が 0 より下、かつ分散シフトの区間が 1 より上なら支持。",
           "en": "Supported if Dropout directly before BN changes accuracy against BN only by an interval below 0, and "
                 "its variance shift's interval lies above 1."}, decide_c10),
    Claim("C11", "§27.1.8",
          {"ja": "10 層のうち前 8 層に BN、後ろ 2 層だけに Dropout のように分ければ問題になりにくい。",
           "en": "Keeping them apart (BN in the first 8 of 10 layers, Dropout only in the last 2) is unlikely to cause "
                 "problems."},
          {"ja": f"分離配置の BN のみに対する正解率変化の区間が −{ACC_MARGIN * 100:.0f} ポイントより上なら支持。",
           "en": f"Supported if the split placement's accuracy change against BN only lies above −{ACC_MARGIN * 100:.0f} "
                 "point."}, decide_c11),
    Claim("C12", "Li et al. 2019",
          {"ja": "対策: Dropout をすべての BN の後に置く、分散の安定な雑音(Uout)を使う、評価時に BN 統計を推定し直す。",
           "en": "Remedies: Dropout only after all BN layers; variance-stable noise (Uout); re-estimating BN "
                 "statistics in eval mode."},
          {"ja": "Dropout→BN に比べ、三つの対策いずれも正解率の改善の区間が 0 より上なら支持。",
           "en": "Supported if each of the three remedies improves accuracy over Dropout→BN with an interval above 0."},
          decide_c12),
]


# --- report -----------------------------------------------------------------------------------------------------

TEXT = {
    "ja": {"shift": "分散シフト max(a/b, b/a)", "layer": "BN 層(入力側から)", "rate": "Dropout 率(Uout は β)",
           "acc": "テスト正解率", "theory": "理論値(第1層)", "train_eval": "訓練データ正解率(評価モード)",
           "test": "テスト正解率", "before": "学習したまま", "after": "BN 統計を再推定"},
    "en": {"shift": "variance shift max(a/b, b/a)", "layer": "BN layer (from the input)",
           "rate": "drop rate (beta for Uout)", "acc": "test accuracy", "theory": "theory (first layer)",
           "train_eval": "training accuracy (eval mode)", "test": "test accuracy", "before": "as trained",
           "after": "BN statistics re-estimated"},
}
COLORS = {"none": "#7f7f7f", "bn": "#1f77b4", "dropout": "#2ca02c", "drop_bn": "#d62728", "bn_drop": "#ff7f0e",
          "split": "#9467bd", "drop_after_bn": "#17becf", "uout": "#8c564b"}


def setup_text(p: dict, lang: str) -> str:
    if lang == "ja":
        cnn = (f"同じ構成を、3×3 畳み込み {len(p['cnn_channels'])} ブロック(チャネル {', '.join(map(str, p['cnn_channels']))}"
               f"、2 ブロック目の後に 2×2 プーリング)の小さな CNN でも比べた。") if p.get("cnn", True) else ""
        return (f"手書き数字で、幅 {p['width']}、隠れ層 {p['depth']} 層の ReLU 全結合網(He 初期化)を学習した。" + cnn +
                f"BN と Dropout の置き方を {len(p['configs'])} 通り、Dropout 率 {', '.join(map(str, p['rates']))} で"
                f"比べ、各条件 {p['seeds']} シード、{p['optimizer']}(学習率 {p['lr']})で {p['epochs']} エポック。"
                f"C9 のためには、訓練画像を {p['small_train']} 枚に減らし、過学習しやすい幅 {p['small_width']}、"
                f"隠れ層 {p['small_depth']} 層の網を {p['small_epochs']} エポック学習した(Dropout は各隠れ層の後)。"
                "分散シフトは、訓練中に BN が蓄えた分散(a)と、評価モードで訓練データを流し直して測った同じ層の入力の"
                "分散(b)の比で、チャネル平均をとって max(a/b, b/a) と定義した。")
    cnn = (f"The same placements were also run in a small CNN ({len(p['cnn_channels'])} 3×3 convolution blocks with "
           f"{', '.join(map(str, p['cnn_channels']))} channels, 2×2 pooling after the second). ") \
        if p.get("cnn", True) else ""
    return (f"A ReLU MLP (He init) with {p['depth']} hidden layers of width {p['width']} on the digits, with "
            f"{len(p['configs'])} placements of BN and Dropout at drop rates {', '.join(map(str, p['rates']))}; "
            f"{p['seeds']} seeds each, {p['optimizer']} (learning rate {p['lr']}), {p['epochs']} epochs. For C9 a net "
            f"that overfits easily ({p['small_depth']} hidden layers of width {p['small_width']}, Dropout after each) "
            f"was trained on only {p['small_train']} training images for {p['small_epochs']} epochs. "
            "The variance shift compares, per BN layer, the variance BN accumulated during training (a) with the "
            "variance of the same layer's input re-measured in eval mode on the training data (b), averaged over "
            "channels: max(a/b, b/a). " + cnn)


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    T = TEXT[lang]
    figs = [(fig_shift(tables, T, lang), {"ja": "BN 層ごとの分散シフト(左 MLP、右 CNN。中央の Dropout 率、平均と 95% "
                                                "区間)。1 ならシフトなし。星印は第1層の理論値。",
                                          "en": "Variance shift per BN layer (left MLP, right CNN; middle drop rate; mean "
                                                "and 95% interval); 1 means no shift. Stars: theory for the first "
                                                "layer."}[lang]),
            (fig_rate(tables, T, lang), {"ja": "Dropout 率とテスト正解率(平均と 95% 区間)。",
                                         "en": "Drop rate and test accuracy (mean and 95% interval)."}[lang]),
            (fig_reestimate(tables, T, lang), {"ja": "BN 統計を評価モードで再推定する前後のテスト正解率(MLP、中央の率)。",
                                               "en": "Test accuracy before and after re-estimating BN statistics "
                                                     "(MLP, middle rate)."}[lang]),
            (fig_small(tables, T, lang), {"ja": "少数データでの訓練・テスト正解率(C9)。",
                                          "en": "Training and test accuracy with few training images (C9)."}[lang])]
    return {"setup": setup_text(params, lang), "figures": [(f, c) for f, c in figs if f is not None],
            "tables": [(summary_table(tables, lang), {"ja": "条件ごとの結果(平均 [95% 区間])",
                                                      "en": "Results per configuration (mean [95% interval])"}[lang])],
            "questions": questions(tables, lang)}


def _fmt(v, clip=True):
    m, lo, hi = mean_ci(v)
    if clip:  # accuracies live in [0, 1]; the t-interval does not know that
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f"{m:.3f}\n[{lo:.3f},\u00a0{hi:.3f}]" if math.isfinite(lo) else f"{m:.3f}"


NETS = {"full": {"ja": "MLP", "en": "MLP"}, "cnn": {"ja": "CNN", "en": "CNN"}}


def summary_table(t, lang) -> pd.DataFrame:
    m = t["members"]
    m = m[m["setting"].isin(list(NETS))]
    rows = []
    for (setting, config, rate), g in m.groupby(["setting", "config", "rate"], sort=False):
        rows.append({"net": NETS[setting][lang], "config": LABEL[config][lang],
                     "rate": f"{rate:g}" if config in NOISY else "–",
                     "test acc": _fmt(g["test_acc"]) + (" †" if g["diverged"].any() else ""), "train acc (train mode)": _fmt(g["train_acc_train"]),
                     "train acc (eval mode)": _fmt(g["train_acc_eval"]),
                     "shift, BN 1": _fmt(g["shift_first"], clip=False) if g["shift_first"].notna().any() else "–",
                     "after BN re-estimation": _fmt(g["test_acc_reestimated"]) if g["shift_first"].notna().any() else "–"})
    df = pd.DataFrame(rows)
    if lang == "ja":
        df = df.rename(columns={"net": "網", "config": "構成", "rate": "率", "test acc": "テスト正解率",
                                "train acc (train mode)": "訓練正解率(訓練モード)",
                                "train acc (eval mode)": "訓練正解率(評価モード)", "shift, BN 1": "シフト(BN 第1層)",
                                "after BN re-estimation": "BN 再推定後"})
    return df


def _panels(t, plt, height=3.6):
    nets = [n for n in NETS if n in set(t["members"]["setting"])]
    fig, axes = plt.subplots(1, len(nets), figsize=(3.6 * len(nets) + 0.8, height + 1.0), squeeze=False)
    return fig, list(zip(nets, axes[0]))


def fig_shift(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    r = _mid_rate(t)
    fig, panels = _panels(t, plt)
    for net, ax in panels:
        lay = t["layers"]
        lay = lay[(lay["setting"] == net) & (np.isclose(lay["rate"], r) | (lay["rate"] == 0))]
        for config, g in lay.groupby("config", sort=False):
            s = g.groupby("bn_layer")["shift"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
            band(ax, s.index, s[0], s[1], s[2], LABEL[config][lang], color=COLORS[config])
        th = t["theory"]
        for _, row in th[np.isclose(th["rate"], r)].iterrows():
            if row["config"] in set(lay["config"]):
                ax.plot([1], [row["predicted_shift"]], marker="*", ms=12, color=COLORS[row["config"]], ls="none")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set(xlabel=T["layer"], ylabel=T["shift"] if net == "full" else "", title=NETS[net][lang])
    return _legend_below(fig, panels)


def _legend_below(fig, panels):
    handles, labels = panels[0][1].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    return fig


def fig_rate(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    fig, panels = _panels(t, plt)
    for net, ax in panels:
        m = t["members"]
        m = m[m["setting"] == net]
        for config, g in m.groupby("config", sort=False):
            if config in NOISY:
                s = g.groupby("rate")["test_acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
                band(ax, s.index, s[0], s[1], s[2], LABEL[config][lang], color=COLORS[config])
            else:
                mean, lo, hi = mean_ci(g["test_acc"].to_numpy())
                ax.axhline(mean, color=COLORS[config], ls="--", lw=1, label=LABEL[config][lang])
                if math.isfinite(lo):
                    ax.axhspan(lo, hi, color=COLORS[config], alpha=0.12, lw=0)
        ax.set_xticks(sorted(r for r in set(m["rate"]) if r > 0))
        ax.set(xlabel=T["rate"], ylabel=T["acc"] if net == "full" else "", title=NETS[net][lang])
    return _legend_below(fig, panels)


def fig_reestimate(t, T, lang):
    import matplotlib.pyplot as plt

    m = t["members"]
    r = _mid_rate(t)
    m = m[(m["setting"] == "full") & m["shift_first"].notna() & (np.isclose(m["rate"], r) | (m["rate"] == 0))]
    if m.empty:
        return None
    configs = list(dict.fromkeys(m["config"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    x = np.arange(len(configs))
    for i, (col, label) in enumerate((("test_acc", T["before"]), ("test_acc_reestimated", T["after"]))):
        stats = [mean_ci(m[m["config"] == c][col].to_numpy()) for c in configs]
        mean = np.array([s[0] for s in stats])
        err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
        ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, yerr=np.nan_to_num(err), capsize=3, label=label,
               color=["#bbbbbb", "#1f77b4"][i])
    ax.set_xticks(x, [LABEL[c][lang] for c in configs], rotation=20, ha="right", fontsize=7)
    ax.set(ylabel=T["acc"], ylim=(max(0.0, float(m["test_acc"].min()) - 0.1), 1.0))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_small(t, T, lang):
    import matplotlib.pyplot as plt

    m = t["members"]
    m = m[m["setting"] == "small"]
    if m.empty:
        return None
    groups = [("none", 0.0)] + [("dropout", r) for r in sorted(set(m[m["config"] == "dropout"]["rate"]))]
    labels = [LABEL["none"][lang]] + [f"Dropout {r:g}" for _, r in groups[1:]]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    x = np.arange(len(groups))
    for i, (col, label, color) in enumerate((("train_acc_eval", T["train_eval"], "#bbbbbb"),
                                             ("test_acc", T["test"], "#2ca02c"))):
        stats = [mean_ci(m[(m["config"] == c) & np.isclose(m["rate"], r)][col].to_numpy()) for c, r in groups]
        mean = np.array([s[0] for s in stats])
        err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
        ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, yerr=np.nan_to_num(err), capsize=3, label=label, color=color)
    ax.set_xticks(x, labels)
    ax.set(ylabel=T["acc"], ylim=(max(0.0, float(m["test_acc"].min()) - 0.1), 1.02))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def questions(t, lang) -> list[str]:
    qs = []
    r = _mid_rate(t)
    if math.isfinite(r):
        a, b = _first_shift(t, "drop_bn", r), _first_shift(t, "bn_drop", r)
        if math.isfinite(a[0]) and math.isfinite(b[0]):
            qs.append({"ja": f"率 {r:g} の Dropout を BN の直前に置くと第1 BN 層の分散シフトは {a[0]:.2f}(理論値 "
                             f"{1 / (1 - r):.2f})、重み層を一つ挟む置き方(b)では {b[0]:.2f} だった。間に重み層があると"
                             "シフトが小さくなるのはなぜだろうか。",
                       "en": f"With Dropout at rate {r:g} directly before BN the first BN layer's variance shift was "
                             f"{a[0]:.2f} (theory {1 / (1 - r):.2f}); with a weight layer in between (b) it was "
                             f"{b[0]:.2f}. Why does a weight layer in between shrink the shift?"}[lang])
        mixed = _sel(t, config="drop_bn", rate=r)
        if not mixed.empty:
            before, after = mixed["test_acc"].mean(), mixed["test_acc_reestimated"].mean()
            qs.append({"ja": f"Dropout→BN の網は、学習後に BN の統計を推定し直すだけでテスト正解率が {before:.3f} から "
                             f"{after:.3f} になった。重みを一切変えていないのに変わるのは、何が直ったからだろうか。",
                       "en": f"Re-estimating only the BN statistics of the Dropout→BN nets moved their test accuracy "
                             f"from {before:.3f} to {after:.3f} without touching a single weight. What was repaired?"}[lang])
        split, bn = _sel(t, config="split", rate=r), _sel(t, config="bn")
        if not split.empty and not bn.empty:
            qs.append({"ja": f"章の勧める分離配置の正解率は {split['test_acc'].mean():.3f}、BN のみは "
                             f"{bn['test_acc'].mean():.3f}。この結果から、Dropout はネットワークのどこに置くべきだと言えるか。",
                       "en": f"The chapter's split placement reached {split['test_acc'].mean():.3f} test accuracy and BN "
                             f"only {bn['test_acc'].mean():.3f}. What does this say about where Dropout belongs?"}[lang])
    if math.isfinite(r):
        cm, cb = _sel(t, "cnn", config="drop_bn", rate=r), _sel(t, "cnn", config="bn")
        mm, mb = _sel(t, config="drop_bn", rate=r), _sel(t, config="bn")
        if not (cm.empty or cb.empty or mm.empty or mb.empty):
            dc, dm = cm["test_acc"].mean() - cb["test_acc"].mean(), mm["test_acc"].mean() - mb["test_acc"].mean()
            qs.append({"ja": f"BN の直前に Dropout を置いたときの BN のみとの差は、MLP で {dm * 100:+.1f} ポイント、CNN で "
                             f"{dc * 100:+.1f} ポイントだった。章の注意は畳み込み網にもそのまま当てはまると言えるか。",
                       "en": f"Dropout directly before BN changed accuracy against BN only by {dm * 100:+.1f} points in the "
                             f"MLP and {dc * 100:+.1f} points in the CNN. Does the chapter's tip carry over to "
                             "convolutional networks?"}[lang])
    small = _sel(t, "small")
    if not small.empty:
        gap = (small["train_acc_eval"] - small["test_acc"]).groupby(small["config"]).mean()
        if {"none", "dropout"} <= set(gap.index):
            qs.append({"ja": f"訓練画像が少ないとき、訓練とテストの正解率の差は Dropout なしで {gap['none']:.3f}、"
                             f"ありで {gap['dropout']:.3f}(全率の平均)。「アンサンブルのような効果」はこの数字のどこに現れているか。",
                       "en": f"With few training images the train–test accuracy gap was {gap['none']:.3f} without Dropout "
                             f"and {gap['dropout']:.3f} with it (all rates). Where does the 'ensemble-like effect' show "
                             "in these numbers?"}[lang])
    q = disagreement_question(t["members"], ["setting", "config", "rate"], lang)
    if q:
        qs.append(q)
    return qs


def params_dict(p: Params) -> dict:
    return asdict(p)
