"""Randomized smoothing of advlab.smoothing (issue 14), checked against the closed form of a linear classifier."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import beta, binomtest, norm
from torch import nn

from advlab import certify, smoothing
from advlab.train import Batch

SIGMA, N, ALPHA = 0.5, 4000, 0.001


def linear_classifier(w: torch.Tensor, b: float) -> nn.Linear:
    """Logits (0, w·x + b): class 1 exactly when w·x + b > 0."""
    model = nn.Linear(len(w), 2)
    with torch.no_grad():
        model.weight.copy_(torch.stack([torch.zeros_like(w), w]))
        model.bias.copy_(torch.tensor([0.0, b]))
    return model.eval()


@pytest.fixture(scope="module")
def setting():
    w = torch.tensor([1.0, -2.0, 0.5, 2.0, 0.0, 1.0, -1.0, 0.5, 0.0, 1.5])
    model = linear_classifier(w, b=-0.8)
    distance = torch.tensor([-0.9, -0.4, -0.1, 0.03, 0.2, 0.5, 1.2])  # signed distances to the boundary w·x = 0.8
    base = torch.rand(len(distance), 10, generator=torch.Generator().manual_seed(0))
    base = base - ((base @ w - 0.8) / w.dot(w))[:, None] * w  # onto the boundary
    x = base + distance[:, None] * w / w.norm()
    assert torch.allclose((x @ w - 0.8) / w.norm(), distance, atol=1e-5)
    return model, x, distance.double()


def radius_for_count(count: float) -> float:
    return SIGMA * norm.ppf(beta.ppf(ALPHA, count, N - count + 1))


def test_certificate_matches_the_closed_form_of_a_linear_classifier(setting):
    """g(x) is the side of the hyperplane; p_A = Phi(|d|/sigma); the exact radius sigma·Phi^-1(p_A) = |d|.

    The certified radius uses a lower bound of p_A, so it lies below |d| but within what the
    binomial spread of n_A (4 standard deviations) allows."""
    model, x, distance = setting
    cert = smoothing.smoothed_certify(model, x, SIGMA, n0=100, n=N, alpha=ALPHA, generator=torch.Generator().manual_seed(1))
    p_a = norm.cdf(distance.abs().numpy() / SIGMA)
    for i in range(len(x)):
        expected_class = int(distance[i] > 0)
        spread = 4 * math.sqrt(N * p_a[i] * (1 - p_a[i]))
        low, high = radius_for_count(N * p_a[i] - spread), radius_for_count(min(N * p_a[i] + spread, N))
        if low <= 0:  # too close to the boundary to certify reliably: skip, but such points must not be wrong
            assert cert.prediction[i] in (expected_class, smoothing.ABSTAIN)
            continue
        assert cert.prediction[i] == expected_class
        assert low <= cert.radius[i] <= high
        assert cert.radius[i] < abs(distance[i]), "the certificate never exceeds the true radius"
    assert (cert.prediction != smoothing.ABSTAIN).sum() >= 4, "the test must certify most points to mean anything"
    assert cert.forward_passes == len(x) * (100 + N)


def test_p_lower_is_the_exact_one_sided_clopper_pearson_bound():
    for k, n in [(1, 10), (50, 100), (990, 1000), (1000, 1000)]:
        two_sided = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * ALPHA, method="exact").low
        assert smoothing.clopper_pearson_lower(k, n, ALPHA) == pytest.approx(two_sided, rel=1e-9)


def test_abstains_on_the_decision_boundary_and_predict_agrees_elsewhere(setting):
    model, x, distance = setting
    w = model.weight[1].detach()
    on_boundary = (x[:1] - ((x[:1] @ w - 0.8) / w.dot(w)) * w)  # projected onto w·x = 0.8
    cert = certify.smoothed_certify(model, on_boundary, SIGMA, n0=100, n=N, alpha=ALPHA,
                                    generator=torch.Generator().manual_seed(2))
    assert cert.prediction.item() == smoothing.ABSTAIN and cert.radius.item() == 0.0
    answers = certify.smoothed_predict(model, torch.cat([on_boundary, x]), SIGMA, n=N, alpha=ALPHA,
                                       generator=torch.Generator().manual_seed(3))
    assert answers[0] == smoothing.ABSTAIN
    far = distance.abs() > 0.3
    assert far.any() and torch.equal(answers[1:][far], (distance[far] > 0).long())


def test_same_generator_same_certificate(setting):
    model, x, _ = setting
    runs = [smoothing.smoothed_certify(model, x, SIGMA, n0=50, n=500, generator=torch.Generator().manual_seed(7))
            for _ in range(2)]
    assert torch.equal(runs[0].radius, runs[1].radius) and torch.equal(runs[0].prediction, runs[1].prediction)


def test_noise_augmentation_trains_on_noisy_copies_reproducibly(setting):
    model, x, distance = setting
    y = (distance > 0).long()
    batch = Batch(x=x, y=y, logits=model(x), progress=0.5)
    losses = [smoothing.NoiseAugmentation(sigma=1.0, seed=0)(model, batch).item() for _ in range(2)]
    assert losses[0] == losses[1]
    clean = torch.nn.functional.cross_entropy(model(x), y).item()
    assert abs(losses[0] - clean) > 1e-3 and smoothing.NoiseAugmentation(0.0)(model, batch).item() == pytest.approx(clean)


def test_bad_input_raises_naming_it(setting):
    model, x, _ = setting
    with pytest.raises(ValueError, match="sigma"):
        smoothing.smoothed_certify(model, x, -0.5)
    with pytest.raises(ValueError, match="alpha"):
        smoothing.smoothed_certify(model, x, 0.5, alpha=1.5)
    with pytest.raises(ValueError, match="x"):
        smoothing.smoothed_predict(model, torch.full_like(x, float("nan")), 0.5)
    with pytest.raises(ValueError, match="n0"):
        smoothing.smoothed_certify(model, x, 0.5, n0=0)
    with pytest.raises(TypeError, match="generator"):
        smoothing.smoothed_certify(model, x, 0.5, generator=0)
