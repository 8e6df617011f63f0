"""Virtual adversarial training: the direction is the Hessian's top eigenvector, and the
computation leaves the model (grads, BatchNorm statistics, mode) and the input alone."""

import pytest
import torch
from torch import nn

from advlab import attacks, data, vat
from advlab.models import SmallCNN
from advlab.train import Batch, fit


@pytest.fixture(scope="module")
def digits():
    x, y = data.mnist10("train", n=48, seed=0, source="bundled")
    return x, y


def bn_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 28 * 28, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10),
    )


def bn_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}


def per_sample_cosine(a, b):
    return nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


# ----------------------------------------------------------------------------- the maths
def test_direction_is_top_eigenvector_of_softmax_regression_hessian():
    torch.manual_seed(0)
    model = nn.Linear(6, 4, bias=True).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    r = vat.virtual_adversarial_perturbation(model, x, xi=1e-4, eps=1.0, power_iterations=40,
                                             generator=torch.Generator().manual_seed(1))
    W = model.weight.detach()
    p = model(x).softmax(dim=1).detach()
    for i in range(len(x)):
        hessian = W.T @ (torch.diag(p[i]) - torch.outer(p[i], p[i])) @ W
        top = torch.linalg.eigh(hessian).eigenvectors[:, -1]
        assert abs(torch.dot(r[i], top)) / r[i].norm() > 0.99


def test_one_power_iteration_matches_hessian_times_d():
    """grad_d KL(p || p(x + xi d)) / xi ~ H d for small xi, so K=1 gives the direction of H d."""
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    d = torch.randn(4, 6, dtype=torch.float64)
    r = vat.virtual_adversarial_perturbation(model, x, xi=1e-5, eps=1.0, d=d)
    W, p = model.weight.detach(), model(x).softmax(dim=1).detach()
    for i in range(len(x)):
        hd = W.T @ (torch.diag(p[i]) - torch.outer(p[i], p[i])) @ W @ d[i]
        assert torch.dot(r[i], hd / hd.norm()) > 0.999


def test_perturbation_norm_is_eps_per_sample(digits):
    x, _ = digits
    model = SmallCNN(10)
    for eps in (0.5, 2.0):
        r = vat.virtual_adversarial_perturbation(model, x, eps=eps, generator=torch.Generator().manual_seed(0))
        assert r.shape == x.shape
        torch.testing.assert_close(r.flatten(1).norm(dim=1), torch.full((len(x),), eps), rtol=1e-5, atol=1e-6)


def test_kl_larger_along_vadv_than_random(digits):
    x, y = digits
    torch.manual_seed(0)
    model = SmallCNN(10)
    fit(model, (x, y), epochs=3, batch_size=16, live=False, progress=False)
    model.eval()
    with torch.no_grad():
        clean = model(x)
    r = vat.virtual_adversarial_perturbation(model, x, eps=2.0, power_iterations=2, generator=torch.Generator().manual_seed(0))
    random = 2.0 * attacks.unit_l2(torch.randn(x.shape, generator=torch.Generator().manual_seed(5)))
    with torch.no_grad():
        kl_vadv = vat.kl_from_logits(clean, model(x + r))
        kl_random = vat.kl_from_logits(clean, model(x + random))
    assert kl_vadv > 5 * kl_random


def test_kl_is_zero_for_equal_logits_and_positive_otherwise():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    assert vat.kl_from_logits(logits, logits).abs() < 1e-7
    other = torch.tensor([[0.0, 3.0, 1.0]])
    p, q = logits.softmax(1)[0], other.softmax(1)[0]
    assert vat.kl_from_logits(logits, other).item() == pytest.approx((p * (p / q).log()).sum().item(), rel=1e-5)
    assert vat.entropy_from_logits(torch.zeros(2, 4)).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


# ----------------------------------------------------------------------------- leaves things alone
def test_no_gradient_lands_in_parameters(digits):
    x, _ = digits
    model = SmallCNN(10)
    vat.virtual_adversarial_perturbation(model, x[:8], power_iterations=2)
    assert all(p.grad is None for p in model.parameters())
    model(x[:8]).sum().backward()
    before = [p.grad.clone() for p in model.parameters()]
    vat.virtual_adversarial_perturbation(model, x[:8])
    assert all(torch.equal(b, p.grad) for b, p in zip(before, model.parameters()))


