"""Dropout × BatchNorm (§27.1.7, §27.1.8 and its tip; Li et al., CVPR 2019): the variance shift, the chapter's
"keep them apart" advice, the published remedies, and dropout against overfitting.

- *Placements* (C10–C12): a 10-hidden-layer ReLU MLP on the digits in every placement of BN and noise, at each
  drop rate, all in one batched `LayoutMLP` (members × layouts, paired by seed). C10 is decided on the 2×2
  interaction {none, BN} × {no dropout, dropout} at the rate `decide_rate`, where dropout alone still trains:
  does dropout cost more with BN than without? C11 asks whether the split placement (BN in the first L−2 blocks,
  dropout in the last 2) is equivalent to BN only within a declared margin. C12 tests each remedy against the
  mixed placement at `remedy_rate`: one dropout after all BN, Uout at the *same noise variance* as the dropout
  it replaces (β = √(3p/(1−p))), and BN statistics re-estimated with the noise off.
- *Small data* (C9): a wide, shallow MLP on a few hundred images with and without dropout: test accuracy and test
  NLL (weight scaling, i.e. eval mode; MC dropout beside it).
- *CNN* (optional, full profile): the same placements in a small CNN, for the figures and tables only.

The variance shift is read per BN layer; a layout's deciding shift is at the first BN layer downstream of its
noise (`layouts.first_bn_after_noise`), which for BN→ReLU→Dropout is BN 2, not BN 1.
"""
import copy
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch

from study import data
from study.claims import Claim, above, below, check, equivalent, missing, record, verdict
from study.engine import device as devices
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.layouts import LayoutMLP, first_bn_after_noise, layer_shift, layout, mc_predict, nll
from study.engine.measure import reestimate_bn, variance_shift
from study.engine.stats import estimate, paired
from study.engine.train import OPTIMIZERS, TrainSpec, evaluate, train
from study.params import param

NAME = "dropout_bn"
ORDER = 55  # chapter order: after the RNN (§27.1.6), before transfer (§27.2)
SECTIONS = "§27.1.7, §27.1.8"
EXPECTED_SECONDS = 80  # quick profile, 1 thread, light load: 81 s through papermill

# configuration -> (layout of each of L blocks, dropout before the output layer)
CONFIGS = {
    "none": lambda L: (["act"] * L, False),
    "bn": lambda L: (["bn act"] * L, False),
    "dropout": lambda L: (["act drop"] * L, False),
    "drop_bn": lambda L: (["drop bn act"] * L, False),  # the paper's case (a): dropout directly before BN
    "bn_drop": lambda L: (["bn act drop"] * L, False),  # case (b): dropout reaches the next BN via a weight layer
    "split": lambda L: (["bn act"] * (L - 2) + ["act drop"] * 2, False),  # the chapter's tip (8 + 2 for L = 10)
    "drop_after_bn": lambda L: (["bn act"] * L, True),  # remedy: one dropout after all BN layers
    "uout": lambda L: (["uout bn act"] * L, False),  # Uout with beta = the drop rate (Li et al.'s setting)
    "uout_matched": lambda L: (["uout bn act"] * L, False),  # Uout with the drop rate's noise variance
}
NOISY = ("dropout", "drop_bn", "bn_drop", "split", "drop_after_bn", "uout", "uout_matched")
CNN_CONFIGS = ("none", "bn", "dropout", "drop_bn", "bn_drop", "split")


def matched_beta(rate: float) -> float:
    """Uout's beta whose noise variance beta²/3 equals inverted dropout's p/(1−p)."""
    return math.sqrt(3 * rate / (1 - rate))


def noise_variance(config: str, rate: float) -> float:
    """Variance of the multiplicative noise of one noise layer (mean 1)."""
    if config not in NOISY:
        return 0.0
    if config == "uout":
        return rate**2 / 3
    return rate / (1 - rate)  # dropout; uout_matched by construction


def beta(config: str, rate: float) -> float:
    return rate if config == "uout" else matched_beta(rate) if config == "uout_matched" else math.nan


def noise_layers(config: str, depth: int) -> int:
    blocks, head = CONFIGS[config](depth)
    return sum(any(o in ("drop", "uout") for o in b.split()) for b in blocks) + int(head)


