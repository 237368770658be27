"""dlkit.models.TinyGPT (chapter 09): shapes, the causal mask, attention maps, the KV cache
equal to a full recompute (float32 and float64), sampling."""
import pytest
import torch

import dlkit
from dlkit.models import TinyGPT
from dlkit.runtime import torch_threads

SEEDS = range(5)


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def gpt(seed: int = 0, dtype: torch.dtype = torch.float32, **kwargs) -> TinyGPT:
    dlkit.seed(seed)
    options = {"d_model": 32, "num_heads": 4, "num_layers": 3, "max_len": 24, **kwargs}
    return TinyGPT(17, **options).to(dtype).eval()


def test_forward_gives_one_logit_per_token_and_position():
    model = gpt()
    assert model(torch.randint(0, 17, (3, 10))).shape == (3, 10, 17)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_a_later_token_does_not_change_earlier_logits(positions):
    model = gpt(positions=positions)
    x = torch.randint(0, 17, (2, 12))
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 5) % 17
    a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-6)
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-3


def test_attention_maps_are_one_causal_softmax_per_layer_and_head():
    model = gpt()
    maps = model.attention_maps(torch.randint(0, 17, (2, 9)))
    assert len(maps) == 3
    for w in maps:
        assert w.shape == (2, 4, 9, 9)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 9))
        assert (w.triu(1) == 0).all() and (w >= 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", SEEDS)
def test_kv_cache_decoding_equals_the_full_recompute(seed, dtype):
    model = gpt(seed, dtype)
    x = torch.randint(0, 17, (3, 20), generator=torch.Generator().manual_seed(seed))
    full = model(x)
    caches = model.new_cache()
    steps = [model.forward_cached(x[:, :5], caches)]            # read a prompt, then one at a time
    steps += [model.forward_cached(x[:, t: t + 1], caches) for t in range(5, 20)]
    # float64 to 1e-6 absolute; float32 (~7 significant digits) to 1e-6 relative to the largest logit
    atol = 1e-6 if dtype == torch.float64 else 1e-6 * full.abs().max().item()
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=0, atol=atol)
    assert caches[0].keys.shape == (3, 4, 20, 8)


@pytest.mark.parametrize("seed", SEEDS)
def test_generate_draws_the_same_tokens_with_and_without_the_cache(seed):
    model = gpt(seed, torch.float64)
    prompt = torch.randint(0, 17, (2, 4), generator=torch.Generator().manual_seed(seed))
    # 30 new tokens overflow max_len=24: the context is cropped and the cache refilled
    runs = [model.generate(prompt, 30, temperature=0.8, top_k=5, use_cache=cache,
                           generator=torch.Generator().manual_seed(seed)) for cache in (True, False)]
    assert runs[0].shape == (2, 34)
    assert torch.equal(runs[0][:, :4], prompt) and torch.equal(runs[0], runs[1])


def test_top_k_one_is_greedy():
    model = gpt()
    prompt = torch.tensor([[1, 2, 3]])
    out = model.generate(prompt, 5, top_k=1)
    for t in range(3, 8):
        assert out[0, t] == model(out[:, :t])[0, -1].argmax()


def test_bad_input_gets_a_clear_error():
    model = gpt()
    with pytest.raises(ValueError, match=r"ids in \[0, 17\)"):
        model(torch.tensor([[1, 17]]))
    with pytest.raises(ValueError, match="max_len=24"):
        model(torch.zeros(1, 25, dtype=torch.int64))
    with pytest.raises(ValueError, match="shape \\(N, T\\)"):
        model(torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(torch.zeros(1, 0, dtype=torch.int64), 3)
