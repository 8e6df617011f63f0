"""advlab.exercises: every reference answer passes, and every catalogued mistake, written here as a
small wrong implementation, fails with its own hint. A checker never crashes on a wrong answer."""

import math
from statistics import NormalDist

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from advlab import attacks, exercises, meta, vat
from advlab.exercises import core
from test_exercises_nb12 import WRONG as WRONG_12  # notebook 12's catalogue lives in its own file

CONTEXT_FREE = [name for name in exercises.names() if not core.REGISTRY[name].needs]


# ----------------------------------------------------------------------------- learner-style helpers
def grad_x(model, x, y, reduction="mean"):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    return g


def in_eval(attack):
    """A learner's attack that does switch to eval mode and back, around `attack`."""

    def wrapped(model, *args):
        was_training = model.training
        model.eval()
        try:
            return attack(model, *args)
        finally:
            model.train(was_training)

    return wrapped


def per_sample_unit(g):
    return g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


class NoReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g, None


class ForwardFlip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return -x

    @staticmethod
    def backward(ctx, g):
        return -ctx.lambd * g, None


class NoLambda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g, None


def shared_storage_step(model, params, x, y, lr):
    """Seed 003's inner step: the update is written into θ's own storage."""
    grads = torch.autograd.grad(F.cross_entropy(functional_call(model, params, (x,)), y), list(params.values()))
    for p, g in zip(params.values(), grads):
        p.data -= lr * g
    return params


def adml_not_crossed(model, params, episode, lr, eps):
    s_adv = meta.fgsm_against(model, params, episode.support_x, episode.support_y, eps)
    q_adv = meta.fgsm_against(model, params, episode.query_x, episode.query_y, eps)
    clean = meta.adapt(model, params, episode.support_x, episode.support_y, lr)
    adv = meta.adapt(model, params, s_adv, episode.support_y, lr)
    return (F.cross_entropy(functional_call(model, clean, (episode.query_x,)), episode.query_y)
            + F.cross_entropy(functional_call(model, adv, (q_adv,)), episode.query_y))


def seed000_vadv(model, x, d, xi, eps):
    """Seed 000: backward() on the KL, then keeps the random d instead of its gradient."""
    d = (xi * per_sample_unit(d)).requires_grad_(True)
    with torch.no_grad():
        p = F.softmax(model(x), 1)
    kl = (p * (p.log() - F.log_softmax(model(x + d), 1))).sum(1).mean()
    kl.backward()
    model.zero_grad(set_to_none=True)
    d = d.clone().detach()
    return eps * per_sample_unit(d)


def batch_normalised_vadv(model, x, d, xi, eps):
    d = (xi * d / d.norm()).requires_grad_(True)
    with torch.no_grad():
        p = F.softmax(model(x), 1)
    kl = (p * (p.log() - F.log_softmax(model(x + d), 1))).sum(1).mean()
    (g,) = torch.autograd.grad(kl, d)
    return eps * g / g.norm()


def ascent_step(model, params, x, y, lr):
    grads = torch.autograd.grad(F.cross_entropy(functional_call(model, params, (x,)), y), list(params.values()),
                                create_graph=True)
    return {n: p + lr * g for (n, p), g in zip(params.items(), grads)}


def fgsm_with_backward(model, x, y, eps):
    """Uses loss.backward() on a copy of x: right images, but every parameter's .grad is filled."""
    was_training = model.training
    model.eval()
    x = x.clone().requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    model.train(was_training)
    return (x + eps * x.grad.sign()).clamp(0, 1).detach()


def fgsm_loss_with_leaking_graph(model, x, y, eps):
    """Right value, but the attack's graph (a zero-valued term through the input gradient) reaches θ."""
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x, create_graph=True)
    x_adv = (x + eps * g.sign()).clamp(0, 1).detach() + (g - g.detach())
    return F.cross_entropy(model(x_adv), y)


def adml_attacking_the_adapted_model(model, params, episode, lr, eps):
    clean = meta.adapt(model, params, episode.support_x, episode.support_y, lr)
    s_adv = meta.fgsm_against(model, clean, episode.support_x, episode.support_y, eps)
    q_adv = meta.fgsm_against(model, clean, episode.query_x, episode.query_y, eps)
    adv = meta.adapt(model, params, s_adv, episode.support_y, lr)
    return (F.cross_entropy(functional_call(model, clean, (q_adv,)), episode.query_y)
            + F.cross_entropy(functional_call(model, adv, (episode.query_x,)), episode.query_y))


def checkpoints_without_floor(steps):
    gap, at, out = int(0.22 * steps), 0, []
    while gap > 0 and at + gap <= steps:
        at += gap
        out.append(at)
        gap -= int(0.03 * steps)
    return out


def one_radius_bounds(layer, lower, upper, one_radius):
    """Interval bounds with one radius for all features, e.g. one_radius = lambda r: r.mean()."""
    centre, radius = layer((lower + upper) / 2), one_radius((upper - lower) / 2)
    spread = radius * layer.weight.abs().sum(dim=1)
    return centre - spread, centre + spread


