"""A simulator, a neural surrogate of it, and inverse design through the surrogate (chapter
13, science, section "Surrogates and inverse design").

The simulator integrates a projectile with quadratic air drag, which has no closed-form range:
the stand-in for an expensive physics code. A small network learns (launch angle, speed) →
range from a few hundred runs; because the network is differentiable, gradient descent on its
*inputs* finds a design that hits a target, and the design is then checked in the simulator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

GRAVITY = 9.81


def projectile_range(angle: np.ndarray | float, speed: np.ndarray | float, drag: float = 0.02,
                     dt: float = 0.002) -> np.ndarray:
    """Horizontal distance (m) until a projectile launched at ``angle`` (radians) and ``speed``
    (m/s) lands, under gravity and drag acceleration ``-drag · |v| · v`` (chapter 13).

    Semi-implicit Euler with step ``dt``, vectorised over any broadcastable angles and speeds;
    the landing point is interpolated linearly inside the last step.
    """
    angle, speed = np.broadcast_arrays(np.asarray(angle, dtype=np.float64), np.asarray(speed, dtype=np.float64))
    if np.any(speed <= 0) or np.any((angle <= 0) | (angle >= np.pi / 2)):
        raise ValueError("expected speeds > 0 and launch angles in (0, π/2) radians, got speeds "
                         f"{speed.min():.3g}..{speed.max():.3g} and angles {angle.min():.3g}..{angle.max():.3g}")
    if drag < 0 or dt <= 0:
        raise ValueError(f"expected drag >= 0 and dt > 0, got drag={drag}, dt={dt}")
    x, y = np.zeros(angle.shape), np.zeros(angle.shape)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    landed = np.full(angle.shape, np.nan)
    while np.isnan(landed).any():
        v = np.hypot(vx, vy)
        vx, vy = vx - drag * v * vx * dt, vy - (GRAVITY + drag * v * vy) * dt
        new_x, new_y = x + vx * dt, y + vy * dt
        down = np.isnan(landed) & (new_y < 0)
        fraction = np.where(down, y / np.where(down, y - new_y, 1.0), 0.0)
        landed = np.where(down, x + fraction * (new_x - x), landed)
        x, y = new_x, new_y
    return landed


def inverse_design(surrogate: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor,
                   start: torch.Tensor, low: torch.Tensor, high: torch.Tensor, steps: int = 300,
                   lr: float = 0.02) -> tuple[torch.Tensor, list[float]]:
    """Designs ``x`` (rows of ``start``) that make ``surrogate(x)`` close to ``target``, by Adam
    on the squared miss with ``x`` clipped to the box [low, high] after each step (chapter 13).
    The surrogate's weights stay fixed: only the inputs move. Returns the designs and the mean
    squared miss of each step."""
    if start.ndim != 2 or low.shape != start.shape[1:] or high.shape != start.shape[1:]:
        raise ValueError(f"expected start (N, D) and bounds (D,), got {tuple(start.shape)}, "
                         f"{tuple(low.shape)}, {tuple(high.shape)}")
    x = start.clone().clamp(low, high).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    misses = []
    for _ in range(steps):
        optimizer.zero_grad()
        miss = (surrogate(x).reshape(-1) - target.reshape(-1)).pow(2).mean()
        miss.backward()
        optimizer.step()
        with torch.no_grad():
            x.copy_(torch.maximum(torch.minimum(x, high), low))
        misses.append(miss.item())
    return x.detach(), misses
