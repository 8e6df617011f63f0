"""Tests for the shifted MNIST domains of advlab.data (the target domain of notebook 06)."""

import pytest
import torch

from advlab import data


@pytest.mark.parametrize("shift", data.SHIFTS)
def test_shape_range_and_labels_unchanged(shift):
    x, y = data.shifted_mnist("test", shift, n=50, seed=3, source="bundled")
    plain_x, plain_y = data.mnist10("test", n=50, seed=3, source="bundled")
    assert x.shape == (50, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.equal(y, plain_y)
    assert not torch.equal(x, plain_x), "the shift must change the images"


@pytest.mark.parametrize("shift", data.SHIFTS)
def test_same_seed_same_images(shift):
    first, _ = data.shifted_mnist("train", shift, n=20, seed=5, source="bundled")
    second, _ = data.shifted_mnist("train", shift, n=20, seed=5, source="bundled")
    assert torch.equal(first, second)


def test_different_seed_different_textures():
    plain, _ = data.mnist10("train", n=20, seed=5, source="bundled")
    a = data.shift_images(plain, "texture", seed=1)
    b = data.shift_images(plain, "texture", seed=2)
    assert not torch.equal(a, b)


def test_texture_keeps_the_digit_strokes_on_a_textured_background():
    x, _ = data.mnist10("test", n=30, seed=0, source="bundled")
    shifted = data.shift_images(x, "texture", seed=0)
    strokes = x > 0.9
    assert torch.all(shifted[strokes] >= x[strokes]), "max(x, 0.8 t) never darkens a stroke"
    background = x < 0.01
    assert shifted[background].mean() > 0.2, "the background is no longer black"
    assert shifted[background].max() <= 0.8 + 1e-6


def test_mnistm_blend_and_invert_formulas():
    x, _ = data.mnist10("test", n=10, seed=0, source="bundled")
    assert torch.equal(data.shift_images(x, "invert"), 1.0 - x)
    generator = torch.Generator().manual_seed(4)
    background = data.textures(x, len(x), generator)
    assert torch.allclose(data.shift_images(x, "mnistm", seed=4, texture_pool=x), (background - x).abs())


def test_whole_split_when_n_is_none():
    x, y = data.shifted_mnist("test", "invert", source="bundled")
    assert len(x) == len(y) == 1000


def test_smooth_noise_range_and_smoothness():
    field = data.smooth_noise(8, torch.Generator().manual_seed(0))
    assert field.shape == (8, 1, 28, 28)
    assert 0.0 <= field.min() and field.max() <= 1.0
    neighbour_step = (field[..., 1:] - field[..., :-1]).abs().max()
    assert neighbour_step < 0.2, "a smooth field changes little from one pixel to the next"


@pytest.mark.parametrize("kwargs, error, name", [
    ({"shift": "blur"}, ValueError, "shift"),
    ({"split": "valid"}, ValueError, "split"),
    ({"n": 0}, ValueError, "n"),
    ({"n": 2.5}, TypeError, "n"),
    ({"seed": -1}, ValueError, "seed"),
    ({"n": 10_000_000}, ValueError, "n"),
])
def test_bad_arguments_raise_naming_them(kwargs, error, name):
    arguments = {"split": "test", "shift": "texture", "n": 10, "seed": 0, "source": "bundled"} | kwargs
    with pytest.raises(error, match=name):
        data.shifted_mnist(**arguments)