def pgd_loop(step, eval_mode=True):
    """A learner's PGD loop around one step rule step(x_adv, x, g, eps, alpha)."""

    def attack(model, x, y, eps, alpha, steps):
        x_adv = x.clone()
        for _ in range(steps):
            x_adv = step(x_adv, x, grad_x(model, x_adv, y), eps, alpha)
        return x_adv

    return in_eval(attack) if eval_mode else attack


# ----------------------------------------------------------------------------- the catalogue
# (exercise, wrong answer, expected mistake key, a fragment of its hint)
WRONG = [
    ("00.label", lambda d: (d[:, 0] == 0).long(), "first_only", "first digit only"),
    ("00.label", lambda d: (d == 0).all(1).long(), "all", "BOTH digits"),
    ("00.label", lambda d: (d != 0).all(1).long(), "inverted", "inverted"),
    ("00.label", lambda d: (d == 0).any(1), "dtype", ".long()"),
    ("00.mix", lambda a, b: a + b, "no_clip", "seed's bug"),
    ("00.mix", lambda a, b: (a + b) / 2, "mean", "averaged"),
    ("00.mix", lambda a, b: torch.maximum(a, b), "max", "torch.maximum"),
    ("00.mix", lambda a, b: a.add_(b).clamp_(0, 1), "mutated_input", "mutated"),
    ("00.parameters", 32440, "no_bias", "biases"),
    ("00.parameters", 18382, "two_class", "2-class model"),
    ("00.parameters", 14852, "no_head", "linear head"),
    ("00.parameters", 17650, "head_only", "head only"),
    ("01.fgsm", in_eval(lambda m, x, y, e: x + e * grad_x(m, x, y).sign()), "no_clip", "clip to [0, 1]"),
    ("01.fgsm", in_eval(lambda m, x, y, e: (x + e * grad_x(m, x, y)).clamp(0, 1)), "grad_not_sign", "not its sign"),
    ("01.fgsm", in_eval(lambda m, x, y, e: (x - e * grad_x(m, x, y).sign()).clamp(0, 1)), "descent", "wrong sign"),
    ("01.fgsm", lambda m, x, y, e: (x + e * grad_x(m, x, y).sign()).clamp(0, 1), "train_mode", "train mode"),
    ("01.fgsm", in_eval(lambda m, x, y, e: x.add_(e * grad_x(m, x, y).sign()).clamp_(0, 1)), "mutated_input",
     "mutated the input"),
    ("01.targeted", in_eval(lambda m, x, t, e: (x + e * grad_x(m, x, t).sign()).clamp(0, 1)), "targeted_sign",
     "wrong sign for a targeted attack"),
    ("01.targeted", in_eval(lambda m, x, t, e: x - e * grad_x(m, x, t).sign()), "no_clip", "clip"),
    ("02.fgm", in_eval(lambda m, x, y, e: (x + e * grad_x(m, x, y) / grad_x(m, x, y).norm()).clamp(0, 1)),
     "batch_norm", "over the whole batch"),
    ("02.fgm", in_eval(lambda m, x, y, e: (x + e * grad_x(m, x, y).sign()).clamp(0, 1)), "sign", "that is FGSM"),
    ("02.fgm", in_eval(lambda m, x, y, e: (x + e * grad_x(m, x, y)).clamp(0, 1)), "not_normalised", "normalise"),
    ("02.fgm", in_eval(lambda m, x, y, e: x + e * per_sample_unit(grad_x(m, x, y))), "no_clip", "clip"),
    ("02.unit_l2", lambda g: g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1), "zero_division", "0/0 = NaN"),
    ("02.unit_l2", lambda g: g / g.norm(), "batch_norm", "over the whole batch"),
    ("02.unit_l2", lambda g: g.sign(), "per_pixel", "sign(g)"),
    ("02.spread", 2.8, "whole_step", "shared among the pixels"),
    ("02.spread", 2.8 / 196, "l1", "L1 length"),
    ("02.spread", 0.1, "all_pixels", "all 784 pixels"),
    ("03.pgd_step", lambda xa, x, g, e, a: (x + (xa - x).clamp(-e, e) + a * g.sign()).clamp(0, 1),
     "project_before_step", "projected before stepping"),
    ("03.pgd_step", lambda xa, x, g, e, a: (xa + (a * g.sign()).clamp(-e, e)).clamp(0, 1), "project_before_step",
     "only clipped the step itself"),
    ("03.pgd_step", lambda xa, x, g, e, a: x + (xa + a * g.sign() - x).clamp(-e, e), "no_clip", "clip to [0, 1]"),
    ("03.pgd_step", lambda xa, x, g, e, a: (x + (xa + a * g - x).clamp(-e, e)).clamp(0, 1), "grad_not_sign",
     "not its sign"),
    ("03.pgd", pgd_loop(lambda xa, x, g, e, a: (xa + a * g.sign()).clamp(0, 1)), "no_projection",
     "leaves the eps ball"),
    ("03.pgd", pgd_loop(lambda xa, x, g, e, a: (x + (xa - x).clamp(-e, e) + a * g.sign()).clamp(0, 1)),
     "project_before_step", "projected before stepping"),
    ("03.pgd", pgd_loop(lambda xa, x, g, e, a: (x + a * g.sign()).clamp(0, 1)), "restart_from_x", "starts again"),
    ("03.pgd", pgd_loop(lambda xa, x, g, e, a: (x + (xa + a * g - x).clamp(-e, e)).clamp(0, 1)), "grad_not_sign",
     "not its sign"),
    ("03.pgd", pgd_loop(lambda xa, x, g, e, a: (x + (xa + a * g.sign() - x).clamp(-e, e)).clamp(0, 1), eval_mode=False),
     "train_mode", "train mode"),
    ("03.project_l2", lambda d, e: e * per_sample_unit(d), "rescale_all", "every delta to length eps"),
    ("03.project_l2", lambda d, e: d * min(1.0, e / d.norm().item()), "batch_norm", "whole batch"),
    ("03.project_l2", lambda d, e: d.clone(), "unchanged", "unchanged"),
    ("04.adversarial_loss", lambda m, x, y, e: F.cross_entropy(m(x), y), "clean_logits", "seed 001"),
    ("04.adversarial_loss", lambda m, x, y, e: -F.cross_entropy(m(attacks.fgsm(m, x, y, e)), y), "negated",
     "wrong sign"),
    ("04.adversarial_loss", lambda m, x, y, e: F.cross_entropy(m(attacks.fgsm(m, x, y, e)), y, reduction="sum"),
     "sum", "SUM"),
    ("04.gradient_penalty", lambda m, x, y, e: e * grad_x(m, x, y, "sum").flatten(1).norm(dim=1).mean(),
     "no_create_graph", "create_graph=True"),
    ("04.gradient_penalty", lambda m, x, y, e: e * grad_x(m, x, y).flatten(1).norm(dim=1).mean().requires_grad_(),
     "mean_loss", "MEAN"),
    ("04.gradient_penalty", lambda m, x, y, e: e * grad_x(m, x, y, "sum").norm().requires_grad_(), "batch_norm",
     "whole batch"),
    ("04.gradient_penalty", lambda m, x, y, e: e * grad_x(m, x, y, "sum").flatten(1).norm(p=1, dim=1).mean()
     .requires_grad_(), "l1", "L1 norm"),
    ("04.passes", 40, "attack_only", "one more"),
    ("04.passes", 42, "clean_pass", "no clean"),
    ("04.passes", 2, "fgsm", "FGSM training"),
    ("05.kl", lambda c, p: F.kl_div(F.log_softmax(c.detach(), 1), F.softmax(p, 1), reduction="batchmean"),
     "reversed", "wrong direction"),
    ("05.kl", lambda c, p: (F.softmax(c, 1) * (F.log_softmax(c, 1) - F.log_softmax(p, 1))).sum(1).mean(),
     "not_detached", "detach"),
    ("05.kl", lambda c, p: F.kl_div(F.log_softmax(p, 1), F.softmax(c.detach(), 1), reduction="sum"), "sum",
     "summed over the batch"),
    ("05.kl", lambda c, p: F.kl_div(F.log_softmax(p, 1), F.softmax(c.detach(), 1), reduction="mean"),
     "mean_classes", "batchmean"),
    ("05.vadv", seed000_vadv, "random_d", "seed 000"),
    ("05.vadv", batch_normalised_vadv, "batch_norm", "whole batch"),
    ("05.kl_value", 0.5108, "reversed", "KL(q||p)"),
    ("05.kl_value", 0.531, "bits", "bits"),
    ("05.kl_value", -0.368, "negative", "never negative"),
    ("06.grl", lambda x, lambd: NoReverse.apply(x, lambd), "not_reversed", "nothing is reversed"),
    ("06.grl", lambda x, lambd: ForwardFlip.apply(x, lambd), "forward_flip", "flipped the sign in FORWARD"),
    ("06.grl", lambda x, lambd: NoLambda.apply(x, lambd), "no_lambda", "not scaled"),
    ("06.grl", lambda x, lambd: x.detach(), "detached", "no gradient flows"),
    ("06.dann_lambda", lambda p: 1 / (1 + math.exp(-10 * p)), "sigmoid", "plain sigmoid"),
    ("06.dann_lambda", lambda p: 2 / (1 + math.exp(-p)) - 1, "gamma", "gamma = 10"),
    ("06.dann_lambda", lambda p: 2 / (1 + math.exp(10 * p)) - 1, "exp_sign", "exp(-10p)"),
    ("06.adversary_accuracy", lambda logits, y: (logits.argmax(1) == y).float().mean().item(), "wrong_label",
     "seed 002"),
    ("06.adversary_accuracy", lambda logits, y: (logits.argmax(1) == 1 - y).sum().item(), "count", "a count"),
    ("07.inner_step", shared_storage_step, "mutated_theta", "seed 003"),
    ("07.inner_step", ascent_step, "ascent", "wrong sign"),
    ("07.inner_step", lambda m, p, x, y, lr: meta.adapt(m, p, x, y, lr, first_order=True), "first_order",
     "create_graph=True"),
    ("07.inner_step", lambda m, p, x, y, lr: {n: t.detach() for n, t in meta.adapt(m, p, x, y, lr).items()},
     "detached", "detached"),
    ("07.adml_loss", adml_not_crossed, "not_crossed", "not crossed"),
    ("07.adml_loss", lambda m, p, ep, lr, eps: meta.maml_task_loss(m, p, ep, lr).loss, "maml", "plain MAML"),
    ("07.adml_loss", lambda m, p, ep, lr, eps: meta.adml_task_loss(m, p, ep, lr, eps).loss.detach(), "no_graph",
     "no gradient"),
    ("07.crossed", {"theta_clean": "clean", "theta_adv": "adversarial"}, "not_crossed", "not crossed"),
    ("01.fgsm", lambda m, x, y, e: fgsm_with_backward(m, x, y, e), "param_grad", "with respect to the parameters"),
    ("01.fgsm", lambda m, x, y, e: (m.eval(), (x + e * grad_x(m, x, y).sign()).clamp(0, 1))[1], "changed_mode",
     "mode changed"),
    ("01.fgsm", in_eval(lambda m, x, y, e: x * float("nan")), "nan", "NaN"),
    ("02.unit_l2", lambda g: g.div_(g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)), "mutated_input",
     "in place"),
    ("03.pgd_step", lambda xa, x, g, e, a: (x + xa.add_(a * g.sign()).sub(x).clamp(-e, e)).clamp(0, 1),
     "mutated_input", "in place"),
    ("03.project_l2", lambda d, e: d.clamp(-e / 20, e / 20), "unrecognised", "L-inf projection"),
    ("04.adversarial_loss", fgsm_loss_with_leaking_graph, "attached", "detach"),
    ("05.kl", lambda c, p: vat.kl_from_logits(c, p).detach(), "no_graph", "no gradient"),
    ("05.vadv", lambda m, x, d, xi, eps: vat.virtual_adversarial_perturbation(m, x, xi, eps / 2, d=d), "length",
     "length eps"),
    ("06.grl", lambda x, lambd: NoLambda.apply(x, lambd) * lambd, "forward_scale", "scales the features"),
    ("06.grl", lambda x, lambd: x + 1, "forward", "identity"),
    ("07.adml_loss", adml_attacking_the_adapted_model, "attack_adapted", "before adaptation"),
    ("07.crossed", {"theta_clean": "clean", "theta_adv": "clean"}, "same_set", "different query sets"),
    ("08.margin", lambda z, y: z.amax(1) - z.gather(1, y[:, None]).squeeze(1), "includes_true", "ALL classes"),
    ("08.margin", lambda z, y: z.gather(1, y[:, None]).squeeze(1) - z.scatter(1, y[:, None], -1e9).amax(1), "sign",
     "wrong sign"),
    ("08.margin", lambda z, y: (lambda p: p.scatter(1, y[:, None], -1.0).amax(1) - p.gather(1, y[:, None]).squeeze(1))(
        z.softmax(1)), "probabilities", "probabilities"),
    ("08.margin", lambda z, y: z.scatter(1, y[:, None], 0.0).amax(1) - z.gather(1, y[:, None]).squeeze(1),
     "mask_zero", "-inf"),
    ("08.worst_case", lambda c: c.float().mean(1).min().item(), "min_of_means", "per sample"),
    ("08.worst_case", lambda c: c.float().mean().item(), "mean", "averaged"),
    ("08.worst_case", lambda c: c.any(0).float().mean().item(), "any", "`any`"),
    ("08.checkpoints", lambda s: list(range(int(0.22 * s), s + 1, int(0.22 * s))), "constant_gap", "never shrink"),
    ("08.checkpoints", checkpoints_without_floor, "no_floor", "below 0.06"),
    ("09.interval_linear", lambda layer, lo, up: (layer(lo), layer(up)), "naive", "separately"),
    ("09.interval_linear", lambda layer, lo, up: (layer((lo + up) / 2) - (up - lo) / 2 @ layer.weight.T,
                                                  layer((lo + up) / 2) + (up - lo) / 2 @ layer.weight.T),
     "naive", "|W|"),
    ("09.interval_linear", lambda layer, lo, up: one_radius_bounds(layer, lo, up, lambda r: r.mean()),
     "scalar_radius", "one radius"),
    ("09.interval_linear", lambda layer, lo, up: one_radius_bounds(layer, lo, up, lambda r: r.amax(1, keepdim=True)),
     "scalar_radius", "one radius"),
    ("09.smoothing_radius", lambda p, s: s * NormalDist().inv_cdf(p), "no_abstain", "abstains"),
    ("09.smoothing_radius", lambda p, s: s**2 * NormalDist().inv_cdf(p) if p > 0.5 else 0.0, "variance", "sigma²"),
    ("09.smoothing_radius", lambda p, s: s * NormalDist().cdf(p) if p > 0.5 else 0.0, "cdf", "inverse"),
    ("09.sandwich", ["certified", "attack", "exact"], "attack_low", "upper bound"),
    ("09.sandwich", ["exact", "certified", "attack"], "certified_high", "sound but loose"),
    ("10.embedding_fgm", lambda g, e: e * g / g.norm(dim=-1, keepdim=True), "per_token", "each token"),
    ("10.embedding_fgm", lambda g, e: e * g / g.norm(), "batch_norm", "whole batch"),
    ("10.embedding_fgm", lambda g, e: e * g.sign(), "sign", "sign"),
    ("10.seed_loop", 1.5, "assumed_new_pass", "new forward pass"),
    ("10.nearest", lambda m, v: torch.cdist(v, m).argmax(1), "farthest", "FARTHEST"),
    ("10.nearest", lambda m, v: (v @ m.T).argmax(1), "dot_product", "dot product"),
    ("11.momentum", lambda g, grad, mu: mu * g + grad, "no_normalisation", "raw gradient"),
    ("11.momentum", lambda g, grad, mu: mu * g + per_sample_unit(grad), "l2", "L2 norm"),
    ("11.momentum", lambda g, grad, mu: mu * g + grad / grad.abs().sum(), "batch_norm", "whole batch"),
    ("11.momentum", lambda g, grad, mu: mu * g + grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True), "mean_abs",
     "mean |grad|"),
    ("11.momentum", lambda g, grad, mu: g + mu * grad / grad.abs().sum(dim=(1, 2, 3), keepdim=True),
     "decay_on_gradient", "momentum so far"),
    ("11.momentum", lambda g, grad, mu: mu * g + grad.sign(), "sign", "only when stepping"),
    ("11.direction", lambda u, phi: unit((phi.view(-1, 1, 1, 1) * u).mean(0)), "no_baseline", "baseline"),
    ("11.direction", lambda u, phi: -unit(((phi - phi.mean()).view(-1, 1, 1, 1) * u).mean(0)), "sign", "wrong way"),
    ("11.direction", lambda u, phi: ((phi - phi.mean()).view(-1, 1, 1, 1) * u).mean(0), "not_unit", "g / ||g||_2"),
    ("11.boundary", lambda *args: boundary_search(*args, keep="low"), "low_end", "clean side"),
    ("11.boundary", lambda *args: boundary_search(*args, swapped=True), "wrong_half", "far on the clean side"),
    ("11.boundary", lambda *args: boundary_scan(*args, keep="adversarial"), "too_many_queries", "log2(1/theta)"),
    ("11.boundary", lambda is_adversarial, x, x_adv, theta: x_adv.clone(), "far_from_boundary", "past the boundary"),
]


