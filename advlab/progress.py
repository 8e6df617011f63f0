"""Progress bars whose messages are bounded by the work, never by the clock.

Every redraw of a tqdm bar in a notebook is a message to the front end. tqdm's defaults redraw
by wall time (``mininterval``), and its monitor thread forces a redraw when a bar has been quiet
for ``maxinterval`` seconds, so a slow or busy machine sends *more* messages for the same work.
Past ZMQ's queue limit a cell's final message can be lost (nbval: "Timeout ... waiting for
output"). Here a bar redraws every ``total / updates`` steps and at the end: at most about
`updates` messages, however long the work takes.
"""

from __future__ import annotations

from tqdm.auto import tqdm

MAX_DESCRIPTION = 28  # characters: a longer description wraps the bar onto two lines at the default width


def progress_bar(total: int, desc: str, disable: bool = False, leave: bool = True, updates: int = 20) -> tqdm:
    """A tqdm.auto bar over `total` steps that redraws at most `updates` (+1) times.

        redraw every  miniters = ceil(total / updates)  steps;  no time-based redraws

    Set postfixes with ``bar.set_postfix(..., refresh=False)`` so they ride on those redraws.
    """
    if len(desc) > MAX_DESCRIPTION:
        desc = desc[: MAX_DESCRIPTION - 1] + "…"
    return tqdm(
        total=total,
        desc=desc,
        disable=disable,
        leave=leave,
        miniters=max(1, -(-total // updates)),
        mininterval=0,
        maxinterval=float("inf"),  # the monitor thread never forces a redraw
    )
