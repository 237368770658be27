"""Scaled dot-product attention, masks and multi-head attention against torch (chapter 09)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ref_nn_from_torch import check_layer

from dlkit.check import gradcheck
from dlkit.ref.nn import (
    MultiHeadAttention,
    causal_mask,
    load_torch_weights,
    padding_mask,
    scaled_dot_product_attention,
)
from dlkit.ref.tensor import Tensor

PROPERTY = settings(max_examples=20, deadline=None)


def torch_attention(q, k, v, mask=None, causal=False):
    """torch's function and the weights it implies (it returns only the output)."""
    mask_t = None if mask is None else torch.as_tensor(mask)
    if causal and mask_t is not None:   # torch takes one or the other: fold the causal mask in
        tril = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        if mask_t.dtype == torch.bool:
            mask_t = mask_t & tril
        else:
            mask_t = mask_t.masked_fill(~tril, float("-inf"))
        causal = False
    out = TF.scaled_dot_product_attention(q, k, v, attn_mask=mask_t, is_causal=causal)
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        tril = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
        scores = scores.masked_fill(~tril, float("-inf"))
    if mask_t is not None:
        if mask_t.dtype == torch.bool:
            scores = scores.masked_fill(~mask_t, float("-inf"))
        else:
            scores = scores + mask_t
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)   # as torch's function: masked rows → 0
    return out, weights


@PROPERTY
@given(st.integers(1, 2), st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.booleans(),
       st.sampled_from(["none", "bool", "float"]), st.integers(0, 999))
def test_attention_matches_torch(batch, tq, tk, d, causal, mask_kind, seed) -> None:
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(batch, 2, tq, d)), rng.normal(size=(batch, 2, tk, d))
    v = rng.normal(size=(batch, 2, tk, 3))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((batch, 1, tq, tk)) < 0.7
        mask[..., 0] = True             # every row keeps a key; fully masked rows are tested below
    elif mask_kind == "float":
        mask = rng.normal(size=(tq, tk))
    check_layer(lambda *a: scaled_dot_product_attention(*a, mask=mask, causal=causal),
                lambda *a: torch_attention(*a, mask=mask, causal=causal), q, k, v)


def test_fully_masked_rows_give_zeros_not_nan_like_torch_sdpa() -> None:
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 4))
    mask = np.ones((2, 3, 5), dtype=bool)
    mask[0, 1] = False                              # query 1 of example 0 may attend to nothing
    out, weights = check_layer(lambda *a: scaled_dot_product_attention(*a, mask=mask),
                               lambda *a: torch_attention(*a, mask=mask), q, k, v)
    assert not out.data[0, 1].any() and not weights.data[0, 1].any()
    assert np.isfinite(out.data).all()
    float_mask = np.where(mask, 0.0, -np.inf)            # the same mask as −inf scores
    out_f, _ = scaled_dot_product_attention(q, k, v, mask=float_mask)
    np.testing.assert_allclose(out_f.data, out.data, atol=1e-12)


def test_attention_gradcheck_with_causal_and_padding_masks() -> None:
    rng = np.random.default_rng(2)
    mask = padding_mask([3, 2], 3)[:, None, :]             # (N, 1, Tk): keys past each length
    gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask, causal=True)[0],
              rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)))


def test_masks() -> None:
    np.testing.assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(padding_mask(np.array([2, 0, 3]), 3),
                                  [[True, True, False], [False, False, False], [True, True, True]])
    with pytest.raises(ValueError, match=r"padding_mask expected a 1-D array of integer lengths "
                                         r"in \[0, 3\]"):
        padding_mask([4], 3)


def test_attention_dropout_drops_weights_and_rescales() -> None:
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(1, 64, 8)), rng.normal(size=(1, 64, 8)), np.eye(64)[None]
    out, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5, rng=0)
    dropped = out.data == 0                               # v = I, so out shows the dropped weights
    assert 0.45 < dropped.mean() < 0.55
    np.testing.assert_allclose(out.data[~dropped], 2 * weights.data[~dropped])
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0)


