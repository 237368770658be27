"""The shipped review sentences (chapter 08's text classification and sentiment analysis):
their content, the loader's two tasks, splits that keep the classes, and clear errors for a
malformed file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlkit.data import load_reviews
from dlkit.data.reviews import REVIEWS_CSV, SENTIMENTS, TOPICS


def test_the_file_ships_inside_the_package_and_holds_240_distinct_sentences():
    assert REVIEWS_CSV.is_file() and REVIEWS_CSV.parent.name == "data"
    data = load_reviews()
    assert len(data) == 240 and data.X.dtype.kind == "U"
    assert len({text.lower() for text in data.X}) == 240
    assert all(2 <= len(text.split()) <= 20 and text[-1] in ".!" for text in data.X)


def test_every_topic_has_30_positive_and_30_negative_sentences():
    data = load_reviews()
    table = np.zeros((len(TOPICS), len(SENTIMENTS)), dtype=int)
    np.add.at(table, (data.meta["topic"], data.meta["sentiment"]), 1)
    assert (table == 30).all(), table


def test_the_two_tasks_share_texts_and_differ_in_labels():
    sentiment, topic = load_reviews("sentiment"), load_reviews("topic")
    assert (sentiment.X == topic.X).all()
    assert sentiment.classes == ["negative", "positive"] and topic.classes == ["film", "food", "travel", "product"]
    assert (sentiment.y == sentiment.meta["sentiment"]).all() and (topic.y == topic.meta["topic"]).all()
    assert sentiment.is_classification and topic.is_classification
    first = sentiment.X.tolist().index("The best phone I have owned.")
    assert sentiment.classes[sentiment.y[first]] == "positive" and topic.classes[topic.y[first]] == "product"


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_stratified_split_keeps_both_label_columns_per_sample(seed):
    data = load_reviews()
    train, _, test = data.split(val=0.0, test=0.25, seed=seed)
    assert len(test) == 60 and np.bincount(test.y).tolist() == [30, 30]
    assert not set(train.X) & set(test.X)
    by_text = dict(zip(data.X, data.meta["topic"], strict=True))
    assert all(by_text[text] == topic for text, topic in zip(test.X, test.meta["topic"], strict=True))


def test_an_unknown_task_is_named_with_the_choices():
    with pytest.raises(ValueError, match=r"expected task to be one of \['sentiment', 'topic'\], got 'emotion'"):
        load_reviews("emotion")


def write(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


HEADER = ["text", "sentiment", "topic"]


def test_a_file_of_the_same_format_loads(tmp_path):
    path = write(tmp_path, [HEADER, ["Lovely soup.", "positive", "food"], ["Awful bus.", "negative", "travel"]])
    data = load_reviews(path=path)
    assert data.X.tolist() == ["Lovely soup.", "Awful bus."] and data.y.tolist() == [1, 0]
    assert data.meta["topic"].tolist() == [1, 2] and data.meta["source"] == str(path)


@pytest.mark.parametrize(("rows", "message"), [
    ([["sentence", "label"]], r"expected the header text,sentiment,topic, found \['sentence', 'label'\]"),
    ([], "expected the header text,sentiment,topic, found an empty file"),
    ([HEADER], "expected at least one review after the header, found none"),
    ([HEADER, ["Nice.", "positive"]], r"line 2: expected 3 fields \(text,sentiment,topic\), found 2"),
    ([HEADER, ["  ", "positive", "food"]], "line 2: expected a sentence in the text column, found it empty"),
    ([HEADER, ["Nice.", "Positive", "food"]],
     r"line 2: expected sentiment in \['negative', 'positive'\], found 'Positive'"),
    ([HEADER, ["Nice.", "positive", "books"]],
     r"line 2: expected topic in \['film', 'food', 'travel', 'product'\], found 'books'"),
    ([HEADER, ["Nice soup.", "positive", "food"], ["nice soup.", "negative", "food"]],
     "line 3: the sentence 'nice soup.' repeats line 2"),
])
def test_a_malformed_file_raises_naming_the_line_and_what_was_expected(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        load_reviews(path=write(tmp_path, rows))


def test_a_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a CSV file of reviews at .*nothing.csv"):
        load_reviews(path=tmp_path / "nothing.csv")
