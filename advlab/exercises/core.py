"""The machinery behind every graded exercise: a registry, the verdict, and the checking helpers.

An exercise is registered once, with its reference answer and a checker::

    @exercise("01.fgsm", "FGSM from memory", solution=reference_fgsm)
    def check_fgsm(answer, **context) -> Text | Findings:
        ...   # raise Wrong(text("hint"), mistake="no_clip") for a recognised mistake
        return text("what was verified")

A checker whose answer has several independent properties (the images, the input left alone,
the model's mode restored, ...) checks each of them and returns :class:`Findings`, so that a
learner who got the maths right but forgot one detail reads both: what held and what failed,
the most fundamental failure first.

Every sentence a learner reads is an English template with named fields, ``text("...", **values)``
(:mod:`.language`), rendered in the learner's language: ``check(name, answer, lang=None)`` follows
``config.language()`` ("zh" in the Chinese edition), the English text being the reference.

``check(name, answer)`` runs the checker and turns everything into one printed verdict and a
:class:`Result`: a blank answer is "not attempted yet", a :class:`Wrong` is a ✗ with its hint,
an exception raised by the learner's own code is a ✗ with that exception's message, an answer
that runs past ``TIME_LIMIT_S`` is a ✗ saying so. A checker never lets an exception escape: the
notebook keeps running whatever the learner typed. Whatever the answer does to torch's global
state (random stream, thread count, grad mode, default dtype) is undone after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from numbers import Real

import torch
from torch import nn

from .. import config
from .language import Listing, Text, concat, listing, render, text

PASS, FAIL, BLANK = "✓", "✗", "…"
TIME_LIMIT_S = 30.0  # CPU seconds one call of the learner's code may use (a correct answer takes well under 1)


@dataclass
class Result:
    """The verdict on one answer.

    `message` is in the language `lang` it was judged in; ``message_in("en")`` is the same verdict
    in another language. `mistake` names the most fundamental recognised mistake (None when passed
    or unrecognised), `mistakes` every failed property's mistake in order, `held` the properties
    that held, by their English names (the reference, the same in every language: the message
    lists them in `lang`).
    """

    name: str
    passed: bool
    message: str
    attempted: bool = True
    mistake: str | None = None
    mistakes: tuple[str | None, ...] = ()
    held: tuple[str, ...] = ()
    lang: str = "en"
    message_text: Text | Listing | str | None = field(default=None, repr=False, compare=False)  # any language

    def __str__(self) -> str:
        mark = PASS if self.passed else (FAIL if self.attempted else BLANK)
        return f"{mark} {self.name}: {self.message}"

    def message_in(self, lang: str) -> str:
        """The message of this verdict in `lang` ("en": the reference text)."""
        lang = config.language(lang)
        return self.message if self.message_text is None else render(self.message_text, lang)


class Wrong(Exception):
    """Raised by a checker for a wrong answer; `hint` is what the learner reads (a Text: see :mod:`.language`)."""

    def __init__(self, hint: Text | str, mistake: str | None = None):
        super().__init__(hint)
        self.hint, self.mistake = hint, mistake


class LearnerError(Wrong):
    """The learner's own code raised an exception."""


class NotAttempted(Exception):
    """The answer is still the blank (None, or a function that returns None); `note` adds to the message."""

    def __init__(self, note: Text | str = ""):
        super().__init__(note)
        self.note = note


