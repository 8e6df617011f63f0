"""A small on-disk cache of trained models, keyed by everything that decides their weights.

Training is deterministic in advlab (same data, same recipe, same seed: same weights), so a
model trained once can be reused by a later notebook or a second run of the same one:

    model, hit = model_cache.cached_model(
        {"recipe": "PGD-AT", "eps": 0.1, "steps": 7, "epochs": 5, "n_train": 4000, "seed": 0,
         "data": data.resolve_source(source)},
        build=lambda: SmallCNN(num_classes=2),
        train=lambda model: fit(model, (x_train, y_train), epochs=5, seed=0, **at.setup("pgd", 0.1, steps=7)),
    )

The key is any JSON-able mapping; its SHA-256 names the file under ``config.cache_dir()/models``.
The cache never fails a notebook: a miss trains, an unreadable or mismatched file trains again
(and is replaced), and a folder that cannot be written is simply not written to.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from . import config

CACHE_VERSION = 1  # bump when a change in advlab makes old weights mean something else
SUBFOLDER = "models"


def cache_key(key: Mapping) -> str:
    """The file stem for `key`: SHA-256 of its canonical JSON (sorted keys), with the torch version."""
    if not isinstance(key, Mapping) or not key:
        raise TypeError(f"key must be a non-empty mapping of training parameters, got {key!r}")
    try:
        text = json.dumps({"key": dict(key), "cache": CACHE_VERSION, "torch": torch.__version__}, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"key must hold JSON values only (numbers, strings, lists): {error}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_model(
    key: Mapping,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], object],
    folder: str | Path | None = None,
) -> tuple[nn.Module, bool]:
    """``(model, hit)``: the weights stored under `key` if readable, else ``train(build())``, then stored.

    `build()` makes the untrained architecture; `train(model)` trains it in place. The model
    comes back in eval mode on the device `build` put it on.
    """
    if not callable(build) or not callable(train):
        raise TypeError("build and train must be callables: build() -> model, train(model) -> anything")
    path = _path(key, folder)
    model = build()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build() must return a torch.nn.Module, got {type(model).__name__}")
    if _load(model, path):
        return model.eval(), True
    train(model)
    _store(model, path)
    return model.eval(), False


def store(key: Mapping, model: nn.Module, folder: str | Path | None = None) -> Path:
    """Put a model trained elsewhere under `key`, so a later :func:`cached_model` with that key loads it.

    Notebook 04 trains its models with a live plot (it needs the run, not only the weights) and
    stores them; notebook 08 asks for the same recipe and loads them instead of training again.
    Returns the file's path; like the rest of the cache it never fails (an unwritable folder is skipped).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    path = _path(key, folder)
    _store(model, path)
    return path


def _path(key: Mapping, folder: str | Path | None) -> Path:
    """The file that holds the model stored under `key`: ``<folder or cache_dir()/models>/<cache_key(key)>.pt``."""
    return Path(folder or config.cache_dir() / SUBFOLDER) / f"{cache_key(key)}.pt"


def _load(model: nn.Module, path: Path) -> bool:
    """Load the state dict at `path` into `model`; False (model untouched) if anything is wrong."""
    if not path.is_file():
        return False
    backup = {name: value.clone() for name, value in model.state_dict().items()}
    try:
        state = torch.load(path, map_location=next(model.parameters(), torch.empty(0)).device, weights_only=True)
        model.load_state_dict(state)
        return True
    except Exception:  # a truncated, corrupt or foreign file: train again instead
        model.load_state_dict(backup)
        return False


def _store(model: nn.Module, path: Path) -> None:
    """Write atomically (temporary file, then rename) so a killed run never leaves half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(model.state_dict(), temporary)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only or full disk: the model is trained, only the cache is lost
