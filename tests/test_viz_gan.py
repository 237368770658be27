"""The 2-D GAN demo (chapter 10): what it draws is the run's own generator and discriminator,
its title counts what it shows, and play / step / pause / reset drive the training."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

import dlkit.runtime
from dlkit.train.gan import RingGAN, modes_covered
from dlkit.viz import GAN2DDemo
from dlkit.viz.gan import GRID, MAX_STEPS, RUN_OPTIONS, SHOWN_SAMPLES, TICK_STEPS


def test_the_picture_is_the_runs_samples_and_field_and_the_title_counts_modes():
    demo = GAN2DDemo(steps=60, lr_g=1e-3)
    with dlkit.runtime.torch_threads(1):
        fresh = RingGAN("non-saturating", lr_g=1e-3, lr_d=2e-3, seed=0, **RUN_OPTIONS).train(60)
    np.testing.assert_allclose(demo.fakes.get_offsets(), fresh.samples()[:SHOWN_SAMPLES], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(demo.image.get_array(), fresh.field(GRID), rtol=1e-5, atol=1e-6)
    covered = int(re.search(r"(\d) of 8 modes covered", demo.ax.get_title()).group(1))
    assert covered == modes_covered(fresh.samples(), fresh.centers)
    assert "step 60" in demo.ax.get_title()
    np.testing.assert_allclose(demo.line_d.get_ydata(), fresh.history["d_loss"], rtol=1e-5)
    assert len(demo.line_g.get_xdata()) == 60


def test_scrubbing_back_shows_the_same_frame_and_a_new_rate_starts_a_new_run():
    demo = GAN2DDemo(steps=40)
    at_40 = demo.frame
    demo.set(steps=80)
    run = demo.run
    demo.set(steps=40)
    assert demo.run is run and demo.frame is at_40        # a kept frame, not a retrained one
    np.testing.assert_array_equal(demo.fakes.get_offsets(), at_40.samples)
    demo.set(lr_d=1e-4)
    assert demo.state["steps"] == 0 and demo.run is not run
    demo.set(lr_d=2e-3, steps=80)                          # back to the first run, where it was
    assert demo.run is run


def test_play_step_pause_and_reset_drive_the_training():
    demo = GAN2DDemo(steps=20)
    view = demo.widget()
    assert isinstance(demo._play, widgets.Play) and demo._play in view.children[0].children
    start, picture = dict(demo.state), demo._image.value
    slider = demo._controls["steps"]
    assert slider.max == 20                 # the slider scrubs through what was trained
    demo._step_button.click()
    assert demo.state["steps"] == 20 + TICK_STEPS and demo._image.value != picture
    assert slider.max == slider.value == 20 + TICK_STEPS
    slider.value = 0                        # back to the start: a kept frame
    assert demo.state["steps"] == 0 and demo.frame.step == 0
    slider.value = 20 + TICK_STEPS
    demo._last_tick = 0.0
    demo._play.value = 1                  # one frame of "play", as the front end's timer sends it
    assert demo.state["steps"] == 20 + 2 * TICK_STEPS
    demo._play.value = 0                  # "stop" is a pause, not a frame
    assert demo.state["steps"] == 20 + 2 * TICK_STEPS
    demo._controls["lr_g"].value = 1e-2   # a control change: a new run from step 0
    assert demo.state["steps"] == 0 and demo.state["lr_g"] == 1e-2
    assert slider.value == 0 and slider.max == TICK_STEPS
    demo._reset_button.click()
    assert demo.state == start


def test_play_wraps_round_at_the_end():
    demo = GAN2DDemo()
    demo.state["steps"] = MAX_STEPS     # as if trained to the end (without training 2000 rounds)
    demo.tick()
    assert demo.state["steps"] == 0


def test_bad_states_are_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="loss among"):
        GAN2DDemo(loss="hinge")
    with pytest.raises(ValueError, match=r"lr_d a learning rate in \(0, 0.1\]"):
        GAN2DDemo(lr_d=0.0)
    with pytest.raises(ValueError, match="steps an int from 0 to 2000"):
        GAN2DDemo(steps=-1)
