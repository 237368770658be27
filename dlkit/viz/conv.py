"""The convolution stepper (chapter 07): a kernel slides over an image, the output fills in.

Pick an image, a kernel, the stride and the padding, and move ``step``: the window over the
(padded) input moves in reading order, the product of the window with the kernel is shown, and
the output map fills in one pixel per step. The output size follows
⌊(n + 2p − k) / s⌋ + 1, which the title states for the current settings.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from dlkit.ref.nn.conv import conv_output_size, im2col
from dlkit.viz.demo import Demo


def _square() -> np.ndarray:
    image = np.zeros((9, 9))
    image[2:7, 2:7] = 1.0
    return image


def _diagonal() -> np.ndarray:
    return np.tril(np.ones((9, 9)))


def _ring() -> np.ndarray:
    yy, xx = np.mgrid[0:9, 0:9]
    radius = np.hypot(yy - 4, xx - 4)
    return ((radius > 1.5) & (radius < 3.6)).astype(float)


IMAGES: dict[str, Callable[[], np.ndarray]] = {"square": _square, "diagonal": _diagonal,
                                               "ring": _ring}
KERNELS: dict[str, np.ndarray] = {
    "vertical edge": np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]),
    "horizontal edge": np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]),
    "blur": np.full((3, 3), 1.0 / 9.0),
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
}


class ConvStepper(Demo):
    """Slide a 3×3 kernel over a small image, one output pixel per ``step`` (chapter 07).

    State: ``image`` (a name in ``IMAGES``), ``kernel`` (a name in ``KERNELS``), ``stride``
    (1..3), ``padding`` (0..2) and ``step`` (0 = nothing computed yet, up to the number of
    output pixels). ``output()`` is the full result, ``shown_output()`` what is drawn (NaN for
    pixels not computed yet)."""

    figure_px = (520, 420)

    def defaults(self) -> dict[str, Any]:
        return {"image": "square", "kernel": "vertical edge", "stride": 1, "padding": 0,
                "step": 1}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["image"] not in IMAGES:
            raise ValueError(f"expected image among {sorted(IMAGES)}, got {state['image']!r}")
        if state["kernel"] not in KERNELS:
            raise ValueError(f"expected kernel among {sorted(KERNELS)}, got {state['kernel']!r}")
        for name, low, high in (("stride", 1, 3), ("padding", 0, 2)):
            value = state[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not low <= value <= high:
                raise ValueError(f"expected {name} an int in {low}..{high}, got {value!r}")
        state = {**state, "stride": int(state["stride"]), "padding": int(state["padding"])}
        total = self._output_shape(state)[0] * self._output_shape(state)[1]
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step:
            raise ValueError(f"expected step a non-negative int, got {step!r}")
        # a change of stride or padding can shrink the output: keep the step inside it
        return {**state, "step": min(int(step), total)}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "image": widgets.Dropdown(options=sorted(IMAGES), description="image"),
            "kernel": widgets.Dropdown(options=list(KERNELS), description="kernel"),
            "stride": widgets.IntSlider(min=1, max=3, description="stride"),
            "padding": widgets.IntSlider(min=0, max=2, description="padding"),
            "step": widgets.IntSlider(min=0, max=self.num_steps(), description="step"),
        }

    def refresh_controls(self) -> None:
        self._controls["step"].max = self.num_steps()

    # ---- what is computed --------------------------------------------------------------------
    @staticmethod
    def _output_shape(state: dict[str, Any]) -> tuple[int, int]:
        h, w = IMAGES[state["image"]]().shape
        k = KERNELS[state["kernel"]].shape[0]
        return (conv_output_size(h, k, state["stride"], state["padding"]),
                conv_output_size(w, k, state["stride"], state["padding"]))

    def image(self) -> np.ndarray:
        return IMAGES[self.state["image"]]()

    def padded(self) -> np.ndarray:
        return np.pad(self.image(), self.state["padding"])

    def kernel(self) -> np.ndarray:
        return KERNELS[self.state["kernel"]]

    def num_steps(self) -> int:
        ho, wo = self._output_shape(self.state)
        return ho * wo

    def output(self) -> np.ndarray:
        """The whole output map, by im2col (one column per window, one dot product each)."""
        k, s, p = self.kernel().shape[0], self.state["stride"], self.state["padding"]
        cols = im2col(self.image()[None, None], k, s, p)[0]          # (k·k, Ho·Wo)
        return (self.kernel().reshape(1, -1) @ cols).reshape(self._output_shape(self.state))

    def shown_output(self) -> np.ndarray:
        """The output with the pixels not reached yet set to NaN (what the right panel shows)."""
        shown = self.output().ravel().copy()
        shown[self.state["step"]:] = np.nan
        return shown.reshape(self._output_shape(self.state))

    def window(self) -> tuple[int, int] | None:
        """Top-left corner (row, col) in the padded input of the window of the current step."""
        step = self.state["step"]
        if step == 0:
            return None
        wo = self._output_shape(self.state)[1]
        row, col = divmod(step - 1, wo)
        return row * self.state["stride"], col * self.state["stride"]

    # ---- drawing -------------------------------------------------------------------------------
    def draw_initial(self) -> None:
        # the input large on the left, the kernel and the output map stacked beside it
        grid = self.figure.add_gridspec(2, 2, width_ratios=[1.6, 1.0])
        self.ax_in = self.figure.add_subplot(grid[:, 0])
        self.ax_k = self.figure.add_subplot(grid[0, 1])
        self.ax_out = self.figure.add_subplot(grid[1, 1])
        for ax in (self.ax_in, self.ax_k, self.ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.spines[:].set_visible(True)   # the output's frame shows the pixels still to come
        self.in_image = self.ax_in.imshow(np.zeros((2, 2)), cmap="gray", vmin=0, vmax=1)
        # padding is zeros, as dark as the image's background: a dashed line marks the image
        self.image_frame = Rectangle((0, 0), 1, 1, fill=False, edgecolor="C5", linewidth=1.5,
                                     linestyle="--")
        self.ax_in.add_patch(self.image_frame)
        self.box = Rectangle((0, 0), 3, 3, fill=False, edgecolor="C3", linewidth=2.5)
        self.ax_in.add_patch(self.box)
        self.k_image = self.ax_k.imshow(np.zeros((3, 3)), cmap="RdBu_r")
        self.k_text = [self.ax_k.text(j, i, "", ha="center", va="center", fontsize=10)
                       for i in range(3) for j in range(3)]
        self.out_image = self.ax_out.imshow(np.zeros((2, 2)), cmap="RdBu_r")
        self.out_box = Rectangle((0, 0), 1, 1, fill=False, edgecolor="C3", linewidth=2.5)
        self.ax_out.add_patch(self.out_box)
        self.ax_k.set_title("kernel")
        self.formula = self.figure.supxlabel("", fontsize=10)

    def redraw(self) -> None:
        padded, kernel, out = self.padded(), self.kernel(), self.shown_output()
        n, p, s = self.image().shape[0], self.state["padding"], self.state["stride"]
        self.in_image.set_data(padded)
        self.in_image.set_extent((-0.5, padded.shape[1] - 0.5, padded.shape[0] - 0.5, -0.5))
        self.image_frame.set_bounds(p - 0.5, p - 0.5, n, self.image().shape[1])
        self.image_frame.set_visible(p > 0)
        self.ax_in.set_title(f"input {n}×{self.image().shape[1]}" + (" (dashed)" if p else "")
                             + f", padding {p}")
        self.k_image.set_data(kernel)
        limit = float(np.abs(kernel).max())
        self.k_image.set_clim(-limit, limit)
        for text, value in zip(self.k_text, kernel.ravel(), strict=True):
            text.set_text(f"{value:.2g}")
            text.set_color("white" if abs(value) > 0.6 * limit else "black")   # readable on dark
        full = self.output()
        limit = max(float(np.abs(full).max()), 1e-9)
        self.out_image.set_data(out)
        self.out_image.set_clim(-limit, limit)
        self.out_image.set_extent((-0.5, out.shape[1] - 0.5, out.shape[0] - 0.5, -0.5))
        corner = self.window()
        self.box.set_visible(corner is not None)
        self.out_box.set_visible(corner is not None)
        self.ax_out.set_title(f"output {out.shape[0]}×{out.shape[1]}\n"
                              f"step {self.state['step']}/{self.num_steps()}")
        formula = f"output side ⌊(n+2p−k)/s⌋+1 = ⌊({n}+{2 * p}−3)/{s}⌋+1 = {out.shape[0]}"
        if corner is not None:
            row, col = corner
            self.box.set_xy((col - 0.5, row - 0.5))
            out_row, out_col = divmod(self.state["step"] - 1, out.shape[1])
            self.out_box.set_xy((out_col - 0.5, out_row - 0.5))
            value = float(np.sum(padded[row:row + 3, col:col + 3] * kernel))
            formula += f"\nlast output pixel: Σ window ⊙ kernel = {value:.2f}"
        self.formula.set_text(formula)
