"""The Demo base: safe under the kernel's widget thread, laid out for a room, play/step/reset,
presenter mode, and a figure rendered at exactly the size it is shown."""
import io
import threading

import ipywidgets as widgets
import numpy as np
import pytest
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image

from dlkit.viz import (
    ActivationExplorer,
    CapacityDemo,
    GraphDemo,
    InitHistograms,
    NeuronPlayground,
    OptimizerRace,
    RegularizationDemo,
    presenter_mode,
)
from dlkit.viz.demo import CONTROLS_WIDTH, PRESENTER_SCALE, Demo
from dlkit.viz.optimizers import run_optimizer
from dlkit.viz.regularization import SNAPSHOT_EVERY, STEPS


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)


def test_updates_from_two_threads_never_blank_the_figure():
    # ipykernel 7 delivers widget messages on a subshell thread while "train" runs on the main
    # thread: that once left matplotlib's renderer drawing nothing, for good
    demo = NeuronPlayground()
    demo.widget()
    errors: list[BaseException] = []

    def train():
        try:
            for _ in range(8):
                demo.locked(demo.fit, 5)
        except BaseException as error:  # noqa: B902 - reported below
            errors.append(error)

    def drag():
        try:
            for value in np.linspace(-3, 3, 8):
                demo._controls["b"].value = float(value)
        except BaseException as error:  # noqa: B902
            errors.append(error)

    threads = [threading.Thread(target=train), threading.Thread(target=drag)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    picture = pixels(demo._image.value)
    assert picture.std() > 20, "the figure went blank"
    boxes = [ax.get_position().bounds for ax in demo.figure.axes]  # the layout kept between frames
    assert all(w > 0.01 and h > 0.1 and x >= 0 and y >= 0 and x + w <= 1 and y + h <= 1 for x, y, w, h in boxes)
    assert max(w * h for _, _, w, h in boxes) > 0.3, "the plot shrank to nothing"
    assert pixels(demo.png()).std() > 20


def test_a_slider_echo_rounded_to_its_step_does_not_move_the_state():
    demo = NeuronPlayground()
    demo.widget()
    demo.fit(25)
    trained = dict(demo.state)
    # what the front end sends back: the trained weight rounded to the slider's step 0.1
    demo._controls["w1"].value = round(trained["w1"], 1)
    assert demo.state == trained
    assert demo._controls["lr"].label == "0.5"   # exact rates, not a log slider's 0.501
    demo.set(lr=0.25)                            # a rate set from code joins the choices
    assert demo._controls["lr"].value == 0.25 and demo._controls["lr"].label == "0.25"
    demo.set(lr=0.5)
    trained = dict(demo.state)
    demo._controls["w1"].value = round(trained["w1"], 1) + 0.5   # a real move is taken
    assert demo.state["w1"] == pytest.approx(round(trained["w1"], 1) + 0.5)


def test_controls_stand_in_a_column_beside_a_figure_shown_at_its_own_size():
    demo = GraphDemo(backward_step=4)
    view = demo.widget()
    column, image = view.children[:2]
    assert isinstance(view, widgets.HBox) and isinstance(column, widgets.VBox)
    assert column.layout.width == f"{CONTROLS_WIDTH}px"
    assert list(demo._controls.values()) == list(column.children[:len(demo._controls)])
    assert all(control.layout.width == "100%" for control in demo._controls.values())
    width, height = Image.open(io.BytesIO(image.value)).size
    assert (width, height) == demo.image_size == demo.figure_px
    assert image.layout.width == f"{width}px" and image.layout.height == f"{height}px"
    assert demo._controls["backward_step"].value == 4 and demo.state["backward_step"] == 4


def test_presenter_mode_renders_larger_with_the_same_layout():
    normal = ActivationExplorer()
    large = ActivationExplorer(presenter=True)
    width, height = Image.open(io.BytesIO(large.png())).size
    assert (width, height) == large.image_size
    assert width == round(PRESENTER_SCALE * normal.figure_px[0])
    assert "dlkit-presenter" in large.widget()._dom_classes
    presenter_mode()
    try:
        assert ActivationExplorer().presenter
    finally:
        presenter_mode(False)
    assert not ActivationExplorer().presenter


@pytest.mark.parametrize("make", [
    lambda: NeuronPlayground(),
    lambda: CapacityDemo(width=8, depth=2, steps=100),
    lambda: OptimizerRace(steps=20),
    lambda: RegularizationDemo(width=16, steps=100),
], ids=["neuron", "capacity", "optimizers", "regularization"])
def test_training_demos_play_step_and_reset(make):
    demo = make()
    view = demo.widget()
    assert isinstance(demo._play, widgets.Play) and demo._play in view.children[0].children
    start, picture = dict(demo.state), demo._image.value
    demo._step_button.click()
    assert demo.state != start and demo._image.value != picture
    demo._last_tick = 0.0
    demo._play.value = 1          # one frame of "play", as the front end's timer sends it
    after_two = dict(demo.state)
    assert after_two != start
    demo._play.value = 0          # "stop" is a pause, not a frame
    assert demo.state == after_two
    played = demo._image.value
    demo._reset_button.click()
    assert demo.state == start and demo._image.value != played


def test_demos_without_training_have_no_player():
    for demo in (ActivationExplorer(), GraphDemo(), InitHistograms(depth=3, width=16)):
        assert not any(isinstance(w, widgets.Play) for w in demo.widget().children[0].children)


def test_the_playground_starts_untrained_and_reset_returns_there():
    demo = NeuronPlayground(dataset="blobs", activation="sigmoid")
    untrained = demo.accuracy()
    demo.widget()
    demo._train_button.click()
    assert demo.accuracy() > untrained
    demo.reset()
    assert demo.accuracy() == untrained and demo.state["w1"] == 1.0


def test_capacity_play_continues_the_run_and_wraps_round():
    demo = CapacityDemo(width=4, depth=1, steps=1950)
    demo.tick()
    assert demo.state["steps"] == 2000
    demo.tick()
    assert demo.state["steps"] == 0


def test_optimizer_paths_are_prefixes_so_growing_steps_reuses_them():
    race = OptimizerRace(surface="rosenbrock", optimizers=("Adam",), lr=0.05, steps=30)
    race.set(steps=45)
    np.testing.assert_array_equal(race.trajectories()["Adam"],
                                  run_optimizer("rosenbrock", "Adam", 0.05, 45, race.state["start"]))
    race.set(steps=10)
    np.testing.assert_array_equal(race.trajectories()["Adam"],
                                  run_optimizer("rosenbrock", "Adam", 0.05, 10, race.state["start"]))


def test_regularization_steps_show_the_run_so_far():
    demo = RegularizationDemo(width=16, steps=100)
    h = demo.history
    assert demo.line_train.get_xydata()[:, 0].tolist() == list(range(5, 101, 5))   # measured every 5 steps
    np.testing.assert_allclose(demo.line_fit.get_xydata()[:, 1], h.snapshots[100 // SNAPSHOT_EVERY])
    np.testing.assert_allclose(h.snapshots[-1], h.y_grid_hat)
    with pytest.raises(ValueError, match="expected steps to be a multiple of 25 from 0 to 600, got 30"):
        demo.set(steps=30)
    demo.set(steps=STEPS)
    assert "final gap" in demo.ax_loss.get_title()


class ScaleDemo(Demo):
    """One line whose y range is the state: tick labels as wide as the test wants."""

    def defaults(self):
        return {"top": 1.0, "title": "a scale"}

    def draw_initial(self):
        self.ax = self.figure.subplots()
        self.line, = self.ax.plot([0, 1], [0, 1])

    def redraw(self):
        self.line.set_ydata([0, self.state["top"]])
        self.ax.set_ylim(0, self.state["top"])
        self.ax.set_title(self.state["title"])


def test_the_layout_is_kept_while_labels_fit_and_redone_when_they_grow():
    demo = ScaleDemo()
    demo.png()
    laid_out = demo.ax.get_position().bounds
    demo.set(top=0.8)                          # labels "0.0" ... "0.8": as wide as before
    demo.png()
    assert demo.ax.get_position().bounds == laid_out, "a frame with labels of the same width moved the axes"
    assert not isinstance(demo.figure.get_layout_engine(), ConstrainedLayoutEngine), "laid out again"
    demo.set(top=123456.0)                     # much wider labels: the axes must make room
    picture = pixels(demo.png())
    assert demo.ax.get_position().bounds[0] > laid_out[0]
    renderer = demo.figure._get_renderer()
    box = demo.ax.yaxis.get_tightbbox(renderer)
    assert box.x0 >= 0, f"the widest y label is cut at the left edge ({box.x0:.1f} px)"
    assert picture.std() > 10
    demo.set(title="a scale\nover two lines")  # a title that takes another line: laid out again
    demo.png()
    assert demo.ax.get_position().bounds[3] < laid_out[3]
