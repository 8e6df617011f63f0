"""Tiny float64 networks and inputs for attack property tests (shared by test_apgd and test_square)."""

import torch
from torch import nn


def tiny_model(seed: int, num_classes: int = 3) -> nn.Module:
    """A random float64 conv net with BatchNorm and Dropout (so its train/eval mode matters)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Dropout(0.3),
            nn.Flatten(), nn.Linear(3 * 4 * 4, num_classes),
        ).double()
        model[1].running_mean.normal_()
    return model


def tiny_inputs(seed: int, n: int, num_classes: int = 3):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 6, 6, generator=generator, dtype=torch.float64)
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0], dtype=torch.float64)  # pixels on the box's faces
    y = torch.randint(num_classes, (n,), generator=generator)
    return x, y