@dataclass
class Params:
    seeds: int = param(12, min=2, max=100, help="seeds per configuration (paired intervals need two)")
    depth: int = param(10, min=3, max=40, help="hidden layers (the chapter's tip speaks of 10)")
    width: int = param(64, min=4, max=1024)
    rates: list[float] = param([0.1, 0.3], gt=0.0, max=0.7, help="drop rates (Uout runs at beta equal to the rate, and at "
                                                                  "the beta of the same noise variance)")
    decide_rate: float = param(0.1, gt=0.0, max=0.7, help="the rate C10 and C11 are decided at (dropout alone "
                                                          "must still train there)")
    remedy_rate: float = param(0.1, gt=0.0, max=0.7, help="the rate C12's remedies are tested at")
    configs: list[str] = param(list(CONFIGS), choices=list(CONFIGS))
    epochs: int = param(20, min=1, max=1000)
    small_train: int = param(300, min=50, max=1000, help="training images in the small-data setting (C9)")
    small_epochs: int = param(100, min=1, max=2000)
    small_depth: int = param(2, min=1, max=40, help="hidden layers of the small-data net (C9)")
    small_width: int = param(256, min=4, max=4096, help="its width: wide enough to overfit a few hundred images")
    small_rate: float = param(0.3, gt=0.0, max=0.9, help="drop rate of the small-data net (C9)")
    mc_passes: int = param(20, min=1, max=1000, help="stochastic passes of MC dropout")
    cnn: bool = param(False, help="also run the placements on a small CNN (about 10x the MLP's cost)")
    cnn_channels: list[int] = param([8, 16, 16, 16], min=1, max=512, help="3x3 conv blocks (pool after the 2nd)")
    cnn_rates: list[float] = param([0.1], gt=0.0, max=0.9, help="drop rates for the CNN")
    batch_size: int = param(32, min=1, max=1024)
    optimizer: str = param("momentum", choices=list(OPTIMIZERS))
    lr: float = param(0.02, gt=0, max=10)
    noise_seed: int = param(0, min=0, help="seed of the noise generator")
    data_seed: int = param(0, min=0)


def check_params(p: Params):
    if p.batch_size > p.small_train:
        raise ValueError(f"batch_size {p.batch_size} exceeds small_train {p.small_train}")
    if p.cnn and len(p.cnn_channels) < 3:
        raise ValueError(f"cnn_channels {p.cnn_channels}: the split placement needs at least 3 conv blocks")
    for name in ("decide_rate", "remedy_rate"):
        if not any(math.isclose(getattr(p, name), r) for r in p.rates):
            raise ValueError(f"{name} {getattr(p, name)} is not one of rates {p.rates}")


def layouts_for(p: Params, depth: int, configs, rates) -> list:
    out = []
    for c in configs:
        for r in (rates if c in NOISY else [0.0]):
            blocks, head = CONFIGS[c](depth)
            noise = beta(c, r) if c in ("uout", "uout_matched") else r if c in NOISY else 0.0
            out.append(layout(f"{c}@{r:g}", blocks, head, noise))
    return out


def cnn_spec(config: str, rate: float, p: Params, split) -> CNNSpec:
    blocks, head = CONFIGS[config](len(p.cnn_channels))
    return CNNSpec(channels=tuple(p.cnn_channels), pool_after=(2,), d_out=split.n_classes, side=8,
                   dropout=rate if config in NOISY else 0.0, blocks=tuple(blocks), head_dropout=head)


# --- run --------------------------------------------------------------------------------------------------------

