"""``Demo``: the base of every interactive demo (chapters 01-10).

A demo owns ONE matplotlib figure, made once. Its controls are ipywidgets; moving one calls
``set(**state)``, which updates the existing artists (``set_data``, ``set_array``...) and
re-renders the figure into an ``ipywidgets.Image``: the picture changes in place, with no
flicker and no new figure. The same ``set`` works from plain Python, and ``figure`` and
``state`` can be read back, which is how tests check a demo.

Displayed, a demo offers two representations: the live widget, for a front end with a widget
manager (JupyterLab), and a PNG of the current figure for everything else (nbval, HTML export,
a terminal). A front end picks the richest it can show.
"""
from __future__ import annotations

import base64
import io
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from dlkit.viz.style import course_style


def figure_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes (what the demo shows and the static fallback)."""
    buffer = io.BytesIO()
    with course_style():  # colours like "C0" are resolved when drawing, so draw in the style
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


class Demo:
    """Base class: subclasses build ``self.figure`` in ``draw_initial`` and update it in ``redraw``.

    Subclasses declare ``controls()`` (name → ipywidget whose ``value`` is that state entry) and
    ``validate(state)`` (raise ``ValueError`` with expected vs got for bad values).
    """

    def __init__(self, **state: Any) -> None:
        self.state: dict[str, Any] = {}
        self._controls: dict[str, widgets.ValueWidget] = {}
        self._view: widgets.Widget | None = None
        self._image: widgets.Image | None = None
        self._syncing = False
        with course_style():
            self.figure = Figure()
            self.state = self.validate({**self.defaults(), **state})
            self.draw_initial()
            self.redraw()

    # ---- to override ----------------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        return {}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        return state

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {}

    def refresh_controls(self) -> None:
        """Adjust the controls to the state (enable, relabel); called once the view exists."""

    def draw_initial(self) -> None:
        raise NotImplementedError

    def redraw(self) -> None:
        raise NotImplementedError

    # ---- the public surface ---------------------------------------------------------------
    def set(self, **changes: Any) -> Demo:
        """Change the state (as a control would) and update the figure in place."""
        unknown = sorted(set(changes) - set(self.state))
        if unknown:
            raise ValueError(f"{type(self).__name__} expected state among {sorted(self.state)}, got {unknown}")
        self.state = self.validate({**self.state, **changes})
        with course_style():
            self.redraw()
        self._sync_view()
        return self

    def png(self) -> bytes:
        return figure_png(self.figure)

    def widget(self) -> widgets.Widget:
        """The live view: the controls above the rendered figure (built once, on first use)."""
        if self._view is None:
            self._controls = self.controls()
            for name, control in self._controls.items():
                control.value = self.state[name]
                control.observe(self._on_control, names="value")
            self._image = widgets.Image(value=self.png(), format="png",
                                        layout=widgets.Layout(width="auto", max_width="100%"))
            self._view = widgets.VBox([widgets.HBox(list(self._controls.values())), self._image])
            self._view.add_class("dlkit-demo")
            self.refresh_controls()
        return self._view

    # ---- plumbing -------------------------------------------------------------------------
    def _on_control(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        name = next(n for n, c in self._controls.items() if c is change["owner"])
        self.set(**{name: change["new"]})

    def _sync_view(self) -> None:
        if self._view is None:
            return
        self._syncing = True
        try:
            for name, control in self._controls.items():
                if control.value != self.state[name]:
                    control.value = self.state[name]
            self.refresh_controls()
        finally:
            self._syncing = False
        self._image.value = self.png()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget()._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        bundle["text/plain"] = f"<{type(self).__name__} {self.state}>"
        return bundle
