"""dlkit.runtime: device selection, seeding, quick mode."""
import random

import numpy as np
import pytest
import torch

import dlkit
from dlkit.runtime import device, quick, scaled, seed, torch_threads


def test_seed_makes_python_numpy_and_torch_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed(123)
    first = draw()
    seed(123)
    assert draw() == first
    seed(124)
    assert draw() != first


def test_seed_rejects_bad_values():
    with pytest.raises(ValueError, match="expected a non-negative integer seed, got -1"):
        seed(-1)
    with pytest.raises(ValueError, match="got 1.5"):
        seed(1.5)


def test_device_is_the_best_available(monkeypatch):
    monkeypatch.delenv("DLKIT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device().type == expected
    assert dlkit.device is device


def test_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("DLKIT_DEVICE", "cpu")
    assert device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="expected a CUDA GPU"):
            device("cuda")


def test_quick_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("DLKIT_QUICK", "1")
    assert quick() and scaled(100, 2) == 2
    monkeypatch.setenv("DLKIT_QUICK", "0")
    assert not quick() and scaled(100, 2) == 100
    monkeypatch.delenv("DLKIT_QUICK")
    assert not quick()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_device_runs_a_matmul():
    x = torch.ones(4, 4, device=device())
    assert (x @ x).sum().item() == 64.0


def test_torch_threads_sets_and_restores_the_thread_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), torch_threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before  # restored after an error too
