"""``Demo``: the base of every interactive demo (chapters 01-10).

A demo owns ONE matplotlib figure, made once. Its controls are ipywidgets; moving one calls
``set(**state)``, which updates the existing artists (``set_data``, ``set_array``...) and
re-renders the figure into an ``ipywidgets.Image``: the picture changes in place, with no
flicker and no new figure. The same ``set`` works from plain Python, and ``figure`` and
``state`` can be read back, which is how tests check a demo.

Laid out for a room: the controls stand in a column beside the figure, and the figure is
rendered at exactly the size it is shown (no stretching, no blur); the whole demo fits a
1280×720 screen in JupyterLab. ``presenter=True`` (or ``presenter_mode()`` for every demo
made afterwards) renders the figure 1.5× larger, fonts and lines included, and enlarges the
controls' text, for a projector in a lecture hall. Training demos add play / pause / step /
reset controls so a lecturer can let learning happen in front of the room. A value typed into
a control that the demo refuses (an empty text) is explained in a line under the controls,
where the learner looks; the figure keeps the last valid state.

Displayed, a demo offers two representations: the live widget, for a front end with a widget
manager (JupyterLab), and a PNG of the current figure for everything else (nbval, HTML export,
a terminal). A front end picks the richest it can show.
"""
from __future__ import annotations

import base64
import html
import io
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dlkit.viz.style import course_style, demo_style

# ipykernel 7 runs widget messages on a subshell *thread* while the main thread may be running
# a callback of the same demo (a slider's echo arrives during "train"). Two threads drawing one
# figure corrupt matplotlib's shared renderer and rcParams for good (the figure turned blank
# and never recovered), so every update of every demo is serialized by this one lock.
DRAW_LOCK = threading.RLock()

BASE_DPI = 100
PRESENTER_SCALE = 1.5
CONTROLS_WIDTH = 320     # px: room for a 160 px slider track beside its label and readout
DESCRIPTION_WIDTH = 76   # px of a menu's label ("activation" in full)
SLIDER_DESCRIPTION_WIDTH = 64   # px of a slider's label ("backward", "strength" in full)
_presenter_default = False


def presenter_mode(on: bool = True) -> None:
    """Make every demo created afterwards render large for a projector (chapter 00)."""
    global _presenter_default
    _presenter_default = bool(on)


def figure_png(figure: Figure, dpi: float = BASE_DPI, style: Callable = course_style) -> bytes:
    """The figure rendered as PNG bytes (what the demo shows and the static fallback).

    One drawing pass: ``Figure.draw`` runs the layout engine itself, where ``savefig`` would lay
    the figure out in a first, invisible pass and then draw it again (a third of a frame's
    time). A fast PNG compression: the image travels a few centimetres, not the internet.
    """
    buffer = io.BytesIO()
    with DRAW_LOCK, style():  # colours like "C0" are resolved when drawing, so draw in the style
        saved_dpi, figure.dpi = figure.dpi, dpi
        try:
            canvas = FigureCanvasAgg(figure)
            canvas.draw()
            width, height = canvas.get_width_height(physical=True)
            picture = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
            picture.save(buffer, format="png", compress_level=1)
        finally:
            figure.dpi = saved_dpi
    return buffer.getvalue()


def _widest_tick_label(axis: Any) -> tuple[int, int]:
    """(characters of the widest tick label in view, of the offset text) of a matplotlib axis."""
    if not axis.get_visible():
        return (0, 0)
    low, high = sorted(axis.get_view_interval())
    widest = offset = 0
    for locator, formatter in ((axis.get_major_locator(), axis.get_major_formatter()),
                               (axis.get_minor_locator(), axis.get_minor_formatter())):
        locs = [x for x in locator() if low <= x <= high]
        if locs:
            widest = max(widest, *(len(label) for label in formatter.format_ticks(locs)))
            offset = max(offset, len(formatter.get_offset()))
    return widest, offset


def _layout_key(figure: Figure) -> tuple[tuple, tuple[int, ...]]:
    """What a constrained layout of ``figure`` depends on, short of measuring its text: (the
    axes and the lines of every title and label, the characters of each axis' widest tick
    label and offset text)."""
    def lines(text: Any) -> int:
        return text.get_text().count("\n") + 1 if text is not None and text.get_visible() and text.get_text() else 0

    shape: list[Any] = [lines(figure._suptitle)]
    widths: list[int] = []
    for ax in figure.axes:
        spec = ax.get_subplotspec()
        shape += [ax.get_visible(), spec.get_geometry() if spec is not None else ax.get_position().bounds,
                  *(lines(t) for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label)),
                  len(ax.texts), len(ax.artists)]
        for axis in (ax.xaxis, ax.yaxis):
            widths += _widest_tick_label(axis)
    return tuple(shape), tuple(widths)


