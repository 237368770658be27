"""DDP with torchrun (chapter 11): two CPU ranks (gloo) end with identical weights, and their
loss curve is a single process's with the combined batch; rank 0 alone writes the checkpoint.
Real ``torchrun`` subprocesses, no mocks."""
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from dlkit.train.distributed import all_reduce_mean, distributed_loader, init_distributed

SCRIPT = ["-m", "dlkit.train.examples.ddp_train", "--epochs", "2", "--global-batch-size", "64",
          "--samples", "1024", "--device", "cpu"]
TIMEOUT_S = 120
PORTS = range(29550, 29560)   # this worktree's share of rendezvous ports


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"expected a free port in {PORTS}, found none")


def run(command: list[str], out) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group; on a timeout kill the whole group, so no rank
    is left behind waiting in a collective."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
    # loopback only: a machine whose hostname does not resolve (a container) still works
    env.update({"OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"})
    process = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"{' '.join(command)} ran past {TIMEOUT_S} s:\n{output}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return subprocess.CompletedProcess(command, process.returncode, output)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               *SCRIPT, "--dump-rank-weights"], root / "ddp")
    single = run([sys.executable, *SCRIPT], root / "single")
    return root, ddp.stdout, single.stdout


def test_both_ranks_end_with_identical_weights(runs):
    root, _, _ = runs
    rank0 = torch.load(root / "ddp" / "weights-rank0.pt", weights_only=True)
    rank1 = torch.load(root / "ddp" / "weights-rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), f"{name} differs between the ranks"


def test_the_ddp_loss_curve_is_the_single_process_curve_with_the_combined_batch(runs):
    root, ddp_output, _ = runs
    ddp = json.loads((root / "ddp" / "metrics.json").read_text())
    single = json.loads((root / "single" / "metrics.json").read_text())
    assert (ddp["world_size"], ddp["backend"]) == (2, "gloo"), ddp_output
    assert (single["world_size"], single["backend"]) == (1, None)
    assert len(ddp["losses"]) == len(single["losses"]) == 2 * 1024 // 64
    torch.testing.assert_close(torch.tensor(ddp["losses"]), torch.tensor(single["losses"]),
                               rtol=1e-5, atol=1e-6)
    assert ddp["losses"][-1] < 0.5 * ddp["losses"][0]          # it did learn
    # and so do the weights: DDP's step is the combined batch's step
    ddp_weights = torch.load(root / "ddp" / "checkpoint.pt", weights_only=True)["model"]
    single_weights = torch.load(root / "single" / "checkpoint.pt", weights_only=True)["model"]
    for name, value in ddp_weights.items():
        torch.testing.assert_close(value, single_weights[name], rtol=1e-4, atol=1e-5)


def test_rank_zero_alone_writes_the_checkpoint_and_prints(runs):
    root, ddp_output, _ = runs
    written = sorted(p.name for p in (root / "ddp").iterdir())
    assert written == ["checkpoint.pt", "metrics.json", "weights-rank0.pt", "weights-rank1.pt"]
    assert not any(p.name.endswith(".partial") for p in (root / "ddp").iterdir())
    # rank 0's weights are what the checkpoint holds
    checkpoint = torch.load(root / "ddp" / "checkpoint.pt", weights_only=True)
    rank0 = torch.load(root / "ddp" / "weights-rank0.pt", weights_only=True)
    assert all(torch.equal(checkpoint["model"][k], rank0[k]) for k in rank0)
    assert ddp_output.count("epoch 2:") == 1                    # printed once, not per rank


def test_a_plain_process_is_a_world_of_one(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.backend, context.is_main) == (0, 1, None, True)
    assert all_reduce_mean(torch.tensor(2.5), context) == 2.5
    dataset = torch.utils.data.TensorDataset(torch.arange(10.0))
    with pytest.raises(ValueError, match="divisible by the world size"):
        distributed_loader(dataset, dataclasses.replace(context, world_size=3), 16)


def test_half_a_torchrun_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(RuntimeError, match="missing"):
        init_distributed("cpu")
