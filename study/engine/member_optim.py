"""Optimizers with a member dimension: every member its own learning rate, momentum, betas and epsilon.

`engine.train` steps all members with one torch.optim optimizer, which lets members differ only in a learning
rate (and only for optimizers linear in it). Tuning momentum's β or Adam's ε as members needs more: here every
hyperparameter is a tensor of shape (M,), broadcast over each parameter's leading member dimension, and the
update of member k is exactly torch.optim's update at member k's values (tests/test_member_optim.py checks it
against torch.optim, member by member, with a learning-rate schedule). Members never mix.

Updates (g the gradient, t the step, defaults as torch.optim):
  sgd / momentum:  b <- β b + g ; p <- p - lr (g + β b if nesterov else b)          (β = 0: plain SGD)
  adagrad:         s <- s + g² ; p <- p - lr g / (√s + ε)
  rmsprop:         s <- α s + (1 - α) g² ; p <- p - lr g / (√s + ε)
  adam / adamw:    m <- β1 m + (1 - β1) g ; v <- β2 v + (1 - β2) g² ;
                   p <- p (1 - lr wd) [adamw] - lr/(1 - β1^t) · m / (√v / √(1 - β2^t) + ε)
"""
import math
from dataclasses import dataclass

import torch

# Hyperparameters each optimizer takes per member, with torch.optim's defaults.
DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"lr": 1e-3, "momentum": 0.0},
    "momentum": {"lr": 1e-3, "momentum": 0.9},
    "nesterov": {"lr": 1e-3, "momentum": 0.9},
    "adagrad": {"lr": 1e-2, "eps": 1e-10},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
}
NAMES = tuple(DEFAULTS)


def torch_optimizer(name: str, params, h: dict) -> torch.optim.Optimizer:
    """The torch.optim optimizer with one member's hyperparameters `h` (a reference for the tests)."""
    h = {**DEFAULTS[name], **h}
    if name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"], nesterov=name == "nesterov")
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=h["lr"], eps=h["eps"])
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"])
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    kw = {"weight_decay": h["weight_decay"]} if name == "adamw" else {}
    return cls(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], **kw)


