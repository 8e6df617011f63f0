"""Graded exercises of notebook 04: the adversarial loss term, the gradient penalty, and the cost of PGD training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import adversarial_training, attacks
from . import fixtures
from .core import Wrong, call, exercise, expect_number, watched

EPS = 0.1


NO_GRAPH = ("{what} carries no gradient to the parameters (it was computed under no_grad, detached, or with "
            "`.item()`): training could not minimise it.", "no_graph")


def _scalar_with_gradients(answer, what: str, no_graph=NO_GRAPH):
    """Run answer(model, x, y, EPS); return (inputs, its value, its parameter gradients)."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch()
    with watched(model, x, y):
        loss = call(answer, model, x, y, EPS)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            shape = list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise Wrong(f"{what} should be a scalar tensor (one number for the batch), got {shape}.", mistake="shape")
        if not loss.requires_grad:
            raise Wrong(no_graph[0].format(what=what), mistake=no_graph[1])
        grads = torch.autograd.grad(loss.reshape(()), list(model.parameters()), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, model.parameters())]
    return model, x, y, loss.detach().reshape(()), grads


def _parameter_gradients(model, loss):
    return torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)


def _gradients_match(grads, model, loss, rtol=1e-3) -> bool:
    expected = [torch.zeros_like(p) if g is None else g
                for g, p in zip(_parameter_gradients(model, loss), model.parameters())]
    scale = max(g.abs().max().item() for g in expected)
    return all(torch.allclose(a, b, rtol=rtol, atol=rtol * scale) for a, b in zip(grads, expected))


# ----------------------------------------------------------------------------- 04.adversarial_loss
def reference_adversarial_loss(model, x, y, eps):
    """CE(model(x_adv), y) with x_adv = FGSM(x), a detached input: the gradient reaches θ through model(x_adv) only."""
    x_adv = attacks.fgsm(model, x, y, eps)
    return F.cross_entropy(model(x_adv), y)


