"""From-scratch numpy reference implementations, checked against torch (chapters 01-10)."""
from dlkit.ref.tensor import Tensor, as_tensor, cat, no_grad, stack, unbroadcast

__all__ = ["Tensor", "as_tensor", "cat", "no_grad", "stack", "unbroadcast"]
