"""Graded exercises of notebook 04: the adversarial loss term, the gradient penalty, and the cost of PGD training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import adversarial_training, attacks
from . import fixtures
from .core import Findings, Wrong, call, exercise, expect_number, fail_if, watched
from .language import Text, text

EPS = 0.1


def _no_graph(what: Text) -> Text:
    return text("{what} carries no gradient to the parameters (it was computed under no_grad, detached, or with "
                "`.item()`): training could not minimise it.", what=what)


def _run_loss(answer):
    """Run answer(model, x, y, EPS) on a fresh model and copies of a real batch; return its loss and side effects."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch()
    x_in, y_in = x.clone(), y.clone()
    with watched(model, x_in, y_in) as side_effects:
        loss = call(answer, model, x_in, y_in, EPS)
    return model, x, y, loss, side_effects


def _scalar(loss, what: Text) -> str:
    """The answer is a tensor holding one number."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = list(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise Wrong(text("{what} should be a scalar tensor (one number for the batch), got {shape}.", what=what,
                         shape=shape), mistake="shape")
    return ""


def _parameter_gradients(model, loss) -> list[torch.Tensor]:
    """d loss / d parameter for every parameter of `model` (zeros where it does not depend on it)."""
    grads = torch.autograd.grad(loss.reshape(()), list(model.parameters()), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g.float() for g, p in zip(grads, model.parameters())]


def _same_gradient(model, loss, reference_model, expected, hint: Text, mistake: str) -> Text:
    """`loss` has the gradient `expected` has, parameter by parameter (each on its own copy of the model)."""
    grads = _parameter_gradients(model, loss)
    want = _parameter_gradients(reference_model, expected)
    scale = max(g.abs().max().item() for g in want)
    if not all(torch.allclose(a, b, rtol=1e-3, atol=1e-3 * scale) for a, b in zip(grads, want)):
        raise Wrong(hint, mistake=mistake)
    return text("the same gradient for every parameter")


def _check_loss(answer, what: Text, reference, value_check, no_graph, gradient_hint: Text, gradient_mistake: str):
    """Findings for a loss: a scalar; its value (``value_check``); differentiable; the reference's gradient
    (when the value is right); then its side effects. `no_graph` is (what -> hint, mistake)."""
    model, x, y, loss, side_effects = _run_loss(answer)
    findings = Findings()
    if findings.verify(text("{what} is a scalar", what=what), _scalar, loss, what):
        reference_model = fixtures.trained_cnn()
        expected = reference(reference_model, x, y, EPS)
        value = loss.detach().reshape(()).float()
        value_ok = findings.verify(text("the value of {what}", what=what), value_check, value, expected,
                                   reference_model, x, y)
        graph_ok = findings.verify(text("{what} differentiable", what=what), fail_if, not loss.requires_grad,
                                   no_graph[0](what), no_graph[1])
        if value_ok and graph_ok:
            findings.verify(text("the gradient of {what}", what=what), _same_gradient, model, loss, reference_model,
                            expected, gradient_hint, gradient_mistake)
    findings.extend(side_effects)
    return findings


# ----------------------------------------------------------------------------- 04.adversarial_loss
def reference_adversarial_loss(model, x, y, eps):
    """CE(model(x_adv), y) with x_adv = FGSM(x), a detached input: the gradient reaches θ through model(x_adv) only."""
    x_adv = attacks.fgsm(model, x, y, eps)
    return F.cross_entropy(model(x_adv), y)


@exercise("04.adversarial_loss", "the adversarial training loss", solution=lambda: reference_adversarial_loss)
def check_adversarial_loss(answer) -> Findings:
    return _check_loss(answer, text("the loss"), reference_adversarial_loss, _adversarial_value,
                       (_no_graph, "no_graph"),
                       text("the value is right but the parameters' gradient is not: the attack's graph leaks into "
                            "the loss. Detach the adversarial batch (`x_adv.detach()`) so the gradient reaches θ "
                            "through model(x_adv) only."), "attached")


def _adversarial_value(value, expected, model, x, y) -> Text:
    """The value is CE(model(FGSM(x)), y); else the hint of the mistake it matches."""
    if math.isclose(value.item(), expected.item(), rel_tol=1e-4):
        return text("loss {value:.4f} = CE(model(FGSM(x)), y) at eps={eps} on 16 real pairs", value=value.item(),
                    eps=EPS)
    clean = F.cross_entropy(model(x), y)
    if math.isclose(value.item(), clean.item(), rel_tol=1e-4):
        raise Wrong(text("your loss equals the CLEAN loss: it was computed from logits of the clean batch, with no "
                         "new forward pass on x_adv (the bug of seed 001's training loop). Call model(x_adv)."),
                    mistake="clean_logits")
    if math.isclose(value.item(), -expected.item(), rel_tol=1e-4):
        raise Wrong(text("your loss has the wrong sign: the attack maximises the loss, but training MINIMISES "
                         "CE(model(x_adv), y)."), mistake="negated")
    if math.isclose(value.item(), len(x) * expected.item(), rel_tol=1e-4):
        raise Wrong(text("your loss is the SUM over the batch: use the mean (F.cross_entropy's default), so the "
                         "step size does not depend on the batch size."), mistake="sum")
    raise Wrong(text("loss {value:.4f}, expected {expected:.4f} (CE of the FGSM batch, eps={eps}).",
                     value=value.item(), expected=expected.item(), eps=EPS), mistake="unrecognised")


# ----------------------------------------------------------------------------- 04.gradient_penalty
def reference_gradient_penalty(model, x, y, eps):
    """eps · mean_i ||grad_{x_i} CE(model(x_i), y_i)||_2, differentiable in θ (double backprop)."""
    return eps * adversarial_training.input_gradient_norms(model, x, y, "2", create_graph=True).mean()


def _penalty_from(model, x, y, eps, reduction="sum", norm=lambda g: g.flatten(1).norm(dim=1).mean()):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    return eps * norm(g)


DOUBLE_BACKPROP = text("the input gradient must itself be differentiable, `torch.autograd.grad(loss, x, "
                       "create_graph=True)` (double backprop).")


def _no_create_graph(what: Text) -> Text:
    return text("{what} carries no gradient to the parameters: {double_backprop}", what=what,
                double_backprop=DOUBLE_BACKPROP)


@exercise("04.gradient_penalty", "the gradient penalty", solution=lambda: reference_gradient_penalty)
def check_gradient_penalty(answer) -> Findings:
    return _check_loss(answer, text("the penalty"), reference_gradient_penalty, _penalty_value,
                       (_no_create_graph, "no_create_graph"),
                       text("the value is right but its gradient with respect to the parameters is not: "
                            "{double_backprop}", double_backprop=DOUBLE_BACKPROP), "no_create_graph")


def _penalty_value(value, expected, model, x, y) -> Text:
    """The value is the reference penalty; else the hint of the mistake it matches."""
    if math.isclose(value.item(), expected.item(), rel_tol=1e-4):
        return text("penalty {value:.4f} = eps·mean_i ||grad_x_i CE||_2 at eps={eps} on 16 real pairs",
                    value=value.item(), eps=EPS)
    known = [
        ("mean_loss", _penalty_from(model, x, y, EPS, "mean"),
         text("you differentiated the batch MEAN of the losses, which divides every sample's gradient by N. Sum the "
              "losses (`reduction='sum'`) so sample i's gradient is its own loss's.")),
        ("batch_norm", _penalty_from(model, x, y, EPS, norm=lambda g: g.norm()),
         text("you took one norm over the whole batch's gradient: the penalty is the MEAN of per-sample norms, "
              "`g.flatten(1).norm(dim=1).mean()`.")),
        ("l1", _penalty_from(model, x, y, EPS, norm=lambda g: g.flatten(1).norm(p=1, dim=1).mean()),
         text("that is the L1 norm, the dual of FGSM's L-inf step. The L2 step of FGM pairs with the L2 norm.")),
    ]
    for key, number, hint in known:
        if math.isclose(value.item(), number.item(), rel_tol=1e-4):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("penalty {value:.4g}, expected {expected:.4g}.", value=value.item(), expected=expected.item()),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 04.passes
PGD_STEPS = 40  # Madry et al.'s MNIST recipe


def reference_passes() -> int:
    return adversarial_training.adversarial_loss("pgd", EPS, steps=PGD_STEPS).passes_per_batch


@exercise("04.passes", "predict the cost of PGD training", solution=reference_passes)
def check_passes(answer) -> Text:
    value = expect_number(answer, text("the number of passes"))
    expected = reference_passes()
    if value == expected:
        return text("PGD-{steps} training costs {expected} forward+backward passes per batch: {steps} for the "
                    "attack, 1 to train on x_adv (Madry's objective has no clean term)", steps=PGD_STEPS,
                    expected=expected)
    known = {
        PGD_STEPS: (text("{value:g}: those are the attack's passes; the training step on x_adv is one more.",
                         value=value), "attack_only"),
        PGD_STEPS + 2: (text("{value:g}: Madry's PGD training trains on the adversarial batch only (clean_weight = "
                             "0): no clean pass.", value=value), "clean_pass"),
        2: (text("{value:g}: that is FGSM training (one attack pass + one training pass); PGD-{steps} needs {steps} "
                 "attack passes.", value=value, steps=PGD_STEPS), "fgsm"),
    }
    if value in known:
        hint, key = known[value]
        raise Wrong(hint, mistake=key)
    raise Wrong(text("{value:g} is not it: count the attack's gradient passes, then the training pass.", value=value),
                mistake="unrecognised")
