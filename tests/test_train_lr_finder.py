"""dlkit.train.lr_range_test (chapter 11): the suggestion lands in the band where training works
on real digits, over 5 seeds; the model, optimizer and random generators are restored exactly."""
import random

import numpy as np
import pytest
import torch
from torch import nn

import dlkit
from dlkit.data import load_digits
from dlkit.train import lr_range_test

SEEDS = range(5)


def digits_run(seed: int):
    digits = load_digits()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(digits.X), torch.from_numpy(digits.y))
    dlkit.seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    return model, optimizer, loader


def loss_after_one_epoch(seed: int, lr: float) -> float:
    model, optimizer, loader = digits_run(seed)
    for group in optimizer.param_groups:
        group["lr"] = lr
    for X, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        optimizer.step()
    X, y = loader.dataset.tensors
    with torch.no_grad():
        loss = float(nn.functional.cross_entropy(model(X), y))
    return loss if np.isfinite(loss) else np.inf


@pytest.mark.numerics
@pytest.mark.parametrize("method", ["steepest", "min/10"])
def test_the_suggestion_trains_better_than_far_smaller_or_larger_rates(method):
    for seed in SEEDS:
        model, optimizer, loader = digits_run(seed)
        result = lr_range_test(model, optimizer, nn.CrossEntropyLoss(), loader, start_lr=1e-5,
                               end_lr=10.0, steps=100, suggestion=method)
        assert result.diverged, "the sweep up to lr=10 should blow up and stop early"
        assert 0.02 <= result.suggestion <= 1.0, (seed, result.suggestion)
        good = loss_after_one_epoch(seed, result.suggestion)
        # from ln(10) = 2.30 at the start: measured 0.24-0.90 (steepest), 0.24-0.35 (min/10)
        assert good < 1.2, (seed, good)
        assert good < 0.5 * loss_after_one_epoch(seed, result.suggestion / 100), seed
        assert good < 0.5 * loss_after_one_epoch(seed, result.suggestion * 30), seed


def test_model_optimizer_and_random_generators_are_restored_exactly():
    model, optimizer, loader = digits_run(0)
    X, y = loader.dataset.tensors
    nn.functional.cross_entropy(model(X[:32]), y[:32]).backward()
    optimizer.step()                                          # momentum buffers to restore
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    momenta = {k: v["momentum_buffer"].clone() for k, v in optimizer.state_dict()["state"].items()}
    loader_state = loader.generator.get_state()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected_draws = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(5), np.random.seed(5), torch.manual_seed(5)

    result = lr_range_test(model, optimizer, nn.CrossEntropyLoss(), loader, steps=60)

    assert len(result.lrs) > 10
    assert (random.random(), np.random.rand()) == expected_draws[:2]
    assert torch.equal(torch.rand(3), expected_draws[2])
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    state = optimizer.state_dict()
    assert state["param_groups"][0]["lr"] == 0.01
    for key, momentum in momenta.items():
        assert torch.equal(state["state"][key]["momentum_buffer"], momentum)
    assert torch.equal(loader.generator.get_state(), loader_state)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_the_sweep_is_geometric_and_the_plot_draws_the_measured_curve():
    model, optimizer, loader = digits_run(0)
    result = lr_range_test(model, optimizer, nn.CrossEntropyLoss(), loader, start_lr=1e-4,
                           end_lr=1e-1, steps=20)
    assert not result.diverged and len(result.lrs) == 20
    np.testing.assert_allclose(result.lrs, np.geomspace(1e-4, 1e-1, 20), rtol=1e-12)
    ema, expected = 0.0, []
    for i, loss in enumerate(result.losses):
        ema = 0.9 * ema + 0.1 * loss
        expected.append(ema / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(result.smoothed, expected, rtol=1e-12)
    assert result.smoothed[-1] < result.smoothed[0]
    figure = result.plot()
    lines = figure.axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), result.smoothed)
    assert lines[2].get_xdata()[0] == result.suggestion


@pytest.mark.parametrize("kwargs, message", [
    ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr < end_lr"),
    ({"steps": 4}, "steps"),
    ({"suggestion": "median"}, "suggestion"),
    ({"smoothing": 1.0}, "smoothing"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    model, optimizer, loader = digits_run(0)
    with pytest.raises(ValueError, match=message):
        lr_range_test(model, optimizer, nn.CrossEntropyLoss(), loader, **kwargs)
