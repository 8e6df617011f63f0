"""Tests for advlab.grl: the gradient reversal layer, DANN's schedules, GRLNet and its loss terms."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from advlab import data, grl
from advlab.models import SmallCNN
from advlab.train import Batch, fit


def _input(seed=0, shape=(4, 6)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- the layer
@settings(max_examples=25, deadline=None)
@given(lambd=st.floats(0, 10), seed=st.integers(0, 1000))
def test_gradient_is_minus_lambda_times_the_identity_gradient(lambd, seed):
    x, upstream = _input(seed), _input(seed + 1)
    leaf = x.clone().requires_grad_(True)
    grl.grad_reverse(leaf, lambd).backward(upstream)
    identity = x.clone().requires_grad_(True)
    identity.backward(upstream)
    assert torch.allclose(leaf.grad, -lambd * identity.grad)


def test_gradient_through_a_network_is_reversed():
    """A loss behind the GRL gives the input exactly -lambda times the gradient it would get without it."""
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 3)
    x = _input()
    plain = x.clone().requires_grad_(True)
    head(plain).pow(2).sum().backward()
    reversed_ = x.clone().requires_grad_(True)
    head(grl.GradientReversal(0.5)(reversed_)).pow(2).sum().backward()
    assert torch.allclose(reversed_.grad, -0.5 * plain.grad)


def test_autograd_jacobian_is_minus_lambda_identity():
    """The full Jacobian autograd sees through the layer is -lambda I (the identity's is I)."""
    x = _input(shape=(3, 2)).double()
    (jacobian,) = torch.autograd.functional.jacobian(lambda t: grl.grad_reverse(t, 2.0), (x,))
    assert torch.equal(jacobian, -2.0 * torch.eye(6, dtype=torch.float64).view(3, 2, 3, 2))


def test_forward_is_the_identity():
    x = _input()
    out = grl.grad_reverse(x.clone().requires_grad_(True), 3.0)
    assert torch.equal(out, x)
    assert torch.equal(grl.GradientReversal(1.0)(x), x)


def test_zero_lambda_blocks_the_gradient():
    leaf = _input().requires_grad_(True)
    grl.grad_reverse(leaf, 0.0).sum().backward()
    assert torch.equal(leaf.grad, torch.zeros_like(leaf))


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
                                        ("1", TypeError), (None, TypeError), (True, TypeError)])
def test_bad_lambda_raises_naming_it(bad, error):
    with pytest.raises(error, match="lambd"):
        grl.grad_reverse(_input(), bad)
    with pytest.raises(error, match="lambd"):
        grl.GradientReversal(bad)


def test_non_tensor_input_raises():
    with pytest.raises(TypeError, match="x"):
        grl.grad_reverse([1.0, 2.0], 1.0)


# ----------------------------------------------------------------------------- schedules
def test_lambda_schedule_endpoints():
    assert grl.dann_lambda(0.0) == 0.0
    assert grl.dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert 0.9999 < grl.dann_lambda(1.0) < 1.0


def test_lambda_schedule_is_increasing_and_bounded():
    for gamma in (1.0, 10.0, 30.0):
        values = [grl.dann_lambda(i / 100, gamma) for i in range(101)]
        assert all(a < b for a, b in zip(values, values[1:])), f"not increasing for gamma={gamma}"
        assert all(0.0 <= v < 1.0 for v in values)


def test_larger_gamma_ramps_faster():
    assert grl.dann_lambda(0.2, 20.0) > grl.dann_lambda(0.2, 10.0) > grl.dann_lambda(0.2, 2.0)


