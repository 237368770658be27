"""The regularization demo: its curves are the training history, weight decay really shrinks
the weights and the gap, the controls drive it, the picture repeats, bad states are refused."""
import re

import ipywidgets as widgets
import numpy as np
import pytest
import torch

from dlkit.viz.regularization import (
    EVAL_EVERY,
    STEPS,
    X_GRID,
    RegularizationDemo,
    make_curve_data,
    train_regularized,
)


@pytest.fixture(scope="module")
def demo():
    return RegularizationDemo()


def test_plotted_curves_are_the_training_history_and_the_title_tells_the_gap(demo):
    fresh = train_regularized("weight decay", 0.0, 128)   # an independent run of the same state
    steps, train = demo.line_train.get_xydata().T
    np.testing.assert_array_equal(steps, np.arange(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    np.testing.assert_array_equal(fresh.steps, steps)
    np.testing.assert_allclose(train, fresh.train_losses, rtol=1e-6)
    np.testing.assert_allclose(demo.line_val.get_xydata()[:, 1], fresh.val_losses, rtol=1e-6)
    np.testing.assert_allclose(demo.line_fit.get_xydata()[:, 1], fresh.y_grid_hat, rtol=1e-5, atol=1e-6)
    assert np.array_equal(demo.line_fit.get_xydata()[:, 0], X_GRID)
    gap = float(re.search(r"gap \(val − train\) = ([0-9.e+-]+)", demo.ax_loss.get_title()).group(1))
    assert gap == pytest.approx(fresh.val_losses[-1] - fresh.train_losses[-1], rel=5e-3)
    assert demo.best_line.get_xdata()[0] == fresh.best_step == EVAL_EVERY * (np.argmin(fresh.val_losses) + 1)
    # the network learned something: its best validation MSE beats predicting the mean
    _, _, X_val, y_val = make_curve_data()
    assert len(X_val) == 200 and fresh.val_losses.min() < 0.5 * np.var(y_val)


def test_stronger_weight_decay_shrinks_the_weights_and_the_gap(demo):
    none, strong = train_regularized("weight decay", 0.0), train_regularized("weight decay", 0.9)
    assert strong.weight_norm < 0.75 * none.weight_norm
    assert strong.gap < 0.6 * none.gap
    # without regularization 16 noisy points are overfit: train MSE below the noise variance 0.09
    assert none.train_losses[-1] < 0.09 < none.val_losses[-1]


def test_controls_drive_the_state_and_dropout_changes_the_run(demo):
    view = demo.widget()
    column = view.children[0]
    controls = {c.description: c for c in column.children if isinstance(c, widgets.ValueWidget)
                and not isinstance(c, (widgets.Play, widgets.HTML))}  # HTML: the refusal message line
    assert set(controls) == {"method", "strength", "width", "steps"}
    assert isinstance(controls["strength"], widgets.FloatSlider)
    before = demo.png()
    controls["method"].value = "dropout"
    controls["strength"].value = 0.2
    assert demo.state == {"method": "dropout", "strength": 0.2, "width": 128, "steps": STEPS}
    assert "dropout p = 0.20" in demo.ax_fit.get_title()
    np.testing.assert_allclose(demo.history.val_losses, train_regularized("dropout", 0.2).val_losses)
    assert view.children[1].value != before     # the image was re-rendered in place
    demo.set(method="weight decay", strength=0.0)
    assert controls["method"].value == "weight decay" and controls["strength"].value == 0.0


def test_png_is_deterministic_and_the_global_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = RegularizationDemo(width=16).png()
    assert torch.equal(torch.rand(3), expected)
    assert a == RegularizationDemo(width=16).png()
    assert a[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("bad, message", [
    ({"method": "l1"}, "method among"),
    ({"strength": -0.1}, "strength to be a number from 0 to 0.9"),
    ({"strength": 1.0}, "from 0 to 0.9"),
    ({"strength": True}, "strength"),
    ({"width": 0}, "width to be an integer"),
    ({"width": 3.5}, "width to be an integer"),
])
def test_bad_state_is_refused(demo, bad, message):
    with pytest.raises(ValueError, match=message):
        demo.set(**bad)
    with pytest.raises(ValueError, match="expected state among"):
        demo.set(lambda_=0.1)

