"""Offline datasets: 2-D toy sets, scikit-learn digits, generated shapes images."""

from __future__ import annotations

import numpy as np
import pytest

from dlkit.data import (
    load_digits,
    make_blobs,
    make_circles,
    make_moons,
    make_ring_gaussians,
    make_shapes,
    make_spirals,
    make_xor,
    mask_to_box,
)

TOY_SETS = {
    "moons": (make_moons, 2),
    "circles": (make_circles, 2),
    "spirals": (make_spirals, 3),
    "ring": (make_ring_gaussians, 8),
    "blobs": (make_blobs, 3),
    "xor": (make_xor, 2),
}


@pytest.mark.parametrize("name", TOY_SETS)
@pytest.mark.parametrize("n", [97, 240])
def test_toy_sets_shape_dtype_balance_and_determinism(name, n):
    make, num_classes = TOY_SETS[name]
    ds = make(n=n, seed=1)
    assert ds.X.shape == (n, 2) and ds.X.dtype == np.float32
    assert ds.y.shape == (n,) and ds.y.dtype == np.int64
    assert len(ds.classes) == num_classes
    counts = np.bincount(ds.y, minlength=num_classes)
    assert counts.max() - counts.min() <= 1
    # shuffled: the label order is random, not sorted by class nor a fixed pattern
    assert not np.all(ds.y[:-1] <= ds.y[1:])
    assert not np.array_equal(ds.y, make(n=n, seed=2).y)
    again = make(n=n, seed=1)
    np.testing.assert_array_equal(ds.X, again.X)
    np.testing.assert_array_equal(ds.y, again.y)
    assert not np.array_equal(ds.X, make(n=n, seed=2).X)


@pytest.mark.parametrize("name", TOY_SETS)
def test_toy_sets_reject_bad_arguments(name):
    make, _ = TOY_SETS[name]
    with pytest.raises(ValueError, match=r"expected n to be an integer >= \d, got 0"):
        make(n=0)
    with pytest.raises(ValueError, match=r"expected n to be an integer >= \d, got -5"):
        make(n=-5)
    noise_name = "std" if name in ("ring", "blobs") else "noise"
    with pytest.raises(
        ValueError, match=rf"expected {noise_name} to be a finite number >= 0, got -0.1"
    ):
        make(**{noise_name: -0.1})
    with pytest.raises(ValueError, match="seed"):
        make(seed=-1)


