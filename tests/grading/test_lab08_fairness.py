"""Lab 08 grades what an answer does: honest answers written differently from the solutions
score full marks, wrong ones lose exactly the points of their task (see test_lab_fairness.py)."""

from __future__ import annotations

from pathlib import Path

from lab_variants import grade_variants, honest, mismatches, scribbling, wrong

LSTM_HEADER = "def lstm_cell_forward(x, h, c, W_ih, W_hh, b_ih, b_hh):\n"
LSTM_CHECK = '''    H = np.shape(h)[-1]
    if np.shape(W_ih)[0] != 4 * H or np.shape(W_hh) != (4 * H, H):
        raise ValueError(f"expected W_ih with {4 * H} rows and W_hh of shape {(4 * H, H)}, "
                         f"got {np.shape(W_ih)}, {np.shape(W_hh)}")
'''
LSTM_EXP_SIGMOID = LSTM_HEADER + LSTM_CHECK + '''    x, h, W_ih, W_hh = map(np.asarray, (x, h, W_ih, W_hh))
    a = x @ W_ih.T + h @ W_hh.T + b_ih + b_hh
    gates = a.reshape(len(a), 4, H)                     # one row block per gate
    sig = lambda v: np.exp(-np.logaddexp(0, -v))        # another stable sigmoid
    i, f, g, o = sig(gates[:, 0]), sig(gates[:, 1]), np.tanh(gates[:, 2]), sig(gates[:, 3])
    c_new = f * c + i * g
    return o * np.tanh(c_new), c_new
'''
LSTM_ORDER_IFOG = LSTM_EXP_SIGMOID.replace("np.tanh(gates[:, 2]), sig(gates[:, 3])",
                                           "np.tanh(gates[:, 3]), sig(gates[:, 2])")

LSTM_BACKWARD_NO_H_PATH = '''def lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, dh_new, dc_new):
    H = h.shape[-1]
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    s = lambda v: 1 / (1 + np.exp(-v))
    i, f, g, o = s(a[:, :H]), s(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), s(a[:, 3 * H:])
    c_new = f * c + i * g
    dc_total = dc_new                                   # forgets that h_new also depends on c_new
    da = np.concatenate([dc_total * g * i * (1 - i), dc_total * c * f * (1 - f),
                         dc_total * i * (1 - g**2), dh_new * np.tanh(c_new) * o * (1 - o)], axis=1)
    return da @ W_ih, da @ W_hh, dc_total * f, da.T @ x, da.T @ h, da.sum(axis=0)
'''

BPTT_EINSUM = '''def rnn_bptt(X, h0, W_xh, W_hh, b, dH):
    T = len(X)
    hs = np.zeros((T + 1,) + np.shape(h0))
    hs[0] = h0
    for t in range(T):
        hs[t + 1] = np.tanh(X[t] @ W_xh.T + hs[t] @ W_hh.T + b)
    das = np.zeros_like(hs[1:])
    dh = np.zeros_like(hs[0])
    for t in range(T - 1, -1, -1):
        das[t] = (dH[t] + dh) * (1 - hs[t + 1] ** 2)
        dh = das[t] @ W_hh
    return (np.einsum("tnh,tni->hi", das, X), np.einsum("tnh,tnk->hk", das, hs[:-1]),
            das.sum(axis=(0, 1)), dh)
'''
BPTT_NO_CARRY = BPTT_EINSUM.replace("das[t] = (dH[t] + dh)", "das[t] = dH[t]")

CLIP_CONCATENATE = '''def clip_grad_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    total = float(np.linalg.norm(np.concatenate([np.ravel(g) for g in grads])))
    return [np.asarray(g) * (max_norm / max(total, max_norm)) for g in grads], total
'''
CLIP_PER_ARRAY = '''def clip_grad_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norms = [float(np.linalg.norm(g)) for g in grads]
    clipped = [g * min(1.0, max_norm / n) if n > 0 else g.copy() for g, n in zip(grads, norms)]
    return clipped, float(np.sqrt(sum(n * n for n in norms)))
'''

