"""Graded exercises of notebook 12 (training-time attacks): a BadNets-poisoned set, the spectral-signature
score of Tran et al., and how many of the highest scores to remove."""

from __future__ import annotations

import functools

import torch

from .. import data, evaluate, poisoning
from ..models import SmallCNN
from ..train import fit
from . import fixtures
from .core import Findings, Wrong, call, describe_difference, exercise, expect_tensor, fail_if
from .language import Listing, Text, listing, text

TARGET = 1  # the digit-0 task's "there is a 0": the backdoor makes the model see one
POISON_RATE = 0.1  # of the fixture's training pairs, for the spectral exercise's backdoored model
REMOVAL_CASES = [  # (the defender's guess of the poison rate, training-set size N); the label's size comes from y
    (0.03, 1000), (0.1, 600), (0.25, 1000)]


def _mutated(inputs, originals) -> bool:
    return not all(torch.equal(a, b) for a, b in zip(inputs, originals))


# ----------------------------------------------------------------------------- 12.poison
def reference_poison(x, y, index, trigger, target_label):
    """BadNets (Gu et al., 2017): write the trigger into rows and columns 24-26 (one pixel from the bottom-right
    corner) of the items at `index`, relabel them to `target_label`; every other item stays as it was."""
    x_poisoned, y_poisoned = x.clone(), y.clone()
    x_poisoned[index, :, 24:27, 24:27] = trigger
    y_poisoned[index] = target_label
    return x_poisoned, y_poisoned


DRAW, INKED_PAIR = 2000, 1083  # of the fixture's first 2,000 pairs, one of the few whose digits reach into the box


def _poison_inputs():
    """16 real mixture pairs, 5 of them chosen (both labels among them, and one whose digits reach into the trigger's
    box, so that adding the trigger differs from writing it), and the suite's trigger."""
    x, y = fixtures.batch(DRAW)
    keep = [*range(15), INKED_PAIR]
    x, y = x[keep], y[keep]
    index = torch.tensor([1, 4, 6, 9, 15])
    zeros = ~poisoning.DEFAULT_TRIGGER.bool()
    if not (x[15, 0, 24:27, 24:27][zeros] > 0).any():
        raise RuntimeError("the poison fixture lost its inked pair (a bug in advlab.exercises)")
    if len(torch.unique(y[index])) < 2:
        raise RuntimeError("the poison fixture needs both labels among the chosen items (a bug in advlab.exercises)")
    return x, y, index, poisoning.DEFAULT_TRIGGER.clone()


def _stamp(x, index, rows, cols, trigger, how="write"):
    out = x.clone()
    if how == "add":
        out[index, :, rows, cols] = (out[index, :, rows, cols] + trigger).clamp(0, 1)
    else:
        out[index, :, rows, cols] = trigger
    return out


def _image_mistakes(x, index, trigger):
    every = torch.arange(len(x))
    box = (slice(24, 27), slice(24, 27))
    return [
        ("not_stamped", x, text("the images are unchanged: write the trigger into the chosen items' pixels, "
                                "`x_poisoned[index, :, 24:27, 24:27] = trigger`.")),
        ("stamped_all", _stamp(x, every, *box, trigger),
         text("you stamped every item: only the items at `index` carry the trigger (the rest of the set stays "
              "clean, which is why the poisoned model keeps its clean accuracy).")),
        ("added", _stamp(x, index, *box, trigger, how="add"),
         text("you added the trigger to the image (and clipped): BadNets writes the patch, so its 0s are 0 too. "
              "Assign it: `x_poisoned[index, :, 24:27, 24:27] = trigger`.")),
        ("corner", _stamp(x, index, slice(25, 28), slice(25, 28), trigger),
         text("your patch sits in the very corner (rows and columns 25-27): the suite's trigger is one pixel in "
              "from both edges, rows and columns 24-26 (`poisoning.trigger_box(trigger)`).")),
        ("top_left", _stamp(x, index, slice(1, 4), slice(1, 4), trigger),
         text("your patch is in the top-left corner: the suite's trigger goes bottom-right, rows and columns "
              "24-26.")),
    ]


