"""Chapter 10's models: GAN networks and losses, the gradient penalty, D* and the JS divergence,
the VAE's reparameterization and ELBO, and the alternating training step."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlkit.models import (
    VAE,
    DCGANDiscriminator,
    DCGANGenerator,
    critic_gradient_norms,
    discriminator_loss,
    elbo,
    gaussian_kl,
    generator_loss,
    gradient_penalty,
    js_divergence,
    minimax_value,
    mlp_discriminator,
    mlp_generator,
    optimal_discriminator,
    reparameterize,
)
from dlkit.train.gan import RingGAN, adversarial_step, modes_covered


@pytest.mark.parametrize("size", [8, 28])
def test_dcgan_shapes_and_range(size):
    G, D = DCGANGenerator(latent_dim=10, image_size=size), DCGANDiscriminator(image_size=size)
    images = G(torch.randn(5, 10))
    assert images.shape == (5, 1, size, size)
    assert images.min() >= -1 and images.max() <= 1           # tanh: data must be scaled to [-1, 1]
    assert D(images).shape == (5, 1)
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        G(torch.randn(5, 3))
    with pytest.raises(ValueError, match=rf"\(N, 1, {size}, {size}\)"):
        D(torch.randn(5, 1, size + 4, size + 4))
    with pytest.raises(ValueError, match="multiple of 4"):
        DCGANGenerator(image_size=10)


def test_mlp_pair_shapes():
    assert mlp_generator(latent_dim=3)(torch.randn(7, 3)).shape == (7, 2)
    assert mlp_discriminator()(torch.randn(7, 2)).shape == (7, 1)


def test_bce_losses_are_the_minimax_terms():
    real, fake = torch.randn(50, 1), torch.randn(50, 1)
    d_real, d_fake = real.sigmoid(), fake.sigmoid()
    expected = -(d_real.log().mean() + (1 - d_fake).log().mean())
    torch.testing.assert_close(discriminator_loss(real, fake), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(generator_loss(fake, saturating=True), (1 - d_fake).log().mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(generator_loss(fake), -d_fake.log().mean(), rtol=1e-5, atol=1e-6)


def test_the_saturating_loss_has_no_gradient_where_d_rejects_the_fakes():
    logits = torch.tensor([-8.0, -6.0], requires_grad=True)   # D(G(z)) ≈ 0.0003, 0.0025
    (g_sat,) = torch.autograd.grad(generator_loss(logits, saturating=True), logits)
    (g_ns,) = torch.autograd.grad(generator_loss(logits), logits)
    # d/dl of mean(-softplus(l)) = -sigmoid(l)/2; of mean(softplus(-l)) = -(1 - sigmoid(l))/2
    torch.testing.assert_close(g_sat, -logits.detach().sigmoid() / 2)
    torch.testing.assert_close(g_ns, -(1 - logits.detach().sigmoid()) / 2)
    assert (g_ns.abs() > 100 * g_sat.abs()).all()


def test_gradient_penalty_of_a_linear_critic_is_by_hand():
    critic = nn.Linear(3, 1)
    w = critic.weight.detach()[0]
    penalty, norms = gradient_penalty(critic, torch.randn(8, 3), torch.randn(8, 3))
    torch.testing.assert_close(norms, w.norm().expand(8))
    torch.testing.assert_close(penalty, (w.norm() - 1) ** 2)
    penalty.backward()   # d/dw (‖w‖ − 1)² = 2 (‖w‖ − 1) w / ‖w‖
    torch.testing.assert_close(critic.weight.grad[0], 2 * (w.norm() - 1) * w / w.norm())


def test_gradient_penalty_matches_autograd_per_sample():
    torch.manual_seed(0)
    critic = mlp_discriminator(2, 16, 2)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    g = torch.Generator().manual_seed(3)
    penalty, norms = gradient_penalty(critic, real, fake, generator=g)
    alpha = torch.rand((6, 1), generator=torch.Generator().manual_seed(3))
    for i in range(6):
        point = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).requires_grad_()
        (grad,) = torch.autograd.grad(critic(point[None]).sum(), point)
        torch.testing.assert_close(norms[i], grad.norm())
    torch.testing.assert_close(penalty, ((norms - 1) ** 2).mean())
    assert penalty.requires_grad   # it trains the critic
    with pytest.raises(ValueError, match="one shape"):
        gradient_penalty(critic, real, fake[:3])


def test_critic_gradient_norms_of_a_scaled_norm():
    # f(x) = 3 ‖x‖ has gradient norm 3 everywhere but 0
    norms = critic_gradient_norms(lambda x: 3 * x.norm(dim=1), torch.randn(10, 4))
    torch.testing.assert_close(norms, torch.full((10,), 3.0))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6), st.integers(0, 2**16))
def test_d_star_is_the_best_discriminator_and_v_is_the_js_divergence(weights, seed):
    rng = np.random.default_rng(seed)
    p_data = np.array(weights) / sum(weights)
    p_model = rng.dirichlet(np.ones(len(weights)))
    best = optimal_discriminator(p_data, p_model)
    value = minimax_value(best, p_data, p_model)
    # V(D*, G) = −log 4 + 2 JS(p_data ‖ p_g): the generator's objective at the optimal D
    assert value == pytest.approx(-math.log(4) + 2 * js_divergence(p_data, p_model), abs=1e-9)
    for _ in range(20):   # any other D does worse
        other = np.clip(best + rng.normal(0, 0.05, len(best)), 1e-6, 1 - 1e-6)
        assert minimax_value(other, p_data, p_model) <= value + 1e-12
    assert js_divergence(p_data, p_data) == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(optimal_discriminator(p_data, p_data), 0.5)


def test_js_divergence_of_disjoint_supports_is_log_2():
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(math.log(2))


def test_reparameterize_gives_the_distribution_and_passes_gradients():
    mu = torch.full((20000, 2), 1.5, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert abs(z.detach().mean().item() - 1.5) < 0.02 and abs(z.detach().std().item() - 0.5) < 0.02
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))             # dz/dμ = 1
    eps = (z.detach() - 1.5) / 0.5                                        # dz/dlogvar = ½ σ ε
    torch.testing.assert_close(logvar.grad, 0.5 * 0.5 * eps, rtol=1e-4, atol=1e-5)


def test_gaussian_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))


def test_elbo_terms_and_vae_shapes():
    vae = VAE(in_features=64, hidden=32, latent_dim=4)
    x = torch.rand(5, 64)
    logits, mu, logvar = vae(x)
    assert logits.shape == (5, 64) and mu.shape == logvar.shape == (5, 4)
    terms = elbo(x, logits, mu, logvar)
    recon = -F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5
    torch.testing.assert_close(terms["reconstruction"], recon)
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert terms["kl"] >= 0
    assert vae.decode(torch.randn(3, 4)).shape == (3, 64)
    with pytest.raises(ValueError, match="64 values per sample"):
        vae(torch.rand(5, 10))


def test_adversarial_step_moves_d_on_its_step_and_g_on_its_own():
    torch.manual_seed(0)
    G, D = mlp_generator(2, 16, 2), mlp_discriminator(2, 16, 2)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    # with g_steps=0 only D moves: D's step does not leak into G
    logged = adversarial_step(G, D, opt_g, opt_d, torch.randn(32, 2), 2, g_steps=0)
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))
    assert set(logged) == {"d_loss"}
    out = adversarial_step(G, D, opt_g, opt_d, torch.randn(32, 2), 2, loss="wgan-gp")
    assert {"d_loss", "g_loss", "grad_norm"} <= set(out)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))
    with pytest.raises(ValueError, match="expected loss among"):
        adversarial_step(G, D, opt_g, opt_d, torch.randn(32, 2), 2, loss="hinge")


def test_modes_covered_counts_modes_with_a_fair_share():
    centers = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    everywhere = np.repeat(centers, 25, axis=0)
    assert modes_covered(everywhere, centers) == 4
    one = np.repeat(centers[:1], 100, axis=0)
    assert modes_covered(one, centers) == 1
    assert modes_covered(np.zeros((100, 2)), centers) == 0          # between the modes: none
    with pytest.raises(ValueError, match="samples"):
        modes_covered(np.zeros(5), centers)


def test_ring_gan_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = RingGAN(hidden=16, depth=2, seed=4).train(5)
    assert torch.equal(torch.rand(1), expected)
    b = RingGAN(hidden=16, depth=2, seed=4).train(5)
    np.testing.assert_array_equal(a.samples(), b.samples())
    assert a.field(np.zeros((3, 4, 2))).shape == (3, 4)
    assert a.steps_done == 5 and len(a.history["d_loss"]) == 5
