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

**A drag redraws the latest value, never the queue.** A kernel handles one message at a
time: if every slider message redrew at once, a drag of N steps would queue N redraws and
the picture would fall further behind the longer the learner drags. So a slider move in a
kernel only marks the explorer *stale* and schedules one redraw on the kernel's event loop
(as the ipywidgets documentation throttles ``interact``). The messages that queued up while
a redraw ran are handled first, and the scheduled redraw then draws the controls' latest
values: after the last step of a drag at most two redraws run (the one in progress and one
with the final values), whatever the drag's length. Everything runs on the kernel's own
thread; no thread ever touches matplotlib. Outside an event loop (scripts, tests) a move
redraws at once. The status line under the picture names the values it drew.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from .liveplot import figure_png

COALESCE_S = 0.01  # how long a scheduled redraw waits, so that already queued slider messages are read first


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of this thread if one is running (a Jupyter kernel's), else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


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
        self._scheduled = False  # a redraw is waiting on the event loop
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
        """A person moved a control: mark the picture stale and make sure one redraw is coming."""
        if self._moving_from_code:
            return
        self._stale = True
        loop = _running_loop()
        if loop is None:
            self._redraw_if_stale()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_later(COALESCE_S, self._redraw_if_stale)

    def _redraw_if_stale(self) -> None:
        self._scheduled = False
        if self._stale:
            self.redraw()

    def redraw(self) -> None:
        """Clear the figure, call draw with the current values, and show the new picture."""
        started = time.perf_counter()
        self._stale = False
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
