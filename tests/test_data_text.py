"""Vocabulary, tokenizers, the offline stdlib corpus and language-model windows."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.data import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    CharTokenizer,
    Vocab,
    WordTokenizer,
    load_stdlib_corpus,
    make_language_model_data,
)


def test_vocab_specials_come_first_then_frequency_then_token():
    vocab = Vocab(["b", "a", "c", "a", "b", "d", "a"])
    assert vocab.itos == [*SPECIALS, "a", "b", "c", "d"]
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert [vocab.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
    assert len(vocab) == 8 and "a" in vocab and "z" not in vocab


def test_vocab_order_does_not_depend_on_input_order():
    tokens = list("the quick brown fox jumps over the lazy dog")
    shuffled = tokens[:]
    random.Random(0).shuffle(shuffled)
    assert Vocab(tokens).itos == Vocab(shuffled).itos


def test_vocab_min_freq_max_size_and_unknown_tokens():
    tokens = list("aaaabbbcc") + ["d"]
    assert Vocab(tokens, min_freq=2).itos[4:] == ["a", "b", "c"]
    assert Vocab(tokens, max_size=6).itos[4:] == ["a", "b"]
    vocab = Vocab(tokens, min_freq=3)
    assert vocab.encode(["a", "c", "zzz"]) == [4, UNK, UNK]
    assert vocab.decode([4, 1, 0, 2, 3]) == ["a", "<unk>", "<pad>", "<bos>", "<eos>"]
    assert vocab.decode([2, 4, 3, 0], skip_specials=True) == ["a"]


def test_vocab_rejects_bad_input():
    vocab = Vocab(["x"])
    with pytest.raises(IndexError, match=r"token id in \[0, 5\), got 9"):
        vocab.id_to_token(9)
    with pytest.raises(TypeError, match="got one string"):
        Vocab("a whole sentence")
    with pytest.raises(TypeError, match="got one string"):
        vocab.encode("xx")
    with pytest.raises(ValueError, match="max_size to be an integer >= 4, got 2"):
        Vocab(["x"], max_size=2)
    with pytest.raises(ValueError, match="min_freq to be an integer >= 1, got 0"):
        Vocab(["x"], min_freq=0)
    with pytest.raises(TypeError, match="string tokens, got int"):
        Vocab([1, 2])  # type: ignore[list-item]


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=200))
def test_char_tokenizer_round_trip(text):
    tokenizer = CharTokenizer(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert len(tokenizer) == 4 + len(set(text))


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
def test_word_tokenizer_round_trip_of_tokens(text):
    tokenizer = WordTokenizer(text)
    decoded = tokenizer.decode(tokenizer.encode(text))
    assert tokenizer.tokenize(decoded) == tokenizer.tokenize(text)
    assert UNK not in tokenizer.encode(text)


def test_word_tokenizer_lowercases_and_splits_punctuation():
    tokenizer = WordTokenizer("Don't stop, DON'T!")
    assert tokenizer.tokenize("Don't stop, DON'T!") == [
        "don",
        "'",
        "t",
        "stop",
        ",",
        "don",
        "'",
        "t",
        "!",
    ]
    assert tokenizer.vocab.itos[4:7] == ["'", "don", "t"]  # frequency 2, then by token
    assert tokenizer.encode("stop cats") == [tokenizer.vocab.token_to_id("stop"), UNK]
    assert tokenizer.decode([BOS, *tokenizer.encode("don't"), EOS, PAD]) == "don ' t"


def test_char_tokenizer_decodes_numpy_rows_and_skips_padding():
    tokenizer = CharTokenizer("abc")
    row = np.array([*tokenizer.encode("cab"), EOS, PAD, PAD])
    assert tokenizer.decode(row) == "cab"
    assert tokenizer.decode(row, skip_specials=False) == "cab<eos><pad><pad>"
    with pytest.raises(TypeError, match="expected text"):
        tokenizer.encode(["a"])  # type: ignore[arg-type]


def test_stdlib_corpus_is_substantial_english_text():
    text = load_stdlib_corpus()
    assert isinstance(text, str) and len(text) > 200_000
    assert text.startswith("argparse\n\n")
    assert "textwrap.dedent\n\nRemove any common leading whitespace" in text
    assert load_stdlib_corpus(max_chars=1000) == text[:1000]
    with pytest.raises(ValueError, match="max_chars to be an integer >= 1, got 0"):
        load_stdlib_corpus(max_chars=0)


def test_stdlib_corpus_is_the_same_in_a_fresh_process_whatever_was_imported():
    # torch patches inspect.getfile at import time; the corpus must not notice
    script = (
        "import hashlib, sys\n"
        "if sys.argv[1] == 'torch': import torch\n"
        "from dlkit.data import load_stdlib_corpus\n"
        "print(hashlib.sha256(load_stdlib_corpus().encode()).hexdigest())\n"
    )
    digests = set()
    for first, hash_seed in (("none", "1"), ("torch", "2")):
        result = subprocess.run(
            [sys.executable, "-c", script, first],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        digests.add(result.stdout.strip())
    digests.add(hashlib.sha256(load_stdlib_corpus().encode()).hexdigest())
    assert len(digests) == 1


@pytest.mark.parametrize("stride", [None, 3])
def test_language_model_targets_are_the_next_tokens(stride):
    text = load_stdlib_corpus(max_chars=5000)
    tokenizer = CharTokenizer(text)
    ds = make_language_model_data(text, tokenizer, seq_len=32, stride=stride)
    ids = np.array(tokenizer.encode(text))
    step = 32 if stride is None else stride
    assert ds.X.shape[1] == 32 and ds.X.dtype == ds.y.dtype == np.int64
    assert len(ds) == len(range(0, len(ids) - 32, step))
    for i in (0, 1, len(ds) - 1):
        np.testing.assert_array_equal(ds.X[i], ids[i * step : i * step + 32])
        np.testing.assert_array_equal(ds.y[i], ids[i * step + 1 : i * step + 33])
    assert tokenizer.decode(ds.X[0]) == text[:32]
    assert ds.meta["vocab_size"] == len(tokenizer)


def test_language_model_data_with_words_and_bad_arguments():
    text = "the cat sat on the mat . the dog sat on the log ."
    ds = make_language_model_data(text, WordTokenizer(text), seq_len=4)
    assert ds.X.shape == (3, 4)
    np.testing.assert_array_equal(ds.y[:, :-1], ds.X[:, 1:])
    with pytest.raises(ValueError, match="at least seq_len \\+ 1 = 21 tokens, got 14"):
        make_language_model_data(text, WordTokenizer(text), seq_len=20)
    with pytest.raises(ValueError, match="seq_len to be an integer >= 1, got 0"):
        make_language_model_data(text, WordTokenizer(text), seq_len=0)
    with pytest.raises(TypeError, match="expected a dlkit tokenizer"):
        make_language_model_data(text, str.split, seq_len=2)  # type: ignore[arg-type]
