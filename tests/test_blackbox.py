"""advlab.blackbox: MI-FGSM (Dong et al. 2018) and HopSkipJump (Chen et al. 2020), cross-checked against ART.

Contracts on tiny float64 nets; behaviour and the cross-checks on a SmallCNN trained for two
epochs on 1000 real digit-0 mixture pairs. The reference is adversarial-robustness-toolbox
(ART), test-only and pinned (environment.yml); its tests skip without it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from advlab import attacks, blackbox, data, train
from advlab.models import SmallCNN
from tiny_nets import tiny_inputs, tiny_model

PROPERTY = settings(max_examples=10, deadline=None, derandomize=True)
TOL = 1e-12


def run_hsj(model, x, y, max_queries, seed=0, **extra):
    return blackbox.hop_skip_jump(model, x, y, max_queries, generator=torch.Generator().manual_seed(seed), **extra)


def predicted(model, x):
    with torch.no_grad():
        return model.eval()(x).argmax(1)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model, state_before, training, grad_of_5=None):
    assert all(torch.equal(v, state_before[k]) for k, v in model.state_dict().items())
    if grad_of_5 is not None:
        assert torch.equal(model[5].weight.grad, grad_of_5)
    assert all(p.grad is None for name, p in model.named_parameters() if name != "5.weight")
    assert all(m.training == training for m in model.modules())


class Counting(nn.Module):
    """Counts the images it classifies. ART 1.20.1 under numpy 2 sends float64 batches from its binary
    search (a float64 blend weight promotes them), so for ART it casts to the model's float32."""

    def __init__(self, model, cast=None):
        super().__init__()
        self.model, self.cast, self.count = model, cast, 0

    def forward(self, x):
        self.count += len(x)
        return self.model(x if self.cast is None else x.to(self.cast))


# ----------------------------------------------------------------------------- MI-FGSM: contracts
@PROPERTY
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), eps=st.floats(0.0, 0.6, allow_nan=False),
       decay=st.floats(0.0, 2.0), ensemble=st.booleans())
def test_mifgsm_stays_in_box_and_ball(seed, n, eps, decay, ensemble):
    model = [tiny_model(seed), tiny_model(seed + 1)] if ensemble else tiny_model(seed)
    x, y = tiny_inputs(seed, n)
    x_adv = blackbox.mifgsm(model, x, y, eps, steps=4, decay=decay)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (attacks.perturbation_norms(x_adv, x, "inf") <= eps + TOL).all()


@PROPERTY
@given(seed=st.integers(0, 10_000), modes=st.tuples(st.booleans(), st.booleans()))
def test_mifgsm_leaves_inputs_and_every_model_of_an_ensemble_alone(seed, modes):
    models = [tiny_model(seed).train(modes[0]), tiny_model(seed + 1).train(modes[1])]
    models[0][5].weight.grad = torch.full_like(models[0][5].weight, 7.0)
    states = [snapshot(m) for m in models]
    x, y = tiny_inputs(seed, 3)
    x_before, y_before = x.clone(), y.clone()
    blackbox.mifgsm(models, x, y, 0.2, steps=3)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert_untouched(models[0], states[0], modes[0], torch.full_like(models[0][5].weight, 7.0))
    assert_untouched(models[1], states[1], modes[1])


def test_mifgsm_without_momentum_is_ifgsm_that_is_pgd():
    model = tiny_model(3)
    x, y = tiny_inputs(3, 4)
    ours = blackbox.mifgsm(model, x, y, 0.3, steps=5, decay=0.0, alpha=0.1)
    assert torch.equal(ours, attacks.pgd(model, x, y, 0.3, alpha=0.1, steps=5))


def test_an_ensemble_of_one_model_twice_is_that_model():
    model = tiny_model(4)
    x, y = tiny_inputs(4, 4)
    alone = blackbox.mifgsm(model, x, y, 0.3, steps=5)
    assert torch.equal(blackbox.mifgsm([model, model], x, y, 0.3, steps=5), alone)
    other = blackbox.mifgsm([model, tiny_model(5)], x, y, 0.3, steps=5)
    assert not torch.equal(other, alone), "a second surrogate changes the averaged logits"


