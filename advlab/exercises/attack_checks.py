"""The check every attack exercise shares: same images as the reference, no side effects, eval mode."""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import fixtures
from .core import Wrong, call, describe_difference, diagnose, expect_tensor, same, watched

Mistakes = dict[str, tuple[Callable, str]]  # key -> (wrong implementation, hint)


def check_attack(answer, reference: Callable, mistakes: Mistakes, *, what: str, labels: Callable | None = None,
                 **kwargs) -> str:
    """Run ``answer(model, x, y, **kwargs)`` on 16 real test pairs and compare it with ``reference``.

    On a mismatch the output is compared with each catalogued wrong implementation; the first
    one it equals gives its hint. Then the answer runs once more on a model in train mode
    with a dropout layer: an attack that forgets ``model.eval()`` gives random images there.
    `labels(y)` turns the true labels into the attack's labels (e.g. targets).
    """
    model = fixtures.trained_cnn()
    x, y = fixtures.batch()
    y = labels(y) if labels else y
    with watched(model, x, y):
        x_adv = call(answer, model, x, y, *kwargs.values())
    x_adv = expect_tensor(x_adv, x.shape, "the adversarial batch")
    expected = reference(model, x, y, **kwargs)
    if not same(x_adv, expected):
        diagnose(x_adv, [(key, wrong(model, x, y, **kwargs), hint) for key, (wrong, hint) in mistakes.items()])
        if x_adv.min() < 0 or x_adv.max() > 1:
            raise Wrong("some pixels lie outside [0, 1]: clip the result with `.clamp(0, 1)`.", mistake="no_clip")
        raise Wrong(f"not the reference {what}: {describe_difference(x_adv, expected)}.", mistake="unrecognised")

    dropout_model = fixtures.dropout_cnn().train()
    try:
        with torch.random.fork_rng(), watched(dropout_model, x, y):
            torch.manual_seed(0)
            x_train_mode = call(answer, dropout_model, x, y, *kwargs.values())
        x_train_mode = expect_tensor(x_train_mode, x.shape, "the adversarial batch")
        if not same(x_train_mode, reference(dropout_model, x, y, **kwargs)):
            raise Wrong("you left the model in train mode: on a model with dropout your attack gives random "
                        "images. Attack in eval mode and restore the mode after: `was_training = model.training; "
                        "model.eval(); ...; model.train(was_training)`.", mistake="train_mode")
    finally:
        dropout_model.eval()
    return (f"same {what} as the reference on {len(x)} real test pairs ({_describe(kwargs)}); the input, the "
            f"parameters, their .grad and the model's mode are untouched; eval mode is used inside")


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
