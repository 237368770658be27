"""dlkit.apps.recommend and two_tower (chapter 13): matrix factorization against its formula,
its gradient against the hand derivative, a fit that recovers an exactly representable matrix,
the baselines on hand cases, and the two-tower loss against a direct cross-entropy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlkit.apps.recommend import MatrixFactorization, fit_matrix_factorization, item_means, rmse
from dlkit.apps.two_tower import TwoTower, fit_two_tower, in_batch_softmax_loss

pytestmark = pytest.mark.numerics


def small_model() -> MatrixFactorization:
    model = MatrixFactorization(2, 3, rank=2, global_mean=3.0)
    with torch.no_grad():
        model.user_factors.copy_(torch.tensor([[1.0, 0.0], [0.5, -1.0]]))
        model.item_factors.copy_(torch.tensor([[2.0, 1.0], [0.0, 1.0], [-1.0, 0.5]]))
        model.user_bias.copy_(torch.tensor([0.25, -0.5]))
        model.item_bias.copy_(torch.tensor([0.0, 0.5, 1.0]))
    return model


def test_prediction_is_mean_plus_biases_plus_dot_product():
    model = small_model()
    users, items = torch.tensor([0, 1, 1]), torch.tensor([0, 1, 2])
    # by hand: 3 + 0.25 + 0 + 2;  3 - 0.5 + 0.5 + (0 - 1);  3 - 0.5 + 1 + (-0.5 - 0.5)
    assert torch.allclose(model(users, items), torch.tensor([5.25, 2.0, 2.5]))
    every = model.score_all()
    assert every.shape == (2, 3) and torch.allclose(every[users, items], model(users, items))


def test_gradient_of_the_squared_error_matches_the_hand_derivative():
    model = small_model()
    users, items = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 2])
    ratings = torch.tensor([4.0, 3.0, 1.0, 5.0])
    residual = (model(users, items) - ratings).detach()
    (model(users, items) - ratings).pow(2).mean().backward()
    # d/d b_u mean((r̂ - r)²) = 2/n Σ_{pairs of u} (r̂ - r);  d/d p_u = 2/n Σ (r̂ - r) q_i
    n = len(ratings)
    expected_bias = torch.stack([2 / n * residual[users == u].sum() for u in range(2)])
    q = model.item_factors.detach()
    expected_factors = torch.stack([2 / n * (residual[users == u, None] * q[items[users == u]]).sum(0)
                                    for u in range(2)])
    assert torch.allclose(model.user_bias.grad, expected_bias, atol=1e-6)
    assert torch.allclose(model.user_factors.grad, expected_factors, atol=1e-6)


def test_fit_recovers_an_exactly_representable_matrix():
    torch.manual_seed(0)
    truth = small_model()
    users, items = torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
    users, items = users.reshape(-1), items.reshape(-1)
    with torch.no_grad():
        ratings = truth(users, items)
    model = MatrixFactorization(2, 3, rank=2, global_mean=float(ratings.mean()))
    losses = fit_matrix_factorization(model, users, items, ratings, steps=1500, lr=0.03, weight_decay=0.0)
    assert losses[-1] < 1e-5 < losses[0]
    with torch.no_grad():
        assert rmse(model(users, items), ratings) < 1e-2


def test_baselines_on_a_hand_case():
    items, ratings = np.array([0, 0, 1]), np.array([4.0, 2.0, 5.0])
    # item 2 is never rated: the global mean 11/3
    assert np.allclose(item_means(items, ratings, 3), [3.0, 5.0, 11 / 3])
    # one pseudo-rating at the global mean damps item 1 towards it
    assert np.allclose(item_means(items, ratings, 3, shrink=1.0)[1], (5 + 11 / 3) / 2)
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(1.0)


def test_bad_input_is_named():
    model = small_model()
    with pytest.raises(IndexError, match=r"item ids in \[0, 3\)"):
        model(torch.tensor([0]), torch.tensor([3]))
    with pytest.raises(TypeError, match="integer user and item ids"):
        model(torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="one rating per"):
        fit_matrix_factorization(model, torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([1.0]))


def test_in_batch_loss_is_cross_entropy_over_the_batch_items_with_log_q():
    torch.manual_seed(0)
    model = TwoTower(4, 5, dim=3, hidden=6, temperature=0.5)
    users, items = torch.tensor([0, 1, 3]), torch.tensor([2, 4, 2])
    log_q = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.2, 0.2]))
    u = F.normalize(model.user_tower(users), dim=-1)
    v = F.normalize(model.item_tower(items), dim=-1)
    logits = u @ v.T / 0.5 - log_q[items][None, :]
    expected = F.cross_entropy(logits, torch.arange(3))
    assert torch.allclose(in_batch_softmax_loss(model, users, items, log_q), expected)
    assert model.score_all(torch.tensor([1])).shape == (1, 5)


def test_two_tower_learns_who_likes_what():
    # user u likes items u and u + 8 (of 16): after training, those two are each user's top 2
    torch.manual_seed(0)
    users = torch.arange(8).repeat(2 * 20)
    items = torch.cat([torch.arange(8), torch.arange(8) + 8]).repeat(20)
    model = TwoTower(8, 16, dim=8, hidden=16)
    history = fit_two_tower(model, users, items, epochs=30, batch_size=16, generator=torch.Generator().manual_seed(0))
    assert history[-1] < history[0]
    with torch.no_grad():
        top = model.score_all(torch.arange(8)).topk(2).indices.sort(1).values
    assert torch.equal(top, torch.stack([torch.arange(8), torch.arange(8) + 8], 1))
