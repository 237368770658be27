"""The neuron playground (chapter 01): one neuron, a 2-D dataset, and its decision boundary.

A single neuron computes z = w1·x1 + w2·x2 + b and outputs a = f(z). The filled contour shows
a over the plane; the black line is where a crosses the activation's threshold, which for
every activation here is the straight line z = 0, so the arrow w is always perpendicular to
it. Drag w1, w2, b by hand, or press "train" to run gradient descent: the linearly separable
"blobs" are split perfectly, while XOR, circles and moons stay out of reach of one straight
line (the reason for hidden layers, chapter 02). Two lessons hide in the ReLU neuron: started
with every point at z < 0 it never moves (a dead unit), and trained with squared error as an
*output* it settles short of a perfect split (ReLU belongs in hidden layers).
"""
from __future__ import annotations

from functools import cache
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LinearSegmentedColormap, Normalize

from dlkit.data import make_blobs, make_circles, make_moons, make_xor
from dlkit.ref import activations as act
from dlkit.viz.demo import Demo, rate_slider
from dlkit.viz.style import PALETTE

Array = np.ndarray

DATASETS = ("blobs", "moons", "circles", "xor")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "step")
# the output value at which the neuron switches from class 0 to class 1; each equals f(0)
# (or the middle of the step), so "a > threshold" is the same as "z > 0" for all four
THRESHOLD = {"sigmoid": 0.5, "tanh": 0.0, "relu": 0.0, "step": 0.5}
LOSS = {"sigmoid": "binary cross-entropy", "tanh": "squared error to ±1",
        "relu": "squared error to 0/1", "step": "perceptron criterion"}
PARAM_LIMIT = 10.0   # the sliders' range for w1, w2 and b
LR_CHOICES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 3.0, 10.0)
VIEW = 3.0           # the plot shows [-VIEW, VIEW]²; the data are standardized to fit in it
GRID = 121
TRAIN_STEPS = 25
TICK_STEPS = 5      # gradient steps per frame of "play": learning visible, not instant
NUM_POINTS = 200

# class 0 is orange, class 1 blue (Okabe–Ito), and white is the threshold, so the background
# says which class wins and how surely. ReLU's threshold is its lowest output, 0: its scale
# runs from white (exactly 0 on the whole class-0 half-plane, where no gradient flows) to blue.
CMAP = LinearSegmentedColormap.from_list("neuron", ["#F4B183", "#FFFFFF", "#8EC3E6"])
CMAP_RELU = LinearSegmentedColormap.from_list("neuron_relu", ["#FFFFFF", "#8EC3E6"])


@cache
def neuron_data(name: str) -> tuple[Array, Array]:
    """(X, y) of a playground dataset: 200 standardized 2-D points, labels 0/1 (chapter 01)."""
    if name not in DATASETS:
        raise ValueError(f"expected a dataset among {list(DATASETS)}, got {name!r}")
    if name == "blobs":  # two well-separated clouds: a straight line can split them exactly
        dataset = make_blobs(NUM_POINTS, num_classes=2, std=0.7, seed=0)
    elif name == "moons":
        dataset = make_moons(NUM_POINTS, noise=0.1, seed=0)
    elif name == "circles":
        dataset = make_circles(NUM_POINTS, noise=0.05, seed=0)
    else:
        dataset = make_xor(NUM_POINTS, noise=0.05, seed=0)
    dataset, _ = dataset.standardize()
    X, y = dataset.X.astype(np.float64), dataset.y.astype(np.float64)
    X.setflags(write=False)  # cached and shared: nobody may change it in place
    y.setflags(write=False)
    return X, y


def step(z: Array) -> Array:
    """The perceptron's activation 1[z > 0] (chapter 01)."""
    return np.where(np.asarray(z) > 0, 1.0, 0.0)


def activate(name: str, z: Array) -> Array:
    """f(z) for one of the playground's activations (chapter 01)."""
    if name == "step":
        return step(z)
    return act.ELEMENTWISE[name][0](z)


