"""Bag of words and TF-IDF from scratch, with scikit-learn's conventions (chapter 08).

**Bag of words.** A document becomes a vector of counts over a fixed vocabulary: entry j is how
often word j occurs. Word order and context are lost; what remains is which words, how often.

**TF-IDF** reweights those counts so that a word counts for more when it is frequent in THIS
document (term frequency, tf) and rare ACROSS the documents (inverse document frequency, idf).
A word found in nearly every document (a stop word like "the") gets a small idf and is
DOWN-weighted; a rare, discriminative word is up-weighted. (Some course material claims TF-IDF
"gives high-frequency words higher weight": that is wrong for words frequent across documents,
which is exactly what idf suppresses.)

The textbook form is tf(t, d) · log(n / df(t)), with n documents of which df(t) contain t.
scikit-learn's ``TfidfVectorizer``, which this module reproduces exactly, uses by default:

- ``smooth_idf=True``:  idf(t) = ln((1 + n) / (1 + df(t))) + 1, as if one extra document
  contained every word once (no division by zero); ``smooth_idf=False``: ln(n / df(t)) + 1.
  The "+ 1" keeps words that occur in every document from being zeroed out entirely.
- ``sublinear_tf=False``: tf is the raw count; ``True``: tf = 1 + ln(count) for count > 0.
- ``norm="l2"``: each document's vector tf · idf is divided by its Euclidean length (``"l1"``:
  by the sum of absolute values; ``None``: not normalised). An all-zero row stays zero.
- the vocabulary is every token of the fitted documents, sorted alphabetically; tokens are
  lowercased runs of 2 or more word characters (regex ``(?u)\\b\\w\\w+\\b``); words not seen in
  ``fit`` are ignored by ``transform``.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
NORMS = ("l2", "l1", None)


def default_tokenize(text: str) -> list[str]:
    """scikit-learn's default analyzer: lowercase, then runs of 2+ word characters."""
    return TOKEN_PATTERN.findall(text.lower())


def _documents(docs: Iterable[str]) -> list[str]:
    if isinstance(docs, str):
        raise TypeError("expected an iterable of documents (strings), got one string; "
                        "wrap it in a list")
    docs = list(docs)
    bad = [d for d in docs if not isinstance(d, str)]
    if bad:
        raise TypeError(f"expected every document to be a str, got {type(bad[0]).__name__}")
    return docs


class BagOfWords:
    """Documents → count matrix (n_docs, n_words) over a vocabulary fitted on documents
    (chapter 08); matches ``sklearn.feature_extraction.text.CountVectorizer``.

    ``tokenize``: str → list of tokens (default: :func:`default_tokenize`). ``binary``: 1 if the
    word occurs at all instead of the count."""

    def __init__(self, tokenize: Callable[[str], list[str]] | None = None,
                 binary: bool = False) -> None:
        self.tokenize = tokenize or default_tokenize
        self.binary = binary
        self.vocabulary_: dict[str, int] = {}

    @property
    def feature_names(self) -> list[str]:
        """The vocabulary in column order (alphabetical)."""
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)

    def fit(self, docs: Iterable[str]) -> BagOfWords:
        words = sorted({t for doc in _documents(docs) for t in self.tokenize(doc)})
        if not words:
            raise ValueError("expected documents with at least one token, got an empty "
                             "vocabulary (only stop words, punctuation or 1-letter words?)")
        self.vocabulary_ = {word: j for j, word in enumerate(words)}
        return self

    def counts(self, docs: Iterable[str]) -> np.ndarray:
        """The raw count matrix (int64), whatever ``binary`` says."""
        if not self.vocabulary_:
            raise RuntimeError(f"{type(self).__name__} must be fitted before transform: call fit")
        docs = _documents(docs)
        matrix = np.zeros((len(docs), len(self.vocabulary_)), dtype=np.int64)
        for i, doc in enumerate(docs):
            for word, count in Counter(self.tokenize(doc)).items():
                j = self.vocabulary_.get(word)
                if j is not None:               # words unseen in fit are ignored
                    matrix[i, j] = count
        return matrix

    def transform(self, docs: Iterable[str]) -> np.ndarray:
        matrix = self.counts(docs)
        return (matrix > 0).astype(np.int64) if self.binary else matrix

    def fit_transform(self, docs: Iterable[str]) -> np.ndarray:
        docs = _documents(docs)
        return self.fit(docs).transform(docs)


def inverse_document_frequency(counts: np.ndarray, smooth: bool = True) -> np.ndarray:
    """idf per column of a count matrix (chapter 08): ln((1 + n)/(1 + df)) + 1 with ``smooth``,
    else ln(n / df) + 1, where df counts the documents (rows) that contain the word."""
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"expected a count matrix of shape (n_docs, n_words), got {counts.shape}")
    n, df = counts.shape[0], (counts > 0).sum(axis=0)
    if smooth:
        return np.log((1 + n) / (1 + df)) + 1.0
    if np.any(df == 0):
        raise ValueError("expected every word to occur in some document for smooth=False "
                         "(ln(n/0) is infinite), got a column of zeros; use smooth=True")
    return np.log(n / df) + 1.0


def tfidf_weights(counts: np.ndarray, idf: np.ndarray, sublinear_tf: bool = False,
                  norm: str | None = "l2") -> np.ndarray:
    """tf · idf per document, then normalised per row (chapter 08); see the module docstring."""
    if norm not in NORMS:
        raise ValueError(f"expected norm to be one of {NORMS}, got {norm!r}")
    tf = np.asarray(counts, dtype=np.float64)
    if sublinear_tf:
        tf = np.where(tf > 0, 1.0 + np.log(np.where(tf > 0, tf, 1.0)), 0.0)
    weights = tf * idf
    if norm is not None:
        lengths = (np.sqrt((weights**2).sum(axis=1)) if norm == "l2"
                   else np.abs(weights).sum(axis=1))
        weights /= np.where(lengths > 0, lengths, 1.0)[:, None]   # an empty document stays 0
    return weights


class TfIdf(BagOfWords):
    """Documents → TF-IDF matrix (chapter 08); matches scikit-learn's ``TfidfVectorizer`` with
    the same ``smooth_idf``, ``sublinear_tf``, ``norm``, ``use_idf`` and ``binary``.

    ``fit`` learns the vocabulary and ``idf_`` from the training documents only; ``transform``
    reuses them (never fit the idf on test documents)."""

    def __init__(self, tokenize: Callable[[str], list[str]] | None = None, binary: bool = False,
                 smooth_idf: bool = True, sublinear_tf: bool = False, norm: str | None = "l2",
                 use_idf: bool = True) -> None:
        super().__init__(tokenize, binary)
        if norm not in NORMS:
            raise ValueError(f"expected norm to be one of {NORMS}, got {norm!r}")
        self.smooth_idf, self.sublinear_tf = smooth_idf, sublinear_tf
        self.norm, self.use_idf = norm, use_idf
        self.idf_: np.ndarray | None = None

    def fit(self, docs: Iterable[str]) -> TfIdf:
        docs = _documents(docs)
        super().fit(docs)
        self.idf_ = inverse_document_frequency(super().transform(docs), self.smooth_idf)
        return self

    def transform(self, docs: Iterable[str]) -> np.ndarray:
        counts = super().transform(docs)
        idf = self.idf_ if self.use_idf else np.ones(counts.shape[1])
        return tfidf_weights(counts, idf, self.sublinear_tf, self.norm)
