"""``load_torch_weights`` and the parity helper every ``test_ref_nn_*`` file uses (chapters 02-09).

``check_layer`` runs a dlkit.ref function/layer and its torch twin on the same float64 inputs,
then compares the outputs, the gradient of every input and of every parameter (by torch's
parameter name), with a random upstream gradient so every output entry counts differently.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from dlkit.check import compare
from dlkit.ref.module import Module
from dlkit.ref.nn import LSTM, BatchNorm1d, Linear, ReLU, Sequential, load_torch_weights
from dlkit.ref.tensor import Tensor

RTOL, ATOL = 1e-9, 1e-11


def _flatten(outputs: Any) -> list:
    """Nested outputs (e.g. LSTM's (out, (h, c))) as one flat list, without the Nones."""
    if not isinstance(outputs, (tuple, list)):
        return [] if outputs is None else [outputs]
    return [item for output in outputs for item in _flatten(output)]


def check_layer(ours: Callable[..., Any], theirs: Callable[..., Any], *arrays: np.ndarray,
                modules: tuple[Module, torch.nn.Module] | None = None,
                grad_inputs: Sequence[bool] | None = None, rtol: float = RTOL, atol: float = ATOL,
                seed: int = 0) -> list[Tensor]:
    """Outputs, input gradients and parameter gradients of ``ours`` equal torch's ``theirs``.

    Both get the same float64 ``arrays`` (as leaves that require grad, unless ``grad_inputs``
    says otherwise); the loss is Σ_k Σ(out_k ⊙ R_k) with fixed random R_k. Returns our outputs.
    """
    needs_grad = [True] * len(arrays) if grad_inputs is None else list(grad_inputs)
    pairs = list(zip(arrays, needs_grad, strict=True))
    xs = [Tensor(np.array(a, dtype=np.float64), requires_grad=g) for a, g in pairs]
    ts = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=g) for a, g in pairs]
    got, want = _flatten(ours(*xs)), _flatten(theirs(*ts))
    assert len(got) == len(want), f"expected {len(want)} outputs, got {len(got)}"
    rng = np.random.default_rng(seed)
    loss, torch_loss = None, None
    for k, (o, t) in enumerate(zip(got, want, strict=True)):
        compare(o, t, rtol=rtol, atol=atol, name=f"output {k}")
        if t.requires_grad:
            r = rng.normal(size=t.shape)
            term, torch_term = (o * r).sum(), (t * torch.from_numpy(r)).sum()
            loss = term if loss is None else loss + term
            torch_loss = torch_term if torch_loss is None else torch_loss + torch_term
    if loss is None:
        return got
    loss.backward()
    torch_loss.backward()
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        if t.requires_grad:
            grad = x.grad if x.grad is not None else np.zeros(x.shape)
            compare(grad, t.grad, rtol=rtol, atol=atol, name=f"gradient of input {i}")
    if modules is not None:
        theirs_params = dict(modules[1].named_parameters())
        for name, p in modules[0].named_parameters():
            expected = theirs_params[name].grad
            expected = torch.zeros_like(theirs_params[name]) if expected is None else expected
            grad = p.grad if p.grad is not None else np.zeros(p.shape)
            compare(grad, expected, rtol=rtol, atol=atol, name=f"gradient of {name}")
    return got


def test_load_torch_weights_copies_parameters_and_buffers_by_name() -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double()
    theirs(torch.randn(5, 3, dtype=torch.float64))  # moves the running statistics off 0 and 1
    ours = load_torch_weights(Sequential(Linear(3, 4), BatchNorm1d(4)), theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    compare(ours[0].weight, theirs[0].weight, rtol=0, atol=0)
    compare(ours[1].running_mean, theirs[1].running_mean, rtol=0, atol=0)
    assert ours[1].num_batches_tracked == 1
    assert ours[0].weight.dtype == np.float64


def test_load_torch_weights_names_the_missing_or_mismatched_entry() -> None:
    with pytest.raises(ValueError, match=r"expected weight of shape \(4, 3\), got \(4, 5\)"):
        load_torch_weights(Linear(3, 4), torch.nn.Linear(5, 4))
    with pytest.raises(KeyError, match="missing"):
        load_torch_weights(Linear(3, 4), {"weight": torch.zeros(4, 3)})
    with pytest.raises(KeyError, match="weight_ih_l0"):
        load_torch_weights(Linear(3, 4), torch.nn.LSTM(3, 4))


def test_check_layer_catches_a_wrong_gradient() -> None:
    """The helper itself is honest: a layer whose backward is wrong fails it."""
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 2).double()
    ours = load_torch_weights(Linear(3, 2), theirs)
    x = np.random.default_rng(0).normal(size=(4, 3))
    check_layer(ours, theirs, x, modules=(ours, theirs))

    def wrong(x: Tensor) -> Tensor:   # right forward, but the gradient of x is doubled
        return ours(x.apply(lambda z: z, lambda z: 2 * np.ones_like(z), "wrong_identity"))
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_layer(wrong, theirs, x)


def test_sequential_names_parameters_like_torch_and_chains_layers() -> None:
    torch.manual_seed(1)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(),
                                 torch.nn.Linear(8, 3)).double()
    ours = load_torch_weights(Sequential(Linear(5, 8), ReLU(), Linear(8, 3)), theirs)
    assert [n for n, _ in ours.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    check_layer(ours, theirs, np.random.default_rng(1).normal(size=(6, 5)), modules=(ours, theirs))
    assert len(ours) == 3 and isinstance(ours[1], ReLU)
    with pytest.raises(TypeError, match="Sequential expected Module layers, got int at position 1"):
        Sequential(ReLU(), 3)


def test_load_torch_weights_handles_recurrent_names() -> None:
    theirs = torch.nn.LSTM(3, 5).double()
    ours = load_torch_weights(LSTM(3, 5), theirs)
    compare(ours.weight_hh_l0, theirs.weight_hh_l0, rtol=0, atol=0)
