"""The run cache: every training run and every costly evaluation computed once, then loaded.

Training in advlab is deterministic (same data, same recipe, same seed: the same weights), so
a finished run is as good as a new one. Two functions put work through the cache:

    history = runs.fit(model, (x, y), epochs=5, seed=0, **at.setup("pgd", 0.1))   # = train.fit
    row = runs.cached("worst case, PGD-AT", evaluate_fn, model, x, y, eps)          # = evaluate_fn(model, ...)

**The key is everything the result depends on**, read from the call itself: the model's class,
architecture and *initial* weights (so the seed that drew them), the data (their bytes), every
argument (loss terms and their parameters, epochs, batch size, learning rate, ...), the source
of notebook functions passed in (and of the notebook globals they read), the source of advlab's
computing modules, torch's version and the device. A change to any of them is another key: the
run is trained again. Nothing has to be named by hand, so nothing can be forgotten:

    key = hash( describe(function, arguments), advlab's source, torch version, device )

:func:`fit` keeps the weights after **every epoch** and the training curves; the per-epoch
``metrics`` are kept separately, keyed by the run and the metrics, so another notebook that
trains the same recipe with other metrics loads the weights and evaluates only its metrics on
the stored epochs. A hit loads the final weights into `model`, returns the same History
(curves, seconds per epoch, ``history.states``: the weights after each epoch), redraws the
final frame of the live plot, and says so in one printed line. Random-number state is part of
what a result leaves behind: a hit restores torch's global generator and the generators owned
by the loss terms, so the cells that follow draw the same numbers as after a real run.

Entries are files under ``config.runs_dir()`` (``ADVLAB_RUNS``, default ``$ADVLAB_DATA/runs``),
written atomically (temporary file, then rename: two processes may share the folder) and read
with ``torch.load(weights_only=True)``: plain data only, never code. A damaged, unreadable or
foreign entry is computed again, never an error; a folder that cannot be written is skipped.
``runs.set_retrain(True)`` (a notebook's ``retrain = True`` parameter) computes everything again
and replaces what was stored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import os
import sys
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import config
from .liveplot import History, LivePlot
from .models import model_device
from .train import fit as train_fit

_FIT_SIGNATURE = inspect.signature(train_fit)

FORMAT = 2  # bump when the layout of a stored entry changes
# advlab modules whose source decides no number (figures, widgets, reports, exercises): editing them keeps the cache
PRESENTATION_MODULES = {"plots", "widgets", "reports", "liveplot", "progress", "exercises"}
FIT_DISPLAY_ARGUMENTS = {"live", "progress", "title"}  # they change what is shown, not what is trained
_settings = {"retrain": False}


def set_retrain(retrain: bool) -> None:
    """``True``: compute every run and evaluation again (and store the new results); ``False``: load them."""
    if not isinstance(retrain, bool):
        raise TypeError(f"retrain must be True or False, got {retrain!r}")
    _settings["retrain"] = retrain


# ----------------------------------------------------------------------------- what a result depends on
def fingerprint(*objects) -> str:
    """A hex digest of what `objects` are: equal for equal data, arguments and code (see :func:`describe`)."""
    text = json.dumps([describe(obj) for obj in objects], separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def describe(obj, _context: _Context | None = None):
    """A JSON-able description of `obj` that changes whenever a computation given `obj` could.

    Tensors and arrays by their bytes; modules by their class, structure, mode and state; a
    function from a notebook by its source, defaults, closure and the globals it reads; a
    function or class from advlab by its name (advlab's source is part of every key); other
    objects of advlab or of the notebook by their class and attributes; objects of installed
    libraries (matplotlib, ipywidgets, ...) by their class only.
    """
    context = _context or _Context()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)  # JSON has no nan or inf
    if isinstance(obj, torch.Tensor):
        return ["tensor", str(obj.dtype), list(obj.shape), context.digest(obj)]
    if isinstance(obj, np.ndarray):
        return ["array", str(obj.dtype), list(obj.shape), _tensor_digest(torch.from_numpy(np.ascontiguousarray(obj)))]
    if isinstance(obj, np.generic):
        return describe(obj.item(), context)
    if isinstance(obj, (torch.device, torch.dtype, torch.Size, range, slice)):
        return [type(obj).__name__, str(obj)]
    if isinstance(obj, torch.Generator):
        return ["generator", _tensor_digest(obj.get_state())]
    if isinstance(obj, np.random.Generator):
        return ["numpy generator", json.dumps(obj.bit_generator.state, sort_keys=True, default=str)]
    if isinstance(obj, types.BuiltinFunctionType):
        return ["builtin", getattr(obj, "__module__", None), obj.__qualname__]
    if id(obj) in context.active:
        return ["cycle", type(obj).__qualname__]
    context.active.add(id(obj))
    try:
        return _describe_composite(obj, context)
    finally:
        context.active.discard(id(obj))


class _Context:
    """What one description walks: the objects on the current path (to stop at cycles) and tensors hashed so far."""

    def __init__(self):
        self.active: set[int] = set()
        self._digests: dict[int, tuple[torch.Tensor, str]] = {}

    def digest(self, tensor: torch.Tensor) -> str:
        known = self._digests.get(id(tensor))
        if known is None or known[0] is not tensor:  # the same big tensor read by several functions: hashed once
            known = self._digests[id(tensor)] = (tensor, _tensor_digest(tensor))
        return known[1]


def _describe_composite(obj, context):
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__, [describe(item, context) for item in obj]]
    if isinstance(obj, (set, frozenset)):
        return ["set", sorted(json.dumps(describe(item, context)) for item in obj)]
    if isinstance(obj, Mapping):  # insertion order kept: the order of an attack ensemble matters
        return ["mapping", [[describe(k, context), describe(v, context)] for k, v in obj.items()]]
    if isinstance(obj, nn.Module):
        return ["module", _name(type(obj)), repr(obj), obj.training, describe(obj.state_dict(), context)]
    if isinstance(obj, torch.optim.Optimizer):
        groups = [{k: v for k, v in group.items() if k != "params"} for group in obj.param_groups]
        return ["optimizer", _name(type(obj)), describe(groups, context), describe(obj.state_dict()["state"], context)]
    if isinstance(obj, types.ModuleType):
        return ["python module", obj.__name__, getattr(obj, "__version__", None)]
    if isinstance(obj, functools.partial):
        return ["partial", describe(obj.func, context), describe(obj.args, context), describe(obj.keywords, context)]
    if isinstance(obj, types.MethodType):
        return ["method", describe(obj.__self__, context), describe(obj.__func__, context)]
    if isinstance(obj, types.FunctionType):
        return _describe_function(obj, context)
    if isinstance(obj, type):
        return _describe_class(obj, context)
    if _origin(type(obj)) == "library":  # an object of numpy, matplotlib, ipywidgets, ...: its class is all we read
        return ["object", _name(type(obj))]
    state = vars(obj) if hasattr(obj, "__dict__") else {}
    return ["object", _describe_class(type(obj), context), describe(state, context)]


def _describe_function(fn: types.FunctionType, context):
    closure = [describe(cell.cell_contents, context) if _cell_is_set(cell) else "empty" for cell in fn.__closure__ or ()]
    parts = {"name": _name(fn), "defaults": describe(fn.__defaults__, context),
             "keyword defaults": describe(fn.__kwdefaults__, context), "closure": closure}
    if _origin(fn) == "user":  # notebook code; advlab's own source is in every key already
        parts["source"] = _source(fn)
        parts["globals"] = {name: describe(fn.__globals__[name], context)
                            for name in sorted(_global_names(fn.__code__)) if name in fn.__globals__}
    return ["function", parts]


def _describe_class(cls: type, context):
    if _origin(cls) != "user":
        return ["class", _name(cls)]
    methods = {name: describe(member, context) for name, member in sorted(vars(cls).items())
               if isinstance(member, (types.FunctionType, staticmethod, classmethod, property))}
    return ["class", _name(cls), [_name(base) for base in cls.__mro__[1:]], methods]


def _cell_is_set(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:  # a closure variable not assigned yet
        return False


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the functions and lambdas nested in it) may read as globals."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


def _source(fn) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # no source on disk: the compiled code stands for it
        return fn.__code__.co_code.hex() + repr(fn.__code__.co_consts)


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


@functools.lru_cache(maxsize=None)
def _module_origin(module_name: str) -> str:
    """"advlab", "library" (the standard library or an installed package), or "user": code written for
    this run, a notebook (``__main__``), a test or a benchmark script."""
    root = module_name.split(".")[0]
    if root == "advlab":
        return "advlab"
    if module_name == "__main__":
        return "user"
    if root in sys.stdlib_module_names or root == "builtins":
        return "library"
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return "library" if not path or "site-packages" in path or "dist-packages" in path else "user"


def _origin(obj) -> str:
    return _module_origin(getattr(obj, "__module__", None) or "builtins")


def _tensor_digest(tensor: torch.Tensor) -> str:
    data = tensor.detach().cpu().contiguous().reshape(-1)
    if data.dtype == torch.bool:
        data = data.to(torch.uint8)
    return hashlib.blake2b(data.view(torch.uint8).numpy().tobytes(), digest_size=16).hexdigest()


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """A digest of the source of every advlab module that computes numbers (all but the presentation ones)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[0] not in PRESENTATION_MODULES:
            digest.update("/".join(parts).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _signature(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none
        return None


def _bound_arguments(signature: inspect.Signature | None, args: tuple, kwargs: Mapping) -> dict:
    """The call's arguments by parameter name, defaults filled in, in the signature's order.

    So one call written two ways (keywords in another order, a default spelled out or left
    out, an argument by position or by name) has one key.
    """
    try:
        bound = signature.bind(*args, **kwargs)
    except (AttributeError, TypeError):  # no signature, or a call fn itself will refuse: key on what was given
        return {"args": list(args), "kwargs": dict(sorted(kwargs.items()))}
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments[name] = dict(sorted(arguments[name].items()))
    return arguments


def _key(kind: str, *objects) -> str:
    return fingerprint(kind, FORMAT, code_version(), torch.__version__, str(config.get_device().type), *objects)


# ----------------------------------------------------------------------------- the files
def _path(key: str) -> Path:
    return config.runs_dir() / f"{key}.pt"


def _load(key: str) -> dict | None:
    """The entry stored under `key`, or None (missing, damaged, foreign, or retraining asked for)."""
    if _settings["retrain"]:
        return None
    try:
        entry = torch.load(_path(key), map_location="cpu", weights_only=True)
    except Exception:  # missing, truncated, corrupt, or not a torch file at all: compute it again
        return None
    return entry if isinstance(entry, dict) and entry.get("format") == FORMAT else None


def _store(key: str, entry: dict) -> None:
    """Write atomically (temporary file, then rename), so a killed run or a second process never reads half a file."""
    try:
        path = _path(key)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"format": FORMAT} | entry, temporary)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only or full disk: the result is computed, only the cache misses it


def clear() -> int:
    """Delete every stored run and evaluation; the number of files removed."""
    removed = 0
    for path in config.runs_dir().glob("*.pt"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


# ----------------------------------------------------------------------------- random-number state
def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _attribute_digests(objects: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """For each stateful object (a loss term, a metric object), a digest of each attribute."""
    return {name: {attr: fingerprint(value) for attr, value in vars(obj).items()}
            for name, obj in objects.items() if _is_stateful(obj)}


def _is_stateful(obj) -> bool:
    return hasattr(obj, "__dict__") and not isinstance(obj, (types.FunctionType, types.MethodType, nn.Module, type))


def _changed_attributes(objects: Mapping[str, object], before: dict) -> dict:
    """The attributes a run changed on its objects (a generator's draws, a term's last value), as plain data."""
    changed = {}
    for name, digests in before.items():
        for attr, value in vars(objects[name]).items():
            if digests.get(attr) != fingerprint(value):
                stored = ["generator", value.get_state()] if isinstance(value, torch.Generator) else value
                if _is_plain(stored):
                    changed.setdefault(name, {})[attr] = stored
    return changed


def _restore_attributes(objects: Mapping[str, object], changed: dict) -> None:
    for name, attributes in changed.items():
        if name not in objects:
            continue
        for attr, value in attributes.items():
            current = getattr(objects[name], attr, None)
            if isinstance(current, torch.Generator) and isinstance(value, list) and value[:1] == ["generator"]:
                current.set_state(value[1])
            else:
                setattr(objects[name], attr, value)


def _is_plain(value) -> bool:
    """Whether `value` survives ``torch.save`` + ``torch.load(weights_only=True)`` as itself."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _is_plain(v) for k, v in value.items())
    return False


# ----------------------------------------------------------------------------- training runs
def fit(model: nn.Module, train_data: tuple[torch.Tensor, torch.Tensor], **fit_kwargs) -> History:
    """``advlab.train.fit(model, train_data, **fit_kwargs)`` through the run cache.

    The first call with these arguments trains (live plot and all) and stores the weights after
    every epoch, the curves and the random-number state the run left behind; later calls load
    them into `model` instead, and print that they did. Returns the History either way, with
    ``history.states[e - 1]`` the weights after epoch e and ``history.loaded`` True on a hit.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if fit_kwargs.get("optimizer") is not None:
        raise TypeError("runs.fit does not take an optimizer (its state after training is not stored): "
                        "pass lr, or call advlab.train.fit")
    metrics = dict(fit_kwargs.pop("metrics", None) or {})
    title = fit_kwargs.get("title")
    training = _bound_arguments(_FIT_SIGNATURE, (model, train_data), fit_kwargs | {"metrics": None})
    training = {k: v for k, v in training.items() if k not in FIT_DISPLAY_ARGUMENTS | {"model", "train_data", "metrics"}}
    run_key = _key("fit", model, train_data, training)
    metrics_key = _key("fit metrics", run_key, metrics)
    terms = dict(fit_kwargs.get("extra_losses") or {})
    run, measured = _load(run_key), _load(metrics_key) if metrics else {"curves": {}, "changed": {}}
    if run is None:
        return _train_and_store(model, train_data, fit_kwargs, metrics, terms, run_key, metrics_key)
    if measured is None:
        measured = _measure_stored_epochs(model, run["states"], metrics, metrics_key)
    _load_state(model, run["states"][-1])
    _restore_attributes(terms, run["changed"])
    _restore_attributes(metrics, measured["changed"])
    _set_rng_state(run["rng"])
    history = _history_from(run, measured)
    if fit_kwargs.get("live", True):
        plot = LivePlot(title=title)
        plot.update(history, final=True)
        history.figure = plot.fig
    print(f"{title or 'training run'}: loaded the stored run ({run['cpu_seconds']:.0f} s of CPU when it was trained; "
          f"retrain = True trains it again)")
    return history


def _train_and_store(model, train_data, fit_kwargs, metrics, terms, run_key, metrics_key) -> History:
    states = []
    before_terms, before_metrics = _attribute_digests(terms), _attribute_digests(metrics)
    cpu_started = time.process_time()
    history = train_fit(model, train_data, metrics=metrics, **fit_kwargs,
                        on_epoch_end=lambda m, epoch: states.append(_cpu_state(m)))
    cpu_seconds = time.process_time() - cpu_started
    curves = {name: list(points) for name, points in history.items()}
    _store(run_key, {"states": states, "rng": _rng_state(), "changed": _changed_attributes(terms, before_terms),
                     "curves": {n: c for n, c in curves.items() if n not in metrics}, "order": list(curves),
                     "epoch_seconds": list(history.epoch_seconds),
                     "epoch_cpu_seconds": list(history.epoch_cpu_seconds), "cpu_seconds": cpu_seconds})
    if metrics:
        _store(metrics_key, {"curves": {n: curves[n] for n in metrics}, "changed": _changed_attributes(metrics, before_metrics)})
    history.states, history.loaded = states, False
    return history


def _measure_stored_epochs(model, states, metrics, metrics_key) -> dict:
    """The metrics of a stored run whose weights are known but whose metrics are new: evaluated on each epoch's weights."""
    before = _attribute_digests(metrics)
    curves = {name: [] for name in metrics}
    device = model_device(model)
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for epoch, state in enumerate(states, start=1):
            _load_state(model, state)
            model.eval()
            for name, metric in metrics.items():
                curves[name].append((float(epoch), float(metric(model))))
    model.train(was_training)
    measured = {"curves": curves, "changed": _changed_attributes(metrics, before)}
    _store(metrics_key, measured)
    return measured


def _history_from(run: dict, measured: dict) -> History:
    history = History()
    curves = run["curves"] | measured["curves"]
    for name in [n for n in run["order"] if n in curves] + [n for n in curves if n not in run["order"]]:
        history[name] = [tuple(point) for point in curves[name]]
    history.epoch_seconds = list(run["epoch_seconds"])
    history.epoch_cpu_seconds = list(run["epoch_cpu_seconds"])
    history.states, history.loaded = run["states"], True
    return history


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _load_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    model.load_state_dict(state)  # load_state_dict copies onto the model's own device


# ----------------------------------------------------------------------------- evaluations
def cached(label: str, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, computed once per distinct call and then loaded.

    For costly evaluations of a (usually cached) model: an attack cascade, an accuracy-vs-eps
    sweep, a certification. The key is the function and every argument (a model by its weights),
    plus torch's global random-number state at the call, so a result that drew random numbers is
    reused only where it would draw the same ones. The result must be plain data (numbers,
    strings, tensors, and lists, tuples and dicts of them) or an advlab dataclass such as
    ``evaluate.WorstCase``. `label` names it in the line printed on a hit.
    """
    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty string naming the result, got {label!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    key = _key("cached", fn, _bound_arguments(_signature(fn), args, kwargs), _rng_state())
    generators = {str(i): a for i, a in enumerate([*args, *kwargs.values()]) if isinstance(a, torch.Generator)}
    entry = _load(key)
    if entry is not None:
        for i, state in entry["generators"].items():
            generators[i].set_state(state)
        _set_rng_state(entry["rng"])
        print(f"{label}: loaded the stored result ({entry['cpu_seconds']:.0f} s of CPU when it was computed)")
        return _rebuild(entry["value"])
    cpu_started = time.process_time()
    value = fn(*args, **kwargs)
    stored = _plain(value, "the result")
    _store(key, {"value": stored, "rng": _rng_state(), "cpu_seconds": time.process_time() - cpu_started,
                 "generators": {i: g.get_state() for i, g in generators.items()}})
    return value


DATACLASS_TAG = "advlab dataclass"


def _plain(value, where: str):
    """`value` as plain data; an advlab dataclass becomes a tagged dict that :func:`_rebuild` turns back."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and type(value).__module__.startswith("advlab."):
        fields = {f.name: _plain(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}
        return {DATACLASS_TAG: f"{type(value).__module__}:{type(value).__qualname__}", "fields": fields}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if not _is_plain(value):
        raise TypeError(f"{where} is a {type(value).__name__}: a cached result must be plain data "
                        "(numbers, strings, tensors, lists, tuples, dicts) or an advlab dataclass")
    return value


def _rebuild(value):
    if isinstance(value, dict) and DATACLASS_TAG in value:
        module_name, qualname = value[DATACLASS_TAG].split(":")
        if not module_name.startswith("advlab."):
            raise ValueError(f"refusing to rebuild {value[DATACLASS_TAG]}: only advlab's dataclasses are stored")
        cls = importlib.import_module(module_name)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls(**{name: _rebuild(v) for name, v in value["fields"].items()})
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v) for v in value)
    if isinstance(value, dict):
        return {k: _rebuild(v) for k, v in value.items()}
    return value

