"""Train a small digits classifier with DistributedDataParallel (chapter 11).

Two CPU processes on this machine (gloo)::

    torchrun --standalone --nproc_per_node=2 -m dlkit.train.examples.ddp_train --out runs/ddp

The same command with plain ``python -m dlkit.train.examples.ddp_train`` runs ONE process
that takes the whole global batch per step: its loss curve is the DDP run's (the point of
DDP). ``--manual-all-reduce`` trains without the DDP wrapper, averaging the gradients by hand
(:func:`dlkit.train.distributed.all_reduce_gradients`): the same steps. Several machines and
Slurm: see :mod:`dlkit.train.distributed`.

Rank 0 writes ``--out``/metrics.json (the global batch's loss at every step, the accuracy after
every epoch) and the checkpoint ``--out``/checkpoint.pt. ``--dump-rank-weights`` makes EVERY
rank write its final weights to ``--out``/weights-rank<r>.pt, to check they are identical.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dlkit.data import load_digits
from dlkit.train.distributed import (
    all_reduce_gradients,
    all_reduce_mean,
    cleanup_distributed,
    distributed_loader,
    init_distributed,
    print_main,
    save_on_main,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--global-batch-size", type=int, default=64,
                        help="samples per optimizer step over ALL ranks together")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=1536, help="digits used (of 1797)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="default: CUDA when every local rank has a GPU, else CPU")
    parser.add_argument("--out", type=Path, default=Path("runs/ddp"))
    parser.add_argument("--dump-rank-weights", action="store_true")
    parser.add_argument("--manual-all-reduce", action="store_true",
                        help="average the gradients by hand instead of wrapping the model in DDP")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 1797:
        parser.error(f"expected --samples between 1 and 1797, got {args.samples}")
    return args


def make_model() -> nn.Module:
    # no dropout: each rank would draw its own masks, and the ranks' steps would differ from
    # the single process's
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    context = init_distributed(args.device)
    model, finished = None, False
    try:
        digits = load_digits()
        X = torch.from_numpy(digits.X[: args.samples])
        y = torch.from_numpy(digits.y[: args.samples])
        dataset = torch.utils.data.TensorDataset(X, y)
        loader = distributed_loader(dataset, context, args.global_batch_size, seed=args.seed)

        torch.manual_seed(args.seed)             # the same initial weights on every rank ...
        model = make_model().to(context.device)
        if context.world_size > 1 and not args.manual_all_reduce:
            model = DistributedDataParallel(model)   # ... and DDP broadcasts rank 0's to be sure
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        print_main(context, f"world size {context.world_size}, backend {context.backend}, "
                            f"{len(loader)} steps per epoch of {args.global_batch_size} samples")

        losses, accuracies = [], []
        for epoch in range(args.epochs):
            loader.sampler.set_epoch(epoch)      # a new shuffle each epoch, the same on all ranks
            model.train()
            for inputs, targets in loader:
                inputs, targets = inputs.to(context.device), targets.to(context.device)
                loss = loss_fn(model(inputs), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()                  # DDP all-reduces (averages) the gradients here
                if args.manual_all_reduce:
                    all_reduce_gradients(model, context)   # ... or we do, by hand
                optimizer.step()
                losses.append(all_reduce_mean(loss.detach(), context))
            model.eval()
            with torch.no_grad():                # every rank holds the same model: evaluate once
                correct = (model(X.to(context.device)).argmax(1) == y.to(context.device))
                accuracies.append(float(correct.float().mean()))
            print_main(context, f"epoch {epoch + 1}: loss {losses[-1]:.4f}, "
                                f"accuracy {accuracies[-1]:.3f}")

        weights = (model.module if isinstance(model, DistributedDataParallel) else model).state_dict()
        save_on_main(args.out / "checkpoint.pt", {"epoch": args.epochs, "model": weights,
                                                  "optimizer": optimizer.state_dict()}, context)
        if context.is_main:
            metrics = {"world_size": context.world_size, "backend": context.backend,
                       "global_batch_size": args.global_batch_size, "losses": losses,
                       "accuracy": accuracies}
            (args.out / "metrics.json").write_text(json.dumps(metrics))
        if args.dump_rank_weights:
            args.out.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.cpu() for k, v in weights.items()},
                       args.out / f"weights-rank{context.rank}.pt")
        finished = True
    finally:
        del model                                # DDP's reducer holds the group: release it first
        cleanup_distributed(finished=finished)


if __name__ == "__main__":
    main()
    # everything is written and the group is left: skip the interpreter's teardown, where gloo's
    # threads can abort a rank under load ("terminate called without an active exception")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
