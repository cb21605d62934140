"""The Dropout × BatchNorm study's measurements, against what theory says they must be."""
import pytest
import torch

from study.data import digits
from study.engine.measure import reestimate_bn, variance_shift
from study.engine.nets import (
    Activation,
    MemberBatchNorm,
    MemberDropout,
    MemberMLP,
    MemberUout,
    MLPSpec,
)
from study.studies import dropout_bn


def shifted_net(blocks, rate, d=32, seeds=(0, 1, 2)):
    """A layer whose input is zero-mean Gaussian, its BN statistics accumulated in train mode over many batches."""
    torch.manual_seed(0)
    spec = MLPSpec(d, d, len(blocks), 2, "relu", dropout=rate, blocks=blocks)
    model = MemberMLP(spec, list(seeds), "xavier")
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(300):
            model(torch.randn(256, d, generator=g))
    return model, torch.randn(20_000, d, generator=g)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_dropout_directly_before_bn_shifts_the_variance_by_the_retain_rate(rate):
    model, x = shifted_net(("drop bn act",), rate)
    shift = variance_shift(model, x)["shift"][:, 0]
    assert torch.allclose(shift, torch.full_like(shift, 1 / (1 - rate)), rtol=0.04), shift


@pytest.mark.parametrize("beta", [0.3, 0.5])
def test_uout_shifts_the_variance_by_three_over_three_plus_beta_squared(beta):
    model, x = shifted_net(("uout bn act",), beta)
    shift = variance_shift(model, x)["shift"][:, 0]
    assert torch.allclose(shift, torch.full_like(shift, (3 + beta**2) / 3), rtol=0.02), shift


def test_no_noise_means_no_shift_and_reestimation_removes_a_shift():
    clean, x = shifted_net(("bn act",), 0.0)
    assert torch.allclose(variance_shift(clean, x)["shift"][:, 0], torch.ones(3), rtol=0.03)
    noisy, x = shifted_net(("drop bn act",), 0.5)
    reestimate_bn(noisy, x)
    assert torch.allclose(variance_shift(noisy, x)["shift"][:, 0], torch.ones(3), rtol=1e-3)


def kinds(ops):
    names = {MemberBatchNorm: "bn", Activation: "act", MemberDropout: "drop", MemberUout: "uout"}
    return " ".join(names[type(op)] for op in ops)


def test_each_configuration_builds_the_intended_layer_order():
    p = dropout_bn.Params(depth=10)
    split = digits(0)
    expected = {
        "none": ["act"] * 10, "bn": ["bn act"] * 10, "dropout": ["act drop"] * 10,
        "drop_bn": ["drop bn act"] * 10, "bn_drop": ["bn act drop"] * 10,
        "split": ["bn act"] * 8 + ["act drop"] * 2, "drop_after_bn": ["bn act"] * 10, "uout": ["uout bn act"] * 10,
    }
    for config, blocks in expected.items():
        model = MemberMLP(dropout_bn.spec_for(config, 0.3, p, split), [0])
        assert [kinds(b) for b in model.blocks] == blocks, config
        assert (model.head is not None and model.head.rate == 0.3) == (config == "drop_after_bn"), config
        rates = {op.rate for b in model.blocks for op in b if isinstance(op, MemberDropout)}
        assert rates <= {0.3}
