"""Smaller, faster models: knowledge distillation, int8 quantization and pruning (chapter 12).

- distillation (Hinton et al., 2015): the student matches the teacher's probabilities softened
  by a temperature T, plus the usual loss on the labels. The soft term's gradient shrinks like
  1/T², so it is multiplied by T² to keep its weight when T changes.
- quantization: store a float tensor as 8-bit integers ``q`` with a ``scale`` (and a
  ``zero_point``): ``x ≈ scale·(q − zero_point)``. Rounding moves each value by at most
  ``scale/2``. Symmetric (zero_point 0, int8) suits weights centred on 0; affine (uint8) uses the
  whole range of skewed values such as activations after ReLU. A ``Linear`` layer keeps int8
  weights, one scale per output row; ``torch.ao``'s dynamic quantization does this for a whole
  model and also quantizes the activations on the fly (static quantization, with calibrated
  activation ranges, is in :mod:`dlkit.trust.static_quant`).
- pruning: zero the weights of smallest magnitude (unstructured), or whole rows/channels of
  smallest norm (structured; only structured pruning makes dense hardware faster). The masks
  equal ``torch.nn.utils.prune``'s, and :func:`prune_with_mask` installs them the way it does.
"""
from __future__ import annotations

import io
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from dlkit.trust._checks import check_epsilon

# -- distillation ----------------------------------------------------------------------------


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor | None,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """``α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y)``, averaged over the batch
    (chapter 12).

    The teacher's logits are detached (the teacher is not trained). With ``target`` None (or
    ``alpha`` 1) only the soft term remains.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(f"expected student and teacher logits of the same shape (N, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    temperature = check_epsilon("temperature", temperature, allow_zero=False)
    if not 0 <= alpha <= 1:
        raise ValueError(f"expected alpha in [0, 1], got {alpha}")
    if target is None and alpha != 1:
        raise ValueError(f"expected labels (target) for the hard term, weight {1 - alpha:g}; got None")
    soft_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    soft_student = F.log_softmax(student_logits / temperature, dim=1)
    soft = F.kl_div(soft_student, soft_teacher, reduction="batchmean", log_target=True)
    loss = alpha * temperature**2 * soft
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(student_logits, target)
    return loss


# -- quantization ----------------------------------------------------------------------------

def quantize(x: torch.Tensor, scheme: str = "symmetric", dim: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """8-bit ``(q, scale, zero_point)`` of a float tensor (chapter 12).

    ``"symmetric"``: int8 in [−127, 127], ``scale = max|x|/127``, zero_point 0.
    ``"affine"``: uint8 in [0, 255] over ``[min(x, 0), max(x, 0)]``: ``scale = range/255``,
    ``zero_point = round(−min/scale)`` so that 0.0 is exact. With ``dim`` there is one scale per
    slice along that dimension (per channel); otherwise one for the whole tensor. The affine
    scale and zero point are torch's ``MinMaxObserver``'s; for symmetric, torch divides by 127.5
    and allows −128, the textbook (and this) keeps the range symmetric. Given a scale and zero
    point, the integers equal ``torch.quantize_per_tensor``/``per_channel``'s.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
        raise ValueError(f"expected a non-empty float tensor, got {x!r:.60}")
    if scheme not in ("symmetric", "affine"):
        raise ValueError(f"expected scheme 'symmetric' or 'affine', got {scheme!r}")
    x = x.detach().float()
    if dim is None:
        flat = x.reshape(1, -1)
    else:
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(f"expected dim in [{-x.ndim}, {x.ndim}) for a tensor of shape {tuple(x.shape)}, got {dim}")
        flat = x.movedim(dim, 0).reshape(x.shape[dim], -1)
    low = flat.min(dim=1).values.clamp(max=0)
    high = flat.max(dim=1).values.clamp(min=0)
    tiny = torch.finfo(torch.float32).eps  # an all-zero slice still needs a positive scale
    if scheme == "symmetric":
        scale = (torch.maximum(-low, high) / 127).clamp(min=tiny)
        zero_point = torch.zeros_like(scale, dtype=torch.long)
        qmin, qmax, dtype = -127, 127, torch.int8
    else:
        scale = ((high - low) / 255).clamp(min=tiny)
        zero_point = (-low / scale).round().clamp(0, 255).long()
        qmin, qmax, dtype = 0, 255, torch.uint8
    shape = [1] * x.ndim
    if dim is not None:
        shape[dim] = -1
    q = (x / scale.reshape(shape)).round() + zero_point.reshape(shape)
    q = q.clamp(qmin, qmax).to(dtype)
    if dim is None:
        return q, scale[0], zero_point[0]
    return q, scale, zero_point


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """``scale·(q − zero_point)`` back in float32; ``dim`` as given to :func:`quantize` (chapter 12)."""
    shape = [1] * q.ndim
    if dim is not None:
        shape[dim] = -1
    return (q.float() - zero_point.reshape(shape).float()) * scale.reshape(shape)


