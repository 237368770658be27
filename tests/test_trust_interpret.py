"""dlkit.trust.interpret (chapter 12): saliency, Grad-CAM, occlusion and integrated gradients from
scratch, each equal to Captum's on the same model and inputs; completeness of integrated
gradients as a hypothesis property."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlkit.trust.interpret import (
    completeness_gap,
    grad_cam,
    integrated_gradients,
    integration_points,
    occlusion,
    saliency,
)

pytestmark = pytest.mark.numerics


def digits_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10)).eval()


def images(seed: int = 0, n: int = 6, channels: int = 1, side: int = 8) -> torch.Tensor:
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("layer_index", [0, 3])
def test_grad_cam_matches_captum_layer_grad_cam_to_1e5(seed, relu, layer_index):
    from captum.attr import LayerAttribution, LayerGradCam

    model = digits_cnn(seed)
    x = images(seed)
    target = torch.arange(6) % 10
    layer = model[layer_index]
    theirs = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=relu)
    torch.testing.assert_close(grad_cam(model, layer, x, target, relu=relu, upsample=False), theirs,
                               rtol=0, atol=1e-5)
    upsampled = LayerAttribution.interpolate(theirs, x.shape[2:])
    ours = grad_cam(model, layer, x, target, relu=relu)
    assert ours.shape == (6, 1, 8, 8)
    torch.testing.assert_close(ours, upsampled, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad_cam(model, layer, x, target, relu=relu, mode="bilinear"),
                               LayerAttribution.interpolate(theirs, x.shape[2:], "bilinear"), rtol=0, atol=1e-5)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_saliency_matches_captum():
    from captum.attr import Saliency

    model = digits_cnn(1)
    x = images(1)
    torch.testing.assert_close(saliency(model, x, 3), Saliency(model).attribute(x, target=3), rtol=0, atol=1e-7)
    torch.testing.assert_close(saliency(model, x, 3, absolute=False),
                               Saliency(model).attribute(x, target=3, abs=False), rtol=0, atol=1e-7)


@pytest.mark.parametrize("window, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 3), (2, 2)), ((4, 2), (3, 1))])
def test_occlusion_matches_captum_including_windows_cut_at_the_edge(window, stride):
    from captum.attr import Occlusion

    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)).eval()
    x = images(2, n=3, channels=3)
    theirs = Occlusion(model).attribute(x, sliding_window_shapes=(3, *window), strides=(1, *stride),
                                        target=torch.tensor([0, 2, 4]), baselines=0.25)
    ours = occlusion(model, x, torch.tensor([0, 2, 4]), window, stride, baseline=0.25)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_middle"])
def test_integrated_gradients_match_captum(method):
    # same points, same weights; only the order of float32 sums differs: 1e-5 relative, 1e-6 absolute
    from captum.attr import IntegratedGradients

    model = digits_cnn(3)
    x = images(3)
    baseline = torch.full_like(x, 0.1)
    theirs = IntegratedGradients(model).attribute(x, baselines=baseline, target=7, n_steps=32, method=method)
    ours = integrated_gradients(model, x, 7, baseline=baseline, steps=32, method=method)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), target=st.integers(0, 3), scale=st.floats(0.1, 3.0))
def test_integrated_gradients_add_up_to_the_score_difference(seed, target, scale):
    # completeness: Σ IG = f(x) − f(x'); a smooth network in float64 and 64 Gauss-Legendre points
    # leave only rounding
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(), nn.Linear(16, 4)).double()
    x = scale * torch.randn(5, 6, dtype=torch.float64)
    baseline = torch.randn(5, 6, dtype=torch.float64)
    attributions = integrated_gradients(model, x, target, baseline=baseline, steps=64)
    gap = completeness_gap(model, attributions, x, target, baseline)
    assert gap.abs().max() < 1e-8, f"Σ IG − (f(x) − f(x')) = {gap.tolist()}"


def test_completeness_fails_for_plain_gradient_times_input():
    # the property has teeth: gradient × input, the naive attribution, misses it on a tanh net
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    x = 3 * torch.randn(5, 6, dtype=torch.float64)
    naive = saliency(model, x, 1, absolute=False) * x
    assert completeness_gap(model, naive, x, 1).abs().max() > 1e-2


def test_integration_points_integrate_polynomials():
    # Gauss-Legendre with 5 points is exact to degree 9, the midpoint rule to degree 1
    for method, steps, exact_degree in [("gausslegendre", 5, 9), ("riemann_middle", 200, 1)]:
        alphas, weights = integration_points(steps, method)
        for degree in range(exact_degree + 1):
            assert float((weights * alphas**degree).sum()) == pytest.approx(1 / (degree + 1), abs=1e-12)
    # Captum's "trapezoid" puts n points at linspace(0, 1, n) but weights 1/n (ends halved): its
    # weights add up to 1 − 1/n, not 1; kept so that the results equal Captum's
    _, weights = integration_points(50, "riemann_trapezoid")
    assert float(weights.sum()) == pytest.approx(1 - 1 / 50, abs=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: saliency(m, x, 2.5), "expected target to be a class index or integer tensor of shape (6,), got 2.5"),
    (lambda m, x: grad_cam(m, nn.Conv2d(1, 1, 1), x, 0), "expected layer to be a module inside model"),
    (lambda m, x: grad_cam(m, m[6], x, 0), "expected the layer to output feature maps (N, K, h, w), got (6, 10)"),
    (lambda m, x: occlusion(m, x, 0, (9, 2)), "expected a window within the image 8x8"),
    (lambda m, x: integrated_gradients(m, x, 0, method="simpson"), "expected method to be one of"),
    (lambda m, x: integrated_gradients(m, x, 0, steps=1, method="riemann_left"),
     "expected steps to be an int >= 2 for riemann_left, got 1"),
    (lambda m, x: integrated_gradients(m, x, 0, baseline=torch.zeros(8, 8)), "expected baseline shaped like x"),
])
def test_bad_arguments_say_what_was_expected(call, message):
    with pytest.raises(ValueError) as error:
        call(digits_cnn(), images())
    assert message in str(error.value)
