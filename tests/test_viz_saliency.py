"""The saliency / Grad-CAM viewer (chapter 12): each method's map is dlkit.trust.interpret's for
the image and class the state names, "predicted" follows the network's guess, and bad states
are refused with what was expected."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dlkit.trust.interpret import grad_cam, integrated_gradients, saliency
from dlkit.viz import SaliencyDemo
from dlkit.viz.saliency import METHODS


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


def images() -> torch.Tensor:
    return torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_each_map_is_the_librarys_for_the_chosen_image_and_class():
    model, x = small_cnn(), images()
    demo = SaliencyDemo(model, x, labels=np.arange(5), image=3, method="saliency", target="4")
    np.testing.assert_allclose(demo.attribution(demo.state), saliency(model, x[3:4], 4)[0, 0].numpy(), atol=1e-6)
    demo.set(method="Grad-CAM")
    expected = grad_cam(model, model[3], x[3:4], 4, mode="bilinear")[0, 0].numpy()
    np.testing.assert_allclose(demo.attribution(demo.state), expected, atol=1e-6)
    demo.set(method="integrated gradients", target="predicted")
    guess = int(model(x[3:4]).argmax())
    assert demo.target_class(demo.state) == guess
    expected = integrated_gradients(model, x[3:4], guess, steps=32)[0, 0].detach().numpy()
    np.testing.assert_allclose(demo.attribution(demo.state), expected, atol=1e-6)


def test_every_method_draws_a_picture_of_the_image_size():
    demo = SaliencyDemo(small_cnn(), images())
    for method in METHODS:
        demo.set(method=method, image=1)
        assert demo.attribution(demo.state).shape == (8, 8)
        assert np.isfinite(demo.attribution(demo.state)).all()
    assert demo.png().startswith(b"\x89PNG")


def test_bad_states_and_models_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="image an int from 0 to 4"):
        SaliencyDemo(small_cnn(), images(), image=5)
    with pytest.raises(ValueError, match="method among"):
        SaliencyDemo(small_cnn(), images(), method="LIME")
    with pytest.raises(ValueError, match="target 'predicted' or a class from 0 to 9"):
        SaliencyDemo(small_cnn(), images(), target="10")
    with pytest.raises(ValueError, match="expected a CNN"):
        SaliencyDemo(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), images())
