"""A MovieLens-like ratings table generated from a latent-factor model (chapter 13).

Real MovieLens needs a download; this one is generated offline and deterministic per seed, and
its ground truth is known: every rating is ``global mean + user bias + item bias + p_u · q_i``
plus noise, rounded to the stars 1..5. Items are not equally popular (a few blockbusters, a long
tail), so which pairs are observed is skewed the way real catalogues are.
"""

from __future__ import annotations

import numpy as np

from dlkit.data._checks import check_non_negative, check_positive, check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset


def make_ratings(
    num_users: int = 400,
    num_items: int = 250,
    rank: int = 4,
    density: float = 0.08,
    noise: float = 0.5,
    popularity: float = 0.7,
    taste: float = 0.8,
    selection: float = 2.0,
    seed: int = 0,
) -> ArrayDataset:
    """Observed star ratings of users for items (chapter 13, recommender systems).

    ``X`` is int64 of shape (n, 2): the (user, item) pairs, each pair at most once; ``y`` is
    float32 stars in {1, ..., 5}. About ``density`` of all user-item pairs are observed, every
    user and every item at least once. Item ``i`` is picked with probability proportional to
    ``(i + 1) ** -popularity`` (a Zipf tail; 0 gives uniform exposure) times
    ``exp(selection · p_u · q_i)``: users choose what they expect to like, so which pairs are
    observed carries taste too (ratings are "missing not at random"). ``taste`` is the standard
    deviation of ``p_u · q_i``. ``meta`` holds the
    sizes, the true ``user_factors`` / ``item_factors`` / biases, and the noiseless
    ``true_scores`` (num_users, num_items) that produced the stars.
    """
    num_users, num_items = check_positive_int("num_users", num_users, 2), check_positive_int("num_items", num_items, 2)
    rank = check_positive_int("rank", rank)
    density, noise = check_positive("density", density), check_non_negative("noise", noise)
    popularity = check_non_negative("popularity", popularity)
    if density > 1:
        raise ValueError(f"expected density (the observed fraction of pairs) in (0, 1], got {density!r}")
    rng = np.random.default_rng(check_seed(seed))
    taste, selection = check_non_negative("taste", taste), check_non_negative("selection", selection)
    # factor entries of std s give p·q a standard deviation of sqrt(rank) s² = taste
    s = np.sqrt(taste / np.sqrt(rank))
    user_factors = rng.normal(0.0, s, size=(num_users, rank))
    item_factors = rng.normal(0.0, s, size=(num_items, rank))
    user_bias, item_bias = rng.normal(0.0, 0.4, num_users), rng.normal(0.0, 0.5, num_items)
    scores = 3.5 + user_bias[:, None] + item_bias[None, :] + user_factors @ item_factors.T

    # which pairs are observed: each user rates a few items, drawn by popularity without repeats
    # people pick what they expect to like: exposure ∝ popularity · exp(selection · p_u·q_i)
    weights = rng.permutation((np.arange(num_items) + 1.0) ** -popularity)   # popular items are not the lowest ids
    per_user = rng.poisson(density * num_items, num_users).clip(1, num_items)
    users, items = [], []
    for user, count in enumerate(per_user):
        exposure = weights * np.exp(selection * (user_factors[user] @ item_factors.T))
        chosen = rng.choice(num_items, size=count, replace=False, p=exposure / exposure.sum())
        users.append(np.full(count, user)), items.append(chosen)
    users, items = np.concatenate(users), np.concatenate(items)
    unseen = np.setdiff1d(np.arange(num_items), items)          # every item rated at least once
    users = np.concatenate([users, rng.integers(0, num_users, unseen.size)])
    items = np.concatenate([items, unseen])
    pairs = np.unique(np.stack([users, items], axis=1), axis=0)
    pairs = pairs[rng.permutation(len(pairs))]
    stars = scores[pairs[:, 0], pairs[:, 1]] + rng.normal(0.0, noise, len(pairs))
    stars = np.clip(np.rint(stars), 1, 5)
    meta = {"num_users": num_users, "num_items": num_items, "true_scores": scores.astype(np.float32),
            "user_factors": user_factors.astype(np.float32), "item_factors": item_factors.astype(np.float32),
            "user_bias": user_bias.astype(np.float32), "item_bias": item_bias.astype(np.float32)}
    return ArrayDataset(pairs.astype(np.int64), stars.astype(np.float32), "ratings", None, meta)
