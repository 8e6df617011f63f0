"""Notebook 12's graded exercises: the reference answers pass, and every mistake a checker names is recognised
(one wrong answer per mistake, and answers wrong in several ways whose verdict names each)."""

import pytest
import torch

from advlab import exercises


# ----------------------------------------------------------------------------- learner-style answers
def poison(x, y, index, trigger, target_label, rows=slice(24, 27), cols=slice(24, 27), how="write", labels="target",
           which=None):
    """A learner's BadNets: `how` "write" or "add"; `labels` "target", "keep", "all" or "flip"; `which` None (index)
    or "all" (every item stamped)."""
    x_p, y_p = x.clone(), y.clone()
    chosen = torch.arange(len(x)) if which == "all" else index
    if how == "add":
        x_p[chosen, :, rows, cols] = (x_p[chosen, :, rows, cols] + trigger).clamp(0, 1)
    elif how == "write":
        x_p[chosen, :, rows, cols] = trigger
    if labels == "target":
        y_p[index] = target_label
    elif labels == "all":
        y_p[:] = target_label
    elif labels == "flip":
        y_p[index] = 1 - y_p[index]
    return x_p, y_p


def poison_in_place(x, y, index, trigger, target_label):
    x[index, :, 24:27, 24:27] = trigger
    y[index] = target_label
    return x, y


def centred(features, y, label):
    r = features[y == label].double()
    return r - r.mean(0)


def top_direction(m):
    return torch.linalg.svd(m, full_matrices=False).Vh[0]


def spectral_in_place(features, y, label):
    """Right scores, but it centres the caller's features in place."""
    rows = y == label
    features[rows] -= features[rows].mean(0)
    r = features[rows].double()
    return (r @ top_direction(r)) ** 2


def top_k(scores, count):
    removed = torch.zeros(len(scores), dtype=torch.bool)
    removed[torch.sort(scores, descending=True).indices[:count]] = True
    return removed