class MemberOptimizer:
    """One optimizer over parameters whose first dimension is the member (M, ...). `hyper` maps each name of
    DEFAULTS[name] to a float (shared) or M values; missing ones take torch.optim's default. `scale` multiplies
    every member's learning rate from the next step on (a schedule sets it before each step)."""

    def __init__(self, name: str, params, members: int, **hyper):
        if name not in DEFAULTS:
            raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(DEFAULTS)}")
        unknown = set(hyper) - set(DEFAULTS[name])
        if unknown:
            raise ValueError(f"{name} takes {', '.join(DEFAULTS[name])}; got {', '.join(sorted(unknown))}")
        self.name, self.members = name, members
        self.params = [p for p in params]
        for p in self.params:
            if p.shape[0] != members:
                raise ValueError(f"parameter of shape {tuple(p.shape)} has no leading member dimension {members}")
        dev = self.params[0].device
        self.h = {}
        for k, default in DEFAULTS[name].items():
            v = torch.as_tensor(hyper.get(k, default), dtype=torch.float64).flatten()
            if v.numel() not in (1, members):
                raise ValueError(f"{k} has {v.numel()} values for {members} members")
            self.h[k] = v.expand(members).clone().to(dev)
        self.scale = 1.0
        self.t = 0
        self.state = [{} for _ in self.params]

    def hyper(self, k: str) -> torch.Tensor:
        return self.h[k]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @staticmethod
    def _b(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Member values (M,) shaped to broadcast over p (M, ...), in p's dtype."""
        return v.to(p.dtype).view(-1, *[1] * (p.dim() - 1))

    @torch.no_grad()
    def step(self):
        self.t += 1
        t, n = self.t, self.name
        lr64 = self.h["lr"] * self.scale
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g, b = p.grad, (lambda v: self._b(v, p))
            lr = b(lr64)
            if n in ("sgd", "momentum", "nesterov"):
                mu = b(self.h["momentum"])
                buf = st.get("buf")
                buf = g.clone() if buf is None else buf.mul_(mu).add_(g)  # torch: the first buffer is g itself
                st["buf"] = buf
                p.sub_(lr * (g + mu * buf if n == "nesterov" else buf))
            elif n == "adagrad":
                s = st.setdefault("sum", torch.zeros_like(p))
                s.addcmul_(g, g)
                p.sub_(lr * g / (s.sqrt() + b(self.h["eps"])))
            elif n == "rmsprop":
                a = b(self.h["alpha"])
                s = st.setdefault("sq", torch.zeros_like(p))
                s.mul_(a).add_((1 - a) * g * g)
                p.sub_(lr * g / (s.sqrt() + b(self.h["eps"])))
            else:  # adam, adamw
                b1, b2 = self.h["beta1"], self.h["beta2"]
                m = st.setdefault("m", torch.zeros_like(p))
                v = st.setdefault("v", torch.zeros_like(p))
                if n == "adamw":
                    p.mul_(1 - lr * b(self.h["weight_decay"]))
                m.lerp_(g, 1 - b(b1))
                v.mul_(b(b2)).add_((1 - b(b2)) * g * g)
                bias1, bias2_sqrt = b(1 - b1**t), b(torch.sqrt(1 - b2**t))
                p.sub_((lr / bias1) * m / (v.sqrt() / bias2_sqrt + b(self.h["eps"])))


# --- learning-rate schedules --------------------------------------------------------------------------------------

SCHEDULES = ("constant", "cosine")


def schedule_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """The factor on the base learning rate at 0-based `step` of `total`: constant, or a linear warm-up over
    `warmup` steps followed by cosine decay to 0 at the last step (the schedule of Loshchilov & Hutter 2017
    without restarts, one of those Schmidt et al. 2021 compare)."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / span))


# --- training members with their own hyperparameters --------------------------------------------------------------

@dataclass
class MemberFit:
    """Per-member curves (epochs, M) and final numbers of one engine run."""
    train_loss: "object"
    val_loss: "object"
    val_acc: "object"
    test_loss: "object"
    test_acc: "object"
    train_acc: "object"
    final_train_loss: "object"  # on the whole training set, in eval mode, after the last step
    diverged: "object"
    seconds_per_epoch: float


def fit(make_model, split, name: str, hyper: dict, seeds: list[int], epochs: int, batch_size: int,
        schedule: str = "constant", warmup_epochs: int = 0, on_epoch=None) -> MemberFit:
    """Train `make_model(seeds)`: member k with seed seeds[k] and hyperparameters {h: hyper[h][k]}, one
    minibatch order per seed (engine.train.member_batches), the learning rate scheduled per step."""
    import time

    import numpy as np

    from study.engine.train import evaluate, member_batches, member_losses
    from study.engine.tuning import diverged

    model = make_model(seeds)
    opt = MemberOptimizer(name, model.parameters(), model.members, **hyper)
    steps_per_epoch = len(split.y_train) // batch_size
    total = steps_per_epoch * epochs
    hist = {"train_loss": [], "val_loss": [], "val_acc": []}
    t0 = time.process_time()
    model.train()
    step = 0
    for epoch in range(epochs):
        tot = torch.zeros(model.members, device=model.seeds.device)
        for idx in member_batches(model.seeds, epoch, len(split.y_train), batch_size):
            losses = member_losses(model, split.x_train[idx], split.y_train[idx])
            opt.zero_grad()
            losses.sum().backward()
            opt.scale = schedule_factor(schedule, step, total, warmup_epochs * steps_per_epoch)
            opt.step()
            step += 1
            tot += losses.detach()
        vl, va = evaluate(model, split.x_val, split.y_val)
        hist["train_loss"].append((tot / steps_per_epoch).cpu())
        hist["val_loss"].append(vl.cpu())
        hist["val_acc"].append(va.cpu())
        if on_epoch:
            on_epoch(epoch + 1, {k: v[-1] for k, v in hist.items()})
    seconds = (time.process_time() - t0) / (model.members * epochs)
    test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
    final_train_loss, train_acc = evaluate(model, split.x_train, split.y_train)
    curves = {k: torch.stack(v).numpy() for k, v in hist.items()}
    with np.errstate(invalid="ignore"):
        div = diverged(curves["train_loss"], test_loss.cpu().numpy(), split.n_classes)
    return MemberFit(curves["train_loss"], curves["val_loss"], curves["val_acc"], test_loss.cpu().numpy(),
                     test_acc.cpu().numpy(), train_acc.cpu().numpy(), final_train_loss.cpu().numpy(), div, seconds)