def _is_echo(control: widgets.ValueWidget, old: Any, new: Any) -> bool:
    """True when ``new`` is only the front end's rounding of ``old`` to the slider's step.

    A float slider shows the state rounded to its step and sends that rounded value back;
    taking it would move trained weights (or lr) by up to half a step behind the user's back.
    """
    if isinstance(control, widgets.FloatLogSlider):
        if not (isinstance(old, (int, float)) and old > 0 and new > 0):
            return False
        distance = abs(math.log(new, control.base) - math.log(old, control.base))
        return distance <= control.step / 2 + 1e-9
    if isinstance(control, widgets.FloatSlider) and isinstance(old, (int, float)):
        return abs(new - old) <= control.step / 2 + 1e-9 and old != new
    return False


def rate_slider(description: str, choices: tuple[float, ...]) -> widgets.SelectionSlider:
    """A slider over exact, readable rates (a log slider would show 0.5 as 0.501, 0.02 as 0.020)."""
    return widgets.SelectionSlider(options=[(f"{v:g}", v) for v in choices], description=description)


def _offer(control: widgets.ValueWidget, value: Any) -> None:
    """Let a rate slider show a value set from code that is not among its choices."""
    if isinstance(control, widgets.SelectionSlider):
        values = [v for _, v in control.options]
        if value not in values:
            control.options = [(f"{v:g}", v) for v in sorted({*values, value})]