@pytest.mark.parametrize("name", CONTEXT_FREE)
def test_the_reference_answer_passes(name):
    result = exercises.check(name, exercises.solution(name), quiet=True)
    assert result.passed, result.message
    assert result.message and result.mistake is None


@pytest.mark.filterwarnings("ignore:reduction")  # F.kl_div's reduction="mean" warns: that mistake is the point
@pytest.mark.parametrize("name, answer, mistake, hint", WRONG + WRONG_12, ids=[f"{w[0]}-{w[2]}" for w in WRONG + WRONG_12])
def test_each_catalogued_mistake_gets_its_own_hint(name, answer, mistake, hint):
    result = exercises.check(name, answer, quiet=True)
    assert not result.passed and result.attempted
    assert result.mistake == mistake, result.message
    assert hint in result.message, result.message


def test_every_context_free_exercise_has_catalogued_mistakes_and_every_notebook_has_three_or_more():
    covered = {name for name, *_ in WRONG + WRONG_12}
    assert set(CONTEXT_FREE) <= covered | {"01.eps_below_chance"}
    for notebook in ["00", "01", "02", "03", "04", "05", "06", "07"]:
        assert 3 <= len(exercises.names(notebook)) <= 5, notebook


# ----------------------------------------------------------------------------- never crash
@pytest.mark.parametrize("name", ["01.fgsm", "03.pgd_step", "05.kl", "06.grl", "07.adml_loss"])
def test_an_exception_in_learner_code_becomes_a_cross_quoting_it(name):
    def broken(*args):
        raise RuntimeError("my bug")

    result = exercises.check(name, broken, quiet=True)
    assert not result.passed and result.mistake == "exception"
    assert "RuntimeError: my bug" in result.message


