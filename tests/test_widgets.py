"""advlab.widgets.Explorer: a control move redraws the picture once, from code as from a person."""

import json

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


def test_moves_during_a_redraw_only_mark_it_stale_then_one_redraw_shows_the_latest():
    """Moves that reach the explorer while it draws (here: made by the draw itself, as a message
    handled mid-draw would) do not each get a redraw: one more redraw shows the latest values."""
    slider = IntSlider(value=0, min=0, max=50)
    drawn = []

    def draw(fig, slope):
        drawn.append(slope)
        if slope == 1:
            for value in range(2, 31):  # a fast drag arriving while the picture for 1 is drawn
                slider.value = value
        draw_line(fig, slope / 50)

    explorer = Explorer(draw, slope=slider)
    slider.value = 1
    assert drawn == [0, 1, 30], "the drag's 29 moves during one redraw cost exactly one more redraw, of the last value"
    assert explorer.drawn == {"slope": 30} and explorer.redraws == 3
    assert "slope = 30 · redrawn" in explorer.status.value


def test_a_slow_drag_redraws_every_step():
    slider = FloatSlider(value=0.0, min=-1, max=1, step=0.1)
    drawn = []
    Explorer(lambda fig, slope: (drawn.append(slope), draw_line(fig, slope)), slope=slider)
    for value in [0.1, 0.2, 0.3]:
        slider.value = value
    assert drawn == [0.0, 0.1, 0.2, 0.3]


def test_strip_labels_of_an_explorer_figure_do_not_overlap(bundled_test):
    """Notebook 01's layout: four images with "a+b: P(0)=0.99" labels in the left 60 % of an 11-inch figure."""
    from matplotlib.figure import Figure

    from advlab import plots

    images = bundled_test[0][:4]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=[1.5, 1], wspace=0.15, hspace=0.3)
    ax = plots.image_strip(fig.add_subplot(grid[0, 0]), images, labels=[f"{i}+0: P(0)=0.99" for i in range(4)])
    for row in (1, 2):
        plots.image_strip(fig.add_subplot(grid[row, 0]), images, labels=["P(0)=0.99"] * 4)
    fig.add_subplot(grid[:, 1]).plot([0, 1])
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    boxes = sorted((text.get_window_extent(renderer) for text in ax.texts), key=lambda box: box.x0)
    assert len(boxes) == 4
    one_em = 8 * fig.dpi / 72  # the labels' font size (8 pt) in pixels: labels need a visible space between them
    for left, right in zip(boxes, boxes[1:]):
        assert right.x0 - left.x1 > one_em, "a label runs into its neighbour's"


def test_player_precomputes_the_first_slider_on_its_step_grid_and_keeps_the_live_picture():
    import re

    explorer = Explorer(draw_line, slope=FloatSlider(value=0.2, min=-1, max=1, step=0.1, readout_format=".1f"),
                        width=IntSlider(value=3, min=1, max=5))
    live = explorer.image.value
    assert explorer.frame_values(4) == [-1.0, -0.5, 0.0, 0.5, 1.0]  # 20 steps: every 5th, ends included
    assert explorer.frame_values(100) == [round(-1 + 0.1 * k, 12) for k in range(21)]  # no more frames than steps
    page = explorer.player_html(frames=4, dpi=40)
    frames = json.loads(re.search(r"frames = (\[.*?\])", page).group(1))
    labels = json.loads(re.search(r"labels = (\[.*?\])", page).group(1))
    assert labels == ["-1.0", "-0.5", "0.0", "0.5", "1.0"] and len(set(frames)) == 5, "five different pictures"
    assert 'value="2"' in page and "width = 3" in page  # starts at the frame nearest 0.2; names the fixed control
    assert "<script src" not in page and "http" not in page
    assert explorer.image.value == live and explorer.player_bytes == len(page.encode())


def test_a_selection_slider_is_precomputed_over_its_options():
    from ipywidgets import SelectionSlider

    options = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    explorer = Explorer(draw_line, slope=SelectionSlider(options=options, value=0.1),
                        width=IntSlider(value=3, min=1, max=5))
    assert explorer.first_slider()[0] == "slope"
    assert explorer.frame_values(3) == [0.0, 0.1, 0.2, 0.3]  # every 2nd option (at most frames + 1), ends included
    assert explorer.frame_values(100) == options
    labelled = Explorer(draw_line, slope=SelectionSlider(options=[("flat", 0.0), ("steep", 1.0)], value=0.0))
    assert labelled.frame_values(5) == [0.0, 1.0]  # the values, not the labels
    labelled.set(slope=1.0)
    assert labelled.status.value.startswith("<small>slope = steep ·"), "the status names the label the slider shows"


def test_the_status_line_names_a_dropdown_choice_by_its_label():
    from ipywidgets import Dropdown

    explorer = Explorer(draw_line, slope=FloatSlider(value=0.5, min=0, max=1, step=0.5),
                        width=Dropdown(options={"thin": 1, "thick": 4}, value=1))
    explorer.set(width=4)
    assert "slope = 0.50, width = thick ·" in explorer.status.value


def test_headless_display_adds_the_player_and_jupyterlab_gets_the_widget_only(monkeypatch):
    import IPython.display

    explorer = Explorer(draw_line, slope=FloatSlider(value=0.0, min=-1, max=1, step=0.5))
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **_: shown.extend(objects))
    monkeypatch.setenv("ADVLAB_HEADLESS", "0")
    explorer._ipython_display_()
    assert shown == [explorer.box]
    monkeypatch.setenv("ADVLAB_HEADLESS", "1")
    shown.clear()
    explorer._ipython_display_()
    assert shown[0] is explorer.box and 'class="advlab-player"' in shown[1].data and explorer.player_seconds > 0


def test_control_labels_follow_the_learners_language(monkeypatch):
    """The Chinese edition runs the same code: an explorer shows its controls' words in Chinese there."""
    import re
    from pathlib import Path

    from advlab import widgets

    monkeypatch.setenv("ADVLAB_LANG", "zh")
    explorer = Explorer(lambda fig, eps, steps: draw_line(fig, eps), eps=FloatSlider(value=0.1, description="eps"),
                        steps=IntSlider(value=3, min=1, max=10, description="steps"))
    assert [c.description for c in explorer.controls.values()] == ["eps", "步数"]  # a symbol stays, a word is translated
    monkeypatch.setenv("ADVLAB_LANG", "en")
    assert Explorer(draw_line, slope=FloatSlider(description="steps")).controls["slope"].description == "steps"
    # every word a notebook labels a control with has its Chinese form (symbols excepted)
    symbols = {"eps", "epsilon", "xi", "λ", "γ", "L2 eps"}
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    used = {d for p in notebooks.glob("[0-9][0-9]_*.py") for d in re.findall(r'description="([^"]*)"', p.read_text())}
    assert used - symbols <= set(widgets.CONTROL_WORDS_ZH), sorted(used - symbols - set(widgets.CONTROL_WORDS_ZH))
    assert "步长" in widgets.CONTROL_WORDS_ZH.values()
