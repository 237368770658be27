"""The training dashboard of chapter 11: the numbers it shows are the run's own (checked
against a replay of the same steps by hand), throughput is samples over measured time, the
figure draws those numbers, and it shows in a notebook (one output, redrawn) and a terminal."""
import json
import math

import matplotlib.image
import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from torch import nn

import dlkit
from dlkit.metrics import accuracy
from dlkit.train import EarlyStopping, Trainer, TrainingDashboard

N, BATCH, EPOCHS = 96, 16, 3


def data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, 6, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    return torch.utils.data.TensorDataset(X, y)


def lr_at(step: int) -> float:
    return 0.2 * (0.9 ** step)


def run(dashboard, accumulate=1, clip=None, epochs=EPOCHS, checkpoint=None, resume=False, seed=0):
    dlkit.seed(seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_at(step) / 0.2)
    loader = torch.utils.data.DataLoader(data(), batch_size=BATCH, shuffle=True,
                                         generator=torch.Generator().manual_seed(1))
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler,
                      scheduler_step="batch", clip_grad_norm=clip, accumulate=accumulate,
                      metrics={"accuracy": accuracy}, callbacks=[dashboard], device="cpu",
                      progress=False, plot=False)
    trainer.fit(loader, loader, epochs=epochs, checkpoint=checkpoint, resume=resume)
    return trainer


def replay(accumulate=1, clip=None):
    """The same run written out by hand: per step its loss, accuracy, lr and gradient norm."""
    dlkit.seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    loader = torch.utils.data.DataLoader(data(), batch_size=BATCH, shuffle=True,
                                         generator=torch.Generator().manual_seed(1))
    rows, step = [], 0
    for _ in range(EPOCHS):
        batches = list(loader)
        for start in range(0, len(batches), accumulate):
            group = batches[start:start + accumulate]
            for g in optimizer.param_groups:
                g["lr"] = lr_at(step)
            losses, correct = [], 0
            for X, y in group:
                output = model(X)
                loss = nn.functional.cross_entropy(output, y)
                (loss / len(group)).backward()
                losses.append(float(loss.detach()))
                correct += int((output.argmax(1) == y).sum())
            norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad()
            samples = sum(len(y) for _, y in group)
            rows.append((float(np.mean(losses)), correct / samples, lr_at(step), float(norm), samples))
            step += 1
        with torch.no_grad():                   # the validation pass between epochs
            for _ in loader:
                pass
    return rows


@pytest.mark.parametrize("accumulate, clip", [(1, None), (2, 0.5)], ids=["plain", "accumulate-clip"])
def test_the_dashboard_shows_the_runs_own_numbers(accumulate, clip):
    dashboard = TrainingDashboard(enabled=False)
    trainer = run(dashboard, accumulate=accumulate, clip=clip)
    expected = replay(accumulate, clip)
    s = dashboard.steps
    steps_per_epoch = N // BATCH // accumulate
    assert s["step"] == [float(i) for i in range(1, EPOCHS * steps_per_epoch + 1)]
    assert s["epoch"] == [float(e) for e in range(1, EPOCHS + 1) for _ in range(steps_per_epoch)]
    np.testing.assert_allclose(s["loss"], [r[0] for r in expected], rtol=1e-5)
    np.testing.assert_allclose(s["accuracy"], [r[1] for r in expected], rtol=1e-12)
    np.testing.assert_allclose(s["lr"], [r[2] for r in expected], rtol=1e-12)
    np.testing.assert_allclose(s["grad_norm"], [r[3] for r in expected], rtol=1e-5)
    assert s["samples"] == [float(r[4]) for r in expected]
    # the steps of an epoch average to the epoch's logged training loss
    for epoch in range(EPOCHS):
        part = slice(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch)
        mean = np.average(s["loss"][part], weights=s["samples"][part])
        assert mean == pytest.approx(trainer.history["train_loss"][epoch], rel=1e-9)
    assert dashboard.epochs["step"] == [float(steps_per_epoch * e) for e in range(1, EPOCHS + 1)]
    assert dashboard.epochs["val_accuracy"] == trainer.history["val_accuracy"]