def test_noise_free_moons_lie_on_their_half_circles():
    ds = make_moons(n=200, noise=0.0)
    upper, lower = ds.X[ds.y == 0], ds.X[ds.y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)
    assert np.all(upper[:, 1] >= -1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert np.all(lower[:, 1] <= 0.5 + 1e-6)


def test_noise_free_circles_have_radius_one_and_factor():
    ds = make_circles(n=100, noise=0.0, factor=0.3)
    radius = np.hypot(*ds.X.T)
    np.testing.assert_allclose(radius[ds.y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[ds.y == 1], 0.3, atol=1e-6)
    for factor in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=rf"factor .* in \(0, 1\), got {factor}"):
            make_circles(factor=factor)


def test_spirals_arms_are_rotated_copies():
    ds = make_spirals(n=300, num_classes=3, noise=0.0)
    r = np.hypot(*ds.X.T)
    theta = np.arctan2(ds.X[:, 0], ds.X[:, 1])
    # angle minus 4r identifies the arm: 0, 2pi/3, 4pi/3 (mod 2pi)
    arm = np.round(((theta - 4 * r) % (2 * np.pi)) / (2 * np.pi / 3)) % 3
    np.testing.assert_array_equal(arm, ds.y)
    with pytest.raises(ValueError, match="num_classes to be an integer >= 2, got 1"):
        make_spirals(num_classes=1)
    with pytest.raises(ValueError, match="n >= num_classes"):
        make_spirals(n=2, num_classes=3)


def test_ring_gaussians_sit_on_the_ring_around_their_mode():
    ds = make_ring_gaussians(n=800, num_modes=8, radius=2.0, std=0.01)
    centers = ds.meta["centers"]
    np.testing.assert_allclose(np.hypot(*centers.T), 2.0, atol=1e-6)
    nearest = np.argmin(((ds.X[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, ds.y)
    assert np.abs(ds.X - centers[ds.y]).max() < 0.1
    with pytest.raises(ValueError, match="radius to be a finite number > 0, got 0"):
        make_ring_gaussians(radius=0)


def test_xor_labels_follow_the_sign_rule():
    ds = make_xor(n=200, noise=0.0)
    opposite = (np.sign(ds.X[:, 0]) != np.sign(ds.X[:, 1])).astype(np.int64)
    np.testing.assert_array_equal(opposite, ds.y)


def test_blobs_points_are_nearest_to_their_centre():
    ds = make_blobs(n=300, num_classes=3, std=0.05)
    centers = ds.meta["centers"]
    nearest = np.argmin(((ds.X[:, None] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, ds.y)


def test_digits_is_the_bundled_set_in_unit_range():
    flat = load_digits()
    assert flat.X.shape == (1797, 64) and flat.X.dtype == np.float32
    assert flat.y.dtype == np.int64 and set(flat.y.tolist()) == set(range(10))
    assert flat.X.min() == 0.0 and flat.X.max() == 1.0
    assert flat.classes == [str(d) for d in range(10)]
    images = load_digits(images=True)
    assert images.X.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(images.X.reshape(1797, 64), flat.X)
    from sklearn.datasets import load_digits as sk_digits

    np.testing.assert_allclose(flat.X * 16, sk_digits().data)


def test_shapes_shapes_dtypes_balance_and_determinism():
    ds = make_shapes(n=61, size=24, seed=3)
    assert ds.X.shape == (61, 1, 24, 24) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.int64 and ds.classes == ["circle", "square", "triangle"]
    assert ds.meta["masks"].shape == (61, 24, 24) and ds.meta["masks"].dtype == bool
    assert ds.meta["boxes"].shape == (61, 4) and ds.meta["boxes"].dtype == np.float32
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0
    counts = np.bincount(ds.y, minlength=3)
    assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(ds.X, make_shapes(n=61, size=24, seed=3).X)
    assert not np.array_equal(ds.X, make_shapes(n=61, size=24, seed=4).X)


def test_shape_masks_are_exactly_the_drawn_pixels():
    ds = make_shapes(n=90, size=32, noise=0.0)
    image, masks = ds.X[:, 0], ds.meta["masks"]
    assert np.all(image[~masks] == 0.0)
    for img, mask in zip(image, masks, strict=True):
        values = np.unique(img[mask])
        assert len(values) == 1 and 0.5 <= values[0] <= 1.0  # one intensity per shape


def test_shape_boxes_are_tight_around_the_masks():
    ds = make_shapes(n=120, size=20)
    for mask, (x0, y0, x1, y1) in zip(ds.meta["masks"], ds.meta["boxes"].astype(int), strict=True):
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = True
        assert not np.any(mask & ~inside)  # nothing outside the box
        # tight: the mask touches all four sides of the box
        assert mask[y0].any() and mask[y1 - 1].any()
        assert mask[:, x0].any() and mask[:, x1 - 1].any()


def test_shape_classes_are_drawn_as_named():
    ds = make_shapes(n=300, size=32, noise=0.0)
    boxes = ds.meta["boxes"]
    fill = ds.meta["masks"].sum(axis=(1, 2)) / (
        (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    )
    square, circle, triangle = (
        fill[ds.y == ds.classes.index(c)] for c in ("square", "circle", "triangle")
    )
    np.testing.assert_array_equal(square, 1.0)  # a square fills its box
    assert 0.65 < circle.mean() < 0.9  # about pi/4
    assert 0.4 < triangle.mean() < 0.65  # about 1/2
    only = make_shapes(n=10, classes=("triangle",))
    assert only.classes == ["triangle"] and np.all(only.y == 0)


def test_shape_split_keeps_masks_aligned_with_images():
    train, val, test = make_shapes(n=100, noise=0.0).split(val=0.2, test=0.2)
    for part in (train, val, test):
        np.testing.assert_array_equal(part.X[:, 0] > 0, part.meta["masks"])
        np.testing.assert_array_equal(part.meta["boxes"], mask_to_box(part.meta["masks"]))


def test_shapes_reject_bad_arguments():
    with pytest.raises(
        ValueError,
        match=r"expected shape names from \['circle', 'square', 'triangle'\], got \['hexagon'\]",
    ):
        make_shapes(classes=("hexagon",))
    with pytest.raises(ValueError, match="distinct"):
        make_shapes(classes=("circle", "circle"))
    with pytest.raises(ValueError, match="single string"):
        make_shapes(classes="circle")
    with pytest.raises(ValueError, match="n to be an integer >= 1, got 0"):
        make_shapes(n=0)
    with pytest.raises(ValueError, match="size to be an integer >= 8, got 4"):
        make_shapes(size=4)
    with pytest.raises(ValueError, match="noise to be a finite number >= 0, got -1"):
        make_shapes(noise=-1)
    with pytest.raises(ValueError, match=r"boolean masks of shape \(N, H, W\)"):
        mask_to_box(np.zeros((4, 4), bool))
