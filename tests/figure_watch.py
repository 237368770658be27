"""Run inside a lesson's kernel by test_lesson_runs: every figure, when drawn, warns if the titles
of two of its axes overlap (one title printed over another, as chapter 10's first figure did in
JupyterLab). The warning goes to the cell's stderr, which the lesson test reports."""
import warnings

import matplotlib.figure


def _warn_on_overlapping_titles(event) -> None:
    titles = []
    for ax in event.canvas.figure.axes:
        if ax.get_visible():
            titles += [(t.get_text(), t.get_window_extent(event.renderer))
                       for t in (ax.title, ax._left_title, ax._right_title) if t.get_visible() and t.get_text()]
    for i, (text, box) in enumerate(titles):
        for other_text, other_box in titles[i + 1:]:
            if box.overlaps(other_box):
                warnings.warn(f"two titles of one figure overlap: {text!r} and {other_text!r}", stacklevel=1)


_figure_init = matplotlib.figure.Figure.__init__


def _figure_init_watched(self, *args, **kwargs) -> None:
    _figure_init(self, *args, **kwargs)
    # the figure keeps its callbacks across canvases (inline backend, Agg in the demos)
    self.canvas.mpl_connect("draw_event", _warn_on_overlapping_titles)


matplotlib.figure.Figure.__init__ = _figure_init_watched