def loss_and_gradient(activation: str, X: Array, y: Array, w: Array, b: float
                      ) -> tuple[float, Array, float]:
    """(loss, ∂loss/∂w, ∂loss/∂b) of one neuron on (X, y), averaged over the examples (chapter 01).

    Each activation is trained with the loss that suits its output range, t = 2y − 1 ∈ {−1, 1}:

    * sigmoid: binary cross-entropy, logistic regression; ∂L/∂z = σ(z) − y;
    * tanh: ½(tanh z − t)²; ∂L/∂z = (a − t)(1 − a²);
    * relu: ½(relu z − y)²; ∂L/∂z = (a − y)·1[z > 0], zero for a dead unit;
    * step: the perceptron criterion max(0, −t z); its gradient step is exactly the
      perceptron rule w += lr·(y − ŷ)·x, because the step's own derivative is 0 everywhere.
    """
    z = X @ w + b
    a = activate(activation, z)
    t = 2.0 * y - 1.0
    if activation == "sigmoid":
        # log(1 + e^z) − y·z, written so e^z never overflows
        loss = np.mean(np.logaddexp(0.0, z) - y * z)
        dz = a - y
    elif activation == "tanh":
        loss = 0.5 * np.mean((a - t) ** 2)
        dz = (a - t) * (1.0 - a * a)
    elif activation == "relu":
        loss = 0.5 * np.mean((a - y) ** 2)
        dz = (a - y) * (z > 0)
    elif activation == "step":
        loss = np.mean(np.maximum(0.0, -t * z))
        dz = -(y - a)
    else:
        raise ValueError(f"expected an activation among {list(ACTIVATIONS)}, got {activation!r}")
    n = len(y)
    return float(loss), X.T @ dz / n, float(dz.sum() / n)


