"""How much slower is the from-scratch numpy engine than PyTorch on the CPU?

Prints one line per case, ``NAME: RATIO`` with RATIO = dlkit.ref time / torch time (median of
interleaved repeats, same process, same float32 inputs and weights; the ratio of the fastest runs
follows, steadier on a shared machine). Goals: the MLP step at
most 1.5, the others at most 3. Then the matmul throughput the Tensor engine reaches against
numpy's raw ``@`` on the MLP's shapes.

    .venv/bin/python benchmarks/ref_vs_torch.py [--repeats N] [--threads N] [--only CASE ...]

``--threads 1`` pins both numpy's BLAS and torch to one thread: the fairest comparison on a
small or shared machine, where torch's thread pool can slow it down many times over. With more
threads on a busy machine, run it under ``OMP_WAIT_POLICY=PASSIVE``: by default torch's OpenMP
threads spin for a while after each call, on the cores the interleaved dlkit.ref run then needs
(measured on 2 busy cores: depthwise ref 10.7 ms inside the benchmark, 3.2 ms alone; torch
itself 72 ms instead of 2.4 ms).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from dlkit.data import load_digits
from dlkit.ref import Tensor
from dlkit.ref.losses import cross_entropy
from dlkit.ref.nn import Conv2d, Linear, LSTMCell, MultiHeadAttention, scaled_dot_product_attention
from dlkit.ref.optim import SGD

GOALS = {"mlp_step": 1.5, "conv2d_fwd_bwd": 3.0, "grouped_conv_fwd_bwd": 3.0,
         "depthwise_conv_fwd_bwd": 3.0, "lstm_32_steps": 3.0, "sdpa_fwd_bwd": 3.0,
         "sdpa_causal_fwd_bwd": 3.0, "mha_fwd_bwd": 3.0, "mha_causal_fwd_bwd": 3.0}


def run_times(ref: Callable[[], object], peer: Callable[[], object], repeats: int
              ) -> tuple[list[float], list[float]]:
    """Wall times of each, alternating runs so that both see the same machine load."""
    for _ in range(3):
        ref(), peer()
    ref_times, peer_times = [], []
    for _ in range(repeats):
        for fn, times in ((ref, ref_times), (peer, peer_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return ref_times, peer_times


def median_seconds(ref: Callable[[], object], peer: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time of each (see ``run_times``)."""
    ref_times, peer_times = run_times(ref, peer, repeats)
    return statistics.median(ref_times), statistics.median(peer_times)


def copy_weights(ref_params: list[Tensor], torch_params: list[torch.nn.Parameter]) -> None:
    for mine, theirs in zip(ref_params, torch_params, strict=True):
        mine.data[...] = theirs.detach().numpy()


def mlp_step() -> tuple[Callable, Callable]:
    digits = load_digits()
    X, y = digits.X[:256].astype(np.float32), digits.y[:256].astype(np.int64)
    sizes = [64, 256, 256, 10]
    torch_layers = [torch.nn.Linear(i, o) for i, o in zip(sizes, sizes[1:], strict=False)]
    torch_model = torch.nn.Sequential(torch_layers[0], torch.nn.ReLU(), torch_layers[1], torch.nn.ReLU(),
                                      torch_layers[2])
    torch_opt = torch.optim.SGD(torch_model.parameters(), lr=0.1)
    ref_layers = [Linear(i, o, rng=0) for i, o in zip(sizes, sizes[1:], strict=False)]
    for mine, theirs in zip(ref_layers, torch_layers, strict=True):
        copy_weights(mine.parameters(), list(theirs.parameters()))
    ref_opt = SGD([p for layer in ref_layers for p in layer.parameters()], lr=0.1)
    X_ref, X_torch, y_torch = Tensor(X), torch.from_numpy(X), torch.from_numpy(y)

    def ref() -> None:
        h = X_ref
        for k, layer in enumerate(ref_layers):
            h = layer(h)
            h = h.relu() if k < len(ref_layers) - 1 else h
        loss = cross_entropy(h, y)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()

    def peer() -> None:
        loss = torch.nn.functional.cross_entropy(torch_model(X_torch), y_torch)
        torch_opt.zero_grad()
        loss.backward()
        torch_opt.step()
    return ref, peer


