"""Post-training static int8 quantization with ``torch.ao``'s eager mode (chapter 12).

Dynamic quantization (:func:`dlkit.trust.compress.quantize_dynamic_int8`) measures each
activation's range at every call. **Static** quantization fixes those ranges ahead of time:

1. **fuse** ``Conv/Linear (+ BatchNorm) + ReLU`` into one module, so the int8 kernel applies the
   ReLU before rounding (one rounding instead of two; the BatchNorm is folded into the weights);
2. **prepare**: put an **observer** after every quantized output (and a ``QuantStub`` at the
   input) that records the range of what passes through it;
3. **calibrate**: run representative batches through the model (no gradients, no training);
4. **convert**: each observed range becomes a fixed ``(scale, zero_point)``, weights become int8
   (one symmetric scale per output channel), and the layers become integer kernels
   (``QuantizedConv2d``, ``QuantizedLinearReLU``...); ``DeQuantStub`` turns the logits back
   into floats.

Why eager mode: torch 2.10+ marks ``torch.ao.quantization`` deprecated in favour of the separate
``torchao`` package, whose successor flow (``torch.export`` then ``prepare_pt2e``/``convert_pt2e``
with ``X86InductorQuantizer``) yields a graph of quantize/dequantize ops around *float* kernels
that becomes integer code only once ``torch.compile`` lowers it. The eager API still ships with
torch 2.13, runs real int8 kernels (x86/fbgemm, or qnnpack on ARM) and shows every step, so the
chapter uses it and silences exactly its two deprecation messages here, and says so.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

# modules that compute on quantized tensors as they are (no int8 replacement needed)
_PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
                 nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.Flatten,
                 nn.Identity, nn.Dropout, nn.Hardtanh, nn.Upsample)
# what the int8 kernels replace, and the runs of consecutive modules fusion merges into one
_QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LeakyReLU,
                nn.Hardswish, nn.ELU, nn.LayerNorm, nn.GroupNorm, nn.Embedding)
_FUSABLE = [(nn.Conv1d, nn.BatchNorm1d, nn.ReLU), (nn.Conv2d, nn.BatchNorm2d, nn.ReLU),
            (nn.Conv3d, nn.BatchNorm3d, nn.ReLU), (nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d),
            (nn.Conv3d, nn.BatchNorm3d), (nn.Conv1d, nn.ReLU), (nn.Conv2d, nn.ReLU), (nn.Conv3d, nn.ReLU),
            (nn.Linear, nn.BatchNorm1d), (nn.Linear, nn.ReLU), (nn.BatchNorm2d, nn.ReLU), (nn.BatchNorm3d, nn.ReLU)]
OBSERVERS = ("histogram", "minmax")


@contextmanager
def ao_quietly() -> Iterator[None]:
    """Hide torch.ao's two deprecation messages, and only those (chapter 12; see the module
    docstring for why the chapter still uses the eager API)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", category=UserWarning,
                                message="torch.quantize_per_tensor, torch.quantize_per_channel")
        yield


def default_backend() -> str:
    """The int8 engine to use here (chapter 12): ``x86`` (fbgemm + oneDNN) on Intel/AMD, else
    ``qnnpack`` (ARM)."""
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in engines:
            return engine
    raise RuntimeError(f"this torch build has no int8 CPU engine: supported_engines = {engines}")


def static_qconfig(backend: str, observer: str = "histogram") -> torch.ao.quantization.QConfig:
    """Observers for activations (uint8, affine) and weights (int8, symmetric) (chapter 12).

    ``"minmax"`` takes the activation range from the smallest and largest values seen, so one
    outlier stretches the scale for all; ``"histogram"`` keeps a histogram and picks the range
    that minimises the squared rounding-plus-clipping error (it clips rare outliers). Weights get
    one scale per output channel (per tensor on qnnpack, whose kernels take one). On x86/fbgemm
    activations use 7 bits (0..127): CPUs without VNNI add pairs of uint8·int8 products in 16-bit
    registers, which 8-bit activations could overflow; torch's own x86 default does the same.
    """
    from torch.ao.quantization import observer as obs

    if observer not in OBSERVERS:
        raise ValueError(f"expected observer in {OBSERVERS}, got {observer!r}")
    quant_max = 127 if backend in ("x86", "fbgemm") else 255
    kind = obs.HistogramObserver if observer == "histogram" else obs.MinMaxObserver
    activation = kind.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=0, quant_max=quant_max)
    if backend == "qnnpack":
        weight = obs.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    else:
        weight = obs.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    return torch.ao.quantization.QConfig(activation=activation, weight=weight)