class TimedOut(BaseException):
    """The learner's code ran past the time limit (a BaseException: the learner's `except Exception` can't hide it)."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


@dataclass
class Finding:
    """One property of an answer, checked on its own: `ok` if it held; `message` is the hint when it failed."""

    prop: Text | str  # the property in a few words, read in the "held:" list ("the input untouched")
    ok: bool
    message: Text | str = ""  # failed: the hint; held: what was verified ("" says no more than `prop`)
    mistake: str | None = None


class Findings(list):
    """The properties of one answer, in the order a checker verifies them: the most fundamental first."""

    def verify(self, prop: Text | str, check: Callable, *args) -> bool:
        """Run ``check(*args)``, which returns what it verified or raises Wrong; record it; return whether it held."""
        try:
            message = check(*args)
        except Wrong as wrong:
            self.append(Finding(prop, False, wrong.hint, wrong.mistake))
            return False
        self.append(Finding(prop, True, message or ""))
        return True


@dataclass
class Exercise:
    name: str
    title: str
    solution: Callable  # solution(**context) -> the reference answer
    checker: Callable  # checker(answer, **context) -> str (what was verified) or Findings; raises Wrong
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


def check(name: str, answer, *, lang: str | None = None, quiet: bool = False, **context) -> Result:
    """Check `answer` to exercise `name`; print the verdict (unless `quiet`) and return it as a Result.

    The verdict is in `lang`, "en" or "zh"; None: ``config.language()`` (ADVLAB_LANG, else the
    notebook's edition: "zh" when the kernel runs in notebooks/zh/).
    """
    lang = config.language(lang)
    exercise_ = _lookup(name)
    _check_context(exercise_, context)
    with torch_state_kept():
        result = _judge(exercise_, answer, context, lang)
    if not quiet:
        print(result)
    return result


def _judge(exercise_: Exercise, answer, context: dict, lang: str) -> Result:
    """Run the checker on `answer` and turn whatever comes out, or is raised, into a Result in `lang`."""
    name = exercise_.name
    try:
        if answer is None or answer is Ellipsis:
            raise NotAttempted
        return verdict(name, exercise_.checker(answer, **context), lang)
    except NotAttempted as blank:
        message = text("not attempted yet: replace the blank (None or `...`) with your answer, then run this cell "
                       "again.{note}", note=blank.note)
        return Result(name, False, render(message, lang), attempted=False, lang=lang, message_text=message)
    except TimedOut as timeout:
        message = text("your answer computed for {seconds:g} s of CPU time without returning: look for a loop that "
                       "never ends (`while True:`, or a condition that never changes).", seconds=timeout.seconds)
        return Result(name, False, render(message, lang), mistake="timeout", mistakes=("timeout",), lang=lang,
                      message_text=message)
    except Wrong as wrong:
        return Result(name, False, render(wrong.hint, lang), mistake=wrong.mistake, mistakes=(wrong.mistake,),
                      lang=lang, message_text=wrong.hint)
    except Exception as error:  # a checker must never crash the notebook, whatever it was given
        message = text("the checker could not use your answer ({kind}: {error}).", kind=type(error).__name__,
                       error=str(error))
        return Result(name, False, render(message, lang), mistake="unusable", mistakes=("unusable",), lang=lang,
                      message_text=message)


def verdict(name: str, outcome: Text | str | Findings, lang: str | None = None) -> Result:
    """The Result of a checker's outcome: a Text (everything verified) or Findings (property by property).

    With Findings, a failed answer reads its failures in the checker's order (the most
    fundamental first), numbered when there are several, then the properties that held.
    The message is in `lang` (None: ``config.language()``); `held` keeps the English names.
    """
    lang = config.language(lang)
    if not isinstance(outcome, Findings):
        return Result(name, True, render(outcome, lang), lang=lang, message_text=outcome)
    failed = [f for f in outcome if not f.ok]
    held = [f.prop for f in outcome if f.ok]
    held_names = tuple(str(prop) for prop in held)
    if not failed:
        message = listing(f.message or f.prop for f in outcome)
        return Result(name, True, render(message, lang), held=held_names, lang=lang, message_text=message)
    if len(failed) == 1:
        message = concat(failed[0].message)
    else:
        message = concat(text("{count} problems, the most fundamental first:", count=len(failed)),
                         *(concat(f"\n  {i}. ", f.message) for i, f in enumerate(failed, 1)))
    if held:
        message = concat(message, "\n  ", text("held: {properties}.", properties=listing(held)))
    return Result(name, False, render(message, lang), mistake=failed[0].mistake,
                  mistakes=tuple(f.mistake for f in failed), held=held_names, lang=lang, message_text=message)


def _check_context(exercise_: Exercise, context: dict) -> None:
    missing = [key for key in exercise_.needs if key not in context]
    if missing:
        raise TypeError(f"exercise {exercise_.name!r} needs the keyword arguments {missing} (from the notebook)")


# ----------------------------------------------------------------------------- helpers for checkers
def call(function, *args, **kwargs):
    """Run the learner's `function`; its exceptions become a ✗ that quotes them; None means not attempted.

    It runs under ``learner_code()``: at most TIME_LIMIT_S seconds of CPU time, and torch's global state put
    back afterwards, so one answer cannot change what the checker or the next cell sees.
    """
    if not callable(function):
        raise Wrong(text("expected a function, got {kind} {value}.", kind=type(function).__name__,
                         value=_short(function)), mistake="not_callable")
    try:
        with learner_code():
            value = function(*args, **kwargs)
    except Wrong:
        raise
    except Exception as error:
        raise LearnerError(text("your code raised {kind}: {error}{where}.", kind=type(error).__name__,
                                error=str(error), where=_where(error)), mistake="exception") from None
    if value is None or value is Ellipsis:
        raise NotAttempted(text(" (Your function returned None: is a `return` missing?)"))
    return value


@contextlib.contextmanager
def learner_code():
    """Around the learner's code: a time bound, and torch's global state restored afterwards."""
    with torch_state_kept(), time_bound(TIME_LIMIT_S):
        yield


@contextlib.contextmanager
def torch_state_kept():
    """Undo, also on an exception, what the code inside did to torch's random stream, threads, grad mode, dtype."""
    threads, grad_enabled, dtype = torch.get_num_threads(), torch.is_grad_enabled(), torch.get_default_dtype()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        torch.set_grad_enabled(grad_enabled)
        torch.set_default_dtype(dtype)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


