"""The optimizer race (chapter 04): several optimizers on one 2-D loss surface, side by side.

Pick a surface (an ill-conditioned bowl, the Rosenbrock valley, a saddle, Himmelblau's four
minima), a learning rate and a number of steps. Every selected optimizer starts from the same
point with the same lr; the left panel draws their paths over the contours, the right panel
their loss gap f(w) − f* per step on a log scale, and the legend gives each final loss. The
steps are taken by ``dlkit.ref.optim`` (checked against torch.optim) on the analytic gradient.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np

from dlkit.ref import optim
from dlkit.ref.tensor import Tensor
from dlkit.viz.demo import Demo, rate_slider

Array = np.ndarray


@dataclass(frozen=True)
class Surface:
    """A 2-D loss f(x, y), its gradient, the box it is drawn in, a start point and f's minimum."""

    f: Callable[[Array, Array], Array]
    grad: Callable[[float, float], tuple[float, float]]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    f_min: float
    minima: tuple[tuple[float, float], ...]
    title: str


SURFACES: dict[str, Surface] = {
    # κ = 10: SGD is stable only for lr < 2/10 and zigzags across the narrow y direction
    "bowl": Surface(
        f=lambda x, y: 0.5 * (x**2 + 10 * y**2),
        grad=lambda x, y: (x, 10 * y),
        xlim=(-3.5, 3.5), ylim=(-2.0, 2.0), start=(-3.0, 1.5), f_min=0.0,
        minima=((0.0, 0.0),), title="ill-conditioned bowl ½(x² + 10y²)"),
    # a curved, flat-bottomed valley: easy to reach, slow to follow to (1, 1)
    "rosenbrock": Surface(
        f=lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        grad=lambda x, y: (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)),
        xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), start=(-1.5, 2.5), f_min=0.0,
        minima=((1.0, 1.0),), title="Rosenbrock (1 − x)² + 100(y − x²)²"),
    # a saddle at the origin, minima at (0, ±1); starting almost on the ridge y = 0
    "saddle": Surface(
        f=lambda x, y: 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2,
        grad=lambda x, y: (x, y**3 - y),
        xlim=(-2.5, 2.5), ylim=(-1.6, 1.6), start=(-2.0, 1e-3), f_min=-0.25,
        minima=((0.0, 1.0), (0.0, -1.0)), title="saddle ½x² + ¼y⁴ − ½y²"),
    # four minima of equal depth: which one you end in depends on the path
    "himmelblau": Surface(
        f=lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        grad=lambda x, y: (4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7),
                           2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7)),
        xlim=(-5.0, 5.0), ylim=(-5.0, 5.0), start=(0.0, -0.5), f_min=0.0,
        minima=((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848127)),
        title="Himmelblau (x² + y − 11)² + (x + y² − 7)²"),
}

#: name → how to build the optimizer for a list of parameters and a learning rate
OPTIMIZERS: dict[str, Callable[[list[Tensor], float], optim.Optimizer]] = {
    "SGD": lambda params, lr: optim.SGD(params, lr=lr),
    "momentum": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "Nesterov": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda params, lr: optim.AdaGrad(params, lr=lr),
    "RMSprop": lambda params, lr: optim.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: optim.Adam(params, lr=lr),
}
COLOURS = {name: f"C{i}" for i, name in enumerate(OPTIMIZERS)}

#: the lr slider's choices (a rate set from code joins them)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0)

#: a path farther than this from the origin counts as diverged and stops there
DIVERGED = 1e6


def run_optimizer(surface: str, name: str, lr: float, steps: int,
                  start: tuple[float, float]) -> Array:
    """The path of optimizer ``name`` on ``surface``: an array (steps + 1, 2) (chapter 04).

    Row 0 is ``start``; row t the point after t updates. If the path leaves |w| < 1e6 or
    turns non-finite it has diverged: that row and all later rows are nan.
    """
    if surface not in SURFACES:
        raise ValueError(f"expected surface among {sorted(SURFACES)}, got {surface!r}")
    if name not in OPTIMIZERS:
        raise ValueError(f"expected an optimizer among {list(OPTIMIZERS)}, got {name!r}")
    grad_of = SURFACES[surface].grad
    w = Tensor(np.array(start, dtype=np.float64))
    optimizer = OPTIMIZERS[name]([w], lr)
    path = np.full((steps + 1, 2), np.nan)
    path[0] = w.data
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            w.grad = np.array(grad_of(*w.data), dtype=np.float64)
            optimizer.step()
            if not np.all(np.isfinite(w.data)) or np.abs(w.data).max() > DIVERGED:
                break
            path[t] = w.data
    return path


