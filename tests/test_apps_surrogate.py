"""dlkit.apps.surrogate (chapter 13): the simulator against the drag-free closed form, drag
shortens the flight, and inverse design on a surrogate whose inverse is known."""
import numpy as np
import pytest
import torch

from dlkit.apps.surrogate import GRAVITY, inverse_design, projectile_range

pytestmark = pytest.mark.numerics


def test_without_drag_the_range_is_the_textbook_formula():
    angles, speeds = np.array([0.3, np.pi / 4, 1.2]), np.array([10.0, 20.0, 30.0])
    exact = speeds**2 * np.sin(2 * angles) / GRAVITY
    assert np.allclose(projectile_range(angles, speeds, drag=0.0, dt=1e-4), exact, rtol=1e-3)


def test_drag_shortens_the_flight_and_moves_the_best_angle_below_45_degrees():
    angles = np.linspace(0.2, 1.3, 45)
    with_drag = projectile_range(angles, 30.0, drag=0.02)
    assert np.all(with_drag < projectile_range(angles, 30.0, drag=0.0))
    assert angles[np.argmax(with_drag)] < np.pi / 4 - 0.05


def test_bad_launch_is_named():
    with pytest.raises(ValueError, match=r"angles in \(0, π/2\)"):
        projectile_range(2.0, 10.0)


def test_inverse_design_finds_the_input_and_respects_the_box():
    def surrogate(x):
        return 2 * x[:, 0] + x[:, 1]
    low, high = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.1])
    designs, misses = inverse_design(surrogate, torch.tensor([1.0, 10.0]), torch.zeros(2, 2), low, high,
                                     steps=500, lr=0.05)
    assert misses[-1] < misses[0]
    assert abs(float(surrogate(designs[:1])) - 1.0) < 1e-3          # reachable: hit
    assert torch.allclose(designs[1], high)                          # unreachable: the best corner
    assert torch.all(designs >= low) and torch.all(designs <= high)