def test_a_wrong_shape_or_dtype_is_named():
    result = exercises.check("01.fgsm", in_eval(lambda m, x, y, e: x[:3]), quiet=True)
    assert result.mistake == "shape" and "[3, 1, 28, 28]" in result.message and "[16, 1, 28, 28]" in result.message
    result = exercises.check("01.fgsm", in_eval(lambda m, x, y, e: (x * 255).to(torch.uint8)), quiet=True)
    assert result.mistake == "dtype" and "torch.uint8" in result.message


@pytest.mark.parametrize("answer", [None, ..., lambda *args: None])
def test_a_blank_is_not_attempted_yet_and_not_a_failure_of_the_checker(answer):
    result = exercises.check("01.fgsm", answer, quiet=True)
    assert not result.passed and not result.attempted
    assert "not attempted yet" in result.message


def test_a_value_where_a_function_is_expected_and_nonsense_values_get_a_cross():
    assert exercises.check("01.fgsm", 0.3, quiet=True).mistake == "not_callable"
    assert exercises.check("00.parameters", "many", quiet=True).mistake == "type"
    assert exercises.check("07.crossed", ["clean"], quiet=True).mistake == "type"


def test_numbers_from_numpy_or_torch_count_as_numbers():
    import numpy as np

    assert exercises.check("04.passes", np.int64(41), quiet=True).passed
    assert exercises.check("02.spread", torch.tensor(0.2), quiet=True).passed


