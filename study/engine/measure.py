"""Measurements of gradients and activations, per member and per layer."""
import torch

from study.engine.nets import ACTIVATIONS
from study.engine.train import member_losses


def derivative_on_grid(activation: str, lo: float = -6.0, hi: float = 6.0, n: int = 1201):
    """The activation's derivative on a grid, by autograd: (x, f'(x))."""
    x = torch.linspace(lo, hi, n, dtype=torch.float64, requires_grad=True)
    ACTIVATIONS[activation](x).sum().backward()
    return x.detach(), x.grad.detach()


def layer_gradients(model, x, y) -> dict[str, torch.Tensor]:
    """One forward/backward pass on (x, y) in train mode, without updating anything.

    Returns tensors of shape (M, L) over hidden layers l = 1..L:
      weight_grad  ||dL/dW_l||  (Frobenius norm of the weight gradient into hidden layer l)
      signal_grad  ||dL/dh_l||  (the back-propagated signal at layer l's output, averaged over the batch)
      act_deriv    mean f'(z_l) (the activation factor alone)
      act_deriv_sq mean f'(z_l)^2 (what enters the mean-field gradient factor sqrt(n sigma_w^2 E[f'(z)^2]))
      pre_std      std of the pre-activation z_l (how spread layer l's input to the nonlinearity is)

    The train-mode pass would move the BatchNorm running statistics (which evaluation then uses): they are
    saved and restored, so a measurement never changes the model.
    """
    saved = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in model.norms()]
    model.zero_grad(set_to_none=True)
    x = x.expand(model.members, *x.shape) if x.dim() == 2 else x
    logits, rec = model(x, record=True)
    pre, hidden = rec["pre"], rec["hidden"]
    m, b = logits.shape[:2]
    yy = y.expand(m, b) if y.dim() == 1 else y
    loss = torch.nn.functional.cross_entropy(logits.reshape(m * b, -1), yy.reshape(-1), reduction="none")
    loss.view(m, b).mean(1).sum().backward()
    act = ACTIVATIONS[model.spec.activation]
    out = {
        "weight_grad": torch.stack([lin.weight.grad.flatten(1).norm(dim=1) for lin in model.linears[:-1]], 1),
        "signal_grad": torch.stack([h.grad.norm(dim=2).mean(1) for h in hidden], 1),
        "pre_std": torch.stack([z.detach().std(dim=(1, 2), correction=0) for z in pre], 1),
    }
    derivs, squares = [], []
    for z in pre:
        zz = z.detach().clone().requires_grad_()
        act(zz).sum().backward()
        derivs.append(zz.grad.mean(dim=(1, 2)))
        squares.append(zz.grad.square().mean(dim=(1, 2)))
    out["act_deriv"] = torch.stack(derivs, 1)
    out["act_deriv_sq"] = torch.stack(squares, 1)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for bn, (mean, var) in zip(model.norms(), saved):
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
    return {k: v.detach() for k, v in out.items()}


def decay_per_layer(norms: torch.Tensor) -> torch.Tensor:
    """Geometric-mean factor by which a per-layer norm shrinks from one layer to the previous one.

    norms: (M, L) over layers 1..L. Fitted as exp(-slope) of log-norm against layer index, so 0.25 means
    each layer closer to the input receives a quarter of the gradient of the layer above it.
    """
    layers = norms.shape[1]
    if layers < 2:
        return torch.full((norms.shape[0],), float("nan"))
    l = torch.arange(1, layers + 1, dtype=torch.float64)
    y = norms.double().clamp_min(1e-300).log()
    slope = ((l - l.mean()) * (y - y.mean(1, keepdim=True))).sum(1) / ((l - l.mean()) ** 2).sum()
    return torch.exp(-slope).float()


__all__ = ["derivative_on_grid", "layer_gradients", "decay_per_layer", "member_losses"]


def _noise_modules(model):
    from study.engine.nets import MemberDropout

    return [m for m in model.modules() if isinstance(m, MemberDropout)]


def channel_var(z: torch.Tensor) -> torch.Tensor:
    """Per member and channel variance over the batch (and space): (M, B, C) or (M, B, C, H, W) -> (M, C)."""
    dims = (1,) if z.dim() == 3 else (1, 3, 4)
    return z.var(dim=dims, correction=0)


@torch.no_grad()
def variance_shift(model, x) -> dict[str, torch.Tensor]:
    """Li et al. (2019)'s variance shift at every BN layer, shape (M, n_bn).

    train_var: BN's running variance (accumulated in train mode, noise on), averaged over channels;
    eval_var:  the variance of the same layer's input re-measured in eval mode (noise off, BN using its running
               statistics) on x, averaged over channels;
    shift:     max(train_var / eval_var, eval_var / train_var), 1 when the two agree.
    """
    was = model.training
    model.eval()
    _, rec = model(x, record=True)
    model.train(was)
    eval_var = torch.stack([channel_var(z).mean(-1) for z in rec["bn_in"]], 1) if rec["bn_in"] else None
    if eval_var is None:
        empty = torch.empty(model.members, 0)
        return {"train_var": empty, "eval_var": empty, "shift": empty}
    train_var = torch.stack([bn.member_running_var().mean(-1) for bn in model.norms()], 1)
    ratio = train_var / eval_var
    return {"train_var": train_var, "eval_var": eval_var, "shift": torch.maximum(ratio, 1 / ratio)}


@torch.no_grad()
def reestimate_bn(model, x) -> None:
    """Recompute every BN layer's running statistics on x with the noise switched off (the remedy that
    re-estimates BN statistics in eval mode): one full-batch pass, layer by layer consistent."""
    norms = model.norms()
    if not norms:
        return
    model.eval()
    for bn in norms:
        bn.train()
        bn.momentum, old = 1.0, bn.momentum
        bn._old_momentum = old
    model(x)
    for bn in norms:
        bn.momentum = bn._old_momentum
        del bn._old_momentum
    model.eval()


@torch.no_grad()
def train_mode_accuracy(model, x, y) -> torch.Tensor:
    """Per-member accuracy on (x, y) as the network computes during training (noise on, BN batch statistics),
    leaving the BN running statistics untouched."""
    saved = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in model.norms()]
    noise_calls = [m.calls for m in _noise_modules(model)]
    was = model.training
    model.train()
    acc = (model(x).argmax(-1) == y).float().mean(1)
    model.train(was)
    for bn, (mean, var) in zip(model.norms(), saved):
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
    for m, calls in zip(_noise_modules(model), noise_calls):
        m.calls = calls  # a measurement must not move the members' random streams
    return acc
