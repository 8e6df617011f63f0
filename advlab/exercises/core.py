"""The machinery behind every graded exercise: a registry, the verdict, and the checking helpers.

An exercise is registered once, with its reference answer and a checker::

    @exercise("01.fgsm", "FGSM from memory", solution=reference_fgsm)
    def check_fgsm(answer, **context) -> str:
        ...   # raise Wrong("hint", mistake="no_clip") for a recognised mistake
        return "what was verified"

``check(name, answer)`` runs the checker and turns everything into one printed verdict and a
:class:`Result`: a blank answer is "not attempted yet", a :class:`Wrong` is a ✗ with its hint,
an exception raised by the learner's own code is a ✗ with that exception's message. A checker
never lets an exception escape: the notebook keeps running whatever the learner typed.
"""

from __future__ import annotations

import contextlib
import copy
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Real

import torch
from torch import nn

from .. import config

PASS, FAIL, BLANK = "✓", "✗", "…"


@dataclass
class Result:
    """The verdict on one answer. `mistake` names the recognised mistake (None when passed or unrecognised)."""

    name: str
    passed: bool
    message: str
    attempted: bool = True
    mistake: str | None = None

    def __str__(self) -> str:
        mark = PASS if self.passed else (FAIL if self.attempted else BLANK)
        return f"{mark} {self.name}: {self.message}"


class Wrong(Exception):
    """Raised by a checker for a wrong answer; `hint` is what the learner reads."""

    def __init__(self, hint: str, mistake: str | None = None):
        super().__init__(hint)
        self.hint, self.mistake = hint, mistake


class LearnerError(Wrong):
    """The learner's own code raised an exception."""


class NotAttempted(Exception):
    """The answer is still the blank (None, or a function that returns None)."""


@dataclass
class Exercise:
    name: str
    title: str
    solution: Callable  # solution(**context) -> the reference answer
    checker: Callable  # checker(answer, **context) -> str (what was verified); raises Wrong
    needs: tuple[str, ...] = field(default_factory=tuple)  # context the notebook must pass


REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, title: str, solution: Callable, needs: Iterable[str] = ()):
    """Decorator: register `checker` under `name` ("NN.short_name") with its reference solution."""

    def register(checker: Callable) -> Callable:
        if name in REGISTRY:
            raise ValueError(f"exercise {name!r} is registered twice")
        REGISTRY[name] = Exercise(name, title, solution, checker, tuple(needs))
        return checker

    return register


# ----------------------------------------------------------------------------- public entry points
def use_solutions(solutions: bool | None = None) -> bool:
    """Whether the notebook fills the graded cells with the reference answers.

    ``solutions=None`` (the notebooks' default): yes exactly when nobody watches
    (``config.headless()``: nbval, papermill), so CI proves every checker accepts the right
    answer in context while a learner's own run starts with the blanks. True/False force it.
    """
    if solutions is None:
        return config.headless()
    if not isinstance(solutions, bool):
        raise TypeError(f"solutions must be True, False or None, got {solutions!r}")
    return solutions


def _lookup(name: str) -> Exercise:
    if not isinstance(name, str) or name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"name must be one of the registered exercises ({known}); got {name!r}")
    return REGISTRY[name]


def solution(name: str, **context):
    """The reference answer of exercise `name` (a function or a value)."""
    exercise_ = _lookup(name)
    _check_context(exercise_, context)
    return exercise_.solution(**context)


def check(name: str, answer, *, quiet: bool = False, **context) -> Result:
    """Check `answer` to exercise `name`; print the verdict (unless `quiet`) and return it as a Result."""
    exercise_ = _lookup(name)
    _check_context(exercise_, context)
    try:
        if answer is None or answer is Ellipsis:
            raise NotAttempted
        verified = exercise_.checker(answer, **context)
        result = Result(name, True, verified)
    except NotAttempted as blank:
        result = Result(name, False, "not attempted yet: replace the blank (None or `...`) with your answer, "
                        f"then run this cell again.{blank}", attempted=False)
    except Wrong as wrong:
        result = Result(name, False, wrong.hint, mistake=wrong.mistake)
    except Exception as error:  # a checker must never crash the notebook, whatever it was given
        result = Result(name, False, f"the checker could not use your answer ({type(error).__name__}: {error}).",
                        mistake="unusable")
    if not quiet:
        print(result)
    return result


def _check_context(exercise_: Exercise, context: dict) -> None:
    missing = [key for key in exercise_.needs if key not in context]
    if missing:
        raise TypeError(f"exercise {exercise_.name!r} needs the keyword arguments {missing} (from the notebook)")


# ----------------------------------------------------------------------------- helpers for checkers
def call(function, *args, **kwargs):
    """Run the learner's `function`; its exceptions become a ✗ that quotes them; None means not attempted."""
    if not callable(function):
        raise Wrong(f"expected a function, got {type(function).__name__} {_short(function)}.", mistake="not_callable")
    try:
        value = function(*args, **kwargs)
    except Wrong:
        raise
    except Exception as error:
        raise LearnerError(f"your code raised {type(error).__name__}: {error}{_where(error)}.",
                           mistake="exception") from None
    if value is None or value is Ellipsis:
        raise NotAttempted(" (Your function returned None: is a `return` missing?)")
    return value


