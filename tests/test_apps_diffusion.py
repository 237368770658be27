"""dlkit.apps.diffusion and style (chapter 13): the noise schedules, q_sample's closed-form
mean and variance, the DDPM loss, a trained toy DDPM whose samples lie on the data, and the Gram
matrix with its invariance to where features are."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlkit
from dlkit.apps.diffusion import (
    Denoiser,
    NoiseSchedule,
    ddpm_loss,
    ddpm_sample,
    mean_nearest_distance,
    q_sample,
)
from dlkit.apps.style import content_loss, gram_matrix, style_loss
from dlkit.data import make_moons
from dlkit.runtime import torch_threads

pytestmark = pytest.mark.numerics


def test_schedules():
    linear = NoiseSchedule.linear(1000)
    assert linear.betas[0] == pytest.approx(1e-4) and linear.betas[-1] == pytest.approx(0.02)
    assert float(linear.alpha_bars[-1]) < 1e-4                        # the signal is gone at T
    cosine = NoiseSchedule.cosine(100)
    assert torch.all(cosine.alpha_bars[1:] < cosine.alpha_bars[:-1]) and float(cosine.alpha_bars[-1]) < 1e-3
    torch.testing.assert_close(cosine.alpha_bars, torch.cumprod(1 - cosine.betas, 0))
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        NoiseSchedule(torch.tensor([0.1, 1.5]))


@pytest.mark.parametrize("step", [0, 10, 49])
def test_q_sample_has_the_closed_form_mean_and_variance(step):
    schedule = NoiseSchedule.cosine(50)
    generator = torch.Generator().manual_seed(step)
    x0 = torch.tensor([[2.0, -1.0]]).expand(200_000, 2)
    xt = q_sample(x0, torch.full((200_000,), step), torch.randn(200_000, 2, generator=generator), schedule)
    abar = float(schedule.alpha_bars[step])
    torch.testing.assert_close(xt.mean(0), abar ** 0.5 * x0[0], atol=0.01, rtol=0)
    torch.testing.assert_close(xt.var(0), torch.full((2,), 1 - abar), atol=0.01, rtol=0.02)
    with pytest.raises(ValueError, match="t of shape"):
        q_sample(x0[:3], torch.zeros(2, dtype=torch.long), torch.zeros(3, 2), schedule)


def test_ddpm_loss_is_the_noise_regression():
    schedule = NoiseSchedule.cosine(20)
    zero = Denoiser(2, 8)
    for p in zero.parameters():
        torch.nn.init.zeros_(p)
    # a network that predicts no noise pays E||eps||^2 / dim = 1
    loss = ddpm_loss(zero, torch.randn(50_000, 2), schedule, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("seed", range(3))
def test_a_trained_ddpm_samples_near_the_data(seed):
    dlkit.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(make_moons(2000, 0.05, seed=seed).X)
    data = (data - data.mean(0)) / data.std(0)
    schedule = NoiseSchedule.cosine(100)
    model = Denoiser(2, 128)
    optimizer = torch.optim.Adam(model.parameters(), 5e-3)
    with torch_threads(1):
        for _ in range(1500):
            batch = data[torch.randint(0, len(data), (256,), generator=generator)]
            optimizer.zero_grad()
            ddpm_loss(model, batch, schedule, generator).backward()
            optimizer.step()
        samples, chain = ddpm_sample(model, 500, 2, schedule, generator, keep=4)
    assert samples.shape == (500, 2) and len(chain) == 5 and chain[-1] is samples
    gaussian = torch.randn(500, 2, generator=generator)
    assert mean_nearest_distance(samples, data) < 0.5 * mean_nearest_distance(gaussian, data)


def test_gram_matrix_by_hand_and_its_invariance_to_position():
    features = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])     # (1, 2, 2, 2)
    expected = torch.tensor([[[6.0, 2.0], [2.0, 2.0]]]) / 4
    torch.testing.assert_close(gram_matrix(features), expected)
    maps = torch.randn(2, 8, 12, 12, generator=torch.Generator().manual_seed(0))
    shifted = torch.roll(maps, shifts=(3, 5), dims=(2, 3))
    assert float(style_loss([shifted], [maps])) < 1e-10            # style ignores where
    assert float(content_loss(shifted, maps)) > 1.0                # content does not
    assert float(content_loss(maps, maps)) == 0.0
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gram_matrix(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="one target per layer"):
        style_loss([maps], [])
    assert F.mse_loss(gram_matrix(maps), gram_matrix(maps)) == 0
