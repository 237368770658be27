"""The training results chapter 10 asserts hold over 5 seeds, with the notebook's quick-mode
settings (course/10-generative-adversarial-networks.ipynb, sections 5, 7 and 9).

Mode coverage: 1000 samples from fixed noise; a mode is covered when at least a quarter of its
fair share (1/8) of them lies within 0.3 of its centre (``dlkit.train.gan.modes_covered``).
The ring has radius 2, so its points lie on average 2 from their mean ("spread").
"""
import numpy as np
import pytest
import torch

import dlkit
import dlkit.runtime
from dlkit.data import course_images
from dlkit.models import VAE, elbo
from dlkit.train.gan import RingGAN

SEEDS = range(5)
# the notebook's quick settings
NETS = {"hidden": 128, "depth": 2, "batch_size": 128}
GOOD = {"lr_g": 2e-3, "lr_d": 2e-3}
GOOD_STEPS = 500
COLLAPSE = {"lr_g": 2e-3, "lr_d": 2e-3, "g_steps": 5}    # G outpaces a frozen D
COLLAPSE_STEPS = 200
WGAN = {"loss": "wgan-gp", "lr_g": 1e-3, "lr_d": 1e-3, "d_steps": 5}
WGAN_STEPS = 100


@pytest.fixture(autouse=True)
def one_thread():
    with dlkit.runtime.torch_threads(1):
        yield


def spread(samples):
    return float(np.linalg.norm(samples - samples.mean(axis=0), axis=1).mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_a_well_tuned_gan_covers_the_ring_and_a_mis_tuned_one_collapses(seed):
    good = RingGAN(seed=seed, **NETS, **GOOD).train(GOOD_STEPS)
    bad = RingGAN(seed=seed, **NETS, **COLLAPSE).train(COLLAPSE_STEPS)
    # the chapter claims >= 6 of 8; seeds 0-4 all reach 8 (margin: two modes)
    assert good.modes_covered() >= 6, (seed, good.modes_covered())
    # collapse: at most 3 modes, and the samples bunched far tighter than the ring (spread ~2)
    assert bad.modes_covered() <= 3 and spread(bad.samples()) < 1.0, (seed, bad.modes_covered(), spread(bad.samples()))
    assert spread(good.samples()) > 1.5


@pytest.mark.parametrize("seed", SEEDS)
def test_wgan_gp_critic_gradient_norms_stay_near_one(seed):
    run = RingGAN(seed=seed, **NETS, **WGAN).train(WGAN_STEPS)
    norms = np.array(run.history["grad_norm"])
    # the band the notebook states: the mean norm at the penalty's points over the last 50
    # rounds within [0.8, 1.2] (seeds 0-4: 0.96-1.01); every single round within [0.5, 1.5]
    assert 0.8 <= norms[-50:].mean() <= 1.2, (seed, norms[-50:].mean())
    assert norms[-50:].min() > 0.5 and norms[-50:].max() < 1.5, (seed, norms[-50:].min(), norms[-50:].max())


def vae_elbo_before_and_after(seed, epochs=15):
    dlkit.seed(seed)
    train, _, test = course_images("mnist", seed=seed, quick=True)   # the 8x8 digits, split as there
    X, X_test = torch.tensor(train.X), torch.tensor(test.X)
    vae = VAE(64, hidden=128, latent_dim=8)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)

    def held_out():
        with torch.no_grad():
            return float(elbo(X_test, *vae(X_test))["elbo"])

    before = held_out()
    for _ in range(epochs):
        for batch in torch.randperm(len(X)).split(64):
            loss = -elbo(X[batch], *vae(X[batch]))["elbo"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return before, held_out()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_vae_elbo_improves_on_held_out_digits(seed):
    before, after = vae_elbo_before_and_after(seed)
    assert after > before + 10, (seed, before, after)
