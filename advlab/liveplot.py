"""A figure that redraws in place while training runs, and stays one static figure elsewhere.

In a Jupyter kernel the figure is shown once as a PNG with a display id and every redraw
*replaces* that output (``display_handle.update``): no flicker, no pile of figures. The
figure is a bare ``matplotlib.figure.Figure`` (not made by pyplot), so the inline backend
does not show a second copy at the end of the cell. Outside Jupyter nothing is displayed and
the figure is simply kept for the caller.

How many messages a plot sends is fixed by the work, never by the clock: it redraws only
when its caller logs new points (``fit`` logs a fixed number per epoch), and the interval
below only ever skips redraws. Headless runs (``config.headless()``: nbval, papermill) draw
only the final frame, one output per plot, so a slow or busy machine sends no more messages
than a fast one.

Curves are grouped by name: names containing "loss" go to the loss panel, names containing
"acc" to the accuracy panel; other names are recorded but not drawn.
"""

from __future__ import annotations

import io
import time

from matplotlib.figure import Figure

from . import config


def in_jupyter_kernel() -> bool:
    """True when running inside a Jupyter kernel (JupyterLab, papermill, nbval), False otherwise."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure rendered as PNG bytes (one render: the figures here use constrained layout)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class History(dict):
    """Training curves: ``history[name]`` is a list of ``(epoch, value)`` points.

    `epoch` is fractional for values logged within an epoch (0.5 = half-way through the
    first epoch). ``epoch_seconds`` holds the wall time of each epoch's training loop (metrics not
included) and ``epoch_cpu_seconds`` its CPU time (steadier on a shared machine); ``figure`` the final plot.
    """

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self.epoch_cpu_seconds: list[float] = []
        self.figure: Figure | None = None

    def log(self, name: str, epoch: float, value: float) -> None:
        self.setdefault(name, []).append((float(epoch), float(value)))

    def values(self, name: str) -> list[float]:
        """The logged values of one curve, in order."""
        return [value for _, value in self[name]]

    def last(self, name: str) -> float:
        """The most recent value of one curve."""
        return self[name][-1][1]


class LivePlot:
    """Loss and accuracy panels drawn from a History, redrawn at most every `min_interval_s`.

    `headless` (default: ``config.headless()``) draws the final frame only.
    """

    def __init__(
        self,
        title: str | None = None,
        min_interval_s: float = 0.5,
        show: bool | None = None,
        xlabel: str = "epoch",
        headless: bool | None = None,
    ):
        self.fig = Figure(figsize=(9.5, 3.2), layout="constrained")  # the title never covers the panels' titles
        self.loss_ax, self.acc_ax = self.fig.subplots(1, 2)
        if title:
            self.fig.suptitle(title)
        self.min_interval_s = min_interval_s
        self.xlabel = xlabel
        self.show = in_jupyter_kernel() if show is None else show
        self.headless = config.headless() if headless is None else headless
        self.redraws = 0
        self._handle = None
        self._last_draw = float("-inf")

    def update(self, history: History, force: bool = False, final: bool = False) -> bool:
        """Redraw from `history`; return whether it redrew.

        The final frame (`final`) is always drawn. Otherwise a headless plot draws nothing, and a
        watched one redraws when `force` is set or `min_interval_s` has passed since the last redraw.
        """
        now = time.perf_counter()
        if not final and (self.headless or (not force and now - self._last_draw < self.min_interval_s)):
            return False
        self._last_draw = now
        self.redraws += 1
        draw_history(self.loss_ax, self.acc_ax, history, self.xlabel)
        if self.show:
            self._display()
        return True

    def _display(self) -> None:
        from IPython.display import Image, display

        image = Image(data=figure_png(self.fig), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)


def draw_history(loss_ax, acc_ax, history: History, xlabel: str = "epoch") -> None:
    """Draw every "loss" curve on `loss_ax` and every "acc" curve on `acc_ax` (0 to 1)."""
    loss_ax.clear()
    acc_ax.clear()
    for name, points in history.items():
        epochs, values = zip(*points) if points else ((), ())
        if "loss" in name:
            loss_ax.plot(epochs, values, label=name)
        elif "acc" in name:
            acc_ax.plot(epochs, values, marker="o", label=name)
    loss_ax.set(xlabel=xlabel, ylabel="loss", title="loss")
    acc_ax.set(xlabel=xlabel, ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize="small")
