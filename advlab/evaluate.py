"""Measuring a trained model: predictions, accuracy, and which samples it gets wrong.

All functions run the model in eval mode, in batches, without gradients, and leave the
model's train/eval mode as they found it.
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_int, check_labels
from .models import eval_mode, model_device


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities softmax(model(x)), [N, num_classes], on the CPU."""
    check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    with eval_mode(model):
        chunks = [model(x[i : i + batch_size].to(device)).softmax(dim=1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(chunks)


def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted classes argmax model(x), [N] int64."""
    return predict_proba(model, x, batch_size).argmax(dim=1)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of samples whose predicted class equals the label: mean(argmax model(x) == y)."""
    check_labels("y", y, len(x))
    return (predict(model, x, batch_size) == y).float().mean().item()


def misclassified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Indices of the samples the model gets wrong, [K] int64."""
    check_labels("y", y, len(x))
    return (predict(model, x, batch_size) != y).nonzero().squeeze(1)


def accuracy_by_digit_pair(correct: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    """Accuracy for each unordered pair of source digits, a symmetric [10, 10] table (NaN where unseen).

    `correct` is a [N] bool tensor (prediction == label), `digits` the [N, 2] source digits
    of the digit-0 mixture task.
    """
    if correct.shape != digits.shape[:1]:
        raise ValueError(f"correct must have shape [{len(digits)}] to match digits, got {list(correct.shape)}")
    low, high = digits.min(dim=1).values, digits.max(dim=1).values
    pair_code = low * 10 + high  # one code per unordered pair, low <= high
    counts = torch.bincount(pair_code, minlength=100).view(10, 10).float()
    hits = torch.bincount(pair_code, weights=correct.float(), minlength=100).view(10, 10).float()
    counts, hits = _mirror_upper_triangle(counts), _mirror_upper_triangle(hits)
    return torch.where(counts > 0, hits / counts.clamp(min=1), torch.tensor(float("nan")))


def _mirror_upper_triangle(table: torch.Tensor) -> torch.Tensor:
    """Copy an upper-triangular table onto its lower triangle, so table[a, b] == table[b, a]."""
    return table + table.T - torch.diag(table.diag())
