"""The convolution stepper: the drawn output matches torch's conv2d, the window walks in
reading order with the stride, the output fills in one pixel per step, bad state is refused."""
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dlkit.viz import ConvStepper
from dlkit.viz.conv import IMAGES, KERNELS


def torch_output(demo):
    image = torch.tensor(IMAGES[demo.state["image"]]())[None, None]
    kernel = torch.tensor(KERNELS[demo.state["kernel"]])[None, None]
    return F.conv2d(image, kernel, stride=demo.state["stride"],
                    padding=demo.state["padding"])[0, 0].numpy()


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_full_output_matches_torch(stride, padding):
    for image in IMAGES:
        for kernel in KERNELS:
            demo = ConvStepper(image=image, kernel=kernel, stride=stride, padding=padding)
            demo.set(step=demo.num_steps())
            expected = torch_output(demo)
            drawn = np.asarray(demo.out_image.get_array())
            assert drawn.shape == expected.shape
            np.testing.assert_allclose(drawn, expected, atol=1e-12)


def test_output_fills_in_one_pixel_per_step_in_reading_order():
    demo = ConvStepper(image="ring", kernel="sharpen", stride=2, padding=1)
    expected = torch_output(demo)
    rows, cols = expected.shape
    assert demo.num_steps() == rows * cols == 25          # ⌊(9 + 2 − 3)/2⌋ + 1 = 5
    for step in range(demo.num_steps() + 1):
        demo.set(step=step)
        drawn = np.ma.filled(demo.out_image.get_array(), np.nan).ravel()
        assert np.isnan(drawn).sum() == rows * cols - step
        np.testing.assert_allclose(drawn[:step], expected.ravel()[:step], atol=1e-12)
        if step:
            row, col = divmod(step - 1, cols)
            assert demo.window() == (2 * row, 2 * col)
            # the drawn box sits over that window of the padded input
            x, y = demo.box.get_xy()
            assert (y + 0.5, x + 0.5) == (2 * row, 2 * col)
            window = demo.padded()[2 * row: 2 * row + 3, 2 * col: 2 * col + 3]
            assert np.sum(window * KERNELS["sharpen"]) == pytest.approx(expected[row, col])
        else:
            assert demo.window() is None and not demo.box.get_visible()


def test_set_updates_the_same_figure_and_step_is_clamped():
    demo = ConvStepper(step=49)                              # 9×9, k = 3: 7×7 outputs
    figure, before = demo.figure, demo.png()
    demo.set(stride=3)                                       # 3×3 outputs now
    assert demo.figure is figure and demo.state["step"] == 9
    assert demo.png() != before


def test_moving_a_control_changes_state_and_picture():
    demo = ConvStepper()
    demo.widget()
    before = demo._image.value
    demo._controls["step"].value = 5
    assert demo.state["step"] == 5 and demo._image.value != before
    demo._controls["padding"].value = 1
    assert demo._controls["step"].max == demo.num_steps() == 81


@pytest.mark.parametrize("bad", [dict(kernel="gauss"), dict(image="cat"), dict(stride=0),
                                 dict(padding=3), dict(step=-1), dict(stride=1.5)])
def test_bad_state_is_refused_with_what_was_expected(bad):
    with pytest.raises(ValueError, match="expected"):
        ConvStepper(**bad)


def test_the_figure_is_rendered_at_the_size_it_is_shown_and_names_the_formula():
    demo = ConvStepper(image="square", kernel="vertical edge", stride=2, padding=1, step=3)
    width, height = Image.open(io.BytesIO(demo.png())).size
    assert (width, height) == demo.image_size == demo.figure_px
    assert demo.formula.get_text().startswith("output side ⌊(n+2p−k)/s⌋+1 = ⌊(9+2−3)/2⌋+1 = 5")
    assert demo.image_frame.get_visible()                    # padding: the image's own border
    assert not ConvStepper(padding=0).image_frame.get_visible()
