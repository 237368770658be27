"""Trustworthy and efficient deep learning, the library of chapter 12.

``adversarial``: FGSM, PGD (L∞), adversarial training and robust accuracy.
``privacy``: per-sample gradients, clipping and noise (DP-SGD from scratch), privacy accounting.
``interpret``: saliency, Grad-CAM, occlusion and integrated gradients (each equal to Captum's).
``compress``: distillation loss, int8 quantization (by hand, an int8 Linear, torch.ao dynamic), pruning.
``static_quant``: post-training static int8 quantization (fuse, observe, calibrate, convert).
"""
from dlkit.trust.adversarial import adversarial_training_step, fgsm, pgd, project_linf, robust_accuracy
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
from dlkit.trust.interpret import (
    completeness_gap,
    grad_cam,
    integrated_gradients,
    integration_points,
    occlusion,
    saliency,
)
from dlkit.trust.privacy import (
    clip_per_sample,
    dp_sgd_step,
    noise_std,
    per_sample_gradients,
    per_sample_norms,
    privacy_spent,
    private_gradient,
)
from dlkit.trust.static_quant import int8_layers, quantize_static_int8, static_qconfig

__all__ = [
    "adversarial_training_step", "fgsm", "pgd", "project_linf", "robust_accuracy",
    "clip_per_sample", "dp_sgd_step", "noise_std", "per_sample_gradients", "per_sample_norms",
    "privacy_spent", "private_gradient",
    "Int8Linear", "dequantize", "distillation_loss", "magnitude_mask", "prune_with_mask", "quantize",
    "quantize_dynamic_int8", "serialized_size", "sparsity", "structured_mask",
    "int8_layers", "quantize_static_int8", "static_qconfig",
    "completeness_gap", "grad_cam", "integrated_gradients", "integration_points", "occlusion", "saliency",
]