# ----------------------------------------------------------------------------- several faults in one answer
def fgsm_forgetting_to_restore_the_mode(model, x, y, eps):
    """Textbook FGSM, right images, but it leaves the model in eval mode."""
    model.eval()
    return (x + eps * grad_x(model, x, y).sign()).clamp(0, 1)


def assert_verdict(result, failed, held):
    """`result` failed with exactly the mistakes `failed`, in this order, named in its message; `held` held."""
    assert not result.passed and result.mistakes == tuple(failed), result.message
    assert result.mistake == failed[0]
    for prop in held:
        assert prop in result.held, result.message
        assert prop in result.message.split("held: ")[-1], result.message
    if len(failed) > 1:
        assert result.message.startswith(f"{len(failed)} problems, the most fundamental first:"), result.message
        for number in range(1, len(failed) + 1):
            assert f"\n  {number}. " in result.message, result.message


def test_right_maths_with_one_side_effect_says_the_images_held():
    result = exercises.check("01.fgsm", fgsm_forgetting_to_restore_the_mode, quiet=True)
    assert_verdict(result, ["changed_mode"], ["the images match the reference", "eval mode inside the attack",
                                              "the input untouched", "no .grad left"])
    assert "train/eval mode changed" in result.message


# (exercise, an answer wrong in two or more ways, its mistakes in order, a property that held, hint fragments)
MULTI = [
    ("01.fgsm", lambda m, x, y, e: (m.eval(), (x + e * grad_x(m, x, y)).clamp(0, 1))[1],
     ["grad_not_sign", "changed_mode"], "eval mode inside the attack", ["not its sign", "mode changed"]),
    ("01.fgsm", lambda m, x, y, e: x.add_(e * grad_x(m, x, y)).clamp_(0, 1),
     ["grad_not_sign", "train_mode", "mutated_input"], "the model's mode restored",
     ["not its sign", "train mode", "mutated the input"]),
    ("01.targeted", lambda m, x, t, e: fgsm_with_backward(m, x, t, e),
     ["targeted_sign", "param_grad"], "eval mode inside the attack", ["targeted attack", ".grad"]),
    ("02.fgm", lambda m, x, y, e: (x + e * grad_x(m, x, y).sign()).clamp(0, 1),
     ["sign", "train_mode"], "the input untouched", ["that is FGSM", "train mode"]),
    ("03.pgd", lambda m, x, y, e, a, s: (m.requires_grad_(False), pgd_loop(
        lambda xa, x, g, e, a: (xa + a * g.sign()).clamp(0, 1))(m, x, y, e, a, s))[1],
     ["no_projection", "changed_model"], "the model's mode restored", ["eps ball", "requires_grad"]),
    ("04.adversarial_loss", lambda m, x, y, e: (m.train(), F.cross_entropy(m(x), y))[1],
     ["clean_logits", "changed_mode"], "the loss differentiable", ["seed 001", "mode changed"]),
    ("04.gradient_penalty", lambda m, x, y, e: (F.cross_entropy(m(x), y).backward(),
                                                e * grad_x(m, x, y, "sum").flatten(1).norm(dim=1).mean())[1],
     ["no_create_graph", "param_grad"], "the value of the penalty", ["create_graph=True", ".grad"]),
    ("05.vadv", lambda m, x, d, xi, eps: seed000_vadv(m, x, d.mul_(2), xi, eps),
     ["random_d", "mutated_input"], "no .grad left", ["seed 000", "mutated the input"]),
    ("00.mix", lambda a, b: a.add_(b), ["no_clip", "mutated_input"], None, ["seed's bug", "mutated"]),
    ("00.label", lambda d: (d[:, 0] == 0), ["first_only", "dtype"], None, ["first digit", ".long()"]),
    ("03.pgd_step", lambda xa, x, g, e, a: xa.add_(a * g.sign()).clamp_(0, 1), ["project_before_step", "mutated_input"],
     None, ["projected before stepping", "in place"]),
    ("06.grl", lambda x, lambd: x + 1, ["forward", "not_reversed"], None, ["identity", "nothing is reversed"]),
    ("06.grl", lambda x, lambd: ForwardFlip.apply(x, lambd), ["forward_flip"], "-lambda·grad backward", ["FORWARD"]),
    ("07.inner_step", lambda m, p, x, y, lr: shared_storage_step(m, p, x, y, -lr), ["ascent", "mutated_theta"], None,
     ["wrong sign", "seed 003"]),
    ("07.adml_loss", lambda m, p, ep, lr, eps: meta.maml_task_loss(m, p, ep, lr).loss.detach(), ["maml", "no_graph"],
     None, ["plain MAML", "no gradient"]),
    ("11.momentum", lambda g, grad, mu: g.mul_(mu).add_(grad), ["no_normalisation", "mutated_input"], None,
     ["raw gradient", "in place"]),
    ("11.direction", lambda u, phi: (phi.view(-1, 1, 1, 1) * u).mean(0), ["no_baseline", "not_unit"],
     "the inputs untouched", ["baseline", "g / ||g||_2"]),
    ("11.boundary", lambda *args: boundary_scan(*args, keep="clean"), ["low_end", "too_many_queries"],
     "the inputs untouched", ["clean side", "log2(1/theta)"]),
]


