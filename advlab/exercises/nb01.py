"""Graded exercises of notebook 01: FGSM, its targeted version, and choosing eps."""

from __future__ import annotations

import math

import torch

from .. import attacks, evaluate
from ..models import model_device
from .attack_checks import check_attack, input_gradient
from .core import Findings, Wrong, exercise, expect_number
from .language import Text, text

CHANCE = 0.5
GRID = 0.01


# ----------------------------------------------------------------------------- 01.fgsm
def reference_fgsm(model, x, y, eps):
    return attacks.fgsm(model, x, y, eps)


def _fgsm_variant(direction):
    def variant(model, x, y, eps, targeted=False):
        return direction(x, eps, input_gradient(model, x, y, targeted))

    return variant


FGSM_MISTAKES = {
    "no_clip": (_fgsm_variant(lambda x, eps, g: x + eps * g.sign()),
                text("you forgot the clip to [0, 1]: x + eps·sign(g) leaves the image range; add `.clamp(0, 1)`.")),
    "grad_not_sign": (_fgsm_variant(lambda x, eps, g: (x + eps * g).clamp(0, 1)),
                      text("you stepped along the gradient itself, not its sign: the gradient is tiny (~1e-3), so "
                           "the images barely move. FGSM takes eps·sign(g): every pixel moves by exactly eps.")),
    "descent": (_fgsm_variant(lambda x, eps, g: (x - eps * g.sign()).clamp(0, 1)),
                text("wrong sign: you walked DOWN the loss of the true label (x - eps·sign(g)), which makes the "
                     "model more confident. An untargeted attack climbs the loss: x + eps·sign(g).")),
}


@exercise("01.fgsm", "FGSM from memory", solution=lambda: reference_fgsm)
def check_fgsm(answer) -> Findings:
    return check_attack(answer, reference_fgsm, FGSM_MISTAKES, what=text("FGSM images"), eps=0.1)


# ----------------------------------------------------------------------------- 01.targeted
def reference_targeted_fgsm(model, x, target, eps):
    return attacks.fgsm(model, x, target, eps, targeted=True)


TARGETED_MISTAKES = {
    "targeted_sign": (lambda model, x, t, eps: (x + eps * input_gradient(model, x, t).sign()).clamp(0, 1),
                      text("wrong sign for a targeted attack: you climbed the loss of the TARGET, pushing the model "
                           "away from it. Walk down the target's loss: x - eps·sign(grad_x CE(model(x), target)).")),
    "no_clip": (lambda model, x, t, eps: x - eps * input_gradient(model, x, t).sign(),
                text("you forgot the clip to [0, 1]; add `.clamp(0, 1)`.")),
}


@exercise("01.targeted", "a targeted FGSM", solution=lambda: reference_targeted_fgsm)
def check_targeted(answer) -> Findings:
    return check_attack(answer, reference_targeted_fgsm, TARGETED_MISTAKES, what=text("targeted FGSM images"),
                        labels=lambda y: 1 - y, eps=0.1)


# ----------------------------------------------------------------------------- 01.eps_below_chance
def _gradient_signs(model, x, y, batch_size: int = 500) -> torch.Tensor:
    """sign(grad_x CE) per image, in batches: FGSM at any eps is clip(x + eps·sign(g)), one gradient for all eps."""
    device = model_device(model)
    return torch.cat([input_gradient(model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device))
                      .sign().cpu() for i in range(0, len(x), batch_size)])


def _fgsm_accuracy(model, x, y, eps: float, signs: torch.Tensor | None = None) -> float:
    signs = _gradient_signs(model, x, y) if signs is None else signs
    return evaluate.accuracy(model, (x + eps * signs).clamp(0, 1), y)


def reference_eps_below_chance(model, x, y, eps_max: float = 0.5) -> float:
    """An eps on the 0.01 grid where FGSM accuracy crosses chance: below 50 % at eps, at least 50 % at eps - 0.01.

    Bisection on the grid (about 6 forward passes): it keeps accuracy(low) >= 50 % > accuracy(high).
    """
    signs = _gradient_signs(model, x, y)
    low, high = 0, round(eps_max / GRID)  # in grid steps
    if evaluate.accuracy(model, x, y) < CHANCE or _fgsm_accuracy(model, x, y, high * GRID, signs) >= CHANCE:
        raise ValueError(f"FGSM accuracy does not cross 50 % between eps = 0 and {eps_max} on this model")
    while high - low > 1:
        middle = (low + high) // 2
        if _fgsm_accuracy(model, x, y, round(middle * GRID, 2), signs) < CHANCE:
            high = middle
        else:
            low = middle
    return round(high * GRID, 2)


@exercise("01.eps_below_chance", "choose eps to reach chance", solution=reference_eps_below_chance,
          needs=("model", "x", "y"))
def check_eps_below_chance(answer, model, x, y) -> Text:
    eps = expect_number(answer, "eps")
    if eps > 1:
        raise Wrong(text("eps = {eps:g} is more than the whole pixel range: eps is in pixel units (0.1, not 10 or "
                         "10 %).", eps=eps), mistake="units")
    if eps < 0 or not math.isclose(eps, round(eps / GRID) * GRID, abs_tol=1e-9):
        raise Wrong(text("eps = {eps:g}: give a non-negative value on the 0.01 grid (e.g. 0.12).", eps=eps),
                    mistake="grid")
    eps = round(eps, 2)
    signs = _gradient_signs(model, x, y)
    accuracy = _fgsm_accuracy(model, x, y, eps, signs)
    if accuracy >= CHANCE:
        raise Wrong(text("at eps = {eps} the FGSM accuracy is still {accuracy:.1%}, not below 50 %: go higher.",
                         eps=eps, accuracy=accuracy), mistake="too_small")
    below = round(eps - GRID, 2)
    accuracy_below = _fgsm_accuracy(model, x, y, below, signs) if below > 0 else 1.0
    if accuracy_below < CHANCE:
        raise Wrong(text("eps = {eps} works ({accuracy:.1%}), but {below} already gives {accuracy_below:.1%}: "
                         "find where the curve crosses 50 % (the first eps below it).", eps=eps, accuracy=accuracy,
                         below=below, accuracy_below=accuracy_below), mistake="not_smallest")
    return text("at eps = {eps} FGSM accuracy is {accuracy:.1%} (< 50 %), at eps = {below} it is {accuracy_below:.1%}, "
                "on the notebook's {n} test pairs", eps=eps, accuracy=accuracy, below=below,
                accuracy_below=accuracy_below, n=len(y))
