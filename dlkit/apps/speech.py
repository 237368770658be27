"""Speech features from scratch: STFT, its inverse, spectrograms and log-mel features (chapter 13,
section "Speech recognition").

Plain numpy with torch's conventions (``torch.stft(..., center=True, pad_mode="reflect",
window=torch.hann_window(n_fft))``), so a learner can check every number against torch.
Arrays are (freq, frames) for one signal and (batch, freq, frames) for a batch, like torch.
"""
from __future__ import annotations

import numpy as np


def _as_signal(signal: np.ndarray, n_fft: int) -> np.ndarray:
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim not in (1, 2):
        raise ValueError(f"expected a signal of shape (samples,) or (batch, samples), got {signal.shape}")
    if signal.shape[-1] <= n_fft // 2:
        raise ValueError(f"expected more than n_fft // 2 = {n_fft // 2} samples for reflect padding, "
                         f"got {signal.shape[-1]}")
    return signal


def _check_frame(n_fft: int, hop_length: int) -> None:
    if not (isinstance(n_fft, int) and n_fft >= 2 and isinstance(hop_length, int) and 0 < hop_length <= n_fft):
        raise ValueError(f"expected integers n_fft >= 2 and 0 < hop_length <= n_fft, got n_fft={n_fft!r}, "
                         f"hop_length={hop_length!r}")


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window ``0.5 - 0.5 cos(2 pi k / n)``, as ``torch.hann_window(n)`` (chapter 13)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def stft(signal: np.ndarray, n_fft: int = 256, hop_length: int = 64) -> np.ndarray:
    """Short-time Fourier transform, complex (freq = n_fft // 2 + 1, frames) (chapter 13).

    The signal is reflect-padded by ``n_fft // 2`` on each side so frame ``m`` is centred on
    sample ``m * hop_length``; each frame is multiplied by the Hann window and Fourier-transformed.
    """
    _check_frame(n_fft, hop_length)
    signal = _as_signal(signal, n_fft)
    pad = [(0, 0)] * (signal.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    padded = np.pad(signal, pad, mode="reflect")
    num_frames = 1 + (padded.shape[-1] - n_fft) // hop_length
    starts = hop_length * np.arange(num_frames)
    frames = padded[..., starts[:, None] + np.arange(n_fft)]          # (..., frames, n_fft)
    spectrum = np.fft.rfft(frames * hann_window(n_fft), axis=-1)      # (..., frames, freq)
    return np.swapaxes(spectrum, -1, -2)


def istft(spectrum: np.ndarray, hop_length: int = 64, length: int | None = None) -> np.ndarray:
    """Inverse of :func:`stft` by windowed overlap-add (chapter 13), as ``torch.istft``.

    Each frame is inverse-transformed, windowed again and added at its place; dividing by the
    summed squared windows undoes the two windowings (the least-squares inverse).
    """
    spectrum = np.asarray(spectrum)
    if spectrum.ndim not in (2, 3):
        raise ValueError(f"expected a spectrum of shape (freq, frames) or (batch, freq, frames), got {spectrum.shape}")
    n_fft = 2 * (spectrum.shape[-2] - 1)
    _check_frame(n_fft, hop_length)
    window = hann_window(n_fft)
    frames = np.fft.irfft(np.swapaxes(spectrum, -1, -2), n=n_fft, axis=-1) * window
    num_frames = frames.shape[-2]
    total = n_fft + hop_length * (num_frames - 1)
    out = np.zeros(frames.shape[:-2] + (total,))
    norm = np.zeros(total)
    for m in range(num_frames):
        out[..., m * hop_length: m * hop_length + n_fft] += frames[..., m, :]
        norm[m * hop_length: m * hop_length + n_fft] += window ** 2
    start = n_fft // 2
    end = total - n_fft // 2 if length is None else start + length
    # the padded ends, where the windows sum to ~0, are cut away with the padding
    return out[..., start:end] / np.maximum(norm[start:end], 1e-11)


def spectrogram(signal: np.ndarray, n_fft: int = 256, hop_length: int = 64, power: float = 1.0) -> np.ndarray:
    """``|STFT|**power``: magnitude (power=1) or power (power=2) spectrogram (chapter 13)."""
    return np.abs(stft(signal, n_fft, hop_length)) ** power


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale ``2595 log10(1 + f / 700)``: equal steps sound equally far apart."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """Triangular filters, (n_mels, n_fft // 2 + 1), with centres evenly spaced in mel (chapter 13).

    Filter ``i`` rises from centre ``i - 1`` to 1 at centre ``i`` and falls to 0 at centre
    ``i + 1``; low filters are narrow and high ones wide, as the ear resolves pitch.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"expected 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
                         f"got f_min={f_min}, f_max={f_max}")
    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    centres = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(signal: np.ndarray, sample_rate: int, n_mels: int = 32, n_fft: int = 256,
            hop_length: int = 64, eps: float = 1e-6) -> np.ndarray:
    """Log-mel features, (n_mels, frames) or (batch, n_mels, frames): the input of most ASR models
    (chapter 13). ``log(M @ |STFT|^2 + eps)``; the log compresses loudness as the ear does."""
    power = spectrogram(signal, n_fft, hop_length, power=2.0)
    return np.log(mel_filterbank(n_mels, n_fft, sample_rate) @ power + eps)