def removal_without_cap(scores, rate, n_train):
    """1.5 rate N highest, but a count over the label's size is clamped by slicing to... nothing sensible: it flags
    only the expected number when the rule asks for more than the label holds."""
    count = round(1.5 * rate * n_train)
    return top_k(scores, count if count <= len(scores) else round(rate * n_train) // 2)


def removal_sorting_in_place(scores, rate, n_train):
    count = min(round(1.5 * rate * n_train), len(scores))
    order = torch.argsort(scores, descending=True)
    scores[:] = scores.sort().values
    removed = torch.zeros(len(scores), dtype=torch.bool)
    removed[order[:count]] = True
    return removed


# (exercise, a wrong answer, the mistake it should be told, a fragment of the hint)
WRONG = [
    ("12.poison", lambda x, y, i, t, c: (x.clone(), poison(x, y, i, t, c)[1]), "not_stamped", "unchanged"),
    ("12.poison", lambda *a: poison(*a, which="all"), "stamped_all", "every item"),
    ("12.poison", lambda *a: poison(*a, how="add"), "added", "added the trigger"),
    ("12.poison", lambda *a: poison(*a, rows=slice(25, 28), cols=slice(25, 28)), "corner", "very corner"),
    ("12.poison", lambda *a: poison(*a, rows=slice(1, 4), cols=slice(1, 4)), "top_left", "top-left"),
    ("12.poison", lambda *a: poison(*a, labels="keep"), "no_relabel", "labels are unchanged"),
    ("12.poison", lambda *a: poison(*a, labels="all"), "relabelled_all", "every item"),
    ("12.poison", lambda *a: poison(*a, labels="flip"), "flipped", "flipped"),
    ("12.poison", lambda *a: poison(*a)[0], "type", "two tensors"),
    ("12.poison", poison_in_place, "mutated_input", "in place"),
    ("12.spectral", lambda f, y, c: (centred(f, y, c) @ top_direction(centred(f, y, c))).abs(), "not_squared",
     "square"),
    ("12.spectral", lambda f, y, c: centred(f, y, c) @ top_direction(centred(f, y, c)), "signed", "sign"),
    ("12.spectral", lambda f, y, c: (f[y == c].double() @ top_direction(f[y == c].double())) ** 2, "uncentred",
     "centre first"),
    ("12.spectral", lambda f, y, c: (centred(f, y, c) ** 2).sum(1), "norm", "ONE direction"),
    ("12.spectral", lambda f, y, c: ((f.double() - f.double().mean(0)) @ top_direction(f.double() - f.double().mean(0))) ** 2,
     "all_items", "whole set"),
    ("12.spectral", spectral_in_place, "mutated_input", "in place"),
    ("12.removal", lambda s, r, n: top_k(-s, min(round(1.5 * r * n), len(s))), "lowest", "LOWEST"),
    ("12.removal", lambda s, r, n: top_k(s, round(r * n)), "no_margin", "1.5 times"),
    ("12.removal", lambda s, r, n: top_k(s, round(1.5 * r * len(s))), "share_of_label", "whole training set"),
    ("12.removal", removal_without_cap, "no_cap", "remove them all"),
    ("12.removal", lambda s, r, n: min(round(1.5 * r * n), len(s)), "type", "bool mask"),
    ("12.removal", removal_sorting_in_place, "mutated_input", "original order"),
]


# The reference answers and the catalogued mistakes are checked with every other notebook's in
# tests/test_exercises.py, which imports WRONG from here.


def test_notebook_12_has_three_exercises_each_with_catalogued_mistakes():
    assert exercises.names("12") == ["12.poison", "12.removal", "12.spectral"]
    assert {name for name, *_ in WRONG} == set(exercises.names("12"))


# (exercise, an answer wrong in two or more ways, its mistakes in order, a property that held, hint fragments)
MULTI = [
    ("12.poison", lambda *a: poison(*a, how="add", labels="keep"), ["added", "no_relabel"], "the inputs untouched",
     ["added the trigger", "labels are unchanged"]),
    ("12.poison", lambda x, y, i, t, c: poison_in_place(x, y, i, t, c) and (x, y.fill_(c)),
     ["relabelled_all", "mutated_input"], "the images", ["every item", "in place"]),
    ("12.spectral", lambda f, y, c: (f.sub_(0) is f) and ((spectral_in_place(f, y, c)).sqrt()),
     ["not_squared", "mutated_input"], None, ["square", "in place"]),
    ("12.removal", lambda s, r, n: (s.copy_(s.sort().values), top_k(s, round(r * n)))[1], ["unrecognised", "mutated_input"], None,
     ["decisions differ", "original order"]),
]


@pytest.mark.parametrize("name, answer, mistakes, held, hints", MULTI, ids=[f"{m[0]}-{'+'.join(m[2])}" for m in MULTI])
def test_an_answer_wrong_in_several_ways_hears_of_each_and_of_what_held(name, answer, mistakes, held, hints):
    result = exercises.check(name, answer, quiet=True)
    assert not result.passed and result.mistakes == tuple(mistakes), result.message
    assert result.message.startswith(f"{len(mistakes)} problems, the most fundamental first:"), result.message
    if held:
        assert held in result.held, result.message
    for hint in hints:
        assert hint in result.message, result.message


@pytest.mark.parametrize("name", ["12.poison", "12.spectral", "12.removal"])
def test_an_exception_in_learner_code_becomes_a_cross_quoting_it(name):
    def broken(*args):
        raise RuntimeError("my bug")

    result = exercises.check(name, broken, quiet=True)
    assert not result.passed and result.mistake == "exception"
    assert "RuntimeError: my bug" in result.message


@pytest.mark.parametrize("name", ["12.poison", "12.spectral", "12.removal"])
def test_a_blank_is_not_attempted_yet(name):
    for answer in (None, ..., lambda *args: None):
        result = exercises.check(name, answer, quiet=True)
        assert not result.passed and not result.attempted