class OptimizerRace(Demo):
    """Race optimizers from ``dlkit.ref.optim`` on a 2-D loss surface (chapter 04).

    State: ``surface`` (a key of ``SURFACES``), ``optimizers`` (a tuple of keys of
    ``OPTIMIZERS``), ``lr`` (shared by all), ``steps``, ``start`` (x, y). Changing the surface
    without giving ``start`` moves the start to that surface's default.
    """

    figure_px = (520, 520)
    MAX_STEPS = 1000
    TICK_STEPS = 10  # optimizer steps per frame of "play"

    def __init__(self, **state: Any) -> None:
        if "surface" in state and "start" not in state and state["surface"] in SURFACES:
            state["start"] = SURFACES[state["surface"]].start   # each surface has its own start
        # (surface, optimizer, lr, start) → the longest path computed so far: a shorter run is
        # its prefix, so moving "steps" (or playing) never recomputes a path
        self._paths: dict[tuple, Array] = {}
        super().__init__(**state)

    def defaults(self) -> dict[str, Any]:
        return {"surface": "bowl", "optimizers": ("SGD", "momentum", "RMSprop", "Adam"),
                "lr": 0.05, "steps": 100, "start": SURFACES["bowl"].start}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["surface"] not in SURFACES:
            raise ValueError(f"expected surface among {sorted(SURFACES)}, got {state['surface']!r}")
        chosen = state["optimizers"]
        if isinstance(chosen, str) or not all(name in OPTIMIZERS for name in chosen):
            raise ValueError(f"expected optimizers to be a tuple of names among {list(OPTIMIZERS)}, "
                             f"got {chosen!r}")
        lr = state["lr"]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 1e-5 <= lr <= 10:
            raise ValueError(f"expected lr between 1e-05 and 10, got {lr!r}")
        steps = state["steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 5000:
            raise ValueError(f"expected steps to be an int between 1 and 5000, got {steps!r}")
        start = state["start"]
        if (not isinstance(start, (tuple, list)) or len(start) != 2
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in start)):
            raise ValueError(f"expected start to be a pair of finite numbers (x, y), got {start!r}")
        # keep the dropdown's order, whatever order the names came in
        ordered = tuple(name for name in OPTIMIZERS if name in chosen)
        return {**state, "optimizers": ordered, "lr": float(lr), "steps": int(steps),
                "start": (float(start[0]), float(start[1]))}

    def set(self, **changes: Any) -> OptimizerRace:
        """Like ``Demo.set``; a new surface without a new ``start`` starts at its default."""
        if "surface" in changes and "start" not in changes and changes["surface"] in SURFACES:
            changes["start"] = SURFACES[changes["surface"]].start
        super().set(**changes)
        return self

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "surface": widgets.Dropdown(options=list(SURFACES), description="surface"),
            "optimizers": widgets.SelectMultiple(options=list(OPTIMIZERS), rows=6,
                                                 description="optimizers"),
            "lr": rate_slider("lr", LR_CHOICES),
            "steps": widgets.IntSlider(min=1, max=self.MAX_STEPS, step=1, description="steps"),
        }

    def tick(self) -> None:
        """One frame of "play": 10 more steps for every optimizer (from step 1 at the end)."""
        steps = self.state["steps"]
        self.set(steps=1 if steps >= self.MAX_STEPS else min(self.MAX_STEPS, steps + self.TICK_STEPS))

    def _path(self, name: str) -> Array:
        s = self.state
        key = (s["surface"], name, s["lr"], s["start"])
        path = self._paths.get(key)
        if path is None or len(path) <= s["steps"]:
            # growing (as "play" does): compute a little ahead, so the next frames are free
            ahead = s["steps"] if path is None else min(max(s["steps"], 2 * (len(path) - 1)), 5000)
            path = run_optimizer(s["surface"], name, s["lr"], ahead, s["start"])
            self._paths[key] = path
        return path[: s["steps"] + 1]

    def trajectories(self) -> dict[str, Array]:
        """name → path (steps + 1, 2) for every selected optimizer: exactly what is plotted."""
        return {name: self._path(name) for name in self.state["optimizers"]}

    def final_losses(self) -> dict[str, float]:
        """name → f at the end of its path (nan if it diverged): the numbers in the legend."""
        f = SURFACES[self.state["surface"]].f
        return {name: float(f(*path[-1])) for name, path in self.trajectories().items()}

    # ---- drawing --------------------------------------------------------------------------
    def draw_initial(self) -> None:
        self.ax_path, self.ax_loss = self.figure.subplots(
            2, 1, gridspec_kw={"height_ratios": [1.4, 1]})
        self.path_lines = {name: self.ax_path.plot([], [], "-", marker=".", markersize=3,
                                                   lw=1.5, color=COLOURS[name])[0]
                           for name in OPTIMIZERS}
        self.loss_lines = {name: self.ax_loss.plot([], [], lw=1.8, color=COLOURS[name])[0]
                           for name in OPTIMIZERS}
        self.start_marker, = self.ax_path.plot([], [], "o", color="black", markersize=7, zorder=5)
        self.minima_marker, = self.ax_path.plot([], [], "*", color="gold", markeredgecolor="black",
                                                markersize=14, zorder=5)
        self.ax_path.set_xlabel("x")
        self.ax_path.set_ylabel("y")
        self.ax_loss.set_xlabel("step t")
        self.ax_loss.set_ylabel("f(w_t) − f*")
        self.ax_loss.set_yscale("log")
        self._contour = None
        self._contour_of: str | None = None
        self.legend = None

    def _draw_surface(self, name: str) -> None:
        surface = SURFACES[name]
        if self._contour is not None:
            self._contour.remove()
        x = np.linspace(*surface.xlim, 300)
        y = np.linspace(*surface.ylim, 300)
        X, Y = np.meshgrid(x, y)
        gap = surface.f(X, Y) - surface.f_min + 1e-3
        levels = np.geomspace(max(gap.min(), 1e-3), gap.max(), 25)
        self._contour = self.ax_path.contour(X, Y, gap, levels=levels, cmap="Greys_r",
                                             linewidths=0.7, alpha=0.7)
        self.ax_path.set_xlim(*surface.xlim)
        self.ax_path.set_ylim(*surface.ylim)
        self.ax_path.set_title(surface.title)
        self.minima_marker.set_data([m[0] for m in surface.minima], [m[1] for m in surface.minima])
        self._contour_of = name

    def redraw(self) -> None:
        s = self.state
        surface = SURFACES[s["surface"]]
        if self._contour_of != s["surface"]:
            self._draw_surface(s["surface"])
        self.start_marker.set_data([s["start"][0]], [s["start"][1]])
        paths = self.trajectories()
        finals = self.final_losses()
        handles, labels, gaps = [], [], []
        for name in OPTIMIZERS:
            path_line, loss_line = self.path_lines[name], self.loss_lines[name]
            visible = name in paths
            path_line.set_visible(visible)
            loss_line.set_visible(visible)
            if not visible:
                continue
            path = paths[name]
            gap = surface.f(path[:, 0], path[:, 1]) - surface.f_min
            path_line.set_data(path[:, 0], path[:, 1])
            loss_line.set_data(np.arange(len(path)), np.maximum(gap, 1e-16))
            gaps.append(gap[np.isfinite(gap)])
            final = finals[name]
            handles.append(loss_line)
            labels.append(f"{name}: {final:.3g}" if np.isfinite(final) else f"{name}: diverged")
        self.ax_loss.set_xlim(0, max(s["steps"], 1))
        finite = np.concatenate(gaps) if gaps else np.array([])
        finite = np.maximum(finite, 1e-16)
        if finite.size:
            # a diverging path would stretch the axis to 1e20: show at most 100x the start's gap
            top = min(finite.max() * 3, max(surface.f(*s["start"]) - surface.f_min, 1e-12) * 100)
            self.ax_loss.set_ylim(max(finite.min() / 3, 1e-16), top)
        self.ax_loss.set_title(f"loss gap, lr = {s['lr']:.3g} for all")
        if self.legend is not None:
            self.legend.remove()
        self.legend = self.ax_loss.legend(handles, labels, title="final loss f(w_T)",
                                          loc="center left", bbox_to_anchor=(1.0, 0.5),
                                          fontsize=8, title_fontsize=8)
