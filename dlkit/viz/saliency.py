"""Which pixels a CNN's answer rests on (chapter 12): saliency, Grad-CAM, occlusion and
integrated gradients, for an image the learner picks.

``SaliencyDemo`` takes a trained torch CNN and a few images. Pick an image, a method and the
class to explain ("predicted" or a digit): the left panel shows the input with its label and
the network's guess, the middle one the attribution map over the input (red: evidence for the
class, blue: against), the right one the network's class probabilities. Grad-CAM uses the last
convolution layer. Each map is computed once per (image, method, class) and cached.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from dlkit.viz.demo import Demo
from dlkit.viz.features import _as_images, digits_lenet
from dlkit.viz.style import PALETTE

METHODS = ("saliency", "Grad-CAM", "occlusion", "integrated gradients")
TARGETS = ("predicted",) + tuple(str(k) for k in range(10))


class SaliencyDemo(Demo):
    """Attribution maps of a trained CNN, live (chapter 12).

    State: ``image`` (index into the images), ``method`` (one of ``METHODS``), ``target``
    ("predicted" or a class index as a string, "0".."9"). ``attribution(state)`` is the map
    drawn, shaped like one image's height and width.
    """

    figure_px = (500, 280)   # beside the controls, within a 1280-px-wide notebook

    def __init__(self, model: nn.Module, images: Any, labels: Any = None, **state: Any) -> None:
        self.model = model.eval()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError(f"SaliencyDemo expected a CNN (a model with an nn.Conv2d for Grad-CAM), "
                             f"got a {type(model).__name__} without one")
        self.last_conv = convs[-1]
        self.images = _as_images(images, convs[0].in_channels)
        self.labels = None if labels is None else np.asarray(labels)
        with torch.no_grad():
            self.probabilities = torch.softmax(self.model(self.images), dim=1).numpy()
        self._cache: dict[tuple, np.ndarray] = {}
        super().__init__(**state)

    @classmethod
    def on_digits(cls, *, seed: int = 0, epochs: int = 6, n_images: int = 12, **state: Any) -> SaliencyDemo:
        """The demo on chapter 07's ``LeNet``, trained here in a few seconds on the 8×8 digits
        upsampled to 16×16; shows ``n_images`` test digits."""
        model, images, labels = digits_lenet(seed, epochs, n_images)
        return cls(model, images, labels, **state)

    def defaults(self) -> dict[str, Any]:
        return {"image": 0, "method": "Grad-CAM", "target": "predicted"}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        image = state["image"]
        if isinstance(image, bool) or not isinstance(image, (int, np.integer)) or not 0 <= image < len(self.images):
            raise ValueError(f"expected image an int from 0 to {len(self.images) - 1}, got {image!r}")
        if state["method"] not in METHODS:
            raise ValueError(f"expected method among {METHODS}, got {state['method']!r}")
        target = str(state["target"])
        classes = self.probabilities.shape[1]
        if target != "predicted" and not (target.isdigit() and int(target) < classes):
            raise ValueError(f"expected target 'predicted' or a class from 0 to {classes - 1}, got {state['target']!r}")
        return {"image": int(image), "method": state["method"], "target": target}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        classes = self.probabilities.shape[1]
        return {
            "image": widgets.IntSlider(min=0, max=len(self.images) - 1, description="image",
                                       continuous_update=False),
            "method": widgets.Dropdown(options=list(METHODS), description="method"),
            "target": widgets.Dropdown(options=["predicted"] + [str(k) for k in range(classes)],
                                       description="explain"),
        }

    # ---- what is computed -------------------------------------------------------------------
    def target_class(self, state: dict[str, Any]) -> int:
        if state["target"] == "predicted":
            return int(self.probabilities[state["image"]].argmax())
        return int(state["target"])

    def attribution(self, state: dict[str, Any]) -> np.ndarray:
        """The (H, W) map of ``state``'s method for its image and class (summed over channels)."""
        from dlkit.trust.interpret import grad_cam, integrated_gradients, occlusion, saliency

        key = (state["image"], state["method"], self.target_class(state))
        if key not in self._cache:
            x = self.images[state["image"]:state["image"] + 1]
            target = key[2]
            method = state["method"]
            if method == "saliency":
                values = saliency(self.model, x, target)
            elif method == "Grad-CAM":
                values = grad_cam(self.model, self.last_conv, x, target, mode="bilinear")
            elif method == "occlusion":
                side = max(2, x.shape[-1] // 4)   # 4×4 windows on 16×16: 49 forward passes, quick
                values = occlusion(self.model, x, target, window=(side, side), stride=max(1, side // 2))
            else:
                values = integrated_gradients(self.model, x, target, steps=32)
            self._cache[key] = values[0].detach().sum(dim=0).numpy()
        return self._cache[key]

    # ---- drawing -------------------------------------------------------------------------
    def draw_initial(self) -> None:
        self.ax_image, self.ax_map, self.ax_prob = self.figure.subplots(
            1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
        blank = np.zeros(self.images.shape[-2:])
        self.picture = self.ax_image.imshow(blank, cmap="gray_r")
        self.heat = self.ax_map.imshow(blank, cmap="RdBu_r", vmin=-1, vmax=1)
        for ax in (self.ax_image, self.ax_map):
            ax.set(xticks=[], yticks=[])
        classes = self.probabilities.shape[1]
        self.bars = self.ax_prob.barh(range(classes), np.zeros(classes), color=PALETTE[0])
        self.ax_prob.set(xlim=(0, 1), yticks=range(classes), xlabel="probability", title="the network says")
        self.ax_prob.invert_yaxis()

    def redraw(self) -> None:
        s = self.state
        index, target = s["image"], self.target_class(s)
        picture = self.images[index].sum(dim=0).numpy()
        self.picture.set_data(picture)
        self.picture.set_clim(picture.min(), picture.max())
        values = self.attribution(s)
        limit = float(np.abs(values).max()) or 1.0
        self.heat.set_data(values)
        self.heat.set_clim(-limit, limit)
        guess = int(self.probabilities[index].argmax())
        label = "" if self.labels is None else f"label {int(self.labels[index])}, "
        self.ax_image.set_title(f"{label}guess {guess}")
        self.ax_map.set_title(f"{s['method']}\nfor class {target}")
        for k, bar in enumerate(self.bars):
            bar.set_width(float(self.probabilities[index, k]))
            bar.set_color(PALETTE[1] if k == target else PALETTE[0])