@pytest.mark.parametrize("name, answer, mistakes, held, hints", MULTI, ids=[f"{m[0]}-{'+'.join(m[2])}" for m in MULTI])
def test_an_answer_wrong_in_several_ways_hears_of_each_and_of_what_held(name, answer, mistakes, held, hints):
    result = exercises.check(name, answer, quiet=True)
    assert_verdict(result, mistakes, [held] if held else [])
    for hint in hints:
        assert hint in result.message, result.message


def test_every_attack_style_checker_has_a_several_fault_answer():
    attack_style = {"01.fgsm", "01.targeted", "02.fgm", "03.pgd", "04.adversarial_loss", "04.gradient_penalty",
                    "05.vadv"}
    assert attack_style <= {name for name, _, mistakes, *_ in MULTI if len(mistakes) >= 2}


def test_a_passed_answer_lists_everything_that_was_verified():
    result = exercises.check("03.pgd", exercises.solution("03.pgd"), quiet=True)
    assert result.passed and result.mistakes == ()
    assert "same PGD images" in result.message and "the model's mode restored" in result.message
    assert len(result.held) == 7


# ----------------------------------------------------------------------------- isolation between checks
def hooked_to_zero(model, x, *args):
    """Leaves a forward hook that zeroes the logits: with a shared model, 'return x' would pass afterwards."""
    model.register_forward_hook(lambda module, inputs, output: output * 0)
    return x


