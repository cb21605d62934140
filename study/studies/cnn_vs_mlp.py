"""CNN vs MLP (§27.1.5): does a CNN use the 2-D neighbourhood of pixels that a fully connected net ignores?

A small CNN (conv-pool-conv-pool-linear) and an MLP with about as many parameters, both on the 8x8 digits as they
are and on the same images under one fixed, seeded pixel permutation (which destroys every neighbourhood but
keeps each pixel's information: an MLP cannot tell the difference, a CNN should lose its edge). Both are also
tested on images shifted by one pixel. Each (network, image order) is one batched engine run over seeds; a seed
shares its minibatch order across all four runs, so differences are paired by seed.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study.claims import (
    Claim,
    Verdict,
    all_of,
    interval_verdict,
    missing,
    points,
    record,
)
from study.config import param
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.stats import mean_ci, paired_diff
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train
from study.prompts import disagreement_question

NAME = "cnn_vs_mlp"
ORDER = 45
SECTIONS = "§27.1.5"
TITLE = {"ja": "CNN と全結合網: 画素の近さを使うか", "en": "CNN vs MLP: using the 2-D neighbourhood"}

SIDE = 8
SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # (dx, dy): one pixel right, left, down, up
ARCHS = ("cnn", "mlp")
ORDERS = ("original", "permuted")


@dataclass
class Params:
    seeds: int = param(5, min=2, max=100, help="seeds per configuration (paired intervals need two)")
    cnn_channels: list[int] = param([8, 16], min=1, max=256, help="channels of the two 3x3 conv layers")
    mlp_depth: int = param(1, min=1, max=8, help="hidden layers of the MLP; its width is chosen to match the "
                                                 "CNN's parameter count")
    perm_seed: int = param(2718, min=0, help="seed of the one fixed pixel permutation")
    epochs: int = param(30, min=1, max=1000)
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("adam", choices=list(OPTIMIZERS))
    lr: float = param(3e-3, gt=0, max=10)
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if len(p.cnn_channels) != 2:
        raise ValueError(f"cnn_channels {p.cnn_channels}: the study's CNN has exactly two conv layers "
                         "(conv-pool-conv-pool-linear)")
    if p.batch_size > 1000:
        raise ValueError(f"batch_size {p.batch_size} exceeds the training set (1,079 images)")


# --- the two image transformations ------------------------------------------------------------------------------

def pixel_permutation(seed: int, n: int = SIDE * SIDE) -> torch.Tensor:
    """One fixed permutation of the n pixel positions, a function of its seed only."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(n))


