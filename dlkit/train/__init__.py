"""The training loop of chapters 07-12: ``Trainer`` with device placement, mixed precision,
gradient clipping and accumulation, a progress bar, live curves, early stopping and
checkpoints that resume exactly (chapter 11 explains each part).

>>> trainer = Trainer(model, torch.optim.Adam(model.parameters()), nn.CrossEntropyLoss(),
...                   metrics={"accuracy": dlkit.metrics.accuracy})
>>> history = trainer.fit(train_loader, val_loader, epochs=10, checkpoint="run.pt", resume=True)
"""
from dlkit.train.callbacks import Callback, EarlyStopping
from dlkit.train.checkpoint import CheckpointMismatch, load_checkpoint, save_checkpoint
from dlkit.train.checks import check_output_and_target
from dlkit.train.curves import LiveCurves, plot_history
from dlkit.train.distributed import (
    DistributedContext,
    all_reduce_mean,
    cleanup_distributed,
    distributed_loader,
    init_distributed,
    print_main,
    save_on_main,
)
from dlkit.train.lr_finder import LRRangeTest, lr_range_test
from dlkit.train.precision import Precision, choose_precision
from dlkit.train.trainer import Trainer

__all__ = [
    "Callback", "CheckpointMismatch", "EarlyStopping", "LiveCurves", "Precision", "Trainer",
    "check_output_and_target", "choose_precision", "load_checkpoint", "plot_history",
    "save_checkpoint",
    "DistributedContext", "all_reduce_mean", "cleanup_distributed", "distributed_loader",
    "init_distributed", "print_main", "save_on_main", "LRRangeTest", "lr_range_test",
]
