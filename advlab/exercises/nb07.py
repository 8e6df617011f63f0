"""Graded exercises of notebook 07: MAML's inner step, the ADML meta-loss, and which pair is crossed."""

from __future__ import annotations

import copy
import functools

import torch
import torch.nn.functional as F
from torch.func import functional_call

from .. import data, meta
from . import fixtures
from .core import Findings, Wrong, call, exercise, fail_if
from .language import Text, text

INNER_LR, EPS = 0.4, 0.1


def _task():
    """A fresh copy of a 2-way 5-shot episode of real digits and a small CNN (fixed seed), as in notebook 07."""
    return copy.deepcopy(_cached_task())


@functools.cache
def _cached_task():
    images, labels = data.load_mnist("train", source=fixtures.SOURCE)
    episode = meta.EpisodeSampler(images, labels, classes=range(6), n_way=2, k_shot=5, n_query=5, seed=0).sample()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = meta.few_shot_cnn(2)
    return model, episode


def _fresh_params(model):
    return {n: p.detach().clone().requires_grad_(True) for n, p in meta.parameters_of(model).items()}


def _meta_gradient(model, params, adapted, episode):
    loss = F.cross_entropy(functional_call(model, adapted, (episode.query_x,)), episode.query_y)
    return torch.autograd.grad(loss, list(params.values()), allow_unused=True)


# ----------------------------------------------------------------------------- 07.inner_step
def reference_inner_step(model, params, x, y, inner_lr):
    """θ' = θ - α ∇_θ L(θ; x, y), kept differentiable in θ (create_graph=True)."""
    return meta.adapt(model, params, x, y, inner_lr, inner_steps=1, first_order=False)


@exercise("07.inner_step", "MAML's inner step", solution=lambda: reference_inner_step)
def check_inner_step(answer) -> Findings:
    model, episode = _task()
    params = _fresh_params(model)
    before = {n: p.detach().clone() for n, p in params.items()}
    adapted = call(answer, model, params, episode.support_x, episode.support_y, INNER_LR)
    if not isinstance(adapted, dict) or set(adapted) != set(params):
        raise Wrong(text("return a dict with the same parameter names as θ ({names}).", names=", ".join(params)),
                    mistake="type")
    model, episode = _task()  # a fresh copy again, and θ as it was: whatever the answer did to its own
    reference_params = _fresh_params(model)
    expected = reference_inner_step(model, reference_params, episode.support_x, episode.support_y, INNER_LR)
    findings = Findings()
    values_ok = findings.verify(text("the values of θ'"), _adapted_values, adapted, expected, reference_params)
    mutated = any(not torch.equal(params[n].detach(), before[n]) for n in params)
    theta_ok = findings.verify(text("θ untouched"), fail_if, mutated, text(
        "θ itself changed: your update wrote into the meta-parameters (seed 003's bug, `W.data = θ.data` shares "
        "storage, so every inner step mutates θ). Build new tensors: `{{n: p - lr * g for ...}}`."), "mutated_theta")
    if values_ok and theta_ok and findings.verify(  # the graph tells something only when θ' is new and right
            text("θ' attached to θ"), fail_if, not all(adapted[n].requires_grad for n in params),
            text("θ' is detached from θ: the meta-gradient cannot flow back through the inner step."), "detached"):
        findings.verify(text("the second-order meta-gradient"), _second_order, model, episode, params, adapted,
                        reference_params, expected)
    return findings


def _adapted_values(adapted, expected, params) -> Text:
    """θ' = θ - α·∇L(θ; support) for every parameter; else the mistake it matches."""
    if all(torch.allclose(adapted[n].detach(), expected[n].detach(), atol=1e-6) for n in params):
        return text("θ' = θ - {lr}·∇L on a real 2-way 5-shot support set", lr=INNER_LR)
    ascent = {n: 2 * params[n].detach() - expected[n].detach() for n in params}  # θ + α·g
    if all(torch.allclose(adapted[n].detach(), ascent[n], atol=1e-6) for n in params):
        raise Wrong(text("wrong sign: you climbed the support loss (θ + α·g). The inner step descends: θ - α·g."),
                    mistake="ascent")
    raise Wrong(text("θ' differs from θ - α·∇_θ L(θ; support)."), mistake="unrecognised")


def _second_order(model, episode, params, adapted, reference_params, expected) -> Text:
    """The meta-gradient through θ' equals the reference's second-order one."""
    got = _meta_gradient(model, params, adapted, episode)
    want = _meta_gradient(model, reference_params, expected, episode)
    if not all(a is not None and torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(got, want)):
        raise Wrong(text("the values are right but the meta-gradient is first-order: pass `create_graph=True` to "
                         "torch.autograd.grad so the gradient flows through ∇_θ L too (second-order MAML)."),
                    mistake="first_order")
    return text("the same second-order meta-gradient as the reference")


