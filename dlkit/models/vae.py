"""A small variational autoencoder (chapter 10, for contrast with the GAN).

An encoder gives q(z|x) = N(μ(x), diag σ²(x)); a decoder gives p(x|z), here independent
Bernoulli pixels (logits). Training maximises the evidence lower bound

    ELBO(x) = E_{q(z|x)}[log p(x|z)] − KL(q(z|x) ‖ N(0, I))  ≤  log p(x),

with the expectation estimated from one sample z = μ + σ·ε, ε ~ N(0, I): the
reparameterization trick, which moves the randomness into ε so that gradients reach μ and σ.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = μ + exp(½·logvar)·ε with ε ~ N(0, I): a sample of N(μ, σ²) that is a differentiable
    function of μ and logvar (chapter 10)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"reparameterize expected mu and logvar of one shape, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample, summed over latent dimensions (chapter 10):
    ½ Σ (μ² + σ² − 1 − log σ²)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def elbo(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch's mean ELBO (nats per sample) and its two terms, "reconstruction" (the log
    likelihood log p(x|z) of Bernoulli pixels, x in [0, 1]) and "kl" (chapter 10). Train on
    ``-elbo(...)["elbo"]``."""
    x = x.flatten(1)
    reconstruction = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    kl = gaussian_kl(mu, logvar)
    return {"elbo": (reconstruction - kl).mean(), "reconstruction": reconstruction.mean(), "kl": kl.mean()}


class VAE(nn.Module):
    """MLP encoder and decoder for flat inputs in [0, 1] (chapter 10).

    ``forward(x)`` returns (decoder logits (N, in_features), μ, logvar), with z sampled by
    ``reparameterize``; ``decode(z)`` gives pixel probabilities for new z ~ N(0, I).
    """

    def __init__(self, in_features: int = 64, hidden: int = 128, latent_dim: int = 8) -> None:
        super().__init__()
        self.in_features, self.latent_dim = in_features, latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU())
        self.to_mu, self.to_logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_features))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x[0].numel() != self.in_features:
            raise ValueError(f"VAE expected inputs with {self.in_features} values per sample, got {tuple(x.shape)}")
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decoder(reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (N, in_features) for latent codes z (N, latent_dim)."""
        return torch.sigmoid(self.decoder(z))
