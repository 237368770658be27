"""dlkit.train checkpoints: a run stopped after k epochs and resumed ends bit-identical to an
uninterrupted one on the CPU (weights, optimizer state, history, RNG streams)."""
import random

import numpy as np
import pytest
import torch
from torch import nn

import dlkit
from dlkit.train import CheckpointMismatch, EarlyStopping, Trainer

EPOCHS, STOP_AT = 4, 2


def make_run(seed: int, own_generator: bool):
    """A model with dropout, Adam with weight decay, a StepLR, and a shuffling loader."""
    dlkit.seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    data_rng = torch.Generator().manual_seed(1234)           # the same data in every run
    X, y = torch.randn(40, 5, generator=data_rng), torch.randint(0, 3, (40,), generator=data_rng)
    dataset = torch.utils.data.TensorDataset(X, y)
    generator = torch.Generator().manual_seed(seed) if own_generator else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True, generator=generator)
    val = torch.utils.data.DataLoader(dataset, batch_size=16)
    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=scheduler, device="cpu",
                      clip_grad_norm=1.0, callbacks=[EarlyStopping(patience=100)], progress=False,
                      plot=False)
    return trainer, loader, val


def assert_identical(a: Trainer, b: Trainer) -> None:
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"parameter {name} differs after resuming"
    state_a, state_b = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        for field in state_a[key]:
            assert torch.equal(torch.as_tensor(state_a[key][field]),
                               torch.as_tensor(state_b[key][field])), (key, field)
    assert a.scheduler.state_dict() == b.scheduler.state_dict()
    assert a.history == b.history
    assert a.epoch == b.epoch == EPOCHS


@pytest.mark.parametrize("own_generator", [True, False], ids=["loader-generator", "global-rng"])
def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, own_generator):
    straight, loader, val = make_run(0, own_generator)
    straight.fit(loader, val, epochs=EPOCHS)
    after_straight = (random.random(), np.random.rand(), torch.rand(1))

    first, loader, val = make_run(0, own_generator)
    first.fit(loader, val, epochs=STOP_AT, checkpoint=tmp_path / "run.pt")
    # a fresh process in all but name: other weights, other RNG states, a fresh loader
    resumed, loader, val = make_run(99, own_generator)
    random.random(), np.random.rand(), torch.rand(7)
    resumed.fit(loader, val, epochs=EPOCHS, checkpoint=tmp_path / "run.pt", resume=True)
    assert_identical(straight, resumed)
    # the random streams continue where the uninterrupted run's do
    assert (random.random(), np.random.rand()) == after_straight[:2]
    assert torch.equal(torch.rand(1), after_straight[2])


def test_without_a_generator_state_the_shuffle_differs(tmp_path):
    """The control experiment: dropping the loader's generator state breaks bit-identity, so
    the test above does check it."""
    straight, loader, val = make_run(0, True)
    straight.fit(loader, val, epochs=EPOCHS)
    first, loader, val = make_run(0, True)
    first.fit(loader, val, epochs=STOP_AT, checkpoint=tmp_path / "run.pt")
    resumed, loader, val = make_run(0, True)
    resumed.load(tmp_path / "run.pt")          # no loader given ...
    resumed._pending_loader_states = None      # ... and its pending generator state dropped
    resumed.fit(loader, val, epochs=EPOCHS)
    differs = any(not torch.equal(p, q) for p, q in
                  zip(straight.model.parameters(), resumed.model.parameters(), strict=True))
    assert differs