def run(p: Params, log, device: str = "cpu", threads: int = 1, progress=print) -> dict[str, pd.DataFrame]:
    started = time.perf_counter()
    dev = devices.configure(device, threads)
    full = data.digits(p.data_seed).to(dev)
    small = data.Split(full.x_train[: p.small_train], full.y_train[: p.small_train], full.x_val, full.y_val,
                       full.x_test, full.y_test)
    seeds = list(range(p.seeds))
    members, layers = [], []

    def batched(setting, split, depth, width, configs, rates, epochs, mc):
        t0 = time.perf_counter()
        lays = layouts_for(p, depth, configs, rates)
        model = LayoutMLP(split.n_features, width, split.n_classes, lays, seeds, p.noise_seed).to(dev)

        def on_epoch(epoch, rec):
            log.metrics({f"val_acc/{setting}": float(np.nanmean(rec["val_acc"].cpu())),
                         f"train_loss/{setting}": float(np.nanmean(rec["train_loss"].cpu()))}, step=epoch)

        hist = train(model, split, TrainSpec(p.optimizer, p.lr, epochs, p.batch_size), on_epoch)
        m = measure(model, split, mc)
        sh = layer_shift(model, split.x_train)
        for i, lay in enumerate(lays):
            config, rate = lay.name.split("@")[0], float(lay.name.split("@")[1])
            first = first_bn_after_noise(lay)
            bn_blocks = [b for b, blk in enumerate(lay.blocks) if blk.bn]
            for k, seed in enumerate(seeds):
                j = i * len(seeds) + k
                diverged = not all(math.isfinite(float(h["train_loss"][j])) for h in hist)
                members.append({"setting": setting, "config": config, "rate": rate, "beta": beta(config, rate),
                                "seed": seed, "diverged": diverged, **{n: float(v[j]) for n, v in m.items()},
                                "first_bn": first or 0,
                                "shift_first": float(sh["shift"][j, bn_blocks[first - 1]]) if first else math.nan,
                                "shift_max": float(np.nanmax(sh["shift"][j].numpy())) if bn_blocks else math.nan})
                for o, b in enumerate(bn_blocks, 1):
                    layers.append({"setting": setting, "config": config, "rate": rate, "seed": seed, "bn_layer": o,
                                   "block": b + 1, "downstream": bool(first and o >= first),
                                   "train_var": float(sh["train_var"][j, b]), "eval_var": float(sh["eval_var"][j, b]),
                                   "shift": float(sh["shift"][j, b])})
        progress(f"[{NAME}] {setting}: {len(lays)} layouts × {len(seeds)} seeds in {time.perf_counter() - t0:.1f}s")

    batched("full", full, p.depth, p.width, p.configs, p.rates, p.epochs, 0)
    small_configs = [c for c in ("none", "dropout") if c in p.configs]
    if small_configs:
        batched("small", small, p.small_depth, p.small_width, small_configs, [p.small_rate], p.small_epochs,
                p.mc_passes)
    if p.cnn:
        for config in [c for c in CNN_CONFIGS if c in p.configs]:
            for rate in (p.cnn_rates if config in NOISY else [0.0]):
                cnn_job(p, full, config, rate, seeds, dev, members, layers, log, progress)
    tables = {"members": pd.DataFrame(members), "layers": pd.DataFrame(layers), "theory": theory_table(p)}
    m = tables["members"]
    record(log, tables, CLAIMS, started, {f"test_acc/{s}/{c}-{r:g}": float(g["test_acc"].mean())
                                         for (s, c, r), g in m.groupby(["setting", "config", "rate"])})
    return tables


def measure(model, split, mc_passes: int = 0) -> dict[str, torch.Tensor]:
    """Per member: test accuracy and NLL (eval mode = weight scaling), training accuracy (eval mode), test
    accuracy after BN re-estimation, and with mc_passes > 0 MC-dropout test accuracy and NLL."""
    test_nll, test_acc = evaluate(model, split.x_test, split.y_test)
    _, train_acc = evaluate(model, split.x_train, split.y_train)
    fixed = copy.deepcopy(model)
    reestimate_bn(fixed, split.x_train)
    _, reest = evaluate(fixed, split.x_test, split.y_test)
    out = {"test_acc": test_acc, "test_nll": test_nll, "train_acc": train_acc, "test_acc_reest": reest}
    nan = torch.full_like(test_acc, math.nan)
    if mc_passes:
        probs = mc_predict(model, split.x_test, mc_passes)
        out["mc_nll"], out["mc_acc"] = nll(probs, split.y_test), (probs.argmax(-1) == split.y_test).float().mean(1)
    else:
        out["mc_nll"], out["mc_acc"] = nan, nan
    return out


def cnn_job(p, split, config, rate, seeds, dev, members, layers, log, progress):
    t0 = time.perf_counter()
    model = MemberCNN(cnn_spec(config, rate, p, split), seeds, "he").to(dev)
    hist = train(model, split, TrainSpec(p.optimizer, p.lr, p.epochs, p.batch_size))
    m = measure(model, split)
    sh = variance_shift(model, split.x_train)["shift"]
    blocks, head = CONFIGS[config](len(p.cnn_channels))
    first = first_bn_after_noise(layout(config, blocks, head, rate))
    for k, seed in enumerate(seeds):
        diverged = not all(math.isfinite(float(h["train_loss"][k])) for h in hist)
        members.append({"setting": "cnn", "config": config, "rate": rate, "beta": math.nan, "seed": seed,
                        "diverged": diverged, **{n: float(v[k]) for n, v in m.items()}, "first_bn": first or 0,
                        "shift_first": float(sh[k, first - 1]) if first else math.nan,
                        "shift_max": float(sh[k].max()) if sh.shape[1] else math.nan})
        for o in range(sh.shape[1]):
            layers.append({"setting": "cnn", "config": config, "rate": rate, "seed": seed, "bn_layer": o + 1,
                           "block": o + 1, "downstream": bool(first and o + 1 >= first), "train_var": math.nan,
                           "eval_var": math.nan, "shift": float(sh[k, o])})
    progress(f"[{NAME}] cnn {config}@{rate:g}: {len(seeds)} members in {time.perf_counter() - t0:.1f}s")


