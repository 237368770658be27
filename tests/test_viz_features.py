"""The feature-map demo (chapter 07): what it draws is the network's own activations and
weights, every control changes the picture, bad arguments are refused with what was expected,
and building it on the digits is deterministic and leaves the learner's RNG alone."""
import random

import numpy as np
import pytest
import torch
from torch import nn

from dlkit.models import LeNet
from dlkit.viz import FeatureMapDemo
from dlkit.viz.features import CHANNELS_PER_PAGE, digits_lenet


@pytest.fixture(scope="module")
def trained():
    return digits_lenet(seed=0, epochs=2, n_images=6)


def small_vgg() -> nn.Sequential:
    # the chapter's net in miniature: conv → batch norm → ReLU, nested Sequentials
    torch.manual_seed(1)
    block = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 10, 3, padding=1), nn.BatchNorm2d(10), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten())
    return nn.Sequential(block, nn.Linear(10 * 4 * 4, 3))


def hooked_maps(model: nn.Module, image: torch.Tensor, after: dict[str, nn.Module]) -> dict[str, np.ndarray]:
    """The output of each named activation module for one image, by forward hooks of our own."""
    seen = {}

    def keeper(name):
        def keep(_module, _inputs, output):
            seen.setdefault(name, output.detach().numpy().copy())   # returns None: output unchanged
        return keep

    hooks = [module.register_forward_hook(keeper(name)) for name, module in after.items()]
    with torch.no_grad():
        model(image[None])
    for hook in hooks:
        hook.remove()
    return seen


def drawn_maps(demo: FeatureMapDemo) -> list[np.ndarray]:
    return [np.asarray(slot[3].get_array()) for slot in demo.slots if slot[1].get_visible()]


def test_drawn_maps_are_the_activations_after_each_conv_of_lenet(trained):
    model, images, labels = trained
    demo = FeatureMapDemo(model, images, labels)
    expected = hooked_maps(model, images[3], {"features.0": model.features[1], "features.3": model.features[4]})
    assert list(demo.convs) == ["features.0", "features.3"]
    for layer, maps in expected.items():
        for page in range(demo.pages(layer)):
            demo.set(image=3, layer=layer, page=page)
            channels = range(page * CHANNELS_PER_PAGE, min(maps.shape[1], (page + 1) * CHANNELS_PER_PAGE))
            drawn = drawn_maps(demo)
            assert len(drawn) == len(channels)
            for shown, channel in zip(drawn, channels, strict=True):
                np.testing.assert_allclose(shown, maps[0, channel], rtol=0, atol=1e-6)
    assert (expected["features.0"] >= 0).all()          # after the ReLU


def test_maps_after_batch_norm_are_the_relu_outputs_in_eval_mode():
    model = small_vgg().train()
    with torch.no_grad():                                # running statistics that are not 0 and 1
        model(torch.randn(32, 1, 8, 8) * 2 + 1)
    images = torch.randn(4, 1, 8, 8)
    demo = FeatureMapDemo(model, images)
    assert model.training, "the demo left the model in the mode it was given"
    model.eval()
    expected = hooked_maps(model, images[1], {"0.0": model[0][2], "0.3": model[0][5]})
    for layer in ("0.0", "0.3"):
        np.testing.assert_allclose(demo.maps(1, layer), expected[layer][0], atol=1e-6)
    demo.set(image=1, layer="0.3", page=1)               # channels 8 and 9 of ten
    drawn = drawn_maps(demo)
    assert len(drawn) == 2
    np.testing.assert_allclose(drawn[1], expected["0.3"][0, 9], atol=1e-6)


def test_first_layer_filters_are_the_kernels_deeper_ones_the_strongest_input_slice(trained):
    model, images, _ = trained
    demo = FeatureMapDemo(model, images)
    kernels = model.features[0].weight.detach().numpy()[:, 0]
    for slot, kernel in zip(demo.slots, kernels, strict=False):
        np.testing.assert_array_equal(np.asarray(slot[2].get_array()), kernel)
    deep = model.features[3].weight.detach().numpy()                     # (16, 6, 5, 5)
    strongest = np.linalg.norm(deep.reshape(16, 6, -1), axis=2).argmax(axis=1)
    demo.set(layer="features.3", page=1)
    for slot, channel in zip(demo.slots, range(8, 16), strict=True):
        np.testing.assert_array_equal(np.asarray(slot[2].get_array()), deep[channel, strongest[channel]])
        assert slot[0].get_title() == f"#{channel} ← map {strongest[channel]}"


