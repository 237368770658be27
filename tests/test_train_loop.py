"""dlkit.train.Trainer: accumulation, clipping, early stopping, metrics, precision, shape errors."""
import json

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from torch import nn
from torch.nn import functional as F

import dlkit
from dlkit.data import ArrayDataset
from dlkit.train import EarlyStopping, Trainer, check_output_and_target, choose_precision, plot_history


def regression_loader(n=32, batch_size=8, shuffle=False):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 4, generator=g)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=batch_size,
                                       shuffle=shuffle)


def trainer_for(model, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("plot", False)
    return Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05), nn.MSELoss(),
                   device="cpu", **kwargs)


def test_accumulating_four_micro_batches_is_one_step_on_their_union():
    dlkit.seed(0)
    big = nn.Linear(4, 1)
    small = nn.Linear(4, 1)
    small.load_state_dict(big.state_dict())
    trainer_for(big).fit(regression_loader(batch_size=32), epochs=3)
    trainer_for(small, accumulate=4).fit(regression_loader(batch_size=8), epochs=3)
    for p, q in zip(big.parameters(), small.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(big.weight, nn.Linear(4, 1).weight)   # it did train


def test_a_partial_last_group_is_averaged_over_its_own_size():
    """40 samples in batches of 8 with accumulate=3: steps on 24 and then on 16 samples."""
    dlkit.seed(0)
    a, b = nn.Linear(4, 1), nn.Linear(4, 1)
    b.load_state_dict(a.state_dict())
    trainer_for(a, accumulate=3).fit(regression_loader(n=40, batch_size=8), epochs=1)
    opt = torch.optim.SGD(b.parameters(), lr=0.05)
    X, y = regression_loader(n=40, batch_size=40).dataset.tensors
    for part in (slice(0, 24), slice(24, 40)):
        opt.zero_grad()
        F.mse_loss(b(X[part]), y[part]).backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_clipping_bounds_every_step_and_logs_the_norm_before_it():
    dlkit.seed(0)
    model = nn.Linear(4, 1)
    start = model.weight.detach().clone(), model.bias.detach().clone()
    loader = regression_loader(n=8, batch_size=8)
    history = trainer_for(model, clip_grad_norm=0.01).fit(loader, epochs=1)
    step = torch.cat([(model.weight - start[0]).flatten(), model.bias - start[1]]).detach()
    assert float(step.norm()) == pytest.approx(0.05 * 0.01, rel=1e-4)        # lr × max_norm
    X, y = loader.dataset.tensors
    probe = nn.Linear(4, 1)
    probe.weight.data, probe.bias.data = start[0].clone(), start[1].clone()
    F.mse_loss(probe(X), y).backward()
    true_norm = torch.cat([probe.weight.grad.flatten(), probe.bias.grad]).norm()
    assert history["grad_norm"] == [pytest.approx(float(true_norm), rel=1e-5)]


def test_metrics_are_averaged_over_samples_and_history_has_every_key():
    dlkit.seed(0)
    X = torch.randn(30, 2)
    y = (X[:, 0] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=7)
    model = nn.Linear(2, 2)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), nn.CrossEntropyLoss(),
                      device="cpu", metrics={"accuracy": lambda out, t: (out.argmax(1) == t).float().mean()},
                      progress=False, plot=False)
    history = trainer.fit(loader, loader, epochs=2)
    assert set(history) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}
    with torch.no_grad():
        logits = model(X)
    assert history["val_accuracy"][-1] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert history["val_loss"][-1] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    dlkit.seed(0)
    model = nn.Linear(4, 1)
    loader = regression_loader()
    # a huge learning rate makes the validation loss rise from the first step on
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1.5), nn.MSELoss(),
                      device="cpu", callbacks=[stopper := EarlyStopping(patience=2)],
                      progress=False, plot=False)
    history = trainer.fit(loader, loader, epochs=50)
    assert trainer.epoch == stopper.best_epoch + 2 < 50
    best = min(history["val_loss"])
    assert history["val_loss"][stopper.best_epoch - 1] == best
    assert trainer.evaluate(loader)["loss"] == pytest.approx(best, rel=1e-5)


def test_early_stopping_says_which_key_is_missing():
    model = nn.Linear(4, 1)
    with pytest.raises(KeyError, match="pass val_loader"):
        trainer_for(model, callbacks=[EarlyStopping()]).fit(regression_loader(), epochs=1)


def test_a_plateau_scheduler_gets_the_validation_loss():
    dlkit.seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.5)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    trainer = Trainer(model, optimizer, nn.MSELoss(), scheduler=plateau, device="cpu",
                      progress=False, plot=False)
    history = trainer.fit(regression_loader(), regression_loader(), epochs=3)
    assert history["lr"][0] == 1.5 and history["lr"][-1] < 1.5


def test_an_output_that_broadcasts_against_its_target_is_refused():
    model = nn.Linear(4, 1)
    X, y = regression_loader().dataset.tensors
    flat = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y[:, 0]), batch_size=8)
    with pytest.raises(ValueError, match=r"same shape, got output \(8, 1\) and target \(8,\).*squeeze"):
        trainer_for(model).fit(flat, epochs=1)


def test_class_losses_want_classes_on_axis_one():
    logits = torch.randn(2, 5, 7)                    # (N, T, V) from a language model
    targets = torch.randint(0, 7, (2, 5))
    with pytest.raises(ValueError, match=r"\(N, C, 5\).*got \(2, 5, 7\).*last axis"):
        check_output_and_target(logits, targets, nn.CrossEntropyLoss())
    check_output_and_target(logits.movedim(-1, 1), targets, F.cross_entropy)   # accepted
    check_output_and_target(logits, targets, lambda o, t: o.sum())             # custom: trusted


