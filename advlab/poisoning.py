"""Training-time attacks: backdoor poisoning (BadNets, clean-label) and two detectors.

A backdoor attacker adds a few training items carrying a small *trigger* patch. The model learns
the task from the clean items and "trigger => target label" from the poisoned ones, so its clean
accuracy stays high while any test image with the trigger stamped on it goes to the target.

* BadNets (Gu, Dolan-Gavitt & Garg 2017): stamp the trigger on round(rate * N) training items and
  relabel them to the target (`poison_dataset`).
* Clean-label (Turner, Tsipras & Madry 2019): keep the labels; take items *of the target class*,
  make them hard to classify from their natural features with L-inf PGD against a surrogate model,
  then stamp the trigger, so the trigger is the easiest evidence left (`clean_label_poisons`).
* Spectral signatures (Tran, Li & Madry 2018) and activation clustering (Chen et al. 2018) look
  for the poisons in the penultimate features of a model trained on the poisoned set.

Images are [N, 1, 28, 28] in [0, 1]; nothing here modifies its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attacks import pgd
from .checks import check_choice, check_images, check_int, check_labels, check_number
from .models import eval_mode, model_device

# A 3x3 checkerboard, white corners and centre: stamped as a solid patch (the 0s are written too).
DEFAULT_TRIGGER = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")
SOURCE_FILTERS = (None, "not-target")
BATCH = 250


# ----------------------------------------------------------------------------- the trigger
def _check_trigger(trigger: torch.Tensor, mask: torch.Tensor | None, size: tuple[int, int]) -> None:
    if not isinstance(trigger, torch.Tensor) or not trigger.is_floating_point():
        raise TypeError(f"trigger must be a float torch.Tensor [h, w], got {type(trigger).__name__}")
    if trigger.dim() != 2 or trigger.shape[0] > size[0] or trigger.shape[1] > size[1] or not trigger.numel():
        raise ValueError(f"trigger must have shape [h, w] no larger than the image {list(size)}, got {list(trigger.shape)}")
    if torch.isnan(trigger).any() or trigger.min() < 0 or trigger.max() > 1:
        raise ValueError("trigger must hold values in [0, 1]")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool torch.Tensor or None, got {type(mask).__name__}")
        if mask.shape != trigger.shape:
            raise ValueError(f"mask must have the trigger's shape {list(trigger.shape)}, got {list(mask.shape)}")


def trigger_box(trigger: torch.Tensor, position: str = "bottom-right", margin: int = 1, size=(28, 28)) -> tuple[slice, slice]:
    """The (rows, columns) slices the trigger covers: in corner `position`, `margin` pixels from both edges."""
    check_choice("position", position, POSITIONS)
    check_int("margin", margin, minimum=0)
    (h, w), (height, width) = trigger.shape, size
    if margin + h > height or margin + w > width:
        raise ValueError(f"margin={margin} pushes the {h}x{w} trigger off the {height}x{width} image")
    top = margin if position.startswith("top") else height - margin - h
    left = margin if position.endswith("left") else width - margin - w
    return slice(top, top + h), slice(left, left + w)


def stamp_trigger(
    x: torch.Tensor,
    trigger: torch.Tensor = DEFAULT_TRIGGER,
    position: str = "bottom-right",
    *,
    margin: int = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """A copy of x with the trigger patch written into every image, in corner `position`.

        x'[n, :, box] = mask * trigger + (1 - mask) * x[n, :, box]      (mask = all ones by default)

    The box is the trigger's size, `margin` pixels from the corner's two edges. Pixels outside the
    box, and inside it where `mask` is False, are x's own. ART's ``add_pattern_bd(distance=d)`` is
    ``stamp_trigger(x, ones(3, 3), "bottom-right", margin=d - 1, mask=ART's 4-pixel pattern)``.
    """
    check_images("x", x)
    _check_trigger(trigger, mask, tuple(x.shape[-2:]))
    rows, cols = trigger_box(trigger, position, margin, tuple(x.shape[-2:]))
    out = x.detach().clone()
    patch = trigger.to(out)
    if mask is not None:
        patch = torch.where(mask.to(out.device), patch, out[..., rows, cols])
    out[..., rows, cols] = patch
    return out


# ----------------------------------------------------------------------------- BadNets
def _check_target(target_label) -> int:
    return check_int("target_label", target_label, minimum=0)


def _choose(candidates: torch.Tensor, count: int, seed: int, what: str) -> torch.Tensor:
    """`count` of the candidate indices, drawn without replacement by `seed`, sorted."""
    if count > len(candidates):
        raise ValueError(f"rate asks for {count} poisons but only {len(candidates)} {what} can be poisoned")
    order = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    return candidates[order[:count]].sort().values


def poison_dataset(
    x: torch.Tensor,
    y: torch.Tensor,
    rate: float,
    target_label: int,
    trigger: torch.Tensor = DEFAULT_TRIGGER,
    *,
    seed: int,
    source_filter: str | None = None,
    position: str = "bottom-right",
    margin: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BadNets (Gu et al. 2017): stamp the trigger on round(rate * N) items and relabel them.

        P = a seeded draw of round(rate * N) indices (N = len(x)) from the eligible items
        x'_i = stamp(x_i),  y'_i = target_label   for i in P;   (x'_i, y'_i) = (x_i, y_i) otherwise

    Eligible: every item (``source_filter=None``), or only those whose label is not already the
    target (``"not-target"``). Returns ``(x_poisoned, y_poisoned, poisoned_index)``, the index sorted.
    """
    check_images("x", x)
    check_labels("y", y, len(x))
    rate = check_number("rate", rate, minimum=0)
    if rate > 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    target_label = _check_target(target_label)
    check_int("seed", seed, minimum=0)
    check_choice("source_filter", source_filter, SOURCE_FILTERS)
    eligible = torch.arange(len(y)) if source_filter is None else (y.cpu() != target_label).nonzero().flatten()
    index = _choose(eligible, round(rate * len(x)), seed, "eligible items")
    x_out, y_out = x.detach().clone(), y.clone()
    x_out[index.to(x.device)] = stamp_trigger(x[index.to(x.device)], trigger, position, margin=margin)
    y_out[index.to(y.device)] = target_label
    return x_out, y_out, index


def attack_success_rate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target_label: int,
    trigger: torch.Tensor = DEFAULT_TRIGGER,
    *,
    position: str = "bottom-right",
    margin: int = 1,
) -> float:
    """The backdoor's success: among test items whose true label is not the target, the share

        ASR = #{i : y_i != t and f(stamp(x_i)) = t} / #{i : y_i != t}

    that the model classifies as the target t once the trigger is stamped on them.
    """
    check_images("x", x)
    check_labels("y", y, len(x))
    target_label = _check_target(target_label)
    keep = y != target_label
    if not keep.any():
        raise ValueError(f"y must hold at least one item whose label is not target_label={target_label}")
    stamped = stamp_trigger(x[keep], trigger, position, margin=margin)
    hits = 0
    with eval_mode(model), torch.no_grad():
        for start in range(0, len(stamped), BATCH):
            batch = stamped[start:start + BATCH].to(model_device(model))
            hits += int((model(batch).argmax(1) == target_label).sum())
    return hits / len(stamped)


