"""Short labelled reviews that ship with dlkit: text classification and sentiment (chapter 08).

``reviews.csv`` beside this file holds 240 one-sentence reviews written for this course (not
scraped from anywhere): 30 positive and 30 negative sentences for each of four topics (films,
food, travel, products). The columns are ``text,sentiment,topic``. Many sentences come in
pairs that share their topic words and differ in the words that carry the opinion ("The best
phone I have owned." / "The worst phone I have owned."), so a classifier has to learn which
words are about the opinion and which are about the subject.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from dlkit.data._checks import check_choice
from dlkit.data.dataset import ArrayDataset

REVIEWS_CSV = Path(__file__).with_name("reviews.csv")
COLUMNS = ("text", "sentiment", "topic")
SENTIMENTS = ("negative", "positive")
TOPICS = ("film", "food", "travel", "product")
TASKS = ("sentiment", "topic")


def load_reviews(task: str = "sentiment", path: str | Path | None = None) -> ArrayDataset:
    """The course's labelled sentences (chapter 08): ``X`` the texts (a numpy array of str),
    ``y`` int64 labels for ``task``.

    ``task="sentiment"``: classes ``["negative", "positive"]``; ``task="topic"``: classes
    ``["film", "food", "travel", "product"]``. Both label columns are also in ``meta``
    (``meta["sentiment"]``, ``meta["topic"]``, one entry per sample) so one split serves both
    tasks. ``path`` reads another file of the same format (header ``text,sentiment,topic``);
    a malformed row raises a ``ValueError`` naming its line and what was expected.
    """
    task = check_choice("task", task, TASKS)
    source = REVIEWS_CSV if path is None else Path(path)
    texts, sentiments, topics = _read(source)
    sentiment = np.array([SENTIMENTS.index(s) for s in sentiments], dtype=np.int64)
    topic = np.array([TOPICS.index(t) for t in topics], dtype=np.int64)
    y, classes = (sentiment, SENTIMENTS) if task == "sentiment" else (topic, TOPICS)
    meta = {"sentiment": sentiment, "topic": topic, "source": str(source)}
    return ArrayDataset(np.array(texts, dtype=str), y, f"reviews ({task})", list(classes), meta,
                        per_sample=("sentiment", "topic"))


def _read(source: Path) -> tuple[list[str], list[str], list[str]]:
    """The three columns of ``source``, every row checked: its fields, labels and text."""
    if not source.is_file():
        raise FileNotFoundError(f"expected a CSV file of reviews at {source}, found nothing there")
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(field.strip() for field in rows[0]) != COLUMNS:
        found = rows[0] if rows else "an empty file"
        raise ValueError(f"{source}: expected the header {','.join(COLUMNS)}, found {found}")
    texts: list[str] = []
    sentiments: list[str] = []
    topics: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            raise ValueError(f"{source}, line {line}: expected {len(COLUMNS)} fields "
                             f"({','.join(COLUMNS)}), found {len(row)}: {row}")
        text, sentiment, topic = (field.strip() for field in row)
        if not text:
            raise ValueError(f"{source}, line {line}: expected a sentence in the text column, found it empty")
        if sentiment not in SENTIMENTS:
            raise ValueError(f"{source}, line {line}: expected sentiment in {list(SENTIMENTS)}, "
                             f"found {sentiment!r}")
        if topic not in TOPICS:
            raise ValueError(f"{source}, line {line}: expected topic in {list(TOPICS)}, found {topic!r}")
        key = text.lower()
        if key in seen:
            # a duplicate could land in both the training and the test split and inflate accuracy
            raise ValueError(f"{source}, line {line}: the sentence {text!r} repeats line {seen[key]}")
        seen[key] = line
        texts.append(text)
        sentiments.append(sentiment)
        topics.append(topic)
    if not texts:
        raise ValueError(f"{source}: expected at least one review after the header, found none")
    return texts, sentiments, topics
