"""Certified robustness: interval bounds, exact verification by a MILP, and IBP training.

An attack finds *some* x' in the ball around x; it can only show that a model is NOT robust.
This module gives the other side of the sandwich (Kolter & Madry's tutorial, chapters 3-4):

    certified accuracy (IBP)  <=  exact robust accuracy (MILP)  <=  accuracy under the strongest attack

* :func:`interval_bounds` -- interval bound propagation (Gowal et al., 2018). A box [l, u]
  goes through each layer; for an affine layer with centre m = (u+l)/2 and radius r = (u-l)/2,

      m' = W m + b,      r' = |W| r          (Linear and Conv2d alike)

  and ReLU / max-pooling are monotone, so they map l and u separately. The input box is the
  L-inf ball clipped to the image range: [max(x - eps, 0), min(x + eps, 1)].
* :func:`margin_lower_bounds` / :func:`certified_accuracy` -- a sample is certified when the
  lower bound of logit_y - logit_j is positive for every j != y. The last Linear layer is
  folded into the margin (row w_y - w_j), which is tighter than l_y - u_j.
* :func:`exact_robustness` -- for a small ReLU network (Flatten, Linear, ReLU), the exact
  minimum of the margin over the ball, by a mixed-integer linear program (Tjeng et al., 2019;
  Kolter & Madry's tutorial, ch. 3). A ReLU a = max(z, 0) with IBP bounds l < 0 < u becomes,
  with a binary d,

      a >= z,   a >= 0,   a <= z - l (1 - d),   a <= u d

  and scipy.optimize.milp (HiGHS) minimises logit_y - logit_j for each j. Each solve has a time
  limit; a solve that hits it is reported as undecided (``robust=None``), never skipped.
* :func:`ibp_loss` -- certified training (Gowal et al.): kappa * CE(z, y) + (1 - kappa) * CE(z_hat(eps), y)
  with z_hat the worst-case logits of the box, eps ramped up from 0 and kappa from 1 down.

Randomized smoothing (L2 certificates) lives in :mod:`advlab.smoothing` (re-exported here as
``certify.smoothed_predict`` and ``certify.smoothed_certify``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_images, check_int, check_labels, check_number
from .models import SmallCNN, eval_mode, model_device
from .smoothing import smoothed_certify, smoothed_predict  # noqa: F401  (the issue's API: certify.smoothed_*)
from .train import Batch

IBP_LAYERS = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten)
MILP_LAYERS = (nn.Linear, nn.ReLU, nn.Flatten)


# ----------------------------------------------------------------------------- the layers of a model
def layers_of(model: nn.Module, supported=IBP_LAYERS) -> list[nn.Module]:
    """The model as a flat list of layers (Sequential containers unrolled; SmallCNN = extractor + head).

    Raises TypeError naming the first layer that interval bounds cannot pass through.
    """
    if isinstance(model, SmallCNN):
        children = [*model.extractor, model.head]
    elif isinstance(model, nn.Sequential):
        children = list(model)
    elif isinstance(model, supported):
        return [model]
    else:
        raise TypeError(f"model: unsupported layer {type(model).__name__}; certify handles "
                        f"{', '.join(t.__name__ for t in supported)} and Sequential containers of them")
    return [layer for child in children for layer in layers_of(child, supported)]


# ----------------------------------------------------------------------------- interval bounds
def input_box(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The L-inf ball around x clipped to the image range: (max(x - eps, 0), min(x + eps, 1))."""
    return (x - eps).clamp(min=0), (x + eps).clamp(max=1)