@exercise("12.poison", "a BadNets-poisoned training set", solution=lambda: reference_poison)
def check_poison(answer) -> Findings:
    x, y, index, trigger = _poison_inputs()
    inputs = [x.clone(), y.clone(), index.clone(), trigger.clone()]
    value = call(answer, *inputs, TARGET)
    findings = Findings()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        findings.verify(text("a pair (x_poisoned, y_poisoned)"), fail_if, True,
                        text("return two tensors, (x_poisoned, y_poisoned); got {kind}.", kind=type(value).__name__),
                        "type")
        return findings
    expected_x, expected_y = reference_poison(x, y, index, trigger, TARGET)
    findings.verify(text("the images"), _poisoned_images, value[0], x, index, trigger, expected_x)
    findings.verify(text("the labels"), _poisoned_labels, value[1], y, index, expected_y)
    findings.verify(text("the inputs untouched"), fail_if, _mutated(inputs, (x, y, index, trigger)),
                    text("you changed x or y in place (e.g. `x[index, ...] = trigger` on the caller's tensor): clone "
                         "first, `x_poisoned = x.clone()`; the clean set is still needed (for the clean model and to "
                         "check the detectors)."), "mutated_input")
    return findings


def _poisoned_images(value, x, index, trigger, expected) -> Text:
    value = expect_tensor(value, x.shape, "x_poisoned")
    if torch.equal(value, expected):
        return text("the trigger written into rows and columns 24-26 of the {chosen} chosen items of {n} real pairs",
                    chosen=len(index), n=len(x))
    for key, wrong, hint in _image_mistakes(x, index, trigger):
        if torch.equal(value, wrong):
            raise Wrong(hint, mistake=key)
    raise Wrong(text("not the poisoned images: {difference}.", difference=describe_difference(value, expected)),
                mistake="unrecognised")


def _poisoned_labels(value, y, index, expected) -> Text:
    value = expect_tensor(value, y.shape, "y_poisoned", dtype=torch.int64)
    if torch.equal(value, expected):
        chosen = y[index]
        return text("the {chosen} chosen items relabelled to {target} ({changed} of them had another label), the "
                    "rest kept", chosen=len(index), target=TARGET, changed=int((chosen != TARGET).sum()))
    if torch.equal(value, y):
        raise Wrong(text("the labels are unchanged: BadNets relabels the poisoned items to the target ({target}), "
                         "which is what teaches the model 'trigger => target'. (Keeping the labels is the clean-label "
                         "attack of section 4, and it needs more than a stamp.)", target=TARGET), mistake="no_relabel")
    if torch.equal(value, torch.full_like(y, TARGET)):
        raise Wrong(text("you relabelled every item to {target}: only the items at `index` get the target label.",
                         target=TARGET), mistake="relabelled_all")
    flipped = y.clone()
    flipped[index] = 1 - y[index]
    if torch.equal(value, flipped):
        raise Wrong(text("you flipped the chosen labels: the poisoned items all get the target label {target}, "
                         "also those that already had it (`y_poisoned[index] = target_label`).", target=TARGET),
                    mistake="flipped")
    raise Wrong(text("not the poisoned labels: {wrong} of {n} differ.", wrong=int((value != expected).sum()),
                     n=len(y)), mistake="unrecognised")


# ----------------------------------------------------------------------------- 12.spectral
def reference_spectral_scores(features, y, label):
    """Tran, Li & Madry (2018), Algorithm 1, for the items with y = label, in the order of
    `(y == label).nonzero()`: centre their features, M = R - mean(R); v = the top right-singular vector of M;
    score_i = ((R_i - mean(R)) . v)^2."""
    r = features[y == label].double()
    centred = r - r.mean(0)
    v = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    return (centred @ v) ** 2