def expect_tensor(value, shape: Iterable[int], what: str = "the result",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`value` must be a tensor of `shape` and `dtype` (floating types accept any float dtype)."""
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch.Tensor, got {type(value).__name__}.", mistake="type")
    shape = tuple(shape)
    if tuple(value.shape) != shape:
        raise Wrong(f"{what} has shape {list(value.shape)}; expected {list(shape)}.", mistake="shape")
    if dtype.is_floating_point and not value.is_floating_point():
        raise Wrong(f"{what} has dtype {value.dtype}; expected a float tensor ({dtype}).", mistake="dtype")
    if not dtype.is_floating_point and value.dtype != dtype:
        raise Wrong(f"{what} has dtype {value.dtype}; expected {dtype}.", mistake="dtype")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise Wrong(f"{what} contains NaN or infinite values.", mistake="nan")
    return value.detach().to(torch.float32) if value.is_floating_point() else value.detach()


def expect_number(value, what: str = "your answer") -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):  # Real: also numpy's numbers
        raise Wrong(f"{what} should be a number, got {type(value).__name__} {_short(value)}.", mistake="type")
    return float(value)


def same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, share: float = 0.999) -> bool:
    """True when at least `share` of the entries agree within `atol` (sign() of a near-zero gradient may differ)."""
    if a.shape != b.shape:
        return False
    return ((a.float() - b.float()).abs() <= atol).float().mean().item() >= share


def diagnose(value: torch.Tensor, mistakes: Iterable[tuple[str, torch.Tensor | None, str]], **same_kwargs) -> None:
    """Raise Wrong with the hint of the first catalogued mistake whose output equals `value`."""
    for key, wrong_value, hint in mistakes:
        if wrong_value is not None and same(value, wrong_value, **same_kwargs):
            raise Wrong(hint, mistake=key)


def describe_difference(value: torch.Tensor, reference: torch.Tensor, atol: float = 1e-5) -> str:
    off = ((value.float() - reference.float()).abs() > atol).float().mean().item()
    return (f"{off:.1%} of the entries differ from the reference (largest difference "
            f"{(value.float() - reference.float()).abs().max().item():.3g})")


@contextlib.contextmanager
def watched(model: nn.Module, *tensors: torch.Tensor):
    """Run the learner's code on `model` and `tensors`; afterwards, raise Wrong for any side effect.

    Side effects: an input tensor changed in place, a parameter changed, gradients left in
    a parameter's ``.grad``, the train/eval mode changed. The model is put back as it was,
    so one wrong answer never spoils the next check.
    """
    saved_tensors = [t.detach().clone() for t in tensors]
    saved_flags = [t.requires_grad for t in tensors]
    saved_state = copy.deepcopy(model.state_dict())
    modes = {name: m.training for name, m in model.named_modules()}
    for p in model.parameters():
        p.grad = None
    try:
        yield
    finally:
        changed_input = any(not torch.equal(t, s) or t.requires_grad != flag
                            for t, s, flag in zip(tensors, saved_tensors, saved_flags))
        for t, s, flag in zip(tensors, saved_tensors, saved_flags):
            if not torch.equal(t, s):
                t.data.copy_(s)
            if t.requires_grad != flag and t.is_leaf:
                t.requires_grad_(flag)
            t.grad = None
        state = model.state_dict()
        changed_params = any(not torch.equal(state[k], v) for k, v in saved_state.items())
        grads = any(p.grad is not None for p in model.parameters())
        changed_mode = any(m.training != modes[name] for name, m in model.named_modules())
        if changed_params:  # only then: an in-place restore would break the graph of a returned loss
            model.load_state_dict(saved_state)
        for p in model.parameters():
            p.grad = None
        model.train(modes[""])
        for name, m in model.named_modules():
            m.training = modes[name]
    if changed_input:
        raise Wrong("you mutated the input: x changed in place (e.g. `x += ...`, `x.add_()`, `x.data = ...`, or "
                    "`x.requires_grad_()` on the caller's tensor). Work on a copy: `x = x.clone()` or "
                    "`x_adv = x + ...`.", mistake="mutated_input")
    if grads:
        raise Wrong("gradients were left in the model's parameters (`.grad` is set): you took the gradient with "
                    "respect to the parameters too, e.g. with `loss.backward()`. Ask for the input's gradient only: "
                    "`(grad,) = torch.autograd.grad(loss, x)`.", mistake="param_grad")
    if changed_params:
        raise Wrong("the model's parameters changed: an attack or a loss must not train or edit the model "
                    "(no optimizer step, no in-place edits of the weights).", mistake="changed_params")
    if changed_mode:
        raise Wrong("the model's train/eval mode changed: put it back as you found it "
                    "(`was_training = model.training; model.eval(); ...; model.train(was_training)`).",
                    mistake="changed_mode")


def _where(error: Exception) -> str:
    """' (line N: `code`)' for the innermost frame outside this module, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    return f" (line {frames[-1].lineno}: `{(frames[-1].line or '').strip()}`)"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