class Demo:
    """Base class: subclasses build ``self.figure`` in ``draw_initial`` and update it in ``redraw``.

    Subclasses declare ``controls()`` (name → ipywidget whose ``value`` is that state entry),
    ``validate(state)`` (raise ``ValueError`` with expected vs got for bad values), and
    ``figure_px`` (the figure's size in screen pixels). Training demos also define ``tick()``
    (one frame of learning) and get play / pause / step / reset controls.
    """

    figure_px: tuple[int, int] = (540, 500)
    tick_interval_ms = 300

    def __init__(self, *, presenter: bool | None = None, **state: Any) -> None:
        self.presenter = _presenter_default if presenter is None else bool(presenter)
        self.state: dict[str, Any] = {}
        self._controls: dict[str, widgets.ValueWidget] = {}
        self._view: widgets.Widget | None = None
        self._image: widgets.Image | None = None
        self._message: widgets.HTML | None = None
        self._syncing = False
        self._last_tick = 0.0
        self._laid_out_for: tuple[tuple, tuple[int, ...]] | None = None
        with DRAW_LOCK, demo_style():
            self.figure = Figure(figsize=(self.figure_px[0] / BASE_DPI, self.figure_px[1] / BASE_DPI),
                                 dpi=BASE_DPI)
            self.state = self.validate({**self.defaults(), **state})
            self.initial_state = dict(self.state)
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

    tick: Callable[[], Any] | None = None
    """One frame of learning (training demos only): what "step" and each frame of "play" do."""

    # ---- the public surface ---------------------------------------------------------------
    @property
    def dpi(self) -> float:
        return BASE_DPI * (PRESENTER_SCALE if self.presenter else 1.0)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the rendered figure: exactly the size it is shown at."""
        scale = self.dpi / BASE_DPI
        return round(self.figure_px[0] * scale), round(self.figure_px[1] * scale)

    def set(self, **changes: Any) -> Demo:
        """Change the state (as a control would) and update the figure in place."""
        with DRAW_LOCK:
            unknown = sorted(set(changes) - set(self.state))
            if unknown:
                raise ValueError(f"{type(self).__name__} expected state among {sorted(self.state)}, "
                                 f"got {unknown}")
            self.state = self.validate({**self.state, **changes})
            with demo_style():
                self.redraw()
            self._sync_view()
        return self

    def reset(self) -> Demo:
        """Back to the state the demo was created with (what the chapter's text starts from)."""
        return self.set(**self.initial_state)

    def png(self) -> bytes:
        """The current figure as PNG; laid out again only when its text changed shape.

        Constrained layout measures every text of the figure, about half of a frame's time.
        A slider move mostly changes data and numbers of the same width, so the positions of
        the last layout are kept while the axes and the lines of every title and label stay
        the same and no axis' widest tick label grows beyond what that layout made room for
        (``_layout_key``).
        """
        with DRAW_LOCK, demo_style():
            shape, widths = _layout_key(self.figure)
            kept = self._laid_out_for
            # narrower tick labels still fit the room the last layout gave: keep it
            fits = kept is not None and kept[0] == shape and all(
                now <= then for now, then in zip(widths, kept[1], strict=True))
            self.figure.set_layout_engine("none" if fits else "constrained")
            if not fits:
                self._laid_out_for = (shape, widths)
            return figure_png(self.figure, self.dpi, demo_style)

    def widget(self) -> widgets.Widget:
        """The live view: the controls in a column beside the rendered figure (built once)."""
        with DRAW_LOCK:
            if self._view is None:
                self._view = self._build_view()
        return self._view

    # ---- plumbing -------------------------------------------------------------------------
    def _build_view(self) -> widgets.Widget:
        self._controls = self.controls()
        for name, control in self._controls.items():
            _offer(control, self.state[name])
            control.value = self.state[name]
            control.layout.width = "100%"
            slider = isinstance(control, (widgets.FloatSlider, widgets.IntSlider, widgets.FloatLogSlider,
                                          widgets.SelectionSlider))
            control.style.description_width = f"{SLIDER_DESCRIPTION_WIDTH if slider else DESCRIPTION_WIDTH}px"
            if isinstance(control, widgets.Checkbox):
                control.indent = True
            control.observe(self._on_control, names="value")
        width, height = self.image_size
        self._image = widgets.Image(value=self.png(), format="png", width=width, height=height,
                                    layout=widgets.Layout(width=f"{width}px", height=f"{height}px",
                                                          min_width=f"{width}px", object_fit="none",
                                                          flex="0 0 auto"))
        self._image.add_class("dlkit-demo-figure")
        # where a value typed into a control that the demo refuses is explained (``_on_control``)
        self._message = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self._message.add_class("dlkit-demo-message")
        column = widgets.VBox([*self._controls.values(), *self._actions(), self._message],
                              layout=widgets.Layout(width=f"{CONTROLS_WIDTH}px", flex="0 0 auto",
                                                    overflow="hidden"))
        column.add_class("dlkit-demo-controls")
        children: list[widgets.Widget] = [column, self._image]
        if self.presenter:  # the controls' text large enough for the back row
            children.append(widgets.HTML(
                "<style>.dlkit-presenter .widget-label, .dlkit-presenter .widget-readout, "
                ".dlkit-presenter select, .dlkit-presenter button {font-size: 18px;}</style>",
                layout=widgets.Layout(width="0px", height="0px")))
        view = widgets.HBox(children, layout=widgets.Layout(align_items="flex-start",
                                                            flex_flow="row nowrap", width="auto"))
        view.add_class("dlkit-demo")
        if self.presenter:
            view.add_class("dlkit-presenter")
        self.refresh_controls()
        return view

    def _actions(self) -> list[widgets.Widget]:
        """Play / pause, step and reset for a demo that trains; nothing for the others."""
        if self.tick is None:
            return []
        self._play = widgets.Play(value=0, min=0, max=10**6, step=1, interval=self.tick_interval_ms,
                                  show_repeat=False, description="play")
        self._play.layout.width = "100%"
        self._play.observe(self._on_play, names="value")
        self._step_button = widgets.Button(description="step", icon="step-forward",
                                           tooltip="one frame of training",
                                           layout=widgets.Layout(width="48%"))
        self._step_button.on_click(lambda _button: self._run_tick())
        self._reset_button = widgets.Button(description="reset", icon="undo",
                                            tooltip="back to the state the cell created",
                                            layout=widgets.Layout(width="48%"))
        self._reset_button.on_click(lambda _button: self.reset())
        return [self._play, widgets.HBox([self._step_button, self._reset_button],
                                         layout=widgets.Layout(width="100%"))]

    @staticmethod
    def locked(action: Callable[..., Any], *args: Any) -> Any:
        """Run a button's action under the drawing lock (it reads, then sets, the state)."""
        with DRAW_LOCK:
            return action(*args)

    def _run_tick(self) -> None:
        with DRAW_LOCK:
            self.tick()
            self._last_tick = time.monotonic()

    def _on_play(self, change: dict[str, Any]) -> None:
        if change["new"] <= change["old"]:
            return  # "stop" rewinds the player's counter: that is a pause, not a frame
        # frames that queued up while a slow one was drawn are dropped, so "pause" is immediate
        if time.monotonic() - self._last_tick < self.tick_interval_ms / 2000:
            return
        self._run_tick()

    def _on_control(self, change: dict[str, Any]) -> None:
        with DRAW_LOCK:
            if self._syncing:
                return
            name = next(n for n, c in self._controls.items() if c is change["owner"])
            if _is_echo(change["owner"], self.state[name], change["new"]):
                return
            try:
                self.set(**{name: change["new"]})
            except ValueError as error:
                # a text box can hold what the demo refuses (an empty text): say so beside the
                # controls, where the learner looks, instead of an error in the kernel's log
                # that JupyterLab shows nowhere; the figure keeps the last valid state and the
                # box keeps what was typed, to be corrected
                self._say(f"{error}. The figure still shows the last valid {name}.")
                return
            self._say("")

    def _say(self, message: str) -> None:
        """Show ``message`` under the controls ("" clears it)."""
        shown = (f'<div style="color: #B00020; line-height: 1.3; overflow-wrap: anywhere">'
                 f'{html.escape(message, quote=False)}</div>') if message else ""
        if self._message is not None and self._message.value != shown:
            self._message.value = shown

    def _sync_view(self) -> None:
        if self._view is None:
            return
        self._syncing = True
        try:
            for name, control in self._controls.items():
                if control.value != self.state[name]:
                    _offer(control, self.state[name])
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
