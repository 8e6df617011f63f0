"""torchvision's raw MNIST files: read them, and write full-size stand-ins to measure cost offline.

torchvision reads MNIST from four raw IDX files under ``<root>/MNIST/raw/``. :func:`read_idx`
reads them without torchvision: importing torchvision (a CUDA build, on PyPI) costs a kernel
about 200 MB of memory, so advlab imports it only to download. Offline, we write
files of the real size (60,000 train / 10,000 test) built from the bundled real digits, each
one shifted by a few pixels so that the copies are not identical:

    image_k = shift(bundled[k mod n], dx_k, dy_k),   dx_k, dy_k ~ U{-2, ..., 2}

Point ADVLAB_DATA at the folder and ``source="torchvision"`` (or "auto") loads them as full
MNIST. They measure cost only: 60,000 shifted copies of 4,000 digits are not new data, so an
accuracy measured on them says nothing about full MNIST.
"""

from __future__ import annotations

import struct
from pathlib import Path

import torch

from .checks import check_int

FULL_SIZE = {"train": 60_000, "test": 10_000}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def write_idx(folder: Path, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Write uint8 images [N, 28, 28] and labels [N] as torchvision's raw MNIST files of `split`."""
    if images.dtype != torch.uint8 or images.dim() != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must be uint8 [N, 28, 28], got {images.dtype} {list(images.shape)}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels must have shape [{len(images)}], got {list(labels.shape)}")
    raw = Path(folder) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    image_file, label_file = _FILES[split]
    n = len(images)
    (raw / image_file).write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + images.numpy().tobytes())
    (raw / label_file).write_bytes(struct.pack(">II", 0x801, n) + labels.to(torch.uint8).numpy().tobytes())


def read_idx(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 28, 28] and int64 labels [N] from the raw MNIST files of `split` under `folder`.

    IDX format: a big-endian header (magic 0x803 for images, 0x801 for labels; then N, and 28, 28
    for images) followed by the raw bytes. Raises FileNotFoundError when the files are missing and
    ValueError when a header does not match.
    """
    raw = Path(folder) / "MNIST" / "raw"
    image_bytes, label_bytes = ((raw / name).read_bytes() for name in _FILES[split])
    magic, n, rows, cols = struct.unpack(">IIII", image_bytes[:16])
    label_magic, n_labels = struct.unpack(">II", label_bytes[:8])
    if (magic, rows, cols, label_magic) != (0x803, 28, 28, 0x801) or n_labels != n \
            or len(image_bytes) != 16 + n * 784 or len(label_bytes) != 8 + n:
        raise ValueError(f"{raw} does not hold MNIST's {split} files in IDX format")
    images = torch.frombuffer(bytearray(image_bytes[16:]), dtype=torch.uint8).view(n, 28, 28)
    labels = torch.frombuffer(bytearray(label_bytes[8:]), dtype=torch.uint8).long()
    return images, labels


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
    from .data import load_mnist  # the bundled digits as floats in [0, 1]

    for split, n in FULL_SIZE.items():
        images, labels = load_mnist(split, source="bundled")
        digits = (images[:, 0] * 255).round().to(torch.uint8)
        write_idx(folder, split, *shifted_copies(digits, labels, n, seed=seed + (split == "test")))
    return Path(folder)
