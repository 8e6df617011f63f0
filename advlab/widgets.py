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
    explorer.set(eps=0.2) # what a slider move does, callable from code and tests
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from .liveplot import figure_png


class Explorer:
    """Controls (keyword name -> ipywidgets control) that redraw ``draw(fig, **values)`` on change."""

    def __init__(self, draw: Callable[..., None], figsize=(9.0, 3.0), dpi: int = 80, **controls: widgets.ValueWidget):
        if not controls:
            raise ValueError("Explorer needs at least one control, e.g. eps=FloatSlider(...)")
        self.draw = draw
        self.controls = controls
        self.dpi = dpi
        self.fig = Figure(figsize=figsize, layout="constrained")  # labels never overlap a neighbour
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        for control in controls.values():
            control.observe(lambda _change: self.redraw(), names="value")
        # flex-start: show the PNG at its own size instead of stretching it (blurry) to the cell's width
        self.box = widgets.VBox(
            [widgets.HBox(list(controls.values())), self.image, self.status],
            layout=widgets.Layout(align_items="flex-start"),
        )
        self.last_seconds = 0.0
        self.redraw()

    def values(self) -> dict:
        """The controls' current values, by keyword."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> None:
        """Move controls as a person would; each change redraws once."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this explorer has {sorted(self.controls)}")
        for name, value in values.items():
            self.controls[name].value = value

    def redraw(self) -> None:
        """Clear the figure, call draw with the current values, and show the new picture."""
        started = time.perf_counter()
        self.fig.clear()
        self.draw(self.fig, **self.values())
        self.image.value = figure_png(self.fig, dpi=self.dpi)
        self.last_seconds = time.perf_counter() - started
        self.status.value = f"<small>redrawn in {1000 * self.last_seconds:.0f} ms</small>"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)
