"""advlab.attacks: contracts (box, ball, no side effects), batching, analytic and reference cross-checks.

Property tests run on small random float64 models (so that no gradient sign is decided by
float32 round-off); cross-checks against torchattacks 3.5.1 run on the SmallCNN and real digits.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advlab import attacks, data
from advlab.models import SmallCNN
from tiny_nets import tiny_inputs, tiny_model

torchattacks = pytest.importorskip("torchattacks")

PROPERTY = settings(max_examples=12, deadline=None, derandomize=True)
TOL = 1e-12  # float64 slack for the ball constraint


# ----------------------------------------------------------------------------- helpers
def run_attack(name: str, model, x, y, eps, targeted=False, **extra):
    """Every attack under test, by name, with small fixed settings."""
    if name == "fgsm":
        return attacks.fgsm(model, x, y, eps, targeted=targeted)
    if name == "fgm":
        return attacks.fgm(model, x, y, eps, targeted=targeted)
    norm = "inf" if name.startswith("pgd_inf") else "2"
    random = name.endswith("_random")
    return attacks.pgd(model, x, y, eps, alpha=max(eps, 1e-3) / 2, steps=3, norm=norm, random_start=random,
                       restarts=2 if random else 1, targeted=targeted,
                       generator=torch.Generator().manual_seed(1) if random else None, **extra)


ALL_ATTACKS = ["fgsm", "fgm", "pgd_inf", "pgd_2", "pgd_inf_random", "pgd_2_random"]
DETERMINISTIC = ["fgsm", "fgm", "pgd_inf", "pgd_2"]
seeds = st.integers(0, 10_000)
epsilons = st.floats(0.0, 0.6, allow_nan=False)


def ball_norm(name: str) -> str:
    return "2" if name in ("fgm", "pgd_2", "pgd_2_random") else "inf"


# ----------------------------------------------------------------------------- properties
@PROPERTY
@given(seed=seeds, n=st.integers(1, 4), eps=epsilons, name=st.sampled_from(ALL_ATTACKS), targeted=st.booleans())
def test_result_stays_in_box_and_ball(seed, n, eps, name, targeted):
    model = tiny_model(seed)
    x, y = tiny_inputs(seed, n)
    x_adv = run_attack(name, model, x, y, eps, targeted)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (attacks.perturbation_norms(x_adv, x, ball_norm(name)) <= eps + TOL).all()


@PROPERTY
@given(seed=seeds, eps=epsilons, name=st.sampled_from(ALL_ATTACKS), training=st.booleans())
def test_no_side_effects_on_inputs_or_model(seed, eps, name, training):
    model = tiny_model(seed).train(training)
    x, y = tiny_inputs(seed, 3)
    model[0].weight.requires_grad_(False)  # a frozen layer must stay frozen
    model[5].weight.grad = torch.full_like(model[5].weight, 7.0)  # an existing .grad must stay as it is
    x_before, y_before = x.clone(), y.clone()
    state_before = {k: v.clone() for k, v in model.state_dict().items()}  # parameters and BatchNorm buffers
    flags_before = [p.requires_grad for p in model.parameters()]

    run_attack(name, model, x, y, eps)

    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert not x.requires_grad
    assert all(torch.equal(v, state_before[k]) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags_before
    assert torch.equal(model[5].weight.grad, torch.full_like(model[5].weight, 7.0))
    assert all(p.grad is None for name_, p in model.named_parameters() if name_ != "5.weight")
    assert model.training == training and all(m.training == training for m in model.modules())


@PROPERTY
@given(seed=seeds, n=st.integers(2, 5), eps=epsilons, name=st.sampled_from(DETERMINISTIC), targeted=st.booleans())
def test_attacking_one_sample_equals_its_slice_of_the_batch(seed, n, eps, name, targeted):
    model = tiny_model(seed)
    x, y = tiny_inputs(seed, n)
    batch = run_attack(name, model, x, y, eps, targeted)
    for i in range(n):
        single = run_attack(name, model, x[i : i + 1], y[i : i + 1], eps, targeted)
        torch.testing.assert_close(single, batch[i : i + 1], rtol=0, atol=1e-12)


@PROPERTY
@given(seed=seeds, name=st.sampled_from(ALL_ATTACKS), targeted=st.booleans())
def test_eps_zero_returns_x(seed, name, targeted):
    model = tiny_model(seed)
    x, y = tiny_inputs(seed, 3)
    assert torch.equal(run_attack(name, model, x, y, 0.0, targeted), x)


@PROPERTY
@given(seed=seeds, eps=st.floats(0.01, 0.5), name=st.sampled_from(["fgsm", "fgm", "pgd_inf", "pgd_2"]))
def test_binary_targeted_attack_equals_untargeted_toward_the_other_class(seed, eps, name):
    # With two classes, -CE(t) and CE(1 - t) have gradients pointing the same way.
    model = tiny_model(seed, num_classes=2)
    x, y = tiny_inputs(seed, 3, num_classes=2)
    torch.testing.assert_close(run_attack(name, model, x, 1 - y, eps, targeted=True),
                               run_attack(name, model, x, y, eps), rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- PGD specifics
def test_linf_pgd_is_the_textbook_iterate():
    model = tiny_model(3)
    x, y = tiny_inputs(3, 4)
    eps, alpha = 0.1, 0.04
    x_t = x.clone()
    for _ in range(3):
        x_var = x_t.clone().requires_grad_(True)
        model.eval()
        loss = nn.functional.cross_entropy(model(x_var), y)
        (grad,) = torch.autograd.grad(loss, x_var)
        x_t = (x + (x_t + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    model.train()
    assert torch.equal(attacks.pgd(model, x, y, eps, alpha, steps=3), x_t)


def test_one_linf_pgd_step_of_size_eps_is_fgsm():
    model = tiny_model(4)
    x, y = tiny_inputs(4, 4)
    assert torch.equal(attacks.pgd(model, x, y, 0.2, alpha=0.2, steps=1), attacks.fgsm(model, x, y, 0.2))
    torch.testing.assert_close(attacks.pgd(model, x, y, 0.7, alpha=0.7, steps=1, norm="2"),
                               attacks.fgm(model, x, y, 0.7), rtol=0, atol=1e-12)


def test_restarts_keep_the_highest_loss_per_sample():
    model = tiny_model(5)
    x, y = tiny_inputs(5, 8)

    def losses(x_adv):
        with torch.no_grad():
            return nn.functional.cross_entropy(model.eval()(x_adv), y, reduction="none")

    kwargs = dict(eps=0.3, alpha=0.05, steps=3, random_start=True)
    single = attacks.pgd(model, x, y, **kwargs, restarts=1, generator=torch.Generator().manual_seed(9))
    several = attacks.pgd(model, x, y, **kwargs, restarts=4, generator=torch.Generator().manual_seed(9))
    assert (losses(several) >= losses(single) - 1e-12).all()  # the first restart is `single`
    again = attacks.pgd(model, x, y, **kwargs, restarts=4, generator=torch.Generator().manual_seed(9))
    assert torch.equal(several, again), "same generator seed, same result"



# ----------------------------------------------------------------------------- PGD for evaluation: stop when fooled
@PROPERTY
@given(seed=seeds, n=st.integers(1, 6), eps=epsilons, norm=st.sampled_from(["inf", "2"]), restarts=st.integers(1, 3))
def test_stopping_pgd_fools_every_sample_the_full_attack_fools(seed, n, eps, norm, restarts):
    model = tiny_model(seed)
    x, y = tiny_inputs(seed, n)
    x_before = x.clone()
    kwargs = dict(eps=eps, alpha=max(eps, 1e-3) / 2, steps=3, norm=norm, random_start=True, restarts=restarts)
    full = attacks.pgd(model, x, y, **kwargs, generator=torch.Generator().manual_seed(seed))
    stopping = attacks.pgd(model, x, y, **kwargs, generator=torch.Generator().manual_seed(seed), stop_when_fooled=True)
    assert torch.equal(x, x_before)
    assert stopping.min() >= 0 and stopping.max() <= 1
    assert (attacks.perturbation_norms(stopping, x, norm) <= eps + TOL).all()
    with torch.no_grad():
        fooled_full = model.eval()(full).argmax(dim=1) != y
        fooled_stopping = model(stopping).argmax(dim=1) != y
    assert (fooled_stopping | ~fooled_full).all(), "a sample the full attack fools is fooled by some iterate"


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_stopping_pgd_follows_the_full_trajectory_of_every_sample_it_does_not_fool(norm):
    model = tiny_model(3).eval()
    x, y = tiny_inputs(3, 40)
    kwargs = dict(eps=0.3, alpha=0.05, steps=6, norm=norm, random_start=True)
    full = attacks.pgd(model, x, y, **kwargs, generator=torch.Generator().manual_seed(2))
    stopping = attacks.pgd(model, x, y, **kwargs, generator=torch.Generator().manual_seed(2), stop_when_fooled=True)
    with torch.no_grad():
        standing = model(stopping).argmax(dim=1) == y
    assert 0 < standing.sum() < len(y), "the check needs samples of both kinds"
    torch.testing.assert_close(stopping[standing], full[standing], rtol=0, atol=1e-12)
    assert not torch.equal(stopping[~standing], full[~standing]), "fooled samples stopped early"


@pytest.mark.parametrize(
    ("change", "error"),
    [(dict(stop_when_fooled="yes"), TypeError), (dict(stop_when_fooled=True, targeted=True), ValueError),
     (dict(stop_when_fooled=True, callback=print), ValueError)],
)
def test_stopping_pgd_rejects_what_it_cannot_do(change, error):
    model = tiny_model(0)
    x, y = tiny_inputs(0, 2)
    with pytest.raises(error, match="stop_when_fooled"):
        attacks.pgd(model, x, y, eps=0.1, alpha=0.05, steps=2, **change)

def test_callback_sees_every_iterate_and_its_logits():
    model = tiny_model(6)
    x, y = tiny_inputs(6, 3)
    seen = []
    result = attacks.pgd(model, x, y, 0.2, 0.05, steps=4, callback=seen.append)
    assert [s.step for s in seen] == [0, 1, 2, 3, 4] and all(s.restart == 0 for s in seen)
    assert torch.equal(seen[0].x_adv, x) and torch.equal(seen[-1].x_adv, result)
    with torch.no_grad():
        torch.testing.assert_close(seen[-1].logits, model.eval()(result))


# ----------------------------------------------------------------------------- analytic: linear model
class Logistic(nn.Module):
    """Binary logistic regression on flattened images, as two logits [0, w.x + b]."""

    def __init__(self, w: torch.Tensor, b: float = 0.1):
        super().__init__()
        self.w = nn.Parameter(w)
        self.b = nn.Parameter(torch.tensor(b, dtype=w.dtype))

    def forward(self, x):
        z = x.flatten(1) @ self.w + self.b
        return torch.stack([torch.zeros_like(z), z], dim=1)


@pytest.mark.parametrize("label", [0, 1])
def test_on_a_linear_model_fgsm_is_eps_sign_w_and_fgm_is_eps_w_over_norm(label):
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(28 * 28, generator=generator, dtype=torch.float64)
    model = Logistic(w)
    eps = 0.05
    x = 0.1 + 0.8 * torch.rand(4, 1, 28, 28, generator=generator, dtype=torch.float64)  # far from the box's faces
    y = torch.full((4,), label)
    direction = 1.0 if label == 0 else -1.0  # the loss of label 0 grows with w.x, that of label 1 falls
    expected_fgsm = direction * eps * w.sign().view(1, 1, 28, 28)
    expected_fgm = direction * eps * (w / w.norm()).view(1, 1, 28, 28)
    torch.testing.assert_close(attacks.fgsm(model, x, y, eps) - x, expected_fgsm.expand_as(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(attacks.fgm(model, x, y, eps) - x, expected_fgm.expand_as(x), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- reference: torchattacks 3.5.1
@pytest.fixture(scope="module")
def cnn_and_digits():
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).eval()
    x, y, _ = data.digit0_mixture("test", n=48, seed=1, source="bundled")
    return model, x, y


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2])
def test_fgsm_equals_torchattacks(cnn_and_digits, eps):
    model, x, y = cnn_and_digits
    torch.testing.assert_close(attacks.fgsm(model, x, y, eps), torchattacks.FGSM(model, eps=eps)(x, y), rtol=0, atol=1e-6)


def test_targeted_fgsm_equals_torchattacks(cnn_and_digits):
    model, x, y = cnn_and_digits
    reference = torchattacks.FGSM(model, eps=0.1)
    reference.set_mode_targeted_by_label(quiet=True)
    target = 1 - y
    torch.testing.assert_close(attacks.fgsm(model, x, target, 0.1, targeted=True), reference(x, target),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize(("eps", "alpha", "steps"), [(0.1, 0.01, 10), (0.3, 0.1, 5)])
def test_linf_pgd_equals_torchattacks(cnn_and_digits, eps, alpha, steps):
    model, x, y = cnn_and_digits
    ours = attacks.pgd(model, x, y, eps, alpha, steps)
    reference = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_fgm_equals_one_torchattacks_l2_step(cnn_and_digits, eps):
    # torchattacks divides by ||g|| + 1e-10, we by max(||g||, 1e-12) (g of the mean loss in both):
    # the directions agree, the lengths differ by a factor 1 / (1 + 1e-10 / ||g||).
    model, x, y = cnn_and_digits
    ours = attacks.fgm(model, x, y, eps)
    reference = torchattacks.PGDL2(model, eps=eps, alpha=eps, steps=1, random_start=False)(x, y)
    x_var = x.clone().requires_grad_(True)
    (mean_grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x_var), y), x_var)
    guard_effect = eps * 1e-10 / mean_grad.flatten(1).norm(dim=1).min().item()
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6 + guard_effect)
    assert (attacks.perturbation_norms(ours, x, "2") <= eps + 1e-5).all()


def test_a_model_in_train_mode_is_returned_in_train_mode(cnn_and_digits):
    model, x, y = cnn_and_digits
    model.train()
    try:
        attacks.pgd(model, x, y, 0.1, 0.05, 2)
        assert model.training
    finally:
        model.eval()


# ----------------------------------------------------------------------------- use inside training and no_grad
def test_attack_inside_a_training_step_leaves_the_step_intact():
    model = tiny_model(7).train()
    x, y = tiny_inputs(7, 4)
    clean_loss = nn.functional.cross_entropy(model(x), y)
    x_adv = attacks.pgd(model, x, y, 0.1, 0.05, steps=2)
    assert all(p.grad is None for p in model.parameters()) and model.training
    total = clean_loss + nn.functional.cross_entropy(model(x_adv), y)
    total.backward()  # the clean graph built before the attack still backpropagates
    assert all(p.grad is not None for p in model.parameters())
    assert not x_adv.requires_grad


def test_attacks_work_under_no_grad():
    model = tiny_model(8)
    x, y = tiny_inputs(8, 2)
    expected = attacks.fgsm(model, x, y, 0.1)
    with torch.no_grad():
        assert torch.equal(attacks.fgsm(model, x, y, 0.1), expected)


def test_a_plain_function_can_be_attacked():
    model = tiny_model(9).eval()
    x, y = tiny_inputs(9, 2)
    assert torch.equal(attacks.fgsm(lambda inputs: model(inputs), x, y, 0.1), attacks.fgsm(model, x, y, 0.1))


# ----------------------------------------------------------------------------- bad input
GOOD = dict(eps=0.1, alpha=0.05, steps=2, norm="inf", random_start=False, restarts=1)


@pytest.mark.parametrize(
    ("change", "error", "argument"),
    [
        (dict(eps=-0.1), ValueError, "eps"),
        (dict(eps=math.nan), ValueError, "eps"),
        (dict(eps=math.inf), ValueError, "eps"),
        (dict(eps="0.1"), TypeError, "eps"),
        (dict(eps=None), TypeError, "eps"),
        (dict(alpha=0.0), ValueError, "alpha"),
        (dict(alpha=-0.01), ValueError, "alpha"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.0), TypeError, "steps"),
        (dict(norm="l3"), ValueError, "norm"),
        (dict(norm=1), ValueError, "norm"),
        (dict(restarts=0), ValueError, "restarts"),
        (dict(restarts=3), ValueError, "restarts"),  # without a random start
        (dict(random_start="yes"), TypeError, "random_start"),
    ],
)
def test_pgd_rejects_bad_arguments_naming_them(change, error, argument):
    model = tiny_model(0)
    x, y = tiny_inputs(0, 2)
    with pytest.raises(error, match=argument):
        attacks.pgd(model, x, y, **{**GOOD, **change})


@pytest.mark.parametrize("attack", [attacks.fgsm, attacks.fgm, lambda m, x, y, eps: attacks.pgd(m, x, y, eps, 0.05, 2)])
@pytest.mark.parametrize(
    ("make_inputs", "error", "argument"),
    [
        (lambda x, y: (x * 2, y), ValueError, "x"),  # outside [0, 1]
        (lambda x, y: (x - 0.5, y), ValueError, "x"),
        (lambda x, y: (x.clone().fill_(math.nan), y), ValueError, "x"),
        (lambda x, y: ((x * 255).long(), y), TypeError, "x"),
        (lambda x, y: (x.numpy(), y), TypeError, "x"),
        (lambda x, y: (x, y[:1]), ValueError, "y"),  # mismatched batch sizes
        (lambda x, y: (x, y.float()), TypeError, "y"),
        (lambda x, y: (x, y + 5), ValueError, "y"),  # no such class
        (lambda x, y: (x, -y - 1), ValueError, "y"),
        (lambda x, y: (x[0, 0, 0], y[:6]), ValueError, "x"),  # not a batch
    ],
)
def test_attacks_reject_bad_inputs_naming_them(attack, make_inputs, error, argument):
    model = tiny_model(0)
    x, y = make_inputs(*tiny_inputs(0, 2))
    with pytest.raises(error, match=rf"\b{argument}\b"):
        attack(model, x, y, 0.1)


def test_attacks_reject_a_non_model():
    x, y = tiny_inputs(0, 2)
    with pytest.raises(TypeError, match="model"):
        attacks.fgsm("resnet", x, y, 0.1)


def test_long_linf_pgd_on_a_larger_batch_equals_torchattacks_bit_for_bit():
    # Regression: with a summed loss, round-off flipped the sign of near-zero gradient entries
    # and 10 steps drifted away from torchattacks' (mean-loss) iterates on this very batch.
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).eval()
    x, y, _ = data.digit0_mixture("test", n=300, seed=0, source="bundled")
    ours = attacks.pgd(model, x, y, 0.1, 0.01, 10)
    reference = torchattacks.PGD(model, eps=0.1, alpha=0.01, steps=10, random_start=False)(x, y)
    assert torch.equal(ours, reference)
