"""The batched per-member optimizers: member k's update is torch.optim's at member k's hyperparameters."""
import math

import pytest
import torch

from study.engine import member_optim as mo

HYPER = {
    "sgd": {"lr": [0.1, 0.03, 0.3]},
    "momentum": {"lr": [0.1, 0.05, 0.02], "momentum": [0.0, 0.5, 0.9]},
    "nesterov": {"lr": [0.1, 0.05, 0.02], "momentum": [0.3, 0.6, 0.95]},
    "adagrad": {"lr": [0.5, 0.1, 1.0], "eps": [1e-10, 1e-3, 1.0]},
    "rmsprop": {"lr": [0.01, 0.003, 0.05], "alpha": [0.99, 0.9, 0.5], "eps": [1e-8, 1e-4, 0.1]},
    "adam": {"lr": [0.01, 0.1, 0.003], "beta1": [0.9, 0.0, 0.5], "beta2": [0.999, 0.9, 0.99], "eps": [1e-8, 1e-3, 1.0]},
    "adamw": {"lr": [0.01, 0.1, 0.003], "weight_decay": [0.0, 0.1, 0.01], "eps": [1e-8, 1e-2, 1e-8]},
}


def loss(p):  # a parameter-dependent, non-quadratic loss per member
    return (p**2).sum() + torch.sin(3 * p).sum() + (p[..., 0] * p[..., -1]).sum()


@pytest.mark.parametrize("name", mo.NAMES)
def test_each_member_steps_exactly_as_torch_optim_with_its_own_hyperparameters(name):
    g = torch.Generator().manual_seed(1)
    start = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    h = HYPER[name]
    together = start.clone().requires_grad_()
    opt = mo.MemberOptimizer(name, [together], 3, **h)
    alone = [start[k].clone().requires_grad_() for k in range(3)]
    refs = [mo.torch_optimizer(name, [alone[k]], {key: v[k] for key, v in h.items()}) for k in range(3)]
    scheds = [torch.optim.lr_scheduler.LambdaLR(r, lambda s: mo.schedule_factor("cosine", s, 12, 3)) for r in refs]
    for step in range(12):
        opt.zero_grad()
        loss(together).backward()
        opt.scale = mo.schedule_factor("cosine", step, 12, 3)
        opt.step()
        for k in range(3):
            refs[k].zero_grad()
            loss(alone[k]).backward()
            refs[k].step()
            scheds[k].step()
    for k in range(3):
        assert torch.allclose(together[k], alone[k], rtol=1e-10, atol=1e-12), (name, k)


def test_a_shared_value_is_broadcast_and_defaults_are_torch_optims():
    p = torch.zeros(4, 2, requires_grad=True)
    opt = mo.MemberOptimizer("adam", [p], 4, lr=0.1)
    assert torch.equal(opt.hyper("lr"), torch.full((4,), 0.1, dtype=torch.float64))
    assert float(opt.hyper("eps")[0]) == 1e-8 and float(opt.hyper("beta2")[3]) == 0.999
    with pytest.raises(ValueError, match="takes"):
        mo.MemberOptimizer("sgd", [p], 4, eps=1.0)
    with pytest.raises(ValueError, match="3 values for 4"):
        mo.MemberOptimizer("sgd", [p], 4, lr=[0.1, 0.2, 0.3])


def test_cosine_schedule_warms_up_then_decays_to_zero():
    f = [mo.schedule_factor("cosine", s, 10, 2) for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] == 1.0 and f[-1] > 0
    assert all(a >= b for a, b in zip(f[2:], f[3:]))
    assert math.isclose(mo.schedule_factor("cosine", 10, 10, 2), 0.0, abs_tol=1e-12)
    assert mo.schedule_factor("constant", 5, 10) == 1.0


def test_fit_trains_members_with_their_own_rates():
    from study.data import digits
    from study.engine.nets import MemberMLP, MLPSpec

    split = digits(0)
    r = mo.fit(lambda s: MemberMLP(MLPSpec(64, 8, 1, 10), s), split, "momentum",
               {"lr": [1e-4, 0.05, 1e3], "momentum": [0.9, 0.5, 0.9]}, [0, 0, 0], 2, 64, "cosine")
    assert r.val_acc.shape == (2, 3) and r.test_acc[1] > r.test_acc[0] + 0.2
    assert not r.diverged[1] and r.diverged[2]