def permute(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Scramble flattened images (N, n): new pixel i is old pixel perm[i]. Undo with permute(x, perm.argsort())."""
    return x[:, perm.to(x.device)]


def blank_pixels(x_train: torch.Tensor) -> torch.Tensor:
    """What an empty (raw 0) pixel looks like after standardisation: each pixel's training-set minimum, since
    every pixel of the digits is 0 in some training image."""
    return x_train.min(0).values


def shift(x: torch.Tensor, dx: int, dy: int, blank: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """Move flattened side x side images by dx columns (right > 0) and dy rows (down > 0); the pixels that
    come in from the border are blank."""
    img = x.view(-1, side, side)
    out = blank.view(1, side, side).expand_as(img).clone()
    rows_to, rows_from = slice(max(dy, 0), side + min(dy, 0)), slice(max(-dy, 0), side - max(dy, 0))
    cols_to, cols_from = slice(max(dx, 0), side + min(dx, 0)), slice(max(-dx, 0), side - max(dx, 0))
    out[:, rows_to, cols_to] = img[:, rows_from, cols_from]
    return out.reshape(x.shape)


# --- the two networks -------------------------------------------------------------------------------------------

def cnn_spec(p: Params, classes: int = 10) -> CNNSpec:
    return CNNSpec(channels=tuple(p.cnn_channels), pool_after=(1, 2), d_out=classes, side=SIDE)


def count(model) -> int:
    """Parameters of one member."""
    return sum(t.numel() for t in model.parameters()) // model.members


def mlp_params(d_in: int, width: int, depth: int, d_out: int) -> int:
    return (d_in + 1) * width + (depth - 1) * (width + 1) * width + (width + 1) * d_out


def matching_width(target: int, d_in: int, depth: int, d_out: int) -> int:
    """The MLP width whose parameter count is closest to `target`."""
    return min(range(1, 4097), key=lambda w: (abs(mlp_params(d_in, w, depth, d_out) - target), w))


def build(arch: str, p: Params, seeds: list[int], split):
    if arch == "cnn":
        return MemberCNN(cnn_spec(p, split.n_classes), seeds, "he")
    target = count(MemberCNN(cnn_spec(p, split.n_classes), [0]))
    width = matching_width(target, split.n_features, p.mlp_depth, split.n_classes)
    return MemberMLP(MLPSpec(split.n_features, width, p.mlp_depth, split.n_classes, "relu"), seeds, "he")


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    split = data.digits(p.data_seed).to(dev)
    perm, blank = pixel_permutation(p.perm_seed), blank_pixels(split.x_train)
    seeds = list(range(p.seeds))
    members, shifted, filters, sizes = [], [], [], []
    jobs = [(a, o) for a in ARCHS for o in ORDERS]
    for j, (arch, order) in enumerate(jobs, 1):
        t0 = time.perf_counter()
        scramble = (lambda x: permute(x, perm)) if order == "permuted" else (lambda x: x)
        s = data.Split(*(scramble(t) if t.dtype.is_floating_point else t for t in vars(split).values()))
        torch.manual_seed(p.data_seed)  # nothing should draw from the global generator; this makes sure
        model = build(arch, p, seeds, split).to(dev)
        if order == "original":
            sizes.append({"arch": arch, "params": count(model),
                          "width": model.spec.width if arch == "mlp" else 0})
        tag = f"{arch}-{order}"

        def on_epoch(epoch, rec):
            log.metrics({f"val_acc/{tag}": float(np.nanmean(rec["val_acc"].cpu())),
                         f"train_loss/{tag}": float(np.nanmean(rec["train_loss"].cpu()))}, step=epoch)

        w0 = model.convs[0].weight.detach().clone() if arch == "cnn" else None
        hist = train(model, s, TrainSpec(p.optimizer, p.lr, p.epochs, p.batch_size), on_epoch)
        # how far training moved the first-layer filters from their initial values (relative, per member)
        moved = ((model.convs[0].weight.detach() - w0).flatten(1).norm(dim=1) / w0.flatten(1).norm(dim=1)
                 if arch == "cnn" else torch.full((len(seeds),), math.nan))
        test_loss, test_acc = evaluate(model, s.x_test, s.y_test)
        by_shift = []
        for dx, dy in SHIFTS:  # shift the picture, then scramble it as the net was trained to see it
            _, acc = evaluate(model, scramble(shift(split.x_test, dx, dy, blank)), split.y_test)
            by_shift.append(acc)
            shifted += [{"arch": arch, "order": order, "seed": sd, "dx": dx, "dy": dy, "test_acc": float(acc[k])}
                        for k, sd in enumerate(seeds)]
        shift_acc = torch.stack(by_shift).mean(0)
        for k, sd in enumerate(seeds):
            losses = [float(h["train_loss"][k]) for h in hist]
            members.append({"arch": arch, "order": order, "seed": sd, "test_acc": float(test_acc[k]),
                            "test_loss": float(test_loss[k]), "shift_acc": float(shift_acc[k]),
                            "filter_change": float(moved[k]),
                            "final_train_loss": losses[-1], "diverged": not all(map(math.isfinite, losses))})
        if arch == "cnn":
            w = model.convs[0].weight.detach().cpu()  # (M, c_out, 1, 3, 3)
            filters += [{"order": order, "seed": sd, "filter": f, "row": r, "col": c, "weight": float(w[k, f, 0, r, c])}
                        for k, sd in enumerate(seeds) for f in range(w.shape[1]) for r in range(3) for c in range(3)]
        progress(f"[{NAME}] {j}/{len(jobs)} {tag}: {len(seeds)} members in {time.perf_counter() - t0:.1f}s, "
                 f"test acc {float(test_acc.nanmean()):.3f}, shifted {float(shift_acc.nanmean()):.3f}")
    tables = {"members": pd.DataFrame(members), "shifts": pd.DataFrame(shifted), "filters": pd.DataFrame(filters),
              "sizes": pd.DataFrame(sizes), "permutation": pd.DataFrame({"position": range(len(perm)),
                                                                          "source_pixel": perm.numpy()})}
    record(log, tables, CLAIMS, started, {f"{col}/{a}-{o}": float(g[col].mean())
                                         for (a, o), g in tables["members"].groupby(["arch", "order"])
                                         for col in ("test_acc", "shift_acc")})
    return tables


# --- claims -----------------------------------------------------------------------------------------------------

GAIN_MIN = 0.0  # the CNN's edge on real images must be positive, and must shrink when the neighbourhood is gone


def _sel(t, arch, order):
    m = t["members"]
    return m[(m["arch"] == arch) & (m["order"] == order)]


def _gap(t, order, col="test_acc"):
    """Per seed CNN minus MLP under one pixel order, as a table with a 'gap' column."""
    j = _sel(t, "cnn", order)[["seed", col]].merge(_sel(t, "mlp", order)[["seed", col]], on="seed")
    return j.assign(gap=j[f"{col}_x"] - j[f"{col}_y"])[["seed", "gap"]]


def decide_c19(t) -> Verdict:
    if any(_sel(t, a, o).empty for a in ARCHS for o in ORDERS):
        return missing("C19", "cnn and mlp, original and permuted")
    g, glo, ghi = mean_ci(_gap(t, "original")["gap"].to_numpy())
    d, dlo, dhi = paired_diff(_gap(t, "original"), _gap(t, "permuted"), "gap")
    mm, mlo, mhi = paired_diff(_sel(t, "mlp", "permuted"), _sel(t, "mlp", "original"))
    cm, clo, chi = paired_diff(_sel(t, "cnn", "permuted"), _sel(t, "cnn", "original"))
    v = all_of(interval_verdict(glo, ghi, GAIN_MIN), interval_verdict(dlo, dhi, 0.0))
    n = {"gain_original": g, "gain_original_lo": glo, "gain_original_hi": ghi, "gain_shrink": d,
         "gain_shrink_lo": dlo, "gain_shrink_hi": dhi, "mlp_perm_change": mm, "mlp_perm_change_lo": mlo,
         "mlp_perm_change_hi": mhi, "cnn_perm_change": cm, "cnn_perm_change_lo": clo, "cnn_perm_change_hi": chi}
    return Verdict("C19", v, n, {
        "ja": f"元の画像で CNN − MLP の正解率差は {points(g, glo, ghi)}(基準 > 0)。画素を並べ替えるとこの差は "
              f"{points(d, dlo, dhi)} 縮んだ(基準 > 0)。並べ替えによる変化は MLP で {points(mm, mlo, mhi)}、"
              f"CNN で {points(cm, clo, chi)}。",
        "en": f"On the original images CNN − MLP test accuracy is {points(g, glo, ghi)} (rule: > 0). Under the pixel "
              f"permutation that gap shrank by {points(d, dlo, dhi)} (rule: > 0). The permutation changed the MLP by "
              f"{points(mm, mlo, mhi)} and the CNN by {points(cm, clo, chi)}."})


CLAIMS = [
    Claim("C19", "§27.1.5",
          {"ja": "全結合網は画像を単なるベクトルとして扱い画素の 2 次元的な近さを使わないが、CNN は畳み込みで局所的な"
                 "近傍を使う。",
           "en": "A fully connected net treats an image as a plain vector and ignores the 2-D neighbourhood of pixels; "
                 "a CNN's convolutions use it."},
          {"ja": "パラメータ数をそろえた CNN と MLP で、元の画像での CNN − MLP の正解率差の 95% 区間が 0 より上、かつ画素を"
                 "固定の乱数順に並べ替えたときにその差が縮む(シードごとの差の縮みの区間が 0 より上)なら支持。",
           "en": "Supported if, with a CNN and an MLP of similar parameter count, the 95% interval of CNN − MLP test "
                 "accuracy on the original images lies above 0, and that gap shrinks under a fixed random pixel "
                 "permutation (the per-seed shrinkage's interval lies above 0)."}, decide_c19),
]


# --- report -----------------------------------------------------------------------------------------------------

NAMES = {"cnn": {"ja": "CNN", "en": "CNN"}, "mlp": {"ja": "MLP", "en": "MLP"},
         "original": {"ja": "元の画像", "en": "original"}, "permuted": {"ja": "並べ替えた画像", "en": "permuted"}}
COLORS = {"cnn": "#1f77b4", "mlp": "#ff7f0e"}


def setup_text(p: dict, lang: str, sizes: pd.DataFrame) -> str:
    n = sizes.set_index("arch")
    cnn, mlp, width = int(n.loc["cnn", "params"]), int(n.loc["mlp", "params"]), int(n.loc["mlp", "width"])
    c1, c2 = p["cnn_channels"]
    if lang == "ja":
        return (f"手書き数字(8×8 画素)で、小さな CNN(3×3 畳み込み {c1} チャネル → 2×2 最大プーリング → 3×3 畳み込み {c2} "
                f"チャネル → 2×2 最大プーリング → 全結合、ReLU、He 初期化、パラメータ {cnn} 個)と、パラメータ数をそろえた "
                f"MLP(隠れ層 {p['mlp_depth']} 層、幅 {width}、ReLU、He 初期化、パラメータ {mlp} 個)を比べた。同じ網を、"
                f"シード {p['perm_seed']} で決めた一つの固定の画素並べ替えを全画像(訓練・検証・テスト)に施したデータでも"
                f"学習した。さらに、学習済みの網を 1 画素だけ上下左右にずらしたテスト画像(はみ出した分は捨て、入ってくる"
                f"縁は空白)で評価した。並べ替えたデータの網には、ずらしてから並べ替えた画像を見せた。各条件 {p['seeds']} "
                f"シード、{p['optimizer']}(学習率 {p['lr']})、{p['epochs']} エポック、ミニバッチ {p['batch_size']}。")
    return (f"On the 8×8 digits: a small CNN (3×3 conv with {c1} channels → 2×2 max-pool → 3×3 conv with {c2} channels → "
            f"2×2 max-pool → linear; ReLU, He init; {cnn} parameters) against an MLP of similar size ({p['mlp_depth']} "
            f"hidden layer(s) of width {width}; ReLU, He init; {mlp} parameters). Both were also trained on the same "
            f"images with one fixed pixel permutation (seed {p['perm_seed']}) applied to every image (train, "
            "validation, test). The trained nets were then tested on test images shifted by one pixel up, down, left "
            "or right (what falls off is dropped, what comes in from the border is blank); the permuted nets saw "
            f"the shifted image after the same permutation. {p['seeds']} seeds per configuration, {p['optimizer']} "
            f"(learning rate {p['lr']}), {p['epochs']} epochs, minibatches of {p['batch_size']}.")


def report(tables: dict, params: dict, lang: str) -> dict:
    from study.report import plots

    plots.setup_matplotlib()
    figs = [(fig_accuracy(tables, lang), {"ja": "テスト正解率(平均と 95% 区間)。左: そのままのテスト画像、右: 1 画素ずらした"
                                                "テスト画像(4 方向の平均)。",
                                          "en": "Test accuracy (mean and 95% interval). Left: test images as they are; "
                                                "right: shifted by one pixel (mean of four directions)."}[lang]),
            (fig_filters(tables, lang), {"ja": "CNN の第1層の 3×3 フィルタ(シード 0)。上段は元の画像で、下段は並べ替えた"
                                               "画像で学習したもの。色は重みの符号と大きさ(フィルタごとに目盛りを合わせた)。",
                                         "en": "The CNN's first-layer 3×3 filters (seed 0). Top row: trained on the "
                                               "original images; bottom row: on the permuted images. Colour shows the "
                                               "weight's sign and size (scaled per filter)."}[lang]),
            (fig_example(tables, lang), {"ja": "同じテスト画像 3 枚の、元の並びと固定の並べ替え後の並び。",
                                         "en": "Three test images in the original pixel order and after the fixed "
                                               "permutation."}[lang])]
    return {"setup": setup_text(params, lang, tables["sizes"]), "figures": figs,
            "tables": [(accuracy_table(tables, lang), {"ja": "テスト正解率(平均 [95% 区間])とパラメータ数",
                                                       "en": "Test accuracy (mean [95% interval]) and parameter "
                                                             "counts"}[lang])],
            "questions": questions(tables, lang)}


def _fmt(v):
    m, lo, hi = mean_ci(v)
    lo, hi = max(lo, 0.0), min(hi, 1.0)
    return f"{m:.3f}\n[{lo:.3f},\u00a0{hi:.3f}]" if math.isfinite(lo) else f"{m:.3f}"


def accuracy_table(t, lang) -> pd.DataFrame:
    sizes = t["sizes"].set_index("arch")["params"]
    rows = []
    for arch in ARCHS:
        row = {"net": NAMES[arch][lang], "parameters": int(sizes[arch])}
        for order in ORDERS:
            g = _sel(t, arch, order)
            dag = " †" if g["diverged"].any() else ""
            row[f"{order}"] = _fmt(g["test_acc"]) + dag
            row[f"{order}, shifted"] = _fmt(g["shift_acc"])
        rows.append(row)
    df = pd.DataFrame(rows)
    if lang == "ja":
        return df.rename(columns={"net": "網", "parameters": "パラメータ数", "original": "元の画像",
                                  "original, shifted": "元の画像・1 画素ずらし", "permuted": "並べ替え",
                                  "permuted, shifted": "並べ替え・1 画素ずらし"})
    return df


def fig_accuracy(t, lang):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.4), sharey=True)
    x = np.arange(len(ORDERS))
    titles = ({"ja": "そのまま", "en": "as they are"}[lang], {"ja": "1 画素ずらし", "en": "shifted by 1 px"}[lang])
    for ax, col, title in zip(axes, ("test_acc", "shift_acc"), titles):
        for i, arch in enumerate(ARCHS):
            stats = [mean_ci(_sel(t, arch, o)[col].to_numpy()) for o in ORDERS]
            mean = np.array([s[0] for s in stats])
            err = np.array([[s[0] - s[1], s[2] - s[0]] for s in stats]).T
            ax.bar(x + (i - 0.5) * 0.38, mean, 0.38, yerr=np.nan_to_num(err), capsize=3, label=NAMES[arch][lang],
                   color=COLORS[arch])
        ax.set_xticks(x, [NAMES[o][lang] for o in ORDERS])
        ax.set_title(title)
    lo = float(t["members"][["test_acc", "shift_acc"]].min().min())
    axes[0].set(ylabel={"ja": "テスト正解率", "en": "test accuracy"}[lang], ylim=(max(0.0, lo - 0.1), 1.0))
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_filters(t, lang):
    import matplotlib.pyplot as plt

    from study.report import plots

    f = t["filters"]
    f = f[f["seed"] == f["seed"].min()]
    n = int(f["filter"].max()) + 1
    fig, axes = plt.subplots(2, n, figsize=(0.8 * n + 1.2, 2.2), squeeze=False)
    for r, order in enumerate(ORDERS):
        for k in range(n):
            g = f[(f["order"] == order) & (f["filter"] == k)].sort_values(["row", "col"])
            w = g["weight"].to_numpy().reshape(3, 3)
            s = float(np.abs(w).max()) or 1.0
            ax = axes[r, k]
            plots.pixels(ax, w, cmap="RdBu_r", vmin=-s, vmax=s)
            _bare(ax)
        axes[r, 0].set_ylabel(NAMES[order][lang], fontsize=7)
    fig.tight_layout()
    return fig


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def fig_example(t, lang):
    """Three digits in both pixel orders, rebuilt from sklearn's raw images and the logged permutation."""
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_digits

    from study.report import plots

    perm = torch.tensor(t["permutation"].sort_values("position")["source_pixel"].to_numpy())
    x = torch.from_numpy(load_digits().data[:3].astype(np.float32))
    fig, axes = plt.subplots(2, 3, figsize=(4.2, 3.0), squeeze=False)
    for r, (order, imgs) in enumerate(zip(ORDERS, (x, permute(x, perm)))):
        for k in range(3):
            plots.pixels(axes[r, k], imgs[k].view(SIDE, SIDE), cmap="gray_r")
            _bare(axes[r, k])
        axes[r, 0].set_ylabel(NAMES[order][lang], fontsize=7)
    fig.tight_layout()
    return fig


def questions(t, lang) -> list[str]:
    qs = []
    sizes = t["sizes"].set_index("arch")["params"]
    acc = {(a, o): float(_sel(t, a, o)["test_acc"].mean()) for a in ARCHS for o in ORDERS}
    sh = {(a, o): float(_sel(t, a, o)["shift_acc"].mean()) for a in ARCHS for o in ORDERS}
    qs.append({"ja": f"パラメータ {int(sizes['cnn'])} 個の CNN は元の画像で {acc['cnn', 'original']:.3f}、並べ替えた画像で "
                     f"{acc['cnn', 'permuted']:.3f}。{int(sizes['mlp'])} 個の MLP はそれぞれ {acc['mlp', 'original']:.3f} と "
                     f"{acc['mlp', 'permuted']:.3f} だった。並べ替えは画素の情報を一つも捨てていない。それでも CNN だけが"
                     "影響を受けるとすれば、CNN は何を前提にしているのか。",
               "en": f"The CNN ({int(sizes['cnn'])} parameters) reached {acc['cnn', 'original']:.3f} on the original "
                     f"images and {acc['cnn', 'permuted']:.3f} on the permuted ones; the MLP ({int(sizes['mlp'])} "
                     f"parameters) {acc['mlp', 'original']:.3f} and {acc['mlp', 'permuted']:.3f}. The permutation "
                     "discards no pixel's information. If only the CNN is affected, what does a CNN assume?"}[lang])
    drop = {a: acc[a, "original"] - sh[a, "original"] for a in ARCHS}
    qs.append({"ja": f"1 画素ずらしただけで、正解率は CNN で {drop['cnn'] * 100:.1f} ポイント、MLP で "
                     f"{drop['mlp'] * 100:.1f} ポイント下がった。章はプーリングが位置のずれを和らげると述べる。8×8 の画像で"
                     "1 画素とはどれほどのずれか、そしてこの数字は章の説明と合っているか。",
               "en": f"Shifting by a single pixel cost the CNN {drop['cnn'] * 100:.1f} points and the MLP "
                     f"{drop['mlp'] * 100:.1f} points of accuracy. The chapter says pooling softens positional shifts. "
                     "How big is one pixel in an 8×8 image, and do these numbers agree with the chapter?"}[lang])
    moved = {o: float(_sel(t, "cnn", o)["filter_change"].mean()) for o in ORDERS}
    qs.append({"ja": "第1層のフィルタの図で、元の画像で学習したものと並べ替えた画像で学習したものを比べよ(同じシードなので"
                     f"初期値は同じ)。学習で重みは初期値から相対的に {moved['original']:.2f}(元の画像)と "
                     f"{moved['permuted']:.2f}(並べ替え)だけ動いた。並べ替えた画像で、3×3 の重みが見ている 9 画素は"
                     "元の画像のどこにあるか。",
               "en": "Compare the first-layer filters learned on the original and on the permuted images (the same seed "
                     f"gives them the same initial values). Training moved the weights by {moved['original']:.2f} "
                     f"(original) and {moved['permuted']:.2f} (permuted) relative to their initial size. On the "
                     "permuted images, where in the original picture are the 9 pixels a 3×3 filter looks at?"}[lang])
    q = disagreement_question(t["members"], ["arch", "order"], lang)
    if q:
        qs.append(q)
    return qs


def params_dict(p: Params) -> dict:
    return asdict(p)
