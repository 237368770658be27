"""Training a GAN (chapter 10): one alternating step, and a 2-D GAN on a ring of Gaussians.

A GAN does not fit ``Trainer``'s one-model, one-loss, one-optimizer loop: two networks with
two optimizers minimise two different losses, in turn. ``adversarial_step`` is one round of
that game (D first, then G), shared by the chapter, its demo and its tests; ``RingGAN`` runs it
on the 8-mode ring of ``dlkit.data.make_ring_gaussians``, where mode coverage can be counted
(``modes_covered``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dlkit.models.gan import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    mlp_discriminator,
    mlp_generator,
    wgan_generator_loss,
)

LOSSES = ("non-saturating", "saturating", "wgan-gp")


def adversarial_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
                     opt_d: torch.optim.Optimizer, real: torch.Tensor, latent_dim: int, *,
                     loss: str = "non-saturating", d_steps: int = 1, g_steps: int = 1,
                     gp_weight: float = 10.0, rng: torch.Generator | None = None) -> dict[str, float]:
    """One round of the game (chapter 10): ``d_steps`` updates of D on ``real`` and fresh fakes
    (fakes detached: D's step must not move G), then ``g_steps`` updates of G through D.

    ``loss``: "non-saturating" or "saturating" (BCE GAN, D gives logits), or "wgan-gp" (D is a
    critic; its loss gets ``gp_weight`` × the gradient penalty). Returns the last losses and,
    for "wgan-gp", ``grad_norm``: the mean critic gradient norm at the penalty's points.
    """
    if loss not in LOSSES:
        raise ValueError(f"expected loss among {LOSSES}, got {loss!r}")
    n = len(real)
    out: dict[str, float] = {}

    def noise() -> torch.Tensor:
        return torch.randn(n, latent_dim, generator=rng)

    for _ in range(d_steps):
        fake = generator(noise()).detach()
        real_scores, fake_scores = discriminator(real), discriminator(fake)
        if loss == "wgan-gp":
            penalty, norms = gradient_penalty(discriminator, real, fake, generator=rng)
            d_loss = critic_loss(real_scores, fake_scores) + gp_weight * penalty
            out["grad_norm"] = float(norms.mean())
        else:
            d_loss = discriminator_loss(real_scores, fake_scores)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        out["d_loss"] = d_loss.item()
    for _ in range(g_steps):
        fake_scores = discriminator(generator(noise()))
        if loss == "wgan-gp":
            g_loss = wgan_generator_loss(fake_scores)
        else:
            g_loss = generator_loss(fake_scores, saturating=loss == "saturating")
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()   # D's weights get gradients too; opt_d zeroes them before its next step
        opt_g.step()
        out["g_loss"] = g_loss.item()
    return out


def modes_covered(samples: np.ndarray, centers: np.ndarray, radius: float = 0.3,
                  min_share: float = 0.25) -> int:
    """How many modes the samples cover (chapter 10): a mode counts when at least ``min_share``
    of its fair share (1 / number of modes) of the samples lies within ``radius`` of its centre.
    A collapsed generator puts everything on one or two modes and scores 1 or 2."""
    samples, centers = np.asarray(samples, dtype=float), np.asarray(centers, dtype=float)
    if samples.ndim != 2 or centers.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"expected samples (N, d) and centers (K, d), got {samples.shape} and {centers.shape}")
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)
    near = distances.min(axis=1) < radius
    counts = np.bincount(distances.argmin(axis=1)[near], minlength=len(centers))
    return int((counts >= min_share * len(samples) / len(centers)).sum())


class RingGAN:
    """A 2-D GAN learning a ring of Gaussians, trained a step at a time (chapter 10).

    ``loss`` as in ``adversarial_step``; ``lr_g``/``lr_d`` Adam rates (betas 0.5, 0.999, the
    DCGAN choice); ``g_steps`` generator updates per round. Fresh real points are drawn from a
    pool of ``make_ring_gaussians`` each step. Everything random comes from ``seed``: the
    global RNGs are neither used nor touched, so a demo and a lesson get the same run.
    """

    def __init__(self, loss: str = "non-saturating", lr_g: float = 1e-3, lr_d: float = 1e-3,
                 g_steps: int = 1, d_steps: int = 1, latent_dim: int = 2, hidden: int = 128, depth: int = 3,
                 batch_size: int = 256, num_modes: int = 8, std: float = 0.05, seed: int = 0) -> None:
        from dlkit.data import make_ring_gaussians

        if loss not in LOSSES:
            raise ValueError(f"expected loss among {LOSSES}, got {loss!r}")
        ring = make_ring_gaussians(n=4096, num_modes=num_modes, std=std, seed=seed)
        self.pool, self.centers = torch.as_tensor(ring.X), ring.meta["centers"]
        self.loss, self.latent_dim, self.batch_size = loss, latent_dim, batch_size
        self.g_steps, self.d_steps = g_steps, d_steps
        self.rng = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):   # initial weights from the seed, global RNG untouched
            torch.manual_seed(seed)
            self.generator = mlp_generator(latent_dim, hidden, depth)
            self.discriminator = mlp_discriminator(2, hidden, depth)
        betas = (0.5, 0.9) if loss == "wgan-gp" else (0.5, 0.999)
        # fused: one kernel per step for all parameters (these nets are small: overhead dominates)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr_g, betas=betas, fused=True)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr_d, betas=betas, fused=True)
        self.fixed_z = torch.randn(1000, latent_dim, generator=self.rng)   # the same z for every picture
        self.history: dict[str, list[float]] = {}
        self.steps_done = 0

    def train(self, steps: int) -> RingGAN:
        """``steps`` more rounds of ``adversarial_step``; the losses are kept in ``history``."""
        for _ in range(steps):
            index = torch.randint(len(self.pool), (self.batch_size,), generator=self.rng)
            logged = adversarial_step(self.generator, self.discriminator, self.opt_g, self.opt_d,
                                      self.pool[index], self.latent_dim, loss=self.loss,
                                      d_steps=self.d_steps, g_steps=self.g_steps, rng=self.rng)
            for key, value in logged.items():
                self.history.setdefault(key, []).append(value)
            self.steps_done += 1
        return self

    @torch.no_grad()
    def samples(self, n: int | None = None) -> np.ndarray:
        """Generated points (n, 2) from the fixed noise (all 1000 by default)."""
        return self.generator(self.fixed_z[:n]).numpy()

    @torch.no_grad()
    def field(self, x: np.ndarray) -> np.ndarray:
        """D(x) = sigmoid(logit) at points x (..., 2) (the critic's raw score for "wgan-gp")."""
        points = torch.as_tensor(np.asarray(x, dtype=np.float32))
        scores = self.discriminator(points.reshape(-1, 2)).reshape(points.shape[:-1])
        return (scores if self.loss == "wgan-gp" else scores.sigmoid()).numpy()

    def modes_covered(self, **kwargs: Any) -> int:
        """``modes_covered`` of the 1000 fixed-noise samples."""
        return modes_covered(self.samples(), self.centers, **kwargs)
