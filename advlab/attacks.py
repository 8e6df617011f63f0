"""Adversarial examples on inputs in [0, 1]: FGSM, FGM, PGD, and the stronger Auto-PGD and Square attacks.

Every attack climbs the loss of the true label (or, with ``targeted=True``, descends the
loss of a target label held in ``y``). The loss is the batch **mean** of the cross-entropy,
as in torchattacks, so sample i's gradient is its own loss's gradient divided by N:

    g_i = grad_{x_i} (1/N) sum_j CE(model(x_j), y_j) = (1/N) grad_{x_i} CE(model(x_i), y_i)

Its sign and its direction do not depend on the batch, which is all FGSM, FGM and PGD use:
attacking one sample gives that sample's slice of the batch attack.

Contracts (tests/test_attacks.py checks them):

* inputs and outputs are float tensors in [0, 1]; the result is clipped to [0, 1] and its
  perturbation stays inside the eps ball (L-inf: max |delta| <= eps; L2: ||delta_i||_2 <= eps);
* the attacks never modify ``x``, the model's parameters, their ``requires_grad`` flags or
  ``.grad``: gradients are taken with ``torch.autograd.grad`` with respect to the input only;
* the model runs in eval mode during the attack and goes back to its previous mode after,
  so the attacks can be called inside a training step (adversarial training, ADML);
* the result lives on ``x``'s device; the work happens on the model's device.

Conventions shared with torchattacks 3.5.1 (cross-checked in the tests): the mean loss, the
update first, then the projection on the eps ball, then the clip to [0, 1]; FGSM and L-inf PGD
give the same images bit for bit. One deliberate difference: torchattacks' L2 normalisation
divides by ``||g|| + 1e-10`` where we divide by ``max(||g||, 1e-12)``, so an FGM step has
length exactly eps unless the gradient vanishes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_choice, check_images, check_int, check_labels, check_number
from .models import eval_mode, model_device

NORMS = ("inf", "2")
GRAD_NORM_FLOOR = 1e-12  # the guard constant of every L2 normalisation g / max(||g||, floor)

Model = nn.Module | Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PGDStep:
    """What a PGD callback sees: iterate `step` (0 = the start) of restart `restart`, with its logits."""

    restart: int
    step: int
    x_adv: torch.Tensor  # detached, on the model's device
    logits: torch.Tensor  # model(x_adv), detached


# ----------------------------------------------------------------------------- attacks
def fgsm(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al., 2015), one L-inf step of size eps.

        x_adv = clip_[0,1]( x + eps * sign(grad_x CE(model(x), y)) )

    With ``targeted=True``, ``y`` holds target labels and the step goes down their loss:
    ``x - eps * sign(grad_x CE(model(x), y))``.
    """
    x_in, y, eps = _check_common(x, y, eps)
    with _attacking(model) as device:
        x0, y0 = x_in.to(device), y.to(device)
        grad, _, _ = _objective_gradient(model, x0, y0, targeted, check_classes=True)
        x_adv = (x0 + eps * grad.sign()).clamp(0, 1)
    return x_adv.to(x.device)


