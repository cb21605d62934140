"""2-D loss landscapes for the optimizer study (§27.1.1, §27.1.2), and descent on them vectorised over starts.

A landscape's loss is an average over N data points: point i adds u_i·x + v_i·y to the noise-free function f
(the 2-D test problems of DeepOBS do the same). The (u_i, v_i) are centred, so the full-batch loss IS f and
full-batch GD follows f's gradient exactly, while a minibatch adds the mean of its points' terms: the gradient
noise of SGD comes from sampling data and from nothing else. Every start is one row of a (S, 2) tensor and has
its own seed for its minibatch order.
"""
import math

import torch

from study.engine import rng
from study.engine.member_optim import MemberOptimizer
from study.engine.train import make_optimizer

# (centre x, centre y, depth, width) of Gaussian wells on a weak bowl: one wide, deep well and shallower,
# narrower ones. The bowl keeps every run inside the box.
WELLS = ((1.5, 1.5, 2.0, 1.3), (-2.2, 1.8, 1.2, 0.6), (-1.8, -2.2, 1.3, 0.7), (2.4, -2.0, 1.0, 0.6),
         (-0.2, -0.6, 0.8, 0.45))


# The reverse design: the global well is deep but narrow, a shallower local well is wide. On "wells" the
# global minimum also has the widest basin, so "ends in the global basin" and "ends in a wide basin" coincide;
# here they are separated.
NARROW_GLOBAL = ((1.6, -1.4, 2.2, 0.45), (-1.6, 1.2, 1.6, 1.4), (1.8, 2.2, 0.9, 0.6), (-2.2, -2.2, 0.9, 0.6))


def _gaussian_wells(spec):
    centre, depth, width = (torch.tensor([w[:2] for w in spec]), torch.tensor([w[2] for w in spec]),
                            torch.tensor([w[3] for w in spec]))

    def f(p: torch.Tensor) -> torch.Tensor:
        d2 = ((p.unsqueeze(-2) - centre.to(p)) ** 2).sum(-1)
        return 0.03 * (p**2).sum(-1) - (depth.to(p) * torch.exp(-d2 / (2 * width.to(p) ** 2))).sum(-1)

    return f


wells = _gaussian_wells(WELLS)
wells.__doc__ = "Gaussian wells on a weak bowl; the deepest well is also the widest."
narrow_global = _gaussian_wells(NARROW_GLOBAL)
narrow_global.__doc__ = "Gaussian wells on a weak bowl; the deepest well is narrow, a shallower one wide."


def ripples(p: torch.Tensor) -> torch.Tensor:
    """A Rastrigin-like egg box: a bowl with a local minimum near every point of a grid of spacing 2."""
    return (p**2).sum(-1) / 10 + 0.6 * (1 - torch.cos(math.pi * p)).sum(-1)


def toy(p: torch.Tensor) -> torch.Tensor:
    """The textbook function x²/20 + y²: twenty times steeper in y than in x, minimum 0 at the origin."""
    return p[..., 0] ** 2 / 20 + p[..., 1] ** 2


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """(1 − x)² + 100 (y − x²)²: a curved, narrow valley, minimum 0 at (1, 1)."""
    return (1 - p[..., 0]) ** 2 + 100 * (p[..., 1] - p[..., 0] ** 2) ** 2


_C, _S = math.cos(math.pi / 4), math.sin(math.pi / 4)


def rotated_toy(p: torch.Tensor) -> torch.Tensor:
    """The toy turned by 45°: the same valley, now diagonal, so that its steep and flat directions no longer
    lie along the coordinates (a per-coordinate step size has nothing to adapt to)."""
    x, y = p[..., 0], p[..., 1]
    return toy(torch.stack([_C * x + _S * y, -_S * x + _C * y], -1))


def unrotate(point: tuple[float, float]) -> tuple[float, float]:
    """The point of the rotated toy that corresponds to `point` of the toy (same loss, same distance)."""
    x, y = point
    return (_C * x - _S * y, _S * x + _C * y)


LANDSCAPES = {"wells": wells, "narrow_global": narrow_global, "ripples": ripples}
FUNCTIONS = {"toy": toy, "rotated": rotated_toy, "rosenbrock": rosenbrock}
OPTIMUM = {"toy": (0.0, 0.0), "rotated": (0.0, 0.0), "rosenbrock": (1.0, 1.0)}


def grad(f, p: torch.Tensor) -> torch.Tensor:
    p = p.detach().requires_grad_()
    (g,) = torch.autograd.grad(f(p).sum(), p)
    return g


@torch.no_grad()
def flow(f, p: torch.Tensor, steps: int = 1000, lr: float = 0.1) -> torch.Tensor:
    """Where noise-free gradient descent with a small step takes each point: its attractor."""
    p = p.clone()
    for _ in range(steps):
        with torch.enable_grad():
            p -= lr * grad(f, p)
    return p


def minima(f, box: float, n: int = 25) -> torch.Tensor:
    """The local minima inside the box, found by flowing a grid of points; (K, 2), sorted by f (global first)."""
    axis = torch.linspace(-box, box, n)
    ends = flow(f, torch.cartesian_prod(axis, axis))
    ends = ends[(ends.abs() <= box).all(1)]
    found: list[torch.Tensor] = []
    for e in ends:
        if all(float((e - m).norm()) > 0.05 for m in found):
            found.append(e)
    mins = torch.stack(found)
    return mins[torch.argsort(f(mins))]