def _mha_pair(embed_dim: int = 8, num_heads: int = 2, batch_first: bool = True,
              bias: bool = True):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(embed_dim, num_heads, bias=bias,
                                         batch_first=batch_first).double()
    with torch.no_grad():     # torch starts the biases at zero; random ones show they are used
        for p in (theirs.in_proj_bias, theirs.out_proj.bias) if bias else ():
            p.uniform_(-0.5, 0.5)
    ours = MultiHeadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first)
    return load_torch_weights(ours, theirs), theirs


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_self_attention_matches_torch(average: bool, bias: bool) -> None:
    ours, theirs = _mha_pair(bias=bias)
    x = np.random.default_rng(4).normal(size=(3, 5, 8))
    check_layer(lambda x: ours(x, x, x, average_attn_weights=average),
                lambda x: theirs(x, x, x, average_attn_weights=average), x, modules=(ours, theirs))


def _cross_attention_masks(rng: np.random.Generator) -> list[dict]:
    key_padding = ~padding_mask(np.array([6, 3]), 6)          # torch's MHA: True = ignore
    attn_mask = rng.random((4, 6)) < 0.3                      # True = not allowed
    attn_mask[:, 0] = False                                   # torch gives NaN for empty rows
    return [dict(key_padding_mask=key_padding),
            dict(attn_mask=attn_mask, key_padding_mask=key_padding),
            dict(attn_mask=rng.normal(size=(4, 6))),
            dict(attn_mask=rng.normal(size=(2 * 2, 4, 6)),
                 key_padding_mask=np.where(key_padding, -np.inf, 0.0))]


@pytest.mark.parametrize("case", range(4))
def test_cross_attention_with_masks_matches_torch(case: int) -> None:
    ours, theirs = _mha_pair()
    rng = np.random.default_rng(5)
    q, kv = rng.normal(size=(2, 4, 8)), rng.normal(size=(2, 6, 8))
    masks = _cross_attention_masks(rng)[case]
    torch_masks = {name: torch.as_tensor(m) for name, m in masks.items()}
    check_layer(lambda q, kv: ours(q, kv, kv, **masks),
                lambda q, kv: theirs(q, kv, kv, **torch_masks), q, kv, modules=(ours, theirs))


def test_causal_self_attention_and_sequence_first_layout() -> None:
    ours, theirs = _mha_pair(batch_first=False)
    x = np.random.default_rng(6).normal(size=(5, 2, 8))        # (L, N, E)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    check_layer(lambda x: ours(x, x, x, is_causal=True),
                lambda x: theirs(x, x, x, attn_mask=mask, is_causal=True), x,
                modules=(ours, theirs))
    out, weights = ours(x, x, x, need_weights=False)
    assert weights is None and out.shape == (5, 2, 8)


def test_multi_head_attention_gradcheck() -> None:
    layer = MultiHeadAttention(4, 2, rng=7, dtype=np.float64)
    key_padding = np.array([[False, False, True], [False, False, False]])

    def f(x: Tensor, w_in: Tensor, w_out: Tensor) -> Tensor:
        layer.in_proj_weight, layer.out_proj.weight = w_in, w_out
        out, weights = layer(x, x, x, key_padding_mask=key_padding)
        return out.sum() + (weights * weights).sum()
    gradcheck(f, np.random.default_rng(7).normal(size=(2, 3, 4)), layer.in_proj_weight.data,
              layer.out_proj.weight.data)


def test_all_masked_key_padding_row_gives_the_output_bias_not_nan() -> None:
    """torch's nn.MultiheadAttention returns NaN here; ours attends to nothing: the heads give 0,
    so the output is out_proj's bias, and no NaN reaches the gradients."""
    ours, theirs = _mha_pair()
    x = Tensor(np.random.default_rng(7).normal(size=(2, 3, 8)), requires_grad=True)
    key_padding = np.array([[False, False, True], [True, True, True]])
    out, weights = ours(x, x, x, key_padding_mask=key_padding)
    np.testing.assert_allclose(out.data[1], np.broadcast_to(ours.out_proj.bias.data, (3, 8)))
    assert not weights.data[1].any()
    out.sum().backward()
    assert np.isfinite(x.grad).all() and np.isfinite(ours.in_proj_weight.grad).all()
    x_t = torch.tensor(x.data)
    expected, _ = theirs(x_t, x_t, x_t, key_padding_mask=torch.tensor(key_padding))
    assert torch.isnan(expected[1]).all()                     # the documented difference
    np.testing.assert_allclose(out.data[0], expected[0].detach().numpy(), atol=1e-12)


