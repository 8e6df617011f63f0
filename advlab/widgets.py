"""Slider explorers: a row of ipywidgets controls above a figure that redraws when they move.

The figure is a bare matplotlib Figure rendered to PNG bytes and pushed into one
``ipywidgets.Image``: the picture is swapped in place (no flicker, no duplicate figures)
and the redraw costs one ``draw`` plus one PNG encode. Keep the work inside ``draw`` small
(precompute what does not depend on the sliders) so a move responds in well under a second.

    def draw(fig, eps):
        ax = fig.subplots()
        ax.imshow(...)

    explorer = Explorer(draw, eps=FloatSlider(value=0.1, min=0, max=0.3, step=0.01))
    explorer              # shows the sliders and the figure in Jupyter
    explorer.set(eps=0.2) # move controls from code: redraws once, right away

**A drag redraws the latest value, never the queue.** The browser side of ipywidgets keeps
at most one message per control in flight: while the kernel works on one, further moves are
merged into a single pending message holding the latest value, sent when the kernel reports
idle. So the redraw runs *inside* the handler of the slider's message, on the kernel's own
thread (no other thread ever touches matplotlib): while it runs, the browser only collects moves,
and when it ends the browser sends the latest value, which is drawn next. After the last step
of a drag at most two redraws run (the one in progress and one with the final values), however
long the drag. Moves that reach the explorer while it is drawing (a draw that moves a control,
a second control's message) only mark it stale, and it redraws once more with the latest values.

(Scheduling the redraw on the event loop instead, as the ipywidgets documentation debounces
``interact``, was measured worse in JupyterLab: the handler returns at once, the kernel reports
idle, the browser sends the next intermediate value, and a 30-step drag was drawn step by step.)
The status line under the picture names the values it drew.

**Headless runs keep a working slider.** A papermill report or an nbval run has no kernel left
behind to redraw anything. There (``config.headless()``) the explorer also renders its picture
at ``PLAYER_FRAMES`` values of its first slider, at ``PLAYER_DPI``, and shows them as a small
self-contained HTML player (an ``<input type="range">``, the frames as base64 PNGs and a dozen
lines of inline JavaScript: no external script, works offline). In JupyterLab nothing changes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
import uuid
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from . import config
from .liveplot import figure_png

PLAYER_FRAMES = 12  # values of the first slider a headless explorer precomputes
PLAYER_DPI = 60  # the player's frames are smaller than the live picture (80 dpi): a report stays light
PLAYER_COLORS = 128  # frames are stored as palette PNGs: about a third of matplotlib's RGBA size, looks the same
STATUS_CLASS = "advlab-explorer-status"  # the CSS class of an explorer's status line
# A control's label is written in English in the notebook's code (the same code in both editions);
# the Chinese edition shows these words instead. Symbols (eps, epsilon, xi, λ, γ, L2 eps) stay.
CONTROL_WORDS_ZH = {"step size": "步长", "steps": "步数", "train eps": "训练 eps", "train": "训练", "budget": "预算",
                    "poison rate": "投毒率", "sample": "样本", "show": "显示", "review": "评论", "run": "运行"}


def compact_png(png: bytes, colors: int = PLAYER_COLORS) -> bytes:
    """The picture as a palette PNG of at most `colors` colours (fast octree quantisation)."""
    from PIL import Image  # pillow comes with matplotlib

    picture = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def label_in_language(control: widgets.DOMWidget, lang: str | None = None) -> widgets.DOMWidget:
    """Show `control`'s description in the learner's language (``config.language()``); return the control."""
    if config.language(lang) == "zh":
        control.description = CONTROL_WORDS_ZH.get(control.description, control.description)
    return control


def readout(control: widgets.ValueWidget, value) -> str:
    """`value` as the control shows it: a selection's label, a slider's readout format, or plain text."""
    if isinstance(control, widgets.widget_selection._Selection):  # Dropdown, SelectionSlider, ...: the label
        for label, option in zip(control._options_labels, control._options_values):
            if option == value:
                return label
    fmt = getattr(control, "readout_format", None)
    if fmt and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return format(value, fmt)
        except ValueError:  # a d3 format Python does not know
            pass
    return str(value)


class Explorer:
    """Controls (keyword name -> ipywidgets control) that redraw ``draw(fig, **values)`` on change.

    ``redraws`` counts the redraws, ``last_seconds`` times the latest one (draw + PNG encode),
    ``drawn`` holds the values the picture shows.
    """

    def __init__(self, draw: Callable[..., None], figsize=(9.0, 3.0), dpi: int = 80, **controls: widgets.ValueWidget):
        if not controls:
            raise ValueError("Explorer needs at least one control, e.g. eps=FloatSlider(...)")
        self.draw = draw
        self.controls = controls
        self.dpi = dpi
        self.figsize = figsize
        self.fig = Figure(figsize=figsize, layout="constrained")  # labels never overlap a neighbour
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.status.add_class(STATUS_CLASS)  # how a browser test finds this line beside other HTML widgets
        self.redraws = 0
        self.last_seconds = 0.0
        self.drawn: dict = {}
        self._stale = False  # a control moved since the picture was drawn
        self._drawing = False  # a redraw is running
        self._moving_from_code = False  # set() moves controls and redraws once itself
        for control in controls.values():
            label_in_language(control)
            control.observe(self._on_change, names="value")
        # flex-start: show the PNG at its own size instead of stretching it (blurry) to the cell's width
        self.box = widgets.VBox(
            [widgets.HBox(list(controls.values())), self.image, self.status],
            layout=widgets.Layout(align_items="flex-start"),
        )
        self.redraw()

    def values(self) -> dict:
        """The controls' current values, by keyword."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> None:
        """Move controls from code; the picture is redrawn once, before this returns."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        self._moving_from_code = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._moving_from_code = False
        self.redraw()

    def _on_change(self, _change) -> None:
        """A person moved a control: redraw now, or, if a redraw is running, mark the picture stale."""
        if self._moving_from_code:
            return
        self._stale = True
        if not self._drawing:
            self.redraw()

    def redraw(self) -> None:
        """Call draw with the current values and show the new picture; again while a control moved meanwhile."""
        self._stale = True
        if self._drawing:
            return
        self._drawing = True
        try:
            while self._stale:
                self._stale = False
                self._draw_once()
        finally:
            self._drawing = False

    def _draw_once(self) -> None:
        started = time.perf_counter()
        values = self.values()
        self.fig.clear()
        self.draw(self.fig, **values)
        self.image.value = figure_png(self.fig, dpi=self.dpi)
        self.last_seconds = time.perf_counter() - started
        self.redraws += 1
        self.drawn = values
        self.status.value = f"<small>{self.describe(values)} · redrawn in {1000 * self.last_seconds:.0f} ms</small>"

    def describe(self, values: dict) -> str:
        """The values as the controls show them: "epsilon = 0.25, steps = 10"."""
        return ", ".join(f"{self.controls[name].description or name} = {readout(self.controls[name], value)}"
                         for name, value in values.items())

    def first_slider(self) -> tuple[str, widgets.ValueWidget]:
        """The first control with a numeric range (a slider): the one a player steps through."""
        for name, control in self.controls.items():
            if isinstance(control, widgets.SelectionSlider):
                return name, control
            if hasattr(control, "min") and hasattr(control, "max") and isinstance(control.value, (int, float)):
                return name, control
        raise ValueError(f"this explorer has no slider to precompute: {sorted(self.controls)}")

    def frame_values(self, frames: int = PLAYER_FRAMES) -> list:
        """About `frames` values (at most one more) evenly spread over the first slider's range, on its step grid,
        ends included: a 12-step slider gets all 13 of its values, a 30-step one every third."""
        if frames < 2:
            raise ValueError(f"frames must be at least 2, got {frames}")
        _, control = self.first_slider()
        if isinstance(control, widgets.SelectionSlider):  # its options, label-value pairs or plain values
            options = [o[1] if isinstance(o, tuple) else o for o in control.options]
            stride = max(1, -(-(len(options) - 1) // frames))
            chosen = options[::stride]
            return chosen if chosen[-1] == options[-1] else [*chosen, options[-1]]
        if isinstance(control, widgets.FloatLogSlider):  # its min and max are exponents
            exponents = [control.min + (control.max - control.min) * k / (frames - 1) for k in range(frames)]
            grid = [round(e / control.step) * control.step for e in exponents]
            return list(dict.fromkeys(control.base ** e for e in grid))
        low, high, step = control.min, control.max, getattr(control, "step", None)
        if not step:
            step = (high - low) / (frames - 1)
        steps = round((high - low) / step)
        stride = max(1, -(-steps // frames))  # every stride-th step of the slider: at most frames + 1 values
        values = [low + k * step for k in range(0, steps + 1, stride)]
        if steps % stride:
            values.append(high)
        if isinstance(control.value, int):
            return list(dict.fromkeys(int(round(v)) for v in values))
        return list(dict.fromkeys(round(v, 12) for v in values))

    def player_html(self, frames: int = PLAYER_FRAMES, dpi: int = PLAYER_DPI) -> str:
        """A self-contained HTML player: the picture at `frames` values of the first slider, the other
        controls as they are now; its own range input picks the frame. Sets ``player_seconds`` and ``player_bytes``."""
        started = time.perf_counter()
        name, control = self.first_slider()
        values, current = self.frame_values(frames), self.values()
        fig = Figure(figsize=self.figsize, layout="constrained")  # the live picture stays as it is
        pictures = []
        for value in values:
            fig.clear()
            self.draw(fig, **{**current, name: value})
            pictures.append(base64.b64encode(compact_png(figure_png(fig, dpi=dpi))).decode("ascii"))
        start = min(range(len(values)), key=lambda i: abs(values[i] - current[name]))
        labels = [readout(control, value) for value in values]
        others = ", ".join(f"{self.controls[n].description or n} = {readout(self.controls[n], v)}"
                           for n, v in current.items() if n != name)
        label = html.escape(control.description or name)
        player_id = f"advlab-player-{uuid.uuid4().hex[:12]}"
        page = f"""<div class="advlab-player" id="{player_id}">
