"""Denoising diffusion (DDPM, Ho et al. 2020) in its smallest form: a noise schedule, the
closed-form forward process, the noise-prediction loss and ancestral sampling (chapter 13,
section "Generative AI").

Forward: ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with ``abar_t = prod_{s<=t}
(1 - beta_s)``. A network ``eps_theta(x_t, t)`` learns the added noise; sampling runs the
learned reverse chain from pure noise. Stable Diffusion runs the same chain in an autoencoder's
latent space with a text-conditioned U-Net instead of this MLP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class NoiseSchedule:
    """``betas`` (T,) and the derived ``alphas = 1 - betas`` and ``alpha_bars`` (cumulative product)."""
    betas: torch.Tensor

    def __post_init__(self) -> None:
        b = self.betas
        if b.ndim != 1 or len(b) < 1 or not bool(((b > 0) & (b < 1)).all()):
            raise ValueError(f"expected betas of shape (T,) with every value in (0, 1), got {b}")
        self.alphas = 1.0 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, dim=0)

    @property
    def steps(self) -> int:
        return len(self.betas)

    @classmethod
    def linear(cls, steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """Ho et al.'s schedule: betas evenly spaced from ``beta_start`` to ``beta_end``."""
        return cls(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64).float())

    @classmethod
    def cosine(cls, steps: int, s: float = 0.008, max_beta: float = 0.5) -> NoiseSchedule:
        """Nichol & Dhariwal's schedule: ``abar(t) = cos^2(((t/T + s) / (1 + s)) pi / 2)``, which
        destroys the signal evenly over the steps.

        The last beta is 1 by the formula; the paper caps betas at 0.999. With few steps the first
        reverse step then divides by ``sqrt(1 - 0.999)``, blowing the model's error up 30-fold, so
        the default cap is 0.5 (``abar_T`` stays ~1e-4: still pure noise)."""
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return cls((1 - f[1:] / f[:-1]).clamp(max=max_beta).float())


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``: jump to step ``t`` in one go (chapter 13).

    ``t`` holds one step index (0-based) per row of ``x0``.
    """
    if x0.shape != noise.shape or t.shape != x0.shape[:1]:
        raise ValueError(f"expected x0 and noise of one shape and t of shape ({len(x0)},), "
                         f"got {tuple(x0.shape)}, {tuple(noise.shape)}, {tuple(t.shape)}")
    abar = schedule.alpha_bars.to(x0)[t].view(-1, *([1] * (x0.ndim - 1)))
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


class Denoiser(nn.Module):
    """``eps_theta(x_t, t)``: an MLP on the point and a sinusoidal embedding of the step (chapter 13)."""

    def __init__(self, dim: int = 2, hidden: int = 128, time_features: int = 16):
        super().__init__()
        self.time_features = time_features
        self.net = nn.Sequential(nn.Linear(dim + time_features, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # the positional encoding of chapter 09, applied to the step number
        half = self.time_features // 2
        frequencies = torch.exp(-math.log(1000.0) * torch.arange(half, device=x.device) / half)
        angles = t.to(x.dtype)[:, None] * frequencies
        return self.net(torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1))


def ddpm_loss(model: nn.Module, x0: torch.Tensor, schedule: NoiseSchedule,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The simple DDPM loss ``E ||eps - eps_theta(x_t, t)||^2`` at random steps (chapter 13)."""
    t = torch.randint(0, schedule.steps, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    return ((noise - model(q_sample(x0, t, noise, schedule), t)) ** 2).mean()


@torch.no_grad()
def ddpm_sample(model: nn.Module, n: int, dim: int, schedule: NoiseSchedule,
                generator: torch.Generator | None = None, keep: int = 0) -> torch.Tensor | tuple:
    """Ancestral sampling from ``x_T ~ N(0, I)`` (chapter 13):

    ``x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z``,
    ``sigma_t^2 = beta_t``, no noise at the last step. With ``keep`` > 0 also returns the chain:
    ``x_T`` and the state after every ``T // keep`` reverse steps, the samples last.
    """
    x = torch.randn((n, dim), generator=generator)
    snapshots = [x]
    interval = max(1, schedule.steps // keep) if keep else 0
    for t in reversed(range(schedule.steps)):
        steps = torch.full((n,), t, dtype=torch.long)
        beta, alpha, abar = schedule.betas[t], schedule.alphas[t], schedule.alpha_bars[t]
        x = (x - beta / (1 - abar).sqrt() * model(x, steps)) / alpha.sqrt()
        if t > 0:
            x = x + beta.sqrt() * torch.randn((n, dim), generator=generator)
        if keep and ((schedule.steps - t) % interval == 0 or t == 0):
            snapshots.append(x)
    return (x, snapshots) if keep else x


def mean_nearest_distance(points: torch.Tensor, reference: torch.Tensor) -> float:
    """The mean distance from each point to its nearest reference point: small when samples lie
    on the data (chapter 13). It does not see missing modes; pair it with the reverse direction."""
    return float(torch.cdist(points, reference).min(dim=1).values.mean())