def test_mifgsm_eps_zero_returns_x():
    model = tiny_model(0)
    x, y = tiny_inputs(0, 3)
    assert torch.equal(blackbox.mifgsm(model, x, y, 0.0, steps=3), x)


@pytest.mark.parametrize(
    ("change", "error", "argument"),
    [
        (dict(eps=-0.1), ValueError, "eps"), (dict(eps=math.nan), ValueError, "eps"),
        (dict(steps=0), ValueError, "steps"), (dict(steps=2.0), TypeError, "steps"),
        (dict(decay=-1.0), ValueError, "decay"), (dict(decay=math.inf), ValueError, "decay"),
        (dict(alpha=0.0), ValueError, "alpha"), (dict(model=[]), ValueError, "model"),
        (dict(model=["not a model"]), TypeError, "model"),
        (dict(x=torch.full((2, 1, 6, 6), 2.0, dtype=torch.float64)), ValueError, r"\bx\b"),
        (dict(y=torch.zeros(3, dtype=torch.long)), ValueError, r"\by\b"),
    ],
)
def test_mifgsm_rejects_bad_arguments_naming_them(change, error, argument):
    x, y = tiny_inputs(0, 2)
    arguments = dict(model=tiny_model(0), x=x, y=y, eps=0.1, steps=2) | change
    with pytest.raises(error, match=argument):
        blackbox.mifgsm(**arguments)


# ----------------------------------------------------------------------------- HopSkipJump: contracts
@PROPERTY
@given(seed=st.integers(0, 10_000), n=st.integers(1, 4), budget=st.integers(1, 300), training=st.booleans())
def test_hsj_every_kept_image_fools_stays_in_the_box_and_in_budget(seed, n, budget, training):
    model = tiny_model(seed).train(training)
    model[5].weight.grad = torch.full_like(model[5].weight, 7.0)
    state = snapshot(model)
    x, y = tiny_inputs(seed, n)
    x_before, y_before = x.clone(), y.clone()
    result = run_hsj(model, x, y, budget, seed=seed, init_evals=20)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert_untouched(model, state, training, torch.full_like(model[5].weight, 7.0))
    check_result(model.eval(), x, y, result, budget)


def check_result(model, x, y, result, budget):
    """What every HopSkipJump result promises."""
    assert result.x_adv.shape == x.shape and result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert (result.queries >= 1).all() and (result.queries <= budget).all()
    found = torch.isfinite(result.distances)
    assert (predicted(model, result.x_adv)[found] != y[found]).all(), "every kept image is adversarial"
    assert torch.equal(result.x_adv[~found], x[~found])
    assert torch.allclose(result.distances[found], attacks.perturbation_norms(result.x_adv, x, "2")[found].double(), atol=1e-6)
    for record, spent in zip(result.history, result.queries.tolist()):
        queries = [q for q, _ in record]
        assert queries == sorted(queries) and all(q <= spent for q in queries)


def test_hsj_counts_every_image_it_classifies():
    model = Counting(tiny_model(1)).eval()
    x, _ = tiny_inputs(1, 4)
    y = predicted(model, x)
    model.count = 0
    result = run_hsj(model, x, y, 250, init_evals=20)
    assert model.count == result.queries.sum().item()
    assert (result.queries > 200).all(), "the budget is used (it is not stopped by an iteration count)"