# ----------------------------------------------------------------------------- 07.adml_loss
def reference_adml_loss(model, params, episode, inner_lr, eps):
    """L_q(θ'_clean; FGSM query) + L_q(θ'_adv; clean query), FGSM crafted against θ."""
    return meta.adml_task_loss(model, params, episode, inner_lr, eps).loss


def _adml_variant(model, params, episode, inner_lr, eps, crossed=True, attack_params=None):
    attack_params = params if attack_params is None else attack_params
    support_adv = meta.fgsm_against(model, attack_params, episode.support_x, episode.support_y, eps)
    query_adv = meta.fgsm_against(model, attack_params, episode.query_x, episode.query_y, eps)
    theta_clean = meta.adapt(model, params, episode.support_x, episode.support_y, inner_lr)
    theta_adv = meta.adapt(model, params, support_adv, episode.support_y, inner_lr)
    queries = (query_adv, episode.query_x) if crossed else (episode.query_x, query_adv)
    return (F.cross_entropy(functional_call(model, theta_clean, (queries[0],)), episode.query_y)
            + F.cross_entropy(functional_call(model, theta_adv, (queries[1],)), episode.query_y))


@exercise("07.adml_loss", "the ADML meta-loss", solution=lambda: reference_adml_loss)
def check_adml_loss(answer) -> Findings:
    model, episode = _task()
    value = call(answer, model, _fresh_params(model), episode, INNER_LR, EPS)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise Wrong(text("return the meta-loss as a scalar tensor."), mistake="shape")
    findings = Findings()
    findings.verify(text("the value of the meta-loss"), _adml_value, value.detach().reshape(()).item())
    findings.verify(text("differentiable in θ"), fail_if, not value.requires_grad, text(
        "the meta-loss carries no gradient to θ: it must stay differentiable (no .item(), no detach)."), "no_graph")
    return findings


def _adml_value(number: float) -> Text:
    """The number is the reference ADML meta-loss; else the hint of the mistake it matches."""
    model, episode = _task()
    params = _fresh_params(model)
    expected = reference_adml_loss(model, params, episode, INNER_LR, EPS).item()
    if abs(number - expected) <= 1e-5 * max(1.0, abs(expected)):
        return text("meta-loss {number:.4f} = L(θ'_clean; adversarial query) + L(θ'_adv; clean query) on a real "
                    "2-way 5-shot episode (eps={eps})", number=number, eps=EPS)
    theta_clean = meta.adapt(model, params, episode.support_x, episode.support_y, INNER_LR)
    known = [
        ("not_crossed", _adml_variant(model, params, episode, INNER_LR, EPS, crossed=False),
         text("the ADML pairs are not crossed: you scored θ'_clean on the clean query and θ'_adv on the adversarial "
              "one. ADML crosses them: θ'_clean on the ADVERSARIAL query, θ'_adv on the CLEAN query.")),
        ("attack_adapted", _adml_variant(model, params, episode, INNER_LR, EPS, attack_params=theta_clean),
         text("you crafted FGSM against the adapted θ'_clean; ADML crafts the adversarial support and query against "
              "the current θ, before adaptation.")),
        ("maml", meta.maml_task_loss(model, params, episode, INNER_LR).loss,
         text("that is the plain MAML loss (clean support, clean query): ADML adds the adversarial copies and crosses "
              "them.")),
    ]
    for key, wrong, hint in known:
        if abs(number - wrong.item()) <= 1e-5 * max(1.0, abs(wrong.item())):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("meta-loss {number:.4f}, expected {expected:.4f}.", number=number, expected=expected),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 07.crossed
def reference_crossed() -> dict:
    return {"theta_clean": "adversarial", "theta_adv": "clean"}


@exercise("07.crossed", "which query set scores which adaptation", solution=reference_crossed)
def check_crossed(answer) -> Text:
    if not isinstance(answer, dict) or set(answer) != {"theta_clean", "theta_adv"}:
        raise Wrong(text("answer with a dict {{'theta_clean': ..., 'theta_adv': ...}}, each 'clean' or "
                         "'adversarial'."), mistake="type")
    values = {k: str(v).strip().lower() for k, v in answer.items()}
    if any(v not in ("clean", "adversarial") for v in values.values()):
        raise Wrong(text("each value must be 'clean' or 'adversarial'."), mistake="type")
    if values == reference_crossed():
        return text("θ'_clean answers the adversarial query, θ'_adv the clean one: each adaptation is tested where it "
                    "did not train")
    if values == {"theta_clean": "clean", "theta_adv": "adversarial"}:
        raise Wrong(text("not crossed: that scores each adaptation on the kind of data it adapted on. ADML crosses "
                         "the pairs so each must generalise to the other kind."), mistake="not_crossed")
    raise Wrong(text("both adaptations are scored on different query sets: one on clean, one on adversarial."),
                mistake="same_set")
