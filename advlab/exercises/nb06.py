"""Graded exercises of notebook 06: the gradient reversal layer, DANN's lambda schedule, and the seed's accuracy bug."""

from __future__ import annotations

import math

import torch

from .. import grl
from . import fixtures
from .core import Findings, Wrong, call, exercise, expect_number, learner_code
from .language import Text, text

LAMBDA = 0.7


# ----------------------------------------------------------------------------- 06.grl
def reference_grl(x, lambd):
    return grl.grad_reverse(x, lambd)


def _features_and_weights():
    model = fixtures.trained_cnn()
    x, _ = fixtures.batch(8)
    with torch.no_grad():
        features = model.features(x)
    weights = torch.randn(features.shape, generator=fixtures.generator(3))
    return features, weights


@exercise("06.grl", "a gradient reversal layer", solution=lambda: reference_grl)
def check_grl(answer) -> Findings:
    features, weights = _features_and_weights()
    x = features.clone().requires_grad_(True)
    out = call(answer, x, LAMBDA)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise Wrong(text("the layer should return a tensor shaped like its input {expected}, got {shape}.",
                         expected=list(x.shape), shape=shape), mistake="shape")
    findings = Findings()
    findings.verify(text("the identity forward"), _identity_forward, out.detach(), features)
    with learner_code():  # backward runs the learner's own autograd.Function
        findings.verify(text("-lambda·grad backward"), _reversed_backward, out, x, weights)
    return findings


def _identity_forward(values, features) -> Text:
    """Forward returns the features unchanged."""
    if torch.allclose(values, -features) or torch.allclose(values, -LAMBDA * features):
        raise Wrong(text("you flipped the sign in FORWARD: a GRL is the identity on the way forward (the head sees "
                         "the real features); the minus belongs in backward: grad -> -lambda·grad."),
                    mistake="forward_flip")
    if torch.allclose(values, LAMBDA * features) and LAMBDA != 1:
        raise Wrong(text("your forward scales the features by lambda: forward is the identity, lambda only scales "
                         "the reversed gradient."), mistake="forward_scale")
    if not torch.allclose(values, features):
        raise Wrong(text("forward must return the input unchanged (the identity)."), mistake="forward")
    return text("identity forward on real features [{n}, {d}]", n=features.shape[0], d=features.shape[1])


def _reversed_backward(out, x, weights) -> Text:
    """Backward turns an upstream gradient w into -lambda·w."""
    grad = None
    if out.requires_grad:
        try:
            (grad,) = torch.autograd.grad((out * weights).sum(), x, allow_unused=True)
        except RuntimeError as error:  # e.g. a backward that returns one gradient for its two inputs
            raise Wrong(text("backward through your layer failed: {error}", error=str(error)),
                        mistake="exception") from None
    if grad is None:
        raise Wrong(text("no gradient flows back through your layer (did you detach?): the GRL passes "
                         "-lambda·grad."), mistake="detached")
    if torch.allclose(grad, weights):
        raise Wrong(text("the gradient comes back unchanged: nothing is reversed. Write a torch.autograd.Function "
                         "whose backward returns -lambda·grad_output."), mistake="not_reversed")
    if torch.allclose(grad, -weights) and LAMBDA != 1:
        raise Wrong(text("the gradient is reversed but not scaled: with lambda = {lambd} backward returns "
                         "-lambda·grad_output.", lambd=LAMBDA), mistake="no_lambda")
    if not torch.allclose(grad, -LAMBDA * weights, atol=1e-6):
        raise Wrong(text("backward should return -lambda·grad_output."), mistake="unrecognised")
    return text("backward -lambda·grad (lambda = {lambd})", lambd=LAMBDA)


# ----------------------------------------------------------------------------- 06.dann_lambda
PROGRESS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)


def reference_dann_lambda(p):
    return grl.dann_lambda(p)


@exercise("06.dann_lambda", "DANN's lambda schedule", solution=lambda: reference_dann_lambda)
def check_dann_lambda(answer) -> Text:
    values = [expect_number(call(answer, p), f"lambda({p})") for p in PROGRESS]
    expected = [reference_dann_lambda(p) for p in PROGRESS]
    if all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(values, expected)):
        return text("lambda(p) = 2/(1+exp(-10p)) - 1 at p = {points}", points=", ".join(f"{p:g}" for p in PROGRESS))
    known = [
        ("sigmoid", lambda p: 1 / (1 + math.exp(-10 * p)),
         text("that is the plain sigmoid: it starts at 0.5. DANN's schedule is 2·sigmoid(10p) - 1, so lambda(0) = "
              "0.")),
        ("gamma", lambda p: 2 / (1 + math.exp(-p)) - 1,
         text("the shape is right but it rises far too slowly: gamma = 10, lambda(p) = 2/(1+exp(-10p)) - 1.")),
        ("exp_sign", lambda p: 2 / (1 + math.exp(10 * p)) - 1,
         text("sign error in the exponent: exp(-10p), so lambda rises from 0 towards 1 (yours falls below 0).")),
    ]
    for key, wrong, hint in known:
        if all(math.isclose(a, wrong(p), abs_tol=1e-6) for a, p in zip(values, PROGRESS)):
            raise Wrong(hint, mistake=key)
    first_off = next(p for p, a, b in zip(PROGRESS, values, expected) if not math.isclose(a, b, abs_tol=1e-6))
    raise Wrong(text("lambda({p:g}) = {value:.4g}, expected {expected:.4g}.", p=first_off,
                     value=values[PROGRESS.index(first_off)], expected=reference_dann_lambda(first_off)),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 06.adversary_accuracy
def reference_adversary_accuracy(adversary_logits, y):
    """How often the adversarial head predicts what it is trained on: the FLIPPED label 1 - y."""
    return (adversary_logits.argmax(dim=1) == 1 - y).float().mean().item()


@exercise("06.adversary_accuracy", "fix the seed's adv acc", solution=lambda: reference_adversary_accuracy)
def check_adversary_accuracy(answer) -> Text:
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(64)
    with torch.no_grad():
        logits = model(x)
    adversary_logits = torch.stack([logits[:, 1], logits[:, 0]], 1)  # a head that has learned the flipped label well
    value = expect_number(call(answer, adversary_logits.clone(), y.clone()), text("the accuracy"))
    expected = reference_adversary_accuracy(adversary_logits, y)
    if math.isclose(value, expected, abs_tol=1e-6):
        return text("the adversarial head is right on {expected:.1%} of 64 real pairs, counted against 1 - y",
                    expected=expected)
    if math.isclose(value, 1 - expected, abs_tol=1e-6):
        raise Wrong(text("you compared with the true label y (seed 002's bug): the adversarial head is trained on the "
                         "flipped label 1 - y, so its accuracy is measured against 1 - y."), mistake="wrong_label")
    if math.isclose(value, expected * len(y), abs_tol=1e-6) or math.isclose(value, (1 - expected) * len(y), abs_tol=1e-6):
        raise Wrong(text("that is a count: give the accuracy as a fraction in [0, 1] (`.float().mean()`)."),
                    mistake="count")
    raise Wrong(text("{value:.4g}, expected {expected:.4g}.", value=value, expected=expected), mistake="unrecognised")
