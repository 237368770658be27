"""What a trained CNN sees (chapter 07): its filters and its feature maps, image by image.

``FeatureMapDemo`` takes a trained torch network and a few images. Pick an image, a convolution
layer and a page of its channels: the left panel shows the input (with the label and the
network's guess), the right panels show, for each channel of the page, its filter above its
feature map after the activation that follows the convolution. The first layer's filters act
on pixels, so they are shown as they are (the kernels as images); a deeper filter acts on all the
maps of the layer before, so the slice on the input map it weights most is shown.

The maps are the network's own intermediate activations, taken with forward hooks on one forward
pass per image and cached, so a control change only redraws.
"""
from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from dlkit.viz.demo import Demo

CHANNELS_PER_PAGE = 8
MAX_IMAGES = 64
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)


def conv_activations(model: nn.Module, images: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(conv name → its maps after the activation that follows it, the model's output).

    Runs ``model`` once on ``images`` (N, C, H, W) with forward hooks on every leaf module and
    pairs each ``nn.Conv2d`` with the first activation module (ReLU, tanh, ...) that runs after
    it and before the next convolution; a convolution without one is refused (chapter 07)."""
    names = {module: name for name, module in model.named_modules()}
    calls: list[tuple[nn.Module, torch.Tensor]] = []

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            calls.append((module, output.detach().float().cpu()))

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            output = model(images)
    except Exception as error:
        raise ValueError(f"FeatureMapDemo could not run the model on an image of shape "
                         f"{tuple(images.shape[1:])}: {error}") from error
    finally:
        for hook in hooks:
            hook.remove()
    maps: dict[str, torch.Tensor] = {}
    for position, (module, _output) in enumerate(calls):
        if not isinstance(module, nn.Conv2d):
            continue
        following = calls[position + 1:]
        stop = next((i for i, (m, _) in enumerate(following) if isinstance(m, nn.Conv2d)), len(following))
        activation = next((out for m, out in following[:stop] if isinstance(m, ACTIVATIONS)), None)
        if activation is None:
            raise ValueError(f"FeatureMapDemo expected an activation module (nn.ReLU, nn.Tanh, ...) "
                             f"after the convolution {names[module]!r} and before the next one, "
                             f"found none (an activation called as a function is invisible to hooks)")
        maps.setdefault(names[module], activation)   # a convolution called twice: its first use
    if isinstance(output, (tuple, list)):
        output = output[0]
    return maps, output.detach().float().cpu()


def digits_lenet(seed: int = 0, epochs: int = 6, n_images: int = 12
                 ) -> tuple[nn.Module, torch.Tensor, np.ndarray]:
    """(a ``LeNet`` trained on the 8×8 digits upsampled to 16×16, ``n_images`` test images and
    their labels), the same for a ``seed`` on every run; the global RNGs are left untouched."""
    import torch.nn.functional as F

    from dlkit.data import load_digits
    from dlkit.models import LeNet
    from dlkit.runtime import torch_threads
    from dlkit.train import Trainer

    for name, value, low in (("seed", seed, 0), ("epochs", epochs, 1), ("n_images", n_images, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"expected {name} an int >= {low}, got {value!r}")
    if n_images > MAX_IMAGES:
        raise ValueError(f"expected n_images <= {MAX_IMAGES}, got {n_images}")
    train, _, test = load_digits(images=True).split(val=0.0, test=0.2, seed=seed)
    train, stats = train.standardize()
    test = test.standardize(stats)[0]

    def upsample(x: np.ndarray) -> torch.Tensor:
        return F.interpolate(torch.as_tensor(x), size=16, mode="bilinear", align_corners=False)

    with torch_threads(1), torch.random.fork_rng(devices=[]):   # the learner's RNG stays untouched
        torch.manual_seed(seed)
        model = LeNet(in_channels=1, num_classes=10, image_size=16)
        data = torch.utils.data.TensorDataset(upsample(train.X), torch.as_tensor(train.y))
        loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True,
                                             generator=torch.Generator().manual_seed(seed))
        Trainer(model, torch.optim.Adam(model.parameters(), lr=3e-3), nn.CrossEntropyLoss(),
                device="cpu", progress=False, plot=False).fit(loader, epochs=epochs)
    model.eval()
    return model, upsample(test.X[:n_images]), test.y[:n_images]


def _as_images(images: Any, in_channels: int) -> torch.Tensor:
    if not isinstance(images, (np.ndarray, torch.Tensor)):
        raise TypeError(f"FeatureMapDemo expected images as a numpy array or torch tensor of shape "
                        f"(N, {in_channels}, H, W), got {type(images).__name__}")
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[1] != in_channels or not 1 <= len(images) <= MAX_IMAGES:
        raise ValueError(f"FeatureMapDemo expected images of shape (N, {in_channels}, H, W) with "
                         f"1 <= N <= {MAX_IMAGES}, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"FeatureMapDemo expected floating-point images (as the model was trained "
                         f"on), got dtype {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"FeatureMapDemo expected finite images, got "
                         f"{int((~torch.isfinite(images)).sum())} NaN or infinite values")
    return images


class FeatureMapDemo(Demo):
    """Filters and feature maps of a trained CNN ``model`` for a few ``images`` (chapter 07).

    ``images``: (N, C, H, W), what the model takes (standardized as in training); ``labels``:
    their true classes (optional, shown in the title). State: ``image`` (an index into
    ``images``), ``layer`` (the name of a ``nn.Conv2d`` in ``model.named_modules()``, default the
    first) and ``page`` (which 8 channels). ``maps(i, layer)`` is what is drawn: the activation
    after that convolution for image ``i``. The model is left in the mode it was given in."""

    figure_px = (520, 460)

    def __init__(self, model: nn.Module, images: Any, labels: Any = None, **state: Any) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"FeatureMapDemo expected a trained torch nn.Module, got {type(model).__name__}")
        self.convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
        if not self.convs:
            raise ValueError(f"FeatureMapDemo expected a model with at least one nn.Conv2d, "
                             f"found none in {type(model).__name__}")
        first = next(iter(self.convs.values()))
        self.model, self.images = model, _as_images(images, first.in_channels)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(self.images),):
                raise ValueError(f"FeatureMapDemo expected one label per image, shape "
                                 f"({len(self.images)},), got {labels.shape}")
        self.labels = labels
        self._cache: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        self._activations(0)          # runs the model once: bad models fail here, clearly
        super().__init__(**state)

    @classmethod
    def on_digits(cls, *, seed: int = 0, epochs: int = 6, n_images: int = 12,
                  **state: Any) -> FeatureMapDemo:
        """The demo on a ``LeNet`` trained here, in a few seconds, on the offline 8×8 digits
        upsampled to 16×16 (chapter 07); shows ``n_images`` test digits. Deterministic for a
        ``seed``, and the learner's random generators are left as they were."""
        model, images, labels = digits_lenet(seed, epochs, n_images)
        return cls(model, images, labels, **state)

    # ---- what is computed -------------------------------------------------------------------
    def _activations(self, index: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if index not in self._cache:
            was_training = self.model.training
            where = next(self.model.parameters()).device
            self.model.eval()         # batch norm uses its running statistics, dropout is off
            try:
                self._cache[index] = conv_activations(self.model, self.images[index:index + 1].to(where))
            finally:
                self.model.train(was_training)
        return self._cache[index]

    def maps(self, index: int, layer: str) -> np.ndarray:
        """(channels, h, w): the maps after ``layer``'s activation for image ``index``."""
        return self._activations(index)[0][layer][0].numpy()

    def filters(self, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """((channels, k, k) kernels as drawn, (channels,) the input channel each is taken from).

        One input channel: the kernels themselves. Several: each output channel's slice on the
        input map with the largest weight norm (a deeper filter looks at maps, not pixels)."""
        weight = self.convs[layer].weight.detach().float().cpu()          # (O, C/groups, k, k)
        strongest = weight.flatten(2).norm(dim=2).argmax(dim=1)           # (O,)
        return weight[torch.arange(len(weight)), strongest].numpy(), strongest.numpy()

    def pages(self, layer: str | None = None) -> int:
        channels = self.convs[layer or self.state["layer"]].out_channels
        return math.ceil(channels / CHANNELS_PER_PAGE)

    # ---- state and controls -----------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        return {"image": 0, "layer": next(iter(self.convs)), "page": 0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        image, layer, page = state["image"], state["layer"], state["page"]
        if isinstance(image, bool) or not isinstance(image, (int, np.integer)) \
                or not 0 <= image < len(self.images):
            raise ValueError(f"expected image an int in 0..{len(self.images) - 1}, got {image!r}")
        if layer not in self.convs:
            raise ValueError(f"expected layer among the model's convolutions {list(self.convs)}, "
                             f"got {layer!r}")
        last = self.pages(layer) - 1
        if isinstance(page, bool) or not isinstance(page, (int, np.integer)) or page < 0:
            raise ValueError(f"expected page a non-negative int, got {page!r}")
        if page > last:
            if not self.state or self.state["layer"] == layer:
                raise ValueError(f"expected page in 0..{last} ({self.convs[layer].out_channels} "
                                 f"channels of {layer!r}, {CHANNELS_PER_PAGE} a page), got {page}")
            page = last                # a narrower layer was picked: stay on its last page
        self._activations(int(image))
        return {"image": int(image), "layer": layer, "page": int(page)}

    def _layer_label(self, name: str) -> str:
        number = list(self.convs).index(name) + 1
        maps = self.maps(0, name)
        return f"conv {number} ({name}): {maps.shape[0]} maps {maps.shape[1]}×{maps.shape[2]}"

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "image": widgets.IntSlider(min=0, max=len(self.images) - 1, description="image"),
            "layer": widgets.Dropdown(options=[(self._layer_label(n), n) for n in self.convs],
                                      description="layer"),
            "page": widgets.IntSlider(min=0, max=max(1, max(self.pages(n) for n in self.convs) - 1),
                                      description="page"),
        }

    def refresh_controls(self) -> None:
        pages = self.pages()
        page = self._controls["page"]
        page.max = max(1, pages - 1)     # a slider needs two values; one page disables it
        page.disabled = pages == 1
        page.readout_format = "d"

    # ---- drawing -------------------------------------------------------------------------------
    def draw_initial(self) -> None:
        # a fixed layout: constrained layout of 18 panels would cost more than the drawing itself
        self.figure.set_layout_engine("none")
        grid = self.figure.add_gridspec(4, 5, width_ratios=[1.35, 1, 1, 1, 1], left=0.01, right=0.99,
                                        bottom=0.01, top=0.95, wspace=0.12, hspace=0.22)
        self.ax_input = self.figure.add_subplot(grid[0:2, 0])
        self.ax_info = self.figure.add_subplot(grid[2:4, 0])
        self.ax_info.axis("off")
        self.info = self.ax_info.text(0.0, 0.95, "", va="top", ha="left", fontsize=9, wrap=True,
                                      transform=self.ax_info.transAxes)
        self.slots = []
        for slot in range(CHANNELS_PER_PAGE):
            row, col = 2 * (slot // 4), 1 + slot % 4
            ax_filter = self.figure.add_subplot(grid[row, col])
            ax_map = self.figure.add_subplot(grid[row + 1, col])
            self.slots.append((ax_filter, ax_map,
                               ax_filter.imshow(np.zeros((3, 3)), cmap="RdBu_r"),
                               ax_map.imshow(np.zeros((3, 3)), cmap="viridis")))
        self.input_image = self.ax_input.imshow(np.zeros((3, 3)), cmap="gray")
        for ax in (self.ax_input, *[a for s in self.slots for a in s[:2]]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)

    @staticmethod
    def _show(artist: Any, data: np.ndarray, low: float, high: float) -> None:
        artist.set_data(data)
        artist.set_extent((-0.5, data.shape[1] - 0.5, data.shape[0] - 0.5, -0.5))
        artist.set_clim(low, high)

    def redraw(self) -> None:
        index, layer, page = self.state["image"], self.state["layer"], self.state["page"]
        picture = self.images[index].float().numpy()
        picture = picture[0] if picture.shape[0] == 1 else picture.mean(axis=0)
        self._show(self.input_image, picture, float(picture.min()), float(picture.max()) + 1e-9)
        maps, kernels, sources = self.maps(index, layer), *self.filters(layer)
        map_high = max(float(maps.max()), 1e-6)          # one scale for the layer: channels compare
        kernel_high = max(float(np.abs(kernels).max()), 1e-9)
        first_layer = self.convs[layer].in_channels == 1
        shown = range(page * CHANNELS_PER_PAGE, min(len(maps), (page + 1) * CHANNELS_PER_PAGE))
        for slot, (ax_filter, ax_map, filter_image, map_image) in enumerate(self.slots):
            channel = page * CHANNELS_PER_PAGE + slot
            visible = channel in shown
            for ax in (ax_filter, ax_map):
                ax.set_visible(visible)
            if not visible:
                continue
            self._show(filter_image, kernels[channel], -kernel_high, kernel_high)
            self._show(map_image, maps[channel], float(min(maps.min(), 0.0)), map_high)
            ax_filter.set_title(f"#{channel}" if first_layer else f"#{channel} ← map {sources[channel]}",
                                fontsize=8)
        self.ax_input.set_title(f"image {index}, {picture.shape[0]}×{picture.shape[1]}", fontsize=10)
        self.info.set_text(self._info(index, layer, maps, page))

    def _info(self, index: int, layer: str, maps: np.ndarray, page: int) -> str:
        lines = []
        output = self._activations(index)[1]
        if self.labels is not None:
            lines.append(f"label {self.labels[index]}")
        if output.ndim == 2:
            probabilities = output[0].softmax(-1)
            lines.append(f"net says {int(probabilities.argmax())} (p {float(probabilities.max()):.2f})")
        number = list(self.convs).index(layer) + 1
        last = min(len(maps), (page + 1) * CHANNELS_PER_PAGE) - 1
        lines += ["", f"conv {number}: {layer}", f"{len(maps)} maps {maps.shape[1]}×{maps.shape[2]}",
                  f"channels {page * CHANNELS_PER_PAGE}–{last}",
                  "", "top: filter", "bottom: its map", "after the activation"]
        return "\n".join(lines)
