"""The activation explorer: state in, figure out, controls and the static fallback agree."""
import base64

import numpy as np
import pytest

from dlkit.ref import activations as act
from dlkit.viz import ActivationExplorer


def plotted(explorer):
    return explorer.line_f.get_xydata(), explorer.line_df.get_xydata()


@pytest.mark.parametrize("name", sorted(act.ELEMENTWISE))
def test_plotted_curves_are_the_activation_and_its_derivative(name):
    explorer = ActivationExplorer(activation=name, param=0.2)
    (f_xy, df_xy) = plotted(explorer)
    f, df = act.ELEMENTWISE[name]
    args = (0.2,) if name in {"leaky_relu", "elu", "swish"} else ()
    np.testing.assert_allclose(f_xy[:, 1], f(f_xy[:, 0], *args))
    np.testing.assert_allclose(df_xy[:, 1], df(df_xy[:, 0], *args))


def test_set_updates_the_same_figure_in_place():
    explorer = ActivationExplorer()
    figure, line = explorer.figure, explorer.line_f
    before = explorer.png()
    explorer.set(activation="relu", x_range=3.0)
    assert explorer.figure is figure and explorer.line_f is line
    assert explorer.png() != before
    xy = line.get_xydata()
    assert xy[0, 0] == -3.0 and xy[-1, 0] == 3.0
    np.testing.assert_allclose(xy[:, 1], np.maximum(xy[:, 0], 0))


def test_moving_a_control_changes_state_and_picture():
    explorer = ActivationExplorer()
    view = explorer.widget()
    image_before = explorer._image.value
    dropdown = explorer._controls["activation"]
    dropdown.value = "tanh"
    assert explorer.state["activation"] == "tanh"
    assert explorer._image.value != image_before
    explorer.set(activation="elu")  # and code moves the control
    assert dropdown.value == "elu"
    assert view is explorer.widget()


def test_display_offers_the_widget_and_a_static_png():
    bundle = ActivationExplorer()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_same_state_same_picture():
    assert ActivationExplorer(activation="gelu").png() == ActivationExplorer(activation="gelu").png()


def test_bad_state_is_refused_with_expected_and_got():
    with pytest.raises(ValueError, match=r"expected an activation among .*got 'softplus'"):
        ActivationExplorer(activation="softplus")
    explorer = ActivationExplorer()
    with pytest.raises(ValueError, match=r"expected state among .*got \['colour'\]"):
        explorer.set(colour="red")
    with pytest.raises(ValueError, match="expected x_range between 0.5 and 50, got 0"):
        explorer.set(x_range=0)
    assert explorer.state["x_range"] == 6.0  # a refused change leaves the demo as it was


def test_the_parameter_slider_is_live_only_for_activations_that_have_one():
    explorer = ActivationExplorer(activation="leaky_relu")
    explorer.widget()
    slider = explorer._controls["param"]
    assert not slider.disabled and slider.description == "alpha"
    explorer.set(activation="tanh")
    assert slider.disabled
    explorer.set(activation="swish")
    assert not slider.disabled and slider.description == "beta"
