"""Init histograms (chapter 05): what initialization does to a deep MLP, layer by layer.

A fixed batch goes forward and backward through ``depth`` dense layers of ``width`` units
(torch, CPU, seeded). The left column plots, per layer, the std of the activations (top) and of
the weight gradients ∂L/∂W (bottom) on a log scale; the right column shows the histograms of the
first, middle and last layers on one common x range, so a distribution that collapses to a
spike at 0 (too small init) or piles up at ±1 (saturated tanh) is visible at once. Switch on
batch norm to see it rescue a bad init.
"""
from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import MaxNLocator

from dlkit.viz.demo import Demo

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}
INITS = {"small": "N(0, 0.01²), too small", "large": "N(0, 1), too large",
         "xavier": "Xavier normal", "he": "He normal"}
BATCH = 256
BINS = 41


def init_std(init: str, fan_in: int, fan_out: int) -> float:
    """The std of the weights for one of ``INITS`` (chapter 05): 0.01, 1, √(2/(fan_in+fan_out))
    (Xavier) or √(2/fan_in) (He)."""
    if init == "small":
        return 0.01
    if init == "large":
        return 1.0
    if init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if init == "he":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"expected init among {sorted(INITS)}, got {init!r}")


def deep_mlp_statistics(depth: int, width: int, activation: str, init: str, batch_norm: bool,
                        seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Forward and backward one seeded batch through a deep MLP (chapter 05).

    Layer l computes h_l = act(BN?(h_{l−1} W_l)), W_l of shape (width, width) drawn N(0, std²)
    with ``init_std``, bias-free; the loss is mean_n Σ_j h_L[n, j]·R[n, j] for a fixed random R.
    Returns ``{"activations": [h_1, ..., h_L], "gradients": [∂L/∂W_1, ..., ∂L/∂W_L]}`` as
    numpy arrays. Draw order from ``torch.Generator().manual_seed(seed)``: X, W_1..W_L, R.
    """
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(BATCH, width, generator=generator)
    std = init_std(init, width, width)
    weights = [(torch.randn(width, width, generator=generator) * std).requires_grad_()
               for _ in range(depth)]
    R = torch.randn(BATCH, width, generator=generator)
    f = ACTIVATIONS[activation]
    h, activations = X, []
    for W in weights:
        z = h @ W
        if batch_norm:
            z = F.batch_norm(z, None, None, training=True)
        h = f(z)
        activations.append(h)
    loss = (h * R).sum() / BATCH
    loss.backward()
    return {"activations": [a.detach().numpy() for a in activations],
            "gradients": [W.grad.numpy() for W in weights]}


class InitHistograms(Demo):
    """Per-layer activation and gradient statistics of a deep MLP (chapter 05).

    State: ``depth`` (2–30 layers), ``width`` (8–512 units), ``activation`` (tanh, relu,
    sigmoid), ``init`` (small, large, xavier, he), ``batch_norm`` (on/off).
    """

    figure_px = (520, 520)

    def defaults(self) -> dict[str, Any]:
        return {"depth": 10, "width": 256, "activation": "tanh", "init": "xavier",
                "batch_norm": False}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        for name, low, high in (("depth", 2, 30), ("width", 8, 512)):
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not low <= value <= high:
                raise ValueError(f"expected {name} an integer between {low} and {high}, "
                                 f"got {value!r}")
        if state["activation"] not in ACTIVATIONS:
            raise ValueError(f"expected activation among {sorted(ACTIVATIONS)}, "
                             f"got {state['activation']!r}")
        if state["init"] not in INITS:
            raise ValueError(f"expected init among {sorted(INITS)}, got {state['init']!r}")
        if not isinstance(state["batch_norm"], (bool, np.bool_)):
            raise ValueError(f"expected batch_norm True or False, got {state['batch_norm']!r}")
        return {**state, "depth": int(state["depth"]), "width": int(state["width"]),
                "batch_norm": bool(state["batch_norm"])}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "depth": widgets.IntSlider(min=2, max=30, description="depth"),
            "width": widgets.IntSlider(min=8, max=512, step=8, description="width"),
            "activation": widgets.Dropdown(options=sorted(ACTIVATIONS), description="activation"),
            "init": widgets.Dropdown(options=[(label, key) for key, label in INITS.items()],
                                     description="init"),
            "batch_norm": widgets.Checkbox(description="batch norm"),
        }

    def statistics(self) -> dict[str, list[np.ndarray]]:
        """Activations and weight gradients per layer for the current state."""
        s = self.state
        return deep_mlp_statistics(s["depth"], s["width"], s["activation"], s["init"],
                                   s["batch_norm"])

    def shown_layers(self) -> list[int]:
        """The 1-based layers whose histograms are drawn: first, middle, last."""
        depth = self.state["depth"]
        return [1, (depth + 1) // 2, depth]

    def draw_initial(self) -> None:
        (self.ax_act_std, self.ax_act_hist), (self.ax_grad_std, self.ax_grad_hist) = \
            self.figure.subplots(2, 2, gridspec_kw={"width_ratios": [1, 1.2]})
        self.std_lines = {}
        self.hist_lines = {}
        for kind, ax_std, ax_hist, title in (
                ("activations", self.ax_act_std, self.ax_act_hist, "activations $h_l$"),
                ("gradients", self.ax_grad_std, self.ax_grad_hist, r"weight gradients $\partial L/\partial W_l$")):
            self.std_lines[kind], = ax_std.plot([], [], "o-", color="C0" if kind == "activations" else "C1")
            ax_std.set_yscale("log")
            ax_std.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers are whole numbers
            ax_std.set_ylabel("std per layer")
            ax_std.set_title(title)
            # distinct dashes and widths: identical histograms (saturation) stay visible
            self.hist_lines[kind] = [ax_hist.plot([], [], drawstyle="steps-mid", color=f"C{i + 2}",
                                                  lw=lw, ls=ls)[0]
                                     for i, (lw, ls) in enumerate(((3.5, "-"), (2.5, "--"), (1.8, ":")))]
            ax_hist.set_ylabel("fraction of values")
            ax_hist.set_title("layers first, middle, last")
        self.ax_grad_std.set_xlabel("layer $l$")
        self.ax_grad_hist.set_xlabel("value")

    def redraw(self) -> None:
        stats = self.statistics()
        s = self.state
        layers = np.arange(1, s["depth"] + 1)
        self.stds = {}
        for kind, ax_std, ax_hist in (("activations", self.ax_act_std, self.ax_act_hist),
                                      ("gradients", self.ax_grad_std, self.ax_grad_hist)):
            stds = np.array([float(v.std()) for v in stats[kind]])
            self.stds[kind] = stds
            # a log axis cannot show 0 (a dead layer): draw it at a floor value instead
            self.std_lines[kind].set_data(layers, np.maximum(stds, 1e-30))
            ax_std.set_xlim(0.5, s["depth"] + 0.5)
            low, high = np.maximum(stds, 1e-30).min(), np.maximum(stds, 1e-30).max()
            ax_std.set_ylim(low / 10, high * 10)   # at least two decades: flat looks flat
            shown = [stats[kind][layer - 1].ravel() for layer in self.shown_layers()]
            # one common range for the three layers, so shrinking and saturation are visible
            reach = max(float(np.abs(v).max()) for v in shown)
            reach = reach if reach > 0 else 1.0
            low_edge = 0.0 if kind == "activations" and s["activation"] != "tanh" else -reach
            edges = np.linspace(low_edge, reach, BINS + 1)
            centres = (edges[:-1] + edges[1:]) / 2
            peak = 0.0
            for line, layer, values in zip(self.hist_lines[kind], self.shown_layers(), shown, strict=True):
                counts, _ = np.histogram(values, bins=edges)
                fraction = counts / values.size
                peak = max(peak, float(fraction.max()))
                line.set_data(centres, fraction)
                line.set_label(f"layer {layer}: std {values.std():.2g}")
            ax_hist.set_xlim(edges[0], edges[-1])
            ax_hist.set_ylim(0, 1.1 * peak)
            ax_hist.legend(loc="upper right", fontsize="x-small")  # "best" cost 0.2 s a frame
        bn = ", batch norm" if s["batch_norm"] else ""
        self.figure.suptitle(f"{s['depth']} layers × {s['width']} units, {s['activation']}, "
                             f"{INITS[s['init']]}{bn}", fontsize="medium")