def test_hsj_already_misclassified_costs_one_query_and_unfoolable_keeps_x():
    model = tiny_model(2).eval()
    x, y = tiny_inputs(2, 4)
    wrong = (predicted(model, x) + 1) % 3
    result = run_hsj(model, x, wrong, 100)
    assert torch.equal(result.x_adv, x) and (result.distances == 0).all() and (result.queries == 1).all()

    constant = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).double()
    with torch.no_grad():
        constant[1].weight.zero_()
        constant[1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    zeros = torch.zeros(4, dtype=torch.long)
    result = run_hsj(constant, x, zeros, 100, init_tries=30)
    assert torch.equal(result.x_adv, x) and torch.isinf(result.distances).all()
    assert (result.queries == 1 + 30).all(), "one look at x and 30 noise draws"


@pytest.mark.parametrize(
    ("change", "error", "argument"),
    [
        (dict(max_queries=0), ValueError, "max_queries"), (dict(max_queries=1.5), TypeError, "max_queries"),
        (dict(init_evals=0), ValueError, "init_evals"), (dict(max_evals=10), ValueError, "max_evals"),
        (dict(gamma=0.0), ValueError, "gamma"), (dict(gamma=math.nan), ValueError, "gamma"),
        (dict(init_tries=0), ValueError, "init_tries"), (dict(generator="g"), TypeError, "generator"),
        (dict(x=torch.full((2, 1, 6, 6), -0.5, dtype=torch.float64)), ValueError, r"\bx\b"),
        (dict(y=torch.zeros(2)), TypeError, r"\by\b"),
    ],
)
def test_hsj_rejects_bad_arguments_naming_them(change, error, argument):
    x, y = tiny_inputs(0, 2)
    arguments = dict(model=tiny_model(0), x=x, y=y, max_queries=50, init_evals=20) | change
    with pytest.raises(error, match=argument):
        blackbox.hop_skip_jump(**arguments)


# ----------------------------------------------------------------------------- on a trained model
@pytest.fixture(scope="module")
def trained_cnn_blackbox():
    """A SmallCNN after 2 epochs on 1000 real mixture pairs, and 150 test pairs."""
    x, y, _ = data.digit0_mixture("train", n=1000, seed=0, source="bundled")
    x_test, y_test, _ = data.digit0_mixture("test", n=150, seed=1, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    train.fit(model, (x, y), epochs=2, live=False, progress=False)
    return model.eval(), x_test, y_test


@pytest.fixture(scope="module")
def correct_digits(trained_cnn_blackbox):
    """The first 12 test pairs the model classifies correctly (the ones worth attacking)."""
    model, x, y = trained_cnn_blackbox
    keep = predicted(model, x) == y
    return model, x[keep][:12], y[keep][:12]


def test_hsj_distance_shrinks_with_queries_on_real_digits(correct_digits):
    model, x, y = correct_digits
    result = run_hsj(model, x, y, 1000)
    check_result(model, x, y, result, 1000)
    assert torch.isfinite(result.distances).all(), "uniform noise fools a two-class CNN quickly"
    curve = result.distance_at([50, 250, 500, 1000]).median(dim=0).values
    assert (curve.diff() < 0).all(), curve  # measured: about 14.6, 10.8, 6.0, 4.0
    assert curve[-1] < 0.5 * curve[0], curve


def test_hsj_same_seed_same_result_another_seed_another_search(correct_digits):
    model, x, y = correct_digits
    x, y = x[:4], y[:4]
    first = run_hsj(model, x, y, 300, seed=1)
    again = run_hsj(model, x, y, 300, seed=1)
    assert torch.isfinite(first.distances).all(), "the comparison needs searches that ran"
    assert torch.equal(first.x_adv, again.x_adv) and first.history == again.history
    assert not torch.equal(first.x_adv, run_hsj(model, x, y, 300, seed=2).x_adv)


def test_targeted_mifgsm_towards_the_other_of_two_classes_is_the_untargeted_attack(trained_cnn_blackbox):
    # With two classes, grad CE(z, 1 - y) = -(p_y / p_{1-y}) grad CE(z, y) per sample: after the L1
    # normalisation the two attacks take the same steps. Measured: identical images; we allow 2 of 100
    # to differ (a sign flip where a gradient entry rounds to zero).
    model, x, y = trained_cnn_blackbox
    x, y = x[:100], y[:100]
    untargeted = blackbox.mifgsm(model, x, y, 0.15, 10)
    targeted = blackbox.mifgsm(model, x, 1 - y, 0.15, 10, targeted=True)
    assert ((untargeted - targeted).flatten(1).abs().amax(1) > 1e-6).sum() <= 2
    assert (predicted(model, targeted) == 1 - y).float().mean() > 0.3, "the attack must have an effect"


def test_mifgsm_matches_art_momentum_iterative_method(trained_cnn_blackbox):
    # Same model, 100 real pairs, same eps, step and decay: ART normalises the gradient by its
    # per-sample L1 norm as we do, and its clip-then-project order gives the same L-inf iterate.
    # Measured: bit-identical images; we allow 1e-6 (any sign flip would move a pixel by alpha).
    art_evasion = pytest.importorskip("art.attacks.evasion")
    from art.estimators.classification import PyTorchClassifier

    model, x, y = trained_cnn_blackbox
    x, y = x[:100], y[:100]
    classifier = PyTorchClassifier(copy.deepcopy(model), loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28),
                                   nb_classes=2, clip_values=(0.0, 1.0))
    for eps, steps, decay in [(0.1, 10, 1.0), (0.2, 5, 0.5)]:
        theirs = art_evasion.MomentumIterativeMethod(classifier, norm=np.inf, eps=eps, eps_step=eps / steps, decay=decay,
                                                     max_iter=steps, batch_size=32, verbose=False)
        theirs = torch.from_numpy(theirs.generate(x.numpy(), y=y.numpy()))
        ours = blackbox.mifgsm(model, x, y, eps, steps, decay)
        assert (ours - theirs).abs().max() <= 1e-6
        assert (predicted(model, ours) != y).float().mean() > 0.3, "the comparison needs an attack with an effect"


def test_hsj_median_distance_matches_art_at_equal_queries(correct_digits):
    # ART's HopSkipJump (norm 2, 4 iterations, 100 initial evaluations) on the same 12 digits,
    # started from misclassified uniform noise that we draw (ART's own start is unseeded); the
    # draws count as its queries, so does everything its classifier sees but its final success
    # check. Ours: the distance each image had reached within ART's query count for it.
    # Measured over six seeds: ours / ART = 0.79 to 0.88 (about 4.8 against 6.1), so we ask for a
    # ratio in [0.7, 1.0]. The gap has a known cause: ART returns its last step, not projected back
    # to the boundary. Projected (by a bisection we do not count), ART's median agrees with ours
    # after the same four iterations: measured 0.96 to 1.04 over the six seeds; we ask for [0.9, 1.1].
    art_evasion = pytest.importorskip("art.attacks.evasion")
    from art.estimators.classification import PyTorchClassifier

    model, x, y = correct_digits
    counted = Counting(copy.deepcopy(model), cast=torch.float32).eval()
    classifier = PyTorchClassifier(counted, loss=nn.CrossEntropyLoss(), input_shape=(1, 28, 28), nb_classes=2,
                                   clip_values=(0.0, 1.0))
    np.random.seed(0)
    noise_generator = torch.Generator().manual_seed(123)
    theirs, their_queries = [], []
    for i in range(len(x)):
        draws, noise = 0, None
        while noise is None or predicted(model, noise).item() == y[i].item():
            noise, draws = torch.rand((1, 1, 28, 28), generator=noise_generator), draws + 1
        counted.count = 0
        attack = art_evasion.HopSkipJump(classifier, norm=2, max_iter=4, max_eval=10_000, init_eval=100, verbose=False)
        theirs.append(torch.from_numpy(attack.generate(x[i:i + 1].numpy(), y=y[i:i + 1].numpy(), x_adv_init=noise.numpy())))
        their_queries.append(counted.count - 1 + draws)
    theirs = torch.cat(theirs)
    assert (predicted(model, theirs) != y).all()
    their_median = attacks.perturbation_norms(theirs, x, "2").median().item()

    ours = run_hsj(model, x, y, max(their_queries))
    our_median = ours.distance_at(their_queries).diagonal().median().item()
    assert 0.7 <= our_median / their_median <= 1.0, (our_median, their_median, their_queries)
    their_projected = attacks.perturbation_norms(to_the_boundary(model, x, y, theirs), x, "2").median().item()
    assert 0.9 <= ours.distances.median().item() / their_projected <= 1.1, (ours.distances, their_projected)


def to_the_boundary(model, x, y, adv, steps=30):
    """Bisect each segment x -> adv to its adversarial end nearest x (outside any query budget)."""
    low, high = torch.zeros(len(x)), torch.ones(len(x))
    for _ in range(steps):
        mid = (low + high) / 2
        fooled = predicted(model, x + mid.view(-1, 1, 1, 1) * (adv - x)) != y
        low, high = torch.where(fooled, low, mid), torch.where(fooled, mid, high)
    return x + high.view(-1, 1, 1, 1) * (adv - x)


# ----------------------------------------------------------------------------- HopSkipJump: a start the attacker holds
def brightness_model():
    """Two classes by total brightness: logit_1 = sum(x) - 0.7 d, logit_0 = 0 (float64, 6x6 images).

    Uniform noise (mean 0.5) is class 0, four standard deviations from the boundary, so dark
    class-0 images never get a start from noise; the nearest class-1 image is x moved by the same
    amount in every pixel, at L2 distance (0.7 d - sum(x)) / sqrt(d) (inside the box here)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.zeros(36), torch.ones(36)]).double())
        model[1].bias.copy_(torch.tensor([0.0, -0.7 * 36], dtype=torch.float64))
    return model.eval()


def dark_images(n=3):
    x = 0.1 + 0.2 * torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x, torch.zeros(n, dtype=torch.long)


def test_hsj_x_init_starts_where_noise_never_fools_and_reaches_the_true_minimum():
    model = Counting(brightness_model()).eval()
    x, y = dark_images()
    no_start = run_hsj(model, x, y, 300, init_tries=30)
    assert torch.isinf(no_start.distances).all() and (no_start.queries == 1 + 30).all()

    model.count = 0
    result = run_hsj(model, x, y, 300, init_evals=20, x_init=torch.full_like(x, 0.9))
    assert model.count == result.queries.sum().item(), "the look at x_init is a query"
    check_result(model, x, y, result, 300)
    exact = (0.7 * 36 - x.flatten(1).sum(1)) / 6
    assert (result.distances >= exact - 1e-9).all(), "no search can beat the true minimum distance"
    assert (result.distances <= 1.1 * exact).all(), (result.distances, exact)
    search = math.ceil(math.log2(36**1.5))  # a binary search to the precision theta = 1 / d^1.5
    first = [record[0] for record in result.history]
    assert all(q == 2 + search and d <= (0.9 - x[i]).norm().item() for i, (q, d) in enumerate(first)), \
        "x, then x_init, then the binary search: the start is on the segment x -> x_init"


def test_hsj_x_init_that_does_not_fool_costs_one_query_and_changes_nothing_else(correct_digits):
    model, x, y = correct_digits
    x, y = x[:4], y[:4]
    plain = run_hsj(model, x, y, 300, seed=3)
    with_init = run_hsj(model, x, y, 301, seed=3, x_init=x.clone())  # x is never adversarial: noise as before
    assert torch.isfinite(plain.distances).all(), "the comparison needs searches that ran"
    assert torch.equal(with_init.x_adv, plain.x_adv) and torch.equal(with_init.queries, plain.queries + 1)
    assert with_init.history == [[(q + 1, d) for q, d in record] for record in plain.history]


@pytest.mark.parametrize(("x_init", "error"), [(torch.zeros(3, 1, 6, 6, dtype=torch.float64), ValueError),
                                               (torch.full((2, 1, 6, 6), 1.5, dtype=torch.float64), ValueError),
                                               (torch.zeros(2, 1, 6, 6, dtype=torch.long), TypeError)])
def test_hsj_rejects_a_bad_x_init_naming_it(x_init, error):
    x, y = tiny_inputs(0, 2)
    with pytest.raises(error, match="x_init"):
        blackbox.hop_skip_jump(tiny_model(0), x, y, 50, init_evals=20, x_init=x_init)