def test_mha_init_dropout_and_float32() -> None:
    layer = MultiHeadAttention(16, 4, dropout=0.5, rng=0)
    bound = np.sqrt(6 / (16 + 48))                            # xavier_uniform on (3E, E)
    assert np.abs(layer.in_proj_weight.data).max() <= bound
    assert not layer.in_proj_bias.data.any() and not layer.out_proj.bias.data.any()
    x = np.random.default_rng(8).normal(size=(2, 5, 16)).astype(np.float32)
    out, weights = layer(x, x, x)
    assert out.dtype == weights.dtype == np.float32
    layer.eval()
    first, second = layer(x, x, x)[0].data, layer(x, x, x)[0].data
    np.testing.assert_array_equal(first, second)              # no dropout in evaluation
    layer.train()
    assert not np.allclose(layer(x, x, x)[0].data, first)


def test_attention_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match="MultiHeadAttention expected embed_dim divisible by "
                                         "num_heads, got 10 and 3"):
        MultiHeadAttention(10, 3)
    layer = MultiHeadAttention(8, 2)
    x = np.zeros((2, 5, 8))
    with pytest.raises(ValueError, match=r"MultiHeadAttention expected query of shape "
                                         r"\(N, L, 8\), got \(2, 5, 6\)"):
        layer(np.zeros((2, 5, 6)), x, x)
    with pytest.raises(ValueError, match=r"expected key_padding_mask of shape \(N, S\) = "
                                         r"\(2, 5\), got \(2, 4\)"):
        layer(x, x, x, key_padding_mask=np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"expected attn_mask of shape \(L, S\) = \(5, 5\)"):
        layer(x, x, x, attn_mask=np.zeros((5, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"expected a mask broadcastable to the scores' shape "
                                         r"\(2, 3, 3\), got \(4,\)"):
        scaled_dot_product_attention(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)),
                                     np.zeros((2, 3, 4)), mask=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="expected q and k with the same last dimension"):
        scaled_dot_product_attention(np.zeros((3, 4)), np.zeros((3, 5)), np.zeros((3, 5)))


@pytest.mark.parametrize("case", range(4))
def test_sequence_first_cross_attention_with_a_longer_key_matches_torch(case: int) -> None:
    """batch_first=False: query (L, N, E) = (4, 2, 12), key and value (S, N, E) = (6, 2, 12)."""
    torch.manual_seed(3)
    theirs = torch.nn.MultiheadAttention(12, 3, batch_first=False).double()
    with torch.no_grad():
        theirs.in_proj_bias.uniform_(-0.5, 0.5)
        theirs.out_proj.bias.uniform_(-0.5, 0.5)
    ours = load_torch_weights(MultiHeadAttention(12, 3, batch_first=False), theirs)
    rng = np.random.default_rng(9)
    q, kv = rng.normal(size=(4, 2, 12)), rng.normal(size=(6, 2, 12))
    masks = _cross_attention_masks(rng)[case]
    if "attn_mask" in masks and masks["attn_mask"].ndim == 3:          # (N·heads, L, S)
        masks["attn_mask"] = rng.normal(size=(2 * 3, 4, 6))
    torch_masks = {name: torch.as_tensor(m) for name, m in masks.items()}
    out = check_layer(lambda q, kv: ours(q, kv, kv, **masks),
                      lambda q, kv: theirs(q, kv, kv, **torch_masks), q, kv, modules=(ours, theirs))
    assert out[0].shape == (4, 2, 12) and out[1].shape == (2, 4, 6)


def test_sequence_first_batch_mismatch_names_the_layout() -> None:
    layer = MultiHeadAttention(12, 3, batch_first=False)
    with pytest.raises(ValueError, match=r"same batch size N \(layout \(L, N, E\) and \(S, N, E\)\), "
                                         r"got \(4, 2, 12\) and \(6, 3, 12\)"):
        layer(np.zeros((4, 2, 12)), np.zeros((6, 3, 12)), np.zeros((6, 3, 12)))
