"""Trustworthy and efficient deep learning, the library of chapter 12.

``adversarial``: FGSM, PGD (L∞), adversarial training and robust accuracy.
``privacy``: per-sample gradients, clipping and noise (DP-SGD from scratch), privacy accounting.
"""
from dlkit.trust.adversarial import adversarial_training_step, fgsm, pgd, project_linf, robust_accuracy
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
]
