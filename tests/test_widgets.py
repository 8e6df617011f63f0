"""advlab.widgets.Explorer: a control move redraws the picture once, from code as from a person."""

import asyncio
import time

import pytest
from ipywidgets import FloatSlider, IntSlider

from advlab.widgets import Explorer


def draw_line(fig, slope, width=1):
    ax = fig.subplots()
    ax.plot([0, 1], [0, slope], linewidth=width)
    ax.set_ylim(-1, 1)


def test_moving_a_slider_redraws_a_different_picture():
    calls = []

    def draw(fig, slope):
        calls.append(slope)
        draw_line(fig, slope)

    explorer = Explorer(draw, slope=FloatSlider(value=0.0, min=-1, max=1))
    first = explorer.image.value
    explorer.controls["slope"].value = 0.8  # what dragging the slider does
    assert calls == [0.0, 0.8]
    assert explorer.image.value != first and explorer.image.value[:4] == b"\x89PNG"
    assert explorer.values() == {"slope": 0.8}
    assert explorer.last_seconds > 0 and "ms" in explorer.status.value


def test_set_moves_several_controls_and_rejects_unknown_names():
    explorer = Explorer(draw_line, slope=FloatSlider(value=0.2), width=IntSlider(value=1, min=1, max=5))
    explorer.set(slope=0.5, width=3)
    assert explorer.values() == {"slope": 0.5, "width": 3}
    with pytest.raises(ValueError, match="unknown control"):
        explorer.set(eps=0.1)


def test_explorer_needs_a_control():
    with pytest.raises(ValueError, match="at least one control"):
        Explorer(draw_line)


def test_status_names_the_values_it_drew():
    explorer = Explorer(draw_line, slope=FloatSlider(value=0.25, min=-1, max=1, description="slope", readout_format=".2f"),
                        width=IntSlider(value=2, min=1, max=5))
    assert explorer.status.value.startswith("<small>slope = 0.25, width = 2 · redrawn in ")
    explorer.set(slope=-0.5)
    assert "slope = -0.50, width = 2" in explorer.status.value and explorer.drawn == {"slope": -0.5, "width": 2}


def test_set_redraws_once_even_for_several_controls():
    explorer = Explorer(draw_line, slope=FloatSlider(value=0.2), width=IntSlider(value=1, min=1, max=5))
    explorer.set(slope=0.5, width=3)
    assert explorer.redraws == 2  # the first picture, then one for both moves


def drag_in_event_loop(steps: int, step_interval_s: float, draw_seconds: float):
    """Move a slider `steps` times, one event-loop callback per step (as a kernel reads slider messages),
    with a draw that takes `draw_seconds`; return (drawn values with their start times, time of the last step)."""
    drawn = []

    def slow_draw(fig, slope):
        drawn.append((time.perf_counter(), slope))
        time.sleep(draw_seconds)  # blocks the loop, as a real redraw blocks the kernel
        draw_line(fig, slope)

    slider = IntSlider(value=0, min=0, max=steps)
    explorer = Explorer(slow_draw, slope=slider)
    drawn.clear()
    last_step = []

    async def drag():
        loop = asyncio.get_running_loop()
        for step in range(1, steps + 1):
            loop.call_later(step * step_interval_s, setattr, slider, "value", step)
        loop.call_later(steps * step_interval_s, lambda: last_step.append(time.perf_counter()))
        await asyncio.sleep(steps * step_interval_s + 6 * draw_seconds + 0.2)

    asyncio.run(drag())
    assert explorer.drawn == {"slope": steps}
    return drawn, last_step[0], explorer


@pytest.mark.parametrize("steps", [10, 40])
def test_a_fast_drag_redraws_the_latest_value_not_every_step(steps):
    drawn, last_step, explorer = drag_in_event_loop(steps, step_interval_s=0.005, draw_seconds=0.03)
    after_last_step = [value for started, value in drawn if started >= last_step]
    assert drawn[-1][1] == steps, "the final picture shows the slider's final value"
    assert len(after_last_step) <= 2, f"at most two redraws after the last step, saw {after_last_step}"
    # each redraw takes 6 step intervals, so redrawing every step would take `steps` redraws
    assert len(drawn) <= steps // 6 + 3, f"{len(drawn)} redraws for {steps} steps: the drag was queued, not coalesced"
    assert f"slope = {steps} · redrawn" in explorer.status.value


def test_a_slow_drag_still_redraws_every_step():
    drawn, _, _ = drag_in_event_loop(4, step_interval_s=0.5, draw_seconds=0.005)
    assert [value for _, value in drawn] == [1, 2, 3, 4]
