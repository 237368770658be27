"""Loss and metric curves: drawn once at the end, or live while a notebook trains (chapter 11).

``plot_history`` draws a history (``{"train_loss": [...], "val_loss": [...], ...}``) into a
matplotlib ``Figure``: one panel for the losses and one per metric, train and validation on the
same axes. ``LiveCurves`` redraws that figure after every epoch into ONE notebook output (a
display handle updated in place, no new figure per epoch). The output is a PNG, so it is also
what stays in an executed notebook, an HTML export or CI: the static fallback is the last frame.
Outside a notebook kernel (a terminal, pytest) ``LiveCurves`` draws nothing.
"""
from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

SKIPPED = ("lr", "grad_norm", "epoch")


def _panels(history: dict[str, list[float]]) -> list[str]:
    """Quantities to draw: 'loss' first, then each metric, from keys 'train_x' / 'val_x'."""
    names: list[str] = []
    for key in history:
        name = key.split("_", 1)[1] if key.startswith(("train_", "val_")) else key
        if name not in names and name not in SKIPPED:
            names.append(name)
    return sorted(names, key=lambda n: (n != "loss", names.index(n)))


def plot_history(history: dict[str, list[float]], figure: Figure | None = None,
                 title: str | None = None) -> Figure:
    """Train and validation curves of every quantity in ``history``, one panel each (chapter 11)."""
    names = _panels(history)
    if not names:
        raise ValueError(f"expected a history with 'train_*' or 'val_*' lists, got keys "
                         f"{sorted(history)}")
    figure = figure if figure is not None else Figure(figsize=(4.2 * len(names), 3.2))
    figure.clear()
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            values = history.get(f"{split}_{name}") or (history.get(name) if split == "train" else None)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3,
                        label=split)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        figure.suptitle(title)
    if not figure.get_constrained_layout():   # the course style lays out already; both would warn
        figure.tight_layout()
    return figure


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a display handle can be updated in place)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _PNG:
    """A rendered figure that Jupyter shows as an image; where no image can be shown (a
    terminal, a text export) it reads as what it shows, not as an object's address."""

    def __init__(self, figure: Figure) -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        self.data = buffer.getvalue()
        titles = [ax.get_title() for ax in figure.axes if ax.get_visible() and ax.get_title()]
        self.text = f"<figure: {', '.join(titles)}>" if titles else "<figure>"

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return self.text


class InPlaceImage:
    """One notebook output that shows a figure as a PNG and is replaced, not appended to, on
    every ``show`` (the live curves and the training dashboard of chapter 11)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, figure: Figure) -> None:
        picture = _PNG(figure)
        if self._handle is None:
            from IPython.display import display

            self._handle = display(picture, display_id=True)
        else:
            self._handle.update(picture)


class LiveCurves:
    """Curves that redraw in place after every epoch in a notebook (chapter 11).

    ``enabled=None`` means: only inside a Jupyter kernel. ``update(history)`` redraws."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = in_notebook() if enabled is None else enabled
        self.figure: Figure | None = None
        self._image = InPlaceImage()

    def update(self, history: dict[str, list[float]]) -> None:
        if not self.enabled or not _panels(history):
            return
        self.figure = plot_history(history, self.figure)
        self._image.show(self.figure)