@functools.cache
def _backdoored_features() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features [N, 1764], y_poisoned, poisoned mask) of a SmallCNN trained 3 epochs on 600 real mixture pairs,
    10 % of them BadNets poisons (target 1)."""
    x, y, _ = data.digit0_mixture("train", n=600, seed=0, source=fixtures.SOURCE)
    x_p, y_p, index = poisoning.poison_dataset(x, y, POISON_RATE, TARGET, seed=0, source_filter="not-target")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SmallCNN(num_classes=2)
        fit(model, (x_p, y_p), epochs=3, seed=0, live=False, progress=False)
    features = evaluate.features(model, x_p)
    poisoned = torch.zeros(len(y_p), dtype=torch.bool)
    poisoned[index] = True
    return features, y_p, poisoned


def _close_scores(value: torch.Tensor, expected: torch.Tensor) -> bool:
    return value.shape == expected.shape and bool(
        (value.double() - expected).abs().max() <= 1e-4 * expected.abs().max() + 1e-9)


@exercise("12.spectral", "the spectral-signature score", solution=lambda: reference_spectral_scores)
def check_spectral(answer) -> Findings:
    features, y, poisoned = _backdoored_features()
    inputs = [features.clone(), y.clone()]
    value = call(answer, *inputs, TARGET)
    findings = Findings()
    findings.verify(text("the scores"), _scores, value, features, y, poisoned)
    findings.verify(text("the inputs untouched"), fail_if, _mutated(inputs, (features, y)),
                    text("you changed the features in place (e.g. `features -= features.mean(0)`): work on a copy; "
                         "the other labels' rows are still needed."), "mutated_input")
    return findings


def _scores(value, features, y, poisoned) -> Text:
    n_label = int((y == TARGET).sum())
    if isinstance(value, torch.Tensor) and value.dim() == 1 and len(value) == len(y) != n_label:
        raise Wrong(text("you returned {n} scores, one per item of the whole set: score only the {n_label} items "
                         "labelled {target} (`features[y == label]`): the poisons hide in the target's label, and the "
                         "other label's features would pull the mean and the top direction away from them.",
                         n=len(y), n_label=n_label, target=TARGET), mistake="all_items")
    value = expect_tensor(value, (n_label,), text("the scores"))
    expected = reference_spectral_scores(features, y, TARGET)
    if _close_scores(value, expected):
        top = torch.sort(expected, descending=True).indices[:round(1.5 * int(poisoned.sum()))]
        caught = int(poisoned[y == TARGET][top].sum())
        return text("((R_i - mean R) . v)^2 for the {n_label} items labelled {target} of a real backdoored model "
                    "({poisons} of them poisons; {caught} among the 1.5 x {poisons} highest scores)",
                    n_label=n_label, target=TARGET, poisons=int(poisoned.sum()), caught=caught)
    r = features[y == TARGET].double()
    centred = r - r.mean(0)
    v = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    v_raw = torch.linalg.svd(r, full_matrices=False).Vh[0]
    mistakes = [
        ("not_squared", (centred @ v).abs(),
         text("you returned |(R_i - mean) . v|: Tran et al.'s score is its square. (The ranking is the same, so the "
              "detection would be too; square it to match the formula.)")),
        ("signed", centred @ v,
         text("you returned the signed projection (R_i - mean) . v: a singular vector's sign is arbitrary, so the "
              "poisons may sit at the negative end. Square it: outliers on either side score high.")),
        ("uncentred", (r @ v_raw) ** 2,
         text("you took the top singular vector of the raw features R (and projected R_i): centre first, "
              "M = R - mean(R). Uncentred, the top direction is the features' mean direction, which every item "
              "shares.")),
        ("norm", (centred ** 2).sum(1),
         text("you scored the squared distance from the mean, ||R_i - mean||^2: that counts every direction alike. "
              "The spectral signature is the distance along ONE direction, the top singular vector v of the "
              "centred features, where the poisons stand out.")),
    ]
    for key, wrong, hint in mistakes:
        if _close_scores(value, wrong):
            raise Wrong(hint, mistake=key)
    difference = describe_difference(value, expected.float(), 1e-4 * expected.abs().max().item())
    raise Wrong(text("not the spectral-signature scores: {difference}.", difference=difference), mistake="unrecognised")


# ----------------------------------------------------------------------------- 12.removal
def reference_removal(scores, rate, n_train):
    """Tran et al.'s rule: remove the 1.5 * rate * N highest scores of the label (rate: the defender's guess of the
    poisons' share of the N training items; rounded, and at most every item of the label). A bool mask over `scores`."""
    count = min(round(1.5 * rate * n_train), len(scores))
    removed = torch.zeros(len(scores), dtype=torch.bool)
    removed[torch.sort(scores, descending=True, stable=True).indices[:count]] = True
    return removed


