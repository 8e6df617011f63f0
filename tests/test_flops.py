"""advlab.flops: the counts of known products, forward and backward, second order, and its errors."""

import pytest
import torch
from torch import nn

from advlab import flops, meta


def test_a_matrix_product_counts_two_flops_per_term():
    a, b = torch.randn(3, 5), torch.randn(5, 7)
    product, counted = flops.count_flops(torch.mm, a, b)
    assert torch.equal(product, a @ b)  # the function's own result comes back
    assert counted == 2 * 3 * 5 * 7


def test_a_convolution_counts_two_flops_per_multiply_add():
    conv = nn.Conv2d(2, 4, kernel_size=3, bias=False)
    x = torch.randn(1, 2, 8, 8)
    _, counted = flops.count_flops(conv, x)
    output_elements = 4 * 6 * 6
    assert counted == 2 * output_elements * 2 * 3 * 3


def test_backward_adds_the_weight_and_input_gradients():
    layer = nn.Linear(5, 7, bias=False)
    x = torch.randn(3, 5, requires_grad=True)
    _, forward_only = flops.count_flops(layer, x)
    _, with_backward = flops.count_flops(lambda: layer(x).sum().backward())
    assert with_backward == 3 * forward_only  # forward, then dL/dW and dL/dx: one product each


def test_second_order_gradients_are_counted_inside_autograd_grad():
    """MAML's inner step calls torch.autograd.grad(create_graph=True): the count must survive it and grow with it."""
    layer = nn.Linear(5, 7, bias=False)
    x = torch.randn(3, 5)

    def through_an_inner_step(create_graph):
        (grad,) = torch.autograd.grad(layer(x).pow(2).sum(), layer.weight, create_graph=create_graph)
        loss = (x @ (layer.weight - 0.1 * grad).T).sum()
        loss.backward()

    _, first_order = flops.count_flops(through_an_inner_step, False)
    _, second_order = flops.count_flops(through_an_inner_step, True)
    assert second_order > first_order > 0


def test_adml_costs_between_two_and_three_mamls_per_meta_step():
    """Two adaptations and two query losses, plus two FGSM gradients that are cheaper than an adaptation."""
    torch.manual_seed(0)
    images, labels = torch.rand(120, 1, 28, 28), torch.arange(120) % 4
    episodes = meta.EpisodeSampler(images, labels, [0, 1, 2, 3], 2, 5, 10, seed=0).batch(2)
    counts = {}
    for method in ["maml", "adml"]:
        model = meta.few_shot_cnn(2)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        _, counts[method] = flops.count_flops(meta.meta_step, model, optimizer, episodes, method, 0.4, eps=0.15)
    assert 2 < counts["adml"] / counts["maml"] < 3, counts


def test_the_count_is_the_same_twice():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    assert flops.count_flops(layer, x)[1] == flops.count_flops(layer, x)[1] > 0


def test_a_non_callable_is_refused_by_name():
    with pytest.raises(TypeError, match="function"):
        flops.count_flops(3)
