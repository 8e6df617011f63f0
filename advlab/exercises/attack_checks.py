"""The check every attack exercise shares: the images, eval mode inside, and no side effects, each on its own."""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import fixtures
from .core import Findings, Wrong, call, describe_difference, diagnose, expect_tensor, same, watched
from .language import Text, text

Mistakes = dict[str, tuple[Callable, Text]]  # key -> (wrong implementation, hint)

TRAIN_MODE_HINT = text("you left the model in train mode: on a model with dropout your attack gives random images. "
                       "Attack in eval mode and restore the mode after: `was_training = model.training; "
                       "model.eval(); ...; model.train(was_training)`.")


def check_attack(answer, reference: Callable, mistakes: Mistakes, *, what: Text, labels: Callable | None = None,
                 **kwargs) -> Findings:
    """Run ``answer(model, x, y, **kwargs)`` on 16 real test pairs and check its properties one by one.

    1. the images: equal to ``reference``'s; otherwise the first catalogued wrong implementation
       they equal gives its hint;
    2. eval mode inside: run again on a model with dropout in train mode, the answer must give
       the images it gave in eval mode;
    3. the side effects of both runs (see ``watched``): input, parameters, .grad, mode, hooks.

    Each run gets a fresh copy of the model and of the inputs. `labels(y)` turns the true
    labels into the attack's labels (e.g. targets).
    """
    x, y = fixtures.batch()
    y = labels(y) if labels else y
    x_adv, effects = _run(answer, fixtures.trained_cnn(), x, y, kwargs)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the same dropout masks every time
        x_train_mode, effects_train_mode = _run(answer, fixtures.dropout_cnn().train(), x, y, kwargs)

    findings = Findings()
    findings.verify(text("the images match the reference"), _same_images, x_adv, x, y, reference, mistakes, what, kwargs)
    if _usable(x_adv, x.shape) and not same(x_adv, x):  # an answer that ignores the model says nothing on its mode
        findings.verify(text("eval mode inside the attack"), _same_in_train_mode, x_train_mode, x_adv)
    findings.extend(a if not a.ok else b for a, b in zip(effects, effects_train_mode))  # failed in either run
    return findings


def _run(answer, model, x, y, kwargs: dict):
    """Call the answer on `model` and copies of x and y; return its output and its side effects."""
    x_in, y_in = x.clone(), y.clone()
    with watched(model, x_in, y_in) as effects:
        x_adv = call(answer, model, x_in, y_in, *kwargs.values())
    return x_adv, effects


def _same_images(x_adv, x, y, reference, mistakes: Mistakes, what: Text, kwargs: dict) -> Text:
    """The images equal the reference's; else raise Wrong with the hint of the mistake they match."""
    x_adv = expect_tensor(x_adv, x.shape, text("the adversarial batch"))
    model = fixtures.trained_cnn()
    expected = reference(model, x, y, **kwargs)
    if same(x_adv, expected):
        return text("same {what} as the reference on {n} real test pairs ({settings})", what=what, n=len(x),
                    settings=_describe(kwargs))
    diagnose(x_adv, [(key, wrong(model, x, y, **kwargs), hint) for key, (wrong, hint) in mistakes.items()])
    if x_adv.min() < 0 or x_adv.max() > 1:
        raise Wrong(text("some pixels lie outside [0, 1]: clip the result with `.clamp(0, 1)`."), mistake="no_clip")
    raise Wrong(text("not the reference {what}: {difference}.", what=what,
                     difference=describe_difference(x_adv, expected)), mistake="unrecognised")


def _same_in_train_mode(x_train_mode, x_adv) -> Text:
    """On a model in train mode (dropout active) the answer gives the images it gave in eval mode."""
    if not _usable(x_train_mode, x_adv.shape) or not same(expect_tensor(x_train_mode, x_adv.shape), x_adv):
        raise Wrong(TRAIN_MODE_HINT, mistake="train_mode")
    return text("eval mode is used inside")


def _usable(value, shape) -> bool:
    """Whether `value` is a finite float tensor of `shape` (something the images can be compared with)."""
    try:
        expect_tensor(value, shape)
    except Wrong:
        return False
    return True


def _describe(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def input_gradient(model, x, y, targeted: bool = False) -> torch.Tensor:
    """grad_x of the mean cross-entropy (of the target labels, negated, when targeted), in eval mode."""
    was_training = model.training
    model.eval()
    try:
        x = x.detach().clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        (grad,) = torch.autograd.grad(-loss if targeted else loss, x)
    finally:
        model.train(was_training)
    return grad
