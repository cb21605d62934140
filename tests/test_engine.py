"""The batched engine equals per-seed training, member by member."""
import math

import pytest
import torch

from study.data import Split, digits
from study.engine import train as train_mod
from study.engine.convnets import CNNSpec, MemberCNN
from study.engine.loop import standalone, train_standalone
from study.engine.nets import MemberMLP, MLPSpec
from study.engine.train import TrainSpec, lr_scaling_is_exact, train

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RATES = {"sgd": [0.05, 0.1, 0.02], "momentum": [0.01, 0.02, 0.005], "adagrad": [0.01, 0.02, 0.005],
         "rmsprop": [1e-3, 2e-3, 5e-4], "adam": [1e-3, 2e-3, 5e-4]}


def gaussian_split(seed=0, n=320, d=20, classes=5, device="cpu"):
    # Every input feature varies within every minibatch. (On digits, border pixels that are constant within a
    # batch get an exactly-zero true gradient under BN; adaptive optimizers turn its rounding noise into real
    # steps, so two correct implementations drift apart there. See engine/nets.py.)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, :classes] + 0.5 * torch.randn(n, classes, generator=g)).argmax(1)
    return Split(x[:256], y[:256], x[256:], y[256:], x[256:], y[256:]).to(device)


@pytest.fixture
def float64():
    # Compared in float64: the batched and the plain model sum in different orders, and adaptive optimizers
    # amplify float32 rounding in near-zero gradients (to ~1e-3 after a few epochs with BN and dropout).
    # In float64 the same runs agree to ~1e-8, which shows the computations are the same.
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def assert_members_match_standalone_runs(model, split, optimizer, lrs, epochs):
    """Train the batched model, then each member's plain nn.Sequential twin alone with the same seed: the test
    outputs and every epoch's training loss must agree."""
    seeds = model.seeds.tolist()
    refs = [standalone(model, k) for k in range(len(seeds))]
    hist = train(model, split, TrainSpec(optimizer, lrs, epochs=epochs, batch_size=32))
    model.eval()
    out = model(split.x_test)
    for k, ref in enumerate(refs):
        losses = train_standalone(ref, seeds[k], split, optimizer, lrs[k], epochs=epochs, batch_size=32)
        ref.eval()
        assert torch.allclose(out[k], ref(split.x_test), atol=1e-6, rtol=1e-6), f"member {k} differs"
        assert [float(h["train_loss"][k]) for h in hist] == pytest.approx(losses, rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", list(RATES))
@pytest.mark.parametrize("layout", ["plain", "bn", "bn+dropout", "dropout", "dropout-before-bn", "uout+head"])
def test_member_k_equals_a_standalone_run_with_seed_k(optimizer, layout, device, float64):
    split = gaussian_split(device=device)
    spec = {"plain": MLPSpec(20, 16, 3, 5, "relu"),
            "bn": MLPSpec(20, 16, 3, 5, "relu", batchnorm=True),
            "bn+dropout": MLPSpec(20, 16, 3, 5, "relu", batchnorm=True, dropout=0.3, dropout_layers=(1, 3)),
            "dropout": MLPSpec(20, 16, 3, 5, "relu", dropout=0.3, dropout_layers=(1, 3)),
            "dropout-before-bn": MLPSpec(20, 16, 3, 5, "relu", dropout=0.3, blocks=("drop bn act",) * 3),
            "uout+head": MLPSpec(20, 16, 3, 5, "relu", dropout=0.3, head_dropout=True,
                                 blocks=("uout bn act", "bn act", "act uout"))}[layout]
    seeds, lrs = [11, 12, 13], RATES[optimizer]
    model = MemberMLP(spec, seeds, ["he", "xavier", "he"]).to(device)
    assert_members_match_standalone_runs(model, split, optimizer, lrs, epochs=3)


def image_split(seed=0, n=320, side=6, classes=4, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, side * side, generator=g)
    y = (x[:, :classes] + 0.5 * torch.randn(n, classes, generator=g)).argmax(1)
    return Split(x[:256], y[:256], x[256:], y[256:], x[256:], y[256:]).to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("blocks,head", [(("act", "act", "act"), False), (("bn act", "bn act drop", "uout bn act"), True),
                                         (("drop bn act", "bn act", "act drop"), False)])
def test_cnn_member_k_equals_a_standalone_run_with_seed_k(optimizer, blocks, head, device, float64):
    split = image_split(device=device)
    spec = CNNSpec(channels=(4, 6, 6), pool_after=(1,), d_out=4, side=6, dropout=0.3, blocks=blocks,
                   head_dropout=head)
    seeds, lrs = [3, 4], {"momentum": [0.01, 0.02], "adam": [1e-3, 2e-3]}[optimizer]
    model = MemberCNN(spec, seeds, ["he", "xavier"]).to(device)
    assert_members_match_standalone_runs(model, split, optimizer, lrs, epochs=2)


def test_members_are_initialised_from_their_own_seed_whatever_the_batch():
    spec = MLPSpec(8, 6, 2, 3, "tanh")
    alone = MemberMLP(spec, [5], "xavier")
    batch = MemberMLP(spec, [1, 5, 9], "xavier")
    assert torch.equal(alone.linears[1].weight[0], batch.linears[1].weight[1])
    assert not torch.equal(batch.linears[1].weight[0], batch.linears[1].weight[1])


@pytest.mark.parametrize("name", list(train_mod.OPTIMIZERS))
def test_learning_rate_scaling_is_verified_exact_for_every_offered_optimizer(name):
    """Profiles are checked against the declared list; the list must say what stepping the optimizer shows."""
    assert lr_scaling_is_exact(name)
    assert name in train_mod.LINEAR_IN_LR


def test_per_member_learning_rate_is_refused_where_it_is_not_exact(monkeypatch):
    # ASGD's step is lr / (1 + lambd * lr * t) ** alpha: not linear in lr, so scaling an lr=1 step is not exact.
    monkeypatch.setitem(train_mod.OPTIMIZERS, "asgd", (torch.optim.ASGD, {}))
    lr_scaling_is_exact.cache_clear()
    assert not lr_scaling_is_exact("asgd")
    model = MemberMLP(MLPSpec(20, 8, 1, 5), [0, 1])
    with pytest.raises(ValueError, match="not linear in its learning rate"):
        train(model, gaussian_split(), TrainSpec("asgd", [0.01, 0.02], epochs=1))
    train(model, gaussian_split(), TrainSpec("asgd", [0.01, 0.01], epochs=1))  # one shared lr is fine


def test_a_diverging_member_is_recorded_and_leaves_the_others_alone():
    split = digits(0)
    model = MemberMLP(MLPSpec(64, 32, 3, 10, "relu"), [0, 1], "he")
    hist = train(model, split, TrainSpec("sgd", [0.1, 1e6], epochs=3))
    final = hist[-1]["train_loss"]
    assert math.isfinite(float(final[0])) and float(final[0]) < 0.6
    assert not math.isfinite(float(final[1]))
    assert float(hist[-1]["val_acc"][0]) > 0.8
