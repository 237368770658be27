"""Copy a torch module's weights into the matching from-scratch layer, so the two can be run
side by side and compared to the last digit (chapters 02-09)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dlkit.ref.module import Module
from dlkit.ref.tensor import Tensor


def _owner_and_attribute(module: Module, dotted: str) -> tuple[Any, str]:
    owner: Any = module
    *path, attribute = dotted.split(".")
    for part in path:
        indexable = part.isdigit() and hasattr(owner, "__getitem__")   # "0.weight" in a Sequential
        owner = owner[int(part)] if indexable else getattr(owner, part, None)
        if owner is None:
            break
    return owner, attribute


def load_torch_weights(module: Module, source: Any) -> Module:
    """Copy every entry of ``source`` (a torch ``nn.Module`` or its ``state_dict()``) into the
    same-named parameter or buffer of ``module`` (chapters 02-09). The values keep torch's dtype
    (float64 torch weights give a float64 layer). Raises if a name is missing or a shape differs."""
    state = source if isinstance(source, Mapping) else source.state_dict()
    loaded: set[str] = set()
    for name, value in state.items():
        array = value.detach().cpu().numpy().copy() if hasattr(value, "detach") else np.array(value)
        owner, attribute = _owner_and_attribute(module, name)
        target = getattr(owner, attribute, None) if owner is not None else None
        if isinstance(target, (Tensor, np.ndarray)) and target.shape != array.shape:
            raise ValueError(f"load_torch_weights expected {name} of shape {target.shape}, "
                             f"got {array.shape}")
        if isinstance(target, Tensor):
            target.data = array
            target.grad = None
        elif isinstance(target, np.ndarray):   # a buffer such as running_mean
            setattr(owner, attribute, array)
        elif isinstance(target, int) and array.size == 1:  # a counter such as num_batches_tracked
            setattr(owner, attribute, int(array))
        else:
            raise KeyError(f"load_torch_weights found {name!r} in the torch weights but no such "
                           f"parameter or buffer in {type(module).__name__}")
        loaded.add(name)
    missing = [name for name, _ in module.named_parameters() if name not in loaded]
    if missing:
        raise KeyError(f"load_torch_weights expected torch weights for every parameter, "
                       f"missing {missing}")
    return module