SGNS_LOOP = '''def sgns_loss_and_grads(v, u, u_neg):
    B = len(v)
    loss, dv, du, du_neg = 0.0, np.zeros_like(v), np.zeros_like(u), np.zeros_like(u_neg)
    for b in range(B):
        z = u[b] @ v[b]
        zk = u_neg[b] @ v[b]
        loss += np.logaddexp(0, -z) + np.sum(np.logaddexp(0, zk))
        s, sk = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-zk))
        dv[b] = ((s - 1) * u[b] + sk @ u_neg[b]) / B
        du[b] = (s - 1) * v[b] / B
        du_neg[b] = np.outer(sk, v[b]) / B
    return loss / B, dv, du, du_neg
'''
SGNS_UNSTABLE = SGNS_LOOP.replace("np.logaddexp(0, -z) + np.sum(np.logaddexp(0, zk))",
                                  "-np.log(1 / (1 + np.exp(-z))) - np.sum(np.log(1 - 1 / (1 + np.exp(-zk))))")

SAMPLING_HEADER = '''def temperature_probabilities(logits, temperature, top_k=None):
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(logits, dtype=float) / temperature
    if top_k is not None:
        kth = -np.partition(-z, min(top_k, z.shape[-1]) - 1, axis=-1)[..., min(top_k, z.shape[-1]) - 1]
        z = np.where(z < kth[..., None], -np.inf, z)
'''
SAMPLING_SEARCHSORTED = SAMPLING_HEADER + '''    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def sample_token(logits, temperature, rng, top_k=None):
    p = temperature_probabilities(logits, temperature, top_k)
    return int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"), len(p) - 1))
'''
SAMPLING_AXIS_0 = SAMPLING_SEARCHSORTED.replace(
    "e = np.exp(z - np.max(z, axis=-1, keepdims=True))\n    return e / np.sum(e, axis=-1, keepdims=True)",
    "e = np.exp(z - np.max(z, axis=0, keepdims=True))\n    return e / np.sum(e, axis=0, keepdims=True)")
SAMPLING_GLOBAL_RANDOM = SAMPLING_SEARCHSORTED.replace("rng.random()", "np.random.random()")

VARIANTS = [
    honest("lstm-reshape-logaddexp-sigmoid", lstm_cell_forward=LSTM_EXP_SIGMOID),
    wrong("lstm-gate-order-ifog", "lstm_cell_forward-tests", lstm_cell_forward=LSTM_ORDER_IFOG),
    wrong("lstm-backward-misses-the-h-path", "lstm_cell_backward-tests", lstm_cell_backward=LSTM_BACKWARD_NO_H_PATH),
    honest("bptt-einsum", rnn_bptt=BPTT_EINSUM),
    wrong("bptt-without-the-time-path", "rnn_bptt-tests", rnn_bptt=BPTT_NO_CARRY),
    honest("clip-concatenate", clip_grad_norm=CLIP_CONCATENATE),
    wrong("clip-per-array", "clip_grad_norm-tests", clip_grad_norm=CLIP_PER_ARRAY),
    honest("sgns-loop", sgns_loss_and_grads=SGNS_LOOP),
    wrong("sgns-unstable-log-sigmoid", "sgns_loss_and_grads-tests", sgns_loss_and_grads=SGNS_UNSTABLE),
    honest("sampling-searchsorted", sampling=SAMPLING_SEARCHSORTED),
    wrong("sampling-softmax-over-axis-0", "sampling-tests", sampling=SAMPLING_AXIS_0),
    wrong("sampling-global-random", "sampling-tests", sampling=SAMPLING_GLOBAL_RANDOM),
    scribbling("lab08"),  # overwrites its arguments
]


def test_lab08_grades_what_an_answer_does_not_how_it_is_written(tmp_path: Path) -> None:
    problems = mismatches("lab08", VARIANTS, grade_variants("lab08", VARIANTS, tmp_path))
    assert not problems, "\n".join(problems)
