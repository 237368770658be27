"""The libraries chapters 11-12 use install beside the pinned torch and work offline:
Optuna, TensorBoard, Opacus, Captum (one small real use each, checked against what it must give)."""
import warnings

import pytest
import torch
from torch import nn


def test_optuna_finds_the_minimum_of_a_parabola():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda trial: (trial.suggest_float("x", -10, 10) - 2.0) ** 2, n_trials=40)
    assert study.best_params["x"] == pytest.approx(2.0, abs=0.5)


def test_tensorboard_logs_scalars_that_read_back(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(tmp_path) as writer:
        for step, loss in enumerate([1.0, 0.5, 0.25]):
            writer.add_scalar("train/loss", loss, step)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_opacus_trains_one_private_step_and_accounts_epsilon():
    from opacus import PrivacyEngine

    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # opacus warns that its secure RNG is off
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private(module=model, optimizer=optimizer,
                                                       data_loader=loader, noise_multiplier=1.0,
                                                       max_grad_norm=1.0)
    before = model._module.weight.detach().clone()
    with warnings.catch_warnings():
        # torch warns that opacus' per-sample hooks fire on a first layer whose input needs no
        # gradient: expected here (chapter 12's lesson filters it the same way)
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for X, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X), y).backward()
            optimizer.step()
    assert not torch.equal(before, model._module.weight)
    epsilon = engine.get_epsilon(delta=1e-5)
    assert 0 < epsilon < float("inf")


def test_captum_integrated_gradients_of_a_linear_model_is_input_times_weight():
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    x = torch.randn(2, 5)
    attributions = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=1)
    torch.testing.assert_close(attributions, x * model.weight[1].detach(), rtol=1e-5, atol=1e-6)
