"""Fixed inputs for the checkers: real MNIST (the bundled subset, so every machine sees the same
digits) and small models trained quickly and deterministically, cached for the process.

The learner's random state is left alone: models are built inside ``torch.random.fork_rng``.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from .. import data
from ..models import SmallCNN
from ..train import fit

SOURCE = "bundled"  # the same digits on every machine, with or without internet


@functools.cache
def mixture_batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` digit-0 mixture test pairs (x [n,1,28,28], y [n]); callers get copies."""
    x, y, _ = data.digit0_mixture("test", n=n, seed=1, source=SOURCE)
    return x, y


def batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = mixture_batch(n)
    return x.clone(), y.clone()


@functools.cache
def _trained_cnn() -> SmallCNN:
    x, y, _ = data.digit0_mixture("train", n=512, seed=0, source=SOURCE)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SmallCNN(num_classes=2)
        fit(model, (x, y), epochs=2, seed=0, live=False, progress=False)
    return model.eval()


def trained_cnn() -> SmallCNN:
    """SmallCNN trained for 2 epochs on 512 mixture pairs (~80 % test accuracy), in eval mode."""
    return _trained_cnn().eval()


@functools.cache
def _dropout_cnn() -> nn.Module:
    cnn = _trained_cnn()
    return nn.Sequential(cnn.extractor, nn.Dropout(0.5), cnn.head)


def dropout_cnn() -> nn.Module:
    """The trained CNN with a dropout layer before its head: in train mode its output is random,
    so an attack that forgets `model.eval()` gives different images from the reference."""
    return _dropout_cnn().eval()


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
