"""dlkit.models: output shapes, parameter counts by hand, overfitting a tiny batch over 5 seeds,
clean device moves (no tensor made on a fixed device inside forward)."""
from itertools import pairwise

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import dlkit
from dlkit.models import MLP, CharLM, LeNet, ResNet, Seq2Seq, TinyUNet, next_token_probabilities, sample
from dlkit.runtime import torch_threads

SEEDS = range(5)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest, and repeatably, on one thread."""
    with torch_threads(1):
        yield


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def overfit(model: nn.Module, inputs: tuple, target: torch.Tensor, loss_fn, steps: int,
            lr: float = 1e-2) -> tuple[float, float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(*inputs), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


# ---- MLP ------------------------------------------------------------------------------------
def test_mlp_shapes_and_parameter_count():
    model = MLP(12, [20, 7], 3, dropout=0.1)
    assert model(torch.randn(5, 3, 4)).shape == (5, 3)          # flattened per sample
    assert n_params(model) == (12 * 20 + 20) + (20 * 7 + 7) + (7 * 3 + 3)
    with pytest.raises(ValueError, match=r"\(N, 12\).*got \(5, 13\)"):
        model(torch.randn(5, 13))
    with pytest.raises(ValueError, match="positive int widths"):
        MLP(12, [0], 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_mlp_overfits_a_tiny_batch(seed):
    dlkit.seed(seed)
    X, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
    start, end = overfit(MLP(10, [64], 4), (X,), y, F.cross_entropy, 100)
    assert end < 0.05 * start


# ---- LeNet ----------------------------------------------------------------------------------
def test_lenet_has_lecuns_61706_parameters_and_adapts_to_the_image_size():
    model = LeNet()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert n_params(model) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    small = LeNet(in_channels=3, num_classes=5, image_size=16, modern=False)
    side = (16 // 2 - 4) // 2
    assert small(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    assert small.classifier[1].in_features == 16 * side * side
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="image_size >= 12"):
        LeNet(image_size=8)


@pytest.mark.parametrize("seed", SEEDS)
def test_lenet_overfits_a_tiny_batch(seed):
    dlkit.seed(seed)
    X, y = torch.randn(16, 1, 16, 16), torch.randint(0, 10, (16,))
    start, end = overfit(LeNet(image_size=16), (X,), y, F.cross_entropy, 80)
    assert end < 0.05 * start


# ---- ResNet ---------------------------------------------------------------------------------
def resnet_params(c_in, classes, widths, blocks, residual=True):
    """stem 3×3 conv + BN; each block two 3×3 convs + 2 BN, plus a 1×1 conv + BN shortcut where
    the shape changes; the linear head. (A BN has 2 parameters per channel.)"""
    total = 9 * c_in * widths[0] + 2 * widths[0]
    previous = widths[0]
    for width, count in zip(widths, blocks, strict=True):
        for _ in range(count):
            total += 9 * previous * width + 9 * width * width + 4 * width
            if residual and previous != width:
                total += previous * width + 2 * width
            previous = width
    return total + previous * classes + classes


def test_resnet_shapes_and_parameter_count():
    model = ResNet(3, 10, widths=(8, 16, 32), blocks=(2, 1, 1))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert n_params(model) == resnet_params(3, 10, (8, 16, 32), (2, 1, 1))
    plain = ResNet(3, 10, widths=(8, 16, 32), blocks=(2, 1, 1), residual=False)
    assert n_params(plain) == resnet_params(3, 10, (8, 16, 32), (2, 1, 1), residual=False)
    # stride-2 stages: 32 → 16 → 8 before the global pooling
    assert model.stages(model.stem(torch.randn(1, 3, 32, 32))).shape == (1, 32, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(2, 1, 32, 32\)"):
        model(torch.randn(2, 1, 32, 32))


def test_the_residual_path_carries_the_gradient_to_the_stem():
    """With the last BN of every block zeroed, a plain stack passes no gradient to the stem;
    the skips still do: ∂y/∂x = ∂F/∂x + I."""
    dlkit.seed(0)
    grads = {}
    for residual in (True, False):
        model = ResNet(1, 3, widths=(4, 4), blocks=(2, 2), residual=residual)
        for block in model.stages:
            nn.init.zeros_(block.bn2.weight)
        F.cross_entropy(model(torch.randn(4, 1, 8, 8)), torch.tensor([0, 1, 2, 0])).backward()
        grads[residual] = model.stem[0].weight.grad.abs().sum().item()
    assert grads[True] > 0 and grads[False] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_resnet_overfits_a_tiny_batch(seed):
    dlkit.seed(seed)
    X, y = torch.randn(16, 3, 16, 16), torch.randint(0, 5, (16,))
    start, end = overfit(ResNet(3, 5, widths=(8, 16), blocks=(1, 1)), (X,), y, F.cross_entropy, 60)
    assert end < 0.05 * start


# ---- TinyUNet -------------------------------------------------------------------------------
def unet_params(c_in, c_out, base, depth):
    def double(a, b):
        return 9 * a * b + 2 * b + 9 * b * b + 2 * b
    widths = [base * 2**i for i in range(depth + 1)]
    total = double(c_in, widths[0]) + sum(double(a, b) for a, b in pairwise(widths))
    total += sum(b * a * 4 + a for a, b in pairwise(widths))      # 2×2 transposed convs
    total += sum(double(2 * a, a) for a in widths[:-1])
    return total + widths[0] * c_out + c_out


def test_unet_shapes_and_parameter_count():
    model = TinyUNet(1, 2, base=4, depth=2)
    assert model(torch.randn(2, 1, 16, 12)).shape == (2, 2, 16, 12)
    assert n_params(model) == unet_params(1, 2, 4, 2)
    with pytest.raises(ValueError, match="divisible by 4, got \\(2, 1, 18, 12\\)"):
        model(torch.randn(2, 1, 18, 12))


@pytest.mark.parametrize("seed", SEEDS)
def test_unet_overfits_a_tiny_batch_of_masks(seed):
    dlkit.seed(seed)
    X = torch.randn(4, 1, 16, 16)
    masks = (X > 0.5).float()                  # a pixel-wise target the net must copy
    start, end = overfit(TinyUNet(1, 1, base=4, depth=2), (X,), masks,
                         F.binary_cross_entropy_with_logits, 100, lr=3e-2)
    assert end < 0.2 * start


# ---- CharLM ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cell, gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_char_lm_shapes_and_parameter_count(cell, gates):
    V, E, H = 11, 5, 7
    model = CharLM(V, E, H, num_layers=2, cell=cell)
    logits, state = model(torch.randint(0, V, (3, 9)))
    assert logits.shape == (3, 9, V)
    layers = gates * (H * E + H * H + 2 * H) + gates * (H * H + H * H + 2 * H)
    assert n_params(model) == V * E + layers + H * V + V
    with pytest.raises(ValueError, match=r"ids in \[0, 11\)"):
        model(torch.tensor([[11]]))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        model(torch.zeros(3, 9))


@pytest.mark.parametrize("seed", SEEDS)
def test_char_lm_overfits_a_tiny_text(seed):
    dlkit.seed(seed)
    ids = torch.randint(0, 8, (4, 13))
    model = CharLM(8, 8, 32, cell="lstm")

    def loss_fn(out, target):
        return F.cross_entropy(out[0].flatten(0, 1), target.flatten())
    start, end = overfit(model, (ids[:, :-1],), ids[:, 1:], loss_fn, 150, lr=3e-2)
    assert end < 0.1 * start


def test_temperature_and_top_k_reshape_the_distribution():
    logits = torch.tensor([2.0, 1.0, 0.0, 1.0])
    p1 = next_token_probabilities(logits)
    torch.testing.assert_close(p1, torch.softmax(logits, 0))
    cold, hot = next_token_probabilities(logits, 0.25), next_token_probabilities(logits, 4.0)
    assert cold.max() > p1.max() > hot.max()           # lower temperature: sharper
    top2 = next_token_probabilities(logits, top_k=2)   # the tie at the 2nd value is kept
    torch.testing.assert_close(top2, torch.softmax(torch.tensor([2.0, 1.0, -float("inf"), 1.0]), 0))
    top1 = next_token_probabilities(logits, top_k=1)
    assert top1.tolist() == [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="temperature > 0"):
        next_token_probabilities(logits, 0.0)


def test_sampling_is_reproducible_and_top_1_is_greedy():
    dlkit.seed(0)
    model = CharLM(6, 4, 8, cell="gru")
    a = sample(model, [1, 2], 20, generator=torch.Generator().manual_seed(3))
    b = sample(model, [1, 2], 20, generator=torch.Generator().manual_seed(3))
    assert a == b and len(a) == 20 and all(0 <= t < 6 for t in a)
    greedy = sample(model, [1, 2], 5, top_k=1)
    ids = torch.tensor([[1, 2]])
    for token in greedy:                       # each token is the arg-max after its prefix
        logits, _ = model(ids)
        assert token == int(logits[0, -1].argmax())
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert model.training                      # sample restores the mode it found
    with pytest.raises(ValueError, match="prompt"):
        sample(model, [], 3)


# ---- Seq2Seq --------------------------------------------------------------------------------
@pytest.mark.parametrize("cell, gates", [("gru", 3), ("lstm", 4)])
def test_seq2seq_shapes_and_parameter_count(cell, gates):
    Vs, Vt, E, H = 9, 7, 5, 6
    model = Seq2Seq(Vs, Vt, E, H, cell=cell)
    assert model(torch.randint(0, Vs, (3, 4)), torch.randint(0, Vt, (3, 6))).shape == (3, 6, Vt)
    rnn = gates * (H * E + H * H + 2 * H)
    assert n_params(model) == Vs * E + Vt * E + 2 * rnn + H * Vt + Vt
    assert model.greedy_decode(torch.randint(0, Vs, (3, 4)), 5).shape == (3, 5)
    with pytest.raises(ValueError, match="same size"):
        model(torch.randint(0, Vs, (3, 4)), torch.randint(0, Vt, (2, 6)))


def test_full_teacher_forcing_is_the_stepwise_loop_fed_the_truth():
    dlkit.seed(0)
    model = Seq2Seq(9, 9, 5, 6)
    src, tgt_in = torch.randint(0, 9, (3, 4)), torch.randint(0, 9, (3, 6))
    at_once = model(src, tgt_in)
    stepwise = model(src, tgt_in, teacher_forcing=1.0 - 1e-12)   # the loop, truth drawn ~always
    torch.testing.assert_close(at_once, stepwise, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_seq2seq_learns_to_reverse_a_tiny_batch(seed):
    from dlkit.data import make_reverse, shift_right
    dlkit.seed(seed)
    data = make_reverse(n=8, seq_len=5, vocab_size=10, seed=seed)
    src, tgt = torch.from_numpy(data.X), torch.from_numpy(data.y)
    tgt_in = torch.from_numpy(shift_right(data.y))
    model = Seq2Seq(10, 10, 16, 64)

    def loss_fn(out, target):
        return F.cross_entropy(out.flatten(0, 1), target.flatten())
    start, end = overfit(model, (src, tgt_in), tgt, loss_fn, 150, lr=2e-2)
    assert end < 0.1 * start
    assert torch.equal(model.greedy_decode(src, 5), tgt)


# ---- devices --------------------------------------------------------------------------------
def all_models():
    return [
        (MLP(12, [8], 3), torch.randn(2, 12)),
        (LeNet(image_size=16), torch.randn(2, 1, 16, 16)),
        (ResNet(1, 3, widths=(4, 8), blocks=(1, 1)), torch.randn(2, 1, 8, 8)),
        (TinyUNet(1, 1, base=4), torch.randn(2, 1, 8, 8)),
    ]


def test_models_move_with_to_and_make_no_tensor_on_a_fixed_device():
    """On the meta device (shapes only) every op fails if forward makes a CPU tensor itself."""
    for model, x in all_models():
        model = model.to("meta")
        assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
        assert model(x.to("meta")).device.type == "meta"
    model = Seq2Seq(9, 9, 4, 5).to("meta")
    src = torch.randint(0, 9, (2, 3), device="meta")
    assert model(src, src).device.type == "meta"
    lm = CharLM(9, 4, 5).to("meta")
    assert lm(src)[0].device.type == "meta"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_models_run_on_the_gpu():
    device = dlkit.device()
    for model, x in all_models():
        model = model.to(device)
        assert model(x.to(device)).is_cuda
    lm = CharLM(6, 4, 8).to(device)
    assert len(sample(lm, [1, 2], 5, temperature=0.8, top_k=3)) == 5
    s2s = Seq2Seq(9, 9, 4, 5).to(device)
    src = torch.randint(0, 9, (2, 3), device=device)
    assert s2s(src, src, teacher_forcing=0.5).is_cuda and s2s.greedy_decode(src, 4).is_cuda


def test_char_lm_trains_with_the_trainer_below_the_unigram_baseline():
    """Models and the training loop together: a text with structure (a repeated phrase) is
    learned well below the unigram baseline, the loss of knowing only character frequencies."""
    from dlkit.data import CharTokenizer
    from dlkit.train import Trainer

    text = "the cat sat on the mat. " * 40
    tok = CharTokenizer(text)
    ids = torch.tensor(tok.encode(text))
    windows = ids[: (len(ids) - 1) // 17 * 17 + 1].unfold(0, 17, 16)     # (N, 17), overlapping by 1
    data = torch.utils.data.TensorDataset(windows[:, :-1], windows[:, 1:])
    counts = torch.bincount(ids, minlength=len(tok)).double()
    p = counts / counts.sum()
    unigram = float(-(p[p > 0] * p[p > 0].log()).sum())
    for seed in SEEDS:
        dlkit.seed(seed)
        loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=True)
        model = CharLM(len(tok), 16, 64, cell="lstm")
        trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2),
                          lambda logits, y: F.cross_entropy(logits.flatten(0, 1), y.flatten()),
                          device="cpu", clip_grad_norm=1.0, progress=False, plot=False)
        history = trainer.fit(loader, epochs=8)
        assert history["train_loss"][-1] < 0.5 * unigram, (seed, history["train_loss"], unigram)
    sampled = tok.decode(sample(model, tok.encode("the c"), 20, temperature=0.5))
    assert "at" in sampled
