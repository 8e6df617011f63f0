"""advlab.model_cache: a hit returns the stored weights, a miss or a corrupt file trains, nothing fails."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab import model_cache


def build():
    torch.manual_seed(1)
    return nn.Linear(3, 2)


def make_train(calls):
    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.fill_(len(calls))
    return train


def test_miss_trains_and_stores_then_hit_loads_without_training(tmp_path):
    calls = []
    first, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    assert not hit and calls == [1] and len(list(tmp_path.glob("*.pt"))) == 1
    second, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    assert hit and calls == [1] and torch.equal(second.weight, first.weight) and not second.training


def test_another_key_is_another_model(tmp_path):
    calls = []
    model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    _, hit = model_cache.cached_model({"a": 2}, build, make_train(calls), folder=tmp_path)
    assert not hit and calls == [1, 1]
    assert model_cache.cache_key({"a": 1, "b": 2}) == model_cache.cache_key({"b": 2, "a": 1})


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_a_corrupt_or_foreign_file_retrains_and_is_replaced(tmp_path, content):
    calls = []
    path = tmp_path / f"{model_cache.cache_key({'a': 1})}.pt"
    if content is None:
        torch.save({"other": torch.zeros(2)}, path)  # a readable file for another architecture
    else:
        path.write_bytes(content)
    model, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    assert not hit and calls == [1] and torch.equal(model.weight, torch.ones_like(model.weight))
    _, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    assert hit and calls == [1]


def test_an_unwritable_folder_still_gives_a_trained_model(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    calls = []
    model, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=blocker / "models")
    assert not hit and calls == [1] and torch.equal(model.weight, torch.ones_like(model.weight))


def test_bad_keys_are_named():
    with pytest.raises(TypeError, match="key"):
        model_cache.cache_key({})
    with pytest.raises(TypeError, match="key"):
        model_cache.cache_key({"tensor": torch.zeros(1)})


def test_a_stored_model_is_what_a_later_cached_model_loads(tmp_path):
    trained = build()
    with torch.no_grad():
        trained.weight.fill_(7.0)
    path = model_cache.store({"a": 1}, trained, folder=tmp_path)
    assert path.is_file()
    calls = []
    loaded, hit = model_cache.cached_model({"a": 1}, build, make_train(calls), folder=tmp_path)
    assert hit and calls == [] and torch.equal(loaded.weight, torch.full_like(loaded.weight, 7.0))
    with pytest.raises(TypeError, match="model"):
        model_cache.store({"a": 1}, {"weight": 1}, folder=tmp_path)


def test_notebook_04_and_08_name_the_same_file_for_a_recipe():
    from advlab import adversarial_training as at

    common = dict(eps=0.1, epochs=5, n_train=4000, seed=0, data="torchvision")
    # train_steps decides PGD-AT's weights only: the other recipes ignore it, PGD-AT does not
    assert at.recipe_key("FGSM-AT", train_steps=7, **common) == at.recipe_key("FGSM-AT", train_steps=3, **common)
    assert at.recipe_key("PGD-AT", train_steps=7, **common) != at.recipe_key("PGD-AT", train_steps=3, **common)
    assert at.recipe_key("PGD-AT", train_steps=7, **common) != at.recipe_key("standard", train_steps=7, **common)
    with pytest.raises(ValueError, match="recipe"):
        at.recipe_key("TRADES", train_steps=7, **common)