def test_bad_arguments_and_batches_are_clear_errors():
    model = nn.Linear(4, 1)
    with pytest.raises(ValueError, match="accumulate"):
        trainer_for(model, accumulate=0)
    with pytest.raises(ValueError, match="precision"):
        trainer_for(model, precision="fp8")
    with pytest.raises(ValueError, match="CUDA device for precision='fp16'"):
        trainer_for(model, precision="fp16")
    with pytest.raises(ValueError, match=r"\(input, \.\.\., target\)"):
        trainer_for(model).fit([torch.randn(8, 4)], epochs=1)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        bad = torch.utils.data.TensorDataset(torch.full((4, 4), float("nan")), torch.zeros(4, 1))
        trainer_for(model).fit(torch.utils.data.DataLoader(bad, batch_size=2), epochs=1)


def test_bf16_autocast_on_the_cpu_when_asked():
    assert choose_precision("cpu").dtype is None
    dlkit.seed(0)
    model = nn.Linear(4, 1)
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer = trainer_for(model, precision="bf16")
    assert trainer.scaler is None and trainer.precision.name == "bf16"
    history = trainer.fit(regression_loader(), epochs=5)
    assert seen[0] == torch.bfloat16 and model.weight.dtype == torch.float32
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]


def test_the_progress_bar_counts_every_batch(capsys):
    model = nn.Linear(4, 1)
    trainer_for(model, progress=True).fit(regression_loader(), epochs=2)
    err = capsys.readouterr().err
    assert "8/8" in err and "loss=" in err


def test_plot_history_draws_one_panel_per_quantity():
    history = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_accuracy": [0.5, 0.8],
               "val_accuracy": [0.4, 0.7], "lr": [0.1, 0.1]}
    figure = plot_history(history)
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    assert [len(ax.lines) for ax in figure.axes] == [2, 2]
    with pytest.raises(ValueError, match="expected a history"):
        plot_history({"lr": [0.1]})


def test_live_curves_update_one_output_in_place_in_a_real_kernel(tmp_path):
    source = """
import torch, dlkit
from torch import nn
from dlkit.metrics import accuracy
from dlkit.train import Trainer
dlkit.seed(0)
X = torch.randn(16, 3); y = (X.sum(1) > 0).long()
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=8)
model = nn.Linear(3, 2)
Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), device="cpu",
        metrics={"accuracy": accuracy}, precision="bf16").fit(loader, loader, epochs=3)
"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    outputs = notebook.cells[0].outputs
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1, json.dumps(outputs)[:500]   # one output, redrawn, not three
    # the progress bar is a notebook widget (tqdm.auto), not text on stderr; nothing warns
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_mixed_precision_trains_on_the_gpu(precision):
    dlkit.seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), nn.MSELoss(),
                      device="cuda", precision=precision, progress=False, plot=False, clip_grad_norm=5.0)
    expected = torch.bfloat16 if precision == "auto" and torch.cuda.is_bf16_supported() else torch.float16
    assert trainer.precision.dtype == expected
    assert (trainer.scaler is not None) == (expected == torch.float16)
    history = trainer.fit(regression_loader(n=256, batch_size=32, shuffle=True), epochs=20)
    assert next(model.parameters()).is_cuda and next(model.parameters()).dtype == torch.float32
    assert history["train_loss"][-1] < 0.1 * history["train_loss"][0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_checkpoint_with_a_scaler_resumes(tmp_path):
    dlkit.seed(0)
    model = nn.Linear(4, 1)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.05), nn.MSELoss(),
                      device="cuda", precision="fp16", progress=False, plot=False)
    trainer.fit(regression_loader(), epochs=1, checkpoint=tmp_path / "gpu.pt")
    other = nn.Linear(4, 1)
    again = Trainer(other, torch.optim.SGD(other.parameters(), lr=0.05), nn.MSELoss(),
                    device="cuda", precision="fp16", progress=False, plot=False)
    again.fit(regression_loader(), epochs=2, checkpoint=tmp_path / "gpu.pt", resume=True)
    assert again.epoch == 2 and again.scaler.get_scale() > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_dlkit_loader_feeds_the_gpu_from_pinned_memory():
    """The whole GPU path: pinned CPU batches from ArrayDataset.loader, non-blocking copies in
    the trainer, mixed precision; the model learns the line."""
    dlkit.seed(0)
    X = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    y = X @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    loader = ArrayDataset(X.numpy(), y.numpy()).loader(32, seed=0)
    assert loader.pin_memory and next(iter(loader))[0].is_pinned()
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 1))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), nn.MSELoss(),
                      progress=False, plot=False)
    assert trainer.device.type == "cuda"
    history = trainer.fit(loader, epochs=20)
    assert history["train_loss"][-1] < 0.1 * history["train_loss"][0]


def test_a_loader_without_a_length_steps_its_last_partial_group():
    """A generator of batches (no len): accumulate=3 over 5 batches steps after 3, then after 2."""
    dlkit.seed(0)
    a, b = nn.Linear(4, 1), nn.Linear(4, 1)
    b.load_state_dict(a.state_dict())
    batches = list(regression_loader(n=40, batch_size=8))
    trainer_for(a, accumulate=3).fit((batch for batch in batches), epochs=1)
    opt = torch.optim.SGD(b.parameters(), lr=0.05)
    for group in (batches[:3], batches[3:]):
        opt.zero_grad()
        for X, y in group:               # without a length the loop divides by accumulate
            (F.mse_loss(b(X), y) / 3).backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
