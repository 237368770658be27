"""dlkit.ref.Module finds parameters like torch.nn.Module and switches train/eval modes."""
import numpy as np

from dlkit.ref import Tensor
from dlkit.ref.module import Module, parameter


class Affine(Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        self.W = parameter(np.ones((n_out, n_in)))
        self.b = parameter(np.zeros(n_out))
        self.scale = Tensor(2.0)  # a constant, not a parameter

    def forward(self, X: Tensor) -> Tensor:
        return X @ self.W.T * self.scale + self.b


class TwoLayers(Module):
    def __init__(self) -> None:
        self.first = Affine(3, 4)
        self.blocks = [Affine(4, 4), Affine(4, 2)]
        self.tied = self.first.W  # the same parameter twice must be listed once

    def forward(self, X: Tensor) -> Tensor:
        h = self.first(X).relu()
        for block in self.blocks:
            h = block(h)
        return h


def test_parameters_are_found_in_assignment_order_without_repeats():
    model = TwoLayers()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["first.W", "first.b", "blocks.0.W", "blocks.0.b", "blocks.1.W", "blocks.1.b"]
    assert model.num_parameters() == 12 + 4 + 16 + 4 + 8 + 2


def test_zero_grad_and_modes_reach_every_submodule():
    model = TwoLayers()
    model(Tensor(np.ones((5, 3)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
