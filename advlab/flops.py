"""Counting the work a computation does, in floating-point operations (FLOPs), to compare methods at equal compute.

Seconds depend on the machine and on what else runs; FLOPs depend only on the shapes. For a
matrix product of an m×k and a k×n matrix

    FLOPs = 2 · m · k · n        (one multiply and one add per term)

and a convolution counts the same way per output element. :func:`count_flops` runs a function
under ``torch.utils.flop_counter`` and returns its result and the FLOPs of every matmul and
convolution it ran, forward *and* backward, including the backward of a backward (MAML's
second-order term). Element-wise work (ReLU, the loss, the optimiser's update) is not counted;
it is small next to the products here, so the count is a lower bound on the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.flop_counter import FlopCounterMode


class _NoModuleAttribution:
    """Stands in for FlopCounterMode's module tracker: every FLOP goes to "Global".

    The tracker's backward hooks raise inside ``torch.autograd.grad`` (which MAML's inner step
    calls); only the total is needed here, so attribution to modules is switched off.
    """

    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def count_flops(function: Callable[..., Any], *args, **kwargs) -> tuple[Any, int]:
    """(function(*args, **kwargs), the FLOPs of its matmuls and convolutions, forward and backward)."""
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleAttribution()
    with counter:
        result = function(*args, **kwargs)
    return result, int(counter.get_total_flops())