<div><label>{label} <input type="range" min="0" max="{len(values) - 1}" step="1" value="{start}" aria-label="{label}"></label>
<output>{html.escape(labels[start])}</output></div>
<img alt="{label} = {html.escape(labels[start])}" src="data:image/png;base64,{pictures[start]}">
<div><small>precomputed: {len(values)} pictures for {label} from {html.escape(labels[0])} to {html.escape(labels[-1])}
{"(" + html.escape(others) + ") " if others else ""}· run the notebook for the live explorer</small></div>
<script>(function () {{
  var root = document.getElementById("{player_id}"), frames = {json.dumps(pictures)}, labels = {json.dumps(labels)};
  var slider = root.querySelector("input"), picture = root.querySelector("img"), shown = root.querySelector("output");
  slider.addEventListener("input", function () {{
    var i = Number(slider.value);
    picture.src = "data:image/png;base64," + frames[i];
    picture.alt = "{label} = " + labels[i];
    shown.textContent = labels[i];
  }});
}})();</script>
</div>"""
        self.player_seconds = time.perf_counter() - started
        self.player_bytes = len(page.encode("utf-8"))
        return page

    def _ipython_display_(self):
        from IPython.display import HTML, display

        display(self.box)
        if config.headless():  # a report: nobody will redraw, so show precomputed pictures that still respond
            display(HTML(self.player_html()))
