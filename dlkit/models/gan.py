"""Generative adversarial networks (chapter 10): the networks, the losses and the theory's D*.

A generator G maps noise z to samples; a discriminator D maps a sample to a logit, the log-odds
that it is real. The minimax game of Goodfellow et al. (2014) is

    min_G max_D  E_data[log D(x)] + E_z[log(1 - D(G(z)))].

``discriminator_loss`` is D's side (binary cross-entropy: real → 1, fake → 0);
``generator_loss`` is G's side, ``saturating=True`` being the literal minimax term and the
default the non-saturating ``-log D(G(z))`` that every practical GAN uses. For the Wasserstein
GAN with gradient penalty (WGAN-GP), ``critic_loss``, ``wgan_generator_loss`` and
``gradient_penalty`` (the critic is a discriminator without a sigmoid and without batch norm).

Networks: ``mlp_generator`` / ``mlp_discriminator`` for 2-D points, and the DCGAN pair
``DCGANGenerator`` / ``DCGANDiscriminator`` for 8×8 (quick mode) or 28×28 images in [-1, 1].
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlkit.models.mlp import MLP


def mlp_generator(latent_dim: int = 2, hidden: int = 128, depth: int = 3, out_features: int = 2) -> MLP:
    """z (N, latent_dim) → points (N, out_features): ``depth`` hidden ReLU layers (chapter 10)."""
    return MLP(latent_dim, [hidden] * depth, out_features)


def mlp_discriminator(in_features: int = 2, hidden: int = 128, depth: int = 3) -> MLP:
    """Points (N, in_features) → one logit each, (N, 1); LeakyReLU keeps a gradient for every
    input, which G needs to learn from (chapter 10). Without a sigmoid it is also a WGAN critic."""
    return MLP(in_features, [hidden] * depth, 1, activation=lambda: nn.LeakyReLU(0.2))


def _check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4 or image_size % 4:
        raise ValueError(f"expected image_size a multiple of 4 (two stride-2 layers), got {image_size!r}")
    return image_size


class DCGANGenerator(nn.Module):
    """DCGAN generator (Radford et al. 2015), scaled down (chapter 10).

    z → Linear → (2·width, s/4, s/4) → [ConvTranspose 4×4 stride 2, BatchNorm, ReLU]
    → (width, s/2, s/2) → ConvTranspose 4×4 stride 2 → tanh: images (N, channels, s, s) in
    [-1, 1]. Each transposed convolution doubles the side; no pooling, no dense layers inside.
    """

    def __init__(self, latent_dim: int = 16, image_size: int = 8, channels: int = 1, width: int = 32) -> None:
        super().__init__()
        self.latent_dim, self.image_size = latent_dim, _check_image_size(image_size)
        self.start = image_size // 4
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * self.start ** 2),
                                     nn.BatchNorm1d(2 * width * self.start ** 2), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"DCGANGenerator expected z of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        h = self.project(z)
        return self.up(h.view(len(z), -1, self.start, self.start))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator (chapter 10): [Conv 4×4 stride 2, LeakyReLU 0.2] twice (batch norm
    on the second unless ``batch_norm=False``), then a Linear to one logit, (N, 1).

    ``batch_norm=False`` is the WGAN-GP critic: the gradient penalty is a per-sample property,
    and batch norm would make each sample's score depend on the rest of the batch.
    """

    def __init__(self, image_size: int = 8, channels: int = 1, width: int = 32, batch_norm: bool = True) -> None:
        super().__init__()
        self.image_size, self.channels = _check_image_size(image_size), channels
        norm = nn.BatchNorm2d(2 * width) if batch_norm else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), norm, nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(2 * width * (image_size // 4) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"DCGANDiscriminator expected images of shape (N, {', '.join(map(str, expected))}), "
                             f"got {tuple(x.shape)}")
        return self.head(self.features(x).flatten(1))


# ---- the losses -----------------------------------------------------------------------------
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's loss, −E[log D(x)] − E[log(1 − D(G(z)))]: binary cross-entropy with real → 1 and
    fake → 0, from logits (chapter 10). Minimising it is D's "max" of the minimax value."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """G's loss from D's logits on generated samples (chapter 10).

    ``saturating=True``: E[log(1 − D(G(z)))], the minimax term itself, = −softplus(logit). Its
    gradient vanishes where D confidently rejects the fakes, which is the start of training.
    Default, non-saturating: −E[log D(G(z))] = softplus(−logit), same fixed point, a strong
    gradient exactly where G is worst.
    """
    if saturating:
        return -F.softplus(fake_logits).mean()
    return F.softplus(-fake_logits).mean()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN critic's loss, E[f(G(z))] − E[f(x)]: its negative estimates the Wasserstein-1
    distance when f is 1-Lipschitz (chapter 10)."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The WGAN generator's loss, −E[f(G(z))] (chapter 10)."""
    return -fake_scores.mean()


def critic_gradient_norms(critic: nn.Module, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """‖∇ₓ f(x)‖₂ for every sample of ``x`` (N,): how steep the critic is there (chapter 10).

    Each sample's score depends on that sample only (no batch norm), so the gradient of the sum
    of scores holds every sample's own gradient.
    """
    x = x.detach().requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[(‖∇f(x̂)‖ − 1)²], the norms) at x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample
    (Gulrajani et al. 2017; chapter 10). Differentiable in the critic's weights; add it to
    ``critic_loss`` with a weight λ (10 in the paper)."""
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty expected real and fake of one shape, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    alpha = torch.rand((len(real),) + (1,) * (real.ndim - 1), generator=generator, dtype=real.dtype)
    between = alpha * real.detach() + (1 - alpha) * fake.detach()
    norms = critic_gradient_norms(critic, between, create_graph=True)
    return ((norms - 1) ** 2).mean(), norms.detach()


# ---- the theory: the optimal discriminator ----------------------------------------------------
def optimal_discriminator(p_data: np.ndarray, p_model: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), the best D for a fixed G (chapter 10)."""
    p_data, p_model = np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float)
    total = p_data + p_model
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def minimax_value(D: np.ndarray, p_data: np.ndarray, p_model: np.ndarray) -> float:
    """V(D, G) = Σ p_data log D + Σ p_g log(1 − D) for distributions on a finite set (chapter 10)."""
    D, p_data, p_model = (np.asarray(a, dtype=float) for a in (D, p_data, p_model))
    with np.errstate(divide="ignore", invalid="ignore"):
        real = np.where(p_data > 0, p_data * np.log(D), 0.0)
        fake = np.where(p_model > 0, p_model * np.log1p(-D), 0.0)
    return float(real.sum() + fake.sum())


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence of two distributions on a finite set, in nats (chapter 10):
    ½KL(p‖m) + ½KL(q‖m), m = (p + q)/2; 0 iff p = q, at most log 2."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log(a[mask] / m[mask])).sum())

    return 0.5 * kl(p) + 0.5 * kl(q)
