"""Chapter 12's outlook: SimCLR's NT-Xent and CLIP's symmetric InfoNCE against direct loops over
the anchors, their limits and invariances, and the random views of digits."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.models import clip_loss, nt_xent_loss, random_views


def nt_xent_by_loop(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The NT-Xent definition written out anchor by anchor, no matrix tricks."""
    z = torch.cat([z1, z2]).double()
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        positive = (i + n2 // 2) % n2
        sims = [float(torch.dot(z[i], z[k]) / (z[i].norm() * z[k].norm())) / temperature for k in range(n2)]
        denominator = sum(math.exp(sims[k]) for k in range(n2) if k != i)
        total += -math.log(math.exp(sims[positive]) / denominator)
    return torch.tensor(total / n2)


def clip_by_loop(images: torch.Tensor, texts: torch.Tensor, temperature: float) -> torch.Tensor:
    n = images.shape[0]
    sim = [[float(F.cosine_similarity(images[i].double(), texts[j].double(), dim=0)) / temperature
            for j in range(n)] for i in range(n)]
    image_to_text = -sum(sim[i][i] - math.log(sum(math.exp(sim[i][j]) for j in range(n))) for i in range(n)) / n
    text_to_image = -sum(sim[j][j] - math.log(sum(math.exp(sim[i][j]) for i in range(n))) for j in range(n)) / n
    return torch.tensor(0.5 * (image_to_text + text_to_image))


@pytest.mark.parametrize(("loss", "by_loop"), [(nt_xent_loss, nt_xent_by_loop), (clip_loss, clip_by_loop)],
                         ids=["nt_xent", "clip"])
@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 7), d=st.integers(1, 6), temperature=st.floats(0.05, 2.0), seed=st.integers(0, 10_000))
def test_the_loss_matches_its_definition_written_as_a_loop(loss, by_loop, n, d, temperature, seed):
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, d, generator=generator), torch.randn(n, d, generator=generator)
    torch.testing.assert_close(loss(a, b, temperature).double(), by_loop(a, b, temperature).double(),
                               rtol=1e-4, atol=1e-5)


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 10_000))
def test_both_losses_ignore_the_length_of_the_embeddings(scale, seed):
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(5, 4, generator=generator), torch.randn(5, 4, generator=generator)
    torch.testing.assert_close(nt_xent_loss(scale * a, b), nt_xent_loss(a, b), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(clip_loss(a, scale * b), clip_loss(a, b), rtol=1e-5, atol=1e-5)


def test_nt_xent_limits_perfect_views_and_identical_embeddings():
    n = 4
    one_hot = torch.eye(n, dtype=torch.float64)
    # each pair agrees and is orthogonal to every other: loss = log(1 + (2n-2)·e^{-1/τ}), → 0 as τ → 0
    for temperature in (0.05, 0.2, 1.0):
        expected = math.log(1 + (2 * n - 2) * math.exp(-1 / temperature))
        assert nt_xent_loss(one_hot, one_hot, temperature).item() == pytest.approx(expected, rel=1e-9)
    # all embeddings equal: the positive is one of 2n - 1 equal candidates
    same = torch.ones(n, 3)
    assert nt_xent_loss(same, same, 0.5).item() == pytest.approx(math.log(2 * n - 1), rel=1e-6)
    # swapping which view is "first" changes nothing
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    torch.testing.assert_close(nt_xent_loss(a, b), nt_xent_loss(b, a))


def test_clip_loss_is_symmetric_in_its_modalities_and_zero_only_for_matching_pairs():
    generator = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    torch.testing.assert_close(clip_loss(a, b), clip_loss(b, a))
    matched = clip_loss(torch.eye(6), torch.eye(6), temperature=0.01).item()
    shuffled = clip_loss(torch.eye(6), torch.eye(6).roll(1, dims=0), temperature=0.01).item()
    assert matched < 1e-6 < 10 < shuffled


def test_losses_train_the_gradient_towards_agreement():
    generator = torch.Generator().manual_seed(3)
    z1 = torch.randn(8, 4, generator=generator, requires_grad=True)
    z2 = torch.randn(8, 4, generator=generator)
    optimizer = torch.optim.SGD([z1], lr=0.5)
    before = nt_xent_loss(z1, z2).item()
    for _ in range(200):
        optimizer.zero_grad()
        nt_xent_loss(z1, z2).backward()
        optimizer.step()
    # z2's own rows stay where they are (they are negatives of each other), so the loss keeps a
    # floor; but every z1[i] has moved onto its partner: its nearest z2 by cosine is z2[i]
    assert nt_xent_loss(z1, z2).item() < before - 0.5
    nearest = (F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T).argmax(1)
    assert torch.equal(nearest, torch.arange(8))


@pytest.mark.parametrize("loss", [nt_xent_loss, clip_loss])
def test_bad_inputs_are_refused_with_what_was_expected(loss):
    with pytest.raises(ValueError, match=r"of one shape \(N, D\), got \(4, 3\) and \(4, 2\)"):
        loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2 rows"):
        loss(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="temperature > 0, got 0"):
        loss(torch.zeros(4, 3), torch.zeros(4, 3), 0)


def test_random_views_keep_shape_differ_between_calls_and_only_move_pixels():
    generator = torch.Generator().manual_seed(4)
    images = torch.rand(16, 1, 8, 8, generator=generator)
    first, second = random_views(images, generator), random_views(images, generator)
    assert first.shape == second.shape == images.shape
    assert not torch.equal(first, second)
    # without noise or erasing, a view is the image translated by at most one pixel
    shifted = random_views(images, generator, max_shift=1, erase=0, noise=0.0)
    padded = F.pad(images, (1, 1, 1, 1))
    for view, source in zip(shifted, padded, strict=True):
        crops = [source[:, dy:dy + 8, dx:dx + 8] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(view, crop) for crop in crops)
    identity = random_views(images, generator, max_shift=0, erase=0, noise=0.0)
    assert torch.equal(identity, images)


def test_random_views_erase_one_square_and_refuse_bad_shapes():
    generator = torch.Generator().manual_seed(5)
    ones = torch.ones(10, 1, 8, 8)
    views = random_views(ones, generator, max_shift=0, erase=3, noise=0.0)
    assert torch.equal((views == 0).sum(dim=(1, 2, 3)), torch.full((10,), 9))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got \(10, 64\)"):
        random_views(torch.ones(10, 64), generator)
    with pytest.raises(ValueError, match="erase <= 8"):
        random_views(ones, generator, erase=9)
