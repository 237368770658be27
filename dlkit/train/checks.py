"""Shape checks between a model's output and its targets, before the loss hides a mistake
(chapter 11).

Two mistakes train silently in torch: ``MSELoss`` broadcasts an output of shape (N, 1) against
targets of shape (N,) into an (N, N) grid of differences, and a class loss given the wrong axis
order trains on nonsense. The loop checks the first batch of every ``fit`` for the losses it knows:
class losses (cross-entropy, NLL) want output (N, C, ...) and integer targets (N, ...);
element-wise losses (MSE, L1, Huber, BCE) want output and target of the same shape. A custom
loss function is trusted with its own shapes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss,
                      nn.BCEWithLogitsLoss)
CLASS_FUNCTIONS = (F.cross_entropy, F.nll_loss)
ELEMENTWISE_FUNCTIONS = (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss,
                         F.binary_cross_entropy, F.binary_cross_entropy_with_logits)


def _kind(loss_fn: Callable[..., Any]) -> str | None:
    if isinstance(loss_fn, CLASS_LOSSES) or loss_fn in CLASS_FUNCTIONS:
        return "class"
    if isinstance(loss_fn, ELEMENTWISE_LOSSES) or loss_fn in ELEMENTWISE_FUNCTIONS:
        return "elementwise"
    return None


def check_output_and_target(output: Any, target: Any, loss_fn: Callable[..., Any]) -> None:
    """Raise ValueError (expected vs got) when ``output`` and ``target`` cannot be what
    ``loss_fn`` means; do nothing for losses this module does not know."""
    kind = _kind(loss_fn)
    if kind is None or not (torch.is_tensor(output) and torch.is_tensor(target)):
        return
    out, tgt = tuple(output.shape), tuple(target.shape)
    if kind == "elementwise":
        if out != tgt:
            hint = ""
            if out == (*tgt, 1):
                hint = " (squeeze the output's last axis: output.squeeze(-1))"
            elif tgt == (*out, 1):
                hint = " (squeeze the target's last axis)"
            raise ValueError(f"{type(loss_fn).__name__} expected the model output and the target "
                             f"to have the same shape, got output {out} and target {tgt}{hint}; "
                             f"torch would broadcast them silently")
        return
    if target.is_floating_point():       # class probabilities: the same shape as the logits
        if out != tgt:
            raise ValueError(f"expected class-probability targets of the output's shape {out}, "
                             f"got {tgt}")
        return
    wanted = f"(N, C, ...) for integer class targets of shape {tgt}, i.e. (N, C{''.join(f', {d}' for d in tgt[1:])})"
    if len(out) != len(tgt) + 1 or out[0] != tgt[0] or out[2:] != tgt[1:]:
        hint = ""
        if len(out) == len(tgt) + 1 and out[:-1] == tgt:
            hint = (" (classes are on the last axis: flatten with output.flatten(0, -2) and "
                    "target.flatten(), or move them with output.movedim(-1, 1))")
        raise ValueError(f"expected model output of shape {wanted}, got {out}{hint}")
