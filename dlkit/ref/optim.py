"""Optimizers from scratch in numpy (chapter 04): SGD with momentum and Nesterov, AdaGrad,
RMSprop, Adam, AdamW.

Each optimizer follows ``torch.optim`` step for step, so a learner can check a from-scratch
run against torch to the last digit. They work on any object with a ``.data`` array and a
``.grad`` array (or ``None``): a ``dlkit.ref.Tensor``, or a tiny class of your own.

The update is written into ``p.data`` in place (``p.data -= ...``), so views and aliases of a
parameter stay valid, and parameters whose ``.grad`` is ``None`` are left alone, as in torch.
A schedule (``dlkit.ref.schedules``) changes the plain float ``optimizer.lr`` between steps.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable
from numbers import Real
from typing import Any, Protocol

import numpy as np

Array = np.ndarray


class HasGrad(Protocol):
    """A parameter: a float array ``.data`` updated in place, and its gradient ``.grad``."""

    data: Array
    grad: Array | None


def _check_number(name: str, value: Any, low: float, high: float | None = None,
                  high_inclusive: bool = False) -> float:
    """``value`` as a float, or a ValueError saying which range was expected."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        if high is None:
            expected = f"{name} >= {low}"
        else:
            expected = f"{name} in [{low}, {high}{']' if high_inclusive else ')'}"
        raise ValueError(f"expected {expected}, got {value!r}")
    return float(value)


def _check_param(i: int, p: Any) -> None:
    if not hasattr(p, "data") or not hasattr(p, "grad"):
        raise TypeError(
            f"expected parameter {i} to have .data and .grad (e.g. a dlkit.ref.Tensor), "
            f"got {type(p).__name__}"
        )
    if not isinstance(p.data, np.ndarray) or p.data.dtype.kind != "f":
        found = p.data.dtype if isinstance(p.data, np.ndarray) else type(p.data).__name__
        raise TypeError(
            f"expected parameter {i} .data to be a float np.ndarray (updated in place), "
            f"got {found}"
        )


