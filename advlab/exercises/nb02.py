"""Graded exercises of notebook 02: FGM (the L2 step), per-sample normalisation, and L2 sizes."""

from __future__ import annotations

import math

import torch

from .. import attacks
from . import fixtures
from .attack_checks import check_attack, input_gradient
from .core import (Findings, Wrong, call, describe_difference, exercise, expect_number, expect_tensor, fail_if,
                   same)
from .language import Text, text


# ----------------------------------------------------------------------------- 02.fgm
def reference_fgm(model, x, y, eps):
    return attacks.fgm(model, x, y, eps)


def _fgm_variant(step):
    def variant(model, x, y, eps):
        return step(x, eps, input_gradient(model, x, y))

    return variant


BATCH_NORM_HINT = text("you normalised over the whole batch: one norm for all images, so each image's step is much "
                       "shorter than eps. Normalise per sample: `g.flatten(1).norm(dim=1)`, reshaped to "
                       "[N, 1, 1, 1].")

FGM_MISTAKES = {
    "batch_norm": (_fgm_variant(lambda x, eps, g: (x + eps * g / g.norm()).clamp(0, 1)), BATCH_NORM_HINT),
    "sign": (_fgm_variant(lambda x, eps, g: (x + eps * g.sign()).clamp(0, 1)),
             text("you took the sign of the gradient: that is FGSM (an L-inf step). FGM divides the gradient by its "
                  "L2 norm: eps·g/||g||_2, per sample.")),
    "not_normalised": (_fgm_variant(lambda x, eps, g: (x + eps * g).clamp(0, 1)),
                       text("you forgot to normalise: eps·g is tiny. FGM's step is eps·g/||g||_2, a step of length "
                            "eps.")),
    "no_clip": (_fgm_variant(lambda x, eps, g: x + eps * attacks.unit_l2(g)),
                text("you forgot the clip to [0, 1]; add `.clamp(0, 1)`.")),
}


@exercise("02.fgm", "FGM, the L2 step", solution=lambda: reference_fgm)
def check_fgm(answer) -> Findings:
    return check_attack(answer, reference_fgm, FGM_MISTAKES, what=text("FGM images"), eps=1.5)


# ----------------------------------------------------------------------------- 02.unit_l2
def reference_unit_l2(g):
    return attacks.unit_l2(g)


def _gradients_with_a_zero_row() -> torch.Tensor:
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(8)
    g = input_gradient(model, x, y)
    g[3] = 0.0  # a sample the model does not care about at all: its gradient vanishes
    return g


@exercise("02.unit_l2", "normalise per sample", solution=lambda: reference_unit_l2)
def check_unit_l2(answer) -> Findings:
    g = _gradients_with_a_zero_row()
    g_in = g.clone()
    value = call(answer, g_in)
    findings = Findings()
    findings.verify(text("the normalised gradients"), _unit_values, value, g)
    findings.verify(text("the gradient untouched"), fail_if, not torch.equal(g_in, g),
                    text("you mutated the gradient in place (`g /= ...`): return a new tensor."), "mutated_input")
    return findings


def _unit_values(value, g) -> Text:
    """Each sample of `value` is g_i/||g_i||_2 (0 for the zero row); else the mistake it matches."""
    if isinstance(value, torch.Tensor) and value.shape == g.shape and torch.isnan(value).any():
        if torch.isnan(value[3]).all() and not torch.isnan(value[torch.arange(8) != 3]).any():
            raise Wrong(text("sample 3 has a zero gradient and your version gives 0/0 = NaN for it: divide by "
                             "`norms.clamp_min(1e-12)` so a vanishing gradient stays 0."), mistake="zero_division")
    value = expect_tensor(value, g.shape, text("the normalised gradient"))
    expected = reference_unit_l2(g)
    if same(value, expected, atol=1e-6, share=1.0):
        return text("every sample has L2 norm 1 (the zero gradient stays 0), on 8 real input gradients")
    if same(value, g / g.norm(), atol=1e-6, share=1.0):
        raise Wrong(BATCH_NORM_HINT, mistake="batch_norm")
    if same(value, g.sign(), atol=1e-6, share=1.0) or same(value, g / g.abs().clamp_min(1e-12), atol=1e-6, share=1.0):
        raise Wrong(text("you normalised each pixel by its own size: that is sign(g), not g/||g||_2. The norm runs "
                         "over all pixels of one sample: `g.flatten(1).norm(dim=1)`."), mistake="per_pixel")
    raise Wrong(text("not g_i/||g_i||_2: {difference}.", difference=describe_difference(value, expected, 1e-6)),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 02.spread
EPS_L2, PIXELS = 2.8, 196


def reference_spread() -> float:
    """An L2 step of length eps spread evenly over n pixels moves each by eps / sqrt(n) (2.8 / 14 = 0.2)."""
    return EPS_L2 / math.sqrt(PIXELS)


@exercise("02.spread", "predict how far an FGM step moves a pixel", solution=reference_spread)
def check_spread(answer) -> Text:
    value = expect_number(answer, text("the change of each pixel"))
    expected = reference_spread()
    if math.isclose(value, expected, rel_tol=0.01):
        return text("{eps}/sqrt({pixels}) = {expected:.2f}: the same L2 length spread over fewer pixels moves each of "
                    "them further", eps=EPS_L2, pixels=PIXELS, expected=expected)
    known = {
        EPS_L2: (text("{value:g}: that is the whole step's L2 length; it is shared among the pixels: n·d² = eps².",
                      value=value), "whole_step"),
        EPS_L2 / PIXELS: (text("{value:g}: dividing by n shares the L1 length; L2 adds squares: n·d² = eps², so "
                               "d = eps/sqrt(n).", value=value), "l1"),
        EPS_L2 / 28: (text("{value:g}: that spreads the step over all 784 pixels; here only 196 of them have a "
                           "gradient.", value=value), "all_pixels"),
    }
    for number, (hint, key) in known.items():
        if math.isclose(value, number, rel_tol=0.01):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("{value:g} is not it: n pixels moving by d each make an L2 length of sqrt(n)·d.", value=value),
                mistake="unrecognised")