def basin(f, p: torch.Tensor, mins: torch.Tensor) -> torch.Tensor:
    """Index of the minimum whose basin holds each point (0 = the global minimum)."""
    return torch.cdist(flow(f, p), mins).argmin(1)


def noise_terms(seed: int, n: int, sigma: float) -> torch.Tensor:
    """The data: (n, 2) per-sample terms (u_i, v_i) ~ N(0, sigma²), centred so that their mean is exactly 0."""
    u = torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed))) * sigma
    return u - u.mean(0)


def starts(seed: int, n: int, box: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed))
    return (torch.rand(n, 2, generator=g) * 2 - 1) * box


def epoch_batches(seeds: torch.Tensor, epoch: int, n: int, batch: int) -> torch.Tensor:
    """(steps, S, batch) data indices: start s draws a fresh permutation per epoch from its own seed alone."""
    order = rng.uniform(seeds, 7_000_001 + epoch, (n,)).argsort(1)
    steps = n // batch
    return order[:, : steps * batch].view(len(seeds), steps, batch).transpose(0, 1)


def descend(f, p0: torch.Tensor, data: torch.Tensor, batch: int, lr: float, epochs: int, seeds: torch.Tensor,
            optimizer: str = "sgd") -> torch.Tensor:
    """Minibatch descent from every start at once; batch >= len(data) is full-batch GD (one step per epoch).
    Returns the positions after every epoch, (epochs + 1, S, 2). Each row's loss is f plus the mean noise term
    of its own minibatch; rows never mix, so one torch.optim step updates every start by its own gradient."""
    p = p0.clone().requires_grad_()
    opt = MemberOptimizer(optimizer, [p], len(p0), lr=lr)  # torch.optim's update, without its first-step cost
    n = len(data)
    path = [p0.clone()]
    for epoch in range(epochs):
        idx = None if batch >= n else epoch_batches(seeds, epoch, n, batch)
        for step in range(1 if idx is None else len(idx)):
            noise = 0.0 if idx is None else data[idx[step]].mean(1)  # (S, 2); the full data's mean is 0
            loss = (f(p) + (noise * p).sum(1)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float, float]:
    """Proportion k/n with its 95% Wilson score interval (good near 0 and 1, unlike the normal interval)."""
    if n == 0:
        return math.nan, math.nan, math.nan
    ph = k / n
    centre = (ph + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return ph, max(0.0, centre - half), min(1.0, centre + half)


# --- the textbook toy and Rosenbrock: one (G, 2) tensor, one row per learning rate -----------------------------

def toy_paths(f, start: tuple[float, float], optimizer: str, lrs: list[float], steps: int,
              options: dict | None = None) -> torch.Tensor:
    """Positions (steps + 1, G, 2) of one optimizer from one start at G learning rates at once.

    The torch.optim optimizer runs at lr = 1 and each row's change is scaled by its own lr, which is exact for
    every optimizer used here (their state does not depend on lr; see engine.train.lr_scaling_is_exact).
    A row that overflows stays NaN/inf: divergence is a result."""
    lr = torch.tensor(lrs, dtype=torch.float64).view(-1, 1)
    p = torch.tensor([start], dtype=torch.float64).repeat(len(lrs), 1).requires_grad_()
    opt = make_optimizer(optimizer, [p], 1.0, **(options or {}))
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        f(p).sum().backward()
        before = p.detach().clone()
        opt.step()
        with torch.no_grad():
            p.copy_(before + lr * (p - before))
        path.append(p.detach().clone())
    return torch.stack(path)


def steps_to(path: torch.Tensor, optimum: tuple[float, float], tol: float) -> torch.Tensor:
    """First step at which each row is within tol of the optimum (and stays finite); -1 if never."""
    dist = (path - torch.tensor(optimum, dtype=path.dtype)).norm(dim=-1)  # (steps + 1, G)
    hit = (dist < tol) & torch.isfinite(dist)
    first = hit.to(torch.int64).argmax(0)
    return torch.where(hit.any(0), first, torch.full_like(first, -1))


def sustained_steps(path: torch.Tensor, optimum: tuple[float, float], tol: float) -> torch.Tensor:
    """Per row, the first step from which the row stays within tol of the optimum up to the last step (a run
    that touches the tolerance and leaves again has not converged then); -1 if it is not inside at the end."""
    dist = (path - torch.tensor(optimum, dtype=path.dtype)).norm(dim=-1)  # (steps + 1, G)
    inside = (dist < tol) & torch.isfinite(dist)
    # outside[t]: some step >= t lies outside; the answer is the first t with no later outside step
    later_out = torch.flip(torch.cummax(torch.flip((~inside).to(torch.int64), [0]), 0).values, [0]).bool()
    first = (~later_out).to(torch.int64).argmax(0)
    return torch.where(inside[-1], first, torch.full_like(first, -1))


def member_paths(f, start: tuple[float, float], optimizer: str, hyper: dict, steps: int) -> torch.Tensor:
    """Positions (steps + 1, G, 2) of one optimizer from one start, row g with hyperparameters
    {k: hyper[k][g]} (engine.member_optim: each row its own learning rate, momentum, betas or epsilon).
    A row that overflows stays NaN/inf: divergence is a result."""
    g = len(next(iter(hyper.values())))
    p = torch.tensor([start], dtype=torch.float64).repeat(g, 1).requires_grad_()
    opt = MemberOptimizer(optimizer, [p], g, **hyper)
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(p).sum().backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)