# ----------------------------------------------------------------------------- clean-label
def clean_label_poisons(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target_label: int,
    eps: float,
    steps: int,
    trigger: torch.Tensor = DEFAULT_TRIGGER,
    *,
    rate: float,
    seed: int,
    alpha: float | None = None,
    position: str = "bottom-right",
    margin: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean-label backdoor (Turner et al. 2019): hard target-class items, then the trigger; labels kept.

        P = a seeded draw of round(rate * N) items with y_i = t
        x'_i = stamp( PGD_inf(surrogate, x_i, y_i = t, eps, alpha, steps) )   for i in P

    PGD (advlab.attacks.pgd, untargeted, from x_i) pushes each item away from its own (target)
    class, so a model trained on it cannot fit it from its natural features and leans on the
    trigger. alpha defaults to 2.5 * eps / steps (Madry et al.). Returns
    ``(x_poisoned, y_unchanged_copy, poisoned_index)``.
    """
    check_images("x", x)
    check_labels("y", y, len(x))
    rate = check_number("rate", rate, minimum=0)
    if rate > 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    target_label = _check_target(target_label)
    eps = check_number("eps", eps, minimum=0)
    check_int("steps", steps, minimum=1)
    check_int("seed", seed, minimum=0)
    alpha = 2.5 * eps / steps if alpha is None else check_number("alpha", alpha, minimum=0, strict=True)
    candidates = (y.cpu() == target_label).nonzero().flatten()
    index = _choose(candidates, round(rate * len(x)), seed, f"items of target_label={target_label}")
    x_out = x.detach().clone()
    for start in range(0, len(index), BATCH):
        rows = index[start:start + BATCH].to(x.device)
        hard = pgd(model, x[rows], y[rows], eps, alpha=alpha, steps=steps) if eps > 0 else x[rows]
        x_out[rows] = stamp_trigger(hard, trigger, position, margin=margin)
    return x_out, y.clone(), index


# ----------------------------------------------------------------------------- detection
def _features_of(features: torch.Tensor, y: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices of the items labelled `label` and their features, as float64 [n, d]."""
    if not isinstance(features, torch.Tensor) or not features.is_floating_point() or features.dim() != 2:
        raise TypeError("features must be a float torch.Tensor [N, d] (e.g. model.features(x))")
    if not torch.isfinite(features).all():
        raise ValueError("features must be finite")
    check_labels("y", y, len(features))
    check_int("label", label, minimum=0)
    index = (y.cpu() == label).nonzero().flatten()
    if len(index) < 2:
        raise ValueError(f"label={label} must have at least 2 items in y, got {len(index)}")
    return index, features.detach().cpu()[index].double()


def spectral_signature_scores(features: torch.Tensor, y: torch.Tensor, label: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral signature outlier scores (Tran et al. 2018, Algorithm 1) for the items of one label.

        M = R - mean(R)                 (R: the label's features, one row an item)
        v = the top right-singular vector of M
        tau_i = ((R_i - mean(R)) . v)^2

    Poisons share a direction the clean items lack, so they get the largest scores. Returns
    ``(index, scores)``: the items' positions in y and their scores (float64). ART's
    ``SpectralSignatureDefense.spectral_signature_scores`` returns |R_i . v| on the *uncentred* R;
    on centred features it is the square root of these scores.
    """
    index, r = _features_of(features, y, label)
    centred = r - r.mean(0)
    v = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    return index, (centred @ v) ** 2


def remove_top_scores(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """A bool mask over `scores`, True for the round(fraction * n) highest (the items to remove).

    Tran et al. remove 1.5 times the expected number of poisons: fraction = 1.5 * rate / share
    of the label. Ties at the cut are broken by position (the stable sort's order).
    """
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        raise TypeError("scores must be a 1-D float torch.Tensor")
    fraction = check_number("fraction", fraction, minimum=0)
    if fraction > 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    removed = torch.zeros(len(scores), dtype=torch.bool)
    removed[torch.sort(scores.cpu(), descending=True, stable=True).indices[:round(fraction * len(scores))]] = True
    return removed


@dataclass(frozen=True)
class Clusters:
    """Activation clustering of one label: `index` into y, `cluster` (0/1) and `flagged` per item."""

    index: torch.Tensor
    cluster: torch.Tensor
    flagged: torch.Tensor
    relative_size: float  # the smaller cluster's share of the label's items
    silhouette: float  # mean silhouette of the 2-means split (in [-1, 1]; high = well separated)


def pca(r: torch.Tensor, dims: int) -> torch.Tensor:
    """Project the rows of r on their top `dims` principal directions: (r - mean) V[:, :dims]."""
    centred = r - r.mean(0)
    return centred @ torch.linalg.svd(centred, full_matrices=False).Vh[:dims].T


def two_means(points: torch.Tensor, seed: int, restarts: int = 10, iterations: int = 100) -> torch.Tensor:
    """Lloyd's 2-means from `restarts` seeded random pairs of points; the labelling with least inertia."""
    generator = torch.Generator().manual_seed(seed)
    best, best_inertia = None, float("inf")
    for _ in range(restarts):
        centres = points[torch.randperm(len(points), generator=generator)[:2]]
        for _ in range(iterations):
            assign = torch.cdist(points, centres).argmin(1)
            new = torch.stack([points[assign == k].mean(0) if (assign == k).any() else centres[k] for k in (0, 1)])
            if torch.equal(new, centres):
                break
            centres = new
        inertia = float(((points - centres[assign]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best, best_inertia = assign, inertia
    return best


def silhouette(points: torch.Tensor, assign: torch.Tensor) -> float:
    """Mean silhouette s_i = (b_i - a_i) / max(a_i, b_i) (a: mean distance within, b: to the other cluster)."""
    if assign.min() == assign.max():
        return 0.0
    distances = torch.cdist(points, points)
    same = assign[:, None] == assign[None, :]
    own_size = same.sum(1)
    a = (distances * same).sum(1) / (own_size - 1).clamp(min=1)
    b = (distances * ~same).sum(1) / (~same).sum(1)
    s = torch.where(own_size > 1, (b - a) / torch.maximum(a, b).clamp(min=1e-300), torch.zeros_like(a))
    return float(s.mean())


def activation_clustering(features: torch.Tensor, y: torch.Tensor, label: int, *, dims: int = 10, seed: int = 0) -> Clusters:
    """Activation clustering (Chen et al. 2018) of one label's penultimate features.

        z_i = PCA_dims(R)_i ;   2-means on z ;   flagged = the items of the smaller cluster

    A poisoned label's features split into the clean items and the triggered ones, which are
    fewer; a clean label splits into two halves of similar size with a low silhouette.
    """
    check_int("dims", dims, minimum=1)
    check_int("seed", seed, minimum=0)
    index, r = _features_of(features, y, label)
    z = pca(r, min(dims, r.shape[1], len(r)))
    assign = two_means(z, seed)
    sizes = torch.bincount(assign, minlength=2)
    smaller = int(sizes.argmin())
    return Clusters(index, assign, assign == smaller, float(sizes.min()) / len(assign), silhouette(z, assign))
