"""Distributed data parallel with ``torchrun``: the few helpers a training script needs
(chapter 11).

How DDP trains: every process (a *rank*) holds a full copy of the model, reads a different
slice of each global batch (``DistributedSampler``), computes its gradients, and during
``backward`` the gradients are averaged over all ranks (an all-reduce), so every rank takes the
same optimizer step and the copies stay identical. With ``world_size`` ranks of ``b`` samples
each, one step equals a single process's step on the combined batch of ``world_size * b``.

One machine, two processes (gloo on CPUs, nccl on GPUs, chosen by :func:`init_distributed`)::

    torchrun --standalone --nproc_per_node=2 -m dlkit.train.examples.ddp_train --epochs 3

``--standalone`` finds a free port by itself but meets at this machine's hostname; where that
name does not resolve (some containers) name the loopback address and a free port instead:
``torchrun --nnodes=1 --nproc_per_node=2 --master_addr=127.0.0.1 --master_port=29500 ...``
(and ``GLOO_SOCKET_IFNAME=lo`` silences gloo's warning about it).

Several machines: start the SAME command on every node; they meet at a rendezvous point (a
host:port that all nodes reach, usually the first node) and agree on ranks::

    # on each of 2 nodes with 4 GPUs each (8 ranks in all)
    torchrun --nnodes=2 --nproc_per_node=4 --rdzv-backend=c10d \\
             --rdzv-endpoint=node0.example:29500 --rdzv-id=job42 \\
             -m dlkit.train.examples.ddp_train --epochs 3

``--nnodes=1:4`` makes the job elastic (it starts with 1 to 4 nodes). Under a cluster scheduler
the scheduler starts that command once per node; ``dlkit/train/examples/ddp_train.slurm`` is a
Slurm script that does so. ``torchrun`` tells each process who it is through environment
variables: ``RANK`` (0..world_size-1 over all nodes), ``LOCAL_RANK`` (its index on this node:
which GPU to use), ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. A script started with
plain ``python`` has none of them and runs as a single process (world size 1), so one script
serves both.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from dlkit.train.checkpoint import save_checkpoint

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is: ``rank`` of ``world_size``, ``local_rank`` on its node, the
    ``device`` it trains on and the communication ``backend`` (None when not distributed)."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, logs and writes checkpoints."""
        return self.rank == 0


def _int_from_environment(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected the torchrun variable {name} to be an integer, "
                         f"found {value!r}") from None


def init_distributed(device: str | None = None, timeout_s: float = 120.0) -> DistributedContext:
    """Join the process group that ``torchrun`` set up (chapter 11).

    The backend follows the device: nccl for CUDA GPUs (rank ``LOCAL_RANK`` uses GPU
    ``LOCAL_RANK``), gloo for CPUs. ``device``: "cpu" or "cuda" to choose, None for CUDA when
    this node has a GPU for every local rank. Without torchrun's variables this is a single
    process: nothing to join, world size 1."""
    present = [name for name in TORCHRUN_VARIABLES if name in os.environ]
    if present and len(present) != len(TORCHRUN_VARIABLES):
        missing = sorted(set(TORCHRUN_VARIABLES) - set(present))
        raise RuntimeError(f"expected all of the torchrun variables {TORCHRUN_VARIABLES}, found "
                           f"only {present} (missing {missing}): start the script with torchrun")
    if present:
        rank, local_rank = _int_from_environment("RANK"), _int_from_environment("LOCAL_RANK")
        world_size = _int_from_environment("WORLD_SIZE")
    else:
        rank, local_rank, world_size = 0, 0, 1
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"expected device 'cpu', 'cuda' or None, got {device!r}")
    use_cuda = device == "cuda" or (device is None and torch.cuda.is_available()
                                    and local_rank < torch.cuda.device_count())
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"expected a GPU for local rank {local_rank}, found "
                               f"{torch.cuda.device_count()} GPU(s) on this node")
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    backend = None
    if world_size > 1:
        backend = "nccl" if use_cuda else "gloo"
        if not dist.is_initialized():
            from datetime import timedelta

            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return DistributedContext(rank, local_rank, world_size, chosen, backend)


def distributed_loader(dataset: Dataset, context: DistributedContext, global_batch_size: int, *,
                       shuffle: bool = True, seed: int = 0, drop_last: bool = True,
                       **loader_kwargs: Any) -> DataLoader:
    """A DataLoader that gives this rank its share of every global batch (chapter 11).

    ``DistributedSampler`` shuffles the whole dataset with ``seed + epoch`` (call
    ``loader.sampler.set_epoch(epoch)`` each epoch) and deals it out: rank r gets positions
    r, r + world_size, ... So a global step's ranks together see exactly the samples a single
    process with ``global_batch_size`` sees in its step, at any world size."""
    if global_batch_size % context.world_size:
        raise ValueError(f"expected a global batch size divisible by the world size "
                         f"{context.world_size}, got {global_batch_size}")
    sampler = DistributedSampler(dataset, num_replicas=context.world_size, rank=context.rank,
                                 shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_size=global_batch_size // context.world_size,
                      sampler=sampler, drop_last=drop_last, **loader_kwargs)


def all_reduce_mean(value: float | torch.Tensor, context: DistributedContext) -> float:
    """The mean of ``value`` over all ranks (every rank gets it): a loss or accuracy measured
    on each rank's share becomes the global batch's (equal shares assumed)."""
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if context.world_size > 1:
        # nccl reduces only tensors on the GPU; float64 so the sum rounds like one process's
        tensor = tensor.to(context.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor = tensor / context.world_size
    return float(tensor)


def all_reduce_gradients(model: torch.nn.Module, context: DistributedContext) -> None:
    """What ``DistributedDataParallel`` does during ``backward``, written out (chapter 11): sum
    every gradient over the ranks and divide by their number, so each rank steps with the mean
    gradient of the global batch. (DDP does the same in buckets of parameters, overlapping the
    communication with the rest of ``backward``; this waits for ``backward`` to finish.)"""
    if context.world_size == 1:
        return
    for parameter in model.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad /= context.world_size


def print_main(context: DistributedContext, *args: Any, **kwargs: Any) -> None:
    """``print`` on rank 0 only: N ranks would print every line N times."""
    if context.is_main:
        print(*args, **kwargs, flush=True)


def save_on_main(path: str | os.PathLike[str], state: dict[str, Any],
                 context: DistributedContext) -> None:
    """Rank 0 writes the checkpoint (the weights are the same on every rank, and N writers
    to one file would clobber it); the others wait at a barrier until it is on disk, so no rank
    runs ahead and reads a half-written file."""
    if context.is_main:
        save_checkpoint(path, state)
    if context.world_size > 1:
        dist.barrier()


def cleanup_distributed(*, finished: bool = False) -> None:
    """Leave the process group (call it in a ``finally``: a rank that dies without it can leave
    the others waiting in a collective until the timeout).

    ``finished=True`` on the normal way out: the ranks first meet at a barrier, so none tears
    down its connections while another still has a collective or a write in flight (a gloo
    rank shutting down under a busy peer can abort the process, rarely, at exit). Never on the
    error path, where the peer may never arrive."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
