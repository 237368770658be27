"""One plotting style for the whole course: large, high-contrast, colour-blind safe (all chapters).

Readable on a projector at the back of a lecture hall and in a notebook on a laptop.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import matplotlib
from matplotlib import font_manager

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


# white space made visible where a figure labels single characters or tokens
VISIBLE_WHITESPACE = {" ": "␣", "\n": "⏎", "\t": "⇥"}
REPLACEMENT = "\ufffd"


@cache
def _font_has_glyph(character: str) -> bool:
    font = font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
    return character.isprintable() and font.get_char_index(ord(character)) != 0


def drawable(text: str, visible_spaces: bool = False) -> str:
    """``text`` as the course font can draw it, for figures that show what a learner typed
    (chapters 08-09): tab and newline as ⇥ and ⏎ (a space as ␣ with ``visible_spaces``), and
    any other character the font has no glyph for (an emoji, a control character) as �, where
    matplotlib would draw an empty box and warn on every redraw."""
    shown = {**VISIBLE_WHITESPACE} if visible_spaces else {"\n": "⏎", "\t": "⇥"}
    return "".join(shown.get(ch) or (ch if _font_has_glyph(ch) else REPLACEMENT) for ch in text)
