"""dlkit.trust.compress (chapter 12): the distillation loss against a hand computation and its T²
factor, int8 quantization against torch's quantized tensors with the scale/2 error bound, an int8
Linear, torch.ao dynamic quantization of a digits MLP (about a quarter of the size, within a point
of float accuracy over 5 seeds), static int8 quantization of the digits MLP and CNN (fused int8
kernels, within a point of float, calibration that matters, clear errors), and pruning masks equal
to torch.nn.utils.prune's."""
from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.ao.nn import quantized as int8_nn
from torch.ao.nn.intrinsic import quantized as int8_intrinsic
from torch.nn.utils import prune

import dlkit
from dlkit.data import load_digits
from dlkit.models import MLP
from dlkit.runtime import torch_threads
from dlkit.trust.compress import (
    Int8Linear,
    dequantize,
    distillation_loss,
    magnitude_mask,
    prune_with_mask,
    quantize,
    quantize_dynamic_int8,
    serialized_size,
    sparsity,
    structured_mask,
)
from dlkit.trust.static_quant import fusable_groups, int8_layers, quantize_static_int8

pytestmark = pytest.mark.filterwarnings(
    # torch 2.13 marks its quantized tensors and torch.ao.quantization deprecated (in favour of the
    # torchao package); they are the oracle here and still compute the same numbers
    "ignore:torch.quantize_per_tensor, torch.quantize_per_channel", "ignore:torch.ao.quantization is deprecated")

# -- distillation ---------------------------------------------------------------------------


