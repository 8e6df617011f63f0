"""Interval bounds, exact verification (MILP) and IBP training of advlab.certify (issue 14)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advlab import attacks, certify, data
from advlab.models import SmallCNN
from advlab.train import Batch, fit


def random_cnn(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def random_mlp(seed, sizes=(49, 16, 16, 3)):
    torch.manual_seed(seed)
    layers = [nn.Flatten()]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()


@pytest.fixture(scope="module")
def digits7():
    """Real digit-0 mixture pairs, average-pooled to 7x7 so that MILPs solve in milliseconds."""
    x, y, _ = data.digit0_mixture("train", n=400, seed=0, source="bundled")
    return F.avg_pool2d(x, 4), y


@pytest.fixture(scope="module")
def trained_mlp(digits7):
    """A 49-16-2 ReLU network trained for a moment on the 7x7 pairs: a real decision boundary to verify."""
    x, y = digits7
    model = random_mlp(0, (49, 16, 2))
    fit(model, (x, y), epochs=4, batch_size=32, lr=3e-3, live=False, progress=False)
    return model.eval()


def margins(logits, y):
    """logit_y - logit_j, [N, classes]."""
    return logits.gather(1, y[:, None]) - logits


# ----------------------------------------------------------------------------- interval bounds are sound
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_contain_sampled_and_pgd_points(seed):
    """Random points and corners of the ball, and PGD points pushing each logit up and down, stay
    inside the bounds of every layer (conv, ReLU, max-pool, flatten, linear)."""
    model = random_cnn(seed)
    x = torch.rand(4, 1, 12, 12, generator=torch.Generator().manual_seed(seed))
    eps = 0.05
    boxes = certify.layer_bounds(model, x, eps)
    low_box, high_box = boxes[0]
    g = torch.Generator().manual_seed(seed)
    samples = low_box + (high_box - low_box) * torch.rand((256, *x.shape), generator=g)
    samples[:64] = torch.where(torch.rand(samples[:64].shape, generator=g) < 0.5, low_box, high_box)  # corners
    points = [samples[k] for k in range(256)] + [extreme_point(model, x, eps, c, s) for c in range(3) for s in (1, -1)]
    for point in points:
        activation = point
        assert (activation >= low_box).all() and (activation <= high_box).all()
        with torch.no_grad():
            for layer, (lower, upper) in zip(model, boxes[1:]):
                activation = layer(activation)
                assert (activation >= lower - 1e-5).all() and (activation <= upper + 1e-5).all()


def extreme_point(model, x, eps, column, sign, steps=30):
    """Signed-gradient ascent on sign * logit_column inside the ball ∩ [0, 1]."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad((sign * model(x_adv)[:, column]).sum(), x_adv)
        x_adv = (x + (x_adv.detach() + eps / 8 * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


@pytest.mark.parametrize("name", ["trained", "random 3-class"])
def test_margin_bounds_hold_and_are_never_looser_than_naive(name, trained_mlp, digits7):
    """Folding the last layer into the margin: sound, and tighter than l_y - u_j where the rows
    w_y, w_j share signs (a random 3-class net; a trained binary head has opposite signs: equal)."""
    model = trained_mlp if name == "trained" else random_mlp(1, (49, 16, 3))
    x, y = digits7[0][:64], digits7[1][:64]
    eps = 0.03
    bounds = certify.margin_lower_bounds(model, x, y, eps)
    lower, upper = certify.interval_bounds(model, x, eps)
    naive = (lower.gather(1, y[:, None]) - upper).scatter(1, y[:, None], 0.0)
    assert (bounds >= naive - 1e-6).all()
    if name != "trained":
        assert (bounds > naive + 1e-3).any()
    g = torch.Generator().manual_seed(0)
    points = [(x + eps * (2 * torch.rand(x.shape, generator=g) - 1)).clamp(0, 1) for _ in range(20)]
    points += [extreme_point(model, x, eps, c, -1) for c in range(lower.shape[1])]
    for point in points:
        with torch.no_grad():
            assert (margins(model(point), y) >= bounds - 1e-5).all()


def test_smallcnn_is_supported_and_certified_accuracy_falls_with_eps():
    x, y, _ = data.digit0_mixture("test", n=16, seed=0, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN().eval()
    flags = [certify.certified(model, x, y, eps) for eps in (0.0, 0.001, 0.1)]
    with torch.no_grad():
        clean_correct = model(x).argmax(1) == y
    assert torch.equal(flags[0], clean_correct)  # at eps = 0 the bound is the logit itself
    assert (flags[1] <= flags[0]).all() and not flags[2].any()


# ----------------------------------------------------------------------------- exact verification
def toy_2d(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def linf_lipschitz(model) -> float:
    """An upper bound of the Lipschitz constant of every margin logit_y - logit_j w.r.t. L-inf: product of ||W||_inf."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    bound = 2 * linears[-1].weight.abs().sum(1).max().item()
    for layer in linears[:-1]:
        bound *= layer.weight.abs().sum(1).max().item()
    return bound


def test_milp_agrees_with_brute_force_on_a_grid():
    model = toy_2d(0)
    steps = 201
    for (cx, cy), eps in itertools.product([(0.3, 0.4), (0.5, 0.5), (0.8, 0.2), (0.1, 0.9)], [0.05, 0.15]):
        x = torch.tensor([[cx, cy]])
        with torch.no_grad():
            y = model(x).argmax(1)
        low, high = certify.input_box(x, eps)
        grid = torch.stack(torch.meshgrid(torch.linspace(low[0, 0], high[0, 0], steps),
                                          torch.linspace(low[0, 1], high[0, 1], steps), indexing="ij"), -1).view(-1, 2)
        with torch.no_grad():
            grid_margin = margins(model(grid), y.expand(len(grid))).scatter(1, y.expand(len(grid))[:, None], math.inf)
        grid_min = grid_margin.min().item()
        spacing = (high - low).max().item() / (steps - 1)
        tolerance = linf_lipschitz(model) * spacing / 2  # every point of the box is spacing/2 from a grid point
        result = certify.exact_robustness(model, x, y, eps)
        assert result.min_margin <= grid_min + 1e-6, "the exact minimum cannot exceed the grid's"
        assert grid_min - result.min_margin <= tolerance, "nor be far below it"
        if abs(grid_min) > tolerance:
            assert result.robust == (grid_min > 0)


def test_milp_counterexamples_are_in_the_ball_and_misclassified(trained_mlp, digits7):
    x, y = digits7
    found = 0
    for i, eps in itertools.product(range(12), [0.02, 0.08]):
        result = certify.exact_robustness(trained_mlp, x[i : i + 1], y[i], eps)
        assert result.robust is not None and not result.hit_time_limit
        if result.robust:
            assert result.counterexample is None
            continue
        found += 1
        x_cex = result.counterexample
        assert x_cex.shape == x[i : i + 1].shape
        assert (x_cex - x[i : i + 1]).abs().max() <= eps + 1e-7
        assert x_cex.min() >= 0 and x_cex.max() <= 1
        with torch.no_grad():
            assert trained_mlp(x_cex).argmax(1).item() != y[i].item()
    assert found >= 3, "the test must see counterexamples to mean anything"


def test_milp_robust_means_pgd_finds_nothing_and_its_minimum_is_below_pgd(trained_mlp, digits7):
    x, y = digits7
    robust_seen = 0
    for i, eps in itertools.product(range(12), [0.02, 0.05]):
        result = certify.exact_robustness(trained_mlp, x[i : i + 1], y[i], eps)
        x_rep, y_rep = x[i : i + 1].expand(8, -1, -1, -1), y[i : i + 1].expand(8)
        x_adv = attacks.pgd(trained_mlp, x_rep, y_rep, eps, eps / 8, 40, random_start=True, restarts=5,
                            generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            attack_margin = margins(trained_mlp(x_adv), y_rep)[:, 1 - y[i]].min().item()
        assert result.min_margin <= attack_margin + 1e-5, "no attack goes below the exact minimum"
        if result.robust:
            robust_seen += 1
            assert attack_margin > 0, f"MILP said robust but PGD flipped sample {i} at eps={eps}"
    assert robust_seen >= 3


def test_ibp_certified_implies_milp_robust(trained_mlp, digits7):
    x, y = digits7
    eps = 0.02
    flags = certify.certified(trained_mlp, x[:12], y[:12], eps)
    assert flags.any()
    for i in flags.nonzero().flatten().tolist():
        assert certify.exact_robustness(trained_mlp, x[i : i + 1], y[i], eps).robust is True


def test_lp_bound_sits_between_ibp_and_the_exact_minimum(trained_mlp, digits7):
    x, y = digits7
    strictly_above_ibp = strictly_below_exact = 0
    for i, eps in itertools.product(range(12), [0.02, 0.05, 0.1]):
        ibp = certify.margin_lower_bounds(trained_mlp, x[i : i + 1], y[i : i + 1], eps)[0, 1 - y[i]].item()
        lp = certify.lp_bound(trained_mlp, x[i : i + 1], y[i], eps)
        exact = certify.exact_robustness(trained_mlp, x[i : i + 1], y[i], eps).min_margin
        assert ibp <= lp + 1e-5, f"pair {i}, eps {eps}: the LP relaxation is tighter than IBP"
        assert lp <= exact + 1e-5, f"pair {i}, eps {eps}: a relaxation never exceeds the exact minimum"
        strictly_above_ibp += lp > ibp + 1e-3
        strictly_below_exact += lp < exact - 1e-3
    assert strictly_above_ibp >= 3 and strictly_below_exact >= 3, "both gaps must show for the test to mean anything"


def test_lp_bound_rejects_a_batch(trained_mlp, digits7):
    x, y = digits7
    with pytest.raises(ValueError, match="exactly one sample"):
        certify.lp_bound(trained_mlp, x[:2], y[0], 0.05)


def test_milp_time_limit_is_reported_not_skipped():
    model = random_mlp(3, (49, 64, 64, 2))
    x = torch.rand(1, 1, 7, 7, generator=torch.Generator().manual_seed(0))
    result = certify.exact_robustness(model, x, 0, 0.5, time_limit=1e-3)
    assert result.hit_time_limit and result.min_margin is None
    low, high = result.margin_bounds
    assert low <= high


# ----------------------------------------------------------------------------- IBP training
def test_ibp_schedule_ramps_eps_up_and_kappa_down():
    term = certify.IBPLoss(eps=0.2, kappa_final=0.5, warmup=0.2, ramp_end=0.6)
    assert term.schedule(0.1) == (0.0, 1.0)
    eps_mid, kappa_mid = term.schedule(0.4)
    assert eps_mid == pytest.approx(0.1) and kappa_mid == pytest.approx(0.75)
    assert term.schedule(0.9) == (pytest.approx(0.2), pytest.approx(0.5))


def test_ibp_loss_is_clean_ce_in_warmup_and_bounds_ce_later(trained_mlp, digits7):
    x, y = digits7[0][:32], digits7[1][:32]
    term = certify.IBPLoss(eps=0.1, kappa_final=0.0, warmup=0.1, ramp_end=0.5)
    logits = trained_mlp(x)
    clean = F.cross_entropy(logits, y)
    assert term(trained_mlp, Batch(x, y, logits, progress=0.05)).item() == pytest.approx(clean.item())
    worst = -certify.margin_lower_bounds(trained_mlp, x, y, 0.1)
    assert term(trained_mlp, Batch(x, y, logits, progress=1.0)).item() == pytest.approx(
        F.cross_entropy(worst, y).item(), rel=1e-6)
    assert F.cross_entropy(worst, y).item() > clean.item()


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises_naming_it(trained_mlp, digits7):
    x, y = digits7[0][:2], digits7[1][:2]
    with pytest.raises(ValueError, match="eps"):
        certify.interval_bounds(trained_mlp, x, -0.1)
    with pytest.raises(ValueError, match="eps"):
        certify.certified_accuracy(trained_mlp, x, y, float("nan"))
    with pytest.raises(ValueError, match="x"):
        certify.interval_bounds(trained_mlp, torch.full_like(x, float("nan")), 0.1)
    with pytest.raises(TypeError, match="BatchNorm1d"):
        certify.interval_bounds(nn.Sequential(nn.Flatten(), nn.Linear(49, 4), nn.BatchNorm1d(4)), x, 0.1)
    with pytest.raises(TypeError, match="Conv2d"):
        certify.exact_robustness(random_cnn(0), torch.rand(1, 1, 12, 12), 0, 0.1)
    with pytest.raises(ValueError, match="x"):
        certify.exact_robustness(trained_mlp, x, 0, 0.1)
    with pytest.raises(ValueError, match="y"):
        certify.exact_robustness(trained_mlp, x[:1], 5, 0.1)
    with pytest.raises(ValueError, match="time_limit"):
        certify.exact_robustness(trained_mlp, x[:1], 0, 0.1, time_limit=0)
    with pytest.raises(ValueError, match="eps"):
        certify.IBPLoss(eps=-1)
