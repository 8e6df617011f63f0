"""advlab.exercises answers in Chinese in the Chinese edition, the English text being the reference.

* Every ``text("...")`` template of the package (found with ``ast``) has a Chinese entry with the
  same fields and the same numbers; the catalogue has no unused entry; every entry is Chinese; no
  hint bypasses ``text()``. The checking functions are run on planted faults below, so a check
  that stops working fails here.
* The wrong answers of tests/test_exercises.py and tests/test_exercises_nb12.py, judged with
  ``lang="zh"``, get the mistakes the English tests expect, a Chinese message on every line, and
  the numbers of the same verdict in English (``result.message_in("en")``, which equals what
  ``lang="en"`` prints: checked on a sample).
* The default follows ``config.language()``: ADVLAB_LANG, else the edition's folder (notebooks/zh/).
"""

from __future__ import annotations

import ast
import os
import re
import string
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch
from test_exercises import MULTI, WRONG  # the English tests' catalogue of wrong answers, judged again here
from test_exercises_nb12 import MULTI as MULTI_12, WRONG as WRONG_12  # notebook 12's, in its own file

from advlab import exercises
from advlab.exercises import core, language, zh
from advlab.exercises.language import text

PACKAGE = Path(exercises.__file__).resolve().parent
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
# the calls that take a hint or a property's name, and the position of that argument
HINT_ARGUMENT = {"Wrong": 0, "LearnerError": 0, "NotAttempted": 0, "Finding": 0, "fail_if": 1, "verify": 0}


# ----------------------------------------------------------------------------- the checking functions
def source_files() -> list[Path]:
    """The package's modules that may hold hints (the catalogue and the language layer hold none)."""
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in {"zh.py", "language.py"})


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _is_raw_string(node: ast.expr) -> bool:
    """A string literal, an f-string, or a sum or .format() of them: English that bypasses the catalogue."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_raw_string(node.left) or _is_raw_string(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_raw_string(node.func.value)
    return False


def scan(paths) -> tuple[dict[str, list[str]], list[str]]:
    """(template -> where it is used, problems) for every ``text(...)`` call and hint argument in `paths`.

    Problems: a template that is not a string literal, keywords that differ from the template's
    fields, a raw string where a hint or a property's name is expected.
    """
    used: dict[str, list[str]] = {}
    problems = []
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            where, name = f"{Path(path).name}:{node.lineno}", _name(node.func)
            if name == "text":
                first = node.args[0] if node.args else None
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    problems.append(f"{where}: text() needs a string literal as its template")
                    continue
                used.setdefault(first.value, []).append(where)
                keywords = {k.arg for k in node.keywords}
                if None not in keywords and keywords != language.fields(first.value):
                    problems.append(f"{where}: the fields {sorted(language.fields(first.value))} of "
                                    f"{first.value!r} are given {sorted(keywords)}")
            elif name in HINT_ARGUMENT and len(node.args) > HINT_ARGUMENT[name]:
                shift = 3 if name == "verify" and _name(node.args[1]) == "fail_if" else 0
                for position in {HINT_ARGUMENT[name], HINT_ARGUMENT[name] + shift}:
                    if position < len(node.args) and _is_raw_string(node.args[position]):
                        problems.append(f"{where}: {name}() is given a raw string, not text(...): "
                                        f"{ast.unparse(node.args[position])[:80]}")
    return used, problems


def literal_numbers(template: str) -> Counter:
    """The numbers written in a template's fixed text (not those its fields will show)."""
    literal = "".join(part for part, *_ in string.Formatter().parse(template))
    return Counter(NUMBER.findall(literal))


