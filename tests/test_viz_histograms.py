"""The init histograms demo: plotted per-layer stds are the network's, and the figure reacts."""
import base64
import math

import numpy as np
import pytest
import torch

from dlkit.viz.histograms import InitHistograms, deep_mlp_statistics


def independent_stds(depth, width, activation, init, batch_norm, batch=256):
    """The same seeded network, written again with plain torch autograd."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(batch, width, generator=g)
    std = {"small": 0.01, "large": 1.0, "xavier": math.sqrt(1.0 / width),
           "he": math.sqrt(2.0 / width)}[init]
    Ws = [torch.nn.Parameter(torch.randn(width, width, generator=g) * std) for _ in range(depth)]
    R = torch.randn(batch, width, generator=g)
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    h, acts = X, []
    for W in Ws:
        z = h @ W
        if batch_norm:
            z = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)
        h = f(z)
        acts.append(h)
    ((h * R).sum() / batch).backward()
    return (np.array([a.detach().std().item() for a in acts]),
            np.array([W.grad.std().item() for W in Ws]))


@pytest.mark.parametrize("activation,init,batch_norm", [
    ("tanh", "xavier", False), ("relu", "he", False), ("sigmoid", "large", False),
    ("relu", "small", True)])
def test_plotted_stds_equal_independently_computed_ones(activation, init, batch_norm):
    demo = InitHistograms(depth=6, width=64, activation=activation, init=init,
                          batch_norm=batch_norm)
    act_std, grad_std = independent_stds(6, 64, activation, init, batch_norm)
    act_xy, grad_xy = (demo.std_lines[k].get_xydata() for k in ("activations", "gradients"))
    np.testing.assert_array_equal(act_xy[:, 0], np.arange(1, 7))
    np.testing.assert_allclose(act_xy[:, 1], act_std, rtol=1e-4)
    np.testing.assert_allclose(grad_xy[:, 1], grad_std, rtol=1e-3)


def test_histograms_are_of_the_first_middle_and_last_layers():
    demo = InitHistograms(depth=9, width=32)
    assert demo.shown_layers() == [1, 5, 9]
    stats = deep_mlp_statistics(9, 32, "tanh", "xavier", False)
    for line, layer in zip(demo.hist_lines["activations"], demo.shown_layers(), strict=True):
        fractions = line.get_xydata()[:, 1]
        assert fractions.sum() == pytest.approx(1.0)        # every value falls in a bin
        assert f"std {stats['activations'][layer - 1].std():.2g}" in line.get_label()


def test_xavier_keeps_tanh_activations_alive_while_small_init_collapses_them():
    xavier = InitHistograms(depth=12, width=256, activation="tanh", init="xavier").stds
    small = InitHistograms(depth=12, width=256, activation="tanh", init="small").stds
    assert xavier["activations"][-1] > 0.1
    assert xavier["activations"][-1] > xavier["activations"][0] / 5
    assert small["activations"][-1] < 1e-6 * small["activations"][0]


def test_he_keeps_relu_std_constant_and_batch_norm_rescues_a_small_init():
    he = InitHistograms(depth=15, width=256, activation="relu", init="he").stds["activations"]
    assert 0.5 < he[-1] / he[0] < 2
    rescued = InitHistograms(depth=15, width=256, activation="relu", init="small",
                             batch_norm=True).stds["activations"]
    assert rescued[-1] > 0.3


def test_set_updates_the_same_figure_in_place():
    demo = InitHistograms(depth=4, width=32)
    figure, line, before = demo.figure, demo.std_lines["activations"], demo.png()
    demo.set(depth=7, init="large", activation="relu")
    assert demo.figure is figure and demo.std_lines["activations"] is line
    assert len(line.get_xydata()) == 7 and demo.png() != before


def test_moving_a_control_changes_state_and_picture():
    demo = InitHistograms(depth=4, width=32)
    view = demo.widget()
    image_before = demo._image.value
    demo._controls["init"].value = "small"
    assert demo.state["init"] == "small" and demo._image.value != image_before
    demo.set(batch_norm=True)
    assert demo._controls["batch_norm"].value is True
    assert view is demo.widget()


def test_display_offers_the_widget_and_a_static_png():
    bundle = InitHistograms(depth=3, width=16)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_same_state_same_picture():
    assert InitHistograms(depth=5, width=32).png() == InitHistograms(depth=5, width=32).png()


def test_bad_state_is_refused_with_expected_and_got():
    with pytest.raises(ValueError, match=r"expected init among .*got 'zeros'"):
        InitHistograms(init="zeros")
    with pytest.raises(ValueError, match=r"expected activation among .*got 'gelu'"):
        InitHistograms(activation="gelu")
    demo = InitHistograms(depth=3, width=16)
    with pytest.raises(ValueError, match="expected depth an integer between 2 and 30, got 0"):
        demo.set(depth=0)
    with pytest.raises(ValueError, match="expected width an integer between 8 and 512, got 2.5"):
        demo.set(width=2.5)
    with pytest.raises(ValueError, match="expected batch_norm True or False, got 'yes'"):
        demo.set(batch_norm="yes")
    assert demo.state["depth"] == 3
