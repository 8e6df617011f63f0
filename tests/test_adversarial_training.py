"""Adversarial training terms, the gradient penalty and the parameter perturbations of issue 4."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab import adversarial_training as at
from advlab import attacks, data
from advlab.models import SmallCNN
from advlab.train import Batch


@pytest.fixture(scope="module")
def digits():
    x, y, _ = data.digit0_mixture("train", n=64, seed=0, source="bundled")
    return x, y


def small_model(seed=0):
    torch.manual_seed(seed)
    return SmallCNN()


def batch_of(model, x, y):
    return Batch(x=x, y=y, logits=model(x), progress=0.0)


# ----------------------------------------------------------------------------- perturb_parameters
def embedding_model_with_grad(x, y, seed=0):
    torch.manual_seed(seed)
    model = at.PixelEmbeddingCNN()
    F.cross_entropy(model(x), y).backward()
    return model


def test_perturb_parameters_has_norm_eps_and_restores_bit_for_bit(digits):
    x, y = digits
    model = embedding_model_with_grad(x[:16], y[:16])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grad = model.embedding.weight.grad.clone()
    with attacks.perturb_parameters(model, ["embedding.weight"], 0.3) as deltas:
        change = model.embedding.weight.detach() - before["embedding.weight"]
        assert change.norm().item() == pytest.approx(0.3, rel=1e-4)
        assert torch.allclose(deltas["embedding.weight"], 0.3 * grad / grad.norm())
        assert torch.equal(model.body[0].weight, before["body.0.weight"])  # other weights untouched
    for name, param in model.named_parameters():
        assert torch.equal(param, before[name])


def test_perturb_parameters_restores_when_the_block_raises(digits):
    x, y = digits
    model = embedding_model_with_grad(x[:16], y[:16])
    before = model.embedding.weight.detach().clone()
    with pytest.raises(RuntimeError, match="boom"):
        with attacks.perturb_parameters(model, "embedding.weight", 1.0):
            assert not torch.equal(model.embedding.weight, before)
            raise RuntimeError("boom")
    assert torch.equal(model.embedding.weight, before)


def test_perturb_parameters_rejects_bad_arguments(digits):
    x, y = digits
    model = embedding_model_with_grad(x[:8], y[:8])
    with pytest.raises(ValueError, match="names.*word_embeddings"):
        with attacks.perturb_parameters(model, ["word_embeddings"], 1.0):
            pass
    with pytest.raises(ValueError, match="eps"):
        with attacks.perturb_parameters(model, ["embedding.weight"], -0.1):
            pass
    fresh = at.PixelEmbeddingCNN()
    with pytest.raises(ValueError, match="backward"):
        with attacks.perturb_parameters(fresh, ["embedding.weight"], 1.0):
            pass


def test_pgd_on_parameters_stays_in_the_ball_and_restores(digits):
    x, y = digits
    model = embedding_model_with_grad(x[:16], y[:16])
    before = model.embedding.weight.detach().clone()
    grad_before = model.embedding.weight.grad.clone()
    loss_fn = lambda: F.cross_entropy(model(x[:16]), y[:16])  # noqa: E731
    clean = loss_fn().item()
    with attacks.pgd_parameters(model, ["embedding.weight"], eps=0.5, alpha=0.2, steps=5, loss_fn=loss_fn) as deltas:
        distance = (model.embedding.weight.detach() - before).norm().item()
        assert distance <= 0.5 + 1e-5
        assert distance == pytest.approx(0.5, rel=1e-3)  # 5 steps of 0.2 reach the boundary
        assert loss_fn().item() > clean  # it climbed the loss
        assert torch.allclose(deltas["embedding.weight"], model.embedding.weight.detach() - before)
    assert torch.equal(model.embedding.weight, before)
    assert torch.equal(model.embedding.weight.grad, grad_before)  # autograd.grad left .grad alone
    with pytest.raises(ValueError, match="alpha"):
        with attacks.pgd_parameters(model, ["embedding.weight"], 0.5, 0.0, 5, loss_fn):
            pass


def test_the_seed_loop_trains_on_the_clean_loss_and_the_right_one_does_not(digits):
    x, y = digits
    model = embedding_model_with_grad(x[:16], y[:16])
    logits = model(x[:16])
    loss = F.cross_entropy(logits, y[:16])
    with attacks.perturb_parameters(model, ["embedding.weight"], 1.0):
        seed_adv = F.cross_entropy(logits, y[:16])  # the seed's bug: old logits
        right_adv = F.cross_entropy(model(x[:16]), y[:16])
    assert seed_adv.item() == loss.item()
    assert right_adv.item() > loss.item()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    clean, adversarial = at.embedding_fgm_step(model, optimizer, x[:16], y[:16], eps=1.0)
    assert adversarial > clean


# ----------------------------------------------------------------------------- AT terms
@pytest.mark.parametrize("method", at.METHODS)
def test_each_method_gives_a_finite_scalar_leaves_no_grad_and_is_seeded(digits, method):
    x, y = digits
    model = small_model()
    term = at.adversarial_loss(method, 0.1, seed=3)
    value = term(model, batch_of(model, x[:32], y[:32]))
    assert value.dim() == 0 and torch.isfinite(value)
    assert all(p.grad is None for p in model.parameters())  # the attack used autograd.grad only
    assert not term.last_x_adv.requires_grad
    assert (term.last_x_adv - x[:32]).abs().max() <= 0.1 + 1e-6
    again = at.adversarial_loss(method, 0.1, seed=3)(model, batch_of(model, x[:32], y[:32]))
    assert torch.equal(value, again)


@pytest.mark.parametrize("method", at.METHODS)
def test_each_method_trains(digits, method):
    x, y = digits[0][:24], digits[1][:24]
    model = small_model()
    setup = at.setup(method, 0.1, seed=0, **({"steps": 3} if method == "pgd" else {}))
    term = setup["extra_losses"]["adv loss"]
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

    def objective():
        logits = model(x)
        return setup["clean_weight"] * F.cross_entropy(logits, y) + term(model, Batch(x, y, logits, 0.0))

    first = objective()
    for _ in range(8):
        optimizer.zero_grad()
        objective().backward()
        optimizer.step()
    term.generator.manual_seed(0)
    assert objective().item() < first.item()


def test_fgsm_term_is_half_clean_plus_half_adversarial(digits):
    x, y = digits
    model = small_model()
    term = at.adversarial_loss("fgsm", 0.1)
    logits = model(x)
    total = term.clean_weight * F.cross_entropy(logits, y) + term(model, Batch(x, y, logits, 0.0))
    expected = 0.5 * F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(attacks.fgsm(model, x, y, 0.1)), y)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert at.adversarial_loss("pgd", 0.1).clean_weight == 0.0


def test_fast_at_is_one_step_of_1_25_eps_from_a_seeded_uniform_start(digits):
    x, y = digits
    model = small_model()
    term = at.adversarial_loss("fast", 0.1, seed=5)
    assert term.alpha == pytest.approx(0.125)
    x_adv = term.attack(model, x, y)
    start = (x + torch.rand(x.shape, generator=torch.Generator().manual_seed(5)) * 0.2 - 0.1).clamp(0, 1)
    grad = torch.autograd.grad(F.cross_entropy(model(start.requires_grad_()), y), start)[0]
    expected = (x + (start + 0.125 * grad.sign() - x).clamp(-0.1, 0.1)).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-6)


def test_fast_without_random_start_and_step_eps_is_fgsm(digits):
    x, y = digits
    model = small_model()
    term = at.adversarial_loss("fast", 0.1, alpha=0.1, random_start=False)
    assert term.clean_weight == 0.0
    assert torch.equal(term.attack(model, x, y), attacks.fgsm(model, x, y, 0.1))
    assert not torch.equal(at.adversarial_loss("fast", 0.1, alpha=0.1).attack(model, x, y), attacks.fgsm(model, x, y, 0.1))


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="method"):
        at.adversarial_loss("trades", 0.1)
    with pytest.raises(ValueError, match="eps"):
        at.adversarial_loss("pgd", -0.1)
    with pytest.raises(TypeError, match="steps"):
        at.adversarial_loss("pgd", 0.1, steps=2.5)
    with pytest.raises(ValueError, match="alpha"):
        at.adversarial_loss("fgsm", 0.1, alpha=0.01)
    with pytest.raises(ValueError, match="random_start"):
        at.adversarial_loss("fgm", 0.1, random_start=False)
    with pytest.raises(TypeError, match="random_start"):
        at.adversarial_loss("fast", 0.1, random_start="no")
    with pytest.raises(ValueError, match="norm"):
        at.gradient_penalty(0.1, norm="inf")
    with pytest.raises(ValueError, match="eps"):
        at.gradient_penalty(-1.0)


# ----------------------------------------------------------------------------- gradient penalty
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 3))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("norm", ["2", "1"])
def test_gradient_penalty_matches_a_per_sample_check_and_finite_differences(norm):
    model = TinyNet().double()
    x = torch.rand(4, 1, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1])
    penalty = at.gradient_penalty(0.3, norm=norm)(model, Batch(x, y, model(x), 0.0))
    norms = []
    for i in range(4):  # one sample at a time: its own loss's gradient
        xi = x[i : i + 1].clone().requires_grad_()
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi), y[i : i + 1]), xi)
        norms.append(g.norm(p=int(norm)))
    assert penalty.item() == pytest.approx(0.3 * torch.stack(norms).mean().item(), rel=1e-10)
    # double backprop: the penalty's gradient in a weight matches central finite differences
    weight = model.net[1].weight
    (analytic,) = torch.autograd.grad(penalty, weight)
    h = 1e-6
    with torch.no_grad():
        weight[0, 0] += h
        up = at.gradient_penalty(0.3, norm=norm)(model, Batch(x, y, None, 0.0))
        weight[0, 0] -= 2 * h
        down = at.gradient_penalty(0.3, norm=norm)(model, Batch(x, y, None, 0.0))
        weight[0, 0] += h
    assert analytic[0, 0].item() == pytest.approx(((up - down) / (2 * h)).item(), rel=1e-5)


def test_gradient_penalty_is_the_first_order_fgm_gain():
    """L(fgm(x, eps)) - L(x) = eps * ||grad_x L|| + O(eps^2) on a smooth model (ReLU/max-pool ties would add kinks)."""
    model = TinyNet().double()
    x = 0.2 + 0.6 * torch.rand(6, 1, 3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    norms = at.input_gradient_norms(model, x, y, "2")
    errors = []
    for eps in (1e-2, 1e-4):
        gain = torch.stack([
            F.cross_entropy(model(attacks.fgm(model, x[i : i + 1], y[i : i + 1], eps)), y[i : i + 1])
            - F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]) for i in range(len(x))
        ])
        errors.append(((gain - eps * norms).abs() / (eps * norms)).max().item())
    assert errors[1] < 1e-3 and errors[1] < errors[0] / 10


def test_passes_per_batch_counts_the_attack_the_adversarial_and_the_clean_pass():
    assert at.adversarial_loss("fgsm", 0.1).passes_per_batch == 3  # attack, adversarial, clean (weight 1/2)
    assert at.adversarial_loss("fgm", 1.0).passes_per_batch == 3
    assert at.adversarial_loss("pgd", 0.1, steps=7).passes_per_batch == 8  # no clean term (weight 0)
    assert at.adversarial_loss("fast", 0.1).passes_per_batch == 2


# ----------------------------------------------------------------------------- GradAlign
def _relu_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def test_grad_align_is_zero_for_a_linear_model_whose_input_gradient_never_turns(small_mixture):
    # binary CE on a linear model: grad_x = (p_1 - y)(w_1 - w_0), the same direction everywhere for a given label
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 2))
    x, y = small_mixture[0][:64], small_mixture[1][:64]
    value = at.grad_align(0.3, weight=1.0)(linear, Batch(x, y, None, 0.0))
    assert abs(value.item()) < 1e-5


def test_grad_align_matches_a_by_hand_cosine_and_reaches_the_parameters(small_mixture):
    net = _relu_net()
    x, y = small_mixture[0][:64].clone(), small_mixture[1][:64].clone()
    x_before, weights_before = x.clone(), [p.detach().clone() for p in net.parameters()]
    value = at.grad_align(0.3, weight=0.5, seed=3)(net, Batch(x, y, None, 0.0))
    eta = (torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * 0.3
    by_hand = []
    for point in (x, (x + eta).clamp(0, 1)):
        point = point.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(net(point), y, reduction="sum"), point)
        by_hand.append(g.flatten(1))
    expected = 0.5 * (1 - F.cosine_similarity(by_hand[0], by_hand[1], dim=1).mean())
    assert value.item() > 0.01, "a ReLU network's input gradient turns inside a 0.3 ball"
    assert torch.allclose(value, expected, atol=1e-6)
    grads = torch.autograd.grad(value, list(net.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "double backprop reaches the weights"
    assert torch.equal(x, x_before) and all(torch.equal(a, b) for a, b in zip(weights_before, net.parameters()))


def test_grad_align_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="weight"):
        at.grad_align(0.3, weight=-1.0)
    with pytest.raises(ValueError, match="eps"):
        at.grad_align(-0.1, weight=1.0)
