"""Fixed inputs for the checkers: real MNIST (the bundled subset, so every machine sees the same
digits) and small models trained quickly and deterministically, cached for the process.

Every call hands out a fresh copy (a deep copy of the cached model, clones of the cached
tensors), so nothing an answer does to what it was given (a hook, `model.double()`, an
in-place edit) reaches the next check. The learner's random state is left alone: models are
built inside ``torch.random.fork_rng``.
"""

from __future__ import annotations

import copy
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
    """A fresh copy of SmallCNN trained for 2 epochs on 512 mixture pairs (~80 % test accuracy), in eval mode."""
    return copy.deepcopy(_trained_cnn()).eval()


class WithDropout(nn.Module):
    """A CNN with a dropout layer before its head; in eval mode it computes exactly what the CNN computes."""

    def __init__(self, cnn: SmallCNN, p: float = 0.5):
        super().__init__()
        self.cnn, self.dropout = cnn, nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn.head(self.dropout(self.cnn.features(x)))


def dropout_cnn() -> nn.Module:
    """A fresh copy of the trained CNN with dropout before its head, in eval mode. In train mode its output is
    random, so an attack that forgets `model.eval()` gives other images than it gives in eval mode."""
    return WithDropout(trained_cnn()).eval()


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
