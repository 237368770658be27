"""dlkit.apps speech (chapter 13): the numpy STFT, its inverse and spectrograms against torch's,
the mel filterbank's shape, the synthetic keywords (deterministic, balanced, bad input refused),
CTC collapse and greedy decoding on hand cases and as a property, the brute-force CTC loss
against torch.nn.CTCLoss, Griffin-Lim's spectral convergence falling, and the word error rate
against hand cases and a textbook Levenshtein table."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.apps.ctc import ctc_collapse, ctc_loss_brute_force, greedy_ctc_decode
from dlkit.apps.griffin_lim import griffin_lim, spectral_convergence
from dlkit.apps.keywords import WORDS, synthetic_keywords
from dlkit.apps.speech import hz_to_mel, istft, log_mel, mel_filterbank, mel_to_hz, spectrogram, stft
from dlkit.apps.wer import EditCounts, edit_counts, word_error_rate

pytestmark = pytest.mark.numerics


def torch_stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = torch.hann_window(n_fft, dtype=torch.float64)
    return torch.stft(torch.from_numpy(x), n_fft, hop, window=window, center=True, pad_mode="reflect",
                      return_complex=True).numpy()


@pytest.mark.parametrize(("n_fft", "hop", "samples"), [(256, 64, 1000), (64, 16, 333), (32, 32, 100)])
def test_stft_and_spectrogram_match_torch(n_fft, hop, samples):
    x = np.random.default_rng(n_fft).standard_normal((3, samples))
    ours, theirs = stft(x, n_fft, hop), torch_stft(x, n_fft, hop)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    np.testing.assert_allclose(spectrogram(x[0], n_fft, hop, power=2.0), np.abs(theirs[0]) ** 2, atol=1e-8)
    # float32 torch kernels round differently: the 1e-4 the lesson promises still holds
    theirs32 = torch.stft(torch.from_numpy(x).float(), n_fft, hop, window=torch.hann_window(n_fft),
                          return_complex=True).abs().numpy()
    np.testing.assert_allclose(spectrogram(x, n_fft, hop), theirs32, atol=1e-4)


def test_istft_inverts_stft_like_torch():
    x = np.random.default_rng(1).standard_normal(777)
    spec = stft(x, 128, 32)
    np.testing.assert_allclose(istft(spec, 32, length=777), x, atol=1e-10)
    window = torch.hann_window(128, dtype=torch.float64)
    np.testing.assert_allclose(istft(spec, 32, length=777),
                               torch.istft(torch.from_numpy(spec), 128, 32, window=window, length=777).numpy(),
                               atol=1e-10)


def test_stft_refuses_bad_input():
    with pytest.raises(ValueError, match="hop_length"):
        stft(np.zeros(500), 64, 0)
    with pytest.raises(ValueError, match="samples for reflect padding"):
        stft(np.zeros(10), 64, 16)
    with pytest.raises(ValueError, match=r"\(samples,\) or \(batch, samples\)"):
        stft(np.zeros((2, 2, 300)), 64, 16)


def test_mel_filterbank_is_triangles_rising_in_frequency():
    bank = mel_filterbank(20, 256, 8000)
    assert bank.shape == (20, 129) and bank.min() >= 0 and bank.max() <= 1 + 1e-12
    peaks = bank.argmax(1)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > peaks[0]
    widths = (bank > 0).sum(1)
    assert widths[-1] > widths[0]                           # high filters are wider, as in the ear
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(np.array([0.0, 440.0, 4000.0]))), [0.0, 440.0, 4000.0])
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 1.0     # the scale is anchored at 1000 Hz = 1000 mel
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(20, 256, 8000, f_max=5000)


def test_log_mel_shape_and_a_tone_lands_in_its_band():
    rate = 8000
    tone = np.sin(2 * np.pi * 1000 * np.arange(4000) / rate)
    features = log_mel(tone, rate, n_mels=24, n_fft=256, hop_length=128)
    assert features.shape == (24, 32)
    bank = mel_filterbank(24, 256, rate)
    assert features.mean(1).argmax() == bank[:, 32].argmax()          # bin 32 is 1000 Hz


def test_synthetic_keywords_are_deterministic_balanced_and_checked():
    a, b = synthetic_keywords(48, seed=3), synthetic_keywords(48, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (48, 4000) and a.X.dtype == np.float32 and a.classes == list(WORDS)
    assert np.bincount(a.y).tolist() == [6] * 8
    assert not np.array_equal(a.X, synthetic_keywords(48, seed=4).X)
    with pytest.raises(ValueError, match="at least two words"):
        synthetic_keywords(10, words=["yes", "maybe"])
    with pytest.raises(ValueError, match="noise"):
        synthetic_keywords(10, noise=-1.0)
    with pytest.raises(ValueError, match="at least 0.1 s"):
        synthetic_keywords(10, duration=0.05)


def test_ctc_collapse_hand_cases():
    assert ctc_collapse([1, 1, 0, 1, 2, 2]) == [1, 1, 2]    # a blank keeps a double letter
    assert ctc_collapse([1, 1, 1, 2]) == [1, 2]
    assert ctc_collapse([0, 0, 0]) == []
    assert ctc_collapse([3, 0, 0, 3, 3, 0]) == [3, 3]
    assert ctc_collapse([2, 2, 5, 5], blank=5) == [2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=6), st.lists(st.integers(1, 3), min_size=6, max_size=6))
def test_ctc_collapse_inverts_any_expansion(labels, repeats):
    # expand: repeat each label, put blanks between equal neighbours (and at random elsewhere)
    path = []
    for i, (label, times) in enumerate(zip(labels, repeats, strict=False)):
        if path and (label == path[-1] or i % 2):
            path.append(0)
        path += [label] * times
    assert ctc_collapse(path) == labels
    scores = np.full((len(path), 5), -5.0)
    scores[np.arange(len(path)), path] = 0.0
    assert greedy_ctc_decode(scores) == labels


def test_greedy_decode_batches_and_torch_input():
    scores = torch.tensor([[[0.1, 0.9, 0.0], [0.9, 0.1, 0.0]], [[0.1, 0.9, 0.0], [0.1, 0.0, 0.9]]]).log()
    assert greedy_ctc_decode(scores) == [[1], [2]]
    assert greedy_ctc_decode(scores[:, 1]) == [2]
    with pytest.raises(ValueError, match=r"\(T, C\) or \(T, N, C\)"):
        greedy_ctc_decode(np.zeros(3))


@pytest.mark.parametrize("target", [[1], [1, 2], [2, 2], [1, 2, 1]])
def test_brute_force_ctc_loss_equals_torch(target):
    log_probs = F.log_softmax(torch.randn(5, 3, generator=torch.Generator().manual_seed(len(target))), -1).double()
    expected = F.ctc_loss(log_probs[:, None], torch.tensor([target]), torch.tensor([5]), torch.tensor([len(target)]),
                          reduction="sum")
    assert ctc_loss_brute_force(log_probs, target) == pytest.approx(float(expected), rel=1e-9)


def test_brute_force_ctc_loss_refuses_big_or_bad_cases():
    with pytest.raises(ValueError, match="a million paths"):
        ctc_loss_brute_force(np.zeros((20, 5)), [1])
    with pytest.raises(ValueError, match="other than blank"):
        ctc_loss_brute_force(np.zeros((3, 3)), [0, 1])
    assert ctc_loss_brute_force(np.log(np.full((2, 3), 1 / 3)), [1, 1, 1]) == float("inf")


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_spectral_convergence_falls(momentum):
    words = synthetic_keywords(8, seed=0)
    magnitude = spectrogram(words.X[0], 256, 64)
    signal, history = griffin_lim(magnitude, 64, n_iter=30, length=4000, momentum=momentum, seed=1)
    assert signal.shape == (4000,) and len(history) == 30
    assert history[-1] < 0.5 * history[0]
    assert spectral_convergence(magnitude, spectrogram(signal, 256, 64)) < history[0]
    if momentum == 0:   # the plain algorithm never increases the inconsistency
        assert all(b <= a + 1e-9 for a, b in zip(history, history[1:], strict=False))


def test_word_error_rate_hand_cases():
    assert word_error_rate("turn on the light", "turn on the light") == 0.0
    assert edit_counts("turn on the light", "turn of the light") == EditCounts(1, 0, 0)
    assert edit_counts("turn on the light", "turn the light") == EditCounts(0, 1, 0)
    assert edit_counts("turn on the light", "please turn on the light now") == EditCounts(0, 0, 2)
    assert word_error_rate("a b", "c d e f") == 2.0                       # WER can exceed 1
    assert word_error_rate(["yes"], "") == 1.0
    with pytest.raises(ValueError, match="at least one word"):
        word_error_rate("", "hello")
    with pytest.raises(TypeError, match="sequence of words"):
        word_error_rate([1, 2], "a")


def _levenshtein(a: list[str], b: list[str]) -> int:
    # the textbook full-table recursion, as an independent oracle
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return table[-1][-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcd"), min_size=1, max_size=8), st.lists(st.sampled_from("abcd"), max_size=8))
def test_edit_counts_are_a_cheapest_alignment(reference, hypothesis):
    counts = edit_counts(reference, hypothesis)
    assert counts.total == _levenshtein(reference, hypothesis)
    # the counts are consistent with the lengths: N - D + I words come out
    assert len(reference) - counts.deletions + counts.insertions == len(hypothesis)
    assert word_error_rate(reference, hypothesis) == counts.total / len(reference)
