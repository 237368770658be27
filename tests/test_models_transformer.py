"""Chapter 09's Transformer blocks and graph networks: shapes, masks, pre/post-norm, attention
against torch and dlkit.ref, positions, GCN normalisation by hand, GAT restricted to
neighbours, the generated graph."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import dlkit
from dlkit.data import make_reverse, make_sbm_graph, shift_right
from dlkit.models import (
    DecoderBlock,
    MultiHeadAttention,
    Positions,
    Seq2SeqTransformer,
    TinyGPT,
    TransformerBlock,
    sinusoidal_table,
)
from dlkit.models.gnn import GAT, GCN, GATLayer, GCNLayer, normalized_adjacency
from dlkit.ref import nn as ref_nn
from dlkit.runtime import torch_threads


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def test_attention_matches_torch_multihead_attention_with_masks():
    dlkit.seed(0)
    ours = MultiHeadAttention(16, 4).double()
    theirs = nn.MultiheadAttention(16, 4, batch_first=True).double()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        theirs.out_proj.load_state_dict(ours.out_proj.state_dict())
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 5:] = True
    causal = torch.ones(7, 7, dtype=torch.bool).triu(1)
    out, w = ours(x, causal=True, key_padding_mask=pad)
    ref_out, ref_w = theirs(x, x, x, key_padding_mask=pad, attn_mask=causal, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_attention_weights_are_zero_on_padding_and_on_the_future():
    dlkit.seed(0)
    attn = MultiHeadAttention(8, 2)
    pad = torch.tensor([[False] * 4 + [True] * 2])
    _, w = attn(torch.randn(1, 6, 8), causal=True, key_padding_mask=pad)
    assert (w[..., 4:] == 0).all() and (w.triu(1) == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2, 6))


def test_a_fully_masked_query_gets_zero_weights_not_nan():
    attn = MultiHeadAttention(8, 2)
    out, w = attn(torch.randn(1, 3, 8), key_padding_mask=torch.ones(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all() and (w == 0).all()


@pytest.mark.parametrize("norm_first", [True, False])
def test_causal_block_output_at_t_ignores_later_tokens(norm_first):
    dlkit.seed(0)
    block = TransformerBlock(16, 4, norm_first=norm_first).eval()
    x = torch.randn(2, 9, 16)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 3, 16)
    a, b = block(x, causal=True), block(changed, causal=True)
    torch.testing.assert_close(a[:, :6], b[:, :6], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:])
    # without the mask, every position reads the changed tokens
    assert not torch.allclose(block(x)[:, :6], block(changed)[:, :6])


def test_pre_and_post_norm_compute_what_their_formulas_say():
    dlkit.seed(0)
    x = torch.randn(2, 5, 8)
    pre, post = TransformerBlock(8, 2, norm_first=True).eval(), TransformerBlock(8, 2, norm_first=False).eval()
    post.load_state_dict(pre.state_dict())
    h = x + pre.attn(pre.norm1(x))[0]
    torch.testing.assert_close(pre(x), h + pre.ff(pre.norm2(h)))
    h = pre.norm1(x + pre.attn(x)[0])
    torch.testing.assert_close(post(x), pre.norm2(h + pre.ff(h)))
    # post-norm ends in a LayerNorm: every position has mean 0 and variance 1 (before its affine)
    out = post(x)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)


def test_a_block_without_positions_is_permutation_equivariant():
    dlkit.seed(0)
    block = TransformerBlock(16, 4).eval()
    x, perm = torch.randn(2, 7, 16), torch.randperm(7)
    torch.testing.assert_close(block(x)[:, perm], block(x[:, perm]), atol=1e-6, rtol=1e-5)


def test_sinusoidal_table_is_the_reference_one_and_positions_kinds():
    np.testing.assert_allclose(sinusoidal_table(50, 12).numpy(),
                               ref_nn.sinusoidal_positional_encoding(50, 12), atol=1e-6)
    assert Positions(10, 4, "none")(3).abs().sum() == 0
    learned = Positions(10, 4, "learned")
    assert [p.shape for p in learned.parameters()] == [(10, 4)]
    assert not list(Positions(10, 4, "sinusoidal").parameters())
    with pytest.raises(ValueError, match="max_len=10"):
        learned(8, offset=3)
    with pytest.raises(ValueError, match="'sinusoidal', 'learned' or 'none'"):
        Positions(10, 4, "rotary")


def test_decoder_block_cross_attends_to_memory_and_is_causal_in_the_target():
    dlkit.seed(0)
    block = DecoderBlock(16, 4).eval()
    x, memory = torch.randn(2, 5, 16), torch.randn(2, 8, 16)
    out, self_w, cross_w = block.forward_with_weights(x, memory)
    assert out.shape == (2, 5, 16) and self_w.shape == (2, 4, 5, 5) and cross_w.shape == (2, 4, 5, 8)
    assert (self_w.triu(1) == 0).all()
    pad = torch.zeros(2, 8, dtype=torch.bool)
    pad[:, 6:] = True
    _, _, cross_w = block.forward_with_weights(x, memory, memory_padding_mask=pad)
    assert (cross_w[..., 6:] == 0).all()
    changed = memory.clone()
    changed[:, 6:] = 0                       # padded memory cannot change the output
    torch.testing.assert_close(block(x, memory, memory_padding_mask=pad),
                               block(x, changed, memory_padding_mask=pad))


def test_seq2seq_transformer_shapes_and_teacher_forcing_matches_greedy_decoding():
    dlkit.seed(0)
    model = Seq2SeqTransformer(14, 14, d_model=32, num_heads=4, num_layers=2, max_len=16).eval()
    data = make_reverse(4, 6, 14, seed=0)
    src = torch.tensor(data.X)
    assert model(src, torch.tensor(shift_right(data.y))).shape == (4, 6, 14)
    decoded = model.greedy_decode(src, 6)
    # feeding the decoded tokens back with teacher forcing reproduces every arg-max
    tgt_in = torch.cat([torch.full((4, 1), dlkit.data.BOS), decoded[:, :-1]], dim=1)
    assert torch.equal(model(src, tgt_in).argmax(-1), decoded)
    maps = model.cross_attention(src, tgt_in)
    assert len(maps) == 2 and maps[0].shape == (4, 4, 6, 6)


def test_seq2seq_transformer_learns_to_reverse_quickly():
    length = 6
    train, val = make_reverse(2000, length, 14, seed=0), make_reverse(200, length, 14, seed=100)
    dlkit.seed(0)
    model = Seq2SeqTransformer(14, 14, d_model=32, num_heads=4, num_layers=1, d_ff=64, max_len=16)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    X, tgt_in, y = (torch.tensor(a) for a in (train.X, shift_right(train.y), train.y))
    for _ in range(3):
        for i in range(0, 2000, 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[i:i + 64], tgt_in[i:i + 64]).flatten(0, 1),
                                        y[i:i + 64].flatten()).backward()
            opt.step()
    decoded = model.greedy_decode(torch.tensor(val.X), length)
    assert float((decoded == torch.tensor(val.y)).float().mean()) > 0.9


def test_a_bidirectional_tiny_gpt_reads_later_tokens_and_refuses_to_generate():
    dlkit.seed(0)
    model = TinyGPT(11, d_model=16, num_heads=2, num_layers=1, max_len=8, causal=False).eval()
    x = torch.randint(0, 11, (1, 6))
    changed = x.clone()
    changed[0, 5] = (changed[0, 5] + 1) % 11
    assert not torch.allclose(model(x)[:, 0], model(changed)[:, 0])
    with pytest.raises(ValueError, match="causal"):
        model.generate(x, 2)


def test_gcn_normalisation_by_hand():
    a = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float32)
    # degrees of A + I: 2, 3, 2
    d = torch.tensor([2.0, 3.0, 2.0])
    expected = (a + torch.eye(3)) / torch.sqrt(d[:, None] * d[None, :])
    torch.testing.assert_close(normalized_adjacency(a), expected)
    layer = GCNLayer(4, 2)
    h = torch.randn(3, 4)
    torch.testing.assert_close(layer(h, expected), expected @ h @ layer.linear.weight.T + layer.bias)


def test_gat_attention_is_zero_off_the_neighbourhood():
    dlkit.seed(0)
    graph = make_sbm_graph(40, 2, 8, p_in=0.2, p_out=0.02, train_per_class=3, num_val=5, seed=0)
    a = torch.tensor(graph.meta["adjacency"])
    layer = GATLayer(8, 4, num_heads=3)
    alpha = layer.attention(torch.tensor(graph.X), a)
    allowed = (a + torch.eye(40)) > 0
    assert alpha.shape == (3, 40, 40)
    assert (alpha[:, ~allowed] == 0).all() and (alpha[:, allowed] > 0).all()
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 40))
    assert layer(torch.tensor(graph.X), a).shape == (40, 12)


def test_gnns_give_one_logit_per_node_and_class_and_reject_a_wrong_adjacency():
    x, a = torch.randn(10, 5), (torch.rand(10, 10) < 0.3).float()
    a = ((a + a.T) > 0).float()
    assert GCN(5, 8, 3)(x, a).shape == (10, 3) and GAT(5, 4, 3, num_heads=2)(x, a).shape == (10, 3)
    with pytest.raises(ValueError, match=r"\(n, n\) adjacency matrix for n=10"):
        GCN(5, 8, 3)(x, a[:9, :9])


def test_sbm_graph_is_symmetric_homophilous_and_split():
    g = make_sbm_graph(seed=3)
    a, y = g.meta["adjacency"], g.y
    assert np.array_equal(a, a.T) and not a.diagonal().any()
    edges = np.argwhere(a > 0)
    assert (y[edges[:, 0]] == y[edges[:, 1]]).mean() > 0.7          # neighbours share a label
    masks = g.meta["train_mask"], g.meta["val_mask"], g.meta["test_mask"]
    assert sum(m.astype(int) for m in masks).tolist() == [1] * len(y)
    assert np.bincount(y[masks[0]]).tolist() == [10, 10, 10]
    assert np.array_equal(make_sbm_graph(seed=3).X, g.X)
    with pytest.raises(ValueError, match="p_in to be a probability"):
        make_sbm_graph(p_in=2)
    with pytest.raises(ValueError, match="fewer labelled and validation nodes"):
        make_sbm_graph(n=50, train_per_class=10, num_val=30)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 9), heads=st.sampled_from([1, 2, 4]), causal=st.booleans(),
       data=st.data())
def test_attention_weights_are_a_softmax_over_exactly_the_allowed_keys(length, heads, causal, data):
    lengths = data.draw(st.lists(st.integers(0, length), min_size=2, max_size=2))
    pad = torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]      # True at padding
    torch.manual_seed(length)
    _, w = MultiHeadAttention(8, heads)(torch.randn(2, length, 8), causal=causal, key_padding_mask=pad)
    allowed = ~pad[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool).tril()
    allowed = allowed.expand(w.shape)
    assert (w[~allowed] == 0).all() and (w[allowed] > 0).all()
    has_keys = allowed.any(-1)
    torch.testing.assert_close(w.sum(-1)[has_keys], torch.ones(int(has_keys.sum())))
    assert (w.sum(-1)[~has_keys] == 0).all()


def test_seq2seq_transformer_ignores_source_padding():
    dlkit.seed(0)
    model = Seq2SeqTransformer(14, 14, d_model=16, num_heads=2, num_layers=2, max_len=16, pad_id=0).eval()
    src = torch.tensor([[5, 6, 7, 8, 9]])
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.int64)], dim=1)
    tgt_in = torch.tensor([[1, 9, 8]])
    torch.testing.assert_close(model(src, tgt_in), model(padded, tgt_in))
    unmasked = Seq2SeqTransformer(14, 14, d_model=16, num_heads=2, num_layers=2, max_len=16).eval()
    unmasked.load_state_dict(model.state_dict())
    assert not torch.allclose(unmasked(src, tgt_in), unmasked(padded, tgt_in))


def test_chapter_09_models_make_no_tensor_on_a_fixed_device():
    """On the meta device (shapes only) every op fails if forward makes a CPU tensor itself."""
    ids = torch.randint(0, 11, (2, 5), device="meta")
    gpt = TinyGPT(11, d_model=8, num_heads=2, num_layers=2, max_len=8).to("meta")
    assert gpt(ids).device.type == "meta" and gpt.attention_maps(ids)[0].device.type == "meta"
    caches = gpt.new_cache()
    assert gpt.forward_cached(ids[:, :1], caches).device.type == "meta"
    assert gpt.forward_cached(ids[:, 1:2], caches).shape == (2, 1, 11)
    s2s = Seq2SeqTransformer(11, 11, d_model=8, num_heads=2, num_layers=1, max_len=8, pad_id=0).to("meta")
    assert s2s(ids, ids).device.type == "meta"
    x, a = torch.randn(6, 4, device="meta"), torch.ones(6, 6, device="meta")
    for model in (GCN(4, 8, 3), GAT(4, 2, 3, num_heads=2)):
        assert model.to("meta")(x, a).device.type == "meta"