def test_throughput_is_samples_over_measured_time():
    dashboard = TrainingDashboard(enabled=False, window=4)
    run(dashboard)
    seconds, samples = dashboard.steps["seconds"], dashboard.steps["samples"]
    per_epoch = N // BATCH
    first_of_epoch = [i for i in range(len(seconds)) if i % per_epoch == 0]
    assert all(math.isnan(seconds[i]) for i in first_of_epoch)        # validation came before
    timed = [t for i, t in enumerate(seconds) if i not in first_of_epoch]
    assert all(0 < t < 5 for t in timed)
    rates = dashboard.throughput()
    i = per_epoch + 5                                                 # window: steps i-3 .. i
    window = range(i - 3, i + 1)
    assert rates[i] == pytest.approx(sum(samples[j] for j in window) / sum(seconds[j] for j in window))
    assert math.isnan(rates[0]) and all(r > 0 for r in rates[1:])


def test_the_figure_draws_the_recorded_series_and_saves_a_png(tmp_path):
    path = tmp_path / "dashboard.png"
    dashboard = TrainingDashboard(enabled=False, save_to=path)
    run(dashboard, epochs=2)
    figure = dashboard.figure()
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["loss", "accuracy", "learning rate", "gradient norm", "throughput (samples/s)"]
    loss_axes, accuracy_axes, lr_axes, norm_axes, rate_axes = figure.axes
    np.testing.assert_array_equal(loss_axes.get_lines()[0].get_ydata(), dashboard.steps["loss"])
    np.testing.assert_array_equal(loss_axes.get_lines()[1].get_ydata(), dashboard.epochs["val_loss"])
    np.testing.assert_array_equal(accuracy_axes.get_lines()[0].get_ydata(), dashboard.steps["accuracy"])
    np.testing.assert_array_equal(lr_axes.get_lines()[0].get_ydata(), dashboard.steps["lr"])
    np.testing.assert_array_equal(norm_axes.get_lines()[0].get_ydata(), dashboard.steps["grad_norm"])
    np.testing.assert_array_equal(rate_axes.get_lines()[0].get_ydata(), dashboard.throughput())
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 4 * image.shape[0]


def test_in_a_terminal_it_prints_lines_and_disabled_it_prints_nothing(capsys):
    run(TrainingDashboard(every_s=0.0), epochs=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == N // BATCH                                  # every step, no repeat at the end
    assert lines[-1].startswith(f"step {N // BATCH} | loss ") and lines[-1].endswith("samples/s")
    run(TrainingDashboard(enabled=False), epochs=1)
    assert capsys.readouterr().out == ""


def test_a_run_with_a_dashboard_still_resumes_exactly(tmp_path):
    straight = run(TrainingDashboard(enabled=False))
    run(TrainingDashboard(enabled=False), epochs=1, checkpoint=tmp_path / "run.pt")
    watcher = TrainingDashboard(enabled=False)
    resumed = run(watcher, checkpoint=tmp_path / "run.pt", resume=True, seed=7)
    for p, q in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert straight.history == resumed.history and resumed.step == straight.step
    assert watcher.steps["step"][0] == N // BATCH + 1                # the count goes on


def test_a_step_watcher_does_not_change_training():
    plain = run(EarlyStopping(monitor="val_loss", patience=100, restore_best=False))
    watched = run(TrainingDashboard(enabled=False))
    for p, q in zip(plain.model.parameters(), watched.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert "grad_norm" not in watched.history                        # only clipping logs it


def test_in_a_notebook_it_is_one_picture_redrawn_in_place():
    source = """
import dlkit.train.dashboard as d
dashboard = d.run_dashboard_demo(epochs=2, enabled=None)
print(len(dashboard.steps["step"]))
"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    outputs = notebook.cells[0].outputs
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1, json.dumps(outputs)[:500]
    # a front end without images (a terminal, a text export) shows what the picture is
    assert pictures[0]["data"]["text/plain"] == (
        "<figure: loss, accuracy, learning rate, gradient norm, throughput (samples/s)>")
    assert [o["text"] for o in outputs if o.output_type == "stream"] == ["88\n"]


def test_bad_settings_say_what_was_expected():
    with pytest.raises(ValueError, match="every_s"):
        TrainingDashboard(every_s=-1)
    with pytest.raises(ValueError, match="window"):
        TrainingDashboard(window=0)
    with pytest.raises(ValueError, match="at least one recorded step"):
        TrainingDashboard().figure()
