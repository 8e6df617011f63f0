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
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from .liveplot import figure_png



def readout(control: widgets.ValueWidget, value) -> str:
    """`value` as the control shows it (its readout format, or plain text)."""
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
        self.redraws = 0
        self.last_seconds = 0.0
        self.drawn: dict = {}
        self._stale = False  # a control moved since the picture was drawn
        self._drawing = False  # a redraw is running
        self._moving_from_code = False  # set() moves controls and redraws once itself
        for control in controls.values():
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

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