def test_loss_trains_parameters_but_perturbation_is_detached(digits):
    x, _ = digits
    model = SmallCNN(10)
    loss = vat.vat_loss(model, x[:8], eps=2.0)
    assert loss.item() >= 0 and loss.requires_grad
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert not vat.virtual_adversarial_perturbation(model, x[:8]).requires_grad


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_statistics_and_mode_unchanged(digits, training):
    x, _ = digits
    model = bn_model().train(training)
    before = bn_state(model)
    vat.virtual_adversarial_perturbation(model, x, power_iterations=2)
    vat.vat_loss(model, x).backward()
    after = bn_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training == training and all(m.training == training for m in model.modules())


def test_batchnorm_statistics_restored_after_an_exception(digits):
    x, _ = digits
    model = bn_model().train()
    before = bn_state(model)
    with pytest.raises(RuntimeError, match="boom"):
        with vat.frozen_batchnorm_stats(model):
            model(x)
            raise RuntimeError("boom")
    assert all(torch.equal(before[k], v) for k, v in bn_state(model).items())


def test_a_clean_forward_pass_does_update_batchnorm(digits):
    """Control for the test above: the BatchNorm layers really are live in train mode."""
    x, _ = digits
    model = bn_model().train()
    before = bn_state(model)
    model(x)
    assert not torch.equal(before["1.running_mean"], bn_state(model)["1.running_mean"])


def test_input_not_mutated_and_seed_reproducible(digits):
    x, _ = digits
    model = SmallCNN(10)
    copy = x.clone()
    r1 = vat.virtual_adversarial_perturbation(model, x, generator=torch.Generator().manual_seed(3))
    r2 = vat.virtual_adversarial_perturbation(model, x, generator=torch.Generator().manual_seed(3))
    r3 = vat.virtual_adversarial_perturbation(model, x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(x, copy)
    assert torch.equal(r1, r2) and not torch.equal(r1, r3)
    torch.manual_seed(7)
    g1 = vat.vat_loss(model, x)
    torch.manual_seed(7)
    assert torch.equal(g1, vat.vat_loss(model, x))


# ----------------------------------------------------------------------------- the fit() term
def test_vat_term_in_fit_draws_unlabelled_batches_and_keeps_bn(digits):
    x, y = digits
    unlabelled = data.mnist10("train", n=40, seed=1, source="bundled")[0]
    term = vat.VATLoss(unlabelled, unlabelled_batch_size=16, eps=1.0, entmin_weight=0.5, seed=0)
    drawn = torch.cat([term.next_unlabelled() for _ in range(5)])  # 80 = two full passes
    assert all(int((drawn == img).all(dim=(1, 2, 3)).sum()) == 2 for img in unlabelled)

    model = bn_model()
    history = fit(model, (x, y), epochs=1, batch_size=16, extra_losses={"vat loss": term}, live=False, progress=False)
    assert len(history.values("vat loss")) > 0 and term.last_lds >= 0 and term.last_entropy >= 0

    model.train()
    batch = Batch(x=x[:8], y=y[:8], logits=model(x[:8]), progress=0.5)
    before = bn_state(model)
    supervised_term = vat.VATLoss(None, eps=1.0)
    supervised_term(model, batch)
    assert all(torch.equal(before[k], v) for k, v in bn_state(model).items())


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"eps": -1.0}, ValueError, "eps"),
        ({"eps": float("nan")}, ValueError, "eps"),
        ({"xi": 0.0}, ValueError, "xi"),
        ({"power_iterations": 0}, ValueError, "power_iterations"),
        ({"power_iterations": 1.5}, TypeError, "power_iterations"),
        ({"d": torch.zeros(2, 1, 28, 28)}, ValueError, "d"),
    ],
)
def test_bad_arguments_raise_naming_them(digits, kwargs, error, name):
    x, _ = digits
    with pytest.raises(error, match=name):
        vat.virtual_adversarial_perturbation(SmallCNN(10), x[:4], **kwargs)


def test_bad_inputs_raise():
    with pytest.raises(TypeError, match="x"):
        vat.vat_loss(SmallCNN(10), torch.zeros(2, 1, 28, 28, dtype=torch.int64))
    with pytest.raises(TypeError, match="unlabelled_x"):
        vat.VATLoss([1, 2, 3])
    with pytest.raises(ValueError, match="alpha"):
        vat.VATLoss(None, alpha=-1)
    with pytest.raises(ValueError, match="unlabelled_batch_size"):
        vat.VATLoss(None, unlabelled_batch_size=0)
