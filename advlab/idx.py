"""torchvision's raw MNIST files (IDX format), read and written without torchvision.

torchvision reads MNIST from four raw IDX files under ``<root>/MNIST/raw/``. Importing
torchvision (a CUDA build, on PyPI) costs a kernel about 200 MB of memory, so advlab reads the
files itself and imports torchvision only to download them (:mod:`advlab.data`).

    IDX: a big-endian header (magic 0x803 for images, then N, 28, 28; magic 0x801 for labels,
         then N), followed by the raw uint8 bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import torch

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