def test_distillation_loss_equals_a_hand_computation():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 5, generator=generator), 3 * torch.randn(4, 5, generator=generator)
    target = torch.tensor([0, 3, 1, 4])
    T, alpha = 3.0, 0.7
    expected = 0.0
    for s, t, y in zip(student.tolist(), teacher.tolist(), target.tolist(), strict=True):
        p = [math.exp(v / T) for v in t]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / T) for v in s]
        q = [v / sum(q) for v in q]
        kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
        ce = -math.log(math.exp(s[y]) / sum(math.exp(v) for v in s))
        expected += (alpha * T * T * kl + (1 - alpha) * ce) / 4
    assert float(distillation_loss(student, teacher, target, T, alpha)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_the_t_squared_factor_keeps_the_soft_gradient_at_scale(temperature):
    # ∂/∂s of T²·KL = T·(softmax(s/T) − softmax(t/T))/N; for large T that tends to
    # (s − mean s − (t − mean t))/(K·N), independent of T: the reason for the T² factor
    generator = torch.Generator().manual_seed(1)
    # float64: at T = 20 the two softmaxes nearly cancel, float32 would leave 1e-7 of rounding
    student = torch.randn(3, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    distillation_loss(student, teacher, None, temperature, alpha=1.0).backward()
    s = student.detach()
    by_hand = temperature * (torch.softmax(s / temperature, 1) - torch.softmax(teacher / temperature, 1)) / 3
    torch.testing.assert_close(student.grad, by_hand, rtol=1e-10, atol=1e-12)


def test_with_the_t_squared_factor_the_soft_gradient_tends_to_a_t_free_limit():
    # for large T, T·(softmax(s/T) − softmax(t/T))/N → (s − mean s − (t − mean t))/(K·N): the
    # gradient keeps its size as T grows (without T² it would shrink like 1/T²)
    generator = torch.Generator().manual_seed(1)
    s = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    teacher = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    limit = ((s - s.mean(1, keepdim=True)) - (teacher - teacher.mean(1, keepdim=True))) / (6 * 3)
    errors = []
    for temperature in (10.0, 100.0, 1000.0):
        student = s.clone().requires_grad_(True)
        distillation_loss(student, teacher, None, temperature, alpha=1.0).backward()
        errors.append(float((student.grad - limit).norm() / limit.norm()))
    assert errors[0] < 0.2 and errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5, errors


def test_distillation_loss_says_what_it_expected():
    with pytest.raises(ValueError, match=r"same shape \(N, classes\), got \(4, 5\) and \(4, 6\)"):
        distillation_loss(torch.zeros(4, 5), torch.zeros(4, 6), None, alpha=1.0)
    with pytest.raises(ValueError, match="expected labels"):
        distillation_loss(torch.zeros(4, 5), torch.zeros(4, 5), None, alpha=0.5)
    with pytest.raises(ValueError, match="expected temperature > 0, got 0"):
        distillation_loss(torch.zeros(4, 5), torch.zeros(4, 5), None, temperature=0, alpha=1.0)


# -- quantization ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-2, 2), spread=st.floats(1e-3, 100))
def test_quantize_dequantize_is_within_half_a_step_and_equals_torch(seed, shift, spread):
    x = shift * spread + spread * torch.randn(7, 9, generator=torch.Generator().manual_seed(seed))
    for scheme, dtype in (("symmetric", torch.qint8), ("affine", torch.quint8)):
        q, scale, zero_point = quantize(x, scheme)
        error = (dequantize(q, scale, zero_point) - x).abs().max()
        assert error <= scale / 2 * (1 + 1e-5), f"{scheme}: error {error} > scale/2 = {scale / 2}"
        theirs = torch.quantize_per_tensor(x, float(scale), int(zero_point), dtype)
        assert torch.equal(q.int(), theirs.int_repr().int()), scheme
        torch.testing.assert_close(dequantize(q, scale, zero_point), theirs.dequantize(), rtol=0, atol=0)


def test_affine_scale_and_zero_point_are_torchs_min_max_observers():
    from torch.ao.quantization.observer import MinMaxObserver

    x = torch.rand(100) * 5 - 1
    observer = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    observer(x)
    their_scale, their_zero_point = observer.calculate_qparams()
    _, scale, zero_point = quantize(x, "affine")
    assert float(scale) == pytest.approx(float(their_scale), rel=1e-6) and int(zero_point) == int(their_zero_point)


def test_per_channel_quantization_equals_torch_and_has_a_scale_per_row():
    w = torch.randn(6, 10) * torch.logspace(-2, 1, 6)[:, None]
    q, scale, zero_point = quantize(w, "symmetric", dim=0)
    assert scale.shape == (6,)
    theirs = torch.quantize_per_channel(w, scale, zero_point, 0, torch.qint8)
    assert torch.equal(q, theirs.int_repr())
    assert ((dequantize(q, scale, zero_point, dim=0) - w).abs() <= scale[:, None] / 2 * (1 + 1e-5)).all()


def test_an_int8_linear_is_a_quarter_of_the_weight_bytes_and_within_its_error_bound():
    torch.manual_seed(0)
    linear = nn.Linear(32, 16)
    small = Int8Linear(linear)
    assert small.weight_int8.dtype == torch.int8
    assert small.weight_int8.element_size() * 4 == linear.weight.element_size()
    x = torch.randn(50, 32)
    error = (small(x) - linear(x)).abs()
    assert (error <= small.error_bound(x) + 1e-6).all()
    assert error.max() > 0, "int8 weights do round"
    with pytest.raises(ValueError, match=r"expected inputs with 32 features .* got shape \(50, 31\)"):
        small(x[:, :31])


def train_on_digits(model: nn.Module, X: torch.Tensor, y: torch.Tensor, seed: int, epochs: int, lr: float) -> nn.Module:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(X), generator=order).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def train_digits_mlp(seed: int):
    dlkit.seed(seed)
    train, _, test = load_digits().split(val=0.1, test=0.2, seed=seed)
    X, y = torch.from_numpy(train.X), torch.from_numpy(train.y)
    model = train_on_digits(MLP(64, [256, 256], 10), X, y, seed, epochs=20, lr=2e-3)
    return model, torch.from_numpy(test.X), torch.from_numpy(test.y)


@pytest.mark.numerics
@pytest.mark.parametrize("seed", range(5))
def test_dynamic_int8_digits_mlp_is_a_quarter_of_the_size_within_a_point(seed):
    with torch_threads(1):
        model, X, y = train_digits_mlp(seed)
        small = quantize_dynamic_int8(model)
        with torch.no_grad():
            accuracy = float((model(X).argmax(1) == y).float().mean())
            int8_accuracy = float((small(X).argmax(1) == y).float().mean())
    ratio = serialized_size(small) / serialized_size(model)
    figures = f"seed {seed}: float {accuracy:.4f}, int8 {int8_accuracy:.4f}, size ratio {ratio:.3f}"
    # seen on seeds 0-4: float 0.964-0.975, int8 the same accuracy on each seed, ratio 0.266
    assert accuracy > 0.95, figures
    assert abs(int8_accuracy - accuracy) <= 0.01, figures
    assert 0.22 < ratio < 0.30, figures
    assert not any(isinstance(m, nn.Linear) for m in small.modules()), "every Linear became int8"
    assert isinstance(model[1], nn.Linear), "the float model is left as it was"


# -- static int8 ---------------------------------------------------------------------------

def train_digits_cnn(seed: int):
    dlkit.seed(seed)
    train, _, test = load_digits(images=True).split(val=0.1, test=0.2, seed=seed)
    X, y = torch.from_numpy(train.X), torch.from_numpy(train.y)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 2 * 2, 10))
    model = train_on_digits(model, X, y, seed, epochs=10, lr=3e-3)
    return model, X, torch.from_numpy(test.X), torch.from_numpy(test.y)