def propagate_box(layer: nn.Module, lower: torch.Tensor, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The box [lower, upper] through one layer (sound: every output of a point in the box is inside)."""
    if isinstance(layer, (nn.Linear, nn.Conv2d)):
        centre, radius = (upper + lower) / 2, (upper - lower) / 2
        centre = layer(centre)
        if isinstance(layer, nn.Linear):
            radius = F.linear(radius, layer.weight.abs())
        else:
            radius = F.conv2d(radius, layer.weight.abs(), None, layer.stride, layer.padding, layer.dilation,
                              layer.groups)
        return centre - radius, centre + radius
    if isinstance(layer, (nn.ReLU, nn.MaxPool2d, nn.Flatten)):  # monotone: bounds map to bounds
        return layer(lower), layer(upper)
    raise TypeError(f"model: unsupported layer {type(layer).__name__}")


def layer_bounds(model: nn.Module, x: torch.Tensor, eps: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(lower, upper)] after the input box and after every layer; the last pair bounds the logits."""
    layers = layers_of(model)
    x, eps = _check_x_eps(x, eps)
    lower, upper = input_box(x.to(model_device(model)), eps)
    boxes = [(lower, upper)]
    for layer in layers:
        lower, upper = propagate_box(layer, lower, upper)
        boxes.append((lower, upper))
    return boxes


def interval_bounds(model: nn.Module, x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds [N, classes] of the logits over the L-inf ball of radius eps ∩ [0, 1]."""
    return layer_bounds(model, x, eps)[-1]


def margin_lower_bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """[N, classes] lower bounds of logit_y - logit_j over the ball (0 in column y).

    With a Linear last layer the margin is one more linear map, c_j = w_y - w_j, applied to the
    box of the layer before it: min over the box of c·h = c·m - |c|·r (Gowal et al.'s elision).
    """
    layers = layers_of(model)
    check_labels("y", y, len(x))
    x, eps = _check_x_eps(x, eps)
    device = model_device(model)
    y = y.to(device)
    last = layers[-1]
    if not isinstance(last, nn.Linear):  # no elision: l_y - u_j
        lower, upper = interval_bounds(model, x, eps)
        bound = lower.gather(1, y[:, None]) - upper
        return bound.scatter(1, y[:, None], 0.0)
    lower, upper = input_box(x.to(device), eps)
    for layer in layers[:-1]:
        lower, upper = propagate_box(layer, lower, upper)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    rows = last.weight[y][:, None, :] - last.weight[None, :, :]  # [N, classes, features]: w_y - w_j
    offsets = last.bias[y][:, None] - last.bias[None, :] if last.bias is not None else 0.0
    return (rows @ centre[:, :, None]).squeeze(2) - (rows.abs() @ radius[:, :, None]).squeeze(2) + offsets


@torch.no_grad()
def certified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch_size: int = 500) -> torch.Tensor:
    """[N] bool: is sample i certified, i.e. min_j lower bound of (logit_y - logit_j) > 0 for all j != y?"""
    check_labels("y", y, len(x))
    check_int("batch_size", batch_size, minimum=1)
    flags = []
    with eval_mode(model):
        for i in range(0, len(x), batch_size):
            bounds = margin_lower_bounds(model, x[i : i + batch_size], y[i : i + batch_size], eps)
            yb = y[i : i + batch_size].to(bounds.device)
            bounds = bounds.scatter(1, yb[:, None], float("inf"))  # column y is not a competitor
            flags.append((bounds.amin(dim=1) > 0).cpu())
    return torch.cat(flags) if flags else torch.zeros(0, dtype=torch.bool)


def certified_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, batch_size: int = 500) -> float:
    """Fraction of samples whose IBP margin bound is positive: a lower bound on robust accuracy at eps."""
    return certified(model, x, y, eps, batch_size).float().mean().item()


# ----------------------------------------------------------------------------- exact verification (MILP)
@dataclass
class Verification:
    """The verdict of :func:`exact_robustness` for one sample.

    robust: True (no x' in the ball changes the prediction), False (see `counterexample`) or
    None (a solve hit its time limit and left the question open). min_margin is the exact
    minimum of logit_y - max_{j != y} logit_j over the ball when every solve finished;
    margin_bounds brackets it in any case (HiGHS's dual bound and best solution found).
    """

    robust: bool | None
    min_margin: float | None
    margin_bounds: tuple[float, float]
    counterexample: torch.Tensor | None  # [1, *x.shape[1:]], in the ball and in [0, 1]
    seconds: float
    solves: int
    hit_time_limit: bool
    unstable_relus: int


def exact_robustness(model: nn.Module, x: torch.Tensor, y, eps: float, time_limit: float = 10.0) -> Verification:
    """Decide exactly whether some x' with ||x' - x||_inf <= eps, x' in [0, 1], has logit_y <= logit_j.

    One MILP per competitor j != y: minimise logit_y(x') - logit_j(x') over the ball, ReLUs
    encoded with big-M constants from IBP bounds. `model` must be Flatten/Linear/ReLU layers
    (Sequential); `x` a single sample [1, ...]; `time_limit` seconds per solve.
    """
    from scipy.optimize import LinearConstraint, milp

    layers = layers_of(model, MILP_LAYERS)
    x, eps = _check_x_eps(x, eps)
    if len(x) != 1:
        raise ValueError(f"x must hold exactly one sample [1, ...], got shape {list(x.shape)}")
    y = int(y.item() if isinstance(y, torch.Tensor) else y)
    time_limit = check_number("time_limit", time_limit, minimum=0, strict=True)
    started = time.perf_counter()
    program = _relu_program(layers, x, eps)
    classes = program.num_logits
    if not 0 <= y < classes:
        raise ValueError(f"y must be a class index in [0, {classes - 1}], got {y}")

    lows, highs, best_x, hit_limit = [], [], None, False
    for j in (j for j in range(classes) if j != y):  # the prediction flips to j iff min logit_y - logit_j <= 0
        objective = np.zeros(program.num_vars)
        objective[program.logit_index[y]], objective[program.logit_index[j]] = 1.0, -1.0
        result = milp(objective, integrality=program.integrality, bounds=program.bounds,
                      constraints=[LinearConstraint(program.A, program.lb, program.ub)],
                      options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
        if result.status not in (0, 1):  # 0 optimal, 1 time/iteration limit: anything else is a bug or numerics
            raise RuntimeError(f"MILP for competitor class {j} failed: {result.message}")
        hit_limit |= result.status == 1
        upper = result.fun if result.x is not None else float("inf")  # the best point found
        lower = result.fun if result.status == 0 else _dual_bound(result)  # nothing in the ball goes lower
        if upper < min(highs, default=float("inf")):
            best_x = result.x[: program.num_inputs]
        lows.append(lower), highs.append(upper)
    low, high = min(lows), min(highs)
    robust = True if low > 0 else False if high <= 0 else None
    counterexample = None
    if robust is False:  # the solver's point, clipped onto the exact box against round-off
        box_low, box_high = (t.reshape(-1).double().numpy() for t in input_box(x.double().cpu(), eps))
        counterexample = torch.from_numpy(np.clip(best_x, box_low, box_high)).to(x.dtype).view_as(x)
    return Verification(robust, low if not hit_limit else None, (low, high), counterexample,
                        time.perf_counter() - started, classes - 1, hit_limit, program.unstable)


def lp_bound(model: nn.Module, x: torch.Tensor, y, eps: float) -> float:
    """A lower bound on min over the ball of logit_y - max_{j != y} logit_j, from the MILP with its integers relaxed.

    Letting each ReLU's binary delta range over [0, 1] turns the big-M constraints of
    :func:`exact_robustness` into the "triangle" relaxation of a = max(z, 0) on [l, u]:
    a >= 0, a >= z, a <= u (z - l) / (u - l). The linear program is solved exactly (HiGHS), so

        IBP's bound  <=  this bound  <=  the exact minimum (the MILP)

    (its set of activations lies inside IBP's boxes and contains the network's true ones). It is
    the relaxation that Wong & Kolter (2018) bound from below again with a dual network, cheaper
    to compute and looser. The bound is sound only if IBP's boxes are: the relaxation is built on them.
    """
    from scipy.optimize import LinearConstraint, milp

    layers = layers_of(model, MILP_LAYERS)
    x, eps = _check_x_eps(x, eps)
    if len(x) != 1:
        raise ValueError(f"x must hold exactly one sample [1, ...], got shape {list(x.shape)}")
    y = int(y.item() if isinstance(y, torch.Tensor) else y)
    program = _relu_program(layers, x, eps)
    if not 0 <= y < program.num_logits:
        raise ValueError(f"y must be a class index in [0, {program.num_logits - 1}], got {y}")
    bounds = []
    for j in (j for j in range(program.num_logits) if j != y):
        objective = np.zeros(program.num_vars)
        objective[program.logit_index[y]], objective[program.logit_index[j]] = 1.0, -1.0
        result = milp(objective, integrality=np.zeros_like(program.integrality), bounds=program.bounds,
                      constraints=[LinearConstraint(program.A, program.lb, program.ub)])
        if result.status != 0:
            raise RuntimeError(f"LP for competitor class {j} failed: {result.message}")
        bounds.append(result.fun)
    return min(bounds)


def _dual_bound(result) -> float:
    """HiGHS's proven lower bound on the objective after a time limit (-inf if it has none)."""
    bound = getattr(result, "mip_dual_bound", None)
    return float(bound) if bound is not None and np.isfinite(bound) else -float("inf")


@dataclass
class _Program:
    A: object  # scipy.sparse matrix of the linear constraints lb <= A v <= ub
    lb: np.ndarray
    ub: np.ndarray
    bounds: object  # scipy.optimize.Bounds of the variables
    integrality: np.ndarray
    num_vars: int
    num_inputs: int
    logit_index: list[int]
    num_logits: int
    unstable: int


def _relu_program(layers: list[nn.Module], x: torch.Tensor, eps: float) -> _Program:
    """The variables and constraints of the network on the ball, in float64.

    Variables: the input pixels, then for each Linear its outputs z, for each ReLU its outputs a
    and, for every unstable neuron (l < 0 < u), a binary d.
    """
    from scipy.optimize import Bounds
    from scipy.sparse import coo_matrix

    var_low, var_high, integral = [], [], []
    rows, cols, vals, con_low, con_high = [], [], [], [], []

    def new_vars(low, high, binary=False):
        start = len(var_low)
        var_low.extend(low), var_high.extend(high), integral.extend([int(binary)] * len(low))
        return list(range(start, start + len(low)))

    def constrain(terms, low, high):  # low <= sum coef * var <= high
        row = len(con_low)
        for var, coef in terms:
            rows.append(row), cols.append(var), vals.append(coef)
        con_low.append(low), con_high.append(high)

    lower, upper = (t.reshape(-1).double().cpu() for t in input_box(x.double().cpu(), eps))
    current = new_vars(lower.tolist(), upper.tolist())
    num_inputs, unstable = len(current), 0
    for layer in layers:
        if isinstance(layer, nn.Flatten):
            continue  # the variables are already a flat vector
        if isinstance(layer, nn.Linear):
            weight = layer.weight.detach().double().cpu()
            bias = layer.bias.detach().double().cpu() if layer.bias is not None else torch.zeros(len(weight))
            centre, radius = (upper + lower) / 2, (upper - lower) / 2
            lower, upper = weight @ centre - weight.abs() @ radius + bias, weight @ centre + weight.abs() @ radius + bias
            outputs = new_vars(lower.tolist(), upper.tolist())
            w = weight.numpy()
            for k, z in enumerate(outputs):  # z_k - W_k a = b_k
                constrain([(z, 1.0)] + [(current[i], -w[k, i]) for i in np.flatnonzero(w[k])],
                          bias[k].item(), bias[k].item())
        else:  # ReLU
            outputs = new_vars([0.0] * len(current), upper.clamp(min=0).tolist())
            for z, a, l, u in zip(current, outputs, lower.tolist(), upper.tolist()):
                if l >= 0:
                    constrain([(a, 1.0), (z, -1.0)], 0.0, 0.0)  # active: a = z
                elif u > 0:  # unstable: the big-M encoding with M from the IBP bounds
                    unstable += 1
                    (d,) = new_vars([0.0], [1.0], binary=True)
                    constrain([(a, 1.0), (z, -1.0)], 0.0, np.inf)  # a >= z
                    constrain([(a, 1.0), (z, -1.0), (d, -l)], -np.inf, -l)  # a <= z - l (1 - d)
                    constrain([(a, 1.0), (d, -u)], -np.inf, 0.0)  # a <= u d
                # inactive (u <= 0): a is fixed to 0 by its bounds
            lower, upper = lower.clamp(min=0), upper.clamp(min=0)
        current = outputs
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(con_low), len(var_low))).tocsr()
    return _Program(matrix, np.array(con_low), np.array(con_high), Bounds(np.array(var_low), np.array(var_high)),
                    np.array(integral), len(var_low), num_inputs, current, len(current), unstable)


# ----------------------------------------------------------------------------- IBP training
def ramp(progress: float, start: float, end: float) -> float:
    """0 before `start`, 1 after `end`, linear in between (fractions of training)."""
    if progress <= start:
        return 0.0
    return 1.0 if progress >= end else (progress - start) / (end - start)


@dataclass
class IBPLoss:
    """Gowal et al.'s certified-training loss as a term for ``fit(..., clean_weight=0, extra_losses=...)``.

        loss = kappa(p) * CE(z(x), y) + (1 - kappa(p)) * CE(z_hat(x, eps(p)), y)

    z_hat_j = -(lower bound of logit_y - logit_j): the worst-case logits of the box (0 for j = y).
    Over training progress p: eps(p) = eps * ramp(p) and kappa(p) = 1 - (1 - kappa_final) * ramp(p),
    with the ramp 0 until `warmup` and 1 from `ramp_end` on (Gowal et al.: a clean warm-up,
    then a slow ramp; starting at the full eps does not train).
    """

    eps: float
    kappa_final: float = 0.5
    warmup: float = 0.1
    ramp_end: float = 0.6

    def __post_init__(self):
        check_number("eps", self.eps, minimum=0)
        check_number("kappa_final", self.kappa_final, minimum=0)
        if self.kappa_final > 1:
            raise ValueError(f"kappa_final must be in [0, 1], got {self.kappa_final}")
        if not 0 <= self.warmup < self.ramp_end <= 1:
            raise ValueError(f"need 0 <= warmup < ramp_end <= 1, got warmup={self.warmup}, ramp_end={self.ramp_end}")

    def schedule(self, progress: float) -> tuple[float, float]:
        """(eps, kappa) at training progress p in [0, 1]."""
        r = ramp(progress, self.warmup, self.ramp_end)
        return self.eps * r, 1.0 - (1.0 - self.kappa_final) * r

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        eps, kappa = self.schedule(batch.progress)
        clean = F.cross_entropy(batch.logits, batch.y)
        if kappa == 1.0:
            return clean
        worst_logits = -margin_lower_bounds(model, batch.x, batch.y, eps)
        return kappa * clean + (1.0 - kappa) * F.cross_entropy(worst_logits, batch.y)


def ibp_setup(eps: float, **kwargs) -> dict:
    """Keyword arguments for ``fit``: ``{"clean_weight": 0, "extra_losses": {"ibp loss": IBPLoss(eps, ...)}}``."""
    return {"clean_weight": 0.0, "extra_losses": {"ibp loss": IBPLoss(eps, **kwargs)}}


# ----------------------------------------------------------------------------- checks
def _check_x_eps(x, eps) -> tuple[torch.Tensor, float]:
    check_images("x", x, shape=None)
    if x.dim() < 2:
        raise ValueError(f"x must be a batch [N, ...] with at least 2 dimensions, got shape {list(x.shape)}")
    return x.detach(), check_number("eps", eps, minimum=0)


__all__ = ["layers_of", "input_box", "propagate_box", "layer_bounds", "interval_bounds", "margin_lower_bounds",
           "certified", "certified_accuracy", "Verification", "exact_robustness", "ramp", "IBPLoss", "ibp_setup",
           "smoothed_predict", "smoothed_certify"]
