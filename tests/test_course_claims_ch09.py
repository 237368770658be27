"""The results chapter 09 asserts hold over 5 seeds, with the notebook's quick-mode settings
(course/09-attention-and-transformers.ipynb, sections 7, 9 and 13)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlkit
import dlkit.runtime
from dlkit.data import (
    CharTokenizer,
    load_stdlib_corpus,
    make_language_model_data,
    make_reverse,
    make_sbm_graph,
    shift_right,
)
from dlkit.models import GAT, GCN, MLP, Seq2SeqTransformer, TinyGPT
from dlkit.train import Trainer

SEEDS = range(5)


@pytest.fixture(autouse=True)
def one_thread():
    with dlkit.runtime.torch_threads(1):
        yield


def lm_loss(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def fit(model, data, lr, epochs, seed, optimizer=torch.optim.Adam, val=None):
    loader = torch.utils.data.DataLoader(data, batch_size=32 if val is not None else 64, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    trainer = Trainer(model, optimizer(model.parameters(), lr=lr), lm_loss, device="cpu",
                      clip_grad_norm=1.0, progress=False, plot=False)
    return trainer.fit(loader, val, epochs=epochs)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_transformer_reverses_at_least_90_percent_of_sequences_exactly(seed):
    length = 8
    train, val = make_reverse(3000, length, 14, seed=seed), make_reverse(500, length, 14, seed=seed + 100)
    data = torch.utils.data.TensorDataset(torch.tensor(train.X), torch.tensor(shift_right(train.y)),
                                          torch.tensor(train.y))
    dlkit.seed(seed)
    model = Seq2SeqTransformer(14, 14, d_model=32, num_heads=4, num_layers=1, d_ff=64, max_len=16)
    fit(model, data, 5e-3, 3, seed)
    decoded = model.greedy_decode(torch.tensor(val.X), length)
    exact = float((decoded == torch.tensor(val.y)).all(dim=1).float().mean())
    assert exact >= 0.93, (seed, exact)          # the notebook asserts >= 0.90


@pytest.fixture(scope="module")
def char_data():
    corpus = load_stdlib_corpus()
    text = corpus[:150_000]
    split = int(0.9 * len(text))
    tok = CharTokenizer(corpus)
    train = make_language_model_data(text[:split], tok, seq_len=32, stride=24)
    val = make_language_model_data(text[split:], tok, seq_len=32)
    ids, v = np.asarray(tok.encode(text[:split])), len(tok)
    unigram = (np.bincount(ids, minlength=v) + 1) / (len(ids) + v)
    bigram = np.ones((v, v))
    np.add.at(bigram, (ids[:-1], ids[1:]), 1)
    bigram /= bigram.sum(1, keepdims=True)
    baselines = float(-np.log(unigram[val.y]).mean()), float(-np.log(bigram[val.X, val.y]).mean())
    as_data = [torch.utils.data.TensorDataset(torch.tensor(d.X), torch.tensor(d.y)) for d in (train, val)]
    return v, as_data[0], as_data[1], baselines


@pytest.mark.parametrize("seed", SEEDS)
def test_the_tiny_gpt_beats_the_unigram_and_bigram_baselines(seed, char_data):
    vocab_size, train, val, (unigram, bigram) = char_data
    dlkit.seed(seed)
    model = TinyGPT(vocab_size, d_model=48, num_heads=4, num_layers=1, max_len=32)
    history = fit(model, train, 1e-2, 1, seed, torch.optim.AdamW,
                  val=torch.utils.data.DataLoader(val, batch_size=256))
    loss = history["val_loss"][-1]
    # the notebook asserts bigram - 0.1 and unigram - 0.5; a margin on top of both
    assert loss < bigram - 0.15 and loss < unigram - 0.6, (seed, loss, bigram, unigram)
    # and its samples are text-like: a cached decode gives exactly the uncached tokens
    prompt = torch.tensor([[1, 2, 3]])
    runs = [model.generate(prompt, 40, temperature=0.8, top_k=5, use_cache=cache,
                           generator=torch.Generator().manual_seed(seed)) for cache in (True, False)]
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", SEEDS)
def test_kv_cache_decoding_equals_the_full_recompute_to_1e_6(seed, dtype):
    dlkit.seed(seed)
    model = TinyGPT(104, d_model=48, num_heads=4, num_layers=3, max_len=32).to(dtype).eval()
    x = torch.randint(0, 104, (4, 32), generator=torch.Generator().manual_seed(seed))
    caches = model.new_cache()
    with torch.no_grad():
        full = model(x)
        steps = torch.cat([model.forward_cached(x[:, t: t + 1], caches) for t in range(32)], dim=1)
    gap = (steps - full).abs().max().item()
    # float64: 1e-6 absolute (the gap is rounding, ~1e-15). float32 keeps ~7 significant digits,
    # so a different summation order alone moves a logit of size 5 by a few 1e-7: 1e-6 relative
    # to the largest logit there
    tolerance = 1e-6 if dtype == torch.float64 else 1e-6 * full.abs().max().item()
    assert gap < tolerance, (seed, dtype, gap, tolerance)


class FeaturesOnly(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = MLP(16, [32], 3, dropout=0.5)

    def forward(self, x, adjacency):
        return self.mlp(x)


@pytest.mark.parametrize("seed", SEEDS)
def test_graph_networks_classify_nodes_far_better_than_their_features_alone(seed):
    graph = make_sbm_graph(n=300, num_classes=3, num_features=16, seed=seed)
    x, y, a = torch.tensor(graph.X), torch.tensor(graph.y), torch.tensor(graph.meta["adjacency"])
    train, test = torch.tensor(graph.meta["train_mask"]), torch.tensor(graph.meta["test_mask"])
    accuracy = {}
    for name, make, lr in [("mlp", FeaturesOnly, 1e-2), ("gcn", lambda: GCN(16, 32, 3), 1e-2),
                           ("gat", lambda: GAT(16, 8, 3, num_heads=4), 5e-3)]:
        dlkit.seed(seed)
        model = make()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
        for _ in range(60):
            model.train()
            optimizer.zero_grad()
            F.cross_entropy(model(x, a)[train], y[train]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy[name] = float((model(x, a).argmax(1) == y)[test].float().mean())
    # the notebook asserts >= 0.85 and 0.05 above the MLP
    assert accuracy["gcn"] >= 0.9 and accuracy["gat"] >= 0.9, (seed, accuracy)
    assert min(accuracy["gcn"], accuracy["gat"]) > accuracy["mlp"] + 0.08, (seed, accuracy)
