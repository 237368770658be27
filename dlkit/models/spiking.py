"""The leaky integrate-and-fire (LIF) neuron, the unit of spiking neural networks (chapter 12,
"Beyond this course").

The membrane potential v leaks towards rest (0) with time constant τ and integrates the input
current I (in units of the potential, membrane resistance 1):

    τ dv/dt = −v + I(t);   when v ≥ θ the neuron emits a spike and v is reset to v_reset.

Simulated with Euler steps of size dt: v ← v + (dt/τ)(I − v). For a constant current I > θ
and v_reset = 0 the continuous neuron fires every τ·ln(I / (I − θ)) time units, and never for
I ≤ θ: the firing rate is a threshold-linear-ish function of the input, like a ReLU with memory.
"""
from __future__ import annotations

import math

import torch


def lif_neuron(current: torch.Tensor, tau: float = 10.0, threshold: float = 1.0,
               v_reset: float = 0.0, dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate LIF neurons driven by ``current`` of shape (T,) or (T, N) (chapter 12).

    Returns (potential, spikes), both shaped like ``current``: the potential after each step's
    integration (before a reset, so a spike shows as a crossing of θ) and 0/1 spikes. All
    neurons start at v_reset.
    """
    if current.dim() not in (1, 2):
        raise ValueError(f"expected current of shape (T,) or (T, N), got {tuple(current.shape)}")
    if not (tau > 0 and dt > 0 and dt <= tau):
        raise ValueError(f"expected 0 < dt <= tau (Euler is unstable beyond), got dt={dt}, tau={tau}")
    if not v_reset < threshold:
        raise ValueError(f"expected v_reset < threshold, got v_reset={v_reset}, threshold={threshold}")
    v = torch.full(current.shape[1:], v_reset, dtype=current.dtype)
    potential, spikes = torch.empty_like(current), torch.empty_like(current)
    for t in range(current.shape[0]):
        v = v + (dt / tau) * (current[t] - v)          # leak towards 0, integrate the input
        fired = v >= threshold
        potential[t], spikes[t] = v, fired.to(current.dtype)
        v = torch.where(fired, torch.full_like(v, v_reset), v)
    return potential, spikes


def lif_rate(current: float, tau: float = 10.0, threshold: float = 1.0) -> float:
    """Firing rate (spikes per time unit) of the continuous LIF neuron with v_reset = 0 under a
    constant ``current`` (chapter 12): 1 / (τ ln(I / (I − θ))) for I > θ, else 0."""
    if not (tau > 0 and threshold > 0):
        raise ValueError(f"expected tau > 0 and threshold > 0, got tau={tau}, threshold={threshold}")
    if current <= threshold:
        return 0.0
    return 1.0 / (tau * math.log(current / (current - threshold)))
