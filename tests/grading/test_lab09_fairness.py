"""Lab 09 grades what an answer does: honest answers written differently from the solutions
score full marks, and the classic attention mistakes lose exactly the points of their task
(see test_lab_fairness.py)."""

from __future__ import annotations

from pathlib import Path

from lab_variants import grade_variants, honest, mismatches, scribbling, wrong

MASKS = '''def causal_mask(L):
    return ~np.triu(np.ones((L, L), dtype=bool), k=1)


def padding_mask(lengths, L):
    return np.arange(L) < np.reshape(lengths, (-1, 1, 1))


'''
ATTENTION_EINSUM = MASKS + '''def attention_forward(q, k, v, mask=None):
    q, k, v = map(np.asarray, (q, k, v))
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q {q.shape} and k {k.shape} need the same d_k")
    scores = np.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
    if mask is not None:
        scores = np.where(np.broadcast_to(mask, scores.shape), scores, -np.inf)
    log_z = np.max(scores, axis=-1, keepdims=True)
    log_z = log_z + np.log(np.sum(np.exp(scores - log_z), axis=-1, keepdims=True))
    weights = np.exp(scores - log_z)                     # softmax through the log-sum-exp
    return np.einsum("...qk,...kd->...qd", weights, v), weights
'''
ATTENTION_NO_SQRT = ATTENTION_EINSUM.replace(" / q.shape[-1] ** 0.5", "")
ATTENTION_MASK_AFTER_SOFTMAX = ATTENTION_EINSUM.replace(
    '''    if mask is not None:
        scores = np.where(np.broadcast_to(mask, scores.shape), scores, -np.inf)
''', "").replace("    return np.einsum",
                 "    if mask is not None:\n        weights = weights * mask\n    return np.einsum")
ATTENTION_MASK_WITH_ZERO = ATTENTION_EINSUM.replace("scores, -np.inf)", "scores, 0.0)")

BACKWARD_JACOBIAN = '''def attention_backward(q, k, v, d_out, mask=None):
    q, k, v, d_out = map(np.asarray, (q, k, v, d_out))
    scores = np.einsum("...qd,...kd->...qk", q, k) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    A = np.exp(scores - scores.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)
    dA = np.einsum("...qd,...kd->...qk", d_out, v)
    # the softmax Jacobian of each row, diag(a) - a a^T, written out
    jacobian = np.einsum("...qk,kj->...qkj", A, np.eye(A.shape[-1])) - A[..., :, None] * A[..., None, :]
    dS = np.einsum("...qk,...qkj->...qj", dA, jacobian) / np.sqrt(q.shape[-1])
    return (np.einsum("...qk,...kd->...qd", dS, k), np.einsum("...qk,...qd->...kd", dS, q),
            np.einsum("...qk,...qd->...kd", A, d_out))
'''
BACKWARD_WITHOUT_THE_ROW_SUM = '''def attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    A = np.exp(scores - scores.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)
    dA = d_out @ np.swapaxes(v, -1, -2)
    dS = A * dA                                          # forgets the softmax's normalisation
    return dS @ k * scale, np.swapaxes(dS, -1, -2) @ q * scale, np.swapaxes(A, -1, -2) @ d_out
'''

MHA_HEAD_LOOP = '''def split_heads(x, num_heads):
    N, L, E = np.shape(x)
    if E % num_heads != 0:
        raise ValueError(f"E = {E} is not a multiple of num_heads = {num_heads}")
    return np.stack(np.split(np.asarray(x), num_heads, axis=-1), axis=1)


def merge_heads(x):
    return np.concatenate(list(np.moveaxis(np.asarray(x), 1, 0)), axis=-1)


def multi_head_attention(x_q, x_kv, W_in, b_in, W_out, b_out, num_heads, mask=None):
    W_q, W_k, W_v = np.split(np.asarray(W_in), 3)
    b_q, b_k, b_v = np.split(np.asarray(b_in), 3)
    Q = split_heads(x_q @ W_q.T + b_q, num_heads)
    K = split_heads(x_kv @ W_k.T + b_k, num_heads)
    V = split_heads(x_kv @ W_v.T + b_v, num_heads)
    # head j is an ordinary attention over (N, L, d): the mask broadcasts to (N, L_q, L_k) as it is
    heads = [attention_forward(Q[:, j], K[:, j], V[:, j], mask)[0] for j in range(num_heads)]
    return merge_heads(np.stack(heads, axis=1)) @ np.asarray(W_out).T + b_out
'''
MHA_SPLIT_WITHOUT_TRANSPOSE = MHA_HEAD_LOOP.replace(
    "return np.stack(np.split(np.asarray(x), num_heads, axis=-1), axis=1)",
    "return np.asarray(x).reshape(N, num_heads, L, E // num_heads)").replace(
    "return np.concatenate(list(np.moveaxis(np.asarray(x), 1, 0)), axis=-1)",
    "N, h, L, d = np.shape(x)\n    return np.asarray(x).reshape(N, L, h * d)")

