"""Scripts that chapter 11 launches: ``ddp_train.py`` (DDP with torchrun) and the Slurm script
``ddp_train.slurm`` that runs it on a cluster."""