def test_resume_after_the_last_epoch_does_nothing_more(tmp_path):
    trainer, loader, val = make_run(0, True)
    trainer.fit(loader, val, epochs=2, checkpoint=tmp_path / "run.pt")
    again, loader, val = make_run(5, True)
    history = again.fit(loader, val, epochs=2, checkpoint=tmp_path / "run.pt", resume=True)
    assert len(history["train_loss"]) == 2 and again.epoch == 2
    for p, q in zip(trainer.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_checkpoint_of_another_model_names_what_differs(tmp_path):
    trainer, loader, val = make_run(0, True)
    trainer.fit(loader, val, epochs=1, checkpoint=tmp_path / "run.pt")
    other = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 3))
    wrong = Trainer(other, torch.optim.SGD(other.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                    device="cpu", progress=False, plot=False)
    with pytest.raises(CheckpointMismatch, match=r"0.weight: checkpoint \(16, 5\), model \(32, 5\)"):
        wrong.load(tmp_path / "run.pt")
    renamed = nn.Sequential(nn.Linear(5, 16))
    wrong = Trainer(renamed, torch.optim.SGD(renamed.parameters(), lr=0.1), nn.MSELoss(),
                    device="cpu", progress=False, plot=False)
    with pytest.raises(CheckpointMismatch, match=r"not in the model: 3.bias, 3.weight"):
        wrong.load(tmp_path / "run.pt")


def test_a_checkpoint_with_a_scheduler_needs_a_trainer_with_one(tmp_path):
    trainer, loader, val = make_run(0, True)
    trainer.fit(loader, val, epochs=1, checkpoint=tmp_path / "run.pt")
    model = trainer.model
    plain = Trainer(model, torch.optim.AdamW(model.parameters()), nn.CrossEntropyLoss(),
                    device="cpu", callbacks=[EarlyStopping()], progress=False, plot=False)
    with pytest.raises(CheckpointMismatch, match="without a scheduler"):
        plain.load(tmp_path / "run.pt")


def test_a_loader_without_the_checkpointed_generator_is_refused(tmp_path):
    trainer, loader, val = make_run(0, True)
    trainer.fit(loader, val, epochs=1, checkpoint=tmp_path / "run.pt")
    again, global_loader, val = make_run(0, False)
    with pytest.raises(CheckpointMismatch, match="1 own random generator"):
        again.fit(global_loader, val, epochs=2, checkpoint=tmp_path / "run.pt", resume=True)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    trainer, _, _ = make_run(0, True)
    with pytest.raises(FileNotFoundError, match="expected a checkpoint file"):
        trainer.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="could not be read"):
        trainer.load(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointMismatch, match="format 'dlkit.train/1'"):
        trainer.load(tmp_path / "plain.pt")


def test_a_run_killed_between_epochs_resumes_bit_identically_in_a_new_process(tmp_path):
    """Both halves run in their own Python processes, as after a real interruption."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_train_resume import make_run
trainer, loader, val = make_run({seed}, True)
trainer.fit(loader, val, epochs={epochs}, checkpoint={path!r}, resume=True)
torch.save(trainer.model.state_dict(), {out!r})
"""
    checkpoint = str(tmp_path / "run.pt")
    for seed, epochs in ((0, STOP_AT), (7, EPOCHS)):
        code = script.format(tests=str(Path(__file__).parent), seed=seed, epochs=epochs,
                             path=checkpoint, out=str(tmp_path / "final.pt"))
        subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    straight, loader, val = make_run(0, True)
    straight.fit(loader, val, epochs=EPOCHS)
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    for name, p in straight.model.state_dict().items():
        assert torch.equal(p, final[name]), name


def test_a_float16_checkpoint_continues_in_float32_without_its_scaler(tmp_path):
    """A GPU run (float16, with a grad scaler) resumed on a CPU: the scale factor is dropped."""
    trainer, loader, val = make_run(0, True)
    trainer.fit(loader, val, epochs=1)
    state = trainer.state_dict(loader)
    state["scaler"] = {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                       "growth_interval": 2000, "_growth_tracker": 0}
    from dlkit.train import save_checkpoint
    save_checkpoint(tmp_path / "gpu.pt", state)
    again, loader, val = make_run(3, True)
    again.fit(loader, val, epochs=2, checkpoint=tmp_path / "gpu.pt", resume=True)
    assert again.epoch == 2 and again.scaler is None
