"""Full-size stand-in MNIST files, to measure a notebook's cost offline.

Offline there is no full MNIST, so we write torchvision's raw files (:mod:`advlab.idx`) of the
real size (60,000 train / 10,000 test) built from the bundled real digits, each
one shifted by a few pixels so that the copies are not identical:

    image_k = shift(bundled[k mod n], dx_k, dy_k),   dx_k, dy_k ~ U{-2, ..., 2}

Point ADVLAB_DATA at the folder and ``source="torchvision"`` (or "auto") loads them as full
MNIST. They measure cost only: 60,000 shifted copies of 4,000 digits are not new data, so an
accuracy measured on them says nothing about full MNIST.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checks import check_int
from .data import load_mnist  # the bundled digits as floats in [0, 1]
from .idx import write_idx

FULL_SIZE = {"train": 60_000, "test": 10_000}


def shifted_copies(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int = 0, max_shift: int = 2):
    """`n` copies of uint8 digits [M, 28, 28], cycling through them, each moved by up to `max_shift` pixels."""
    check_int("n", n, minimum=1)
    generator = torch.Generator().manual_seed(seed)
    source = torch.arange(n) % len(images)
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    out = torch.empty(n, 28, 28, dtype=torch.uint8)
    for k in range(n):  # 70,000 small copies: about a second
        out[k] = padded[source[k], dy[k] : dy[k] + 28, dx[k] : dx[k] + 28]
    return out, labels[source].clone()


def write_full_size_stand_in(folder: Path, seed: int = 0) -> Path:
    """Write 60,000 / 10,000 shifted copies of the bundled train / test digits as raw MNIST under `folder`."""
    for split, n in FULL_SIZE.items():
        images, labels = load_mnist(split, source="bundled")
        digits = (images[:, 0] * 255).round().to(torch.uint8)
        write_idx(folder, split, *shifted_copies(digits, labels, n, seed=seed + (split == "test")))
    return Path(folder)