PE_STACK = '''def sinusoidal_positional_encoding(length, d_model):
    if d_model % 2 == 1:
        raise ValueError(f"d_model must be even, got {d_model}")
    frequencies = np.exp(-np.log(10000.0) * np.arange(0, d_model, 2) / d_model)
    angle = np.outer(np.arange(length), frequencies)
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(length, d_model)
'''
PE_HALVES = PE_STACK.replace("np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(length, d_model)",
                             "np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)")

DECODE_PER_HEAD = '''def decode_step(x_t, cache, W_in, b_in, W_out, b_out, num_heads):
    E = np.shape(x_t)[-1]
    q, k, v = (np.asarray(x_t) @ W.T + b for W, b in zip(np.split(np.asarray(W_in), 3), np.split(np.asarray(b_in), 3)))
    K = k[:, None] if cache is None else np.concatenate((cache[0], k[:, None]), axis=1)
    V = v[:, None] if cache is None else np.concatenate((cache[1], v[:, None]), axis=1)
    d = E // num_heads
    outputs = []
    for j in range(num_heads):
        part = slice(j * d, (j + 1) * d)
        scores = np.einsum("nd,ntd->nt", q[:, part], K[:, :, part]) / np.sqrt(d)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        outputs.append(np.einsum("nt,ntd->nd", weights, V[:, :, part]))
    return np.concatenate(outputs, axis=1) @ np.asarray(W_out).T + b_out, (K, V)
'''
# attends to the earlier positions only (itself only at the first step): the new token's key is
# appended to the cache but not looked at
DECODE_WITHOUT_ITSELF = DECODE_PER_HEAD.replace(
    "K[:, :, part]) / np.sqrt(d)", "(K if cache is None else cache[0])[:, :, part]) / np.sqrt(d)").replace(
    "V[:, :, part]))", "(V if cache is None else cache[1])[:, :, part]))")
# right for ordinary scores, but exp overflows for huge ones (only the hidden tests try those)
ATTENTION_UNSTABLE = ATTENTION_EINSUM.replace(
    """    log_z = np.max(scores, axis=-1, keepdims=True)
    log_z = log_z + np.log(np.sum(np.exp(scores - log_z), axis=-1, keepdims=True))
    weights = np.exp(scores - log_z)                     # softmax through the log-sum-exp
""", """    e = np.exp(scores)
    weights = e / e.sum(axis=-1, keepdims=True)
""")

VARIANTS = [
    honest("attention-einsum-logsumexp", attention_forward=ATTENTION_EINSUM),
    wrong("attention-without-sqrt-dk", "attention_forward-tests", attention_forward=ATTENTION_NO_SQRT),
    wrong("attention-unstable-softmax", "attention_forward-tests", attention_forward=ATTENTION_UNSTABLE),
    wrong("attention-mask-after-softmax", "attention_forward-tests", attention_forward=ATTENTION_MASK_AFTER_SOFTMAX),
    wrong("attention-mask-with-zero", "attention_forward-tests", attention_forward=ATTENTION_MASK_WITH_ZERO),
    honest("backward-explicit-jacobian", attention_backward=BACKWARD_JACOBIAN),
    wrong("backward-without-the-row-sum", "attention_backward-tests", attention_backward=BACKWARD_WITHOUT_THE_ROW_SUM),
    honest("mha-loop-over-heads", multi_head_attention=MHA_HEAD_LOOP),
    wrong("mha-split-without-transpose", "multi_head_attention-tests",
          multi_head_attention=MHA_SPLIT_WITHOUT_TRANSPOSE),
    honest("pe-stack-and-reshape", positional_encoding=PE_STACK),
    wrong("pe-sin-and-cos-halves", "positional_encoding-tests", positional_encoding=PE_HALVES),
    honest("decode-per-head", decode_step=DECODE_PER_HEAD),
    wrong("decode-without-itself", "decode_step-tests", decode_step=DECODE_WITHOUT_ITSELF),
    scribbling("lab09", keeps=("positional_encoding-tests",)),  # overwrites its arguments
]


def test_lab09_grades_what_an_answer_does_not_how_it_is_written(tmp_path: Path) -> None:
    problems = mismatches("lab09", VARIANTS, grade_variants("lab09", VARIANTS, tmp_path))
    assert not problems, "\n".join(problems)
