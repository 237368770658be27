"""The small MLP that the training demos retrain on every change of a control (chapters 02, 06).

Written in numpy with its backward pass spelled out by chapter 03's chain rule, its parameters
views into one flat vector that torch's fused Adam/AdamW steps through a tensor sharing that
memory. At these sizes (64 units, 64 points) the cost of an operation is its call, not its
arithmetic: this retrains in a third to a half of the time autograd takes, which is what keeps
a demo's answer to a slider under 300 ms.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from dlkit.ref import activations as act

Array = np.ndarray

ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "relu": (act.relu, act.d_relu),
    "tanh": (act.tanh, act.d_tanh),
    "sigmoid": (act.sigmoid, act.d_sigmoid),
    "gelu": (act.gelu, act.d_gelu),
}
"""Name → (f, f') used between the hidden layers."""


class FlatParameter:
    """Every weight of a network as views into one vector (``.data``, ``.grad``), so that one
    optimizer step is one fused kernel instead of one per weight matrix."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], dtype: type = np.float32) -> None:
        sizes = [int(np.prod(shape)) for shape in shapes.values()]
        self.data = np.zeros(sum(sizes), dtype)
        self.grad = np.zeros_like(self.data)
        spans = [(int(end) - size, int(end)) for size, end in zip(sizes, np.cumsum(sizes), strict=True)]
        self.values = {name: self.data[a:b].reshape(shape)
                       for (name, shape), (a, b) in zip(shapes.items(), spans, strict=True)}
        self.grads = {name: self.grad[a:b].reshape(shape)
                      for (name, shape), (a, b) in zip(shapes.items(), spans, strict=True)}

    def torch_optimizer(self, kind: type[torch.optim.Optimizer], **hyperparameters: float) -> torch.optim.Optimizer:
        """A fused torch optimizer (``torch.optim.Adam`` or ``AdamW``) that updates ``data`` in
        place from ``grad``: the tensor it steps shares their memory."""
        flat = torch.from_numpy(self.data)
        flat.grad = torch.from_numpy(self.grad)
        return kind([flat], fused=True, **hyperparameters)


class NumpyMLP:
    """``sizes[0]`` → hidden layers ``sizes[1:-1]`` → ``sizes[-1]``, the activation and inverted
    dropout after each hidden layer (chapters 02, 03, 06).

    Initialized as torch's ``nn.Linear``: weights and biases uniform in ±1/√fan_in, drawn from
    ``rng``. Float32, like torch's default.
    """

    def __init__(self, sizes: Sequence[int], activation: str, rng: np.random.Generator,
                 dropout: float = 0.0) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"expected an activation among {sorted(ACTIVATIONS)}, got {activation!r}")
        shapes, fan_in = {}, {}
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
            shapes[f"W{i + 1}"], shapes[f"b{i + 1}"] = (n_out, n_in), (n_out,)
            fan_in[f"W{i + 1}"] = fan_in[f"b{i + 1}"] = n_in
        self.params = FlatParameter(shapes)
        for name, value in self.params.values.items():
            bound = 1.0 / np.sqrt(fan_in[name])
            value[...] = rng.uniform(-bound, bound, value.shape)
        self.num_layers = len(sizes) - 1
        self.f, self.df = ACTIVATIONS[activation]
        self.dropout = dropout

    def _layer(self, i: int) -> tuple[Array, Array]:
        return self.params.values[f"W{i}"], self.params.values[f"b{i}"]

    def __call__(self, X: Array) -> Array:
        """Predictions in evaluation mode (no dropout)."""
        a = X
        for i in range(1, self.num_layers):
            W, b = self._layer(i)
            a = self.f(a @ W.T + b)
        W, b = self._layer(self.num_layers)
        return a @ W.T + b

    def mse_backward(self, X: Array, y: Array, rng: np.random.Generator | None = None) -> float:
        """Mean squared error of a training forward pass (dropout on, masks drawn from ``rng``)
        and its gradient, written into ``params.grad``; returns the loss."""
        keep = 1.0 - self.dropout
        inputs, pre_activations, masks = [X], [], []   # what the backward pass needs, per layer
        a = X
        for i in range(1, self.num_layers):
            W, b = self._layer(i)
            z = a @ W.T + b
            mask = (rng.random(z.shape) < keep).astype(z.dtype) / keep if self.dropout else 1.0
            a = self.f(z) * mask
            inputs.append(a)
            pre_activations.append(z)
            masks.append(mask)
        W, b = self._layer(self.num_layers)
        error = a @ W.T + b - y
        d = (2.0 / error.size) * error                  # ∂L/∂ŷ for L the mean of the squares
        for i in range(self.num_layers, 0, -1):
            W = self.params.values[f"W{i}"]
            np.matmul(d.T, inputs[i - 1], out=self.params.grads[f"W{i}"])
            self.params.grads[f"b{i}"][...] = d.sum(0)
            if i > 1:   # back through layer i's input: the mask and the activation of layer i − 1
                d = (d @ W) * masks[i - 2] * self.df(pre_activations[i - 2])
        return float(np.mean(error * error))