def conv_case(n: int, c_in: int, c_out: int, size: int, kernel: int, groups: int = 1
              ) -> tuple[Callable, Callable]:
    """Forward and backward (to x, weight and bias) of one 'same'-padded conv layer."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, c_in, size, size)).astype(np.float32)
    g = rng.normal(size=(n, c_out, size, size)).astype(np.float32)
    torch_conv = torch.nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups)
    ref_conv = Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, rng=0)
    copy_weights(ref_conv.parameters(), list(torch_conv.parameters()))
    x_ref, x_torch = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def ref() -> None:
        x_ref.grad = None
        ref_conv.zero_grad()
        ref_conv(x_ref).backward(g)

    def peer() -> None:
        x_torch.grad = None
        torch_conv.zero_grad()
        torch_conv(x_torch).backward(torch.from_numpy(g))
    return ref, peer


def conv2d_fwd_bwd() -> tuple[Callable, Callable]:
    return conv_case(32, 16, 32, 28, 3)


def grouped_conv_fwd_bwd() -> tuple[Callable, Callable]:
    """A ResNeXt-style grouped 3×3 conv: 4 groups of 8 channels."""
    return conv_case(32, 32, 32, 16, 3, groups=4)


def depthwise_conv_fwd_bwd() -> tuple[Callable, Callable]:
    """A MobileNet-style depthwise 3×3 conv: one filter per channel (groups = channels)."""
    return conv_case(32, 32, 32, 16, 3, groups=32)


def lstm_32_steps() -> tuple[Callable, Callable]:
    steps, batch, hidden = 32, 64, 128
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(steps, batch, hidden)).astype(np.float32)
    torch_cell = torch.nn.LSTMCell(hidden, hidden)  # the same step-by-step algorithm as ours
    ref_cell = LSTMCell(hidden, hidden, rng=0)
    copy_weights(ref_cell.parameters(), list(torch_cell.parameters()))
    xs_torch = torch.from_numpy(xs)

    def ref() -> None:
        ref_cell.zero_grad()
        h = c = Tensor(np.zeros((batch, hidden), np.float32))
        for t in range(steps):
            h, c = ref_cell(Tensor(xs[t]), (h, c))
        h.sum().backward()

    def peer() -> None:
        torch_cell.zero_grad()
        h = c = torch.zeros(batch, hidden)
        for t in range(steps):
            h, c = torch_cell(xs_torch[t], (h, c))
        h.sum().backward()
    return ref, peer


def sdpa_case(causal: bool) -> tuple[Callable, Callable]:
    """Forward and backward (to q, k and v) of scaled dot-product attention on a course-sized
    batch: 8 sequences, 4 heads, 128 positions, head size 64."""
    batch, heads, length, d = 8, 4, 128, 64
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.normal(size=(batch, heads, length, d)).astype(np.float32) for _ in range(4))
    refs = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    peers = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    g_torch = torch.from_numpy(g)

    def ref() -> None:
        for t in refs:
            t.grad = None
        out, _ = scaled_dot_product_attention(*refs, causal=causal)
        out.backward(g)

    def peer() -> None:
        for t in peers:
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(*peers, is_causal=causal).backward(g_torch)
    return ref, peer


def sdpa_fwd_bwd() -> tuple[Callable, Callable]:
    return sdpa_case(causal=False)


def sdpa_causal_fwd_bwd() -> tuple[Callable, Callable]:
    return sdpa_case(causal=True)


def mha_case(causal: bool, batch: int = 16) -> tuple[Callable, Callable]:
    """Self-attention through the whole layer (projections, heads, out_proj), forward and
    backward to the input and every weight; torch also returns the averaged weights, as ours."""
    length, d, heads = 128, 64, 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, length, d)).astype(np.float32)
    torch_mha = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    ref_mha = MultiHeadAttention(d, heads, batch_first=True, rng=0)
    copy_weights(ref_mha.parameters(), list(torch_mha.parameters()))
    x_ref, x_torch = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(length) if causal else None

    def ref() -> None:
        x_ref.grad = None
        ref_mha.zero_grad()
        out, _ = ref_mha(x_ref, x_ref, x_ref, is_causal=causal)
        out.sum().backward()

    def peer() -> None:
        x_torch.grad = None
        torch_mha.zero_grad()
        out, _ = torch_mha(x_torch, x_torch, x_torch, need_weights=True, attn_mask=mask,
                           is_causal=causal)
        out.sum().backward()
    return ref, peer


def mha_fwd_bwd() -> tuple[Callable, Callable]:
    return mha_case(causal=False)


def mha_causal_fwd_bwd() -> tuple[Callable, Callable]:
    return mha_case(causal=True, batch=8)


def matmul_throughput(repeats: int) -> tuple[float, float]:
    """GFLOP/s of the MLP's matmuls (forward and both backward products) through Tensor vs raw @."""
    rng = np.random.default_rng(0)
    shapes = [(256, 64, 256), (256, 256, 256), (256, 256, 10)]
    operands = [(rng.normal(size=(n, k)).astype(np.float32), rng.normal(size=(k, m)).astype(np.float32))
                for n, k, m in shapes]
    flops = sum(3 * 2 * n * k * m for n, k, m in shapes)  # forward, dA and dB

    def through_tensor() -> None:
        for a, b in operands:
            A, B = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
            (A @ B).backward(np.ones((a.shape[0], b.shape[1]), np.float32))

    def raw() -> None:
        for a, b in operands:
            out = a @ b
            g = np.ones_like(out)
            _ = g @ b.T, a.T @ g
    tensor_s, raw_s = median_seconds(through_tensor, raw, repeats)
    return flops / tensor_s / 1e9, flops / raw_s / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="threads for numpy's BLAS and torch")
    parser.add_argument("--only", nargs="+", choices=sorted(GOALS), help="run only these cases")
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}")
    cases = {"mlp_step": mlp_step, "conv2d_fwd_bwd": conv2d_fwd_bwd,
             "grouped_conv_fwd_bwd": grouped_conv_fwd_bwd, "depthwise_conv_fwd_bwd": depthwise_conv_fwd_bwd,
             "lstm_32_steps": lstm_32_steps, "sdpa_fwd_bwd": sdpa_fwd_bwd,
             "sdpa_causal_fwd_bwd": sdpa_causal_fwd_bwd, "mha_fwd_bwd": mha_fwd_bwd,
             "mha_causal_fwd_bwd": mha_causal_fwd_bwd}
    for name, build in cases.items():
        if args.only and name not in args.only:
            continue
        ref, peer = build()
        ref_times, peer_times = run_times(ref, peer, args.repeats)
        ref_s, peer_s = statistics.median(ref_times), statistics.median(peer_times)
        # on a busy machine the medians wander; the fastest runs are the ones nobody disturbed
        best = min(ref_times) / min(peer_times)
        verdict = "ok" if ref_s / peer_s <= GOALS[name] else f"over the goal of {GOALS[name]}"
        print(f"{name}: {ref_s / peer_s:.2f}  (ref {ref_s * 1e3:.2f} ms, torch {peer_s * 1e3:.2f} ms; "
              f"best-of-{args.repeats} ratio {best:.2f}; {verdict})")
    if args.only:
        return
    tensor_gflops, raw_gflops = matmul_throughput(args.repeats)
    print(f"matmul_throughput: {tensor_gflops / raw_gflops:.2f}  "
          f"(Tensor @ fwd+bwd {tensor_gflops:.1f} GFLOP/s, numpy raw @ {raw_gflops:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
