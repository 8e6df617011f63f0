"""advlab.evaluate.worst_case_accuracy: the AutoAttack-style ensemble's bookkeeping and its contracts.

Runs on a SmallCNN trained for two epochs on 1000 real digit-0 mixture pairs (bundled MNIST).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab import attacks, data, evaluate, train
from advlab.models import SmallCNN


@pytest.fixture(scope="session")
def trained_cnn_worst():
    x, y, _ = data.digit0_mixture("train", n=1000, seed=0, source="bundled")
    x_test, y_test, _ = data.digit0_mixture("test", n=200, seed=1, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    train.fit(model, (x, y), epochs=2, live=False, progress=False)
    return model.eval(), x_test, y_test


def deterministic_ensemble():
    """Two attacks without randomness, so running them on any subset gives the same per-sample result."""
    return {
        "FGSM": lambda m, x, y, eps, norm, g: attacks.fgsm(m, x, y, eps),
        "PGD-10": lambda m, x, y, eps, norm, g: attacks.pgd(m, x, y, eps, eps / 4, 10),
    }


def small_ensemble():
    return evaluate.default_ensemble(pgd_steps=5, pgd_restarts=2, apgd_steps=10, square_queries=30)


def test_worst_case_is_the_and_of_every_attack_and_the_clean_prediction(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    result = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=small_ensemble(), cascade=False,
                                          batch_size=64, progress=False)
    clean = evaluate.predict(model, x) == y
    expected = clean.clone()
    for name, correct in result.per_attack_correct.items():
        assert not (correct & ~clean).any(), f"{name}: a misclassified sample cannot be robust"
        expected &= correct
    assert torch.equal(result.correct, expected)
    assert result.accuracy == pytest.approx(expected.float().mean().item())
    assert result.accuracy <= min(result.per_attack.values()) <= result.clean_accuracy
    assert result.clean_accuracy - result.accuracy > 0.1, "eps = 0.1 must hurt this standard model"
    assert list(result.row()) == ["clean", "PGD-5 x2", "APGD-CE", "APGD-margin", "Square", "worst case"]


def test_the_pgd_column_equals_robust_accuracy_of_the_same_attack(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    result = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=deterministic_ensemble(), cascade=False,
                                          progress=False)
    pgd = evaluate.robust_accuracy(model, x, y, lambda m, xb, yb: attacks.pgd(m, xb, yb, 0.1, 0.025, 10))
    assert result.per_attack["PGD-10"] == pytest.approx(pgd)


def test_cascade_gives_the_same_worst_case_with_cumulative_columns(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    full = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=deterministic_ensemble(), cascade=False,
                                        batch_size=50, progress=False)
    cascade = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=deterministic_ensemble(), cascade=True,
                                           batch_size=50, progress=False)
    assert torch.equal(full.correct, cascade.correct)
    assert cascade.per_attack["FGSM"] == pytest.approx(full.per_attack["FGSM"])
    assert cascade.per_attack["PGD-10"] == pytest.approx(full.accuracy)  # the last column is the worst case
    assert full.per_attack["FGSM"] > full.accuracy, "PGD must break samples FGSM leaves standing"


def test_same_seed_same_numbers_and_model_untouched(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    x, y = x[:80], y[:80]
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_before = x.clone()
    try:
        first = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=small_ensemble(), seed=3, progress=False)
        again = evaluate.worst_case_accuracy(model, x, y, 0.1, attacks=small_ensemble(), seed=3, progress=False)
        assert model.training
    finally:
        model.eval()
    assert torch.equal(first.correct, again.correct) and first.per_attack == again.per_attack
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items()) and torch.equal(x, x_before)
    assert all(p.grad is None for p in model.parameters())


def test_eps_zero_is_the_clean_accuracy(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    result = evaluate.worst_case_accuracy(model, x, y, 0.0, attacks=small_ensemble(), progress=False)
    assert result.accuracy == pytest.approx(evaluate.accuracy(model, x, y))


def test_l2_default_ensemble_has_no_square():
    assert list(evaluate.default_ensemble("2")) == ["PGD-40 x3", "APGD-CE", "APGD-margin"]
    assert list(evaluate.default_ensemble("inf"))[-1] == "Square"


def test_an_attack_that_leaves_the_ball_is_refused(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    cheat = {"too far": lambda m, xb, yb, eps, norm, g: attacks.fgsm(m, xb, yb, 2 * eps)}
    with pytest.raises(ValueError, match="too far"):
        evaluate.worst_case_accuracy(model, x[:20], y[:20], 0.1, attacks=cheat, progress=False)


@pytest.mark.parametrize(("kwargs", "error", "argument"), [
    (dict(eps=-0.1), ValueError, "eps"), (dict(norm="l1"), ValueError, "norm"),
    (dict(attacks={"x": 3}), TypeError, "attacks"), (dict(attacks={}), TypeError, "attacks"),
    (dict(cascade="yes"), TypeError, "cascade"), (dict(seed=-1), ValueError, "seed"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_bad_arguments_are_named(trained_cnn_worst, kwargs, error, argument):
    model, x, y = trained_cnn_worst
    with pytest.raises(error, match=argument):
        evaluate.worst_case_accuracy(model, x[:4], y[:4], **{**dict(eps=0.1), **kwargs})


def test_labels_must_match(trained_cnn_worst):
    model, x, y = trained_cnn_worst
    with pytest.raises(ValueError, match=r"\by\b"):
        evaluate.worst_case_accuracy(model, x[:4], y[:3], 0.1)
