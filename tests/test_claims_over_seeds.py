"""Claims about training results that lessons and demo tests make, rechecked for seeds 0..4.

A lesson's own asserts are rerun per seed by test_lesson_runs.py. The claims here are the ones
made through a demo, whose training is seeded inside the library (so changing a lesson's SEED
does not vary it): chapter 06's regularization demo ("weight decay shrinks the weights and the
gap", "dropout narrows the gap", "without regularization the 16 points are overfit") and chapter
05's init histograms ("small init collapses a tanh stack, batch norm rescues it"). Each holds for
every seed with a margin; the numbers per seed are in the failure message.
"""
from __future__ import annotations

import numpy as np
import pytest

from dlkit.viz.histograms import deep_mlp_statistics
from dlkit.viz.regularization import train_regularized

SEEDS = range(5)
pytestmark = pytest.mark.numerics


@pytest.mark.slow
def test_weight_decay_and_dropout_narrow_the_gap_for_every_seed():
    rows = []
    for seed in SEEDS:
        none = train_regularized("weight decay", 0.0, seed=seed)
        decay = train_regularized("weight decay", 0.9, seed=seed)
        dropout = train_regularized("dropout", 0.3, seed=seed)
        rows.append((seed, none.train_losses[-1], none.val_losses[-1], decay.weight_norm / none.weight_norm,
                     decay.gap / none.gap, dropout.gap / none.gap))
    table = "\n".join(f"seed {s}: train {t:.3f} val {v:.3f} | decay: norm ×{n:.2f} gap ×{g:.2f} | "
                      f"dropout 0.3: gap ×{d:.2f}" for s, t, v, n, g, d in rows)
    for _, train, val, norm_ratio, decay_gap, dropout_gap in rows:
        assert train < 0.07 and val > 0.12, f"no regularization overfits (noise variance 0.09):\n{table}"
        assert norm_ratio < 0.8, f"weight decay 0.9 shrinks ‖W‖:\n{table}"
        assert decay_gap < 0.95, f"weight decay 0.9 narrows the gap:\n{table}"
        assert dropout_gap < 0.6, f"dropout 0.3 narrows the gap:\n{table}"


@pytest.mark.parametrize("seed", SEEDS)
def test_small_init_collapses_a_tanh_stack_and_batch_norm_rescues_it(seed):
    def last_std(batch_norm):
        stats = deep_mlp_statistics(depth=10, width=256, activation="tanh", init="small",
                                    batch_norm=batch_norm, seed=seed)
        return float(np.std(stats["activations"][-1]))
    assert last_std(False) < 1e-7 and last_std(True) > 0.5
