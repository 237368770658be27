"""Griffin-Lim: a waveform from a magnitude spectrogram alone (chapter 13, section "Speech
synthesis").

Tacotron 2 predicts a (mel) magnitude spectrogram but no phase. Griffin & Lim (1984) recover a
phase by alternating projections: keep the current phase, impose the target magnitude, go to
the time domain and back (which makes the spectrogram *consistent*, one that some signal
has), repeat. Each iteration cannot increase the distance to the target magnitude.
"""
from __future__ import annotations

import numpy as np

from dlkit.apps.speech import istft, stft


def spectral_convergence(target: np.ndarray, estimate: np.ndarray) -> float:
    """``||S - S_hat||_F / ||S||_F`` between two magnitude spectrograms (chapter 13)."""
    target, estimate = np.asarray(target), np.asarray(estimate)
    if target.shape != estimate.shape:
        raise ValueError(f"expected spectrograms of the same shape, got {target.shape} and {estimate.shape}")
    return float(np.linalg.norm(target - estimate) / np.linalg.norm(target))


def griffin_lim(magnitude: np.ndarray, hop_length: int = 64, n_iter: int = 50, length: int | None = None,
                momentum: float = 0.0, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """A signal whose STFT magnitude approaches ``magnitude`` (freq, frames) (chapter 13).

    Starts from random phase (from ``seed``); ``momentum`` > 0 is the "fast Griffin-Lim" of
    Perraudin et al. (2013; 0.99 in torchaudio), 0 the original. Returns the signal and the
    spectral convergence after every iteration.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    if magnitude.ndim != 2 or np.any(magnitude < 0):
        raise ValueError(f"expected a non-negative magnitude of shape (freq, frames), got shape {magnitude.shape}")
    if not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"expected n_iter >= 1, got {n_iter!r}")
    rng = np.random.default_rng(seed)
    length = length or hop_length * (magnitude.shape[1] - 1)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    previous = np.zeros_like(phase)
    history = []
    for _ in range(n_iter):
        signal = istft(magnitude * phase, hop_length, length)
        rebuilt = stft(signal, 2 * (magnitude.shape[0] - 1), hop_length)
        history.append(spectral_convergence(magnitude, np.abs(rebuilt)))
        accelerated = rebuilt + momentum * (rebuilt - previous)
        previous = rebuilt
        phase = accelerated / np.maximum(np.abs(accelerated), 1e-12)
    return istft(magnitude * phase, hop_length, length), history
