"""advlab.models: the seed's CNN, its feature extractor, and the eval-mode context manager."""

import pytest
import torch

from advlab.models import FEATURE_DIM, SmallCNN, count_parameters, eval_mode


def test_small_cnn_shapes(small_mixture):
    x, _ = small_mixture
    model = SmallCNN(num_classes=2)
    assert model.features(x[:5]).shape == (5, 1764) == (5, FEATURE_DIM)
    assert model(x[:5]).shape == (5, 2)
    assert SmallCNN(num_classes=10)(x[:3]).shape == (3, 10)


def test_small_cnn_is_the_seed_architecture():
    model = SmallCNN()
    conv1, conv2 = model.extractor[0], model.extractor[3]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.padding) == (1, 16, (5, 5), (2, 2))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size, conv2.padding) == (16, 36, (5, 5), (2, 2))
    # 1*16*25+16 + 16*36*25+36 + 1764*2+2
    assert count_parameters(model) == 416 + 14436 + 3530


def seed_order_logits(model, x):
    """The seed's network with the same weights: conv -> ReLU -> pool, contiguous (NCHW) tensors."""
    conv1, conv2 = model.extractor[0], model.extractor[3]
    pool = torch.nn.functional.max_pool2d
    h = pool(torch.relu(torch.nn.functional.conv2d(x, conv1.weight.contiguous(), conv1.bias, padding=2)), 2)
    h = pool(torch.relu(torch.nn.functional.conv2d(h, conv2.weight.contiguous(), conv2.bias, padding=2)), 2)
    return model.head(h.flatten(1))


def test_pool_before_relu_in_channels_last_is_the_seeds_network(small_mixture):
    x, y = small_mixture
    torch.manual_seed(0)
    model = SmallCNN()
    x = x[:64].clone().requires_grad_(True)
    ours, seeds = model(x), seed_order_logits(model, x)
    assert torch.allclose(ours, seeds, atol=1e-5) and not torch.equal(ours, torch.zeros_like(ours))
    loss = torch.nn.functional.cross_entropy
    (grad_ours,) = torch.autograd.grad(loss(ours, y[:64]), x)
    (grad_seeds,) = torch.autograd.grad(loss(seeds, y[:64]), x)
    assert torch.allclose(grad_ours, grad_seeds, atol=1e-6)
    assert (grad_ours.sign() == grad_seeds.sign()).float().mean() > 0.999, "FGSM's sign is the same"
    assert grad_ours.is_contiguous(), "the input's gradient keeps the input's layout"


def test_forward_is_head_of_features(small_mixture):
    x, _ = small_mixture
    model = SmallCNN()
    assert torch.allclose(model(x[:4]), model.head(model.features(x[:4])))


@pytest.mark.parametrize("bad", [1, 0, 2.0, True, "2"])
def test_num_classes_must_be_an_int_of_at_least_two(bad):
    with pytest.raises(ValueError, match="num_classes"):
        SmallCNN(num_classes=bad)


@pytest.mark.parametrize("was_training", [True, False])
def test_eval_mode_restores_the_previous_mode_even_on_errors(was_training):
    model = SmallCNN().train(was_training)
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            assert not model.training
            raise RuntimeError("boom")
    assert model.training is was_training
