"""Chapter 12's outlook: the leaky integrate-and-fire neuron against the closed-form solution of
its Euler recursion and of its differential equation."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.models import lif_neuron, lif_rate


@settings(max_examples=30, deadline=None)
@given(current=st.floats(1.05, 5.0), tau=st.floats(2.0, 30.0), dt=st.floats(0.1, 1.0))
def test_constant_current_fires_at_the_interval_of_the_euler_recursion(current, tau, dt):
    # from v_0 = 0, Euler gives v_k = I (1 - (1 - dt/τ)^k); the first k with v_k >= θ = 1 is the interval
    interval = math.ceil(math.log(1 - 1 / current) / math.log(1 - dt / tau))
    if abs(current * (1 - (1 - dt / tau) ** interval) - 1) < 1e-5:
        return  # the potential lands on θ within float rounding: either step is right
    steps = 4 * interval + 3
    _, spikes = lif_neuron(torch.full((steps,), current, dtype=torch.float64), tau=tau, dt=dt)
    times = torch.nonzero(spikes).flatten()
    assert times[0].item() == interval - 1                        # step k is stored at index k - 1
    assert torch.all(torch.diff(times) == interval)               # the reset repeats the same climb


@pytest.mark.parametrize("current", [0.0, 0.5, 0.99, 1.0])
def test_a_current_at_or_below_threshold_never_fires(current):
    potential, spikes = lif_neuron(torch.full((500,), current), tau=10.0)
    assert spikes.sum() == 0 and lif_rate(current) == 0.0
    assert potential[-1].item() == pytest.approx(current, abs=1e-3)   # it settles at v = I


@pytest.mark.parametrize("current", [1.2, 2.0, 4.0])
def test_small_steps_approach_the_rate_of_the_differential_equation(current):
    tau, dt, duration = 10.0, 0.01, 400.0
    _, spikes = lif_neuron(torch.full((int(duration / dt),), current, dtype=torch.float64), tau=tau, dt=dt)
    assert spikes.sum().item() / duration == pytest.approx(lif_rate(current, tau), rel=0.02)


@settings(max_examples=20, deadline=None)
@given(low=st.floats(0.0, 4.0), delta=st.floats(0.05, 2.0))
def test_more_current_never_means_fewer_spikes(low, delta):
    currents = torch.tensor([[low, low + delta]]).repeat(300, 1)   # two neurons side by side
    _, spikes = lif_neuron(currents)
    assert spikes[:, 1].sum() >= spikes[:, 0].sum()
    assert lif_rate(low + delta) >= lif_rate(low)


def test_a_batch_of_neurons_is_simulated_independently():
    generator = torch.Generator().manual_seed(0)
    currents = 2 * torch.rand(200, 3, generator=generator)
    potential, spikes = lif_neuron(currents, tau=5.0)
    for j in range(3):
        alone_potential, alone_spikes = lif_neuron(currents[:, j], tau=5.0)
        assert torch.equal(potential[:, j], alone_potential) and torch.equal(spikes[:, j], alone_spikes)


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, N\), got \(2, 3, 4\)"):
        lif_neuron(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="0 < dt <= tau"):
        lif_neuron(torch.zeros(5), tau=1.0, dt=2.0)
    with pytest.raises(ValueError, match="v_reset < threshold"):
        lif_neuron(torch.zeros(5), threshold=0.5, v_reset=0.5)