def theory_table(p: Params) -> pd.DataFrame:
    """The shift the paper's analysis predicts where noise feeds BN directly (zero-mean input): the train-mode
    variance is (1 + noise variance) times the eval-mode one, so dropout gives 1/(1−p) and Uout 1 + β²/3; and
    the noise variance and count of noise layers of every configuration."""
    rows = []
    for c in p.configs:
        for r in (p.rates if c in NOISY else [0.0]):
            direct = c in ("drop_bn", "uout", "uout_matched")
            rows.append({"config": c, "rate": r, "beta": beta(c, r), "noise_var": noise_variance(c, r),
                         "noise_layers": noise_layers(c, p.depth),
                         "predicted_shift": 1 + noise_variance(c, r) if direct else math.nan})
    return pd.DataFrame(rows).assign(decide_rate=p.decide_rate, remedy_rate=p.remedy_rate, small_rate=p.small_rate)


# --- claims -----------------------------------------------------------------------------------------------------

CHANCE = 0.1
TRAINS_MIN = 0.5  # an arm "trains" when its mean test accuracy is above 0.5 (chance is 0.1)
SHIFT_MIN = 1.02  # the mixed placement must shift BN's variance by more than 2 % at its first noisy BN
INTERACTION_MAX = 0.0  # C10: the extra cost of dropout under BN must lie below 0 (it hurts)
SPLIT_MARGIN = 0.01  # C11: the split placement counts as "no problem" within ±1 point of BN only (TOST)
HARM_MIN = 0.01  # C12: the mixed placement must lose at least 1 point against BN only, or there is nothing to remedy
REMEDY_MIN = 0.0  # C12: each remedy must beat the mixed placement
OVERFIT_MIN = 0.02  # C9: without dropout the small-data net must overfit (train − test accuracy ≥ 2 points)
GAIN_MIN = 0.0  # C9: dropout must raise test accuracy
NLL_MAX = 0.0  # C9: and lower the test NLL of its ensemble prediction (MC dropout)


def select(t, config, rate=0.0, setting="full"):
    m = t["members"]
    m = m[(m["setting"] == setting) & (m["config"] == config)]
    return m if config not in NOISY else m[np.isclose(m["rate"], rate)]


def trains(t, config, rate, setting="full"):
    return check("trains", float(select(t, config, rate, setting)["test_acc"].mean()), ">", TRAINS_MIN,
                 f"{config}-{rate:g}")


def interaction(t, rate: float, setting: str = "full"):
    """Per seed (drop_bn − bn) − (dropout − none): what dropout costs with BN beyond what it costs without."""
    parts = [select(t, c, rate, setting)[["seed", "test_acc"]].set_index("seed")["test_acc"]
             for c in ("drop_bn", "bn", "dropout", "none")]
    j = pd.concat(parts, axis=1, keys=["mixed", "bn", "drop", "none"]).dropna()
    return estimate(((j["mixed"] - j["bn"]) - (j["drop"] - j["none"])).to_numpy())


def decide_c10(t, rate: float = 0.1):
    if any(select(t, c, rate).empty for c in ("none", "bn", "dropout", "drop_bn")):
        return missing("C10", "none, bn, dropout and drop_bn at the deciding rate")
    mixed = select(t, "drop_bn", rate)
    checks = [trains(t, c, rate) for c in ("none", "bn", "dropout", "drop_bn")]
    checks.append(check("shift", float(mixed["shift_first"].mean()), ">", SHIFT_MIN, f"drop_bn-{rate:g}"))
    numbers = {"rate": rate, "mixed_minus_bn": paired(mixed, select(t, "bn")),
               "dropout_minus_none": paired(select(t, "dropout", rate), select(t, "none")),
               "shift_mixed": estimate(mixed["shift_first"]), "predicted_shift": 1 / (1 - rate),
               "reest_gain": estimate(mixed["test_acc_reest"] - mixed["test_acc"])}
    if not select(t, "split", rate).empty:
        numbers["split_minus_mixed"] = paired(select(t, "split", rate), mixed)
    return verdict("C10", [below("interaction", interaction(t, rate), INTERACTION_MAX, "pt")], checks, numbers)


