"""One plotting style for the whole course: large, high-contrast, colour-blind safe (all chapters).

Readable on a projector at the back of a lecture hall and in a notebook on a laptop.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

# Okabe–Ito: distinguishable under the common forms of colour blindness
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

STYLE: dict[str, object] = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "legend.fontsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "lines.linewidth": 2.6,
    "lines.markersize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "image.cmap": "viridis",
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the course style to every figure from now on (chapter 00)."""
    matplotlib.rcParams.update(STYLE)


@contextmanager
def course_style() -> Iterator[None]:
    """The course style for the figures made inside this block only."""
    with matplotlib.rc_context(STYLE):
        yield


# a demo's figure is rendered at the size it is shown, beside its controls, on a 1280×720
# screen: smaller type than a full-width notebook figure (presenter mode scales it all 1.5×)
DEMO_STYLE: dict[str, object] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
}


@contextmanager
def demo_style() -> Iterator[None]:
    """The course style with the type sizes of an interactive demo (chapters 01-10)."""
    with matplotlib.rc_context({**STYLE, **DEMO_STYLE}):
        yield