def fusable_groups(model: nn.Module) -> list[list[str]]:
    """Names of runs of consecutive children of each ``nn.Sequential`` that fuse into one int8
    module (``Conv+BN+ReLU``, ``Conv+ReLU``, ``Linear+ReLU``...), longest pattern first
    (chapter 12). Modules
    called from a hand-written ``forward`` cannot be fused without reading the code: they stay
    separate, which costs an extra rounding, not correctness."""
    groups: list[list[str]] = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        i = 0
        while i < len(names):
            for pattern in _FUSABLE:
                run = names[i:i + len(pattern)]
                if len(run) == len(pattern) and all(type(module._modules[n]) is kind
                                                    for n, kind in zip(run, pattern, strict=True)):
                    groups.append([f"{prefix}.{n}" if prefix else n for n in run])
                    i += len(pattern)
                    break
            else:
                i += 1
    return groups


def _check_layers(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if module._modules or isinstance(module, _PASS_THROUGH + _QUANTIZABLE + (nn.BatchNorm1d,)):
            continue
        raise ValueError(f"static int8 quantization expected layers it has int8 kernels for "
                         f"(Linear, Conv, BatchNorm, ReLU, pooling, Flatten...), found {name!r}: "
                         f"{type(module).__name__}; quantize the other layers and keep this one in "
                         f"float (put DeQuantStub/QuantStub around it), or use quantize_dynamic_int8")


def _inputs(batch: object, index: int) -> torch.Tensor:
    inputs = batch[0] if isinstance(batch, (tuple, list)) and batch else batch   # (inputs, labels) too
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise ValueError(f"expected calibration batches of float input tensors (or (inputs, labels) "
                         f"pairs), found {type(inputs).__name__} at batch {index}")
    return inputs


def quantize_static_int8(model: nn.Module, calibration_batches: Iterable[torch.Tensor], backend: str | None = None,
                         observer: str = "histogram") -> nn.Module:
    """An int8 copy of a float ``model`` in eval mode: fused, calibrated on ``calibration_batches``
    and converted to integer kernels (post-training static quantization, chapter 12).

    The copy is ``Sequential(QuantStub, fused model, DeQuantStub)``: float in, float out, every
    layer in between int8. ``calibration_batches`` is any iterable of input tensors (or of
    ``(inputs, labels)``, as a DataLoader gives); a few hundred representative examples are
    enough. ``backend`` (default :func:`default_backend`) becomes
    ``torch.backends.quantized.engine``, which the int8 model needs when it runs. CPU only; the
    original model is left as it is.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"expected an nn.Module to quantize, got {type(model).__name__}")
    if model.training:
        raise ValueError("expected a model in eval mode (call model.eval()): calibration must see "
                         "inference behaviour (BatchNorm's running statistics, no dropout), found "
                         "training mode")
    backend = default_backend() if backend is None else backend
    if backend not in torch.backends.quantized.supported_engines:
        raise ValueError(f"expected a backend in {torch.backends.quantized.supported_engines}, got {backend!r}")
    qconfig = static_qconfig(backend, observer)
    float_model = copy.deepcopy(model).cpu()
    _check_layers(float_model)
    torch.backends.quantized.engine = backend
    with ao_quietly():
        from torch.ao.quantization import DeQuantStub, QuantStub, convert, fuse_modules, prepare

        groups = fusable_groups(float_model)
        if groups:
            float_model = fuse_modules(float_model, groups)
        wrapped = nn.Sequential(QuantStub(), float_model, DeQuantStub()).eval()
        wrapped.qconfig = qconfig
        prepare(wrapped, inplace=True)
        first = None
        with torch.no_grad():
            for index, batch in enumerate(calibration_batches):
                inputs = _inputs(batch, index)
                first = inputs[:1] if first is None else first
                wrapped(inputs)
        if first is None:
            raise ValueError("expected at least one calibration batch (the observers need data to "
                             "fix the activation ranges), found none")
        convert(wrapped, inplace=True)
        try:
            with torch.no_grad():
                wrapped(first)
        except (NotImplementedError, RuntimeError) as error:
            if "Quantized" not in str(error):
                raise
            raise ValueError("static int8 quantization expected every operation between input and "
                             "output to be an int8-capable module; the model's forward applies an "
                             "operation to a quantized tensor that has no int8 kernel (a functional "
                             "call such as F.relu or x + y? use modules, or FloatFunctional for "
                             f"additions): {str(error).splitlines()[0]}") from error
    return wrapped


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the modules of ``model`` that compute in int8 (torch.ao's quantized modules,
    chapter 12)."""
    return [name for name, module in model.named_modules()
            if type(module).__module__.startswith("torch.ao.nn.quantized") and not module._modules]
