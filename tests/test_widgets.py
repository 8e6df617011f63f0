"""advlab.widgets.Explorer: a control move redraws the picture once, from code as from a person."""

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
