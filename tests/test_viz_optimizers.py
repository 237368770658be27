"""The optimizer race: the plotted paths are torch.optim's paths, the legend tells the truth."""
import base64

import numpy as np
import pytest
import torch

from dlkit.viz.optimizers import OPTIMIZERS, SURFACES, OptimizerRace

# the surfaces again, written independently in torch so autograd gives the gradient
TORCH_SURFACES = {
    "bowl": lambda w: 0.5 * (w[0] ** 2 + 10 * w[1] ** 2),
    "rosenbrock": lambda w: (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2,
    "saddle": lambda w: 0.5 * w[0] ** 2 + 0.25 * w[1] ** 4 - 0.5 * w[1] ** 2,
    "himmelblau": lambda w: (w[0] ** 2 + w[1] - 11) ** 2 + (w[0] + w[1] ** 2 - 7) ** 2,
}
TORCH_OPTIMIZERS = {
    "SGD": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "Nesterov": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p, lr: torch.optim.Adagrad(p, lr=lr),
    "RMSprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
    "Adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}


def torch_path(surface, name, lr, steps, start):
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = TORCH_OPTIMIZERS[name]([w], lr)
    path = [w.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        TORCH_SURFACES[surface](w).backward()
        opt.step()
        path.append(w.detach().clone().numpy())
    return np.array(path)


def test_every_optimizer_of_the_demo_has_a_torch_twin():
    assert set(OPTIMIZERS) == set(TORCH_OPTIMIZERS) and set(SURFACES) == set(TORCH_SURFACES)


@pytest.mark.parametrize("surface, lr", [("bowl", 0.05), ("rosenbrock", 1e-3),
                                         ("saddle", 0.1), ("himmelblau", 0.01)])
def test_plotted_paths_are_torch_optim_paths(surface, lr):
    race = OptimizerRace(surface=surface, start=SURFACES[surface].start,
                         optimizers=tuple(OPTIMIZERS), lr=lr, steps=60)
    for name in OPTIMIZERS:
        plotted = race.path_lines[name].get_xydata()
        expected = torch_path(surface, name, lr, 60, SURFACES[surface].start)
        assert plotted.shape == (61, 2)
        np.testing.assert_allclose(plotted, expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_legend_shows_each_final_loss():
    race = OptimizerRace(surface="himmelblau", start=(0.0, -0.5), optimizers=("SGD", "Adam"),
                         lr=0.01, steps=40)
    texts = [t.get_text() for t in race.legend.get_texts()]
    assert len(texts) == 2
    for name, text in zip(("SGD", "Adam"), texts, strict=True):
        end = torch.tensor(torch_path("himmelblau", name, 0.01, 40, (0.0, -0.5))[-1])
        expected = float(TORCH_SURFACES["himmelblau"](end))
        assert text.startswith(f"{name}: ")
        assert float(text.split(": ")[1]) == pytest.approx(expected, rel=1e-2)


def test_a_diverging_optimizer_is_labelled_and_its_path_stops():
    race = OptimizerRace(surface="bowl", optimizers=("SGD",), lr=0.25, steps=200)  # lr > 2/L
    path = race.trajectories()["SGD"]
    assert np.isnan(path[-1]).all() and np.isfinite(path[0]).all()
    assert race.legend.get_texts()[0].get_text() == "SGD: diverged"


def test_lr_changes_the_paths_and_the_same_figure_is_updated():
    race = OptimizerRace(optimizers=("SGD", "Adam"), lr=0.01, steps=30)
    figure, line = race.figure, race.path_lines["SGD"]
    before, png_before = line.get_xydata().copy(), race.png()
    race.set(lr=0.1)
    assert race.figure is figure and race.path_lines["SGD"] is line
    assert not np.allclose(line.get_xydata(), before)
    assert race.png() != png_before
    np.testing.assert_allclose(line.get_xydata(), torch_path("bowl", "SGD", 0.1, 30, (-3.0, 1.5)),
                               atol=1e-12)


def test_unselected_optimizers_are_hidden_and_surface_change_moves_the_start():
    race = OptimizerRace(optimizers=("Adam",))
    assert race.path_lines["Adam"].get_visible() and not race.path_lines["SGD"].get_visible()
    race.set(surface="rosenbrock")
    assert race.state["start"] == SURFACES["rosenbrock"].start
    assert tuple(race.path_lines["Adam"].get_xydata()[0]) == SURFACES["rosenbrock"].start
    race.set(surface="saddle", start=(1.0, 0.5))
    assert race.state["start"] == (1.0, 0.5)
    assert OptimizerRace(surface="himmelblau").state["start"] == SURFACES["himmelblau"].start


def test_a_diverging_path_does_not_stretch_the_loss_axis():
    race = OptimizerRace(surface="rosenbrock", optimizers=("SGD", "Adam"), lr=5e-3, steps=50)
    assert race.legend.get_texts()[0].get_text() == "SGD: diverged"
    start_gap = SURFACES["rosenbrock"].f(*SURFACES["rosenbrock"].start)
    assert race.ax_loss.get_ylim()[1] <= 100 * start_gap * (1 + 1e-9)


def test_moving_a_control_changes_state_and_picture():
    race = OptimizerRace(steps=20)
    view = race.widget()
    image_before = race._image.value
    race._controls["optimizers"].value = ("Nesterov",)
    assert race.state["optimizers"] == ("Nesterov",)
    assert race._image.value != image_before
    race._controls["lr"].value = 0.2
    assert race.state["lr"] == pytest.approx(0.2)
    race.set(surface="saddle")  # and code moves the control
    assert race._controls["surface"].value == "saddle"
    assert view is race.widget()


def test_display_offers_the_widget_and_a_static_png():
    bundle = OptimizerRace(steps=10)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_same_state_same_picture():
    assert OptimizerRace(surface="saddle", steps=50).png() == \
        OptimizerRace(surface="saddle", steps=50).png()


def test_bad_state_is_refused_with_expected_and_got():
    with pytest.raises(ValueError, match=r"expected surface among .*got 'beale'"):
        OptimizerRace(surface="beale")
    race = OptimizerRace(steps=10)
    with pytest.raises(ValueError, match=r"expected optimizers to be a tuple of names .*got 'Adam'"):
        race.set(optimizers="Adam")
    with pytest.raises(ValueError, match=r"expected optimizers .*got \('LBFGS',\)"):
        race.set(optimizers=("LBFGS",))
    with pytest.raises(ValueError, match="expected lr between 1e-05 and 10, got -0.1"):
        race.set(lr=-0.1)
    with pytest.raises(ValueError, match="expected steps to be an int between 1 and 5000, got 0"):
        race.set(steps=0)
    with pytest.raises(ValueError, match=r"expected start to be a pair .*got \(1.0, nan\)"):
        race.set(start=(1.0, float("nan")))
    with pytest.raises(ValueError, match=r"expected state among .*got \['colour'\]"):
        race.set(colour="red")
    assert race.state["lr"] == 0.05 and race.state["steps"] == 10  # refused: unchanged
