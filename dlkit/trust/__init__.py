"""Trustworthy and efficient deep learning, the library of chapter 12.

``adversarial``: FGSM, PGD (L∞), adversarial training and robust accuracy.
``privacy``: per-sample gradients, clipping and noise (DP-SGD from scratch), privacy accounting.
``interpret``: saliency, Grad-CAM, occlusion and integrated gradients (each equal to Captum's).
"""
from dlkit.trust.adversarial import adversarial_training_step, fgsm, pgd, project_linf, robust_accuracy
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

__all__ = [
    "adversarial_training_step", "fgsm", "pgd", "project_linf", "robust_accuracy",
    "clip_per_sample", "dp_sgd_step", "noise_std", "per_sample_gradients", "per_sample_norms",
    "privacy_spent", "private_gradient",
    "completeness_gap", "grad_cam", "integrated_gradients", "integration_points", "occlusion", "saliency",
]
