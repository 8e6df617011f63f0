"""advlab.evaluate: accuracy and friends on a model whose answers we know."""

import math

import pytest
import torch
from torch import nn

from advlab import evaluate


class Threshold(nn.Module):
    """Predicts class 1 when the mean pixel is above 0.15: a model whose answers we can compute."""

    def forward(self, x):
        score = x.mean(dim=(1, 2, 3)) - 0.15
        return torch.stack([-score, score], dim=1) * 50


def test_accuracy_and_misclassified_agree_with_a_hand_computation(small_mixture):
    x, y = small_mixture
    predicted = (x.mean(dim=(1, 2, 3)) > 0.15).long()
    model = Threshold()
    assert evaluate.accuracy(model, x, y, batch_size=100) == pytest.approx((predicted == y).float().mean().item())
    assert torch.equal(evaluate.misclassified(model, x, y), (predicted != y).nonzero().squeeze(1))
    proba = evaluate.predict_proba(model, x[:10])
    assert torch.allclose(proba.sum(1), torch.ones(10))


def test_evaluation_restores_train_mode(small_mixture):
    x, y = small_mixture
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 2)).train()
    evaluate.accuracy(model, x[:20], y[:20])
    assert model.training


def test_accuracy_rejects_mismatched_labels(small_mixture):
    x, y = small_mixture
    with pytest.raises(ValueError, match="y must have shape"):
        evaluate.accuracy(Threshold(), x[:10], y[:9])


def test_accuracy_by_digit_pair_is_symmetric_and_correct():
    digits = torch.tensor([[0, 3], [3, 0], [0, 3], [5, 5], [2, 7]])
    correct = torch.tensor([True, False, True, True, False])
    table = evaluate.accuracy_by_digit_pair(correct, digits)
    assert table[0, 3] == table[3, 0] == pytest.approx(2 / 3)
    assert table[5, 5] == 1.0 and table[2, 7] == table[7, 2] == 0.0
    assert math.isnan(table[1, 1])
    with pytest.raises(ValueError, match="correct"):
        evaluate.accuracy_by_digit_pair(correct[:3], digits)


def test_features_are_the_heads_input_batched_in_eval_mode_and_checked():
    from advlab.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).train()
    x = torch.rand(7, 1, 28, 28)
    with torch.no_grad():
        expected = model.eval().features(x)
    model.train()
    got = evaluate.features(model, x, batch_size=3)
    assert got.shape == (7, 1764) and torch.allclose(got, expected, atol=1e-6)
    assert model.training, "the model's mode is restored"
    with pytest.raises(TypeError, match="features"):
        evaluate.features(torch.nn.Linear(784, 2), x)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate.features(model, x, batch_size=0)
