"""Graded exercises of notebook 09 (certified robustness): interval bounds through a layer, a smoothing radius,
and the order of the three accuracies."""

from __future__ import annotations

import math
from statistics import NormalDist

import torch

from . import fixtures
from .core import Wrong, call, exercise, expect_number, expect_tensor, same
from .language import Text, text


# ----------------------------------------------------------------------------- 09.interval_linear
def reference_interval_linear(layer, lower, upper):
    """The box [lower, upper] through x -> Wx + b: centre W·m + b, radius |W|·r."""
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    centre = layer(centre)
    radius = radius @ layer.weight.abs().T
    return centre - radius, centre + radius


def _box():
    """The trained head and 8 boxes around real features, with a different radius (0.01 to 0.1) per feature:
    an answer that uses one radius for all features fails."""
    model = fixtures.trained_cnn()
    x, _ = fixtures.batch(8)
    with torch.no_grad():
        features = model.features(x)
    radius = 0.01 + 0.09 * torch.rand(features.shape, generator=fixtures.generator(4))
    return model.head, features - radius, features + radius


@exercise("09.interval_linear", "interval bounds through a linear layer", solution=lambda: reference_interval_linear)
def check_interval_linear(answer) -> Text:
    layer, lower, upper = _box()
    with torch.no_grad():
        result = call(answer, layer, lower.clone(), upper.clone())
        if not isinstance(result, tuple) or len(result) != 2:
            raise Wrong(text("return the pair (lower, upper)."), mistake="type")
        shape = [len(lower), layer.out_features]
        got = tuple(expect_tensor(r, shape, name) for r, name in zip(result, ("lower", "upper")))
        if _same_pair(got, reference_interval_linear(layer, lower, upper)):
            return text("sound and tight bounds for the trained head on 8 real feature boxes with a radius per "
                        "feature (centre W·m + b, radius |W|·r)")
        if _same_pair(got, (layer(lower), layer(upper))):
            raise Wrong(text("you pushed lower and upper through the layer separately (the same as a radius through W "
                             "instead of |W|): a negative weight swaps them, so W·lower is not a lower bound. Use the "
                             "centre W·m + b and |W| times the radius."), mistake="naive")
        if any(_same_pair(got, bounds) for bounds in _one_radius_bounds(layer, lower, upper)):
            raise Wrong(text("you used one radius for all features: every feature has its own, so the radius is a "
                             "vector r = (upper - lower) / 2, and the output radius is r @ |W|.T."),
                        mistake="scalar_radius")
    raise Wrong(text("not the interval bounds of the layer."), mistake="unrecognised")


def _same_pair(got, want) -> bool:
    """Both bounds agree within 1e-4."""
    return all(same(a, b, 1e-4, 1.0) for a, b in zip(got, want))


def _one_radius_bounds(layer, lower, upper):
    """The bounds with one radius for every feature (the mean, largest, smallest or first, per box or overall)."""
    centre, radius = layer((upper + lower) / 2), (upper - lower) / 2
    row_sums = layer.weight.abs().sum(dim=1)
    for r in (radius.mean(), radius.max(), radius.min(), radius.mean(1, keepdim=True),
              radius.amax(1, keepdim=True), radius[:, :1]):
        yield centre - r * row_sums, centre + r * row_sums


# ----------------------------------------------------------------------------- 09.smoothing_radius
SIGMA = 0.5
P_LOWER = (0.3, 0.5, 0.6, 0.9, 0.999)


def reference_smoothing_radius(p_lower, sigma):
    """Cohen et al.: R = sigma · Phi^{-1}(p_A_lower) when p_A_lower > 1/2, else abstain (radius 0)."""
    return sigma * NormalDist().inv_cdf(p_lower) if p_lower > 0.5 else 0.0


@exercise("09.smoothing_radius", "the certified radius of smoothing", solution=lambda: reference_smoothing_radius)
def check_smoothing_radius(answer) -> Text:
    values = [expect_number(call(answer, p, SIGMA), text("the radius at p = {p}", p=p)) for p in P_LOWER]
    expected = [reference_smoothing_radius(p, SIGMA) for p in P_LOWER]
    if all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(values, expected)):
        return text("R = sigma·Phi^-1(p) for p in {points} (sigma = {sigma}), 0 (abstain) when p <= 1/2",
                    points=P_LOWER, sigma=SIGMA)
    inverse = NormalDist().inv_cdf
    if any(a < 0 for a in values):
        raise Wrong(text("a negative radius: when p_A_lower <= 1/2 smoothing abstains (radius 0)."),
                    mistake="no_abstain")
    if all(math.isclose(a, SIGMA**2 * inverse(p) if p > 0.5 else 0.0, abs_tol=1e-6) for a, p in zip(values, P_LOWER)):
        raise Wrong(text("you used sigma²: the radius is sigma·Phi^-1(p), in the units of the noise's standard "
                         "deviation."), mistake="variance")
    if all(math.isclose(a, SIGMA * NormalDist().cdf(p) if p > 0.5 else 0.0, abs_tol=1e-6) for a, p in zip(values, P_LOWER)):
        raise Wrong(text("that is Phi, the normal CDF; the radius needs its inverse Phi^-1 (scipy.stats.norm.ppf)."),
                    mistake="cdf")
    raise Wrong(text("not sigma·Phi^-1(p_A_lower)."), mistake="unrecognised")


# ----------------------------------------------------------------------------- 09.sandwich
def reference_sandwich() -> list[str]:
    return ["certified", "exact", "attack"]


@exercise("09.sandwich", "order the three accuracies", solution=reference_sandwich)
def check_sandwich(answer) -> Text:
    if not isinstance(answer, (list, tuple)) or sorted(answer) != ["attack", "certified", "exact"]:
        raise Wrong(text('order the three names "certified", "exact" and "attack" from lowest to highest accuracy.'),
                    mistake="type")
    answer = list(answer)
    if answer == reference_sandwich():
        return text("certified (IBP, a sound lower bound) <= exact (MILP, the true robust accuracy) <= attack (an "
                    "upper bound: it may miss adversarial examples)")
    if answer.index("attack") < answer.index("exact"):
        raise Wrong(text("an attack can only FIND adversarial examples, so the accuracy it measures is an upper bound: "
                         "the exact robust accuracy is at most that."), mistake="attack_low")
    raise Wrong(text("certification is sound but loose: what it certifies is at most what is truly robust."),
                mistake="certified_high")
