"""The capacity demo: the plot is the fitted network, its title is true, capacity counts."""
import base64
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.viz import CapacityDemo
from dlkit.viz.capacity import (
    TARGETS,
    X_GRID,
    X_TRAIN,
    build_mlp,
    count_mlp_parameters,
    fit_capacity,
)

# a fast state, for the tests that are not about the quality of the fit
SMALL = {"width": 8, "depth": 2, "steps": 100}


def title_numbers(demo):
    title = demo.ax_fit.get_title()
    mse = float(re.search(r"MSE = ([0-9.e+-]+)", title).group(1))
    parameters = int(re.search(r"\(([0-9,]+) parameters\)", title).group(1).replace(",", ""))
    return mse, parameters


def test_plotted_fit_is_the_networks_prediction_and_the_title_tells_its_mse():
    demo = CapacityDemo(target="sin", activation="tanh", **SMALL)
    # an independent fresh fit of the same state: the demo's plot must be exactly that network
    fresh = fit_capacity(target="sin", activation="tanh", **SMALL)
    x, y_hat = demo.line_fit.get_xydata().T
    np.testing.assert_allclose(x, X_GRID)
    np.testing.assert_allclose(y_hat, fresh.y_grid_hat, rtol=1e-6, atol=1e-7)
    xt, yt = demo.points.get_xydata().T
    np.testing.assert_allclose(xt, X_TRAIN)
    np.testing.assert_allclose(yt, TARGETS["sin"](X_TRAIN))
    np.testing.assert_allclose(demo.line_target.get_xydata()[:, 1], np.sin(np.pi * X_GRID))
    # the MSE is recomputed here from the network's predictions at the training points
    mse = float(np.mean((fresh.y_train_hat - np.sin(np.pi * X_TRAIN)) ** 2))
    shown_mse, shown_parameters = title_numbers(demo)
    assert shown_mse == pytest.approx(mse, rel=5e-3)  # the title rounds to 3 significant digits
    assert shown_parameters == count_mlp_parameters(8, 2) == 8 + 8 + 72 + 9
    # and the loss curve is the per-step history, one point per step
    assert len(demo.line_loss.get_xydata()) == SMALL["steps"]


@settings(max_examples=20, deadline=None)
@given(width=st.integers(1, 40), depth=st.integers(1, 5),
       activation=st.sampled_from(["relu", "tanh"]))
def test_parameter_count_matches_torch(width, depth, activation):
    sizes = [1] + [width] * depth + [1]
    torch_mlp = torch.nn.Sequential(*[torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False)])
    assert count_mlp_parameters(width, depth) == sum(p.numel() for p in torch_mlp.parameters())
    model = build_mlp(width, depth, activation)
    assert model.params.data.size == count_mlp_parameters(width, depth) and model.num_layers == depth + 1


@pytest.mark.parametrize("seed", range(5))
def test_depth_and_width_fit_a_sawtooth_far_better_than_width_one(seed):
    # the chapter's claim, from five random starts (it once held for seed 0 on one CPU only)
    narrow = fit_capacity(target="sawtooth", width=1, depth=1, steps=500, seed=seed)
    deep_and_wide = fit_capacity(target="sawtooth", width=32, depth=3, steps=500, seed=seed)
    # one ReLU unit bends once: it cannot follow three jumps; its error stays near the variance
    assert narrow.mse > 0.25
    assert deep_and_wide.mse < 0.25 * narrow.mse
    assert deep_and_wide.num_parameters > 50 * narrow.num_parameters