def fgm(model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, *, targeted: bool = False) -> torch.Tensor:
    """Fast gradient method, L2 version (Miyato et al., 2017): one step of L2 length eps per sample.

        g_i = grad_{x_i} CE(model(x_i), y_i),    x_adv_i = clip_[0,1]( x_i + eps * g_i / max(||g_i||_2, 1e-12) )

    The norm runs over all pixels of one sample. With ``targeted=True`` the step goes down
    the loss of the target labels ``y``.
    """
    x_in, y, eps = _check_common(x, y, eps)
    with _attacking(model) as device:
        x0, y0 = x_in.to(device), y.to(device)
        grad, _, _ = _objective_gradient(model, x0, y0, targeted, check_classes=True)
        x_adv = (x0 + eps * unit_l2(grad)).clamp(0, 1)
    return x_adv.to(x.device)


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "inf",
    random_start: bool = False,
    restarts: int = 1,
    *,
    targeted: bool = False,
    generator: torch.Generator | None = None,
    callback: Callable[[PGDStep], None] | None = None,
    stop_when_fooled: bool = False,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al., 2018): `steps` steps of size alpha, projected on the eps ball.

    L-inf (``norm="inf"``), the textbook iterate, starting at x_0 = x:

        x_{t+1} = clip_[0,1]( x + clip_[-eps,eps]( x_t + alpha * sign(g_t) - x ) )

    L2 (``norm="2"``): the step is alpha * g_t / max(||g_t||, 1e-12) and the projection
    rescales delta to length eps when it is longer. ``random_start=True`` starts at a random
    point of the ball (L-inf: uniform noise in [-eps, eps]; L2: uniform in the ball), drawn
    from `generator` (else torch's global generator). With ``restarts=R`` (needs a random
    start) the attack runs R times and keeps, per sample, the result with the highest loss.
    ``callback(PGDStep)``, if given, sees every iterate and its logits (for live plots).

    ``stop_when_fooled=True`` is for evaluation (untargeted, no callback): a sample leaves the
    attack at its first misclassified iterate, which is returned, and each restart runs only on
    the samples no earlier restart fooled. Every sample still takes the same steps from the same
    random start (the gradient keeps the whole batch's 1/N), so it comes back misclassified iff
    *some* iterate of some restart was: at least as strong as the last iterate, and cheaper, since
    fooled samples cost nothing more. A sample never fooled comes back at its last restart's end.
    """
    x_in, y, eps = _check_common(x, y, eps)
    alpha = check_number("alpha", alpha, minimum=0, strict=True)
    check_int("steps", steps, minimum=1)
    norm = _normalise_norm(norm)
    check_int("restarts", restarts, minimum=1)
    if not isinstance(random_start, bool):
        raise TypeError(f"random_start must be True or False, got {random_start!r}")
    if restarts > 1 and not random_start:
        raise ValueError(f"restarts={restarts} needs random_start=True: without a random start every restart is the same")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if not isinstance(stop_when_fooled, bool):
        raise TypeError(f"stop_when_fooled must be True or False, got {stop_when_fooled!r}")
    if stop_when_fooled and (targeted or callback is not None):
        raise ValueError("stop_when_fooled=True is for untargeted evaluation: it takes no target and no callback")

    if stop_when_fooled:
        with _attacking(model) as device:
            x_adv = _pgd_until_fooled(model, x_in.to(device), y.to(device), eps, alpha, steps, norm,
                                      random_start, restarts, generator)
        return x_adv.to(x.device)
    with _attacking(model) as device:
        x0, y0 = x_in.to(device), y.to(device)
        best, best_objective = None, None
        for restart in range(restarts):
            start = _random_start(x0, eps, norm, generator) if random_start else x0
            x_adv, objective = _pgd_run(
                model, x0, y0, start, eps, alpha, steps, norm, targeted, callback, restart,
                final_objective=restarts > 1 or callback is not None,
            )
            if best is None:
                best, best_objective = x_adv, objective
            else:
                better = objective > best_objective
                best = torch.where(better.view(-1, *[1] * (x0.dim() - 1)), x_adv, best)
                best_objective = torch.where(better, objective, best_objective)
    return best.to(x.device)


def _pgd_run(model, x, y, x_adv, eps, alpha, steps, norm, targeted, callback, restart, final_objective):
    """One PGD run from `x_adv`; returns the last iterate and (if asked) its per-sample objective."""
    for step in range(steps):
        grad, _, logits = _objective_gradient(model, x_adv, y, targeted, check_classes=step == 0)
        if callback is not None:
            callback(PGDStep(restart, step, x_adv.detach(), logits))
        x_adv = _pgd_step(x, x_adv, grad, eps, alpha, norm)
    if not final_objective:
        return x_adv, None
    with torch.no_grad():
        logits = model(x_adv)
        objective = _objective(logits, y, targeted)
    if callback is not None:
        callback(PGDStep(restart, steps, x_adv, logits))
    return x_adv, objective


def _pgd_step(x, x_adv, grad, eps, alpha, norm):
    """One PGD step from `x_adv` along `grad` (its sign, or its unit L2 direction), projected on the eps ball
    around x and clipped to [0, 1]."""
    if norm == "inf":
        delta = (x_adv + alpha * grad.sign() - x).clamp(-eps, eps)
    else:
        delta = _project_l2(x_adv + alpha * unit_l2(grad) - x, eps)
    return (x + delta).clamp(0, 1)


def _pgd_until_fooled(model, x, y, eps, alpha, steps, norm, random_start, restarts, generator):
    """PGD whose samples drop out at their first misclassified iterate (see `pgd`'s stop_when_fooled)."""
    result = x.clone()
    standing = torch.ones(len(x), dtype=torch.bool, device=x.device)  # not fooled by any iterate so far
    scale = 1.0 / len(x)  # the whole batch's mean: each sample's gradient as in the full attack
    for restart in range(restarts):
        start = _random_start(x, eps, norm, generator) if random_start else x  # drawn for all: same starts
        rows = standing.nonzero().squeeze(1)
        x_k, x_rows, y_rows = start[rows], x[rows], y[rows]
        for step in range(steps + 1):
            if len(rows) == 0:
                return result
            x_k = x_k.detach().requires_grad_(step < steps)
            with torch.set_grad_enabled(step < steps):
                logits = model(x_k)
            if step == 0 and restart == 0:
                check_labels("y", y_rows, len(x_rows), num_classes=logits.shape[1])
            fooled = logits.argmax(dim=1) != y_rows
            result[rows] = x_k.detach()  # the fooled keep this iterate; the others are overwritten later
            standing[rows[fooled]] = False
            if step == steps:
                break
            (grad,) = torch.autograd.grad(_objective(logits, y_rows, targeted=False).sum() * scale, x_k)
            keep = ~fooled
            rows, x_k, x_rows, y_rows, grad = rows[keep], x_k.detach()[keep], x_rows[keep], y_rows[keep], grad[keep]
            x_k = _pgd_step(x_rows, x_k, grad, eps, alpha, norm)
    return result


# ----------------------------------------------------------------------------- norms
def unit_l2(g: torch.Tensor) -> torch.Tensor:
    """Each sample of `g` divided by its L2 norm over all its entries: g_i / max(||g_i||_2, 1e-12)."""
    norms = g.flatten(1).norm(p=2, dim=1).clamp_min(GRAD_NORM_FLOOR)
    return g / norms.view(-1, *[1] * (g.dim() - 1))


def _project_l2(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Rescale each sample of delta onto the L2 ball of radius eps: delta_i * min(1, eps / ||delta_i||)."""
    norms = delta.flatten(1).norm(p=2, dim=1)
    factor = (eps / norms.clamp_min(GRAD_NORM_FLOOR)).clamp(max=1.0)
    return delta * factor.view(-1, *[1] * (delta.dim() - 1))


def perturbation_norms(x_adv: torch.Tensor, x: torch.Tensor, norm: str = "inf") -> torch.Tensor:
    """Per-sample size of the perturbation, ||x_adv_i - x_i||_p for p = inf or 2, [N]."""
    norm = _normalise_norm(norm)
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have the shape of x {list(x.shape)}, got {list(x_adv.shape)}")
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(dim=1) if norm == "inf" else delta.norm(p=2, dim=1)


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A random point of the eps ball around x, clipped to [0, 1]."""
    device = generator.device if generator is not None else x.device
    if norm == "inf":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=device).mul_(2).sub_(1).mul_(eps)
    else:  # uniform in the L2 ball: a uniform direction times eps * u^(1/d)
        direction = unit_l2(torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device))
        dims = x[0].numel()
        radius = eps * torch.rand(len(x), generator=generator, dtype=x.dtype, device=device).pow(1.0 / dims)
        noise = direction * radius.view(-1, *[1] * (x.dim() - 1))
    return (x + noise.to(x.device)).clamp(0, 1)


# ----------------------------------------------------------------------------- shared pieces
def _objective(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-sample objective the attack climbs: CE(logits, y), or -CE toward a target."""
    losses = F.cross_entropy(logits, y, reduction="none")
    return -losses if targeted else losses


def _objective_gradient(model, x, y, targeted, check_classes=False):
    """(grad_x of the batch-mean objective, per-sample objective, logits), all detached.

    The gradient is taken with respect to a detached copy of x only, so no parameter's
    ``.grad`` is touched and the caller's graph (e.g. a training step's) is left alone.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if check_classes:
        check_labels("y", y, len(x), num_classes=logits.shape[1])
    objective = _objective(logits, y, targeted)
    (grad,) = torch.autograd.grad(objective.mean(), x)
    return grad, objective.detach(), logits.detach()


@contextlib.contextmanager
def _attacking(model: Model):
    """Eval mode (for a Module) and gradients on for the block; yields the device to work on."""
    if not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or a callable x -> logits, got {type(model).__name__}")
    mode = eval_mode(model) if isinstance(model, nn.Module) else contextlib.nullcontext()
    device = model_device(model) if isinstance(model, nn.Module) else None
    with mode, torch.enable_grad():
        yield device


def _check_common(x, y, eps):
    """Check images (any shape [N, ...], values in [0, 1]), labels [N] and eps >= 0."""
    check_images("x", x, shape=None)
    if x.dim() < 2:
        raise ValueError(f"x must be a batch [N, ...] with at least 2 dimensions, got shape {list(x.shape)}")
    check_labels("y", y, len(x))
    eps = check_number("eps", eps, minimum=0)
    return x.detach(), y, eps


def _normalise_norm(norm) -> str:
    """Accept "inf"/"linf"/math.inf and "2"/"l2"/2; return "inf" or "2"."""
    aliases = {"inf": "inf", "linf": "inf", "l_inf": "inf", "2": "2", "l2": "2"}
    key = str(norm).lower() if not isinstance(norm, bool) else None
    check_choice("norm", aliases.get(key, norm), NORMS)
    return aliases[key]


# ----------------------------------------------------------------------------- parameter perturbation
# Issue 4 adds here the parameter (embedding-matrix) perturbation of the NLP-competition
# pattern (seed 001): a context manager that backs up the named weights, adds
# eps * g / ||g|| (reusing `unit_l2`-style normalisation over the whole matrix) and restores
# them on exit, also when an exception is raised inside.


def _named_parameters(model: nn.Module, names) -> dict[str, torch.Tensor]:
    """The parameters of `model` called `names` (a name or a list of exact names)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    names = [names] if isinstance(names, str) else list(names)
    if not names or not all(isinstance(name, str) for name in names):
        raise TypeError(f"names must be a parameter name or a non-empty list of names, got {names!r}")
    available = dict(model.named_parameters())
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"names: no parameter called {unknown} in the model; it has {list(available)}")
    return {name: available[name] for name in names}


@contextlib.contextmanager
def perturb_parameters(model: nn.Module, names, eps: float):
    """Perturb the named parameters (e.g. an embedding matrix) along their gradient for the block.

        W  <-  W + eps * g / max(||g||_2, 1e-12),    g = W.grad  (the norm over the whole matrix)

    The caller runs ``loss.backward()`` first, so ``.grad`` holds the clean gradient. On exit,
    also when the block raises, every parameter gets back its original values bit for bit.
    Yields ``{name: perturbation}``.

    The NLP-competition loop of seed 001 (``fgm.attack(); loss_adv = loss_func(logits, ...);
    fgm.restore()``) trains on nothing new: `logits` were computed *before* ``attack()``, so
    ``loss_adv`` is the clean loss again and its backward just doubles the clean gradient.
    The right loop makes a NEW forward pass inside the block::

        loss = F.cross_entropy(model(x), y); loss.backward()          # clean gradients
        with perturb_parameters(model, ["embedding.weight"], eps):
            F.cross_entropy(model(x), y).backward()                    # new forward; grads add up
        optimizer.step(); optimizer.zero_grad()                        # weights restored by now
    """
    eps = check_number("eps", eps, minimum=0)
    params = _named_parameters(model, names)
    for name, param in params.items():
        if param.grad is None:
            raise ValueError(f"names: parameter {name!r} has no .grad; call loss.backward() before perturbing")
        if not torch.isfinite(param.grad).all():
            raise ValueError(f"names: parameter {name!r} has a non-finite .grad")
    backups = {name: param.detach().clone() for name, param in params.items()}
    try:
        perturbations = {}
        with torch.no_grad():
            for name, param in params.items():
                grad = param.grad
                perturbations[name] = eps * grad / grad.norm(p=2).clamp_min(GRAD_NORM_FLOOR)
                param.add_(perturbations[name])
        yield perturbations
    finally:
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(backups[name])


@contextlib.contextmanager
def pgd_parameters(model: nn.Module, names, eps: float, alpha: float, steps: int, loss_fn: Callable[[], torch.Tensor]):
    """PGD on the named parameters for the block: `steps` ascent steps, kept in the eps ball around W0.

        W_{k+1} = W0 + proj_{||.||_2 <= eps}( W_k + alpha * g_k / ||g_k||_2 - W0 ),   g_k = grad_W loss_fn()

    (one ball per parameter tensor). ``loss_fn()`` computes the loss at the current weights
    (a fresh forward pass). The gradients come from ``autograd.grad``, so ``.grad`` is left
    as it was; inside the block run a new forward + backward to accumulate the adversarial
    gradient. On exit, also on an exception, the original weights come back bit for bit.
    """
    eps = check_number("eps", eps, minimum=0)
    alpha = check_number("alpha", alpha, minimum=0, strict=True)
    check_int("steps", steps, minimum=1)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable () -> scalar loss, got {type(loss_fn).__name__}")
    params = _named_parameters(model, names)
    backups = {name: param.detach().clone() for name, param in params.items()}
    try:
        for _ in range(steps):
            with torch.enable_grad():
                grads = torch.autograd.grad(loss_fn(), list(params.values()))
            with torch.no_grad():
                for (name, param), grad in zip(params.items(), grads):
                    delta = param + alpha * grad / grad.norm(p=2).clamp_min(GRAD_NORM_FLOOR) - backups[name]
                    delta = delta * (eps / delta.norm(p=2).clamp_min(GRAD_NORM_FLOOR)).clamp(max=1.0)
                    param.copy_(backups[name] + delta)
        yield {name: param.detach() - backups[name] for name, param in params.items()}
    finally:
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(backups[name])


# ----------------------------------------------------------------------------- Auto-PGD (Croce & Hein, 2020)
APGD_LOSSES = ("ce", "margin")
APGD_MOMENTUM = 0.75  # alpha of the paper
APGD_RHO = 0.75  # halve the step when fewer than rho of the steps since the last checkpoint raised the loss


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini-Wagner logit margin per sample: max_{j != y} z_j - z_y  (> 0 exactly when misclassified).

    It works for any number of classes >= 2. AutoAttack's DLR loss, which also divides by
    z_(1) - z_(3), needs at least 3 classes (4 for its targeted version), so it is undefined on
    the two-class digit-0 task; the margin is what we climb instead.
    """
    true_logit = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return others.amax(dim=1) - true_logit


def _apgd_loss(name: str):
    if name == "ce":
        return lambda logits, y: F.cross_entropy(logits, y, reduction="none")
    return margin_loss


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations w_1 < w_2 < ... at which APGD may halve its step, w_j ~ p_j * steps, with

        p_0 = 0,  p_1 = 0.22,  p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)

    The gaps shrink by 0.03 * steps down to 0.06 * steps; as in the reference code, every gap is
    an integer number of iterations, at least 1 (int(0.22 * steps), int(0.03 * steps), int(0.06 * steps)).
    """
    check_int("steps", steps, minimum=1)
    gap, shrink, smallest = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    checkpoints, at = [], 0
    while at + gap <= steps:
        at += gap
        checkpoints.append(at)
        gap = max(gap - shrink, smallest)
    return checkpoints


def apgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 100,
    norm: str = "inf",
    loss: str = "ce",
    restarts: int = 1,
    *,
    generator: torch.Generator | None = None,
    callback: Callable[[PGDStep], None] | None = None,
) -> torch.Tensor:
    """Auto-PGD (Croce & Hein, 2020, "Reliable evaluation of adversarial robustness ..."), untargeted.

    PGD with momentum whose step size eta needs no tuning. From a random point on the ball's
    surface, step size eta = 2 eps, and alpha = 0.75:

        z_{k+1} = P( x_k + eta * s(grad f(x_k)) )                   s = sign (L-inf) or g/||g|| (L2)
        x_{k+1} = P( x_k + alpha (z_{k+1} - x_k) + (1 - alpha)(x_k - x_{k-1}) )      (the first step: z_1)

    P projects on the eps ball around x and clips to [0, 1]. At each checkpoint w_j
    (`apgd_checkpoints`) a sample's eta is halved, and its iterate restarts from its best point
    so far, when either
      1. fewer than rho = 0.75 of the steps since w_{j-1} increased f (f(x_{i+1}) > f(x_i); the
         reference code halves at <= rho, the paper at < rho, which we follow), or
      2. eta was not halved at w_{j-1} and the best loss has not grown since w_{j-1}.

    `loss` is "ce" (cross-entropy) or "margin" (`margin_loss`, the Carlini-Wagner logit margin:
    it works on two classes, unlike AutoAttack's DLR). With `restarts=R` the attack runs again,
    from a new random start drawn from `generator`, on the samples it has not yet fooled.
    Returns, per sample, a misclassified iterate if one was found, else the highest-loss point.
    ``callback(PGDStep)`` sees every iterate x_k and its logits (for plots of f along the run) of
    the samples under attack: those classified correctly at the start of each restart.
    """
    x_in, y, eps = _check_common(x, y, eps)
    check_int("steps", steps, minimum=1)
    norm = _normalise_norm(norm)
    check_choice("loss", loss, APGD_LOSSES)
    check_int("restarts", restarts, minimum=1)
    _check_generator(generator)
    loss_fn = _apgd_loss(loss)

    with _attacking(model) as device:
        x0, y0 = x_in.to(device), y.to(device)
        with torch.no_grad():
            logits = model(x0)
        check_labels("y", y0, len(x0), num_classes=logits.shape[1])
        result = x0.clone()
        fooled = logits.argmax(dim=1) != y0
        best_loss = torch.full((len(x0),), float("-inf"), dtype=x0.dtype, device=device)
        for restart in range(restarts):
            todo = (~fooled).nonzero().squeeze(1)
            if len(todo) == 0 or eps == 0:
                break
            x_best, loss_best, x_fooled, now_fooled = _apgd_run(
                model, x0[todo], y0[todo], eps, steps, norm, loss_fn, generator, callback, restart
            )
            better = now_fooled | (loss_best > best_loss[todo])
            keep = torch.where(now_fooled.view(-1, *[1] * (x0.dim() - 1)), x_fooled, x_best)
            result[todo[better]] = keep[better]
            best_loss[todo[better]] = loss_best[better]
            fooled[todo] = now_fooled
    return result.to(x.device)


def _apgd_run(model, x, y, eps, steps, norm, loss_fn, generator, callback, restart):
    """One APGD run; returns (highest-loss point, its loss, a misclassified iterate, fooled?) per sample."""
    shape = (-1, *[1] * (x.dim() - 1))

    def project(point):
        if norm == "inf":
            return (x + (point - x).clamp(-eps, eps)).clamp(0, 1)
        return (x + _project_l2(point - x, eps)).clamp(0, 1)

    def gradient(point):
        point = point.detach().requires_grad_(True)
        logits = model(point)
        losses = loss_fn(logits, y)
        (grad,) = torch.autograd.grad(losses.sum(), point)
        if callback is not None:
            callback(PGDStep(restart, step, point.detach(), logits.detach()))
        return grad, losses.detach(), logits.detach()

    def direction(grad):
        return grad.sign() if norm == "inf" else unit_l2(grad)

    x_k = project(x + eps * _surface_start(x, norm, generator))
    step = 0
    grad, losses, logits = gradient(x_k)
    x_best, loss_best, grad_best = x_k.clone(), losses.clone(), grad.clone()
    fooled = logits.argmax(dim=1) != y
    x_fooled = torch.where(fooled.view(shape), x_k, x)
    eta = torch.full((len(x),), 2 * eps, dtype=x.dtype, device=x.device)
    x_prev = x_k.clone()

    checkpoints = set(apgd_checkpoints(steps))
    last_checkpoint, increases = 0, torch.zeros(len(x), device=x.device)
    halved_last = torch.ones(len(x), dtype=torch.bool, device=x.device)
    loss_best_last = loss_best.clone()
    loss_prev = losses
    for step in range(1, steps + 1):
        with torch.no_grad():
            z = project(x_k + eta.view(shape) * direction(grad))
            if step > 1:
                z = project(x_k + APGD_MOMENTUM * (z - x_k) + (1 - APGD_MOMENTUM) * (x_k - x_prev))
            x_prev, x_k = x_k, z
        grad, losses, logits = gradient(x_k)
        with torch.no_grad():
            now_fooled = logits.argmax(dim=1) != y
            x_fooled = torch.where(now_fooled.view(shape), x_k, x_fooled)
            fooled |= now_fooled
            increases += (losses > loss_prev).float()
            loss_prev = losses
            improved = losses > loss_best
            x_best = torch.where(improved.view(shape), x_k, x_best)
            grad_best = torch.where(improved.view(shape), grad, grad_best)
            loss_best = torch.where(improved, losses, loss_best)
            if step in checkpoints:
                too_few_increases = increases < APGD_RHO * (step - last_checkpoint)
                stalled = ~halved_last & (loss_best <= loss_best_last)
                halve = too_few_increases | stalled
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(halve.view(shape), x_best, x_k)
                grad = torch.where(halve.view(shape), grad_best, grad)
                halved_last, loss_best_last = halve, loss_best.clone()
                last_checkpoint, increases = step, torch.zeros_like(increases)
    return x_best, loss_best, x_fooled, fooled


def _surface_start(x: torch.Tensor, norm: str, generator: torch.Generator | None) -> torch.Tensor:
    """A random direction scaled onto the unit sphere of the norm (max|t| = 1 or ||t||_2 = 1), as in AutoAttack."""
    device = generator.device if generator is not None else x.device
    if norm == "inf":
        t = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=device).mul_(2).sub_(1)
        t = t / t.flatten(1).abs().amax(dim=1).clamp_min(GRAD_NORM_FLOOR).view(-1, *[1] * (x.dim() - 1))
    else:
        t = unit_l2(torch.randn(x.shape, generator=generator, dtype=x.dtype, device=device))
    return t.to(x.device)


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


# ----------------------------------------------------------------------------- Square attack (Andriushchenko et al., 2020)
SQUARE_P_INIT = 0.8
SQUARE_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # p halves after each, on a 10,000-query scale


def square_fraction(iteration: int, n_queries: int, p_init: float = SQUARE_P_INIT) -> float:
    """Fraction p of the pixels a Square-attack window covers at `iteration` (of `n_queries`).

        p = p_init / 2^m,   m = number of schedule points {10, 50, 200, ..., 8000} below
                             iteration * 10000 / n_queries   (the schedule rescaled to the budget)
    """
    scaled = int(iteration / n_queries * 10000)
    return p_init / 2 ** sum(scaled > point for point in SQUARE_SCHEDULE)


def square(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    n_queries: int = 5000,
    restarts: int = 1,
    p_init: float = SQUARE_P_INIT,
    *,
    generator: torch.Generator | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Square attack, L-inf (Andriushchenko et al., 2020): random search that never looks at a gradient.

    Start from vertical stripes, x_0 = clip_[0,1](x + eps * s), s in {-1, +1} per column and channel.
    Then, `n_queries` times, for every sample the model still classifies correctly:

        pick a square window of side h = round(sqrt(p * pixels)) at a random place and, per
        channel, a random sign c; candidate = P(x_best + 2 eps * c on the window)
        (so the window's pixels move to a vertex of the ball); keep it if the margin loss
        z_y - max_{j != y} z_j went down (or the sample is now misclassified).

    p follows `square_fraction`: p_init = 0.8 halved at iterations 10, 50, 200, 500, 1000, 2000,
    4000, 6000, 8000 of a 10,000-query run, rescaled to `n_queries`. Each iteration costs one
    forward pass on the samples still to fool (plus one for the stripes): no backward pass at
    all, which is why gradient masking cannot hide from it. All random choices (stripes,
    windows, signs) come from `generator`; unlike torchattacks (one window for the whole
    batch) each sample gets its own window and signs, as in the paper's code.
    ``restarts=R`` runs again, from new stripes, on the samples not yet fooled. Samples it does
    not fool come back unchanged. ``callback(iteration, margins)``, if given, sees after the
    stripes (iteration 0) and after every iteration the best margins so far of the samples in
    the run (those classified correctly at its start); margin <= 0 means fooled.
    """
    x_in, y, eps = _check_common(x, y, eps)
    check_int("n_queries", n_queries, minimum=1)
    check_int("restarts", restarts, minimum=1)
    p_init = check_number("p_init", p_init, minimum=0, strict=True)
    if p_init > 1:
        raise ValueError(f"p_init must be <= 1 (a fraction of the pixels), got {p_init}")
    _check_generator(generator)
    if x_in.dim() != 4:
        raise ValueError(f"x must be an image batch [N, C, H, W] for the square attack, got shape {list(x_in.shape)}")

    with _attacking(model) as device, torch.no_grad():
        x0, y0 = x_in.to(device), y.to(device)
        logits = model(x0)
        check_labels("y", y0, len(x0), num_classes=logits.shape[1])
        result = x0.clone()
        todo_mask = logits.argmax(dim=1) == y0
        for _ in range(restarts):
            todo = todo_mask.nonzero().squeeze(1)
            if len(todo) == 0 or eps == 0:
                break
            x_best, margin = _square_run(model, x0[todo], y0[todo], eps, n_queries, p_init, generator, callback)
            now_fooled = margin <= 0
            result[todo[now_fooled]] = x_best[now_fooled]
            todo_mask[todo[now_fooled]] = False
    return result.to(x.device)


def _square_run(model, x, y, eps, n_queries, p_init, generator, callback=None):
    """One Square-attack run on x; returns the best points and their margins z_y - max_{j!=y} z_j."""
    n, channels, height, width = x.shape
    gen_device = generator.device if generator is not None else x.device

    def random_signs(*shape):
        return (torch.randint(0, 2, shape, generator=generator, device=gen_device) * 2 - 1).to(x)

    def project(point):
        return (x + (point - x).clamp(-eps, eps)).clamp(0, 1)

    x_best = project(x + eps * random_signs(n, channels, 1, width))
    margin = -margin_loss(model(x_best), y)
    if callback is not None:
        callback(0, margin.clone())
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    for iteration in range(n_queries):
        active = (margin > 0).nonzero().squeeze(1)
        if len(active) == 0:
            break
        p = square_fraction(iteration, n_queries, p_init)
        side = min(max(int(round(math.sqrt(p * height * width))), 1), min(height, width))
        m = len(active)
        top = torch.randint(0, max(height - side, 1), (m,), generator=generator, device=gen_device).to(x.device)
        left = torch.randint(0, max(width - side, 1), (m,), generator=generator, device=gen_device).to(x.device)
        in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # [m, H]
        in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # [m, W]
        window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None].to(x.dtype)  # [m, 1, H, W]
        step = 2 * eps * window * random_signs(m, channels, 1, 1)
        candidate = (x[active] + (x_best[active] + step - x[active]).clamp(-eps, eps)).clamp(0, 1)
        candidate_margin = -margin_loss(model(candidate), y[active])
        better = candidate_margin < margin[active]
        x_best[active[better]] = candidate[better]
        margin[active[better]] = candidate_margin[better]
        if callback is not None:
            callback(iteration + 1, margin.clone())
    return x_best, margin
