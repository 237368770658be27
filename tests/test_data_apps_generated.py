"""The generated data of chapter 13: ratings, credit applicants and prices are deterministic
per seed, differ between seeds, and have the shape and ranges their docstrings promise."""
import numpy as np
import pytest

from dlkit.data.credit import make_credit
from dlkit.data.prices import make_random_walk_prices
from dlkit.data.ratings import make_ratings


def test_ratings_are_deterministic_and_well_formed():
    a, b, c = make_ratings(seed=3), make_ratings(seed=3), make_ratings(seed=4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X[:50], c.X[:50])
    assert a.X.dtype == np.int64 and a.y.dtype == np.float32
    assert set(np.unique(a.y)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(np.unique(a.X, axis=0)) == len(a.X), "a pair is rated at most once"
    assert np.array_equal(np.unique(a.X[:, 1]), np.arange(a.meta["num_items"])), "every item is rated"
    assert np.array_equal(np.unique(a.X[:, 0]), np.arange(a.meta["num_users"])), "every user rates"
    density = len(a.X) / (a.meta["num_users"] * a.meta["num_items"])
    assert 0.06 < density < 0.1
    with pytest.raises(ValueError, match="density"):
        make_ratings(density=1.5)


def test_credit_is_deterministic_with_a_realistic_default_rate():
    a, b = make_credit(500, seed=1), make_credit(500, seed=1)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, make_credit(500, seed=2).X)
    assert a.X.shape == (500, len(a.meta["features"]))
    assert 0.08 < make_credit(seed=0).y.mean() < 0.25
    with pytest.raises(ValueError, match="n to be an integer"):
        make_credit(3)


def test_prices_are_a_random_walk_of_the_given_volatility():
    prices = make_random_walk_prices(5000, volatility=0.02, seed=7)
    assert np.array_equal(prices, make_random_walk_prices(5000, volatility=0.02, seed=7))
    assert prices[0] == 100.0 and np.all(prices > 0)
    returns = np.diff(np.log(prices))
    assert returns.std() == pytest.approx(0.02, rel=0.05)
    assert abs(np.corrcoef(returns[:-1], returns[1:])[0, 1]) < 0.05   # no memory
    with pytest.raises(ValueError, match="start"):
        make_random_walk_prices(start=-1.0)


def test_breast_cancer_codes_malignant_as_positive():
    from dlkit.data import load_breast_cancer

    tumours = load_breast_cancer()
    assert tumours.X.shape == (569, 30) and len(tumours.meta["features"]) == 30
    assert int(tumours.y.sum()) == 212, "212 of the 569 tumours are malignant"
    assert tumours.classes == ["benign", "malignant"]