class Optimizer(ABC):
    """Base class: holds the parameters, ``lr``, per-parameter ``state``; subclasses update.

    ``step()`` walks the parameters, skips those without a gradient, checks the gradient's
    shape, applies weight decay, and hands the rest to ``_update`` (chapter 04).
    ``state[i]`` is the dict of buffers of parameter ``i`` (by position in ``param_list``).
    """

    #: the hyper-parameters saved by ``state_dict`` and shown by ``repr``
    _hyperparam_names: tuple[str, ...] = ("lr", "weight_decay")

    def __init__(self, params: Iterable[HasGrad], lr: float, weight_decay: float = 0.0) -> None:
        if hasattr(params, "data") and hasattr(params, "grad"):
            raise TypeError("expected an iterable of parameters, got a single parameter; "
                            "wrap it in a list: [p]")
        self.param_list: list[HasGrad] = list(params)
        if not self.param_list:
            raise ValueError("expected a non-empty list of parameters, got an empty one")
        seen: dict[int, int] = {}
        for i, p in enumerate(self.param_list):
            _check_param(i, p)
            if id(p) in seen:
                raise ValueError(f"expected each parameter once, parameter {i} is the same "
                                 f"object as parameter {seen[id(p)]}")
            seen[id(p)] = i
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[int, dict[str, Any]] = {}
        self._check_hyperparams()

    def _check_hyperparams(self) -> None:
        """Raise a clear ValueError for a hyper-parameter out of range; subclasses extend."""
        self.lr = _check_number("lr", self.lr, 0.0)
        self.weight_decay = _check_number("weight_decay", self.weight_decay, 0.0)

    def _init_state(self, data: Array) -> dict[str, Any]:
        """The buffers of one parameter before its first update (torch's lazy state)."""
        return {}

    def _apply_weight_decay(self, p: HasGrad, grad: Array) -> Array:
        """L2 weight decay folded into the gradient: g + λ·w (AdamW decouples it instead)."""
        return grad + self.weight_decay * p.data if self.weight_decay else grad

    @abstractmethod
    def _update(self, p: HasGrad, grad: Array, state: dict[str, Any]) -> None:
        """Move ``p.data`` in place given its (weight-decayed) gradient and its buffers."""
        raise NotImplementedError

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (chapter 04)."""
        grads: dict[int, Array] = {}
        for i, p in enumerate(self.param_list):  # check all first: no half-done step
            if p.grad is None:
                continue
            grads[i] = np.asarray(p.grad)
            if grads[i].shape != p.data.shape:
                raise ValueError(f"expected grad of shape {p.data.shape} for parameter {i}, "
                                 f"got {grads[i].shape}")
        for i, grad in grads.items():
            p = self.param_list[i]
            if i not in self.state:
                self.state[i] = self._init_state(p.data)
            self._update(p, self._apply_weight_decay(p, grad), self.state[i])

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``None`` like torch's default, or zeros in place (chapter 04)."""
        for p in self.param_list:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0.0

    def hyperparams(self) -> dict[str, Any]:
        """The current hyper-parameters by name, e.g. ``{"lr": 0.1, "momentum": 0.9, ...}``."""
        return {name: getattr(self, name) for name in self._hyperparam_names}

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of hyper-parameters and buffers, to save and resume training (chapter 04)."""
        return {
            "optimizer": type(self).__name__,
            "hyperparams": self.hyperparams(),
            "state": copy.deepcopy(self.state),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved; the parameters themselves are not part of it."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {
            "optimizer", "hyperparams", "state"
        }:
            raise ValueError("expected a dict from Optimizer.state_dict() with keys "
                             "'optimizer', 'hyperparams', 'state'")
        if state_dict["optimizer"] != name:
            raise ValueError(f"expected a state_dict of {name}, got one of "
                             f"{state_dict['optimizer']}")
        if set(state_dict["hyperparams"]) != set(self._hyperparam_names):
            raise ValueError(f"expected hyperparams {sorted(self._hyperparam_names)}, "
                             f"got {sorted(state_dict['hyperparams'])}")
        for i, buffers in state_dict["state"].items():
            if not isinstance(i, int) or not 0 <= i < len(self.param_list):
                raise ValueError(f"expected state for parameters 0..{len(self.param_list) - 1}, "
                                 f"got state for parameter {i!r}")
            shape = self.param_list[i].data.shape
            for key, value in buffers.items():
                if isinstance(value, np.ndarray) and value.shape != shape:
                    raise ValueError(f"expected state {key!r} of parameter {i} to have shape "
                                     f"{shape}, got {value.shape}")
        old = self.hyperparams()
        for key, value in state_dict["hyperparams"].items():
            setattr(self, key, value)
        try:
            self._check_hyperparams()
        except ValueError:
            for key, value in old.items():
                setattr(self, key, value)
            raise
        self.state = copy.deepcopy(state_dict["state"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum and Nesterov momentum (chapter 04).

    Exactly torch's formulation, with g = ∇L + λw (``weight_decay`` λ)::

        b ← g                      on the first step (the buffer starts at the first gradient)
        b ← μ·b + (1 − τ)·g        afterwards (momentum μ, dampening τ)
        d = g + μ·b  (Nesterov)    or   d = b
        w ← w − η·d

    The textbook form keeps a velocity that already contains the learning rate::

        v ← γ·v − η·g,    w ← w + v

    With v = −η·b the two are the same update: −η·b_new = γ·(−η·b) − η·g. That holds only
    while η is constant; when a schedule changes η, torch's form rescales the whole remembered
    velocity at once, while the textbook form keeps old steps at their old η.
    """

    _hyperparam_names = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params: Iterable[HasGrad], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        super().__init__(params, lr, weight_decay)

    def _check_hyperparams(self) -> None:
        super()._check_hyperparams()
        self.momentum = _check_number("momentum", self.momentum, 0.0)
        self.dampening = _check_number("dampening", self.dampening, 0.0, 1.0, high_inclusive=True)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("expected momentum > 0 and dampening == 0 for nesterov=True, got "
                             f"momentum={self.momentum!r}, dampening={self.dampening!r}")

    def _update(self, p: HasGrad, grad: Array, state: dict[str, Any]) -> None:
        direction = grad
        if self.momentum:
            b = state.get("momentum_buffer")
            if b is None:  # torch starts the buffer at the first gradient, not at zero
                b = state["momentum_buffer"] = np.array(grad, dtype=p.data.dtype)
            else:
                b[...] = self.momentum * b + (1 - self.dampening) * grad
            # Nesterov looks ahead: the gradient plus where momentum is about to carry us
            direction = grad + self.momentum * b if self.nesterov else b
        p.data -= self.lr * direction


class AdaGrad(Optimizer):
    r"""AdaGrad: each coordinate's step shrinks with the sum of its squared gradients (chapter 04).

    torch's Adagrad (without ``lr_decay``), g = ∇L + λw::

        s ← s + g²                        (s starts at ``initial_accumulator_value``)
        w ← w − η · g / (√s + ε)

    Rarely-updated coordinates keep large steps; but s only grows, so steps decay to zero,
    which is what RMSprop fixes.
    """

    _hyperparam_names = ("lr", "eps", "weight_decay", "initial_accumulator_value")

    def __init__(self, params: Iterable[HasGrad], lr: float = 0.01, eps: float = 1e-10,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0) -> None:
        self.eps = eps
        self.initial_accumulator_value = initial_accumulator_value
        super().__init__(params, lr, weight_decay)

    def _check_hyperparams(self) -> None:
        super()._check_hyperparams()
        self.eps = _check_number("eps", self.eps, 0.0)
        self.initial_accumulator_value = _check_number(
            "initial_accumulator_value", self.initial_accumulator_value, 0.0)

    def _init_state(self, data: Array) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(data, self.initial_accumulator_value)}

    def _update(self, p: HasGrad, grad: Array, state: dict[str, Any]) -> None:
        state["step"] += 1
        s = state["sum"]
        s[...] = s + grad * grad
        p.data -= self.lr * grad / (np.sqrt(s) + self.eps)


