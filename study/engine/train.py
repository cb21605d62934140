"""The batched training loop: one torch.optim optimizer steps every member at once.

Each member has its own seed (initialisation, minibatch order, dropout masks), its own BatchNorm statistics
and, where that is exact, its own learning rate.
"""
from dataclasses import dataclass, field
from functools import cache
from typing import Callable

import torch
import torch.nn.functional as F

OPTIMIZERS: dict[str, tuple[type, dict]] = {
    "sgd": (torch.optim.SGD, {}),
    "momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (torch.optim.Adagrad, {}),
    "rmsprop": (torch.optim.RMSprop, {}),
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
}

# The offered optimizers whose update is linear in the learning rate (state independent of it), so a grid of
# rates can run as members of one model. A profile is checked against this list, not by stepping optimizers:
# the first optimizer step imports torch's compiler (2-3 s) into every `study` command. tests/test_engine.py
# checks the list against the measured property (lr_scaling_is_exact), which train() itself still applies.
LINEAR_IN_LR = frozenset({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"})


def make_optimizer(name: str, params, lr: float, **overrides) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    cls, kwargs = OPTIMIZERS[name]
    return cls(params, lr=lr, **{**kwargs, **overrides})


def _scaling_trial(name: str, steps: int, lr: float = 0.037):
    """Gradients, a rate, and two copies of one parameter with an optimizer each: at `lr`, and at 1."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(7, generator=g)
    grads = [torch.randn(7, generator=g) for _ in range(steps)]
    direct, scaled = start.clone().requires_grad_(), start.clone().requires_grad_()
    return grads, lr, direct, scaled, make_optimizer(name, [direct], lr), make_optimizer(name, [scaled], 1.0)


@cache
def lr_scaling_is_exact(name: str, steps: int = 5) -> bool:
    """Check that `step at lr=1, then scale the change by lr` reproduces `step at lr` for this optimizer.

    True when the update is linear in the learning rate and the optimizer's state does not depend on it
    (SGD and its momentum variants, AdaGrad without lr decay, RMSprop, Adam, AdamW).
    """
    grads, lr, direct, scaled, opt_d, opt_s = _scaling_trial(name, steps)
    for grad in grads:
        for p, opt in ((direct, opt_d), (scaled, opt_s)):
            p.grad = grad + 0.1 * p.detach()  # a parameter-dependent gradient, as with a real loss
        opt_d.step()
        before = scaled.detach().clone()
        opt_s.step()
        with torch.no_grad():
            scaled.copy_(before + lr * (scaled - before))
    return torch.allclose(direct, scaled, rtol=1e-5, atol=1e-7)


@cache
def grad_scaling_is_exact(name: str, steps: int = 5) -> bool:
    """Check that `step at lr=1 on the gradient times lr` reproduces `step at lr` for this optimizer.

    True when the update and the optimizer's state are linear in the gradient (SGD and its momentum
    variants); false for the adaptive ones (AdaGrad, RMSprop, Adam, AdamW divide by the gradient's own scale).
    Where true, a per-member learning rate costs nothing: each member's loss is multiplied by its rate.
    """
    grads, lr, direct, scaled, opt_d, opt_s = _scaling_trial(name, steps)
    for grad in grads:
        direct.grad = grad + 0.1 * direct.detach()
        scaled.grad = lr * (grad + 0.1 * scaled.detach())
        opt_d.step()
        opt_s.step()
    return torch.allclose(direct, scaled, rtol=1e-5, atol=1e-7)


@dataclass
class TrainSpec:
    optimizer: str = "adam"
    lr: float | list[float] = 1e-3  # one value, or one per member
    epochs: int = 10
    batch_size: int = 32
    optimizer_options: dict = field(default_factory=dict)


def member_batches(seeds: torch.Tensor, epoch: int, n: int, batch_size: int) -> torch.Tensor:
    """(steps, M, B) training indices; member k's order depends only on its seed and the epoch."""
    orders = []
    for seed in seeds.tolist():
        g = torch.Generator().manual_seed(int(seed) * 100_003 + epoch + 1)
        orders.append(torch.randperm(n, generator=g))
    steps = n // batch_size  # drop the ragged last batch so every step has B samples per member
    order = torch.stack(orders)[:, : steps * batch_size]
    return order.view(len(orders), steps, batch_size).transpose(0, 1).to(seeds.device)


def member_losses(model, x, y) -> torch.Tensor:
    """Mean cross-entropy per member: x (M, B, D) or shared (B, D), y (M, B) or shared (B,)."""
    logits = model(x)
    m, b = logits.shape[:2]
    y = y.expand(m, b) if y.dim() == 1 else y
    return F.cross_entropy(logits.reshape(m * b, -1), y.reshape(-1), reduction="none").view(m, b).mean(1)


@torch.no_grad()
def evaluate(model, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-member (loss, accuracy) on a shared evaluation set, in eval mode."""
    was_training = model.training
    model.eval()
    logits = model(x)
    model.train(was_training)
    m, b = logits.shape[:2]
    loss = F.cross_entropy(logits.reshape(m * b, -1), y.repeat(m), reduction="none").view(m, b).mean(1)
    acc = (logits.argmax(-1) == y).float().mean(1)
    return loss, acc


def train(model, split, spec: TrainSpec, on_epoch: Callable[[int, dict], None] | None = None,
          eval_modules=()) -> list[dict]:
    """Train all members; return one record per epoch with per-member tensors (train_loss, val_loss, val_acc).

    `eval_modules` stay in eval mode while the rest trains (e.g. a pretrained backbone's BatchNorm layers, which
    then normalise with their stored statistics and do not update them).

    A member whose loss turns NaN/inf is marked diverged and keeps its NaN values: divergence is a result.
    """
    m = model.members
    lrs = torch.as_tensor(spec.lr, dtype=torch.float32).flatten()
    if lrs.numel() not in (1, m):
        raise ValueError(f"lr has {lrs.numel()} values for {m} members")
    per_member_lr = lrs.numel() == m and not bool((lrs == lrs[0]).all())
    if per_member_lr and not lr_scaling_is_exact(spec.optimizer):
        raise ValueError(f"optimizer {spec.optimizer!r} is not linear in its learning rate: use one lr for all members")
    # Where the optimizer is linear in the gradient, member k's rate multiplies its loss (exact, and free);
    # otherwise each step is taken at rate 1 and its change scaled per member.
    by_loss = per_member_lr and not spec.optimizer_options and grad_scaling_is_exact(spec.optimizer)
    params = list(model.parameters())
    opt = make_optimizer(spec.optimizer, params, 1.0 if per_member_lr else float(lrs[0]), **spec.optimizer_options)
    scale = lrs.to(model.seeds.device)
    history = []
    model.train()
    for epoch in range(spec.epochs):
        for module in eval_modules:  # evaluate() below puts the whole model back in train mode
            module.eval()
        total = torch.zeros(m, device=scale.device)
        batches = member_batches(model.seeds, epoch, len(split.y_train), spec.batch_size)
        for idx in batches:
            losses = member_losses(model, split.x_train[idx], split.y_train[idx])
            opt.zero_grad(set_to_none=True)
            (losses * scale).sum().backward() if by_loss else losses.sum().backward()
            if per_member_lr and not by_loss:
                before = [p.detach().clone() for p in params]
                opt.step()
                with torch.no_grad():
                    for p, b in zip(params, before):
                        p.copy_(b + scale.view(-1, *[1] * (p.dim() - 1)) * (p - b))
            else:
                opt.step()
            total += losses.detach()
        val_loss, val_acc = evaluate(model, split.x_val, split.y_val)
        record = {"epoch": epoch + 1, "train_loss": total / len(batches), "val_loss": val_loss, "val_acc": val_acc}
        history.append(record)
        if on_epoch:
            on_epoch(epoch + 1, record)
    return history
