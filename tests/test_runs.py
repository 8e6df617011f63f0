"""advlab.runs: a training run or an evaluation is computed once, then loaded with the same numbers.

What a hit must give back is what the real run gave: the final weights, every curve of the History,
the weights after each epoch, and the random-number state the run left behind (torch's global
generator and the loss terms' own), so the cells after a cached run draw what they would have drawn.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab import adversarial_training as at
from advlab import config, evaluate, runs, train
from advlab.models import SmallCNN


@pytest.fixture(autouse=True)
def _empty_run_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(config.RUNS_ENV, str(tmp_path / "runs"))
    runs.set_retrain(False)
    yield
    runs.set_retrain(False)


@pytest.fixture
def digits(small_mixture):
    x, y = small_mixture
    return x[:192], y[:192]


def fresh_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return SmallCNN(num_classes=2)


def count_training(monkeypatch) -> list[int]:
    calls = []
    real_fit = runs.train_fit

    def counting_fit(*args, **kwargs):
        calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(runs, "train_fit", counting_fit)
    return calls


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_second_call_loads_the_run_it_trained(digits, monkeypatch, capsys):
    calls = count_training(monkeypatch)
    first = fresh_model()
    history = runs.fit(first, digits, epochs=2, seed=3, live=False, progress=False)
    rng_after_training = torch.get_rng_state()
    assert calls == [1] and history.loaded is False and len(history.states) == 2

    torch.manual_seed(123)  # whatever ran in between: the hit restores the state the run left
    second = fresh_model()
    loaded = runs.fit(second, digits, epochs=2, seed=3, live=False, progress=False)
    assert calls == [1], "a stored run must not train again"
    assert loaded.loaded is True and "loaded the stored run" in capsys.readouterr().out
    assert same_weights(first, second)
    assert dict(loaded) == dict(history) and loaded.epoch_seconds == history.epoch_seconds
    assert loaded.epoch_cpu_seconds == history.epoch_cpu_seconds and len(history.epoch_cpu_seconds) == 2
    assert all(torch.equal(a, b) for s, t in zip(history.states, loaded.states) for a, b in zip(s.values(), t.values()))
    assert torch.equal(torch.get_rng_state(), rng_after_training)


def test_the_stored_run_equals_a_plain_training_run(digits):
    plain = fresh_model()
    plain_history = train.fit(plain, digits, epochs=2, seed=1, live=False, progress=False)
    cached = fresh_model()
    runs.fit(cached, digits, epochs=2, seed=1, live=False, progress=False)
    loaded = fresh_model()
    loaded_history = runs.fit(loaded, digits, epochs=2, seed=1, live=False, progress=False)
    assert same_weights(plain, cached) and same_weights(plain, loaded)
    assert loaded_history["train loss"] == plain_history["train loss"]


@pytest.mark.parametrize("change", ["epochs", "lr", "seed", "data", "initial weights", "loss term"])
def test_anything_the_weights_depend_on_is_part_of_the_key(digits, monkeypatch, change):
    calls = count_training(monkeypatch)
    base = {"epochs": 1, "seed": 0, "live": False, "progress": False}
    runs.fit(fresh_model(), digits, **base)
    x, y = digits
    model, data, kwargs = fresh_model(), digits, dict(base)
    if change == "epochs":
        kwargs["epochs"] = 2
    elif change == "lr":
        kwargs["lr"] = 2e-3
    elif change == "seed":
        kwargs["seed"] = 1
    elif change == "data":
        x = x.clone()
        x[0, 0, 0, 0] = 1 - x[0, 0, 0, 0]  # one pixel
        data = (x, y)
    elif change == "initial weights":
        model = fresh_model(seed=1)
    else:
        kwargs |= at.setup("fgsm", 0.1)
    runs.fit(model, data, **kwargs)
    assert calls == [1, 1], f"changing {change} must train again"


def test_display_arguments_do_not_change_the_key(digits, monkeypatch):
    calls = count_training(monkeypatch)
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, title="one")
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=True, title="another")
    assert calls == [1]


def test_a_notebook_function_is_keyed_by_its_source(digits, monkeypatch):
    calls = count_training(monkeypatch)
    double = lambda model, batch: 0.0 * model(batch.x).sum()  # noqa: E731
    triple = lambda model, batch: 1e-3 * model(batch.x).sum()  # noqa: E731
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, extra_losses={"extra": double})
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, extra_losses={"extra": triple})
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, extra_losses={"extra": double})
    assert calls == [1, 1]


def test_a_hit_restores_the_loss_terms_generators(digits):
    term_kwargs = at.setup("pgd", 0.1, steps=2, seed=5)
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, **term_kwargs)
    after_run = term_kwargs["extra_losses"]["adv loss"].generator.get_state()
    again = at.setup("pgd", 0.1, steps=2, seed=5)
    assert not torch.equal(again["extra_losses"]["adv loss"].generator.get_state(), after_run)
    history = runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False, **again)
    assert history.loaded
    assert torch.equal(again["extra_losses"]["adv loss"].generator.get_state(), after_run)


def test_metrics_observe_without_changing_the_run(digits):
    noisy_metric = {"noisy": lambda m: float(torch.rand(1))}  # a metric that draws random numbers
    with_metric, without = fresh_model(), fresh_model()
    train.fit(with_metric, digits, epochs=2, seed=0, live=False, progress=False, metrics=noisy_metric)
    train.fit(without, digits, epochs=2, seed=0, live=False, progress=False)
    assert same_weights(with_metric, without)


def test_new_metrics_are_measured_on_the_stored_epochs_without_training(digits, monkeypatch):
    x, y = digits
    accuracy = {"acc": lambda m: evaluate.accuracy(m, x[:64], y[:64])}
    reference = train.fit(fresh_model(), digits, epochs=2, seed=0, live=False, progress=False, metrics=accuracy)
    calls = count_training(monkeypatch)
    runs.fit(fresh_model(), digits, epochs=2, seed=0, live=False, progress=False)  # trained without metrics
    loaded = runs.fit(fresh_model(), digits, epochs=2, seed=0, live=False, progress=False, metrics=accuracy)
    assert calls == [1] and loaded.loaded
    assert loaded["acc"] == reference["acc"]


@pytest.mark.parametrize("damage", ["truncated", "not a torch file", "wrong format"])
def test_a_damaged_entry_trains_again_instead_of_failing(digits, monkeypatch, damage):
    calls = count_training(monkeypatch)
    first = fresh_model()
    runs.fit(first, digits, epochs=1, live=False, progress=False)
    (entry,) = config.runs_dir().glob("*.pt")
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    elif damage == "not a torch file":
        entry.write_text("hello")
    else:
        torch.save({"format": -1}, entry)
    second = fresh_model()
    runs.fit(second, digits, epochs=1, live=False, progress=False)
    assert calls == [1, 1] and same_weights(first, second)
    assert not list(config.runs_dir().glob("*.tmp")), "writes are atomic: no temporary file is left"


def test_retrain_computes_again(digits, monkeypatch):
    calls = count_training(monkeypatch)
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False)
    runs.set_retrain(True)
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False)
    assert calls == [1, 1]
    with pytest.raises(TypeError, match="retrain"):
        runs.set_retrain("yes")


def test_an_optimizer_is_refused_with_a_clear_error(digits):
    model = fresh_model()
    with pytest.raises(TypeError, match="optimizer"):
        runs.fit(model, digits, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_cached_evaluation_is_computed_once_and_rebuilds_dataclasses(digits, capsys, monkeypatch):
    x, y = digits
    model = fresh_model().eval()
    calls, real = [], evaluate.worst_case_accuracy
    monkeypatch.setattr(evaluate, "worst_case_accuracy", lambda *a, **k: calls.append(1) or real(*a, **k))

    def cascade(model, x, y, eps):  # what it reads (not what it computed before) is its key: no counter in here
        ensemble = evaluate.default_ensemble(pgd_steps=2, pgd_restarts=1, apgd_steps=2, square_queries=2)
        return evaluate.worst_case_accuracy(model, x, y, eps, attacks=dict(list(ensemble.items())[:2]), seed=0,
                                            progress=False)

    first = runs.cached("cascade", cascade, model, x[:32], y[:32], 0.1)
    second = runs.cached("cascade", cascade, model, x[:32], y[:32], 0.1)
    assert calls == [1] and "cascade: loaded the stored result" in capsys.readouterr().out
    assert type(second) is type(first) and second.row() == first.row()
    assert torch.equal(second.correct, first.correct)
    runs.cached("cascade", cascade, model, x[:32], y[:32], 0.2)
    assert calls == [1, 1], "another argument is another result"


def test_cached_keys_on_the_global_random_state_and_restores_it(monkeypatch):
    draws, rand = [], torch.rand

    def counting_rand(*shape):
        draws.append(1)
        return rand(*shape)

    draw = lambda: torch.rand(3)  # noqa: E731
    monkeypatch.setattr(torch, "rand", counting_rand)

    torch.manual_seed(0)
    first = runs.cached("draw", draw)
    after_first = torch.get_rng_state()
    torch.manual_seed(0)
    again = runs.cached("draw", draw)
    assert draws == [1] and torch.equal(first, again) and torch.equal(torch.get_rng_state(), after_first)
    torch.manual_seed(1)
    runs.cached("draw", draw)
    assert draws == [1, 1], "another random state would draw other numbers: computed again"


def test_cached_refuses_results_it_cannot_store_and_bad_arguments():
    with pytest.raises(TypeError, match="plain data"):
        runs.cached("a model", lambda: nn.Linear(2, 2))
    with pytest.raises(TypeError, match="label"):
        runs.cached("", lambda: 1)
    with pytest.raises(TypeError, match="fn"):
        runs.cached("not callable", 3)


def test_entries_load_with_weights_only(digits):
    runs.fit(fresh_model(), digits, epochs=1, live=False, progress=False)
    (entry,) = config.runs_dir().glob("*.pt")
    stored = torch.load(entry, weights_only=True)
    assert stored["format"] == runs.FORMAT and len(stored["states"]) == 1


def test_describe_tells_apart_what_a_computation_could_tell_apart():
    assert runs.fingerprint(torch.zeros(3)) == runs.fingerprint(torch.zeros(3))
    assert runs.fingerprint(torch.zeros(3)) != runs.fingerprint(torch.zeros(3, dtype=torch.float64))
    assert runs.fingerprint({"a": 1, "b": 2}) != runs.fingerprint({"b": 2, "a": 1}), "order matters for ensembles"
    assert runs.fingerprint(0.1) != runs.fingerprint(0.1 + 1e-12)
    assert runs.fingerprint(fresh_model(0)) != runs.fingerprint(fresh_model(1))
    assert runs.fingerprint(fresh_model(0).eval()) != runs.fingerprint(fresh_model(0).train())


def test_one_call_written_two_ways_has_one_key(digits, monkeypatch):
    calls = count_training(monkeypatch)
    runs.fit(fresh_model(), digits, epochs=1, seed=0, lr=1e-3, live=False, progress=False)
    runs.fit(fresh_model(), digits, lr=1e-3, progress=False, live=False, seed=0, epochs=1, extra_losses=None)
    assert calls == [1], "keyword order and a spelled-out default do not change the key"

    def accuracy_at(model, x, y, batch_size=64):
        return evaluate.accuracy(model, x, y, batch_size)

    evaluations, real_accuracy = [], evaluate.accuracy
    monkeypatch.setattr(evaluate, "accuracy", lambda *a: evaluations.append(1) or real_accuracy(*a))
    x, y = digits
    model = fresh_model().eval()
    first = runs.cached("acc", accuracy_at, model, x, y)
    again = runs.cached("acc", accuracy_at, model, y=y, x=x, batch_size=64)
    assert evaluations == [1] and again == first, "by position or by name, default or spelled out: one key"