@pytest.mark.parametrize("name", ["01.fgsm", "03.pgd"])
def test_a_hook_left_by_one_answer_does_not_reach_the_next_check(name):
    first = exercises.check(name, hooked_to_zero, quiet=True)
    assert "changed_model" in first.mistakes and "hook" in first.message, first.message
    identity = exercises.check(name, lambda model, x, *args: x.clone(), quiet=True)
    assert not identity.passed and identity.mistake == "unrecognised", identity.message


def test_a_model_turned_to_double_does_not_reach_the_next_check():
    first = exercises.check("01.fgsm", lambda m, x, y, e: (m.double(), x.clone())[1], quiet=True)
    assert "changed_model" in first.mistakes and "dtype" in first.message, first.message
    assert exercises.check("01.fgsm", exercises.solution("01.fgsm"), quiet=True).passed
    assert exercises.check("04.adversarial_loss", exercises.solution("04.adversarial_loss"), quiet=True).passed


def test_edited_weights_are_reported_and_do_not_reach_the_next_check():
    def vandal(m, x, y, eps):
        with torch.no_grad():
            for p in m.parameters():
                p.zero_()
        m.train()
        return x

    result = exercises.check("01.fgsm", vandal, quiet=True)
    assert result.mistakes == ("unrecognised", "changed_params", "changed_mode"), result.message
    assert exercises.check("01.fgsm", exercises.solution("01.fgsm"), quiet=True).passed


def test_each_check_gets_its_own_copy_of_the_fixture_model():
    from advlab.exercises import fixtures

    first, second = fixtures.trained_cnn(), fixtures.trained_cnn()
    assert first is not second and first.head.weight.data_ptr() != second.head.weight.data_ptr()
    assert torch.equal(first.head.weight, second.head.weight) and not first.training


# ----------------------------------------------------------------------------- torch's global state
def test_an_answer_that_changes_torchs_global_state_leaves_it_as_it_was():
    threads = torch.get_num_threads()

    def meddler(model, x, y, eps):
        torch.manual_seed(0)
        torch.set_num_threads(threads + 1)
        torch.set_default_dtype(torch.float64)
        x_adv = attacks.fgsm(model, x, y, eps)
        torch.set_grad_enabled(False)
        return x_adv

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert exercises.check("01.fgsm", meddler, quiet=True).passed  # the second run and the reference still have grad
    assert torch.is_grad_enabled() and torch.get_num_threads() == threads
    assert torch.get_default_dtype() == torch.float32
    assert torch.equal(torch.rand(3), expected)


def test_global_state_is_restored_when_the_answer_raises():
    def meddle_then_fail(*args):
        torch.set_grad_enabled(False)
        torch.manual_seed(0)
        raise RuntimeError("my bug")

    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    assert exercises.check("05.kl", meddle_then_fail, quiet=True).mistake == "exception"
    assert torch.is_grad_enabled() and torch.equal(torch.rand(2), expected)


# ----------------------------------------------------------------------------- time bound
def spin(*args):
    while True:
        pass


def spin_hiding_errors(*args):
    while True:
        try:
            while True:
                pass
        except Exception:
            pass


@pytest.mark.parametrize("answer", [spin, spin_hiding_errors])
def test_an_answer_that_never_returns_is_stopped_and_named(monkeypatch, answer):
    import signal

    monkeypatch.setattr(core, "TIME_LIMIT_S", 0.5)
    handler = signal.getsignal(signal.SIGPROF)
    result = exercises.check("01.fgsm", answer, quiet=True)
    assert not result.passed and result.mistake == "timeout"
    assert "computed for 0.5 s of CPU time without returning" in result.message
    assert signal.getsignal(signal.SIGPROF) is handler and signal.getitimer(signal.ITIMER_PROF)[0] == 0
    monkeypatch.undo()  # the default limit again: no alarm is left over to stop the next answer
    assert exercises.check("01.fgsm", exercises.solution("01.fgsm"), quiet=True).passed


