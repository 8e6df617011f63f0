"""advlab.poisoning: BadNets and clean-label poisons, spectral signatures, activation clustering.

Contracts on real digits (the bundled MNIST subset); behaviour on a SmallCNN trained for three
epochs on 500 BadNets-poisoned digits. The reference is adversarial-robustness-toolbox (ART),
test-only and pinned (environment.yml); its tests skip without it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advlab import attacks, data, poisoning, train
from advlab.models import SmallCNN

TARGET = 0
# ART's add_pattern_bd(distance=2): 4 pixels of the 3x3 box whose bottom-right pixel is (H-2, W-2).
ART_MASK = torch.tensor([[False, False, True], [False, True, False], [True, False, True]])


@pytest.fixture(scope="module")
def digits():
    return data.mnist10("train", n=200, seed=0, source="bundled")


@pytest.fixture(scope="module")
def backdoored():
    """A SmallCNN trained 3 epochs on 500 real digits, 10% of them BadNets poisons (target 0)."""
    x, y = data.mnist10("train", n=500, seed=0, source="bundled")
    x_test, y_test = data.mnist10("test", n=300, seed=1, source="bundled")
    x_p, y_p, index = poisoning.poison_dataset(x, y, 0.1, TARGET, seed=0, source_filter="not-target")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10)
    train.fit(model, (x_p, y_p), epochs=3, lr=3e-3, live=False, progress=False)
    with torch.no_grad():
        features = model.eval().features(x_p)
    return model, x_p, y_p, index, features, x_test, y_test


def art():
    return pytest.importorskip("art")


# ----------------------------------------------------------------------------- stamping
@pytest.mark.parametrize("position", poisoning.POSITIONS)
def test_stamp_sets_the_trigger_pixels_and_leaves_the_rest_and_x_alone(digits, position):
    x = digits[0][:20]
    before = x.clone()
    out = poisoning.stamp_trigger(x, poisoning.DEFAULT_TRIGGER, position, margin=2)
    assert torch.equal(x, before)
    rows, cols = poisoning.trigger_box(poisoning.DEFAULT_TRIGGER, position, 2)
    assert torch.equal(out[:, 0, rows, cols], poisoning.DEFAULT_TRIGGER.expand(20, 3, 3))
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[rows, cols] = True
    assert torch.equal(out[:, :, ~inside], x[:, :, ~inside])
    corner = {"top-left": (2, 2), "top-right": (2, 23), "bottom-left": (23, 2), "bottom-right": (23, 23)}[position]
    assert (rows.start, cols.start) == corner


def test_a_mask_writes_only_its_pixels(digits):
    x = digits[0][:10]
    out = poisoning.stamp_trigger(x, torch.full((3, 3), 0.5), "bottom-right", mask=ART_MASK)
    box = out[:, 0, 24:27, 24:27]
    assert torch.equal(box[:, ART_MASK], torch.full((10, 4), 0.5))
    assert torch.equal(box[:, ~ART_MASK], x[:, 0, 24:27, 24:27][:, ~ART_MASK])


def test_stamping_matches_arts_add_pattern_bd_on_real_digits(digits):
    art()
    from art.attacks.poisoning import PoisoningAttackBackdoor
    from art.attacks.poisoning.perturbations import add_pattern_bd

    x, y = digits
    backdoor = PoisoningAttackBackdoor(lambda batch: add_pattern_bd(batch, distance=2, channels_first=True))
    theirs, _ = backdoor.poison(x.numpy(), y=np.eye(10)[np.zeros(len(x), dtype=int)])
    ours = poisoning.stamp_trigger(x, torch.ones(3, 3), "bottom-right", margin=1, mask=ART_MASK)
    assert np.array_equal(ours.numpy(), theirs)  # bit-identical
    # Our default trigger is ART's 4 pixels plus the box's top-left corner, written as a solid 3x3
    # patch. Exact difference: it writes 1 on that corner and 0 on the box's 4 other pixels, where
    # ART keeps the image; everywhere else the two agree.
    default = poisoning.stamp_trigger(x)
    differs = torch.from_numpy(theirs) != default
    assert differs[:, 0, 24:27, 24:27][:, ART_MASK & poisoning.DEFAULT_TRIGGER.bool()].sum() == 0
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[24:27, 24:27] = False
    assert not differs[:, :, outside].any()


# ----------------------------------------------------------------------------- BadNets
def test_poison_dataset_poisons_exactly_round_rate_n_items(digits):
    x, y = digits
    x_before, y_before = x.clone(), y.clone()
    x_p, y_p, index = poisoning.poison_dataset(x, y, 0.123, 3, seed=5)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)
    assert len(index) == round(0.123 * 200) == len(torch.unique(index))
    assert torch.equal(index, index.sort().values)
    assert (y_p[index] == 3).all()
    clean = torch.ones(200, dtype=torch.bool)
    clean[index] = False
    assert torch.equal(x_p[clean], x[clean]) and torch.equal(y_p[clean], y[clean])
    assert torch.equal(x_p[index], poisoning.stamp_trigger(x[index]))


def test_poison_dataset_is_deterministic_by_seed(digits):
    x, y = digits
    first = poisoning.poison_dataset(x, y, 0.2, 3, seed=1)
    again = poisoning.poison_dataset(x, y, 0.2, 3, seed=1)
    other = poisoning.poison_dataset(x, y, 0.2, 3, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[2], other[2])


def test_not_target_filter_never_picks_target_items(digits):
    x, y = digits
    _, _, index = poisoning.poison_dataset(x, y, 0.5, 1, seed=0, source_filter="not-target")
    assert len(index) == 100 and (y[index] != 1).all()
    with pytest.raises(ValueError, match="rate"):
        poisoning.poison_dataset(x, y, 0.95, 1, seed=0, source_filter="not-target")


@pytest.mark.parametrize(
    ("change", "error", "argument"),
    [
        (dict(rate=-0.1), ValueError, "rate"), (dict(rate=1.5), ValueError, "rate"), (dict(rate=math.nan), ValueError, "rate"),
        (dict(target_label=-1), ValueError, "target_label"), (dict(target_label=1.0), TypeError, "target_label"),
        (dict(seed=-1), ValueError, "seed"), (dict(source_filter="others"), ValueError, "source_filter"),
        (dict(position="centre"), ValueError, "position"), (dict(margin=26), ValueError, "margin"),
        (dict(trigger=torch.ones(3, 3, dtype=torch.long)), TypeError, "trigger"),
        (dict(trigger=torch.full((3, 3), 2.0)), ValueError, "trigger"),
        (dict(trigger=torch.ones(30, 3)), ValueError, "trigger"),
        (dict(x=torch.zeros(4, 1, 28, 28) + 2), ValueError, r"\bx\b"),
        (dict(y=torch.zeros(3, dtype=torch.long)), ValueError, r"\by\b"),
    ],
)
def test_poison_dataset_rejects_bad_arguments_naming_them(digits, change, error, argument):
    x, y = digits
    arguments = dict(x=x[:4], y=y[:4], rate=0.5, target_label=0, seed=0) | change
    with pytest.raises(error, match=argument):
        poisoning.poison_dataset(**arguments)


# ----------------------------------------------------------------------------- the backdoor works
def test_the_trigger_sends_other_digits_to_the_target(backdoored):
    model, *_, x_test, y_test = backdoored
    with torch.no_grad():
        without = float((model(x_test[y_test != TARGET]).argmax(1) == TARGET).float().mean())
    asr = poisoning.attack_success_rate(model, x_test, y_test, TARGET)
    assert asr > 0.4 and asr > without + 0.3, (asr, without)  # measured: 0.66 against 0.16


def test_attack_success_rate_needs_a_non_target_item(backdoored, digits):
    model = backdoored[0]
    x, y = digits
    with pytest.raises(ValueError, match="target_label"):
        poisoning.attack_success_rate(model, x[y == 2], y[y == 2], 2)


# ----------------------------------------------------------------------------- clean-label
def test_clean_label_poisons_are_stamped_pgd_of_target_items(backdoored, digits):
    model = backdoored[0]
    x, y = digits
    x_before, y_before = x.clone(), y.clone()
    x_p, y_p, index = poisoning.clean_label_poisons(model, x, y, 2, 0.1, 3, rate=0.05, seed=0)
    assert torch.equal(x, x_before) and torch.equal(y, y_before) and torch.equal(y_p, y)
    assert len(index) == 10 and (y[index] == 2).all()
    expected = poisoning.stamp_trigger(attacks.pgd(model, x[index], y[index], 0.1, alpha=2.5 * 0.1 / 3, steps=3))
    assert torch.equal(x_p[index], expected)
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[24:27, 24:27] = False
    delta = (x_p[index] - x[index])[:, :, outside]
    assert delta.abs().max() <= 0.1 + 1e-6 and delta.abs().max() > 0.05
    rest = torch.ones(200, dtype=torch.bool)
    rest[index] = False
    assert torch.equal(x_p[rest], x[rest])
    again = poisoning.clean_label_poisons(model, x, y, 2, 0.1, 3, rate=0.05, seed=0)
    assert torch.equal(again[0], x_p) and torch.equal(again[2], index)


def test_clean_label_rejects_bad_arguments_naming_them(backdoored, digits):
    model = backdoored[0]
    x, y = digits
    for change, argument in [(dict(eps=-1.0), "eps"), (dict(steps=0), "steps"), (dict(rate=0.5), "rate"), (dict(alpha=0.0), "alpha")]:
        arguments = dict(model=model, x=x, y=y, target_label=2, eps=0.1, steps=2, rate=0.05, seed=0) | change
        with pytest.raises(ValueError, match=argument):
            poisoning.clean_label_poisons(**arguments)


# ----------------------------------------------------------------------------- detection
def test_spectral_scores_are_the_squared_centred_projection_of_art(backdoored):
    art()
    from art.defences.detector.poison import SpectralSignatureDefense

    _, _, y_p, _, features, *_ = backdoored
    index, ours = poisoning.spectral_signature_scores(features, y_p, TARGET)
    assert torch.equal(index, (y_p == TARGET).nonzero().flatten())
    r = features[index].double().numpy()
    theirs = SpectralSignatureDefense.spectral_signature_scores(r - r.mean(0))[:, 0]
    assert np.allclose(ours.numpy(), theirs**2, rtol=1e-9, atol=1e-9)
    # On uncentred features ART projects R_i, not R_i - mean: a different score.
    raw = SpectralSignatureDefense.spectral_signature_scores(r)[:, 0]
    assert not np.allclose(ours.numpy(), raw**2, rtol=1e-3)


def test_remove_top_scores_removes_the_largest():
    scores = torch.tensor([0.1, 5.0, 0.3, 2.0, 2.0, 0.0], dtype=torch.float64)
    assert poisoning.remove_top_scores(scores, 0.5).tolist() == [False, True, False, True, True, False]
    assert not poisoning.remove_top_scores(scores, 0.0).any()
    with pytest.raises(ValueError, match="fraction"):
        poisoning.remove_top_scores(scores, 1.2)


def test_activation_clustering_flags_the_poisons(backdoored):
    _, x_p, y_p, index, features, *_ = backdoored
    features_before = features.clone()
    clusters = poisoning.activation_clustering(features, y_p, TARGET, seed=0)
    assert torch.equal(features, features_before)
    poisoned = torch.isin(clusters.index, index)
    caught = int((clusters.flagged & poisoned).sum())
    assert caught >= 0.8 * int(poisoned.sum()) and caught >= 0.8 * int(clusters.flagged.sum())  # measured: 44 of 50, 46 flagged
    assert clusters.relative_size == int(clusters.flagged.sum()) / len(clusters.index)
    again = poisoning.activation_clustering(features, y_p, TARGET, seed=0)
    assert torch.equal(again.cluster, clusters.cluster) and again.silhouette == clusters.silhouette


def test_activation_clustering_partition_matches_arts_pca_kmeans(backdoored):
    art()
    from art.defences.detector.poison.activation_defence import cluster_activations

    _, _, y_p, _, features, *_ = backdoored
    ours = poisoning.activation_clustering(features, y_p, TARGET, seed=0)
    np.random.seed(0)  # ART's KMeans has no random_state: it draws from numpy's global generator
    (theirs,), _ = cluster_activations([features[ours.index].double().numpy()], nb_clusters=2, nb_dims=10, reduce="PCA")
    agree = float(np.mean(ours.cluster.numpy() == theirs))
    assert max(agree, 1 - agree) >= 0.95, agree  # the same split up to the clusters' names


def test_silhouette_matches_scikit_learn(backdoored):
    metrics = pytest.importorskip("sklearn.metrics")
    _, _, y_p, _, features, *_ = backdoored
    clusters = poisoning.activation_clustering(features, y_p, TARGET, seed=0)
    z = poisoning.pca(features[clusters.index].double(), 10)
    assert math.isclose(clusters.silhouette, metrics.silhouette_score(z.numpy(), clusters.cluster.numpy()), rel_tol=1e-9)


@pytest.mark.parametrize(
    ("call", "error", "argument"),
    [
        (lambda f, y: poisoning.spectral_signature_scores(f.long(), y, 0), TypeError, "features"),
        (lambda f, y: poisoning.spectral_signature_scores(f, y[:-1], 0), ValueError, r"\by\b"),
        (lambda f, y: poisoning.spectral_signature_scores(f, y, 11), ValueError, "label"),
        (lambda f, y: poisoning.activation_clustering(f, y, 0, dims=0), ValueError, "dims"),
    ],
)
def test_detectors_reject_bad_arguments_naming_them(backdoored, call, error, argument):
    _, _, y_p, _, features, *_ = backdoored
    with pytest.raises(error, match=argument):
        call(features, y_p)