def test_lr_factor_endpoints_and_monotone():
    assert grl.dann_lr_factor(0.0) == 1.0
    assert grl.dann_lr_factor(1.0) == pytest.approx(11 ** -0.75)
    values = [grl.dann_lr_factor(i / 50) for i in range(51)]
    assert all(a > b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_progress_outside_unit_interval_raises(p):
    with pytest.raises(ValueError, match="p must"):
        grl.dann_lambda(p)
    with pytest.raises(ValueError, match="p must"):
        grl.dann_lr_factor(p)


@pytest.mark.parametrize("gamma", [0.0, -1.0])
def test_bad_gamma_raises(gamma):
    with pytest.raises(ValueError, match="gamma"):
        grl.dann_lambda(0.5, gamma)


def test_lr_factor_drives_fits_learning_rate():
    """fit multiplies the base lr by lr_schedule(p): the last step's lr is lr * dann_lr_factor(p_last)."""
    x, y = data.mnist10("train", n=64, seed=0, source="bundled")
    model = SmallCNN(10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(model, (x, y), epochs=1, batch_size=16, optimizer=optimizer, lr_schedule=grl.dann_lr_factor, live=False, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * grl.dann_lr_factor(3 / 4))


# ----------------------------------------------------------------------------- model and terms
def test_grlnet_shares_features_and_starts_like_a_plain_smallcnn():
    x, _ = data.mnist10("test", n=8, seed=0, source="bundled")
    torch.manual_seed(3)
    net = grl.GRLNet(10)
    torch.manual_seed(3)
    plain = SmallCNN(10)
    assert torch.equal(net(x), plain(x))
    assert net.features(x).shape == (8, 1764)
    assert net.adversary_logits(x).shape == (8, 2)
    assert isinstance(grl.GRLNet(2, hidden=0).adversary, torch.nn.Linear)


def test_domain_head_learns_while_features_get_the_reversed_gradient():
    x, _ = data.mnist10("test", n=16, seed=0, source="bundled")
    torch.manual_seed(0)
    net = grl.GRLNet(10)
    domains = torch.arange(16) % 2
    loss = torch.nn.functional.cross_entropy(net.adversary_logits(x, 0.5), domains)
    head_grad = torch.autograd.grad(loss, net.adversary[0].weight, retain_graph=True)[0]
    feature_grad = torch.autograd.grad(loss, net.cnn.extractor[0].weight)[0]
    net.zero_grad()
    plain_loss = torch.nn.functional.cross_entropy(net.adversary(net.features(x)), domains)
    plain_feature_grad = torch.autograd.grad(plain_loss, net.cnn.extractor[0].weight)[0]
    assert head_grad.abs().sum() > 0
    assert torch.allclose(feature_grad, -0.5 * plain_feature_grad, atol=1e-6)


def test_flipped_label_loss_targets_one_minus_y():
    x, y, _ = data.digit0_mixture("test", n=32, seed=0, source="bundled")
    torch.manual_seed(0)
    net = grl.GRLNet(2, hidden=0)
    batch = Batch(x=x, y=y, logits=net(x), progress=0.5)
    expected = torch.nn.functional.cross_entropy(net.adversary(net.features(x)), 1 - y)
    assert torch.allclose(grl.FlippedLabelLoss()(net, batch), expected)


def test_domain_loss_uses_scheduled_lambda_and_draws_reproducibly():
    x_source, _ = data.mnist10("train", n=16, seed=0, source="bundled")
    x_target, _ = data.shifted_mnist("train", n=40, seed=1, source="bundled")
    term_a = grl.DomainAdversarialLoss(x_target, lambd=0.5, seed=7)
    term_b = grl.DomainAdversarialLoss(x_target, lambd=0.5, seed=7)
    draws_a = [term_a.draw_target(16) for _ in range(5)]
    draws_b = [term_b.draw_target(16) for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(draws_a, draws_b))
    # shuffled passes: the first 40 draws are the 40 target images, each once
    first_pass = torch.cat(draws_a)[:40].flatten(1)
    assert len(torch.unique(first_pass, dim=0)) == 40
    torch.manual_seed(0)
    net = grl.GRLNet(10)
    term_a(net, Batch(x=x_source, y=torch.zeros(16, dtype=torch.long), logits=net(x_source), progress=0.3))
    assert term_a.last_lambda == pytest.approx(0.5 * grl.dann_lambda(0.3))
    constant = grl.DomainAdversarialLoss(x_target, lambd=0.5, schedule=False)
    constant(net, Batch(x=x_source, y=torch.zeros(16, dtype=torch.long), logits=net(x_source), progress=0.3))
    assert constant.last_lambda == 0.5


def test_domain_loss_rejects_bad_target_images():
    with pytest.raises(ValueError, match="target_x"):
        grl.DomainAdversarialLoss(torch.full((4, 1, 28, 28), 2.0))
    with pytest.raises(ValueError, match="lambd"):
        grl.DomainAdversarialLoss(torch.zeros(4, 1, 28, 28), lambd=-1.0)


def test_dann_plugs_into_fit_and_is_reproducible():
    x_source, y_source = data.mnist10("train", n=64, seed=0, source="bundled")
    x_target, _ = data.shifted_mnist("train", n=64, seed=1, source="bundled")

    def run():
        torch.manual_seed(0)
        net = grl.GRLNet(10)
        history = fit(net, (x_source, y_source), epochs=1, batch_size=32, live=False, progress=False,
                      extra_losses={"domain loss": grl.DomainAdversarialLoss(x_target, seed=0)},
                      metrics={"domain acc": lambda m: grl.domain_accuracy(m, x_source[:8], x_target[:8])})
        return history

    first, second = run(), run()
    assert first.values("domain loss") == second.values("domain loss")
    assert 0.0 <= first.last("domain acc") <= 1.0


def test_adversary_accuracy_checks_labels():
    x, _ = data.mnist10("test", n=4, seed=0, source="bundled")
    with pytest.raises(ValueError, match="labels"):
        grl.adversary_accuracy(grl.GRLNet(10), x, torch.zeros(3, dtype=torch.long))


def test_proxy_a_distance_is_two_for_separable_domains_and_near_zero_for_one_domain():
    # the statistic's two ends depend on the distributions alone: two clouds far apart, one cloud split in two
    generator = torch.Generator().manual_seed(0)
    cloud = torch.randn(600, 8, generator=generator)
    assert grl.proxy_a_distance(cloud[:300], cloud[300:] + 6.0, seed=0) == 2.0
    same = grl.proxy_a_distance(cloud[:300], cloud[300:], seed=0)
    assert abs(same) < 0.3, f"one distribution split in two: the judge guesses, d_A = {same:.2f}"
    assert grl.proxy_a_distance(cloud[:300], cloud[300:], seed=0) == same, "a seed gives the same number twice"


def test_proxy_a_distance_leaves_the_callers_rng_and_features_alone():
    features = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    before = features.clone()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    grl.proxy_a_distance(features[:50], features[50:], seed=5, steps=20)  # views of the caller's tensor
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.equal(features, before)


def test_proxy_a_distance_names_a_bad_argument():
    with pytest.raises(ValueError, match="target_features"):
        grl.proxy_a_distance(torch.zeros(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="same width"):
        grl.proxy_a_distance(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(ValueError, match="steps"):
        grl.proxy_a_distance(torch.zeros(10, 3), torch.ones(10, 3), steps=0)
