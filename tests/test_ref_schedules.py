"""dlkit.ref.schedules follows torch.optim.lr_scheduler (chapter 04)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as tsched

from dlkit.ref.optim import SGD
from dlkit.ref.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LRScheduler,
    StepLR,
    WarmupCosine,
    cosine_annealing_lr,
    exponential_lr,
    step_lr,
    warmup_cosine_lr,
)

NUM_STEPS = 50
RTOL = 1e-10
ATOL = 1e-14  # torch's cosine is recursive: near eta_min = 0 it carries ~1e-17 of round-off


class Param:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad: np.ndarray | None = None


def make_optimizer(lr: float) -> SGD:
    return SGD([Param(np.zeros(2))], lr=lr)


def torch_lrs(base_lr: float, make: Callable[[torch.optim.Optimizer], object],
              num_steps: int = NUM_STEPS) -> list[float]:
    """The lr torch's optimizer holds before each of ``num_steps`` updates."""
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=base_lr)
    scheduler = make(opt)
    lrs = []
    for _ in range(num_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # step order as torch wants it: no warning
        scheduler.step()
    return lrs


def ours_lrs(scheduler: LRScheduler, num_steps: int = NUM_STEPS) -> list[float]:
    """The lr our optimizer holds before each update; checks get_last_lr agrees."""
    lrs = []
    for t in range(num_steps):
        assert scheduler.last_epoch == t
        assert scheduler.get_last_lr() == scheduler.optimizer.lr
        lrs.append(scheduler.optimizer.lr)
        scheduler.step()
    return lrs


def check(scheduler: LRScheduler, expected: list[float], closed_form: Callable[[int], float]
          ) -> None:
    stepped = ours_lrs(scheduler)
    np.testing.assert_allclose(stepped, expected, rtol=RTOL, atol=ATOL)
    # closed form (method and pure function) == stepped values
    assert scheduler.lrs(NUM_STEPS) == stepped
    assert [closed_form(t) for t in range(NUM_STEPS)] == stepped


@settings(max_examples=20, deadline=None)
@given(base_lr=st.floats(1e-4, 1.0), step_size=st.integers(1, 20), gamma=st.floats(0.05, 1.0))
def test_step_lr_matches_torch(base_lr: float, step_size: int, gamma: float) -> None:
    expected = torch_lrs(base_lr, lambda o: tsched.StepLR(o, step_size, gamma))
    check(StepLR(make_optimizer(base_lr), step_size, gamma), expected,
          lambda t: step_lr(t, base_lr, step_size, gamma))


@settings(max_examples=20, deadline=None)
@given(base_lr=st.floats(1e-4, 1.0), gamma=st.floats(0.5, 1.05))
def test_exponential_lr_matches_torch(base_lr: float, gamma: float) -> None:
    expected = torch_lrs(base_lr, lambda o: tsched.ExponentialLR(o, gamma))
    check(ExponentialLR(make_optimizer(base_lr), gamma), expected,
          lambda t: exponential_lr(t, base_lr, gamma))


@settings(max_examples=25, deadline=None)
@given(base_lr=st.floats(1e-3, 1.0), T_max=st.integers(1, 80),
       eta_min=st.sampled_from([0.0]) | st.floats(0.0, 1e-3))
def test_cosine_annealing_matches_torch(base_lr: float, T_max: int, eta_min: float) -> None:
    """T_max < 50 included: past T_max both go back up along the cosine."""
    expected = torch_lrs(base_lr, lambda o: tsched.CosineAnnealingLR(o, T_max, eta_min))
    check(CosineAnnealingLR(make_optimizer(base_lr), T_max, eta_min), expected,
          lambda t: cosine_annealing_lr(t, base_lr, T_max, eta_min))


def _torch_warmup_cosine(o: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                         eta_min: float, start_factor: float) -> object:
    warmup = tsched.LinearLR(o, start_factor=start_factor, end_factor=1.0,
                             total_iters=warmup_steps)
    cosine = tsched.CosineAnnealingLR(o, T_max=total_steps - warmup_steps, eta_min=eta_min)
    return tsched.SequentialLR(o, [warmup, cosine], milestones=[warmup_steps])


@settings(max_examples=25, deadline=None)
@given(base_lr=st.floats(1e-3, 1.0), warmup_steps=st.integers(1, 20),
       eta_min=st.sampled_from([0.0]) | st.floats(0.0, 1e-3),
       start_factor=st.sampled_from([0.01, 1 / 3]) | st.floats(1e-3, 1.0))
def test_warmup_cosine_matches_torch_sequential_lr(base_lr: float, warmup_steps: int,
                                                   eta_min: float, start_factor: float) -> None:
    total_steps = NUM_STEPS
    expected = torch_lrs(base_lr, lambda o: _torch_warmup_cosine(
        o, warmup_steps, total_steps, eta_min, start_factor))
    scheduler = WarmupCosine(make_optimizer(base_lr), warmup_steps, total_steps, eta_min,
                             start_factor)
    check(scheduler, expected, lambda t: warmup_cosine_lr(
        t, base_lr, warmup_steps, total_steps, eta_min, start_factor))


def test_warmup_cosine_shape() -> None:
    lrs = [warmup_cosine_lr(t, 0.1, 10, 30, eta_min=0.001, warmup_start_factor=0.0)
           for t in range(40)]
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.05) and lrs[10] == pytest.approx(0.1)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11], strict=True))  # rises during warmup
    assert all(a > b for a, b in zip(lrs[10:30], lrs[11:31], strict=True))  # then falls
    assert lrs[30:] == [pytest.approx(0.001)] * 10  # and holds eta_min after total_steps
    # no warmup at all: a plain cosine
    assert [warmup_cosine_lr(t, 0.1, 0, 30) for t in range(31)] == [
        cosine_annealing_lr(t, 0.1, 30) for t in range(31)]


