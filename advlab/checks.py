"""Argument checks shared by every module: bad input fails loudly, naming the argument.

A learner who passes eps=-0.1, 0-255 pixels or a [28, 28] image should get a message that
says which argument is wrong and why, never a silently wrong figure.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

IMAGE_SHAPE = (1, 28, 28)


def check_choice(name: str, value, choices) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return `value` if it is an int (not a bool) >= `minimum`, else raise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_number(name: str, value, minimum: float | None = None, strict: bool = False) -> float:
    """Return `value` as a float if it is a finite real number >= `minimum` (> if `strict`)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
    return value


def check_images(name: str, x, shape: tuple[int, ...] | None = IMAGE_SHAPE) -> torch.Tensor:
    """Check a float image batch [N, *shape] with values in [0, 1]; return it unchanged."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor with values in [0, 1], got dtype {x.dtype}")
    if shape is not None and (x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape)):
        expected = ", ".join(["N", *map(str, shape)])
        raise ValueError(f"{name} must have shape [{expected}], got {list(x.shape)}")
    if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} must hold values in [0, 1] (got min {x.min().item():.3g}, "
            f"max {x.max().item():.3g}); divide 0-255 pixels by 255"
        )
    return x


def check_labels(name: str, y, batch_size: int, num_classes: int | None = None) -> torch.Tensor:
    """Check an int64 label vector of length `batch_size`; return it unchanged."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 (long) tensor, got dtype {y.dtype}")
    if y.dim() != 1 or len(y) != batch_size:
        raise ValueError(f"{name} must have shape [{batch_size}] to match the images, got {list(y.shape)}")
    if num_classes is not None and len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{name} must hold class indices in [0, {num_classes - 1}]")
    return y