class Int8Linear(nn.Module):
    """A ``Linear`` whose weight is stored as int8, one symmetric scale per output row
    (chapter 12). The bias stays float (it is tiny); ``forward`` dequantizes and multiplies.

    Each weight is off by at most its row's ``scale/2``, so output ``j`` is off by at most
    ``scale_j/2 · Σᵢ|xᵢ|`` (:meth:`error_bound`).
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        if not isinstance(linear, nn.Linear):
            raise ValueError(f"expected an nn.Linear to quantize, got {type(linear).__name__}")
        q, scale, _ = quantize(linear.weight, "symmetric", dim=0)
        self.register_buffer("weight_int8", q)
        self.register_buffer("scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8.float() * self.scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Int8Linear expected inputs with {self.in_features} features in the last "
                             f"dimension, got shape {tuple(x.shape)}")
        return F.linear(x, self.dequantized_weight(), self.bias)

    def error_bound(self, x: torch.Tensor) -> torch.Tensor:
        """Worst-case ``|int8 output − float output|`` per output, for inputs ``x``."""
        return x.abs().sum(dim=-1, keepdim=True) * self.scale / 2


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``Linear`` layers run in int8 (``torch.ao`` dynamic quantization:
    weights quantized once, activations at each call from their observed range) (chapter 12).
    CPU only; the original model is left as it is."""
    # torch 2.10+ marks torch.ao.quantization deprecated in favour of the separate torchao
    # package; the eager API still works and is what the chapter shows (see dlkit.trust.static_quant)
    from dlkit.trust.static_quant import ao_quietly

    with ao_quietly():
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=False)


def serialized_size(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size on disk a compression changes."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


# -- pruning ----------------------------------------------------------------------------------

def _count(amount: float | int, n: int) -> int:
    """How many of ``n`` entries ``amount`` (a fraction, or a count) means, as torch.nn.utils.prune."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValueError(f"expected amount to be a fraction in [0, 1] or a count, got {amount!r}")
    if isinstance(amount, int):
        if not 0 <= amount <= n:
            raise ValueError(f"expected a count of entries to prune in [0, {n}], got {amount}")
        return amount
    if not 0 <= amount <= 1:
        raise ValueError(f"expected amount to be a fraction in [0, 1], got {amount}")
    return round(amount * n)


def magnitude_mask(weight: torch.Tensor, amount: float | int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """A 0/1 mask that removes the ``amount`` smallest-magnitude entries still unmasked (chapter 12).

    With an earlier ``mask``, ``amount`` counts among the surviving entries, as repeated
    ``prune.l1_unstructured`` calls do (0.5 twice leaves a quarter).
    """
    mask = torch.ones_like(weight) if mask is None else mask.clone()
    if mask.shape != weight.shape:
        raise ValueError(f"expected a mask shaped like the weight {tuple(weight.shape)}, got {tuple(mask.shape)}")
    alive = mask.flatten().nonzero().squeeze(1)
    k = _count(amount, alive.numel())
    if k:
        smallest = weight.detach().flatten()[alive].abs().topk(k, largest=False).indices
        mask.view(-1)[alive[smallest]] = 0
    return mask


def structured_mask(weight: torch.Tensor, amount: float | int, dim: int = 0, norm: float = 2) -> torch.Tensor:
    """A 0/1 mask that removes whole slices along ``dim`` (output rows of a Linear, filters of a
    conv for ``dim=0``) of smallest L``norm`` (chapter 12); equals ``prune.ln_structured``'s."""
    if not -weight.ndim <= dim < weight.ndim:
        raise ValueError(f"expected dim in [{-weight.ndim}, {weight.ndim}) for a weight of shape "
                         f"{tuple(weight.shape)}, got {dim}")
    slices = weight.detach().movedim(dim, 0).reshape(weight.shape[dim], -1)
    keep = slices.shape[0] - _count(amount, slices.shape[0])
    mask = torch.zeros_like(weight)
    if keep:
        kept = slices.norm(p=norm, dim=1).topk(keep).indices
        mask.index_fill_(dim, kept, 1.0)
    return mask


def prune_with_mask(module: nn.Module, mask: torch.Tensor, name: str = "weight") -> nn.Module:
    """Apply ``mask`` to ``module.<name>`` the way ``torch.nn.utils.prune`` does (chapter 12): the
    parameter becomes ``<name>_orig``, the mask a ``<name>_mask`` buffer, and ``<name>`` is
    recomputed as their product before every forward, so training keeps pruned weights at 0.
    ``torch.nn.utils.prune.remove`` makes it permanent."""
    return prune.custom_from_mask(module, name, mask)


def sparsity(modules: Iterable[nn.Module] | nn.Module) -> float:
    """Fraction of zero entries among the ``weight`` tensors of the Linear and Conv layers."""
    layers = [m for m in (modules.modules() if isinstance(modules, nn.Module) else modules)
              if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    if not layers:
        raise ValueError("expected at least one Linear or Conv layer, found none")
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    return zeros / sum(m.weight.numel() for m in layers)
