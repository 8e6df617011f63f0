"""The exercises' language layer: a hint is an English template with named fields, rendered in the learner's language.

A checker writes every sentence a learner reads as ``text(template, **values)``::

    raise Wrong(text("at eps = {eps} the FGSM accuracy is still {accuracy:.1%}, not below 50 %: go higher.",
                     eps=eps, accuracy=accuracy), mistake="too_small")

The English template is the reference and the key: ``str()`` of a :class:`Text` is English, so
whatever prints a hint keeps working; ``.render("zh")`` looks the template up in the Chinese
catalogue (:mod:`advlab.exercises.zh`) and formats the translation with the same values. A
value may itself be a Text (a phrase such as "the adversarial batch") or a :func:`listing`:
it is rendered in the same language. Any other value (a number, the learner's own exception
message, a piece of code) is formatted as it is, the same in every language.

``tests/test_exercises_language.py`` reads every ``text("...")`` call of the package with
``ast``: each template must have a translation with exactly the same fields.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Iterable

from .. import config

REFERENCE = "en"  # the language the templates are written in
SEPARATORS = {"en": "; ", "zh": "；"}  # between the items of a listing


class Text:
    """A template and its values; ``str()`` is English, ``render(lang)`` any supported language."""

    __slots__ = ("template", "values")

    def __init__(self, template: str, values: dict | None = None):
        self.template, self.values = template, dict(values or {})

    def render(self, lang: str = REFERENCE) -> str:
        """The template in `lang` (the English one when the catalogue lacks it), formatted with the values."""
        template = self.template if lang == REFERENCE else catalogue(lang).get(self.template, self.template)
        values = {key: render(value, lang) if isinstance(value, (Text, Listing)) else value
                  for key, value in self.values.items()}
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):  # a broken translation must not break the notebook: English
            if template == self.template:
                raise
            return self.template.format(**values)

    def __str__(self) -> str:
        return self.render(REFERENCE)

    def __repr__(self) -> str:
        values = "".join(f", {key}={value!r}" for key, value in self.values.items())
        return f"text({self.template!r}{values})"

    def __bool__(self) -> bool:
        return bool(self.template)


class Listing:
    """Items (Texts or strings) joined by the language's list separator ("a; b" in English, "a；b" in Chinese),
    or by a fixed `separator` ("" to concatenate)."""

    __slots__ = ("items", "separator")

    def __init__(self, items: Iterable, separator: str | None = None):
        self.items, self.separator = list(items), separator

    def render(self, lang: str = REFERENCE) -> str:
        separator = SEPARATORS[config.language(lang)] if self.separator is None else self.separator
        return separator.join(render(item, lang) for item in self.items)

    def __str__(self) -> str:
        return self.render(REFERENCE)

    def __repr__(self) -> str:
        return f"listing({self.items!r})"


def text(template: str, /, **values) -> Text:
    """A sentence for the learner: an English `template` (str.format fields) and the values of its fields."""
    return Text(template, values)


def listing(items: Iterable) -> Listing:
    return Listing(items)


def concat(*parts) -> Listing:
    """Texts and strings one after the other, each rendered in the same language."""
    return Listing(parts, separator="")


def render(message, lang: str = REFERENCE) -> str:
    """`message` in `lang`: a Text or Listing is rendered, anything else (a plain string, a number) is str()."""
    if isinstance(message, (Text, Listing)):
        return message.render(lang)
    return str(message)


def catalogue(lang: str) -> dict[str, str]:
    """English template -> template in `lang` (the module ``advlab.exercises.<lang>``'s CATALOGUE)."""
    lang = config.language(lang)
    if lang == REFERENCE:
        return {}
    return importlib.import_module(f"{__package__}.{lang}").CATALOGUE


def fields(template: str) -> set[str]:
    """The names of a template's fields, those nested in a format spec too ("{x:.{digits}f}" -> x, digits)."""
    names = set()
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            names.add(name.split(".")[0].split("[")[0])
        if spec:
            names |= fields(spec)
    return names