def test_a_check_does_not_move_the_learners_random_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    exercises.check("01.fgsm", exercises.solution("01.fgsm"), quiet=True)
    exercises.check("00.parameters", 1, quiet=True)
    exercises.check("07.inner_step", exercises.solution("07.inner_step"), quiet=True)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------- context and solutions
@pytest.fixture(scope="module")
def fgsm_context():
    from advlab import data
    from advlab.exercises import fixtures

    x, y, _ = data.digit0_mixture("test", n=200, seed=0, source="bundled")
    return {"model": fixtures.trained_cnn(), "x": x, "y": y}


def test_choosing_eps_accepts_the_crossing_and_explains_the_wrong_choices(fgsm_context):
    eps = exercises.solution("01.eps_below_chance", **fgsm_context)
    assert exercises.check("01.eps_below_chance", eps, quiet=True, **fgsm_context).passed
    assert exercises.check("01.eps_below_chance", round(eps - 0.01, 2), quiet=True, **fgsm_context).mistake == "too_small"
    assert exercises.check("01.eps_below_chance", round(eps + 0.05, 2), quiet=True, **fgsm_context).mistake == "not_smallest"
    assert exercises.check("01.eps_below_chance", eps * 100, quiet=True, **fgsm_context).mistake == "units"
    assert exercises.check("01.eps_below_chance", eps + 0.005, quiet=True, **fgsm_context).mistake == "grid"


def test_a_missing_context_or_unknown_name_is_a_clear_error_for_the_notebook_author():
    with pytest.raises(TypeError, match="model"):
        exercises.check("01.eps_below_chance", 0.1)
    with pytest.raises(ValueError, match="01.fgsm"):
        exercises.check("01.fgsmm", None)


def test_solutions_none_follows_headless(monkeypatch):
    monkeypatch.setenv("ADVLAB_HEADLESS", "1")
    assert exercises.use_solutions(None) is True and exercises.use_solutions(False) is False
    monkeypatch.setenv("ADVLAB_HEADLESS", "0")
    assert exercises.use_solutions(None) is False and exercises.use_solutions(True) is True
    with pytest.raises(TypeError, match="solutions"):
        exercises.use_solutions("yes")


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        core.exercise("01.fgsm", "again", solution=lambda: None)(lambda answer: "")


# ----------------------------------------------------------------------------- every notebook
NOTEBOOKS = sorted((__import__("pathlib").Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_a_graded_section_that_checks_each_of_its_exercises(notebook):
    text = notebook.read_text()
    number = notebook.name[:2]
    names = exercises.names(number)
    assert len(names) >= 3, f"notebook {number} has {len(names)} registered exercises; add advlab/exercises/nb{number}.py"
    assert "## Graded exercises" in text and "solutions = None" in text
    graded = text[text.index("## Graded exercises"):text.index("reports.headline(")]
    for name in names:
        assert f'exercises.check("{name}"' in graded and f'exercises.solution("{name}"' in graded, name
    assert graded.count("assert result.passed or not reference_answers") == len(names)


def test_the_eps_checker_measures_what_advlab_fgsm_measures(fgsm_context):
    """The checker attacks with one gradient per image for every eps; that is exactly attacks.fgsm, batched."""
    from advlab import evaluate
    from advlab.exercises import nb01

    for eps in (0.05, 0.1, 0.15):
        ours = nb01._fgsm_accuracy(fgsm_context["model"], fgsm_context["x"], fgsm_context["y"], eps)
        theirs = evaluate.robust_accuracy(fgsm_context["model"], fgsm_context["x"], fgsm_context["y"],
                                          lambda m, xb, yb, eps=eps: attacks.fgsm(m, xb, yb, eps))
        assert ours == theirs, eps


# ----------------------------------------------------------------------------- notebook 11's learner-style answers
def unit(g):
    return g / g.norm()


def boundary_search(is_adversarial, x, x_adv, theta, keep="high", swapped=False):
    """A learner's binary search of the blend (1 - a) x + a x_adv; `keep="low"` returns the clean end,
    `swapped=True` moves the wrong end of the interval."""
    low, high = 0.0, 1.0
    while high - low > theta:
        mid = (low + high) / 2
        if bool(is_adversarial(((1 - mid) * x + mid * x_adv)[None])[0]) != swapped:
            high = mid
        else:
            low = mid
    a = high if keep == "high" else low
    return (1 - a) * x + a * x_adv


def boundary_scan(is_adversarial, x, x_adv, theta, keep="adversarial"):
    """A learner's linear scan from x in steps of theta: the first adversarial blend, or the last clean one."""
    a = 0.0
    while not is_adversarial(((1 - a - theta) * x + (a + theta) * x_adv)[None])[0]:
        a += theta
    a = a + theta if keep == "adversarial" else a
    return (1 - a) * x + a * x_adv


def test_notebook_11_checks_a_binary_search_on_real_pairs_within_its_query_budget():
    result = exercises.check("11.boundary", exercises.solution("11.boundary"), quiet=True)
    assert result.passed and "at most 11 queries" in result.held, result.message
