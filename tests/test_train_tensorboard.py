"""TensorBoardLogger (chapter 11): what Trainer measured is what TensorBoard reads back."""
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

import dlkit
from dlkit.metrics import accuracy
from dlkit.train import TensorBoardLogger, Trainer, TrainingDashboard


def fit(tmp_path, **logger_options):
    dlkit.seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 4, generator=g)
    y = (X[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    model = nn.Linear(4, 2)
    logger = TensorBoardLogger(tmp_path, **logger_options)
    dashboard = TrainingDashboard(enabled=False)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                      metrics={"accuracy": accuracy}, callbacks=[logger, dashboard], device="cpu",
                      progress=False, plot=False)
    history = trainer.fit(loader, loader, epochs=3)
    logger.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    return history, dashboard, events


def values(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_every_epoch_value_is_logged_as_the_trainer_measured_it(tmp_path):
    history, _, events = fit(tmp_path)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        logged = values(events, f"epoch/{name}")
        assert [step for step, _ in logged] == [1, 2, 3]
        assert [v for _, v in logged] == pytest.approx(history[name], rel=1e-6)   # float32 on disk
    assert not [tag for tag in events.Tags()["scalars"] if tag.startswith("step/")]


def test_steps_are_logged_when_asked(tmp_path):
    _, dashboard, events = fit(tmp_path, log_steps=True)
    for name in ("loss", "accuracy", "lr", "grad_norm"):
        logged = values(events, f"step/{name}")
        assert [step for step, _ in logged] == list(range(1, 13))
        assert [v for _, v in logged] == pytest.approx(dashboard.steps[name], rel=1e-6)


def test_hyper_parameters_go_with_the_final_numbers(tmp_path):
    fit(tmp_path, hparams={"lr": 0.1, "optimizer": "SGD"})
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert "final/val_accuracy" in events.Tags()["scalars"]
    with pytest.raises(TypeError, match="numbers, strings or booleans"):
        TensorBoardLogger(tmp_path / "bad", hparams={"layers": [1, 2]})