class RMSprop(Optimizer):
    r"""RMSprop: divide by a running RMS of recent gradients (chapter 04).

    torch's RMSprop, g = ∇L + λw::

        v ← α·v + (1 − α)·g²                 running mean of g² (forgets, unlike AdaGrad)
        ḡ ← α·ḡ + (1 − α)·g                  only if centered
        σ = √(v − ḡ²) + ε   if centered   else   √v + ε
        b ← μ·b + g/σ,  w ← w − η·b           if momentum μ > 0
        w ← w − η·g/σ                         otherwise

    ``centered`` divides by an estimate of the gradient's standard deviation instead of its
    RMS, so a gradient with a large steady part still gets full-size steps.
    """

    _hyperparam_names = ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")

    def __init__(self, params: Iterable[HasGrad], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.centered = centered
        super().__init__(params, lr, weight_decay)

    def _check_hyperparams(self) -> None:
        super()._check_hyperparams()
        self.alpha = _check_number("alpha", self.alpha, 0.0, 1.0)
        self.eps = _check_number("eps", self.eps, 0.0)
        self.momentum = _check_number("momentum", self.momentum, 0.0)

    def _init_state(self, data: Array) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": np.zeros_like(data)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(data)
        if self.centered:
            state["grad_avg"] = np.zeros_like(data)
        return state

    def _update(self, p: HasGrad, grad: Array, state: dict[str, Any]) -> None:
        state["step"] += 1
        alpha = self.alpha
        v = state["square_avg"]
        v[...] = alpha * v + (1 - alpha) * grad * grad
        if self.centered:
            g_bar = state["grad_avg"]
            g_bar[...] = alpha * g_bar + (1 - alpha) * grad
            sigma = np.sqrt(v - g_bar * g_bar) + self.eps
        else:
            sigma = np.sqrt(v) + self.eps
        if self.momentum > 0:
            b = state["momentum_buffer"]
            b[...] = self.momentum * b + grad / sigma
            p.data -= self.lr * b
        else:
            p.data -= self.lr * grad / sigma


class Adam(Optimizer):
    r"""Adam: momentum on the gradient, RMSprop on its scale, both bias-corrected (chapter 04).

    torch's Adam, g = ∇L + λw (L2 weight decay coupled to the gradient), step t = 1, 2, ...::

        m ← β₁·m + (1 − β₁)·g          first moment (mean) of g
        v ← β₂·v + (1 − β₂)·g²         second moment of g
        v ← max(v_max, v)               only with amsgrad (kept as v_max)
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        w ← w − η · m̂ / (√v̂ + ε)

    m and v start at zero, so early on they are biased toward zero; dividing by (1 − βᵗ)
    removes that bias exactly for a constant gradient. ``amsgrad`` never lets the denominator
    shrink, which fixes Adam's non-convergence counterexample.
    """

    _hyperparam_names = ("lr", "betas", "eps", "weight_decay", "amsgrad")

    def __init__(self, params: Iterable[HasGrad], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        self.betas = betas
        self.eps = eps
        self.amsgrad = amsgrad
        super().__init__(params, lr, weight_decay)

    def _check_hyperparams(self) -> None:
        super()._check_hyperparams()
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"expected betas to be a pair (beta1, beta2), got {self.betas!r}")
        self.betas = (_check_number("betas[0]", self.betas[0], 0.0, 1.0),
                      _check_number("betas[1]", self.betas[1], 0.0, 1.0))
        self.eps = _check_number("eps", self.eps, 0.0)

    def _init_state(self, data: Array) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "exp_avg": np.zeros_like(data),
                                 "exp_avg_sq": np.zeros_like(data)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(data)
        return state

    def _update(self, p: HasGrad, grad: Array, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = beta1 * m + (1 - beta1) * grad
        v[...] = beta2 * v + (1 - beta2) * grad * grad
        if self.amsgrad:
            v_max = state["max_exp_avg_sq"]
            v_max[...] = np.maximum(v_max, v)
            v = v_max
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter) (chapter 04).

    Before the Adam step on the raw gradient, shrink the weights directly::

        w ← w − η·λ·w,   then Adam with g = ∇L

    With Adam's L2 form the decay term λw is divided by √v̂ like the gradient, so weights with
    large gradients are barely regularised; decoupling makes decay the same for every weight.
    The default ``weight_decay=0.01`` is torch's.
    """

    def __init__(self, params: Iterable[HasGrad], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _apply_weight_decay(self, p: HasGrad, grad: Array) -> Array:
        if self.weight_decay:
            p.data *= 1 - self.lr * self.weight_decay
        return grad
