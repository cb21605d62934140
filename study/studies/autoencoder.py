"""Stacked autoencoders (§27.1.4): greedy layer-wise pretraining of a deep sigmoid MLP on digits, against the
same net from random initialisation, a sigmoid net with BatchNorm, and ReLU nets (He init, with and without BN).

Pretraining uses every training image without its label: layer l is an encoder (sigmoid) with a linear decoder
that learns to reconstruct layer l's input; it is then frozen and the next layer trains on its codes. All seeds
are pretrained at once (a MemberLinear encoder and decoder per layer). Fine-tuning then trains the whole net with a
classifier head on a class-balanced labelled subset of each size. Each (labelled-set size, net family) is one
batched engine run over configurations × seeds; a seed shares its minibatch order across configurations, so
differences between configurations are paired by seed.
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
from study.engine.measure import layer_gradients
from study.engine.nets import MemberLinear, MemberMLP, MLPSpec, init_std
from study.engine.stats import mean_ci, paired_diff
from study.engine.train import (
    OPTIMIZERS,
    TrainSpec,
    evaluate,
    make_optimizer,
    member_batches,
    train,
)
from study.prompts import disagreement_question

NAME = "autoencoder"
ORDER = 40
SECTIONS = "§27.1.4"
TITLE = {"ja": "積層オートエンコーダによる事前学習", "en": "Greedy layer-wise pretraining with stacked autoencoders"}

TRAIN_IMAGES = 1079  # the digits training split (60% of 1,797)

# configuration -> (activation, batchnorm, initialisation, pretrained). "random" takes its init from the profile.
CONFIGS = {
    "pretrained": ("sigmoid", False, "xavier", True),
    "random": ("sigmoid", False, None, False),
    "random_xavier": ("sigmoid", False, "xavier", False),
    "sigmoid_bn": ("sigmoid", True, "xavier", False),
    "relu_he": ("relu", False, "he", False),
    "relu_bn": ("relu", True, "he", False),
}
LABEL = {
    "pretrained": {"ja": "シグモイド+AE 事前学習", "en": "sigmoid + AE pretraining"},
    "random": {"ja": "シグモイド(小さな乱数初期化)", "en": "sigmoid, small random init"},
    "random_xavier": {"ja": "シグモイド(Xavier 初期化)", "en": "sigmoid, Xavier init"},
    "sigmoid_bn": {"ja": "シグモイド+BN", "en": "sigmoid + BN"},
    "relu_he": {"ja": "ReLU(He 初期化)", "en": "ReLU, He init"},
    "relu_bn": {"ja": "ReLU+BN", "en": "ReLU + BN"},
}
COLORS = {"pretrained": "#d62728", "random": "#7f7f7f", "random_xavier": "#ff7f0e", "sigmoid_bn": "#9467bd",
          "relu_he": "#1f77b4", "relu_bn": "#17becf"}


@dataclass
class Params:
    seeds: int = param(5, min=1, max=100, help="seeds per configuration")
    depth: int = param(5, min=2, max=12, help="hidden layers of the deep sigmoid net (the issue asks 5-8)")
    width: int = param(64, min=4, max=1024)
    configs: list[str] = param(list(CONFIGS), choices=list(CONFIGS))
    random_init: str = param("normal001", choices=["normal001", "xavier", "he"],
                             help="init of 'random': the small fixed scale used before Glorot & Bengio (2010)")
    labels: list[int] = param([50, 200, TRAIN_IMAGES], min=10, max=TRAIN_IMAGES,
                              help="labelled-set sizes for fine-tuning (class-balanced; 1079 = all)")
    pretrain_epochs: int = param(10, min=1, max=1000, help="epochs per autoencoder layer")
    pretrain_lr: float = param(1e-3, gt=0, max=1)
    steps: int = param(600, min=1, max=100_000, help="fine-tuning steps, the same for every labelled-set size")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lr: float = param(3e-3, gt=0, max=10)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if "pretrained" not in p.configs or "random" not in p.configs:
        raise ValueError(f"configs {p.configs} must include 'pretrained' and 'random' (the claim compares them)")
    if len(set(p.labels)) != len(p.labels):
        raise ValueError(f"labels {p.labels} repeat a size")


# --- greedy layer-wise pretraining ------------------------------------------------------------------------------

def encode(frozen: list[MemberLinear], x: torch.Tensor) -> torch.Tensor:
    """The codes of the frozen stack: x (N, D) shared, or (M, N, D) -> (M, N, width)."""
    h = x
    with torch.no_grad():
        for enc in frozen:
            h = torch.sigmoid(enc(h.expand(enc.weight.shape[0], *h.shape) if h.dim() == 2 else h))
    return h


def _reconstruction(enc, dec, h) -> torch.Tensor:
    """Per-member mean squared reconstruction error of h (M, B, D)."""
    return ((dec(torch.sigmoid(enc(h))) - h) ** 2).mean((1, 2))


def pretrain_layer(frozen: list[MemberLinear], x: torch.Tensor, seeds: list[int], width: int, epochs: int,
                   lr: float, batch_size: int) -> tuple[MemberLinear, list[torch.Tensor], torch.Tensor]:
    """Train one autoencoder layer on the codes of the frozen stack below it.

    Returns the encoder, the full-data reconstruction MSE per member before training and after every epoch
    (epochs + 1 tensors of shape (M,)), and the per-member mean variance of the layer's input (to normalise).
    Only the new encoder and decoder are handed to the optimizer, and the stack below is run without gradients,
    so the frozen layers cannot move.
    """
    for enc in frozen:
        enc.requires_grad_(False)
    m, layer = len(seeds), len(frozen)
    h = encode(frozen, x)
    h = h.expand(m, *h.shape) if h.dim() == 2 else h
    d_in = h.shape[-1]
    enc, dec = MemberLinear(m, d_in, width).to(h.device), MemberLinear(m, width, d_in).to(h.device)
    with torch.no_grad():  # each member from its own generator, as MemberMLP does
        for k, seed in enumerate(seeds):
            g = torch.Generator().manual_seed(int(seed) * 1_009 + layer + 1)
            std = init_std("xavier", d_in, width)
            enc.weight[k].copy_(torch.randn(d_in, width, generator=g) * std)
            dec.weight[k].copy_(torch.randn(width, d_in, generator=g) * std)
    opt = make_optimizer("adam", list(enc.parameters()) + list(dec.parameters()), lr)
    seeds_t = torch.tensor(seeds, device=h.device)
    rows = torch.arange(m, device=h.device).view(-1, 1)
    with torch.no_grad():
        losses = [_reconstruction(enc, dec, h)]
    for epoch in range(epochs):
        # a different minibatch order per layer, still a function of the member's seed only
        for idx in member_batches(seeds_t, 10_000 * (layer + 1) + epoch, h.shape[1], batch_size):
            loss = _reconstruction(enc, dec, h[rows, idx])
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        with torch.no_grad():
            losses.append(_reconstruction(enc, dec, h))
    return enc, losses, h.var(dim=1, correction=0).mean(-1)


def pretrain_stack(x, seeds, depth, width, epochs, lr, batch_size, progress=None):
    """Greedy pretraining of `depth` layers; returns the encoders and a tidy table of reconstruction losses."""
    frozen, rows = [], []
    for layer in range(depth):
        t0 = time.perf_counter()
        enc, losses, var = pretrain_layer(frozen, x, seeds, width, epochs, lr, batch_size)
        for epoch, mse in enumerate(losses):
            for k, seed in enumerate(seeds):
                rows.append({"seed": seed, "layer": layer + 1, "epoch": epoch, "recon_mse": float(mse[k]),
                             "input_var": float(var[k]), "recon_rel": float(mse[k] / var[k])})
        frozen.append(enc)
        if progress:
            progress(f"[{NAME}] pretrain layer {layer + 1}/{depth}: relative reconstruction error "
                     f"{float((losses[0] / var).mean()):.3f} -> {float((losses[-1] / var).mean()):.3f} "
                     f"in {time.perf_counter() - t0:.1f}s")
    return frozen, pd.DataFrame(rows)


def balanced_subset(y: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of n training images, as class-balanced as possible: the first images of each class in the
    (already shuffled) split's order, taken round-robin over classes."""
    yy = y.cpu().numpy()
    rank = pd.Series(yy).groupby(yy).cumcount().to_numpy()  # position of each image within its class
    order = np.lexsort((np.arange(len(yy)), rank))  # all first-of-class, then all second-of-class, ...
    return torch.from_numpy(np.sort(order[:n])).to(y.device)