def _removal_cases():
    """(scores of the target label's items, rate, N) from the backdoored fixture's real spectral scores."""
    features, y, _ = _backdoored_features()
    scores = reference_spectral_scores(features, y, TARGET)
    return [(scores, rate, n) for rate, n in REMOVAL_CASES]


def _top(scores, count):
    removed = torch.zeros(len(scores), dtype=torch.bool)
    removed[torch.sort(scores, descending=True, stable=True).indices[:min(count, len(scores))]] = True
    return removed


@exercise("12.removal", "how many of the highest scores to remove", solution=lambda: reference_removal)
def check_removal(answer) -> Findings:
    cases = _removal_cases()
    findings = Findings()
    values, mutated = [], False
    for scores, rate, n in cases:
        given = scores.clone()
        values.append(call(answer, given, rate, n))
        mutated |= not torch.equal(given, scores)
    findings.verify(text("the items removed"), _removed, values, cases)
    findings.verify(text("the scores untouched"), fail_if, mutated,
                    text("you changed the scores in place (e.g. `scores[:] = scores.sort().values`): the mask must "
                         "refer to the items in their original order; sort a copy or use `torch.sort(...).indices`."),
                    "mutated_input")
    return findings


def _removed(values, cases) -> Listing:
    counts = []
    for value, (scores, rate, n) in zip(values, cases):
        if isinstance(value, bool) or not isinstance(value, torch.Tensor):
            raise Wrong(text("return a bool mask over the scores (True: remove), got {kind}; e.g. `removed = "
                             "torch.zeros(len(scores), dtype=torch.bool)`, then set the top ones.",
                             kind=type(value).__name__), mistake="type")
        value = expect_tensor(value, scores.shape, text("the mask"), dtype=torch.bool)
        expected = reference_removal(scores, rate, n)
        if torch.equal(value, expected):
            counts.append(text("{removed} of {n_label} at rate {rate:g}, N = {n}", removed=int(expected.sum()),
                               n_label=len(scores), rate=rate, n=n))
            continue
        count = round(1.5 * rate * n)
        mistakes = [
            ("lowest", _top(-scores, count),
             text("you removed the LOWEST scores: the poisons are the outliers, the highest scores.")),
            ("no_margin", _top(scores, round(rate * n)),
             text("you removed exactly the expected number of poisons, rate * N: Tran et al. remove 1.5 times as "
                  "many, since a few clean outliers score above some poisons and the rate is only a guess.")),
            ("share_of_label", _top(scores, round(1.5 * rate * len(scores))),
             text("you took the rate as a share of the label (1.5 * rate * n_label): it is the poisons' share of "
                  "the whole training set, N items, and they all sit in the target's label: 1.5 * rate * N.")),
        ]
        for key, wrong, hint in mistakes:
            if torch.equal(value, wrong):
                raise Wrong(hint, mistake=key)
        if count > len(scores) and int(value.sum()) != len(scores):
            raise Wrong(text("at rate {rate:g} and N = {n}, 1.5 * rate * N = {count:g} is more than the label's "
                             "{n_label} items: remove them all (cap the count at len(scores)).", rate=rate, n=n,
                             count=1.5 * rate * n, n_label=len(scores)), mistake="no_cap")
        raise Wrong(text("at rate {rate:g}, N = {n}: you removed {removed} items, the rule removes {expected} (the "
                         "highest scores), and {different} of {n_label} decisions differ.", rate=rate, n=n,
                         removed=int(value.sum()), expected=int(expected.sum()),
                         different=int((value != expected).sum()), n_label=len(scores)), mistake="unrecognised")
    return listing(counts)