@pytest.mark.numerics
@pytest.mark.parametrize("seed", range(5))
def test_static_int8_digits_models_run_int8_kernels_within_a_point(seed):
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("error")            # the eager flow's deprecation notices stay inside
        cnn, X_train, X, y = train_digits_cnn(seed)
        mlp = train_digits_mlp(seed)[0]
        small_cnn = quantize_static_int8(cnn, X_train[:256].split(64))
        small_mlp = quantize_static_int8(mlp, X_train[:256].flatten(1).split(64))
        with torch.no_grad():
            float_cnn, int8_cnn = cnn(X).argmax(1), small_cnn(X).argmax(1)
            float_mlp, int8_mlp = mlp(X.flatten(1)).argmax(1), small_mlp(X.flatten(1)).argmax(1)
    accuracy = {name: float((predicted == y).float().mean()) for name, predicted in
                (("float cnn", float_cnn), ("int8 cnn", int8_cnn), ("float mlp", float_mlp), ("int8 mlp", int8_mlp))}
    agreement = float((int8_cnn == float_cnn).float().mean()), float((int8_mlp == float_mlp).float().mean())
    ratio = serialized_size(small_mlp) / serialized_size(mlp)
    figures = f"seed {seed}: {accuracy}, agreement {agreement}, mlp size ratio {ratio:.3f}"
    # seen on seeds 0-4 (also under the forced kernels): |int8 - float| <= 0.006, agreement
    # >= 0.989, mlp size ratio 0.297 (per-channel scales in float64 take the rest above 1/4)
    assert min(agreement) >= 0.95, figures
    assert abs(accuracy["int8 cnn"] - accuracy["float cnn"]) <= 0.01, figures
    assert abs(accuracy["int8 mlp"] - accuracy["float mlp"]) <= 0.01, figures
    assert 0.25 < ratio <= 0.30, figures
    layers = dict(small_cnn.named_modules())
    assert all(isinstance(layers[n], int8_intrinsic.ConvReLU2d) for n in ("1.0", "1.3")), "conv + ReLU fused in one"
    assert isinstance(layers["1.7"], int8_nn.Linear) and isinstance(layers["0"], int8_nn.Quantize)
    assert not any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in small_cnn.modules()), "no float layer left"
    assert len(int8_layers(small_mlp)) == 5 and isinstance(mlp[1], nn.Linear), "the float model is left as it was"


def test_calibration_sets_the_activation_ranges():
    # observers calibrated on blank images fix the input range at [0, 0]: every real pixel then
    # rounds to the one representable value and the int8 model can only guess
    with torch_threads(1):
        cnn, X_train, X, y = train_digits_cnn(0)
        calibrated = quantize_static_int8(cnn, [X_train[:256]])
        blank = quantize_static_int8(cnn, [torch.zeros_like(X_train[:256])])
        minmax = quantize_static_int8(cnn, [X_train[:256]], observer="minmax")
        with torch.no_grad():
            accuracy = [float((model(X).argmax(1) == y).float().mean()) for model in (cnn, calibrated, blank, minmax)]
    assert accuracy[1] > accuracy[0] - 0.01 and accuracy[3] > accuracy[0] - 0.01, accuracy
    assert accuracy[2] < 0.3, accuracy    # seen: 0.10, chance level
    assert float(calibrated[0].scale) == pytest.approx(1 / 127, rel=0.05), "x86: 7-bit activations over [0, 1]"
    assert float(blank[0].scale) < 1e-4


def test_conv_batchnorm_relu_fuse_into_one_int8_layer_that_matches_float():
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 4), nn.ReLU())
    with torch.no_grad():                       # BatchNorm statistics as after training
        model[1].running_mean.uniform_(-0.5, 0.5, generator=generator)
        model[1].running_var.uniform_(0.5, 2.0, generator=generator)
    model.eval()
    assert fusable_groups(model) == [["0", "1", "2"], ["4", "5"]]
    x = torch.rand(128, 3, 6, 6, generator=generator)
    small = quantize_static_int8(model, x.split(32))
    kinds = (int8_intrinsic.ConvReLU2d, nn.Identity, nn.Identity, nn.Flatten, int8_intrinsic.LinearReLU, nn.Identity)
    assert all(isinstance(layer, kind) for layer, kind in zip(small[1], kinds, strict=True)), small
    with torch.no_grad():
        expected, found = model(x), small(x)
    output_step = float(small[1][4].scale)
    assert (found - expected).abs().max() < 4 * output_step, "within a few rounding steps of the output"
    assert isinstance(model[1], nn.BatchNorm2d), "the float model is left as it was"


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)      # a float addition: no int8 kernel for quantized tensors