@contextlib.contextmanager
def time_bound(seconds: float | None):
    """Raise TimedOut in the code inside once it has used `seconds` of CPU time.

    CPU time, not wall time, so a busy machine (a second notebook, CI beside another job) cannot
    stop an answer that a quiet one would finish. It uses SIGPROF (the process's CPU-time timer),
    so only in the main thread of a platform that has it (Linux, macOS) and only when no other
    profiling timer is set; elsewhere the code runs without a bound.
    """
    if not seconds or not _alarm_free():
        yield
        return

    def expire(signum, frame):
        raise TimedOut(seconds)

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _alarm_free() -> bool:
    """Whether SIGPROF exists here, we are in the main thread, and no CPU-time timer is already set (a profiler)."""
    return (hasattr(signal, "SIGPROF") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_PROF)[0] == 0)


def expect_tensor(value, shape: Iterable[int], what: Text | str | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`value` must be a tensor of `shape` and `dtype` (floating types accept any float dtype).

    `what` names it in a hint: a Text ("the adversarial batch"), or a code name ("r_vadv").
    """
    what = text("the result") if what is None else what
    if not isinstance(value, torch.Tensor):
        raise Wrong(text("{what} should be a torch.Tensor, got {kind}.", what=what, kind=type(value).__name__),
                    mistake="type")
    shape = tuple(shape)
    if tuple(value.shape) != shape:
        raise Wrong(text("{what} has shape {shape}; expected {expected}.", what=what, shape=list(value.shape),
                         expected=list(shape)), mistake="shape")
    if dtype.is_floating_point and not value.is_floating_point():
        raise Wrong(text("{what} has dtype {dtype}; expected a float tensor ({expected}).", what=what,
                         dtype=value.dtype, expected=dtype), mistake="dtype")
    if not dtype.is_floating_point and value.dtype != dtype:
        raise Wrong(text("{what} has dtype {dtype}; expected {expected}.", what=what, dtype=value.dtype,
                         expected=dtype), mistake="dtype")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise Wrong(text("{what} contains NaN or infinite values.", what=what), mistake="nan")
    return value.detach().to(torch.float32) if value.is_floating_point() else value.detach()


def expect_number(value, what: Text | str | None = None) -> float:
    what = text("your answer") if what is None else what
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):  # Real: also numpy's numbers
        raise Wrong(text("{what} should be a number, got {kind} {value}.", what=what, kind=type(value).__name__,
                         value=_short(value)), mistake="type")
    return float(value)


def same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, share: float = 0.999) -> bool:
    """True when at least `share` of the entries agree within `atol` (sign() of a near-zero gradient may differ)."""
    if a.shape != b.shape:
        return False
    return ((a.float() - b.float()).abs() <= atol).float().mean().item() >= share


def diagnose(value: torch.Tensor, mistakes: Iterable[tuple[str, torch.Tensor | None, Text]], **same_kwargs) -> None:
    """Raise Wrong with the hint of the first catalogued mistake whose output equals `value`."""
    for key, wrong_value, hint in mistakes:
        if wrong_value is not None and same(value, wrong_value, **same_kwargs):
            raise Wrong(hint, mistake=key)


def describe_difference(value: torch.Tensor, reference: torch.Tensor, atol: float = 1e-5) -> Text:
    off = ((value.float() - reference.float()).abs() > atol).float().mean().item()
    return text("{share:.1%} of the entries differ from the reference (largest difference {largest:.3g})",
                share=off, largest=(value.float() - reference.float()).abs().max().item())


MUTATED_INPUT = (text("you mutated the input: x changed in place (e.g. `x += ...`, `x.add_()`, `x.data = ...`, or "
                      "`x.requires_grad_()` on the caller's tensor). Work on a copy: `x = x.clone()` or "
                      "`x_adv = x + ...`."), "mutated_input")
PARAM_GRAD = (text("gradients were left in the model's parameters (`.grad` is set): you took the gradient with "
                   "respect to the parameters too, e.g. with `loss.backward()`. Ask for the input's gradient only: "
                   "`(grad,) = torch.autograd.grad(loss, x)`."), "param_grad")
CHANGED_PARAMS = (text("the model's parameters changed: an attack or a loss must not train or edit the model "
                       "(no optimizer step, no in-place edits of the weights)."), "changed_params")
CHANGED_MODE = (text("the model's train/eval mode changed: put it back as you found it "
                     "(`was_training = model.training; model.eval(); ...; model.train(was_training)`)."),
                "changed_mode")


@contextlib.contextmanager
def watched(model: nn.Module, *tensors: torch.Tensor):
    """Run the learner's code on `model` and `tensors`; yield Findings that list its side effects afterwards.

    Pass the learner copies (a fresh model from `fixtures`, cloned tensors): nothing is put
    back, so an answer that returns its mutated input is judged on what it returned. One
    finding per property, in this order: the input untouched, the parameters untouched, no
    `.grad` left, the train/eval mode restored, no hooks / dtype / requires_grad changes.
    """
    findings = Findings()
    before = [t.detach().clone() for t in tensors], [t.requires_grad for t in tensors], _model_state(model)
    for p in model.parameters():
        p.grad = None
    yield findings
    findings.extend(_side_effects(model, tensors, *before))


def _model_state(model: nn.Module) -> dict:
    """What an attack or a loss must leave as it was: values, modes, hooks, dtypes, requires_grad flags."""
    return {
        "values": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "modes": {name: m.training for name, m in model.named_modules()},
        "hooks": _hooks(model),
        "dtypes": {k: (v.dtype, v.device) for k, v in model.state_dict().items()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
    }


def _hooks(model: nn.Module) -> int:
    """How many forward, backward and pre-hooks the model's modules and parameters carry."""
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    on_modules = sum(len(getattr(m, kind, None) or {}) for m in model.modules() for kind in kinds)
    return on_modules + sum(len(p._backward_hooks or {}) for p in model.parameters())


def _side_effects(model, tensors, saved, flags, state) -> Findings:
    """Compare the model and tensors with what they were before the learner's code ran."""
    findings = Findings()
    mutated = any(not torch.equal(t.detach(), s) or t.requires_grad != f for t, s, f in zip(tensors, saved, flags))
    findings.verify(text("the input untouched"), fail_if, mutated, *MUTATED_INPUT)
    now = _model_state(model)
    changed = now["values"].keys() != state["values"].keys() or any(
        v.shape != now["values"][k].shape or not torch.equal(v, now["values"][k].to(v))
        for k, v in state["values"].items())
    findings.verify(text("the parameters untouched"), fail_if, changed, *CHANGED_PARAMS)
    findings.verify(text("no .grad left"), fail_if, any(p.grad is not None for p in model.parameters()), *PARAM_GRAD)
    findings.verify(text("the model's mode restored"), fail_if, now["modes"] != state["modes"], *CHANGED_MODE)
    findings.verify(text("no hooks, dtype or requires_grad changed on the model"), _check_model_settings, state, now)
    return findings


def fail_if(condition: bool, hint: Text | str, mistake: str | None = None) -> None:
    """Raise Wrong(hint) when `condition` holds: a yes/no property, for ``Findings.verify``."""
    if condition:
        raise Wrong(hint, mistake)


def _check_model_settings(before: dict, now: dict) -> None:
    """Raise Wrong naming every hook added, dtype or device changed, requires_grad flag flipped."""
    changes = []
    if now["hooks"] != before["hooks"]:
        changes.append(text("hooks on its modules went from {before} to {now} (remove a hook with the handle "
                            "`register_forward_hook` returned: `handle.remove()`)", before=before["hooks"],
                            now=now["hooks"]))
    if now["dtypes"] != before["dtypes"]:
        changes.append(text("its dtype or device changed (e.g. `model.double()`; convert the input, not the model)"))
    if now["requires_grad"] != before["requires_grad"]:
        changes.append(text("the requires_grad flags of its parameters changed (an attack needs the input's "
                            "gradient only; leave the parameters' flags alone)"))
    if changes:
        raise Wrong(text("your answer changed the model: {changes}.", changes=listing(changes)),
                    mistake="changed_model")


def _where(error: Exception) -> Text | str:
    """' (line N: `code`)' for the innermost frame outside this module, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename != __file__]
    if not frames:
        return ""
    return text(" (line {line}: `{code}`)", line=frames[-1].lineno, code=(frames[-1].line or "").strip())


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