def decide_c11(t, rate: float = 0.1):
    split, bn = select(t, "split", rate), select(t, "bn")
    if split.empty or bn.empty:
        return missing("C11", "split and bn at the deciding rate")
    checks = [trains(t, "bn", 0.0), trains(t, "split", rate)]
    numbers = {"rate": rate, "max_shift": estimate(split["shift_max"]),
               "bn_max_shift": estimate(bn["shift_max"])}
    return verdict("C11", [equivalent("split_vs_bn", paired(split, bn), SPLIT_MARGIN, "pt")], checks, numbers)


def decide_c12(t, rate: float = 0.1):
    mixed, bn = select(t, "drop_bn", rate), select(t, "bn")
    if mixed.empty or bn.empty:
        return missing("C12", "drop_bn and bn at the remedy rate")
    checks = [trains(t, "drop_bn", rate),
              check("harm", float(paired(bn, mixed).mean), ">=", HARM_MIN, f"drop_bn-{rate:g}")]
    parts, numbers = [], {"rate": rate, "mixed_shift": estimate(mixed["shift_first"])}
    for name in ("drop_after_bn", "uout_matched"):
        arm = select(t, name, rate)
        if not arm.empty:
            parts.append(above(name, paired(arm, mixed), REMEDY_MIN, "pt"))
    parts.append(above("reestimate", estimate(mixed["test_acc_reest"] - mixed["test_acc"]), REMEDY_MIN, "pt"))
    for name in ("uout_matched", "uout"):
        arm = select(t, name, rate)
        if not arm.empty:
            numbers[f"{name}_shift"] = estimate(arm["shift_first"])
            numbers[f"{name}_gain"] = paired(arm, mixed)
            numbers[f"{name}_beta"] = beta(name, rate)
    numbers["variance_ratio"] = noise_variance("drop_bn", rate) / noise_variance("uout", rate)
    th = t.get("theory")
    if th is not None and "noise_layers" in th:
        layers = th.set_index("config")["noise_layers"]
        numbers.update({f"noise_layers_{c}": float(layers[c]) for c in ("drop_bn", "drop_after_bn") if c in layers})
    return verdict("C12", parts, checks, numbers)


def decide_c9(t, rate: float = 0.3):
    none, drop = select(t, "none", 0.0, "small"), select(t, "dropout", rate, "small")
    if none.empty or drop.empty:
        return missing("C9", "small-data none and dropout")
    checks = [check("overfits", float((none["train_acc"] - none["test_acc"]).mean()), ">=", OVERFIT_MIN, "none"),
              trains(t, "dropout", rate, "small")]
    ensemble = none.assign(mc_nll=none["test_nll"])  # without noise every pass is the same net
    parts = [above("acc_gain", paired(drop, none), GAIN_MIN, "pt"),
             below("nll_change", paired(drop, ensemble, "mc_nll"), NLL_MAX, "num")]
    numbers = {"rate": rate, "ws_nll_change": paired(drop, none, "test_nll"),
               "mc_minus_ws": estimate(drop["mc_nll"] - drop["test_nll"]),
               "train_none": estimate(none["train_acc"]), "train_drop": estimate(drop["train_acc"])}
    return verdict("C9", parts, checks, numbers)


def _rates(t):
    """The deciding rates the run used (logged in the `theory` table's first rows), else the defaults."""
    th = t.get("theory")
    if th is not None and "decide_rate" in th:
        return float(th["decide_rate"].iloc[0]), float(th["remedy_rate"].iloc[0]), float(th["small_rate"].iloc[0])
    return 0.1, 0.1, 0.3


CLAIMS = [
    Claim("C9", "§27.1.7", lambda t: decide_c9(t, _rates(t)[2]),
          {"overfit_min": OVERFIT_MIN, "gain_min": GAIN_MIN, "nll_max": NLL_MAX, "trains_min": TRAINS_MIN}),
    Claim("C10", "§27.1.8", lambda t: decide_c10(t, _rates(t)[0]),
          {"trains_min": TRAINS_MIN, "shift_min": SHIFT_MIN, "interaction_max": INTERACTION_MAX}),
    Claim("C11", "§27.1.8", lambda t: decide_c11(t, _rates(t)[0]),
          {"trains_min": TRAINS_MIN, "margin": SPLIT_MARGIN}),
    Claim("C12", "Li et al. 2019", lambda t: decide_c12(t, _rates(t)[1]),
          {"trains_min": TRAINS_MIN, "harm_min": HARM_MIN, "remedy_min": REMEDY_MIN}),
]


def params_dict(p: Params) -> dict:
    return asdict(p)