@pytest.mark.parametrize("model, batches, options, message", [
    (nn.Linear(4, 2), [torch.rand(3, 4)], {}, "expected a model in eval mode (call model.eval())"),
    (nn.Linear(4, 2).eval(), [], {}, "expected at least one calibration batch"),
    (nn.Linear(4, 2).eval(), [[1.0, 2.0]], {}, "expected calibration batches of float input tensors"),
    (nn.Sequential(nn.Linear(4, 2), nn.Sigmoid()).eval(), [torch.rand(3, 4)], {}, "found '1': Sigmoid"),
    (_Residual().eval(), [torch.rand(3, 4)], {}, "has no int8 kernel (a functional call such as F.relu or x + y?"),
    (nn.Linear(4, 2).eval(), [torch.rand(3, 4)], {"backend": "tpu"}, "expected a backend in"),
    (nn.Linear(4, 2).eval(), [torch.rand(3, 4)], {"observer": "percentile"},
     "expected observer in ('histogram', 'minmax')"),
    ("not a model", [torch.rand(3, 4)], {}, "expected an nn.Module to quantize, got str"),
])
def test_static_quantization_says_what_it_expected(model, batches, options, message):
    with pytest.raises(ValueError) as error:
        quantize_static_int8(model, batches, **options)
    assert message in str(error.value)


# -- pruning --------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), amount=st.one_of(st.floats(0, 1), st.integers(0, 40)),
       again=st.floats(0, 1))
def test_magnitude_masks_equal_l1_unstructured_also_when_repeated(seed, amount, again):
    torch.manual_seed(seed)
    layer = nn.Linear(8, 5)
    mask = magnitude_mask(layer.weight, amount)
    prune.l1_unstructured(layer, "weight", amount)
    assert torch.equal(mask, layer.weight_mask)
    mask = magnitude_mask(layer.weight_orig, again, mask)
    prune.l1_unstructured(layer, "weight", again)  # torch counts `again` among the survivors
    assert torch.equal(mask, layer.weight_mask)


@pytest.mark.parametrize("dim, amount, norm", [(0, 0.5, 2), (1, 0.25, 1), (0, 3, 2), (1, 1.0, 2)])
def test_structured_masks_equal_ln_structured(dim, amount, norm):
    torch.manual_seed(dim)
    conv = nn.Conv2d(4, 6, 3)
    mask = structured_mask(conv.weight, amount, dim=dim, norm=norm)
    prune.ln_structured(conv, "weight", amount, n=norm, dim=dim)
    assert torch.equal(mask, conv.weight_mask)
    removed = (mask.movedim(dim, 0).reshape(mask.shape[dim], -1).sum(1) == 0).sum()
    assert int(removed) == (amount if isinstance(amount, int) else round(amount * mask.shape[dim]))


def test_prune_with_mask_behaves_like_torch_prune_through_training():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    theirs = copy.deepcopy(model)
    prune_with_mask(model[0], magnitude_mask(model[0].weight, 0.6))
    prune.l1_unstructured(theirs[0], "weight", 0.6)
    assert sorted(dict(model[0].named_buffers())) == ["weight_mask"]
    assert sparsity(model[0]) == pytest.approx(0.6)
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    for net in (model, theirs):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
    torch.testing.assert_close(model[0].weight, theirs[0].weight, rtol=0, atol=0)
    assert sparsity(model[0]) == pytest.approx(0.6), "pruned weights stay at zero while training"


@pytest.mark.parametrize("call, message", [
    (lambda w: magnitude_mask(w, 1.5), "expected amount to be a fraction in [0, 1], got 1.5"),
    (lambda w: magnitude_mask(w, 41), "expected a count of entries to prune in [0, 40], got 41"),
    (lambda w: magnitude_mask(w, 0.5, torch.ones(3)), "expected a mask shaped like the weight (5, 8), got (3,)"),
    (lambda w: structured_mask(w, 0.5, dim=2), "expected dim in [-2, 2) for a weight of shape (5, 8), got 2"),
    (lambda w: quantize(w, "log"), "expected scheme 'symmetric' or 'affine', got 'log'"),
    (lambda w: quantize(w.long()), "expected a non-empty float tensor"),
])
def test_bad_arguments_say_what_was_expected(call, message):
    with pytest.raises(ValueError) as error:
        call(torch.randn(5, 8))
    assert message in str(error.value)
