"""Measuring a trained model: predictions, accuracy, which samples it gets wrong, and accuracy under attack.

`worst_case_accuracy` is the strongest evaluation here: an AutoAttack-style ensemble (PGD with
restarts, APGD-CE, APGD-margin, Square) where a sample counts only if every attack fails on it.

All functions run the model in eval mode, in batches (without gradients, except where an attack needs them), and leave the
model's train/eval mode as they found it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from . import attacks as attacks_module  # `attacks` is also an argument name below
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


@torch.no_grad()
def features(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The penultimate features model.features(x) (what the model's head sees), [N, F], in eval mode, on the CPU."""
    check_int("batch_size", batch_size, minimum=1)
    if not callable(getattr(model, "features", None)):
        raise TypeError(f"model must have a features(x) method (e.g. SmallCNN), got {type(model).__name__}")
    device = model_device(model)
    with eval_mode(model):
        return torch.cat([model.features(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


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


# ----------------------------------------------------------------------------- worst case over an ensemble
EnsembleAttack = Callable[..., torch.Tensor]  # attack(model, x, y, eps, norm, generator) -> x_adv
BALL_SLACK = 1e-5  # float32 round-off allowed on the ball constraint when checking an attack's output


def default_ensemble(
    norm: str = "inf",
    *,
    pgd_steps: int = 40,
    pgd_restarts: int = 3,
    apgd_steps: int = 100,
    apgd_restarts: int = 1,
    square_queries: int = 5000,
) -> dict[str, EnsembleAttack]:
    """The AutoAttack-style ensemble: PGD (random start, restarts), APGD-CE, APGD-margin, Square.

    Each entry is ``attack(model, x, y, eps, norm, generator) -> x_adv``. PGD uses the step
    alpha = 2.5 eps / steps (the `robustness` library's convention) and counts a sample as broken
    at its first misclassified iterate of any restart (``stop_when_fooled``: a fooled sample costs
    no further steps, and the next restart runs only on the rest); APGD needs no step size. Square is L-inf only,
    so for ``norm="2"`` the ensemble has the three gradient attacks. This is *not* AutoAttack:
    AutoAttack runs APGD-CE, APGD-T (DLR), FAB-T and Square at fixed budgets, and its DLR loss
    needs at least 3 classes; our margin loss stands in for DLR on two classes.
    """
    norm = attacks._normalise_norm(norm)

    def pgd(model, x, y, eps, norm, generator):
        return attacks.pgd(model, x, y, eps, alpha=2.5 * eps / pgd_steps, steps=pgd_steps, norm=norm,
                           random_start=True, restarts=pgd_restarts, generator=generator, stop_when_fooled=True)

    def apgd(loss):
        return lambda model, x, y, eps, norm, generator: attacks.apgd(
            model, x, y, eps, steps=apgd_steps, norm=norm, loss=loss, restarts=apgd_restarts, generator=generator)

    ensemble = {f"PGD-{pgd_steps} x{pgd_restarts}": pgd, "APGD-CE": apgd("ce"), "APGD-margin": apgd("margin")}
    if norm == "inf":
        ensemble["Square"] = lambda model, x, y, eps, norm, generator: attacks.square(
            model, x, y, eps, n_queries=square_queries, generator=generator)
    return ensemble


@dataclass
class WorstCase:
    """What `worst_case_accuracy` measured.

    ``correct[i]`` is True when sample i is classified correctly and *every* attack failed on it.
    ``per_attack[name]`` is the accuracy column of one attack: with ``cascade=False`` the accuracy
    under that attack alone; with ``cascade=True`` (AutoAttack's way) the robust accuracy after
    that attack and all those before it, since each attack only runs on the samples still standing.
    """

    accuracy: float
    clean_accuracy: float
    per_attack: dict[str, float]
    correct: torch.Tensor
    per_attack_correct: dict[str, torch.Tensor] = field(repr=False)
    cascade: bool = True

    def row(self) -> dict[str, float]:
        """One table row: clean, each attack's column, and the worst case."""
        return {"clean": self.clean_accuracy, **self.per_attack, "worst case": self.accuracy}


def worst_case_accuracy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    norm: str = "inf",
    attacks: Mapping[str, EnsembleAttack] | None = None,
    *,
    cascade: bool = True,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
) -> WorstCase:
    """AutoAttack-style worst-case robust accuracy: a sample counts only if every attack fails on it.

        worst(x_i) = 1[ argmax model(x_i) = y_i  and  for all attacks A: argmax model(A(x_i)) = y_i ]

    `attacks` maps a name to ``attack(model, x, y, eps, norm, generator) -> x_adv`` (default:
    `default_ensemble(norm)`). Attack k draws its random numbers from a generator seeded with
    ``seed + k``, so the same seed gives the same numbers. With ``cascade=True`` an attack runs
    only on the samples no earlier attack has broken (as AutoAttack does: cheaper, same worst
    case); with ``cascade=False`` every attack runs on every correctly classified sample, so
    each column is that attack's own robust accuracy. Every returned batch is checked to lie in
    [0, 1] and in the eps ball, so a buggy attack cannot report a fake success.

    It is a lower bound on the true robust error like any attack, and not AutoAttack or the
    RobustBench standard (which need the full four-attack AutoAttack on the whole test set).
    """
    check_labels("y", y, len(x))
    eps = check_number("eps", eps, minimum=0)
    norm = attacks_module._normalise_norm(norm)
    check_int("seed", seed, minimum=0)
    check_int("batch_size", batch_size, minimum=1)
    if not isinstance(cascade, bool):
        raise TypeError(f"cascade must be True or False, got {cascade!r}")
    ensemble = dict(default_ensemble(norm) if attacks is None else attacks)
    if not ensemble or not all(isinstance(k, str) and callable(a) for k, a in ensemble.items()):
        raise TypeError("attacks must map names (str) to callables attack(model, x, y, eps, norm, generator)")

    device = model_device(model)
    clean = predict(model, x, batch_size).eq(y)
    generators = [torch.Generator().manual_seed(seed + k) for k in range(len(ensemble))]
    survived = {name: clean.clone() for name in ensemble}
    standing = clean.clone()
    n_batches = -(-len(x) // batch_size)
    bar = progress_bar(n_batches * len(ensemble), "worst case", disable=not progress, leave=False)
    for (name, attack), generator in zip(ensemble.items(), generators):
        for start in range(0, len(x), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(x)))
            rows = rows[(standing if cascade else clean)[rows]]
            if len(rows) and eps > 0:
                xb, yb = x[rows].to(device), y[rows].to(device)
                x_adv = attack(model, xb, yb, eps, norm, generator)
                _check_attack_output(name, x_adv, xb, eps, norm)
                with torch.no_grad(), eval_mode(model):
                    held = (model(x_adv).argmax(dim=1) == yb).cpu()
                survived[name][rows] = held
            bar.update(1)
        if cascade:
            survived[name] &= standing
        standing &= survived[name]
        bar.set_postfix(attack=name, acc=f"{standing.float().mean().item():.3f}", refresh=False)
    bar.close()
    return WorstCase(
        accuracy=standing.float().mean().item(),
        clean_accuracy=clean.float().mean().item(),
        per_attack={name: c.float().mean().item() for name, c in survived.items()},
        correct=standing,
        per_attack_correct=survived,
        cascade=cascade,
    )


def _check_attack_output(name, x_adv, x, eps, norm) -> None:
    """An attack's batch must have x's shape, lie in [0, 1] and inside the eps ball."""
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        raise ValueError(f"attacks[{name!r}] returned {type(x_adv).__name__} of the wrong shape, expected {list(x.shape)}")
    if x_adv.min() < 0 or x_adv.max() > 1:
        raise ValueError(f"attacks[{name!r}] returned values outside [0, 1]")
    if (attacks_module.perturbation_norms(x_adv, x, norm) > eps + BALL_SLACK).any():
        raise ValueError(f"attacks[{name!r}] left the eps ball (eps={eps}, norm={norm})")


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
