"""Synthetic spoken keywords: an offline stand-in for a keyword-spotting corpus (chapter 13,
section "Speech recognition").

A real keyword spotter ("Hey Siri", "Alexa", "OK Google") learns from thousands of recorded
speakers. Here each word is a sequence of vowel-like sounds, each sound two tones at the first
two formant frequencies of a vowel (the resonances of the vocal tract that tell vowels apart),
gliding from one vowel to the next. Every utterance varies as speech does: its speaker (all
formants scaled), tempo, onset, loudness, per-vowel formant jitter and background noise.
Deterministic per ``seed``.
"""
from __future__ import annotations

import numpy as np

from dlkit.data._checks import balanced_labels, check_non_negative, check_positive, check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset

# first and second formants (Hz) of five vowels, rounded textbook values for an adult speaker
VOWELS: dict[str, tuple[float, float]] = {
    "a": (750.0, 1250.0), "e": (500.0, 1900.0), "i": (300.0, 2300.0),
    "o": (500.0, 900.0), "u": (320.0, 750.0),
}
# the words share vowels and some are each other's reversal, so the order in time matters
WORDS: dict[str, str] = {
    "yes": "ie", "left": "ei", "no": "ou", "go": "o", "up": "a", "down": "au", "right": "ai", "stop": "oa",
}


def _utterance(vowels: str, rng: np.random.Generator, sample_rate: int, samples: int,
               noise: float) -> np.ndarray:
    speaker = rng.uniform(0.88, 1.12)                     # vocal-tract length scales all formants
    length = int(samples * rng.uniform(0.55, 0.8))         # tempo
    onset = int(rng.integers(0, samples - length + 1))
    formants = np.array([VOWELS[v] for v in vowels]) * speaker
    formants *= rng.uniform(0.96, 1.04, size=formants.shape)
    # each vowel holds its formants for an equal share of the word; a 25 ms moving average
    # turns the steps into glides, as the tongue cannot jump between positions
    track = np.repeat(formants, -(-length // len(vowels)), axis=0)[:length]
    smooth = max(1, int(0.025 * sample_rate))
    kernel = np.ones(smooth) / smooth
    padded = np.pad(track, ((smooth // 2, smooth - 1 - smooth // 2), (0, 0)), mode="edge")
    track = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    phase = 2 * np.pi * np.cumsum(track, axis=0) / sample_rate + rng.uniform(0, 2 * np.pi, size=2)
    envelope = np.sin(np.pi * np.arange(length) / length) ** 0.5
    wave = np.zeros(samples)
    wave[onset:onset + length] = envelope * (np.sin(phase[:, 0]) + 0.6 * np.sin(phase[:, 1]))
    wave *= rng.uniform(0.5, 1.0)                           # loudness
    return wave + noise * rng.uniform(0.5, 1.5) * rng.standard_normal(samples)


def synthetic_keywords(n: int = 400, sample_rate: int = 8000, duration: float = 0.5,
                       noise: float = 0.1, words: list[str] | None = None, seed: int = 0) -> ArrayDataset:
    """``n`` synthetic utterances of the keywords in ``words`` (default: all of :data:`WORDS`),
    balanced and shuffled (chapter 13).

    ``X`` is float32 (n, sample_rate * duration) waveforms, ``y`` the word index into
    ``classes``; ``meta["sample_rate"]`` the rate in Hz.
    """
    n, sample_rate = check_positive_int("n", n, 1), check_positive_int("sample_rate", sample_rate, 1000)
    duration, noise = check_positive("duration", duration), check_non_negative("noise", noise)
    rng = np.random.default_rng(check_seed(seed))
    words = list(WORDS) if words is None else list(words)
    unknown = [w for w in words if w not in WORDS]
    if unknown or len(words) < 2:
        raise ValueError(f"expected at least two words from {sorted(WORDS)}, got {words}")
    samples = int(round(sample_rate * duration))
    if samples < 0.1 * sample_rate:
        raise ValueError(f"expected a duration of at least 0.1 s, got {duration}")
    y = balanced_labels(n, len(words), rng)
    X = np.stack([_utterance(WORDS[words[label]], rng, sample_rate, samples, noise) for label in y])
    return ArrayDataset(X.astype(np.float32), y.astype(np.int64), "keywords", words,
                        {"sample_rate": sample_rate})
