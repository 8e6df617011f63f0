"""Graded exercises of notebook 05: the KL term of VAT, the virtual adversarial direction, and a KL by hand."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import attacks, vat
from . import fixtures
from .core import (Findings, Wrong, call, describe_difference, diagnose, exercise, expect_number, expect_tensor, same,
                   watched)
from .language import Text, text

XI, EPS = 1.0, 2.0


# ----------------------------------------------------------------------------- 05.kl
def reference_kl(clean_logits, perturbed_logits):
    """mean_i KL(p_i || q_i), p = softmax(clean) held fixed (detached), q = softmax(perturbed)."""
    return vat.kl_from_logits(clean_logits, perturbed_logits)


def _logit_pairs():
    model = fixtures.trained_cnn()
    x, _ = fixtures.batch()
    noise = torch.randn(x.shape, generator=fixtures.generator(5))
    with torch.no_grad():
        return model(x), model((x + 0.3 * noise).clamp(0, 1))


@exercise("05.kl", "the KL term", solution=lambda: reference_kl)
def check_kl(answer) -> Findings:
    clean, perturbed = _logit_pairs()
    clean_in, perturbed_in = clean.clone().requires_grad_(True), perturbed.clone().requires_grad_(True)
    value = call(answer, clean_in, perturbed_in)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise Wrong(text("the KL should be a scalar tensor (the batch mean), got {shape}.", shape=shape),
                    mistake="shape")
    findings = Findings()
    findings.verify(text("the value of the KL"), _kl_value, value.detach().reshape(()).item(), clean, perturbed)
    if findings.verify(text("differentiable in q"), _flows_into, value, perturbed_in):
        findings.verify(text("p detached"), _detached, value, clean_in)
    return findings


def _flows_into(value, perturbed_in) -> str:
    """A gradient reaches the perturbed logits (VAT trains through q)."""
    grad = None
    if value.requires_grad:
        (grad,) = torch.autograd.grad(value.reshape(()), perturbed_in, allow_unused=True, retain_graph=True)
    if grad is None or not grad.abs().max() > 0:
        raise Wrong(text("your KL carries no gradient to the perturbed logits: VAT trains through q = "
                         "softmax(perturbed) (no .item(), no detach of q)."), mistake="no_graph")
    return ""


def _detached(value, clean_in) -> str:
    """No gradient reaches the clean logits (p is a fixed target)."""
    (grad_clean,) = torch.autograd.grad(value.reshape(()), clean_in, allow_unused=True, retain_graph=True)
    if grad_clean is not None and grad_clean.abs().max() > 0:
        raise Wrong(text("a gradient flows into the clean logits: p(.|x) is the fixed 'virtual label' of VAT, "
                         "detach it (`clean_logits.detach()`)."), mistake="not_detached")
    return ""


def _kl_value(number: float, clean, perturbed) -> Text:
    """The number is mean_i KL(p_i || q_i); else the hint of the mistake it matches."""
    expected = reference_kl(clean, perturbed).item()
    if math.isclose(number, expected, rel_tol=1e-4):
        return text("KL(p||q) = {number:.5f}, mean over 16 real pairs", number=number)
    log_p, log_q = F.log_softmax(clean, 1), F.log_softmax(perturbed, 1)
    known = [
        ("reversed", (log_q.exp() * (log_q - log_p)).sum(1).mean(),
         text("KL in the wrong direction: you computed KL(q||p). VAT's LDS is KL(p(.|x) || p(.|x+r)), the clean "
              "distribution first: sum p·(log p - log q). (F.kl_div(input, target) computes "
              "KL(target||exp(input)).)")),
        ("sum", (log_p.exp() * (log_p - log_q)).sum(),
         text("you summed over the batch: take the mean over samples (the sum over classes stays).")),
        ("mean_classes", (log_p.exp() * (log_p - log_q)).mean(),
         text("you averaged over the classes too: sum over classes, then mean over samples (F.kl_div's "
              "reduction='batchmean', not 'mean').")),
    ]
    for key, number_known, hint in known:
        if math.isclose(number, number_known.item(), rel_tol=1e-4):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("KL = {number:.5g}, expected {expected:.5g}.", number=number, expected=expected),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 05.vadv
def reference_vadv(model, x, d, xi, eps):
    """One power iteration from d: d <- grad_d KL(p(.|x) || p(.|x + xi·d/||d||)), r = eps·d/||d|| per sample."""
    return vat.virtual_adversarial_perturbation(model, x, xi, eps, power_iterations=1, d=d)


def _batch_normalised_vadv(model, x, d, xi, eps):
    """The mistake: both normalisations over the whole batch instead of per sample."""
    d = (xi * d / d.norm()).requires_grad_(True)
    with torch.no_grad():
        clean = model(x)
    (g,) = torch.autograd.grad(vat.kl_from_logits(clean, model(x + d)), d)
    return eps * g / g.norm()


@exercise("05.vadv", "the virtual adversarial direction", solution=lambda: reference_vadv)
def check_vadv(answer) -> Findings:
    x, _ = fixtures.batch()
    d = torch.randn(x.shape, generator=fixtures.generator(7))
    model, x_in, d_in = fixtures.trained_cnn(), x.clone(), d.clone()
    with watched(model, x_in, d_in) as side_effects:
        r = call(answer, model, x_in, d_in, XI, EPS)
    findings = Findings()
    findings.verify(text("r_vadv matches the reference"), _same_vadv, r, x, d)
    findings.extend(side_effects)
    return findings


def _same_vadv(r, x, d) -> Text:
    """r equals the reference direction; else the hint of the mistake it matches."""
    r = expect_tensor(r, x.shape, "r_vadv")
    model = fixtures.trained_cnn()
    expected = reference_vadv(model, x, d, XI, EPS)
    if same(r, expected, atol=1e-4):
        return text("r_vadv from one power iteration (xi={xi}, eps={eps}) matches the reference on 16 real pairs",
                    xi=XI, eps=EPS)
    diagnose(r, [
        ("random_d", EPS * attacks.unit_l2(d),
         text("your r is just the random start d rescaled (seed 000's bug: `d = d.clone()` after backward keeps d, "
              "not its gradient). Use the gradient: `(d_grad,) = torch.autograd.grad(kl, d)`.")),
        ("batch_norm", _batch_normalised_vadv(model, x, d, XI, EPS),
         text("you normalised over the whole batch: r must have length eps for EACH sample (norm over dim 1 after "
              "flatten(1)).")),
    ], atol=1e-4)
    norms = r.flatten(1).norm(dim=1)
    if not torch.allclose(norms, torch.full_like(norms, EPS), rtol=1e-3):
        raise Wrong(text("every sample of r should have L2 length eps = {eps}; yours range from {low:.3g} to "
                         "{high:.3g}.", eps=EPS, low=norms.min().item(), high=norms.max().item()), mistake="length")
    raise Wrong(text("not the virtual adversarial direction: {difference}.",
                     difference=describe_difference(r, expected, 1e-4)), mistake="unrecognised")


# ----------------------------------------------------------------------------- 05.kl_value
P, Q = (0.9, 0.1), (0.5, 0.5)


def reference_kl_value() -> float:
    return sum(p * math.log(p / q) for p, q in zip(P, Q))


@exercise("05.kl_value", "a KL by hand", solution=reference_kl_value)
def check_kl_value(answer) -> Text:
    value = expect_number(answer, "KL(p||q)")
    expected = reference_kl_value()
    if math.isclose(value, expected, rel_tol=0.01):
        return text("KL(p||q) = 0.9·ln(0.9/0.5) + 0.1·ln(0.1/0.5) = {expected:.4f} nats", expected=expected)
    reverse = sum(q * math.log(q / p) for p, q in zip(P, Q))
    known = [
        ("reversed", reverse, text("{value:.4g}: that is KL(q||p): the direction matters. KL(p||q) weighs the "
                                   "log-ratio by p.", value=value)),
        ("bits", expected / math.log(2), text("{value:.4g}: that is in bits (log base 2); use the natural log "
                                              "(nats), as torch does.", value=value)),
        ("negative", -expected, text("{value:.4g}: a KL is never negative: you flipped the ratio (log q/p weighted "
                                     "by p).", value=value)),
    ]
    for key, number, hint in known:
        if math.isclose(value, number, rel_tol=0.01):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("{value:.4g} is not it: sum over the two classes of p·ln(p/q).", value=value),
                mistake="unrecognised")