def test_closed_forms_by_hand() -> None:
    assert step_lr(0, 1.0, 3, 0.5) == 1.0
    assert step_lr(2, 1.0, 3, 0.5) == 1.0
    assert step_lr(3, 1.0, 3, 0.5) == 0.5
    assert step_lr(7, 1.0, 3, 0.5) == 0.25
    assert exponential_lr(3, 2.0, 0.5) == 0.25
    assert cosine_annealing_lr(5, 1.0, 10) == pytest.approx(0.5)
    assert cosine_annealing_lr(10, 1.0, 10, eta_min=0.1) == pytest.approx(0.1)
    assert cosine_annealing_lr(0, 1.0, 10, eta_min=0.1) == 1.0
    assert cosine_annealing_lr(3, 1.0, 12) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)


def test_scheduler_drives_the_optimizer() -> None:
    """The optimizer's next step uses the lr the schedule set."""
    p = Param(np.zeros(1))
    opt = SGD([p], lr=1.0)
    scheduler = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.ones(1)
        opt.step()
        scheduler.step()
    np.testing.assert_allclose(p.data, [-(1.0 + 0.5 + 0.25)])
    assert opt.lr == 0.125


def test_state_dict_resumes_the_schedule() -> None:
    scheduler = WarmupCosine(make_optimizer(0.1), 5, 30)
    for _ in range(12):
        scheduler.step()
    saved = scheduler.state_dict()
    resumed = WarmupCosine(make_optimizer(0.1), 5, 30)
    resumed.load_state_dict(saved)
    assert resumed.last_epoch == 12 and resumed.optimizer.lr == scheduler.optimizer.lr
    scheduler.step()
    resumed.step()
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    with pytest.raises(ValueError, match="expected a dict from LRScheduler.state_dict"):
        resumed.load_state_dict({"last_epoch": 3})
    with pytest.raises(ValueError, match="expected last_epoch to be an int >= 0, got -1"):
        resumed.load_state_dict({"last_epoch": -1, "base_lr": 0.1})


def test_bad_input_is_rejected_with_clear_messages() -> None:
    opt = make_optimizer(0.1)
    with pytest.raises(ValueError, match="expected step_size to be an int >= 1, got 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="expected gamma >= 0.0, got -0.5"):
        ExponentialLR(opt, gamma=-0.5)
    with pytest.raises(ValueError, match="expected T_max to be an int >= 1, got 2.5"):
        CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(ValueError, match="expected eta_min >= 0.0, got -0.1"):
        CosineAnnealingLR(opt, T_max=10, eta_min=-0.1)
    with pytest.raises(ValueError, match="expected total_steps > warmup_steps, got "
                                         "total_steps=10, warmup_steps=10"):
        WarmupCosine(opt, warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match=r"expected warmup_start_factor in \[0.0, 1.0\], "
                                         "got 1.5"):
        WarmupCosine(opt, 5, 10, warmup_start_factor=1.5)
    with pytest.raises(ValueError, match="expected eta_min >= 0.0, got -1"):
        warmup_cosine_lr(0, 0.1, 5, 10, eta_min=-1)
    with pytest.raises(ValueError, match="expected t to be an int >= 0, got -1"):
        cosine_annealing_lr(-1, 0.1, 10)
    with pytest.raises(TypeError, match="expected an optimizer with a float .lr, got list"):
        StepLR([], step_size=2)
    assert opt.lr == 0.1  # a rejected schedule did not touch the optimizer
