"""Figures for the notebooks. Plots only draw: they never train or attack.

Each function returns the matplotlib Figure it made (with pyplot, so it shows inline in
Jupyter) or draws into the ``ax`` it was given.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .liveplot import History, draw_history


def image_grid(images: torch.Tensor, titles=None, ncols: int = 8, title_colors=None, suptitle: str | None = None):
    """A grid of [N, 1, 28, 28] images in [0, 1], with an optional title (and title colour) each."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols, 1.6 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].squeeze(0).cpu(), cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9, color=title_colors[i] if title_colors else "black")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def mixture_grid(x, y, digits, predictions=None, ncols: int = 8, suptitle: str | None = None):
    """Digit-0 mixture samples titled "a+b: label" (and "→ prediction", red when wrong)."""
    titles, colors = [], []
    for i in range(len(x)):
        title = f"{digits[i, 0]}+{digits[i, 1]}: {y[i]}"
        wrong = predictions is not None and predictions[i] != y[i]
        if predictions is not None:
            title += f" → {predictions[i]}"
        titles.append(title)
        colors.append("crimson" if wrong else "black")
    return image_grid(x, titles, ncols=ncols, title_colors=colors, suptitle=suptitle)


def plot_history(history: History, title: str | None = None):
    """A static copy of the training curves (loss and accuracy panels)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9.5, 3.2), layout="constrained")
    draw_history(loss_ax, acc_ax, history)
    if title:
        fig.suptitle(title)
    return fig


def digit_pair_heatmap(table: torch.Tensor, title: str = "test accuracy by source digits", ax=None):
    """Show a symmetric [10, 10] table (e.g. accuracy per pair of source digits); NaN cells blank."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.3))
    else:
        fig = ax.figure
    values = np.ma.masked_invalid(table.numpy())
    image = ax.imshow(values, cmap="viridis", vmin=np.nanmin(table.numpy()), vmax=1)
    ax.set(xticks=range(10), yticks=range(10), xlabel="digit b", ylabel="digit a", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


def strip_label(label: str, max_chars: int = 10) -> str:
    """A label that fits above one small image: past `max_chars`, break it at its first ": " or ", "."""
    if len(label) <= max_chars:
        return label
    for separator in (": ", ", "):
        if separator in label:
            head, tail = label.split(separator, 1)
            return f"{head}\n{tail}"
    return label


def image_strip(ax, images: torch.Tensor, labels=None, colors=None, cmap: str = "gray", vmin: float = 0.0,
                vmax: float = 1.0, gap: int = 3, ylabel: str | None = None, fontsize: int = 8):
    """Draw [K, 1, H, W] images side by side in ONE axes (labels above each), for fast slider redraws.

    One imshow instead of K axes keeps an explorer's redraw cheap; gaps are left blank (NaN).
    A long label ("0+3: P(0)=0.99") is set on two lines (:func:`strip_label`) so that it stays above
    its own image instead of running into its neighbours'.
    """
    images = images.detach().float().cpu()
    k, _, height, width = images.shape
    strip = torch.full((height, k * width + (k - 1) * gap), float("nan"))
    for i in range(k):
        strip[:, i * (width + gap) : i * (width + gap) + width] = images[i, 0]
    ax.imshow(strip.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=fontsize + 1)
    for i, label in enumerate(labels or []):
        ax.text(i * (width + gap) + width / 2, -1.5, strip_label(label), ha="center", va="bottom", fontsize=fontsize,
                linespacing=1.0, color=(colors[i] if colors else "black"))
    return ax
