"""advlab.evaluate's robustness helpers: robust accuracy, adversarial examples, accuracy-vs-eps curves."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from advlab import attacks, data, evaluate
from advlab.models import SmallCNN


@pytest.fixture(scope="module")
def trained():
    """A SmallCNN fitted briefly on real mixture digits (plain Adam steps, no live plot)."""
    torch.manual_seed(0)
    x, y, _ = data.digit0_mixture("train", n=600, seed=0, source="bundled")
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(3):
        for i in range(0, len(x), 50):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[i : i + 50]), y[i : i + 50]).backward()
            optimizer.step()
    x_test, y_test, _ = data.digit0_mixture("test", n=120, seed=2, source="bundled")
    return model.eval(), x_test, y_test


def test_robust_accuracy_is_the_accuracy_on_the_attacked_images(trained):
    model, x, y = trained
    attack = functools.partial(attacks.fgsm, eps=0.1)
    x_adv = evaluate.adversarial_examples(model, x, y, attack, batch_size=50)
    assert torch.equal(x_adv, attacks.fgsm(model, x, y, 0.1))  # batching changes nothing
    robust = evaluate.robust_accuracy(model, x, y, attack, batch_size=37)
    assert robust == pytest.approx(evaluate.accuracy(model, x_adv, y))
    assert robust < evaluate.accuracy(model, x, y)  # FGSM at 0.1 hurts a natural model


def test_accuracy_vs_epsilon_starts_at_the_clean_accuracy_and_matches_robust_accuracy(trained):
    model, x, y = trained
    epsilons = [0.0, 0.05, 0.2]
    curve = evaluate.accuracy_vs_epsilon(model, x, y, epsilons, batch_size=40, progress=False)
    assert len(curve) == 3 and all(0 <= a <= 1 for a in curve)
    assert curve[0] == pytest.approx(evaluate.accuracy(model, x, y))
    assert curve[2] == pytest.approx(evaluate.robust_accuracy(model, x, y, functools.partial(attacks.fgsm, eps=0.2)))
    assert curve[2] < curve[0]


def test_pgd_curve_is_never_above_fgsm_curve_on_a_natural_model(trained):
    model, x, y = trained
    epsilons = torch.linspace(0, 0.3, 4)
    fgsm_curve = evaluate.accuracy_vs_epsilon(model, x, y, epsilons, progress=False)
    pgd_curve = evaluate.accuracy_vs_epsilon(
        model, x, y, epsilons, attack=lambda m, xb, yb, eps: attacks.pgd(m, xb, yb, eps, eps / 4, 10), progress=False
    )
    assert all(p <= f for p, f in zip(pgd_curve, fgsm_curve))


def test_helpers_leave_the_model_mode(trained):
    model, x, y = trained
    model.train()
    try:
        evaluate.accuracy_vs_epsilon(model, x[:10], y[:10], [0.1], progress=False)
        evaluate.robust_accuracy(model, x[:10], y[:10], functools.partial(attacks.fgm, eps=1.0))
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize(
    ("epsilons", "error", "argument"),
    [([], TypeError, "epsilons"), (0.1, TypeError, "epsilons"), ([0.1, -0.1], ValueError, r"epsilons\[1\]"),
     ([math.nan], ValueError, r"epsilons\[0\]"), ("0.1", TypeError, "epsilons")],
)
def test_accuracy_vs_epsilon_rejects_bad_epsilons(trained, epsilons, error, argument):
    model, x, y = trained
    with pytest.raises(error, match=argument):
        evaluate.accuracy_vs_epsilon(model, x[:4], y[:4], epsilons, progress=False)


def test_robust_accuracy_rejects_bad_arguments(trained):
    model, x, y = trained
    attack = functools.partial(attacks.fgsm, eps=0.1)
    with pytest.raises(ValueError, match="y"):
        evaluate.robust_accuracy(model, x, y[:3], attack)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate.robust_accuracy(model, x, y, attack, batch_size=0)
    with pytest.raises(TypeError, match="attack"):
        evaluate.robust_accuracy(model, x, y, "fgsm")


@pytest.fixture(scope="module")
def trained_curve_model(trained):
    model, x_test, y_test = trained
    return model, torch.cat([x_test, x_test[:80]]), torch.cat([y_test, y_test[:80]])  # 200 pairs: 4 batches of 50


def test_attack_curves_in_batches_equal_one_pgd_call_over_everything(trained_curve_model):
    """Aggregating per-batch callbacks gives the curves of one big attack, in one batch's memory."""
    model, x, y = trained_curve_model

    whole = {"loss": [], "accuracy": []}

    def record(state):
        whole["loss"].append(torch.nn.functional.cross_entropy(state.logits, y).item())
        whole["accuracy"].append((state.logits.argmax(1) == y).float().mean().item())

    attacks.pgd(model, x, y, 0.1, 0.02, 5, callback=record)
    seen = []
    curves = evaluate.attack_curves(
        model, x, y, lambda m, xb, yb, callback: attacks.pgd(m, xb, yb, 0.1, 0.02, 5, callback=callback),
        batch_size=50, on_batch=lambda done, running: seen.append(done))
    assert curves["step"] == list(range(6))
    assert curves["loss"] == pytest.approx(whole["loss"], rel=1e-4)
    assert curves["accuracy"] == pytest.approx(whole["accuracy"], abs=1e-6)
    assert seen == [50, 100, 150, 200]
    assert curves["loss"][-1] > curves["loss"][0] + 0.1  # the attack really climbed


def test_mean_loss_in_batches_is_the_mean_cross_entropy(trained_curve_model):
    model, x, y = trained_curve_model
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model.eval()(x), y).item()
    assert evaluate.mean_loss(model, x, y, batch_size=30) == pytest.approx(expected, rel=1e-5)