def field_specs(template: str) -> set[str]:
    """A template's fields as written, with their conversion and format spec: {'{accuracy:.1%}', '{eps}'}."""
    return {"{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            for _, name, spec, conversion in string.Formatter().parse(template) if name is not None}


def catalogue_problems(catalogue: dict[str, str], used) -> list[str]:
    """Everything wrong between the templates `used` and a `catalogue` (English template -> translation)."""
    problems = [f"no Chinese for {t!r} (used at {', '.join(used[t])})" for t in used if t not in catalogue]
    problems += [f"unused catalogue entry {t!r}" for t in catalogue if t not in used]
    for english, chinese in catalogue.items():
        try:
            english_fields, chinese_fields = field_specs(english), field_specs(chinese)
        except ValueError as error:  # an unbalanced brace
            problems.append(f"{english!r} or its translation is not a valid template: {error}")
            continue
        if chinese_fields != english_fields:
            problems.append(f"fields {sorted(chinese_fields)} in the translation of {english!r}, expected "
                            f"{sorted(english_fields)}")
        if not CJK.search(chinese):
            problems.append(f"the translation of {english!r} has no Chinese: {chinese!r}")
        if literal_numbers(chinese) != literal_numbers(english):
            problems.append(f"numbers {sorted(literal_numbers(chinese).elements())} in the translation of "
                            f"{english!r}, expected {sorted(literal_numbers(english).elements())}")
    return problems


# ----------------------------------------------------------------------------- (1) the catalogue is complete
def test_every_template_of_the_package_has_a_chinese_entry_with_the_same_fields_and_numbers():
    used, _ = scan(source_files())
    assert len(used) > 250, "the scan finds the package's templates"
    assert catalogue_problems(zh.CATALOGUE, used) == []


def test_every_hint_and_property_name_goes_through_text():
    _, problems = scan(source_files())
    assert problems == []


def test_every_chinese_template_renders_with_the_values_of_its_english_one():
    for english, chinese in zh.CATALOGUE.items():
        values = {name: 0.5 for name in language.fields(english)}  # every spec used formats a float
        assert str(language.Text(english, values)) == english.format(**values)
        assert language.Text(english, values).render("zh") == chinese.format(**values), english


# ----------------------------------------------------------------------------- (4) the checks catch planted faults
def test_a_planted_untranslated_template_is_found(tmp_path):
    planted = tmp_path / "nb99.py"
    planted.write_text('from .core import Wrong\nfrom .language import text\n\n\ndef check(answer):\n'
                       '    raise Wrong(text("a brand-new hint at eps = {eps}", eps=answer), mistake="new")\n')
    used, _ = scan([*source_files(), planted])
    assert scan([planted])[1] == []
    assert catalogue_problems(zh.CATALOGUE, used) == [
        "no Chinese for 'a brand-new hint at eps = {eps}' (used at nb99.py:6)"]


@pytest.mark.parametrize("fault, message", [
    (lambda c: c.pop("the input untouched"), "no Chinese for 'the input untouched'"),
    (lambda c: c.update({"the input untouched": "the input untouched"}), "has no Chinese"),
    (lambda c: c.update({"a hint nobody uses": "没人用的提示"}), "unused catalogue entry"),
    (lambda c: c.update({"at eps = {eps} the FGSM accuracy is still {accuracy:.1%}, not below 50 %: go higher.":
                         "eps = {eps} 时 FGSM 准确率仍为 {acc:.1%}，没有低于 50 %：再调大一些。"}), "fields ['{acc:.1%}', '{eps}']"),
    (lambda c: c.update({"the sum of 8 real 3s and 8s, clipped to [0, 1]": "真实的 3 和 8 之和，裁剪到 [0, 1]"}),
     "numbers"),
], ids=["missing", "english", "unused", "fields", "numbers"])
def test_a_planted_fault_in_the_catalogue_is_found(fault, message):
    catalogue = dict(zh.CATALOGUE)
    fault(catalogue)
    used, _ = scan(source_files())
    problems = catalogue_problems(catalogue, used)
    assert len(problems) == 1 and message in problems[0], problems


def test_a_planted_raw_hint_or_a_wrong_keyword_is_found(tmp_path):
    planted = tmp_path / "nb99.py"
    planted.write_text(textwrap.dedent('''
        def check(answer, findings):
            findings.verify("a raw property", fail_if, True, text("a hint"), "key")
            findings.verify(text("a property"), fail_if, True, f"a raw hint {answer}", "key")
            raise Wrong("raw English, " + str(answer), mistake="raw")
            raise Wrong(text("eps = {eps}", epsilon=answer), mistake="keyword")
            raise Wrong(text(TEMPLATE), mistake="not_literal")
    '''))
    _, problems = scan([planted])
    assert [p.split(":", 2)[1] for p in problems] == ["3", "4", "5", "6", "7"], problems


# ----------------------------------------------------------------------------- the language layer itself
def test_a_text_is_english_by_str_and_chinese_by_render():
    hint = text("at eps = {eps} the FGSM accuracy is still {accuracy:.1%}, not below 50 %: go higher.",
                eps=0.05, accuracy=0.6123)
    assert str(hint) == "at eps = 0.05 the FGSM accuracy is still 61.2%, not below 50 %: go higher."
    assert hint.render("zh") == "eps = 0.05 时 FGSM 准确率仍为 61.2%，没有低于 50 %：再调大一些。"
    assert f"{hint}" == str(hint) and "go higher" in repr(hint)
    with pytest.raises(ValueError, match="lang"):
        hint.render("fr")


def test_a_phrase_or_a_listing_inside_a_text_is_rendered_in_the_same_language():
    message = text("your answer changed the model: {changes}.", changes=language.listing([
        text("its dtype or device changed (e.g. `model.double()`; convert the input, not the model)"),
        "`model.secret = 1`"]))
    assert str(message).startswith("your answer changed the model: its dtype or device changed") and "; `model" in str(message)
    assert message.render("zh") == ("你的答案修改了模型：它的 dtype 或设备变了（例如 `model.double()`；应转换输入，而不是模型）"
                                    "；`model.secret = 1`。")


def test_a_template_missing_from_the_catalogue_or_broken_there_still_reads_in_english(monkeypatch):
    """A hint added without its translation, or with a broken one, never breaks a notebook: the English stands in."""
    assert text("a hint nobody translated, {n} times", n=3).render("zh") == "a hint nobody translated, 3 times"
    monkeypatch.setitem(zh.CATALOGUE, "{wrong} of {n} labels are wrong.", "{n} 个标签中有 {mistakes} 个错误。")
    assert text("{wrong} of {n} labels are wrong.", wrong=2, n=64).render("zh") == "2 of 64 labels are wrong."


# ----------------------------------------------------------------------------- (2) the wrong answers, in Chinese
def numbers(message: str) -> Counter:
    return Counter(NUMBER.findall(message))


@pytest.fixture
def no_time_limit(monkeypatch):
    """The language is tested here, not the time bound: a loaded machine must not turn a slow answer (notebook 11's
    scan in steps of theta asks the model 1,000 times per image) into a timeout (tests/test_exercises.py tests it)."""
    monkeypatch.setattr(core, "TIME_LIMIT_S", 600.0)


def assert_chinese_with_the_english_numbers(chinese):
    """A verdict in Chinese on every line, with the numbers of the same verdict in English."""
    english = chinese.message_in("en")
    assert chinese.lang == "zh" and not CJK.search(english), english
    lines = [line for line in chinese.message.splitlines() if line.strip()]
    assert all(CJK.search(line) for line in lines), chinese.message
    assert numbers(chinese.message) == numbers(english), (english, chinese.message)
    assert str(chinese).startswith(("✗ ", "✓ ", "… "))
    return english


@pytest.mark.filterwarnings("ignore:reduction")  # F.kl_div's reduction="mean" warns: that mistake is the point
@pytest.mark.parametrize("name, answer, mistake, hint", WRONG + WRONG_12,
                         ids=[f"{w[0]}-{w[2]}" for w in WRONG + WRONG_12])
def test_each_catalogued_mistake_reads_in_chinese_with_the_english_numbers(name, answer, mistake, hint, no_time_limit):
    chinese = exercises.check(name, answer, lang="zh", quiet=True)
    assert not chinese.passed and chinese.mistake == mistake, chinese.message
    assert hint in assert_chinese_with_the_english_numbers(chinese)


@pytest.mark.parametrize("name, answer, mistakes, held, hints", MULTI + MULTI_12,
                         ids=[f"{m[0]}-{'+'.join(m[2])}" for m in MULTI + MULTI_12])
def test_an_answer_wrong_in_several_ways_reads_in_chinese_with_its_held_list(name, answer, mistakes, held, hints,
                                                                             no_time_limit):
    chinese = exercises.check(name, answer, lang="zh", quiet=True)
    assert chinese.mistakes == tuple(mistakes), chinese.message
    english = assert_chinese_with_the_english_numbers(chinese)
    assert all(hint in english for hint in hints), english
    if len(mistakes) > 1:
        assert chinese.message.startswith(f"{len(mistakes)} 个问题，最根本的在前："), chinese.message
    if held:  # `held` keeps the English names; the message lists them in Chinese
        assert held in chinese.held and "\n  已满足：" in chinese.message and held not in chinese.message


@pytest.mark.parametrize("name, answer", [
    ("00.parameters", 18382),  # one mistake
    ("03.pgd_step", lambda xa, x, g, e, a: xa.add_(a * g.sign()).clamp_(0, 1)),  # two, nothing held
    ("01.fgsm", lambda m, x, y, e: (m.eval(), x.add_(0.1).clamp_(0, 1))[1]),  # three, and a held list
    ("05.kl", lambda c, p: 1 / 0),  # the learner's exception
    ("01.fgsm", None),  # blank
    ("03.pgd", "solution"), ("07.crossed", "solution"), ("11.boundary", "solution"),  # passed
], ids=["one", "two", "held", "exception", "blank", "03.pgd-passed", "07.crossed-passed", "11.boundary-passed"])
def test_the_english_of_a_chinese_verdict_is_what_lang_en_prints(name, answer):
    answer = exercises.solution(name) if answer == "solution" else answer
    chinese = exercises.check(name, answer, lang="zh", quiet=True)
    english = exercises.check(name, answer, lang="en", quiet=True)
    assert chinese.message_in("en") == english.message and english.message_in("zh") == chinese.message
    assert (chinese.passed, chinese.attempted, chinese.mistakes, chinese.held) == (
        english.passed, english.attempted, english.mistakes, english.held)
    assert str(chinese)[:2] == str(english)[:2]
    assert_chinese_with_the_english_numbers(chinese)


def test_the_frameworks_own_messages_read_in_chinese(monkeypatch):
    blank = exercises.check("01.fgsm", None, lang="zh", quiet=True)
    assert not blank.attempted and blank.message.startswith("尚未作答") and str(blank).startswith("… 01.fgsm: ")
    returned_none = exercises.check("01.fgsm", lambda *args: None, lang="zh", quiet=True)
    assert "`return`" in returned_none.message and "你的函数返回了 None" in returned_none.message
    not_callable = exercises.check("01.fgsm", 0.3, lang="zh", quiet=True)
    assert not_callable.mistake == "not_callable" and "这里需要一个函数" in not_callable.message
    shape = exercises.check("01.fgsm", lambda m, x, y, e: x[:3], lang="zh", quiet=True)
    assert "对抗批次：形状为 [3, 1, 28, 28]，应为 [16, 1, 28, 28]" in shape.message
    monkeypatch.setattr(core, "TIME_LIMIT_S", 0.5)
    timeout = exercises.check("05.kl", lambda *args: any(False for _ in iter(int, 1)), lang="zh", quiet=True)
    assert timeout.mistake == "timeout" and "计算了 0.5 秒 CPU 时间仍未返回" in timeout.message


def test_the_learners_own_exception_message_is_quoted_as_it_is():
    def broken(*args):
        raise RuntimeError("my bug: 3 != 4")

    english = exercises.check("05.kl", broken, lang="en", quiet=True)
    chinese = exercises.check("05.kl", broken, lang="zh", quiet=True)
    assert chinese.mistake == "exception" and chinese.message.startswith("你的代码抛出了 RuntimeError: my bug: 3 != 4")
    assert re.search(r"（第 \d+ 行：`.*`）。$", chinese.message), chinese.message
    assert numbers(chinese.message) == numbers(english.message)


# ----------------------------------------------------------------------------- (3) the default language
def test_the_default_follows_the_advlab_lang_variable(monkeypatch, capsys):
    monkeypatch.setenv("ADVLAB_LANG", "zh")
    result = exercises.check("00.parameters", 18382)
    assert result.lang == "zh" and CJK.search(result.message)
    assert capsys.readouterr().out == f"✗ 00.parameters: {result.message}\n"
    monkeypatch.setenv("ADVLAB_LANG", "en")
    assert exercises.check("00.parameters", 18382, quiet=True).message.startswith("18,382: that is the 2-class model")
    assert exercises.check("00.parameters", 18382, lang="zh", quiet=True).lang == "zh"  # an explicit lang wins


def test_the_default_follows_the_editions_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("ADVLAB_LANG", raising=False)
    (tmp_path / "zh").mkdir()
    monkeypatch.chdir(tmp_path / "zh")
    assert exercises.check("00.parameters", 18382, quiet=True).lang == "zh"
    monkeypatch.chdir(tmp_path)
    assert exercises.check("00.parameters", 18382, quiet=True).lang == "en"


def test_a_kernel_started_in_the_chinese_edition_prints_chinese(tmp_path):
    """As nbval, papermill and JupyterLab run a notebook of notebooks/zh/: a fresh process in a folder named zh."""
    (tmp_path / "zh").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ADVLAB_LANG"} | {"ADVLAB_THREADS": "1"}
    code = 'from advlab import exercises; exercises.check("00.parameters", 14852); exercises.check("09.sandwich", None)'
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "zh", env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.startswith("✗ 00.parameters: 14,852：这只是两个卷积层"), out
    assert "… 09.sandwich: 尚未作答" in out, out


def test_a_bad_language_is_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match="lang"):
        exercises.check("00.parameters", 1, lang="fr")
    with pytest.raises(ValueError, match="lang"):
        exercises.check("00.parameters", 1, lang="ZH")
    monkeypatch.setenv("ADVLAB_LANG", "klingon")
    with pytest.raises(ValueError, match="ADVLAB_LANG"):
        exercises.check("00.parameters", 1)


def test_a_check_in_chinese_leaves_the_learners_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    exercises.check("01.fgsm", exercises.solution("01.fgsm"), lang="zh", quiet=True)
    assert torch.equal(torch.rand(2), expected)
