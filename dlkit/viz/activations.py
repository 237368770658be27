"""The activation explorer (chapter 01): an activation, its derivative, and where it saturates.

Pick an activation and a parameter (LeakyReLU's α, ELU's α, Swish's β) and see f(x) and f'(x)
side by side. The shaded band marks where |f'(x)| < 0.05: inputs there pass almost no
gradient back, which is the vanishing-gradient story of chapter 05 in one picture.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from dlkit.ref import activations as act
from dlkit.viz.demo import Demo

PARAMETER_OF = {"leaky_relu": "alpha", "elu": "alpha", "swish": "beta"}
SATURATED = 0.05


class ActivationExplorer(Demo):
    """Plot f and f' for one of ``dlkit.ref.activations.ELEMENTWISE`` (chapter 01).

    State: ``activation`` (name), ``param`` (α or β where the activation has one),
    ``x_range`` (half-width of the x axis).
    """

    figure_px = (520, 480)

    def defaults(self) -> dict[str, Any]:
        return {"activation": "sigmoid", "param": 0.1, "x_range": 6.0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["activation"] not in act.ELEMENTWISE:
            raise ValueError(f"expected an activation among {sorted(act.ELEMENTWISE)}, "
                             f"got {state['activation']!r}")
        if not 0.5 <= float(state["x_range"]) <= 50:
            raise ValueError(f"expected x_range between 0.5 and 50, got {state['x_range']!r}")
        return {**state, "param": float(state["param"]), "x_range": float(state["x_range"])}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "activation": widgets.Dropdown(options=sorted(act.ELEMENTWISE), description="activation"),
            "param": widgets.FloatSlider(min=0.0, max=3.0, step=0.05, description="α / β",
                                         continuous_update=True),
            "x_range": widgets.FloatSlider(min=1.0, max=20.0, step=0.5, description="x range"),
        }

    def refresh_controls(self) -> None:
        # the slider only means something for activations with an α or a β
        name = self.state["activation"]
        self._controls["param"].disabled = name not in PARAMETER_OF
        self._controls["param"].description = PARAMETER_OF.get(name, "α / β")

    def curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, f(x), f'(x)) for the current state: exactly what is plotted."""
        name, param = self.state["activation"], self.state["param"]
        f, df = act.ELEMENTWISE[name]
        x = np.linspace(-self.state["x_range"], self.state["x_range"], 401)
        if name in PARAMETER_OF:
            return x, f(x, param), df(x, param)
        return x, f(x), df(x)

    def draw_initial(self) -> None:
        self.ax_f, self.ax_df = self.figure.subplots(2, 1, sharex=True)
        self.line_f, = self.ax_f.plot([], [], color="C0")
        self.line_df, = self.ax_df.plot([], [], color="C1")
        self.ax_df.set_xlabel("x")
        self.ax_df.set_title("f'(x); grey: |f'| < 0.05, saturated")
        self.saturation = []

    def redraw(self) -> None:
        x, y, dy = self.curves()
        name = self.state["activation"]
        label = name if name not in PARAMETER_OF else f"{name} ({PARAMETER_OF[name]}={self.state['param']:g})"
        self.line_f.set_data(x, y)
        self.line_df.set_data(x, dy)
        self.ax_f.set_title(f"f(x) = {label}")
        for band in self.saturation:
            band.remove()
        flat = np.abs(dy) < SATURATED
        self.saturation = [
            self.ax_df.fill_between(x, 0, 1, where=flat, color="grey", alpha=0.15,
                                    transform=self.ax_df.get_xaxis_transform(), label="|f'| < 0.05")
        ]
        for ax, values in ((self.ax_f, y), (self.ax_df, dy)):
            low, high = float(values.min()), float(values.max())
            pad = 0.1 * max(high - low, 1e-3)
            ax.set_xlim(x[0], x[-1])
            ax.set_ylim(low - pad, high + pad)
