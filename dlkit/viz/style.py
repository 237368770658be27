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