@exercise("04.adversarial_loss", "the adversarial training loss", solution=lambda: reference_adversarial_loss)
def check_adversarial_loss(answer) -> str:
    model, x, y, value, grads = _scalar_with_gradients(answer, "the loss")
    expected = reference_adversarial_loss(model, x, y, EPS)
    if math.isclose(value.item(), expected.item(), rel_tol=1e-4) and _gradients_match(grads, model, expected):
        return (f"loss {value.item():.4f} = CE(model(FGSM(x)), y) at eps={EPS} on 16 real pairs, and the same "
                "gradient for every parameter")
    if math.isclose(value.item(), expected.item(), rel_tol=1e-4):
        raise Wrong("the value is right but the parameters' gradient is not: the attack's graph leaks into the "
                    "loss. Detach the adversarial batch (`x_adv.detach()`) so the gradient reaches θ through "
                    "model(x_adv) only.", mistake="attached")
    clean = F.cross_entropy(model(x), y)
    if math.isclose(value.item(), clean.item(), rel_tol=1e-4):
        raise Wrong("your loss equals the CLEAN loss: it was computed from logits of the clean batch, with no new "
                    "forward pass on x_adv (the bug of seed 001's training loop). Call model(x_adv).",
                    mistake="clean_logits")
    if math.isclose(value.item(), -expected.item(), rel_tol=1e-4):
        raise Wrong("your loss has the wrong sign: the attack maximises the loss, but training MINIMISES "
                    "CE(model(x_adv), y).", mistake="negated")
    if math.isclose(value.item(), len(x) * expected.item(), rel_tol=1e-4):
        raise Wrong("your loss is the SUM over the batch: use the mean (F.cross_entropy's default), so the step "
                    "size does not depend on the batch size.", mistake="sum")
    raise Wrong(f"loss {value.item():.4f}, expected {expected.item():.4f} (CE of the FGSM batch, eps={EPS}).",
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 04.gradient_penalty
def reference_gradient_penalty(model, x, y, eps):
    """eps · mean_i ||grad_{x_i} CE(model(x_i), y_i)||_2, differentiable in θ (double backprop)."""
    return eps * adversarial_training.input_gradient_norms(model, x, y, "2", create_graph=True).mean()


def _penalty_from(model, x, y, eps, reduction="sum", norm=lambda g: g.flatten(1).norm(dim=1).mean()):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    return eps * norm(g)


@exercise("04.gradient_penalty", "the gradient penalty", solution=lambda: reference_gradient_penalty)
def check_gradient_penalty(answer) -> str:
    no_graph = ("{what} carries no gradient to the parameters: the input gradient must itself be differentiable, "
                "`torch.autograd.grad(loss, x, create_graph=True)` (double backprop).", "no_create_graph")
    model, x, y, value, grads = _scalar_with_gradients(answer, "the penalty", no_graph)
    expected = reference_gradient_penalty(model, x, y, EPS)
    if math.isclose(value.item(), expected.item(), rel_tol=1e-4):
        if not _gradients_match(grads, model, expected):
            raise Wrong("the value is right but its gradient with respect to the parameters is not: the input "
                        "gradient must stay differentiable, `torch.autograd.grad(loss, x, create_graph=True)` "
                        "(double backprop).", mistake="no_create_graph")
        return (f"penalty {value.item():.4f} = eps·mean_i ||grad_x_i CE||_2 at eps={EPS} on 16 real pairs, with "
                "the right gradient for every parameter (double backprop)")
    known = [
        ("mean_loss", _penalty_from(model, x, y, EPS, "mean"),
         "you differentiated the batch MEAN of the losses, which divides every sample's gradient by N. Sum the "
         "losses (`reduction='sum'`) so sample i's gradient is its own loss's."),
        ("batch_norm", _penalty_from(model, x, y, EPS, norm=lambda g: g.norm()),
         "you took one norm over the whole batch's gradient: the penalty is the MEAN of per-sample norms, "
         "`g.flatten(1).norm(dim=1).mean()`."),
        ("l1", _penalty_from(model, x, y, EPS, norm=lambda g: g.flatten(1).norm(p=1, dim=1).mean()),
         "that is the L1 norm, the dual of FGSM's L-inf step. The L2 step of FGM pairs with the L2 norm."),
    ]
    for key, number, hint in known:
        if math.isclose(value.item(), number.item(), rel_tol=1e-4):
            raise Wrong(hint, mistake=key)
    raise Wrong(f"penalty {value.item():.4g}, expected {expected.item():.4g}.", mistake="unrecognised")


# ----------------------------------------------------------------------------- 04.passes
PGD_STEPS = 40  # Madry et al.'s MNIST recipe


def reference_passes() -> int:
    return adversarial_training.adversarial_loss("pgd", EPS, steps=PGD_STEPS).passes_per_batch


@exercise("04.passes", "predict the cost of PGD training", solution=reference_passes)
def check_passes(answer) -> str:
    value = expect_number(answer, "the number of passes")
    expected = reference_passes()
    if value == expected:
        return (f"PGD-{PGD_STEPS} training costs {expected} forward+backward passes per batch: {PGD_STEPS} for the "
                "attack, 1 to train on x_adv (Madry's objective has no clean term)")
    known = {
        PGD_STEPS: ("those are the attack's passes; the training step on x_adv is one more.", "attack_only"),
        PGD_STEPS + 2: ("Madry's PGD training trains on the adversarial batch only (clean_weight = 0): no clean "
                        "pass.", "clean_pass"),
        2: (f"that is FGSM training (one attack pass + one training pass); PGD-{PGD_STEPS} needs {PGD_STEPS} "
            "attack passes.", "fgsm"),
    }
    if value in known:
        hint, key = known[value]
        raise Wrong(f"{value:g}: {hint}", mistake=key)
    raise Wrong(f"{value:g} is not it: count the attack's gradient passes, then the training pass.",
                mistake="unrecognised")
