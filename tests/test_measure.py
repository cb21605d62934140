"""The measurements against values derived by hand."""
import math

import torch

from study.engine import rng
from study.engine.measure import decay_per_layer, derivative_on_grid, layer_gradients
from study.engine.nets import MemberMLP, MLPSpec


def test_sigmoid_derivative_peaks_at_a_quarter_at_zero():
    x, d = derivative_on_grid("sigmoid")
    i = int(d.argmax())
    assert abs(float(d[i]) - 0.25) < 1e-12
    assert abs(float(x[i])) < 1e-9
    # and matches the closed form s(1 - s) everywhere on the grid
    s = torch.sigmoid(x)
    assert torch.allclose(d, s * (1 - s))


def test_relu_derivative_is_one_for_positive_inputs():
    x, d = derivative_on_grid("relu")
    assert torch.all(d[x > 0] == 1) and torch.all(d[x < 0] == 0)


def test_layer_gradients_of_a_tiny_network_match_the_hand_derivation():
    # 1 input -> 1 sigmoid unit -> 2 logits; cross-entropy with target class 0
    spec = MLPSpec(d_in=1, width=1, depth=1, d_out=2, activation="sigmoid")
    net = MemberMLP(spec, seeds=[0])
    a, c1, c2, x0 = 0.7, 1.5, -0.5, 2.0
    with torch.no_grad():
        net.linears[0].weight.fill_(a)
        net.linears[1].weight.copy_(torch.tensor([[[c1, c2]]]))
    m = layer_gradients(net, torch.tensor([[x0]]), torch.tensor([0]))

    z = a * x0
    h = 1 / (1 + math.exp(-z))
    p0 = math.exp(c1 * h) / (math.exp(c1 * h) + math.exp(c2 * h))
    dl_dh = (p0 - 1) * c1 + (1 - p0) * c2
    dsig = h * (1 - h)
    assert math.isclose(float(m["signal_grad"][0, 0]), abs(dl_dh), rel_tol=1e-5)
    assert math.isclose(float(m["weight_grad"][0, 0]), abs(dl_dh * dsig * x0), rel_tol=1e-5)
    assert math.isclose(float(m["act_deriv"][0, 0]), dsig, rel_tol=1e-5)


def test_decay_per_layer_recovers_a_geometric_factor():
    norms = torch.tensor([[0.25**3, 0.25**2, 0.25, 1.0], [1.0, 1.0, 1.0, 1.0]])
    f = decay_per_layer(norms)
    assert torch.allclose(f, torch.tensor([0.25, 1.0]), rtol=1e-5)


def test_member_random_numbers_do_not_depend_on_the_other_members():
    alone = rng.uniform(torch.tensor([7]), stream=3, shape=(4, 5))
    together = rng.uniform(torch.tensor([1, 7, 9]), stream=3, shape=(4, 5))
    assert torch.equal(alone[0], together[1])
    assert not torch.equal(together[0], together[1])
    big = rng.uniform(torch.tensor([1, 2]), stream=0, shape=(100_000,))
    assert abs(float(big.mean()) - 0.5) < 0.01 and float(big.min()) >= 0 and float(big.max()) < 1
    # different streams (layers, steps) give different masks
    assert not torch.equal(rng.uniform(torch.tensor([7]), 4, (4, 5)), alone)


def test_intervals_over_seeds():
    import pandas as pd

    from study.engine.stats import mean_ci, paired_diff

    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and math.isclose(hi - m, 4.302652729911275 / math.sqrt(3), rel_tol=1e-9) and lo == 4 - hi
    assert math.isnan(mean_ci([5.0])[1]) and math.isnan(mean_ci([float("nan")])[0])
    a = pd.DataFrame({"seed": [0, 1, 2], "test_acc": [0.9, 0.8, 0.7]})
    b = pd.DataFrame({"seed": [2, 0, 1], "test_acc": [0.6, 0.8, 0.7]})  # paired by seed, not by row
    m, lo, hi = paired_diff(a, b)
    assert math.isclose(m, 0.1) and math.isclose(lo, 0.1) and math.isclose(hi, 0.1)
