"""Contrastive learning: SimCLR's NT-Xent loss, CLIP's symmetric InfoNCE loss and random views
of small images (chapter 12, "Beyond this course").

Both losses are one idea. Each row of a batch has exactly one *positive* partner (the other
view of the same image, or the caption of the same image) and the rest of the batch serves as
*negatives*; with cosine similarities divided by a temperature τ, the loss of an anchor is the
cross-entropy of picking its positive among all candidates:

    ℓ_i = −log( exp(s(z_i, z_i⁺)/τ) / Σ_{k ∈ candidates(i)} exp(s(z_i, z_k)/τ) ).

NT-Xent (Chen et al., 2020) puts both views in one pool of 2N embeddings, so the candidates of
z_i are the other 2N − 1 embeddings. CLIP (Radford et al., 2021) keeps the two modalities
apart: image i's candidates are the N captions and caption j's are the N images.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str], temperature: float) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"expected {names[0]} and {names[1]} of one shape (N, D), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] < 2:
        raise ValueError(f"a contrastive loss needs at least 2 rows (one positive, one negative), got {a.shape[0]}")
    if not temperature > 0:
        raise ValueError(f"expected a temperature > 0, got {temperature}")


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalized temperature-scaled cross-entropy (chapter 12).

    ``z1[i]`` and ``z2[i]`` are the projections of two views of image i, shape (N, D). The
    2N embeddings are L2-normalized; for each of them the positive is its partner view and the
    negatives are the other 2N − 2. Returns the mean of the 2N anchor losses; its smallest
    possible value is 0 and a random embedding gives about log(2N − 1).
    """
    _check_pair(z1, z2, ("z1", "z2"), temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    # an embedding is not its own negative: remove the diagonal from every softmax
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, positives)


def clip_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
              temperature: float = 0.1) -> torch.Tensor:
    """CLIP's symmetric InfoNCE across two modalities (chapter 12).

    Row i of each (N, D) tensor belongs to pair i. After L2 normalization the (N, N) matrix of
    cosine similarities / τ is read twice: row-wise (each image picks its caption among N) and
    column-wise (each caption picks its image); the loss is the mean of the two cross-entropies.
    """
    _check_pair(image_embeddings, text_embeddings, ("image_embeddings", "text_embeddings"), temperature)
    logits = F.normalize(image_embeddings, dim=1) @ F.normalize(text_embeddings, dim=1).T / temperature
    pairs = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, pairs) + F.cross_entropy(logits.T, pairs))


def random_views(images: torch.Tensor, generator: torch.Generator, max_shift: int = 1,
                 erase: int = 3, noise: float = 0.1) -> torch.Tensor:
    """One random view of each image in a batch (N, C, H, W), SimCLR's augmentation for tiny
    digits (chapter 12): a random translation by up to ``max_shift`` pixels (zero padding, then a
    crop), a random ``erase`` × ``erase`` square set to 0 (cutout) and Gaussian pixel noise of
    standard deviation ``noise``. Two calls give two different views of the same images.
    """
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    n, _, height, width = images.shape
    if not 0 <= erase <= min(height, width) or max_shift < 0 or noise < 0:
        raise ValueError(f"expected max_shift >= 0, 0 <= erase <= {min(height, width)} and noise >= 0, "
                         f"got max_shift={max_shift}, erase={erase}, noise={noise}")
    padded = F.pad(images, (max_shift,) * 4)
    dy, dx = (torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator))
    rows = (dy[:, None] + torch.arange(height))[:, None, :, None]          # (N, 1, H, 1)
    cols = (dx[:, None] + torch.arange(width))[:, None, None, :]           # (N, 1, 1, W)
    batch = torch.arange(n)[:, None, None, None]
    channels = torch.arange(images.shape[1])[None, :, None, None]
    views = padded[batch, channels, rows, cols]
    if erase:
        top = torch.randint(0, height - erase + 1, (n,), generator=generator)
        left = torch.randint(0, width - erase + 1, (n,), generator=generator)
        inside_rows = (torch.arange(height)[None] >= top[:, None]) & (torch.arange(height)[None] < top[:, None] + erase)
        inside_cols = (torch.arange(width)[None] >= left[:, None]) & (torch.arange(width)[None] < left[:, None] + erase)
        views = views.masked_fill((inside_rows[:, :, None] & inside_cols[:, None, :])[:, None], 0.0)
    if noise:
        views = views + noise * torch.randn(views.shape, generator=generator, dtype=views.dtype)
    return views
