"""Choosing a hyperparameter fairly: a grid as members of one engine run, the choice made on validation data,
the chosen setting re-run with fresh seeds and scored on test data (the protocol of DeepOBS, Schneider et al.
2019, and Choi et al. 2019). Every arm of a comparison gets the same grid and the same budget.
"""
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from study.data import Split
from study.engine.train import TrainSpec, evaluate, train

TUNE_SEED_BASE = 1000  # tuning seeds are 1000, 1001, ...: never the seeds whose results are reported


def fit(make_model, split: Split, optimizer: str, lrs: list[float], seeds: list[int], epochs: int,
        batch_size: int) -> dict:
    """Train one member per (lr, seed) pair in one engine run. Returns per-member arrays: the validation curve
    (epochs, M), final test/train metrics, and the run's CPU seconds per member and epoch."""
    model = make_model(seeds)
    t0 = time.process_time()
    with np.errstate(invalid="ignore"):
        hist = train(model, split, TrainSpec(optimizer, list(lrs) if len(set(lrs)) > 1 else lrs[0], epochs,
                                             batch_size))
    seconds = (time.process_time() - t0) / (len(seeds) * epochs)
    test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
    _, train_acc = evaluate(model, split.x_train, split.y_train)
    curve = lambda key: torch.stack([h[key] for h in hist]).cpu().numpy()
    train_curve = curve("train_loss")
    return {"val_loss": curve("val_loss"), "val_acc": curve("val_acc"), "train_loss": train_curve,
            "test_loss": test_loss.cpu().numpy(), "test_acc": test_acc.cpu().numpy(),
            "train_acc": train_acc.cpu().numpy(), "seconds_per_epoch": seconds,
            "diverged": diverged(train_curve, test_loss.cpu().numpy(), split.n_classes)}


BLOWUP = 10.0  # a loss above 10× that of a uniform guess, log(classes), counts as blown up


def diverged(train_curve: np.ndarray, test_loss: np.ndarray, classes: int) -> np.ndarray:
    """Per member: a NaN/inf loss anywhere, or a final loss above BLOWUP × log(classes) (a ReLU net can blow up
    to huge finite losses without ever producing a NaN)."""
    limit = BLOWUP * math.log(classes)
    with np.errstate(invalid="ignore"):
        return (~np.isfinite(train_curve).all(0) | ~np.isfinite(test_loss) | (train_curve[-1] > limit)
                | (test_loss > limit))


def choose(lrs: list[float], val_acc: np.ndarray, val_loss: np.ndarray, diverged: np.ndarray) -> int:
    """Index of the grid point with the best final validation accuracy (mean over tuning seeds; ties go to the
    lower validation loss). A point where any tuning seed diverged is never chosen; if every point diverged,
    the smallest learning rate is returned."""
    best, key = None, None
    for i, lr in enumerate(lrs):
        if diverged[i].any() or not np.isfinite(val_loss[i]).all():
            continue
        k = (round(float(np.mean(val_acc[i])), 9), -float(np.mean(val_loss[i])))  # round: float means tie exactly
        if key is None or k > key:
            best, key = i, k
    return int(np.argmin(lrs)) if best is None else best


def log_grid(lo: float, hi: float, points: int) -> list[float]:
    if points == 1:
        return [lo]
    return [float(v) for v in np.logspace(math.log10(lo), math.log10(hi), points)]


def first_epoch_below(curve: np.ndarray, target: float) -> np.ndarray:
    """Per member (columns), the first epoch (1-based) whose validation loss is <= target; NaN if never."""
    hit = np.nan_to_num(curve, nan=np.inf) <= target
    first = hit.argmax(0).astype(float) + 1
    first[~hit.any(0)] = np.nan
    return first


@dataclass
class Tuned:
    """The outcome of `tune_then_train`: the chosen learning rate, the tuning grid's results (one row per lr and
    tuning seed), and the model re-trained at the chosen rate on the study's seeds with its history."""
    lr: float
    at_edge: bool  # the choice sits at an end of the grid: the best rate may lie outside it
    grid: list[dict]
    model: object
    history: list[dict]


def tune_then_train(make_model, split: Split, spec: TrainSpec, lrs: list[float], tune_seeds: int,
                    seeds: list[int], on_epoch=None) -> Tuned:
    """Choose the learning rate from `lrs` on validation data (final validation accuracy, mean over
    `tune_seeds` tuning seeds; the whole grid is one engine run), then train `make_model(seeds)` at that rate.
    The optimizer must be linear in its learning rate (train.lr_scaling_is_exact) when the grid has more than
    one point."""
    grid = []
    if len(lrs) > 1:
        tune = [TUNE_SEED_BASE + s for s in range(tune_seeds)]
        members = [lr for lr in lrs for _ in tune]
        r = fit(make_model, split, spec.optimizer, members, [s for _ in lrs for s in tune], spec.epochs,
                spec.batch_size)
        shape = (len(lrs), len(tune))
        val_acc, val_loss = r["val_acc"][-1].reshape(shape), r["val_loss"][-1].reshape(shape)
        best = choose(lrs, val_acc, val_loss, r["diverged"].reshape(shape))
        grid = [{"lr": lr, "tune_seed": s, "val_acc": float(val_acc[i, j]), "val_loss": float(val_loss[i, j]),
                 "diverged": bool(r["diverged"].reshape(shape)[i, j])}
                for i, lr in enumerate(lrs) for j, s in enumerate(tune)]
    else:
        best = 0
    model = make_model(seeds)
    history = train(model, split, replace(spec, lr=lrs[best]), on_epoch)
    return Tuned(lrs[best], len(lrs) > 1 and best in (0, len(lrs) - 1), grid, model, history)
