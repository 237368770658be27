"""Bag of words and TF-IDF against scikit-learn's CountVectorizer and TfidfVectorizer (chapter 08)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from dlkit.data import WordTokenizer
from dlkit.ref.text import BagOfWords, TfIdf, default_tokenize, inverse_document_frequency

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ate", "my", "homework", "a", "I", "Cat"]
documents = st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join),
                     min_size=1, max_size=6).filter(lambda docs: any(default_tokenize(d) for d in docs))

CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "the cat ate the dog's dinner",
          "A mat, a cat; and THE end."]


@settings(max_examples=40, deadline=None)
@given(documents, st.booleans())
def test_bag_of_words_matches_count_vectorizer(docs, binary):
    theirs = CountVectorizer(binary=binary)
    expected = theirs.fit_transform(docs).toarray()
    ours = BagOfWords(binary=binary)
    np.testing.assert_array_equal(ours.fit_transform(docs), expected)
    assert ours.feature_names == list(theirs.get_feature_names_out())


@settings(max_examples=60, deadline=None)
@given(documents, st.booleans(), st.booleans(), st.sampled_from(["l2", "l1", None]), st.booleans())
def test_tfidf_matches_tfidf_vectorizer(docs, smooth_idf, sublinear_tf, norm, use_idf):
    options = dict(smooth_idf=smooth_idf, sublinear_tf=sublinear_tf, norm=norm, use_idf=use_idf)
    theirs = TfidfVectorizer(**options).fit(docs)
    ours = TfIdf(**options).fit(docs)
    np.testing.assert_allclose(ours.transform(docs), theirs.transform(docs).toarray(),
                               rtol=1e-12, atol=1e-15)
    if use_idf:
        np.testing.assert_allclose(ours.idf_, theirs.idf_, rtol=1e-14)


def test_unseen_words_are_ignored_and_the_idf_comes_from_the_training_documents():
    theirs, ours = TfidfVectorizer().fit(CORPUS), TfIdf().fit(CORPUS)
    test = ["a zebra sat on the cat", "zebra zebra", ""]
    got = ours.transform(test)
    np.testing.assert_allclose(got, theirs.transform(test).toarray(), rtol=1e-12)
    assert not got[1].any() and not got[2].any()          # nothing known: an all-zero row


def test_idf_down_weights_words_frequent_across_documents():
    """The correction of the error register (C15.22): frequent ACROSS documents → lower weight."""
    tfidf = TfIdf(norm=None).fit(CORPUS)
    idf = dict(zip(tfidf.feature_names, tfidf.idf_, strict=True))
    assert idf["the"] == pytest.approx(np.log(5 / 5) + 1) == 1.0        # in all 4 documents
    assert idf["homework"] == pytest.approx(np.log(5 / 2) + 1)          # in 1 of 4
    assert idf["the"] < idf["cat"] < idf["homework"]
    row = tfidf.transform(["the the the homework"])[0]
    columns = tfidf.vocabulary_
    # "the" is 3× as frequent in the document, yet weighs less than 1.5× "homework"
    assert row[columns["the"]] == pytest.approx(3 * 1.0)
    assert row[columns["homework"]] == pytest.approx(np.log(5 / 2) + 1)


def test_idf_formulas_by_hand():
    counts = np.array([[2, 0, 1], [1, 1, 0], [3, 0, 0]])
    df = np.array([3, 1, 1])
    np.testing.assert_allclose(inverse_document_frequency(counts), np.log(4 / (1 + df)) + 1)
    np.testing.assert_allclose(inverse_document_frequency(counts, smooth=False), np.log(3 / df) + 1)
    with pytest.raises(ValueError, match="smooth=True"):
        inverse_document_frequency(np.array([[1, 0]]), smooth=False)


def test_a_custom_tokenizer_matches_sklearn_given_the_same_one():
    tokenize = WordTokenizer("").tokenize                  # words and punctuation, lowercased
    theirs = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None).fit(CORPUS)
    ours = TfIdf(tokenize=tokenize).fit(CORPUS)
    assert "!" in ours.vocabulary_ and "a" in ours.vocabulary_
    np.testing.assert_allclose(ours.transform(CORPUS), theirs.transform(CORPUS).toarray(), rtol=1e-12)


def test_text_errors_are_clear():
    with pytest.raises(TypeError, match="one string; wrap it in a list"):
        BagOfWords().fit("the cat sat")
    with pytest.raises(ValueError, match="empty vocabulary"):
        BagOfWords().fit(["a", "I ."])
    with pytest.raises(RuntimeError, match="call fit"):
        TfIdf().transform(["the cat"])
    with pytest.raises(ValueError, match="norm"):
        TfIdf(norm="l3")
    with pytest.raises(TypeError, match="every document to be a str, got int"):
        BagOfWords().fit(["ok then", 3])