def test_more_steps_continue_the_same_run_and_match_a_fresh_run():
    demo = CapacityDemo(target="abs", **SMALL)
    run = demo._runs[("abs", 8, 2, "relu")]
    demo.set(steps=250)  # continues the cached run
    assert demo._runs[("abs", 8, 2, "relu")] is run and run.steps_done == 250
    fresh = fit_capacity(target="abs", width=8, depth=2, steps=250)
    np.testing.assert_allclose(demo.fit.y_grid_hat, fresh.y_grid_hat, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(demo.fit.losses, fresh.losses, rtol=1e-6)
    # going back is served from the cache: the very same Fit, no retraining
    first = demo._fits[("abs", 8, 2, "relu", 100)]
    demo.set(steps=100)
    assert demo.fit is first
    np.testing.assert_allclose(demo.line_fit.get_xydata()[:, 1], first.y_grid_hat)


def test_fits_leave_the_learners_random_state_and_threads_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    fit_capacity(**SMALL)
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_set_updates_the_same_figure_in_place():
    demo = CapacityDemo(**SMALL)
    figure, line = demo.figure, demo.line_fit
    before = demo.png()
    demo.set(target="step")
    assert demo.figure is figure and demo.line_fit is line
    assert demo.png() != before
    np.testing.assert_allclose(demo.line_target.get_xydata()[:, 1], np.where(X_GRID < 0, -0.5, 0.5))
    assert demo.ax_fit.get_title().startswith("step: width 8, depth 2, relu")


def test_zero_steps_shows_the_untrained_network():
    demo = CapacityDemo(width=4, depth=1, steps=0)
    assert len(demo.fit.losses) == 0 and len(demo.line_loss.get_xydata()) == 0
    untrained = build_mlp(4, 1, "relu", seed=0)   # the demo's seed: the same initial network
    expected = untrained(X_GRID.astype(np.float32).reshape(-1, 1)).reshape(-1)
    np.testing.assert_allclose(demo.line_fit.get_xydata()[:, 1], expected, rtol=1e-6, atol=1e-7)
    assert demo.untrained_note.get_visible()
    demo.set(steps=50)
    assert not demo.untrained_note.get_visible() and len(demo.line_loss.get_xydata()) == 50


def test_moving_a_control_changes_state_and_picture():
    demo = CapacityDemo(**SMALL)
    view = demo.widget()
    image_before = demo._image.value
    demo._controls["width"].value = 2
    assert demo.state["width"] == 2
    assert demo._image.value != image_before
    assert demo.ax_fit.get_title().startswith("sawtooth: width 2,")
    demo.set(activation="tanh")  # and code moves the control
    assert demo._controls["activation"].value == "tanh"
    assert view is demo.widget()


def test_display_offers_the_widget_and_a_static_png():
    bundle = CapacityDemo(**SMALL)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_same_state_same_picture():
    first, second = CapacityDemo(target="zigzag", **SMALL), CapacityDemo(target="zigzag", **SMALL)
    assert first.png() == second.png()


def test_bad_state_is_refused_with_expected_and_got():
    with pytest.raises(ValueError, match=r"expected a target among .*got 'cosine'"):
        CapacityDemo(target="cosine")
    with pytest.raises(ValueError, match=r"expected an activation among .*got 'softplus'"):
        fit_capacity(activation="softplus")
    with pytest.raises(ValueError, match=r"expected an activation among .*got 'swish'"):
        build_mlp(4, 2, "swish")
    with pytest.raises(ValueError, match="expected width to be an integer from 1 to .*, got 0"):
        count_mlp_parameters(0, 2)
    with pytest.raises(ValueError, match="expected seed to be an integer from 0 to .*, got -1"):
        fit_capacity(seed=-1)
    demo = CapacityDemo(**SMALL)
    with pytest.raises(ValueError, match=r"expected state among .*got \['lr'\]"):
        demo.set(lr=0.1)
    with pytest.raises(ValueError, match="expected width to be an integer from 1 to 64, got 0"):
        demo.set(width=0)
    with pytest.raises(ValueError, match="expected depth to be an integer from 1 to 5, got 2.5"):
        demo.set(depth=2.5)
    with pytest.raises(ValueError, match="expected steps to be an integer from 0 to 2000, got Tr"):
        demo.set(steps=True)
    assert demo.state["width"] == 8  # a refused change leaves the demo as it was
