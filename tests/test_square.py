"""advlab.attacks.square (Square attack, Andriushchenko et al. 2020, L-inf): contracts, schedule, torchattacks.

The cross-check runs on a SmallCNN trained for two epochs on 1000 real digit-0 mixture pairs.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advlab import attacks, data, train
from advlab.models import SmallCNN
from tiny_nets import tiny_inputs, tiny_model

torchattacks = pytest.importorskip("torchattacks")

PROPERTY = settings(max_examples=10, deadline=None, derandomize=True)
TOL = 1e-12


def run_square(model, x, y, eps, seed=1, n_queries=30, **extra):
    return attacks.square(model, x, y, eps, n_queries=n_queries, generator=torch.Generator().manual_seed(seed), **extra)


def predicted(model, x):
    with torch.no_grad():
        return model.eval()(x).argmax(1)


# ----------------------------------------------------------------------------- contracts
@PROPERTY
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), eps=st.floats(0.0, 0.6, allow_nan=False))
def test_result_stays_in_box_and_ball_and_only_fooled_samples_move(seed, n, eps):
    model = tiny_model(seed)
    x, y = tiny_inputs(seed, n)
    x_adv = run_square(model, x, y, eps)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (attacks.perturbation_norms(x_adv, x, "inf") <= eps + TOL).all()
    moved = (x_adv != x).flatten(1).any(1)
    assert (predicted(model, x_adv)[moved] != y[moved]).all(), "a returned perturbation always fools"


@PROPERTY
@given(seed=st.integers(0, 10_000), training=st.booleans())
def test_no_side_effects_on_inputs_or_model(seed, training):
    model = tiny_model(seed).train(training)
    x, y = tiny_inputs(seed, 3)
    model[5].weight.grad = torch.full_like(model[5].weight, 7.0)
    x_before, y_before = x.clone(), y.clone()
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    run_square(model, x, y, 0.3)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert all(torch.equal(v, state_before[k]) for k, v in model.state_dict().items())
    assert torch.equal(model[5].weight.grad, torch.full_like(model[5].weight, 7.0))
    assert all(p.grad is None for name, p in model.named_parameters() if name != "5.weight")
    assert model.training == training and all(m.training == training for m in model.modules())


def test_eps_zero_returns_x():
    model = tiny_model(0)
    x, y = tiny_inputs(0, 3)
    assert torch.equal(run_square(model, x, y, 0.0), x)


# ----------------------------------------------------------------------------- schedule
def test_square_fraction_halves_at_the_papers_iterations_rescaled_to_the_budget():
    assert [attacks.square_fraction(i, 10_000) for i in (0, 10, 11, 50, 51, 201, 8001)] == \
        [0.8, 0.8, 0.4, 0.4, 0.2, 0.1, 0.8 / 512]
    assert attacks.square_fraction(2, 1000) == 0.4  # iteration 2 of 1000 is iteration 20 of 10,000


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "error", "argument"),
    [
        (dict(eps=-0.1), ValueError, "eps"), (dict(eps=math.inf), ValueError, "eps"),
        (dict(n_queries=0), ValueError, "n_queries"), (dict(n_queries=1.5), TypeError, "n_queries"),
        (dict(restarts=0), ValueError, "restarts"), (dict(p_init=0.0), ValueError, "p_init"),
        (dict(p_init=1.5), ValueError, "p_init"), (dict(generator="g"), TypeError, "generator"),
    ],
)
def test_square_rejects_bad_arguments_naming_them(change, error, argument):
    model = tiny_model(0)
    x, y = tiny_inputs(0, 2)
    with pytest.raises(error, match=argument):
        attacks.square(model, x, y, **{**dict(eps=0.1, n_queries=2), **change})


def test_square_rejects_a_batch_that_is_not_images():
    with pytest.raises(ValueError, match=r"\bx\b"):
        attacks.square(nn.Linear(5, 2).double(), torch.rand(3, 5, dtype=torch.float64), torch.zeros(3, dtype=torch.long), 0.1)


# ----------------------------------------------------------------------------- on a trained model
@pytest.fixture(scope="session")
def trained_cnn_square():
    """A SmallCNN after 2 epochs on 1000 real mixture pairs, and 150 test pairs."""
    x, y, _ = data.digit0_mixture("train", n=1000, seed=0, source="bundled")
    x_test, y_test, _ = data.digit0_mixture("test", n=150, seed=1, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    train.fit(model, (x, y), epochs=2, live=False, progress=False)
    return model.eval(), x_test, y_test


def success_rate(model, x, x_adv, y):
    """Share of the correctly classified samples that the attack fooled."""
    with torch.no_grad():
        clean = model(x).argmax(1) == y
        fooled = model(x_adv).argmax(1) != y
    return (fooled & clean).sum().item() / clean.sum().item()


def test_success_rate_matches_torchattacks_square(trained_cnn_square):
    # Same model, images, eps and 300 queries. The searches are random and draw differently
    # (we pick a window per sample, torchattacks one per batch), so single samples differ; we
    # allow 5 percentage points of success rate (about 7 of ~130 attacked samples) against an
    # effect asserted to be more than 4 times larger.
    model, x, y = trained_cnn_square
    eps, queries = 0.15, 300
    ours = success_rate(model, x, run_square(model, x, y, eps, seed=0, n_queries=queries), y)
    theirs = success_rate(model, x, torchattacks.Square(model, eps=eps, n_queries=queries, seed=0)(x, y), y)
    assert theirs > 0.2, "the cross-check needs an attack with a visible effect"
    assert abs(ours - theirs) <= 0.05, (ours, theirs)


def test_same_seed_same_result_another_seed_another_search(trained_cnn_square):
    model, x, y = trained_cnn_square
    x, y = x[:60], y[:60]
    first = run_square(model, x, y, 0.15, seed=4, n_queries=50)
    assert torch.equal(first, run_square(model, x, y, 0.15, seed=4, n_queries=50))
    assert (first != x).any(), "the search must fool someone for the comparison to mean anything"
    assert not torch.equal(first, run_square(model, x, y, 0.15, seed=5, n_queries=50))


class Quantised(nn.Module):
    """Gradient masking by rounding the input to 4 grey levels: the gradient is zero almost everywhere."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 3) / 3)


def test_square_breaks_a_quantised_model_that_pgd_cannot_touch(trained_cnn_square):
    model, x, y = trained_cnn_square
    masked = Quantised(model).eval()
    with torch.no_grad():
        clean = (masked(x).argmax(1) == y).float().mean().item()
    pgd = attacks.pgd(masked, x, y, 0.15, alpha=0.04, steps=10)
    assert torch.equal(pgd, x), "round() has a zero gradient: PGD never moves"
    fooled = success_rate(masked, x, run_square(masked, x, y, 0.15, seed=0, n_queries=200), y)
    assert clean > 0.8 and fooled > 0.05, (clean, fooled)  # measured: about 12 % of 130, PGD 0


def test_callback_sees_margins_that_only_go_down_and_end_at_the_result(trained_cnn_square):
    model, x, y = trained_cnn_square
    x, y = x[:40], y[:40]
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    seen = []
    result = run_square(model, x, y, 0.15, seed=2, n_queries=40, callback=lambda i, margins: seen.append((i, margins)))
    assert [i for i, _ in seen] == list(range(len(seen))) and len(seen[0][1]) == correct.sum()
    margins = torch.stack([m for _, m in seen])
    assert (margins.diff(dim=0) <= 0).all(), "a candidate is kept only if it lowers the margin"
    fooled = (result != x).flatten(1).any(1)
    assert torch.equal(fooled[correct], margins[-1] <= 0)
