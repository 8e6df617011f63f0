"""Graded exercises of notebook 08 (robust evaluation): the margin loss, the per-sample worst case, APGD's checkpoints."""

from __future__ import annotations

import torch

from .. import attacks
from . import fixtures
from .core import Wrong, call, exercise, expect_number, expect_tensor, same
from .language import Text, text


# ----------------------------------------------------------------------------- 08.margin
def reference_margin(logits, y):
    """Carlini-Wagner margin per sample: max_{j != y} z_j - z_y (> 0 exactly when misclassified)."""
    others = logits.scatter(1, y[:, None], float("-inf"))
    return others.amax(dim=1) - logits.gather(1, y[:, None]).squeeze(1)


def _ten_class_logits():
    """Logits [20, 10] of real pairs: the trained CNN's features through a fixed projection (a 10-class head).

    The last 4 rows repeat the first 4, shifted so that every logit but the label's is negative
    (the margin does not change): there a margin that masks the label with 0 instead of -inf
    takes that 0 as the largest other logit.
    """
    model = fixtures.trained_cnn()
    x, _ = fixtures.batch()
    with torch.no_grad():
        features = model.features(x)
    head = torch.randn(features.shape[1], 10, generator=fixtures.generator(8)) / features.shape[1] ** 0.5
    logits = features @ head * 5
    y = logits.argmax(dim=1).roll(1)  # labels: some right, most wrong
    others_max = logits[:4].scatter(1, y[:4, None], float("-inf")).amax(dim=1, keepdim=True)
    return torch.cat([logits, logits[:4] - others_max - 1]), torch.cat([y, y[:4]])


@exercise("08.margin", "the margin loss", solution=lambda: reference_margin)
def check_margin(answer) -> Text:
    logits, y = _ten_class_logits()
    value = expect_tensor(call(answer, logits.clone(), y.clone()), [len(y)], text("the per-sample margins"))
    expected = reference_margin(logits, y)
    if same(value, expected, atol=1e-4, share=1.0):
        return text("max_{{j≠y}} z_j - z_y for {n} samples of 10 classes (on some, every other logit is negative), "
                    "positive exactly on the misclassified ones", n=len(y))
    true_logit = logits.gather(1, y[:, None]).squeeze(1)
    if same(value, logits.amax(dim=1) - true_logit, atol=1e-4, share=1.0):
        raise Wrong(text("you took the max over ALL classes, the true one included: on a correct sample the margin "
                         "is then 0 instead of negative. Mask the true class out first (scatter -inf at y)."),
                    mistake="includes_true")
    if same(value, logits.scatter(1, y[:, None], 0.0).amax(dim=1) - true_logit, atol=1e-4, share=1.0):
        raise Wrong(text("you masked the true class with 0, not -inf: on a sample whose other logits are all "
                         "negative, that 0 is the largest, so the margin is wrong there. Mask with `float('-inf')`."),
                    mistake="mask_zero")
    if same(value, -expected, atol=1e-4, share=1.0):
        raise Wrong(text("wrong sign: the attack climbs max_{{j≠y}} z_j - z_y, positive when the sample is "
                         "misclassified."), mistake="sign")
    probabilities = logits.softmax(dim=1)
    if same(value, reference_margin(probabilities, y), atol=1e-4, share=1.0):
        raise Wrong(text("you used probabilities: the margin is on the logits (softmax saturates and hides the "
                         "gradient)."), mistake="probabilities")
    raise Wrong(text("not max_{{j≠y}} z_j - z_y."), mistake="unrecognised")


# ----------------------------------------------------------------------------- 08.worst_case
def reference_worst_case(correct):
    """Robust accuracy under an ensemble: a sample counts only if EVERY attack fails on it. correct: [attacks, N] bool."""
    return correct.all(dim=0).float().mean().item()


def _correct_masks() -> torch.Tensor:
    """[3, 64]: is the model still right after each of 3 perturbations of 64 real pairs?

    Gradient attacks on this small model fool nested sets of samples (the smallest margins
    first), which would make every aggregation agree; Gaussian noise draws (sigma 0.7) fool
    different samples, so the per-sample worst case differs from the best single run.
    """
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(64)
    runs = [(x + 0.7 * torch.randn(x.shape, generator=fixtures.generator(seed))).clamp(0, 1) for seed in range(3)]
    with torch.no_grad():
        return torch.stack([model(x_run).argmax(dim=1) == y for x_run in runs])


@exercise("08.worst_case", "the per-sample worst case", solution=lambda: reference_worst_case)
def check_worst_case(answer) -> Text:
    correct = _correct_masks()
    value = expect_number(call(answer, correct.clone()), text("the robust accuracy"))
    expected = reference_worst_case(correct)
    per_attack = correct.float().mean(dim=1)
    if abs(value - expected) < 1e-6:
        return text("worst case over 3 perturbations of 64 real pairs: {expected:.1%}, below the strongest single "
                    "one's {strongest:.1%}", expected=expected, strongest=per_attack.min().item())
    if abs(value - per_attack.min().item()) < 1e-6:
        raise Wrong(text("that is the lowest per-attack accuracy: each attack fools different samples, so the worst "
                         "case is taken per sample (robust only if every attack fails), which can be lower still."),
                    mistake="min_of_means")
    if abs(value - per_attack.mean().item()) < 1e-6:
        raise Wrong(text("you averaged the attacks' accuracies: an evaluation reports the worst case per sample."),
                    mistake="mean")
    if abs(value - correct.any(dim=0).float().mean().item()) < 1e-6:
        raise Wrong(text("`any` counts a sample as robust if ONE attack fails on it; it must survive all: `all`."),
                    mistake="any")
    raise Wrong(text("{value:.4g}, expected {expected:.4g}.", value=value, expected=expected), mistake="unrecognised")


# ----------------------------------------------------------------------------- 08.checkpoints
STEPS = 100


def reference_checkpoints(steps):
    """APGD's checkpoints: the reference is advlab's own, `attacks.apgd_checkpoints`."""
    return attacks.apgd_checkpoints(steps)


@exercise("08.checkpoints", "APGD's checkpoints", solution=lambda: reference_checkpoints)
def check_checkpoints(answer) -> Text:
    values = {steps: call(answer, steps) for steps in (STEPS, 10)}
    if not all(isinstance(value, (list, tuple)) for value in values.values()):
        raise Wrong(text("return the checkpoints as a list of iteration numbers."), mistake="type")
    expected = {steps: reference_checkpoints(steps) for steps in values}
    values = {steps: [int(v) if float(v).is_integer() else v for v in value] for steps, value in values.items()}
    if values == expected:
        return text("checkpoints for {steps} steps: {expected}, and for 10 steps: {expected_10}", steps=STEPS,
                    expected=expected[STEPS], expected_10=expected[10])
    got = values[STEPS]
    if len(got) > 1 and len({b - a for a, b in zip([0, *got], got)}) == 1:
        raise Wrong(text("your gaps never shrink: each gap is 0.03·steps shorter than the last, down to 0.06·steps."),
                    mistake="constant_gap")
    if any(b - a < max(int(0.06 * STEPS), 1) for a, b in zip([0, *got], got)):
        raise Wrong(text("a gap fell below 0.06·steps: stop shrinking there."), mistake="no_floor")
    raise Wrong(text("for {steps} steps you give {got}..., expected {expected}...", steps=STEPS, got=got[:6],
                     expected=expected[STEPS][:6]), mistake="unrecognised")
