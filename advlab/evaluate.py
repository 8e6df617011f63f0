"""Measuring a trained model: predictions, accuracy, which samples it gets wrong, and accuracy under attack.

All functions run the model in eval mode, in batches (without gradients, except where an attack needs them), and leave the
model's train/eval mode as they found it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from .checks import check_int, check_labels, check_number
from .models import eval_mode, model_device
from .progress import progress_bar


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


@torch.no_grad()
def mean_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """The mean cross-entropy (1/N) sum_i CE(model(x_i), y_i), computed in batches."""
    check_labels("y", y, len(x))
    check_int("batch_size", batch_size, minimum=1)
    device = model_device(model)
    total = 0.0
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            logits = model(x[i : i + batch_size].to(device))
            total += F.cross_entropy(logits, y[i : i + batch_size].to(device), reduction="sum").item()
    return total / len(x)


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


# ----------------------------------------------------------------------------- robustness

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
EpsAttack = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


def adversarial_examples(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, batch_size: int = 500, progress: bool = False
) -> torch.Tensor:
    """``attack(model, x_b, y_b)`` applied batch by batch; the adversarial images [N, ...] on the CPU.

    `attack` is any callable returning the adversarial batch, e.g.
    ``functools.partial(attacks.pgd, eps=0.1, alpha=0.01, steps=40)``.
    """
    _check_robust_inputs(x, y, attack, batch_size)
    device = model_device(model)
    batches = range(0, len(x), batch_size)
    bar = progress_bar(len(batches), "attacking", disable=not progress, leave=False)
    chunks = []
    for i in batches:
        chunks.append(attack(model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)).cpu())
        bar.update(1)
    bar.close()
    return torch.cat(chunks) if chunks else x[:0].cpu()


def robust_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, batch_size: int = 500, progress: bool = False
) -> float:
    """Accuracy under attack: mean(argmax model(attack(model, x, y)) == y), computed in batches."""
    return _robust_correct(model, x, y, attack, batch_size, progress).float().mean().item()


def accuracy_vs_epsilon(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilons: Sequence[float],
    attack: EpsAttack = attacks.fgsm,
    batch_size: int = 500,
    progress: bool = True,
    desc: str = "accuracy vs eps",
) -> list[float]:
    """Robust accuracy at each eps, ``[acc(eps) for eps in epsilons]``, with one progress bar for the sweep.

        acc(eps) = mean(argmax model(attack(model, x, y, eps)) == y)

    `attack(model, x, y, eps)` defaults to FGSM; for PGD pass e.g.
    ``lambda m, x, y, eps: attacks.pgd(m, x, y, eps, alpha=eps / 4, steps=10)``.
    eps = 0 is the clean accuracy (no attack is run).
    """
    epsilons = _check_epsilons(epsilons)
    _check_robust_inputs(x, y, attack, batch_size)
    n_batches = -(-len(x) // batch_size)
    bar = progress_bar(len(epsilons) * n_batches, desc, disable=not progress, leave=False)
    accuracies = []
    for eps in epsilons:
        attack_eps = (lambda m, xb, yb: xb) if eps == 0 else (lambda m, xb, yb, eps=eps: attack(m, xb, yb, eps))
        correct = _robust_correct(model, x, y, attack_eps, batch_size, progress=False, bar=bar)
        accuracies.append(correct.float().mean().item())
        bar.set_postfix(eps=f"{eps:.3g}", acc=f"{accuracies[-1]:.3f}", refresh=False)
    bar.close()
    return accuracies


def attack_curves(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Callable[..., torch.Tensor],
    batch_size: int = 500,
    on_batch: Callable[[int, dict[str, list[float]]], None] | None = None,
) -> dict[str, list[float]]:
    """The mean loss and the accuracy at every iterate of an iterative attack, over all of x, batch by batch.

        loss[t] = (1/N) sum_i CE(model(x_i^t), y_i),    accuracy[t] = (1/N) sum_i [argmax model(x_i^t) == y_i]

    `attack(model, x_b, y_b, callback=...)` must call ``callback(state)`` with ``state.step`` and
    ``state.logits`` at each iterate, as :func:`attacks.pgd` does (one restart). Memory stays that
    of one batch. ``on_batch(samples_done, curves)`` sees the running curves after every batch
    (over the samples attacked so far), for a live plot.
    """
    _check_robust_inputs(x, y, attack, batch_size)
    device = model_device(model)
    loss_sums: dict[int, float] = {}
    correct_sums: dict[int, float] = {}
    done = 0
    for i in range(0, len(x), batch_size):
        yb = y[i : i + batch_size].to(device)

        def record(state, yb=yb):
            loss_sums[state.step] = loss_sums.get(state.step, 0.0) + F.cross_entropy(state.logits, yb, reduction="sum").item()
            correct_sums[state.step] = correct_sums.get(state.step, 0.0) + (state.logits.argmax(1) == yb).sum().item()

        attack(model, x[i : i + batch_size].to(device), yb, callback=record)
        done += len(yb)
        curves = _mean_curves(loss_sums, correct_sums, done)
        if on_batch is not None:
            on_batch(done, curves)
    return curves


def _mean_curves(loss_sums: dict[int, float], correct_sums: dict[int, float], count: int) -> dict[str, list[float]]:
    steps = sorted(loss_sums)
    return {"step": steps, "loss": [loss_sums[t] / count for t in steps], "accuracy": [correct_sums[t] / count for t in steps]}


def _robust_correct(model, x, y, attack, batch_size, progress, bar=None) -> torch.Tensor:
    """[N] bool: is the prediction on the attacked sample still the label?"""
    _check_robust_inputs(x, y, attack, batch_size)
    device = model_device(model)
    correct = []
    own_bar = bar is None
    if own_bar:
        bar = progress_bar(-(-len(x) // batch_size), "attacking", disable=not progress, leave=False)
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        x_adv = attack(model, xb, yb)
        with torch.no_grad(), eval_mode(model):
            correct.append((model(x_adv).argmax(dim=1) == yb).cpu())
        bar.update(1)
    if own_bar:
        bar.close()
    return torch.cat(correct) if correct else torch.zeros(0, dtype=torch.bool)


def _check_robust_inputs(x, y, attack, batch_size) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a float tensor of inputs")
    check_labels("y", y, len(x))
    check_int("batch_size", batch_size, minimum=1)
    if not callable(attack):
        raise TypeError(f"attack must be a callable returning adversarial inputs, got {type(attack).__name__}")


def _check_epsilons(epsilons) -> list[float]:
    if hasattr(epsilons, "tolist"):  # a torch tensor or a numpy array
        epsilons = epsilons.tolist()
    if isinstance(epsilons, (str, bytes)) or not isinstance(epsilons, Sequence) or len(epsilons) == 0:
        raise TypeError(f"epsilons must be a non-empty sequence of numbers, got {epsilons!r}")
    return [check_number(f"epsilons[{i}]", eps, minimum=0) for i, eps in enumerate(epsilons)]
