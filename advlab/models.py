"""The small CNN of seed 002, built as a feature extractor plus a linear head.

    x [N,1,28,28] -> conv 1->16 (5x5, pad 2) -> maxpool 2 -> ReLU      [N,16,14,14]
                  -> conv 16->36 (5x5, pad 2) -> maxpool 2 -> ReLU     [N,36,7,7]
                  -> flatten                                           [N,1764]  = model.features(x)
                  -> linear 1764 -> num_classes                        logits    = model(x)

The seed applies ReLU before the pool; pooling first is the same function with the same
gradients (ReLU is monotone, so max(relu(a)) = relu(max(a)), and both pick the same element)
and runs ReLU on a quarter of the values. The convolutions work in ``channels_last`` memory
format (NHWC), which oneDNN's CPU kernels run faster. Together they make a training epoch or an
attack step about 1.4-1.6x cheaper on one CPU thread (``benchmarks/notebook_profile.py``);
results agree with the seed's order to float rounding.

Keeping `features` separate lets later notebooks put a second head on the same features
(the gradient-reversal head of notebook 06) without rewriting the network.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

FEATURE_DIM = 36 * 7 * 7  # 1764


class SmallCNN(nn.Module):
    """Two conv blocks (the feature extractor) and one linear head."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.extractor = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, padding=2),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(16, 36, kernel_size=5, padding=2),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)
        self.extractor.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1764 features the heads see, [N, 1764] (the same order as for a contiguous input)."""
        return self.extractor(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, [N, num_classes]."""
        return self.head(self.features(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_device(model: nn.Module) -> torch.device:
    """The device the model's parameters live on (CPU for a model without parameters)."""
    return next(model.parameters(), torch.empty(0)).device


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put `model` in eval mode for the block, then back in the mode it was in (also on errors)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
