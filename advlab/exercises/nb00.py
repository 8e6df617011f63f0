"""Graded exercises of notebook 00: the digit-0 mixture task and its model."""

from __future__ import annotations

import torch

from .. import data
from ..models import SmallCNN, count_parameters
from . import fixtures
from .core import Findings, Wrong, call, exercise, expect_number, expect_tensor, fail_if
from .language import Text, text


# ----------------------------------------------------------------------------- 00.label
def reference_label(digits: torch.Tensor) -> torch.Tensor:
    return (digits == 0).any(dim=1).long()


def _label_inputs() -> torch.Tensor:
    _, _, digits = data.digit0_mixture("test", n=64, seed=2, source=fixtures.SOURCE)
    return digits


@exercise("00.label", "the label from the two digits", solution=lambda: reference_label)
def check_label(answer) -> Findings:
    digits = _label_inputs()
    labels = call(answer, digits.clone())
    findings = Findings()
    if isinstance(labels, torch.Tensor) and labels.dtype == torch.bool:  # right or wrong, the values can be read
        findings.verify(text("the labels' values"), _label_values, labels.long(), digits)
        findings.verify(text("int64 labels"), fail_if, True, text("your labels are booleans: cross_entropy needs "
                        "int64 class indices, add `.long()`."), "dtype")
    else:
        findings.verify(text("the labels"), _label_values, labels, digits)
    return findings


def _label_values(labels, digits) -> Text:
    """The labels equal (digit 0 in the pair) as int64; else the hint of the mistake they match."""
    labels = expect_tensor(labels, [len(digits)], text("the labels"), dtype=torch.int64)
    expected = reference_label(digits)
    if torch.equal(labels, expected):
        return text("the right label for {n} real digit pairs, int64 as cross_entropy wants", n=len(digits))
    if torch.equal(labels, (digits[:, 0] == 0).long()):
        raise Wrong(text("you looked at the first digit only: the 0 can be either of the two digits."),
                    mistake="first_only")
    if torch.equal(labels, (digits == 0).all(dim=1).long()):
        raise Wrong(text("your label is 1 only when BOTH digits are 0: it should be 1 when one of them is (any, not "
                         "all)."), mistake="all")
    if torch.equal(labels, 1 - expected):
        raise Wrong(text("your labels are inverted: 1 means 'the picture contains a 0'."), mistake="inverted")
    raise Wrong(text("{wrong} of {n} labels are wrong.", wrong=(labels != expected).sum().item(), n=len(digits)),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 00.mix
def reference_mix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a + b).clamp(0, 1)


@exercise("00.mix", "fix the seed's mixture", solution=lambda: reference_mix)
def check_mix(answer) -> Findings:
    images, labels = data.load_mnist("test", source=fixtures.SOURCE)
    a, b = images[labels == 3][:8].clone(), images[labels == 8][:8].clone()
    a_in, b_in = a.clone(), b.clone()
    mixed = call(answer, a_in, b_in)
    findings = Findings()
    findings.verify(text("the mixed images"), _mixed_images, mixed, a, b)
    mutated = not (torch.equal(a_in, a) and torch.equal(b_in, b))
    findings.verify(text("the inputs untouched"), fail_if, mutated, text("you mutated the input images (an in-place "
                    "`+=` or `clamp_`): return a new tensor."), "mutated_input")
    return findings


def _mixed_images(mixed, a, b) -> Text:
    """The images are the clipped sum; else the hint of the mistake they match."""
    mixed = expect_tensor(mixed, a.shape, text("the mixed images"))
    if torch.allclose(mixed, reference_mix(a, b), atol=1e-6):
        return text("the sum of 8 real 3s and 8s, clipped to [0, 1]")
    if torch.allclose(mixed, a + b, atol=1e-6):
        raise Wrong(text("pixel values go above 1 (up to 2): you kept the seed's bug. Clip the sum back to [0, 1]."),
                    mistake="no_clip")
    if torch.allclose(mixed, (a + b) / 2, atol=1e-6):
        raise Wrong(text("you averaged the two images: every stroke is then half as bright. The task ADDS them, "
                         "then clips to [0, 1]."), mistake="mean")
    if torch.allclose(mixed, torch.maximum(a, b), atol=1e-6):
        raise Wrong(text("torch.maximum keeps the brighter of the two pixels; the task adds them (where two faint "
                         "strokes overlap, the sum is brighter), then clips to [0, 1]."), mistake="max")
    raise Wrong(text("not the clipped sum of the two images."), mistake="unrecognised")


# ----------------------------------------------------------------------------- 00.parameters
CLASSES = 10


def reference_parameter_count() -> int:
    """Trainable parameters of SmallCNN(num_classes=10): only the head differs from the 2-class model."""
    with torch.random.fork_rng():  # building a model draws random weights: leave the learner's RNG alone
        return count_parameters(SmallCNN(num_classes=CLASSES))


@exercise("00.parameters", "predict the size of the 10-class model", solution=reference_parameter_count)
def check_parameters(answer) -> Text:
    value = expect_number(answer, text("the number of parameters"))
    expected = reference_parameter_count()
    conv = 16 * 25 + 16 + 36 * 16 * 25 + 36
    if value == expected:
        return text("SmallCNN(num_classes={classes}) has {expected:,} parameters: the same convolutions, a head 5 "
                    "times wider", classes=CLASSES, expected=expected)
    known = {
        conv + 1764 * 2 + 2: (text("{value:,.0f}: that is the 2-class model of section 2. The convolutions stay the "
                                   "same; only the head grows, to 1764 x 10 weights + 10 biases.", value=value),
                              "two_class"),
        conv - 16 - 36 + 1764 * CLASSES: (text("{value:,.0f}: you left out the biases: one per output channel and "
                                               "one per class (16 + 36 + 10).", value=value), "no_bias"),
        conv: (text("{value:,.0f}: those are the two conv layers only: add the linear head, 1764 x 10 weights + 10 "
                    "biases.", value=value), "no_head"),
        1764 * CLASSES + CLASSES: (text("{value:,.0f}: that is the head only: the conv layers (5x5 kernels, 1 -> 16 "
                                        "and 16 -> 36 channels, plus biases) are still there.", value=value),
                                   "head_only"),
    }
    if value in known:
        hint, key = known[value]
        raise Wrong(hint, mistake=key)
    raise Wrong(text("{value:,.0f} is not it. Count weights and biases layer by layer: conv1 16x1x5x5 + 16, conv2 "
                     "36x16x5x5 + 36, head 1764x10 + 10.", value=value), mistake="unrecognised")