# --- run --------------------------------------------------------------------------------------------------------

def _families(p: Params):
    """Configurations that share one architecture train as one batched model: (activation, batchnorm) -> names."""
    fam = {}
    for c in p.configs:
        act, bn, _, _ = CONFIGS[c]
        fam.setdefault((act, bn), []).append(c)
    return fam


def _mask(configs: list[str], c: str) -> torch.Tensor:
    return torch.tensor([x == c for x in configs])


def _init(config: str, p: Params) -> str:
    return CONFIGS[config][2] or p.random_init


def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    split = data.digits(p.data_seed).to(dev)
    seeds = list(range(p.seeds))
    t0 = time.perf_counter()
    encoders, recon = pretrain_stack(split.x_train, seeds, p.depth, p.width, p.pretrain_epochs, p.pretrain_lr,
                                     p.batch_size, progress)
    pretrain_seconds = time.perf_counter() - t0
    for epoch, g in recon.groupby("epoch"):
        log.metrics({f"recon_rel/layer{l}": float(v) for l, v in g.groupby("layer")["recon_rel"].mean().items()},
                    step=epoch)
    members, grads = [], []
    jobs = [(n, fam, names) for n in sorted(p.labels) for fam, names in _families(p).items()]
    for j, (n, (act, bn), names) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        idx = balanced_subset(split.y_train, n)
        sub = data.Split(split.x_train[idx], split.y_train[idx], split.x_val, split.y_val, split.x_test, split.y_test)
        configs = [c for c in names for _ in seeds]
        mseeds = [s for _ in names for s in seeds]
        spec = MLPSpec(split.n_features, p.width, p.depth, split.n_classes, act, batchnorm=bn)
        torch.manual_seed(p.data_seed)  # nothing should draw from the global generator; this makes sure
        model = MemberMLP(spec, mseeds, [_init(c, p) for c in configs]).to(dev)
        with torch.no_grad():  # pretrained members start from the autoencoders' encoders; the head stays random
            for k, c in enumerate(configs):
                if CONFIGS[c][3]:
                    for lin, enc in zip(model.linears, encoders):
                        lin.weight[k].copy_(enc.weight[mseeds[k]])
                        lin.bias[k].copy_(enc.bias[mseeds[k]])
        g = layer_gradients(model, sub.x_train, sub.y_train)
        for k, (c, s) in enumerate(zip(configs, mseeds)):
            for l in range(p.depth):
                grads.append({"config": c, "n_labels": n, "seed": s, "layer": l + 1,
                              "weight_grad": float(g["weight_grad"][k, l]),
                              "signal_grad": float(g["signal_grad"][k, l])})
        bs = min(p.batch_size, n)
        epochs = math.ceil(p.steps / (n // bs))
        every = max(1, epochs // 20)

        def on_epoch(epoch, rec):
            if epoch % every == 0 or epoch == epochs:
                log.metrics({f"val_acc/n{n}-{c}": float(np.nanmean(rec["val_acc"].cpu()[_mask(configs, c)]))
                             for c in names}, step=epoch * (n // bs))

        hist = train(model, sub, TrainSpec(p.optimizer, p.lr, epochs, bs), on_epoch)
        test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
        _, train_acc = evaluate(model, sub.x_train, sub.y_train)
        for k, (c, s) in enumerate(zip(configs, mseeds)):
            losses = [float(h["train_loss"][k]) for h in hist]
            members.append({"config": c, "n_labels": n, "seed": s, "test_acc": float(test_acc[k]),
                            "test_loss": float(test_loss[k]), "train_acc": float(train_acc[k]),
                            "final_train_loss": losses[-1], "diverged": not all(map(math.isfinite, losses))})
        progress(f"[{NAME}] {j}/{len(jobs)} n={n} {act}{' +BN' if bn else ''}: {len(configs)} members, "
                 f"{epochs} epochs in {time.perf_counter() - t0:.1f}s, test acc "
                 + ", ".join(f"{c} {float(test_acc.cpu()[_mask(configs, c)].mean()):.3f}" for c in names))
    tables = {"members": pd.DataFrame(members), "grads": pd.DataFrame(grads), "recon": recon,
              "cost": pd.DataFrame([{"pretrain_seconds": pretrain_seconds,
                                     "pretrain_passes": p.depth * p.pretrain_epochs,
                                     "finetune_steps": p.steps}])}
    means = {f"test_acc/n{n}-{c}": float(g["test_acc"].mean())
             for (n, c), g in tables["members"].groupby(["n_labels", "config"])}
    record(log, tables, CLAIMS, started, {**means, "pretrain_seconds": pretrain_seconds})
    return tables


# --- claims -----------------------------------------------------------------------------------------------------

ACC_GAP = 0.05  # "trainable where random init is not": more than 5 accuracy points at every labelled-set size


def _sel(t, **where):
    df = t["members"]
    for k, v in where.items():
        df = df[df[k] == v]
    return df


def _log_first(t, config, n):
    """log10 of each seed's first-hidden-layer weight gradient at the start of fine-tuning."""
    g = t["grads"]
    g = g[(g["config"] == config) & (g["n_labels"] == n) & (g["layer"] == 1)]
    return g.assign(log_first=np.log10(g["weight_grad"].clip(lower=1e-300)))


def decide_c18(t) -> Verdict:
    m = t["members"]
    if not {"pretrained", "random"} <= set(m["config"]):
        return missing("C18", "pretrained and random")
    sizes = sorted(set(m["n_labels"]))
    n, parts, words = {}, [], []
    for size in sizes:
        d, lo, hi = paired_diff(_sel(t, config="pretrained", n_labels=size), _sel(t, config="random", n_labels=size))
        n.update({f"gain_n{size}": d, f"gain_n{size}_lo": lo, f"gain_n{size}_hi": hi})
        parts.append(interval_verdict(lo, hi, ACC_GAP))
        words.append((size, points(d, lo, hi)))
    big = sizes[-1]
    gm, glo, ghi = paired_diff(_log_first(t, "pretrained", big), _log_first(t, "random", big), "log_first")
    n.update({"log10_first_grad_gain": gm, "log10_first_grad_gain_lo": glo, "log10_first_grad_gain_hi": ghi})
    parts.append(interval_verdict(glo, ghi, 0.0))
    extra = {"ja": "", "en": ""}
    if "random_xavier" in set(m["config"]):
        xm, xlo, xhi = paired_diff(_sel(t, config="pretrained", n_labels=sizes[0]),
                                   _sel(t, config="random_xavier", n_labels=sizes[0]))
        n.update({"gain_vs_xavier_smallest": xm, "gain_vs_xavier_smallest_lo": xlo, "gain_vs_xavier_smallest_hi": xhi})
        extra = {"ja": f"(参考: Xavier 初期化に対しては {sizes[0]} ラベルで {points(xm, xlo, xhi)}。)",
                 "en": f" (For reference: against Xavier init, {points(xm, xlo, xhi)} with {sizes[0]} labels.)"}
    return Verdict("C18", all_of(*parts), n, {
        "ja": "事前学習あり − 同じ網の乱数初期化(random)の差(テスト正解率): "
              + "、".join(f"{s} ラベルで {w}" for s, w in words)
              + f"(基準 > {ACC_GAP * 100:.0f} ポイント)。微調整開始時の第1層の勾配は log10 で {number(gm, glo, ghi)} 大きい"
              f"(基準 > 0)。" + extra["ja"],
        "en": "Pretrained minus the same net from random init ('random'), test accuracy: "
              + ", ".join(f"{w} with {s} labels" for s, w in words)
              + f" (rule: > {ACC_GAP * 100:.0f} points). At the start of fine-tuning the first layer's gradient is larger "
              f"by {number(gm, glo, ghi)} in log10 (rule: > 0)." + extra["en"]})


CLAIMS = [
    Claim("C18", "§27.1.4",
          {"ja": "中間層を1層ずつオートエンコーダとして学習して固定し、その出力を次の層の入力にして積み上げる"
                 "(積層オートエンコーダ)ことで、勾配消失があっても深い網を学習できるようになった。",
           "en": "Training the hidden layers one at a time as autoencoders, freezing each and feeding its codes to the "
                 "next (stacked autoencoders), made deep nets trainable despite vanishing gradients."},
          {"ja": f"深いシグモイド網で、事前学習あり − 同じ網の小さな乱数初期化(profile の random_init)の正解率差の "
                 f"95% 区間が、どのラベル数でも {ACC_GAP * 100:.0f} ポイントを上回り、かつ微調整開始時の第1層の重み勾配が"
                 "大きい(log10 の差の区間が 0 より上)なら支持。",
           "en": f"Supported if, in the deep sigmoid net, the 95% interval of pretrained minus the same net from small "
                 f"random init (the profile's random_init) lies above {ACC_GAP * 100:.0f} points at every labelled-set "
                 "size, and the first layer's weight gradient at the start of fine-tuning is larger (log10 difference "
                 "above 0)."}, decide_c18),
]


# --- report -----------------------------------------------------------------------------------------------------

TEXT = {
    "ja": {"epoch": "エポック(0 = 学習前)", "recon": "相対再構成誤差(MSE / 入力の分散)", "layer": "層 l(入力側から)",
           "grad": "‖∂L/∂W_l‖(微調整開始時)", "labels": "ラベル付き訓練画像の数", "acc": "テスト正解率",
           "layer_n": "第 {} 層"},
    "en": {"epoch": "epoch (0 = before training)", "recon": "relative reconstruction error (MSE / input variance)",
           "layer": "layer l (from the input)", "grad": "‖∂L/∂W_l‖ (start of fine-tuning)",
           "labels": "labelled training images", "acc": "test accuracy", "layer_n": "layer {}"},
}


def setup_text(p: dict, lang: str) -> str:
    labels = ", ".join(map(str, p["labels"]))
    others = ("、" if lang == "ja" else "; ").join(LABEL[c][lang] for c in CONFIGS if c in p["configs"])
    if lang == "ja":
        return (f"手書き数字(8×8 画素)で、幅 {p['width']}、隠れ層 {p['depth']} 層のシグモイド全結合網を使った。事前学習では、"
                f"訓練画像 {TRAIN_IMAGES} 枚をラベルなしで使い、第 l 層を「シグモイド符号化器+線形復号器」の自己符号化器として"
                f"入力を再構成するよう学習し(Adam、学習率 {p['pretrain_lr']}、各層 {p['pretrain_epochs']} エポック)、"
                "固定してから、その出力(符号)で次の層を学習した。その後、分類用の出力層を付けて網全体を微調整した。"
                f"比べた構成は{others}(小さな乱数初期化は {p['random_init']})。微調整に使うラベル付き画像の数は {labels}(クラスの偏りがないように選んだ)で、どの数でも "
                f"{p['optimizer']}(学習率 {p['lr']})で {p['steps']} ステップ、ミニバッチ {p['batch_size']}"
                f"(画像数がそれより少なければ全部)。各条件 {p['seeds']} シード。")
    return (f"A sigmoid MLP with {p['depth']} hidden layers of width {p['width']} on the 8×8 digits. Pretraining used "
            f"the {TRAIN_IMAGES} training images without labels: layer l was trained as an autoencoder (sigmoid encoder, "
            f"linear decoder) to reconstruct its input (Adam, learning rate {p['pretrain_lr']}, {p['pretrain_epochs']} "
            "epochs per layer), then frozen, and the next layer was trained on its codes. A classifier head was then "
            f"added and the whole net fine-tuned. Configurations compared: {others} (the small random init is "
            f"{p['random_init']}). "
            f"Fine-tuning used {labels} labelled images (class-balanced), each for {p['steps']} steps of "
            f"{p['optimizer']} (learning rate {p['lr']}) with minibatches of {p['batch_size']} (or all images if fewer); "
            f"{p['seeds']} seeds per configuration.")


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    T = TEXT[lang]
    figs = [(fig_recon(tables, T), {"ja": "事前学習中の層ごとの相対再構成誤差(平均と 95% 区間、対数軸)。",
                                    "en": "Relative reconstruction error per layer during pretraining (mean and 95% "
                                          "interval, log scale)."}[lang]),
            (fig_grads(tables, T, lang), {"ja": "微調整開始時の層ごとの重み勾配のノルム(ラベル全数、平均と 95% 区間、対数軸)。",
                                          "en": "Weight-gradient norm per layer at the start of fine-tuning (largest "
                                                "labelled set; mean and 95% interval, log scale)."}[lang]),
            (fig_accuracy(tables, T, lang), {"ja": "ラベル付き画像の数とテスト正解率(平均と 95% 区間)。",
                                             "en": "Labelled-set size and test accuracy (mean and 95% interval)."}[lang])]
    return {"setup": setup_text(params, lang), "figures": figs,
            "tables": [(accuracy_table(tables, lang), {"ja": "テスト正解率(平均 [95% 区間])",
                                                       "en": "Test accuracy (mean [95% interval])"}[lang]),
                       (recon_table(tables, lang), {"ja": "事前学習の最終エポックでの層ごとの再構成(平均)",
                                                    "en": "Reconstruction per layer after pretraining (mean)"}[lang])],
            "questions": questions(tables, lang)}


def _fmt(v):
    m, lo, hi = mean_ci(v)
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f"{m:.3f}\n[{lo:.3f},\u00a0{hi:.3f}]" if math.isfinite(lo) else f"{m:.3f}"


def _configs(t):
    return [c for c in CONFIGS if c in set(t["members"]["config"])]


def accuracy_table(t, lang) -> pd.DataFrame:
    m = t["members"]
    rows = []
    for c in _configs(t):
        row = {"config": LABEL[c][lang]}
        for n, g in m[m["config"] == c].groupby("n_labels"):
            dag = " †" if g["diverged"].any() else ""
            row[f"{n} ラベル" if lang == "ja" else f"{n} labels"] = _fmt(g["test_acc"]) + dag
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.rename(columns={"config": "構成"}) if lang == "ja" else df


def recon_table(t, lang) -> pd.DataFrame:
    r = t["recon"]
    first, last = r[r["epoch"] == 0], r[r["epoch"] == r["epoch"].max()]
    df = pd.DataFrame({"layer": sorted(set(r["layer"]))})
    df["input variance"] = df["layer"].map(last.groupby("layer")["input_var"].mean()).map(lambda v: f"{v:.3g}")
    df["before"] = df["layer"].map(first.groupby("layer")["recon_rel"].mean()).map(lambda v: f"{v:.3f}")
    df["after"] = df["layer"].map(last.groupby("layer")["recon_rel"].mean()).map(lambda v: f"{v:.3f}")
    if lang == "ja":
        return df.rename(columns={"layer": "層", "input variance": "入力の分散", "before": "相対誤差(学習前)",
                                  "after": "相対誤差(学習後)"})
    return df.rename(columns={"before": "relative error (before)", "after": "relative error (after)"})


def fig_recon(t, T):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for layer, g in t["recon"].groupby("layer"):
        s = g.groupby("epoch")["recon_rel"].apply(lambda v: mean_ci(np.log10(v.to_numpy()))).apply(pd.Series)
        band(ax, s.index, 10 ** s[0], 10 ** s[1], 10 ** s[2], T["layer_n"].format(layer))
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set(xlabel=T["epoch"], ylabel=T["recon"])
    ax.yaxis.label.set_size(8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_grads(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    g = t["grads"]
    g = g[g["n_labels"] == g["n_labels"].max()]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c in _configs(t):
        s = g[g["config"] == c].groupby("layer")["weight_grad"].apply(
            lambda v: mean_ci(np.log10(v.clip(lower=1e-300).to_numpy()))).apply(pd.Series)
        band(ax, s.index, 10 ** s[0], 10 ** s[1], 10 ** s[2], LABEL[c][lang], color=COLORS[c])
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set(xlabel=T["layer"], ylabel=T["grad"])
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_accuracy(t, T, lang):
    import matplotlib.pyplot as plt

    from study.report.plots import band

    m = t["members"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for c in _configs(t):
        s = m[m["config"] == c].groupby("n_labels")["test_acc"].apply(lambda v: mean_ci(v.to_numpy())).apply(pd.Series)
        band(ax, s.index, s[0], s[1].clip(lower=0), s[2].clip(upper=1), LABEL[c][lang], color=COLORS[c])
    sizes = sorted(set(m["n_labels"]))
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set(xlabel=T["labels"], ylabel=T["acc"])
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _mean(t, config, n):
    g = _sel(t, config=config, n_labels=n)
    return float(g["test_acc"].mean()) if not g.empty else math.nan


def questions(t, lang) -> list[str]:
    qs = []
    m, g = t["members"], t["grads"]
    sizes = sorted(set(m["n_labels"]))
    small, big = sizes[0], sizes[-1]
    g = g[g["n_labels"] == big]
    ratio = {}
    for c in ("pretrained", "random", "random_xavier"):
        gc = g[g["config"] == c]
        if not gc.empty:
            first = gc[gc["layer"] == 1].set_index("seed")["weight_grad"]
            last = gc[gc["layer"] == gc["layer"].max()].set_index("seed")["weight_grad"]
            ratio[c] = float(np.exp(np.log(first / last).mean()))
    if {"pretrained", "random"} <= set(ratio):
        xa = (f"、Xavier 初期化では {ratio['random_xavier']:.2g}" if "random_xavier" in ratio else "")
        xe = (f", and {ratio['random_xavier']:.2g} with Xavier init" if "random_xavier" in ratio else "")
        qs.append({"ja": f"微調整を始める時点で、第1層と最終隠れ層の重み勾配の比は、事前学習ありで {ratio['pretrained']:.2g}、"
                         f"小さな乱数初期化で {ratio['random']:.2g}{xa} だった。事前学習は勾配消失そのものを解消したのか、"
                         "それとも勾配が小さくても困らない場所から学習を始めさせたのか。",
                   "en": f"At the start of fine-tuning the ratio of the first to the last hidden layer's weight gradient "
                         f"was {ratio['pretrained']:.2g} after pretraining and {ratio['random']:.2g} from small random "
                         f"init{xe}. Did pretraining remove the vanishing gradient, or did it start learning somewhere a "
                         "small gradient matters less?"}[lang])
    pre_s, pre_b = _mean(t, "pretrained", small), _mean(t, "pretrained", big)
    xav_s, xav_b = _mean(t, "random_xavier", small), _mean(t, "random_xavier", big)
    if all(map(math.isfinite, (pre_s, pre_b, xav_s, xav_b))):
        qs.append({"ja": f"事前学習ありと Xavier 初期化の正解率は、{small} ラベルで {pre_s:.3f} と {xav_s:.3f}、{big} ラベルで "
                         f"{pre_b:.3f} と {xav_b:.3f} だった。ラベルのない画像から学んだことが効くのは、どんなときか。",
                   "en": f"Pretrained and Xavier-initialised nets reached {pre_s:.3f} and {xav_s:.3f} with {small} labels, "
                         f"{pre_b:.3f} and {xav_b:.3f} with {big}. When does what was learned from unlabelled images "
                         "help?"}[lang])
    relu, bn, sbn = _mean(t, "relu_he", big), _mean(t, "relu_bn", big), _mean(t, "sigmoid_bn", big)
    cost = t.get("cost")
    if math.isfinite(relu) and math.isfinite(pre_b) and cost is not None and not cost.empty:
        passes, secs = int(cost["pretrain_passes"].iloc[0]), float(cost["pretrain_seconds"].iloc[0])
        bn_ja = f"、ReLU+BN は {bn:.3f}" if math.isfinite(bn) else ""
        bn_en = f", ReLU + BN {bn:.3f}" if math.isfinite(bn) else ""
        sbn_ja = f"、シグモイド+BN は {sbn:.3f}" if math.isfinite(sbn) else ""
        sbn_en = f", sigmoid + BN {sbn:.3f}" if math.isfinite(sbn) else ""
        qs.append({"ja": f"{big} ラベルで、事前学習ありのシグモイド網は {pre_b:.3f}、ReLU(He 初期化)は {relu:.3f}{bn_ja}{sbn_ja} "
                         f"だった。事前学習には、層ごとにデータを延べ {passes} 周(この計算機で {secs:.1f} 秒)余分に使った。"
                         "ReLU と BatchNorm がこの方法に取って代わったのはなぜか、数字を根拠に説明せよ。",
                   "en": f"With {big} labels the pretrained sigmoid net reached {pre_b:.3f}, ReLU with He init {relu:.3f}"
                         f"{bn_en}{sbn_en}. Pretraining cost {passes} extra passes over the data, layer by layer "
                         f"({secs:.1f} s on this machine). Using these numbers, why did ReLU and BatchNorm displace "
                         "this approach?"}[lang])
    r = t["recon"]
    last = r[r["epoch"] == r["epoch"].max()].groupby("layer")[["recon_rel", "input_var"]].mean()
    if len(last) > 1:
        top = int(last.index.max())
        qs.append({"ja": f"第1層の相対再構成誤差は {last.loc[1, 'recon_rel']:.3f}、第 {top} 層は {last.loc[top, 'recon_rel']:.3f}"
                         f"だった(1 未満なら入力の平均を答えるより良い)。入力の分散は第1層で {last.loc[1, 'input_var']:.3g}、第 {top} 層で "
                         f"{last.loc[top, 'input_var']:.3g}。深い層の符号は入力の情報をどれだけ運んでいると言えるか。",
                   "en": f"The relative reconstruction error was {last.loc[1, 'recon_rel']:.3f} in layer 1 and "
                         f"{last.loc[top, 'recon_rel']:.3f} in layer {top} (below 1 beats answering the input's "
                         f"mean). The input variance was {last.loc[1, 'input_var']:.3g} at layer 1 and {last.loc[top, 'input_var']:.3g} at "
                         f"layer {top}. How much of the image do the deep layer's codes still carry?"}[lang])
    q = disagreement_question(m, ["config", "n_labels"], lang)
    if q:
        qs.append(q)
    return qs


def params_dict(p: Params) -> dict:
    return asdict(p)