def _is_real(value: Any) -> bool:
    """A real number (a bool or a string is not; NaN fails every range check after this)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class NeuronPlayground(Demo):
    """One neuron on a 2-D dataset: output as a filled contour, boundary, accuracy (chapter 01).

    State: ``dataset`` (one of ``DATASETS``), ``activation`` (one of ``ACTIVATIONS``),
    ``w1``, ``w2``, ``b`` (each in [−10, 10]) and ``lr`` (the step size of "train").
    """

    figure_px = (520, 470)

    def defaults(self) -> dict[str, Any]:
        return {"dataset": "blobs", "activation": "sigmoid", "w1": 1.0, "w2": 1.0, "b": -1.0,
                "lr": 0.5}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["dataset"] not in DATASETS:
            raise ValueError(f"expected a dataset among {list(DATASETS)}, got {state['dataset']!r}")
        if state["activation"] not in ACTIVATIONS:
            raise ValueError(f"expected an activation among {list(ACTIVATIONS)}, "
                             f"got {state['activation']!r}")
        checked = dict(state)
        for name in ("w1", "w2", "b"):
            if not _is_real(state[name]) or not -PARAM_LIMIT <= state[name] <= PARAM_LIMIT:
                raise ValueError(f"expected {name} between {-PARAM_LIMIT:g} and {PARAM_LIMIT:g}, "
                                 f"got {state[name]!r}")
            checked[name] = float(state[name])
        if not _is_real(state["lr"]) or not 0 < state["lr"] <= 10:
            raise ValueError(f"expected lr in (0, 10], got {state['lr']!r}")
        checked["lr"] = float(state["lr"])
        return checked

    def controls(self) -> dict[str, widgets.ValueWidget]:
        def weight(name: str) -> widgets.FloatSlider:
            return widgets.FloatSlider(min=-PARAM_LIMIT, max=PARAM_LIMIT, step=0.1,
                                       description=name, readout_format=".2f",
                                       continuous_update=True)

        return {
            "dataset": widgets.Dropdown(options=list(DATASETS), description="dataset"),
            "activation": widgets.Dropdown(options=list(ACTIVATIONS), description="activation"),
            "w1": weight("w1"),
            "w2": weight("w2"),
            "b": weight("b"),
            "lr": rate_slider("lr", LR_CHOICES),
        }

    def _actions(self) -> list[widgets.Widget]:
        """A "train 25 steps" button above play / step / reset (one frame = 5 steps)."""
        self._train_button = widgets.Button(description=f"train {TRAIN_STEPS} steps",
                                            button_style="primary", icon="play",
                                            layout=widgets.Layout(width="100%"))
        self._train_button.on_click(lambda _button: self.locked(self.fit, TRAIN_STEPS))
        return [self._train_button, *super()._actions()]

    def tick(self) -> None:
        """One frame of "play": ``TICK_STEPS`` steps of gradient descent."""
        self.fit(TICK_STEPS)

    # ---- the neuron -----------------------------------------------------------------------
    @property
    def data(self) -> tuple[Array, Array]:
        """(X, y) of the current dataset, exactly the points drawn."""
        return neuron_data(self.state["dataset"])

    @property
    def weights(self) -> tuple[Array, float]:
        """(w, b) with w = [w1, w2]."""
        return np.array([self.state["w1"], self.state["w2"]]), self.state["b"]

    def output(self, X: Array) -> Array:
        """a = f(X @ w + b), one output per row of X (shape (N, 2))."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"expected X of shape (N, 2), got {X.shape}")
        w, b = self.weights
        return activate(self.state["activation"], X @ w + b)

    def predict(self, X: Array) -> Array:
        """Class 1 where the output is above the threshold, i.e. where z = w·x + b > 0."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"expected X of shape (N, 2), got {X.shape}")
        w, b = self.weights
        return (X @ w + b > 0).astype(np.int64)

    def accuracy(self) -> float:
        """Fraction of the current dataset's points classified correctly."""
        X, y = self.data
        return float(np.mean(self.predict(X) == y))

    def loss(self) -> float:
        """The training loss of the current activation (see ``loss_and_gradient``)."""
        X, y = self.data
        w, b = self.weights
        return loss_and_gradient(self.state["activation"], X, y, w, b)[0]

    def fit(self, steps: int = TRAIN_STEPS, lr: float | None = None) -> list[float]:
        """Run ``steps`` steps of full-batch gradient descent, update the state and figure.

        Returns the loss before each step. ``lr`` defaults to ``state["lr"]``. Should a
        parameter leave [−10, 10] (on separable data logistic regression's weights grow
        without end), (w1, w2, b) are scaled down together, which keeps the boundary in place.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"expected steps to be a positive integer, got {steps!r}")
        lr = self.state["lr"] if lr is None else lr
        if not _is_real(lr) or not 0 < lr <= 10:
            raise ValueError(f"expected lr in (0, 10], got {lr!r}")
        X, y = self.data
        w, b = self.weights
        losses = []
        for _ in range(int(steps)):
            loss, dw, db = loss_and_gradient(self.state["activation"], X, y, w, b)
            losses.append(loss)
            w, b = w - lr * dw, b - lr * db
            largest = max(np.abs(w).max(), abs(b))
            if largest > PARAM_LIMIT:
                w, b = w * (PARAM_LIMIT / largest), b * (PARAM_LIMIT / largest)
        # clip only float round-off (10.000000000000002), never a real step
        w1, w2, b = (float(np.clip(v, -PARAM_LIMIT, PARAM_LIMIT)) for v in (w[0], w[1], b))
        self.set(w1=w1, w2=w2, b=b)
        return losses

    # ---- what is drawn --------------------------------------------------------------------
    def grid(self) -> tuple[Array, Array, Array]:
        """(xx, yy, output) on the plotting grid: exactly what the filled contour shows."""
        ticks = np.linspace(-VIEW, VIEW, GRID)
        xx, yy = np.meshgrid(ticks, ticks)
        out = self.output(np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(xx.shape)
        return xx, yy, out

    def boundary(self) -> Array:
        """Points (K, 2) of the line w1·x1 + w2·x2 + b = 0 inside the view; empty when w = 0."""
        w, b = self.weights
        norm2 = float(w @ w)
        if norm2 == 0.0:
            return np.zeros((0, 2))
        foot = -b * w / norm2  # the point of the line closest to the origin
        direction = np.array([-w[1], w[0]]) / np.sqrt(norm2)
        reach = VIEW * np.sqrt(2.0) + np.sqrt(foot @ foot)
        points = foot + np.linspace(-reach, reach, 801)[:, None] * direction
        inside = np.all(np.abs(points) <= VIEW, axis=1)
        return points[inside]

    def output_range(self, out: Array) -> tuple[float, float]:
        """The colour scale: the activation's range (for ReLU, 0 to the largest output shown)."""
        name = self.state["activation"]
        if name == "tanh":
            return -1.0, 1.0
        if name == "relu":
            return 0.0, max(1.0, float(out.max()))
        return 0.0, 1.0

    def draw_initial(self) -> None:
        self.ax = self.figure.subplots()
        self.ax.set_xlim(-VIEW, VIEW)
        self.ax.set_ylim(-VIEW, VIEW)
        self.ax.set_aspect("equal")
        self.ax.grid(False)
        self.ax.set_xlabel("$x_1$ (standardized)")
        self.ax.set_ylabel("$x_2$ (standardized)")
        self.scale = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=CMAP)
        self.colorbar = self.figure.colorbar(self.scale, ax=self.ax, shrink=0.9,
                                             label="neuron output $a = f(z)$")
        self.threshold_mark = self.colorbar.ax.axhline(0.5, color="black", linewidth=2)
        self.contour = None
        self.class_points = [
            self.ax.scatter([], [], s=36, marker=marker, color=color, edgecolors="white",
                            linewidths=0.6, zorder=3, label=f"class {label}")
            for label, marker, color in ((0, "o", PALETTE[1]), (1, "s", PALETTE[0]))
        ]
        self.boundary_line, = self.ax.plot([], [], color="black", linewidth=2.4, zorder=4,
                                           label="boundary $z = 0$")
        self.w_arrow = self.ax.annotate("", xy=(0, 0), xytext=(0, 0), zorder=5,
                                        arrowprops={"arrowstyle": "-|>", "color": "black",
                                                    "linewidth": 2.2, "mutation_scale": 18})
        self.w_label = self.ax.text(0, 0, "$w$", fontsize=12, zorder=5, ha="center", va="center",
                                   bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                         "edgecolor": "none", "alpha": 0.85})
        self.ax.legend(loc="upper left", framealpha=0.9)
        self._shown_dataset: str | None = None

    def redraw(self) -> None:
        name = self.state["activation"]
        if self._shown_dataset != self.state["dataset"]:  # move the points only when they change
            X, y = self.data
            for label, points in enumerate(self.class_points):
                points.set_offsets(X[y == label])
            self._shown_dataset = self.state["dataset"]

        xx, yy, out = self.grid()
        low, high = self.output_range(out)
        threshold = THRESHOLD[name]
        levels = np.linspace(low, high, 21)  # the threshold is the middle level or the lowest
        if self.contour is not None:
            self.contour.remove()  # only the old filled contour goes; everything else stays
        cmap = CMAP_RELU if name == "relu" else CMAP
        self.contour = self.ax.contourf(xx, yy, out, levels=levels, cmap=cmap,
                                        norm=Normalize(low, high), zorder=0)
        self.scale.set_cmap(cmap)  # the colorbar follows both
        self.scale.set_clim(low, high)
        self.threshold_mark.set_ydata([threshold, threshold])

        line = self.boundary()
        self.boundary_line.set_data(line[:, 0], line[:, 1])
        w, b = self.weights
        norm = float(np.sqrt(w @ w))
        foot = -b * w / norm**2 if norm > 0 else np.zeros(2)
        visible = norm > 0 and bool(np.all(np.abs(foot) <= VIEW - 0.3))
        if visible:  # w points from the boundary into the class-1 side
            tip = foot + 0.9 * w / norm
            self.w_arrow.xy = tuple(tip)
            self.w_arrow.set_position(tuple(foot))
            self.w_label.set_position(tuple(foot + 1.2 * w / norm))
        self.w_arrow.set_visible(visible)
        self.w_label.set_visible(visible)

        self.ax.set_title(f"{name} neuron on {self.state['dataset']}: "
                          f"accuracy {self.accuracy():.1%}\n"
                          f"$w$ = ({w[0]:.2f}, {w[1]:.2f}),  $b$ = {b:.2f},  lr {self.state['lr']:g}")
