"""Graded exercises of notebook 03: one PGD step, the full L-inf PGD, and the L2 projection."""

from __future__ import annotations

import torch

from .. import attacks
from . import fixtures
from .attack_checks import check_attack, input_gradient
from .core import Findings, Wrong, call, describe_difference, diagnose, exercise, expect_tensor, fail_if, same
from .language import Text, text

STEP_EPS, STEP_ALPHA = 0.1, 0.04


# ----------------------------------------------------------------------------- 03.pgd_step
def reference_pgd_step(x_adv, x, grad, eps, alpha):
    """x_{t+1} = clip_[0,1]( x + clip_[-eps,eps]( x_adv + alpha·sign(grad) - x ) )."""
    return (x + (x_adv + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)


def _step_inputs():
    """A real batch, an iterate on the corner of the eps ball, and the real gradient there."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(8)
    x_adv = attacks.fgsm(model, x, y, STEP_EPS)  # the first PGD step with alpha = eps: a corner of the ball
    return x_adv, x, input_gradient(model, x_adv, y)


PGD_STEP_MISTAKES = [
    ("project_before_step", lambda xa, x, g, e, a: (x + (xa - x).clamp(-e, e) + a * g.sign()).clamp(0, 1),
     text("you projected before stepping (or not at all, or only clipped the step itself): the new iterate then "
          "leaves the eps ball around the clean x. Step first, then project the new delta: "
          "clip_[-eps,eps](x_adv + alpha·sign(g) - x), then clip to [0, 1].")),
    ("no_clip", lambda xa, x, g, e, a: x + (xa + a * g.sign() - x).clamp(-e, e),
     text("you forgot the clip to [0, 1] after the projection; add `.clamp(0, 1)`.")),
    ("grad_not_sign", lambda xa, x, g, e, a: (x + (xa + a * g - x).clamp(-e, e)).clamp(0, 1),
     text("you stepped along the gradient, not its sign: L-inf PGD moves every pixel by alpha·sign(g).")),
]


@exercise("03.pgd_step", "one PGD step", solution=lambda: reference_pgd_step)
def check_pgd_step(answer) -> Findings:
    x_adv, x, grad = _step_inputs()
    inputs = [x_adv.clone(), x.clone(), grad.clone()]
    value = call(answer, *inputs, STEP_EPS, STEP_ALPHA)
    findings = Findings()
    findings.verify(text("the next iterate"), _next_iterate, value, x_adv, x, grad)
    mutated = not all(torch.equal(a, b) for a, b in zip(inputs, (x_adv, x, grad)))
    findings.verify(text("the inputs untouched"), fail_if, mutated,
                    text("you mutated one of the inputs in place: return a new tensor."), "mutated_input")
    return findings


def _next_iterate(value, x_adv, x, grad) -> Text:
    """The value is the reference PGD step; else the hint of the mistake it matches."""
    value = expect_tensor(value, x.shape, text("the next iterate"))
    expected = reference_pgd_step(x_adv, x, grad, STEP_EPS, STEP_ALPHA)
    if same(value, expected, share=1.0):
        return text("the next iterate from a corner of the eps ball (eps={eps}, alpha={alpha}) on 8 real images: "
                    "step, project on the ball around x, clip to [0, 1]", eps=STEP_EPS, alpha=STEP_ALPHA)
    diagnose(value, [(k, f(x_adv, x, grad, STEP_EPS, STEP_ALPHA), h) for k, f, h in PGD_STEP_MISTAKES], share=1.0)
    raise Wrong(text("not the PGD step: {difference}.", difference=describe_difference(value, expected)),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 03.pgd
def reference_pgd(model, x, y, eps, alpha, steps):
    return attacks.pgd(model, x, y, eps, alpha, steps)


def _iterate(step):
    def variant(model, x, y, eps, alpha, steps):
        x_adv = x
        for _ in range(steps):
            x_adv = step(x_adv, x, input_gradient(model, x_adv, y), eps, alpha)
        return x_adv

    return variant


PGD_MISTAKES = {
    "no_projection": (_iterate(lambda xa, x, g, e, a: (xa + a * g.sign()).clamp(0, 1)),
                      text("your perturbation leaves the eps ball: after a few steps of alpha it is larger than eps. "
                           "Project every iterate: x + clip_[-eps,eps](x_adv + alpha·sign(g) - x).")),
    "project_before_step": (_iterate(PGD_STEP_MISTAKES[0][1]), PGD_STEP_MISTAKES[0][2]),
    "restart_from_x": (_iterate(lambda xa, x, g, e, a: (x + (a * g.sign()).clamp(-e, e)).clamp(0, 1)),
                       text("each of your steps starts again from the clean x: the iterate must accumulate, "
                            "x_adv <- project(x_adv + alpha·sign(g)).")),
    "grad_not_sign": (_iterate(PGD_STEP_MISTAKES[2][1]), PGD_STEP_MISTAKES[2][2]),
}


@exercise("03.pgd", "L-inf PGD from memory", solution=lambda: reference_pgd)
def check_pgd(answer) -> Findings:
    return check_attack(answer, reference_pgd, PGD_MISTAKES, what=text("PGD images"), eps=0.1, alpha=0.03, steps=5)


# ----------------------------------------------------------------------------- 03.project_l2
L2_EPS = 1.0


def reference_project_l2(delta, eps):
    """delta_i · min(1, eps/||delta_i||_2): outside the ball, back onto its surface; inside, unchanged."""
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * (eps / norms).clamp(max=1).view(-1, *[1] * (delta.dim() - 1))


def _deltas() -> torch.Tensor:
    """Real images' gradients scaled to L2 lengths 0.5 ... 2.5 (half inside, half outside the unit ball)."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(8)
    lengths = torch.linspace(0.5, 2.5, 8).view(-1, 1, 1, 1)
    return attacks.unit_l2(input_gradient(model, x, y)) * lengths


@exercise("03.project_l2", "project on the L2 ball", solution=lambda: reference_project_l2)
def check_project_l2(answer) -> Findings:
    delta = _deltas()
    delta_in = delta.clone()
    value = call(answer, delta_in, L2_EPS)
    findings = Findings()
    findings.verify(text("the projected deltas"), _projected, value, delta)
    findings.verify(text("delta untouched"), fail_if, not torch.equal(delta_in, delta),
                    text("you mutated delta in place: return a new tensor."), "mutated_input")
    return findings


def _projected(value, delta) -> Text:
    """The value is the L2 projection of delta; else the hint of the mistake it matches."""
    value = expect_tensor(value, delta.shape, text("the projected delta"))
    expected = reference_project_l2(delta, L2_EPS)
    if same(value, expected, atol=1e-6, share=1.0):
        return text("deltas of L2 length 0.5 to 2.5 projected on the unit ball: the long ones shortened, the short "
                    "ones kept")
    norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    diagnose(value, [
        ("rescale_all", L2_EPS * delta / norms,
         text("you rescaled every delta to length eps: the short ones (inside the ball) must stay as they are. "
              "The factor is min(1, eps/||delta_i||).")),
        ("batch_norm", delta * min(1.0, L2_EPS / delta.norm().item()),
         text("you took one norm over the whole batch: project each sample on its own ball, "
              "`delta.flatten(1).norm(dim=1)`.")),
        ("unchanged", delta,
         text("you returned delta unchanged: the deltas longer than eps must be scaled back onto the ball.")),
    ], atol=1e-6, share=1.0)
    raise Wrong(text("not the L2 projection: {difference}. (Clamping each pixel would be the L-inf projection; the "
                     "L2 ball rescales the whole sample.)", difference=describe_difference(value, expected, 1e-6)),
                mistake="unrecognised")
