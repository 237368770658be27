"""The training results chapter 08 asserts hold over 5 seeds, with the notebook's quick-mode
settings (course/08-recurrent-networks-and-text.ipynb, sections 8, 14, 17 and 19)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit
import dlkit.runtime
from dlkit.data import CharTokenizer, load_stdlib_corpus, make_language_model_data, make_reverse, shift_right
from dlkit.models import CharLM, Seq2Seq
from dlkit.train import Trainer

SEEDS = range(5)
KEYS, DELAY = 8, 40


def key_recall(n, seed):
    g = np.random.default_rng(seed)
    X = g.integers(4 + KEYS, 4 + 2 * KEYS, size=(n, DELAY))
    X[:, 0] = g.integers(4, 4 + KEYS, size=n)
    return torch.tensor(X), torch.tensor(np.repeat(X[:, :1], DELAY, axis=1))


def every_step_loss(logits, y):
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def last_step_accuracy(logits, y):
    return float((logits[:, -1].argmax(-1) == y[:, -1]).float().mean())


def train_recall(cell, seed, n=1200, epochs=3):
    dlkit.seed(seed)
    X, y = key_recall(n, seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    model = CharLM(4 + 2 * KEYS, embed_dim=16, hidden_size=32, cell=cell)
    if cell == "lstm":
        with torch.no_grad():
            model.rnn.bias_ih_l0[32:64] = 1.0
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), every_step_loss,
                      device="cpu", clip_grad_norm=1.0, metrics={"accuracy": last_step_accuracy},
                      progress=False, plot=False)
    return trainer.fit(loader, [key_recall(500, seed + 100)], epochs=epochs)["val_accuracy"][-1]


@pytest.fixture(autouse=True)
def one_thread():
    with dlkit.runtime.torch_threads(1):
        yield


@pytest.mark.parametrize("seed", SEEDS)
def test_an_lstm_remembers_a_key_for_39_steps_where_a_plain_rnn_does_not(seed):
    lstm, rnn = train_recall("lstm", seed), train_recall("rnn", seed)
    assert lstm > 0.95 and lstm > rnn + 0.1, (seed, lstm, rnn)


def test_the_char_lm_beats_the_unigram_baseline_on_held_out_text():
    corpus = load_stdlib_corpus()
    text = corpus[:70_000]
    split = int(0.9 * len(text))
    tok = CharTokenizer(corpus)
    train_lm = make_language_model_data(text[:split], tok, seq_len=64)
    val_lm = make_language_model_data(text[split:], tok, seq_len=64)
    frequency = np.bincount(train_lm.X.ravel(), minlength=len(tok)) / train_lm.X.size
    unigram = float(-(frequency[frequency > 0] * np.log(frequency[frequency > 0])).sum())
    train = torch.utils.data.TensorDataset(torch.tensor(train_lm.X), torch.tensor(train_lm.y))
    val = torch.utils.data.TensorDataset(torch.tensor(val_lm.X), torch.tensor(val_lm.y))
    for seed in SEEDS:
        dlkit.seed(seed)
        loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True,
                                             generator=torch.Generator().manual_seed(seed))
        model = CharLM(len(tok), embed_dim=32, hidden_size=128, cell="lstm")
        trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), every_step_loss,
                          device="cpu", clip_grad_norm=1.0, progress=False, plot=False)
        history = trainer.fit(loader, torch.utils.data.DataLoader(val, batch_size=256), epochs=2)
        assert history["val_loss"][-1] < unigram - 0.4, (seed, history["val_loss"], unigram)


@pytest.mark.parametrize("seed", SEEDS)
def test_seq2seq_with_teacher_forcing_learns_to_reverse(seed):
    length = 5
    train, val = make_reverse(3000, length, 14, seed=seed), make_reverse(500, length, 14, seed=seed + 100)
    data = torch.utils.data.TensorDataset(torch.tensor(train.X), torch.tensor(shift_right(train.y)),
                                          torch.tensor(train.y))
    dlkit.seed(seed)
    model = Seq2Seq(14, 14, embed_dim=32, hidden_size=128)
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=5e-3), every_step_loss,
                      device="cpu", clip_grad_norm=1.0, progress=False, plot=False)
    trainer.fit(torch.utils.data.DataLoader(data, batch_size=64, shuffle=True), epochs=4)
    decoded = model.greedy_decode(torch.tensor(val.X), length)
    accuracy = float((decoded == torch.tensor(val.y)).float().mean())
    assert accuracy > 0.85, (seed, accuracy)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_shipped_reviews_are_learnable_by_tfidf_and_logistic_regression(seed):
    """Section 19 asserts 5-fold accuracy above 0.62 (sentiment) and 0.45 (topic, 4 classes)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    from dlkit.data import load_reviews

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    with threadpool_limits(1):
        accuracy = {task: cross_val_score(make_pipeline(TfidfVectorizer(), LogisticRegression(C=10, max_iter=2000)),
                                          load_reviews(task).X, load_reviews(task).y, cv=folds).mean()
                    for task in ("sentiment", "topic")}
    assert accuracy["sentiment"] > 0.62 and accuracy["topic"] > 0.45, (seed, accuracy)