def test_every_control_changes_the_picture(trained):
    model, images, labels = trained
    demo = FeatureMapDemo(model, images, labels)
    view = demo.widget()
    assert view is demo.widget()
    controls = demo._controls
    assert set(controls) == {"image", "layer", "page"}
    assert controls["page"].disabled                     # conv 1: 6 channels, one page
    pictures = [demo.png()]
    for name, value in (("image", 4), ("layer", "features.3"), ("page", 1), ("image", 0), ("layer", "features.0")):
        controls[name].value = value
        assert demo.state[name] == value
        pictures.append(demo._image.value)
        assert pictures[-1] != pictures[-2], f"{name} = {value!r} left the picture unchanged"
    assert demo.state["page"] == 0                       # back on a one-page layer
    assert controls["page"].disabled and controls["page"].value == 0


def test_the_title_names_the_label_and_the_guess(trained):
    model, images, labels = trained
    demo = FeatureMapDemo(model, images, labels, image=2)
    guess = int(model(images[2:3]).argmax())
    text = demo.info.get_text()
    assert f"label {labels[2]}" in text and f"net says {guess}" in text


def test_activations_are_computed_once_per_image(trained, monkeypatch):
    model, images, _ = trained
    demo = FeatureMapDemo(model, images)
    calls = []
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda x: calls.append(1) or original(x))
    for _ in range(2):
        for layer in demo.convs:
            demo.set(image=1, layer=layer)
            demo.set(image=0)
    assert len(calls) == 1, "image 1 was run once, image 0 was already cached"


def test_bad_arguments_are_refused_with_what_was_expected(trained):
    model, images, labels = trained
    with pytest.raises(TypeError, match="expected a trained torch nn.Module, got str"):
        FeatureMapDemo("lenet", images)
    with pytest.raises(ValueError, match="at least one nn.Conv2d, found none in Linear"):
        FeatureMapDemo(nn.Linear(3, 2), images)
    with pytest.raises(ValueError, match=r"shape \(N, 1, H, W\).*got \(6, 16, 16\)"):
        FeatureMapDemo(model, images[:, 0])
    with pytest.raises(ValueError, match=r"1 <= N <= 64, got \(65, 1, 16, 16\)"):
        FeatureMapDemo(model, torch.zeros(65, 1, 16, 16))
    with pytest.raises(ValueError, match="floating-point images.*got dtype torch.int64"):
        FeatureMapDemo(model, torch.zeros(2, 1, 16, 16, dtype=torch.int64))
    one_nan = images.clone()
    one_nan[1, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="finite images, got 1 NaN"):
        FeatureMapDemo(model, one_nan)
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        FeatureMapDemo(model, [[0.0]])
    with pytest.raises(ValueError, match=r"one label per image, shape \(6,\), got \(5,\)"):
        FeatureMapDemo(model, images, labels[:5])
    with pytest.raises(ValueError, match=r"could not run the model on an image of shape \(1, 12, 12\)"):
        FeatureMapDemo(model, torch.zeros(2, 1, 12, 12))
    functional = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    with pytest.raises(ValueError, match="activation module.*after the convolution '0'"):
        FeatureMapDemo(functional, torch.zeros(1, 1, 5, 5))
    demo = FeatureMapDemo(model, images)
    with pytest.raises(ValueError, match=r"image an int in 0..5, got 6"):
        demo.set(image=6)
    with pytest.raises(ValueError, match=r"layer among the model's convolutions \['features.0', 'features.3'\]"):
        demo.set(layer="features.1")
    with pytest.raises(ValueError, match=r"page in 0..0 \(6 channels of 'features.0', 8 a page\), got 1"):
        demo.set(page=1)
    with pytest.raises(ValueError, match="page a non-negative int, got -1"):
        demo.set(page=-1)
    with pytest.raises(ValueError, match="page in 0..1"):
        FeatureMapDemo(model, images, layer="features.3", page=2)
    with pytest.raises(ValueError, match="expected n_images <= 64"):
        digits_lenet(n_images=65)
    assert demo.state == {"image": 0, "layer": "features.0", "page": 0}, "a refused change changed nothing"


def test_building_on_the_digits_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    first = FeatureMapDemo.on_digits(epochs=1, n_images=4, image=3)
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1]) and random.getstate() == before[2]
    second = FeatureMapDemo.on_digits(epochs=1, n_images=4, image=3)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.png() == second.png()
    assert isinstance(first.model, LeNet) and first.state["image"] == 3


@pytest.mark.parametrize("seed", range(5))
def test_the_demos_lenet_has_learned_the_digits_for_every_seed(seed):
    # what the demo shows is a trained net: 94-98% on 64 test digits for seeds 0-4, 85% asked
    model, images, labels = digits_lenet(seed=seed, n_images=64)
    assert (model(images).argmax(1).numpy() == labels).mean() >= 0.85
