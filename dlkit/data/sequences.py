"""Synthetic sequence tasks for RNNs and Transformers (chapters 08 and 09).

Token tasks follow the conventions of :mod:`dlkit.data.vocab`: ``<pad>`` = 0, ``<unk>`` = 1,
``<bos>`` = 2, ``<eos>`` = 3, real tokens from 4. ``vocab_size`` always counts the specials,
so it is the size an ``nn.Embedding`` needs.
"""

from __future__ import annotations

import numpy as np

from dlkit.data._checks import check_non_negative, check_positive_int, check_seed
from dlkit.data.dataset import ArrayDataset
from dlkit.data.tokenizers import CharTokenizer
from dlkit.data.vocab import BOS, EOS, PAD, SPECIALS

FIRST_TOKEN = len(SPECIALS)


def make_sine(
    n: int = 500, seq_len: int = 20, horizon: int = 1, noise: float = 0.0, seed: int = 0
) -> ArrayDataset:
    """Forecasting windows of random sine waves (chapter 08).

    Each sample is one series ``s_t = A sin(w t + phase) + noise * eps_t`` of length
    ``seq_len + horizon``: ``X`` (n, seq_len, 1) float32 holds its first ``seq_len`` values,
    ``y`` (n, horizon) float32 the ``horizon`` values that follow. ``meta["series"]`` is the
    whole series.
    """
    n, seq_len = check_positive_int("n", n), check_positive_int("seq_len", seq_len)
    horizon, noise = check_positive_int("horizon", horizon), check_non_negative("noise", noise)
    rng = np.random.default_rng(check_seed(seed))
    amplitude = rng.uniform(0.5, 1.5, size=(n, 1))
    omega = rng.uniform(0.1, 0.5, size=(n, 1))  # radians per step: periods of 12..63 steps
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    t = np.arange(seq_len + horizon)
    series = amplitude * np.sin(omega * t + phase) + rng.normal(0.0, noise, size=(n, t.size))
    series = series.astype(np.float32)
    X, y = series[:, :seq_len, None], series[:, seq_len:]
    return ArrayDataset(X, y, "sine", None, {"series": series}, per_sample=("series",))


def make_copy(
    n: int = 1000, seq_len: int = 10, vocab_size: int = 12, seed: int = 0
) -> ArrayDataset:
    """Copy task (chapter 09): ``y`` equals ``X``, random tokens in 4..vocab_size-1, shape
    (n, seq_len) int64."""
    return _token_task(n, seq_len, vocab_size, seed, reverse=False)


def make_reverse(
    n: int = 1000, seq_len: int = 10, vocab_size: int = 12, seed: int = 0
) -> ArrayDataset:
    """Reversal task (chapter 09): ``y`` is ``X`` backwards, shape (n, seq_len) int64."""
    return _token_task(n, seq_len, vocab_size, seed, reverse=True)


def _token_task(n: int, seq_len: int, vocab_size: int, seed: int, reverse: bool) -> ArrayDataset:
    n, seq_len = check_positive_int("n", n), check_positive_int("seq_len", seq_len)
    vocab_size = check_positive_int("vocab_size", vocab_size, minimum=FIRST_TOKEN + 1)
    rng = np.random.default_rng(check_seed(seed))
    X = rng.integers(FIRST_TOKEN, vocab_size, size=(n, seq_len), dtype=np.int64)
    y = X[:, ::-1].copy() if reverse else X.copy()
    meta = {"vocab_size": vocab_size, "specials": {token: i for i, token in enumerate(SPECIALS)}}
    return ArrayDataset(X, y, "reverse" if reverse else "copy", None, meta)


def make_addition(n: int = 1000, num_digits: int = 2, seed: int = 0) -> ArrayDataset:
    """Addition as character sequences (chapter 09): ``"12+34"`` -> ``"46"``.

    ``X`` (n, 2 * num_digits + 2) int64 is the question's characters then ``<eos>``, padded
    with ``<pad>``; ``y`` (n, num_digits + 2) int64 is the sum's characters then ``<eos>``,
    padded. ``meta["tokenizer"]`` (a :class:`CharTokenizer` over ``"0123456789+"``) decodes
    them; ``meta["questions"]`` and ``meta["answers"]`` hold the strings.
    """
    n = check_positive_int("n", n)
    num_digits = check_positive_int("num_digits", num_digits)
    if num_digits > 18:  # sums must fit in int64
        raise ValueError(f"expected num_digits <= 18, got {num_digits}")
    rng = np.random.default_rng(check_seed(seed))
    a = rng.integers(0, 10**num_digits, size=n, dtype=np.int64)
    b = rng.integers(0, 10**num_digits, size=n, dtype=np.int64)
    questions = [f"{i}+{j}" for i, j in zip(a.tolist(), b.tolist(), strict=True)]
    answers = [str(s) for s in (a + b).tolist()]
    tokenizer = CharTokenizer("0123456789+")
    X = _encode_padded(tokenizer, questions, 2 * num_digits + 2)
    y = _encode_padded(tokenizer, answers, num_digits + 2)
    meta = {
        "tokenizer": tokenizer,
        "vocab": tokenizer.vocab,
        "vocab_size": len(tokenizer),
        "questions": np.array(questions),
        "answers": np.array(answers),
    }
    return ArrayDataset(X, y, "addition", None, meta, per_sample=("questions", "answers"))


def _encode_padded(tokenizer: CharTokenizer, texts: list[str], length: int) -> np.ndarray:
    out = np.full((len(texts), length), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        ids = [*tokenizer.encode(text), EOS]
        out[row, : len(ids)] = ids
    return out


def shift_right(y: np.ndarray, bos: int = BOS) -> np.ndarray:
    """Decoder inputs for teacher forcing (chapter 09): ``<bos>`` then ``y`` without its last
    token, so position t sees the targets before t."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"expected targets of shape (N, T), got {y.shape}")
    return np.concatenate([np.full((len(y), 1), bos, dtype=y.dtype), y[:, :-1]], axis=1)
