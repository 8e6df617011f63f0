"""Graded exercises: a learner checks an answer and gets a verdict that teaches.

In a notebook::

    from advlab import exercises
    reference_answers = exercises.use_solutions(solutions)   # True under nbval/papermill when solutions=None

    def my_fgsm(model, x, y, eps):
        ...  # your code here

    if reference_answers:
        my_fgsm = exercises.solution("01.fgsm")
    result = exercises.check("01.fgsm", my_fgsm)            # prints ✓ / ✗ with a hint / … not attempted yet
    assert result.passed or not reference_answers, result.message

Each notebook's exercises live in their own module (``nb01.py`` ...), registered with the
``@exercise(name, title, solution=...)`` decorator; adding a notebook's set is one new module
and one line below. ``exercises.names("01")`` lists a notebook's exercises.

The verdict speaks the learner's language: ``check(..., lang=None)`` follows ``config.language()``
(ADVLAB_LANG, else "zh" when the kernel runs in notebooks/zh/), ``lang="en"``/``"zh"`` forces it.
Every hint is an English template, ``text("...", **values)`` (:mod:`.language`), with its Chinese
twin in :mod:`.zh`; the English text is the reference.
"""

from __future__ import annotations

# importing a module registers its exercises; nb08-nb10 are ready for the notebooks written in parallel
from . import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10, nb11, nb12  # noqa: F401
from .core import REGISTRY, Result, check, solution, use_solutions

__all__ = ["Result", "check", "names", "solution", "use_solutions"]


def names(notebook: str | None = None) -> list[str]:
    """The registered exercise names, all or those of one notebook ("01")."""
    return sorted(name for name in REGISTRY if notebook is None or name.split(".")[0] == notebook)
