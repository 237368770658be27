"""A tiny GPT: a decoder-only Transformer language model (Radford et al., 2018) (chapter 09).

Token embedding + position vectors → ``num_layers`` × :class:`TransformerBlock` with a causal
mask → LayerNorm → Linear to one logit per token. Trained with cross-entropy on (x, x shifted by
one) it learns p(x_{t+1} | x_1..x_t), like chapter 08's ``CharLM``, but every position reads
every earlier one directly instead of through a recurrent state.

Decoding one token at a time, the keys and values of the tokens already written never change
(the mask hides later tokens from them), so ``generate`` keeps them in a :class:`KVCache` per
layer and computes only the new token's: one step costs O(T) instead of O(T²), and the logits
equal a full recompute (to rounding).
"""
from __future__ import annotations

import torch
from torch import nn

from dlkit.models.char_lm import next_token_probabilities
from dlkit.models.transformer import KVCache, Positions, TransformerBlock, check_ids


class TinyGPT(nn.Module):
    """Decoder-only Transformer (chapter 09). forward(idx (B, T) int64) → logits (B, T, vocab).

    ``positions``: "learned" (GPT), "sinusoidal" or "none"; ``max_len``: the longest context.
    ``causal=False`` drops the causal mask: every position reads the whole sequence, which makes
    a BERT-style bidirectional encoder for masked-language modelling (it cannot ``generate``)."""

    def __init__(self, vocab_size: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, max_len: int = 128, d_ff: int | None = None,
                 dropout: float = 0.0, positions: str = "learned", norm_first: bool = True,
                 causal: bool = True) -> None:
        super().__init__()
        self.causal = causal
        self.vocab_size, self.max_len, self.num_heads = vocab_size, max_len, num_heads
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positions = Positions(max_len, d_model, positions)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, num_heads, d_ff, dropout, norm_first)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.head = nn.Linear(d_model, vocab_size)

    def _run(self, idx: torch.Tensor, caches: list[KVCache] | None = None,
             weights: list[torch.Tensor] | None = None) -> torch.Tensor:
        check_ids("TinyGPT", idx, self.vocab_size)
        offset = 0 if caches is None else caches[0].length
        if offset + idx.shape[1] > self.max_len:
            raise ValueError(f"TinyGPT expected at most max_len={self.max_len} tokens of context, "
                             f"got {offset + idx.shape[1]}")
        x = self.drop(self.embed(idx) + self.positions(idx.shape[1], offset))
        for i, block in enumerate(self.blocks):
            x, w = block.forward_with_weights(x, causal=self.causal,
                                              cache=None if caches is None else caches[i])
            if weights is not None:
                weights.append(w)
        return self.head(self.norm(x))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self._run(idx)

    def forward_cached(self, idx: torch.Tensor, caches: list[KVCache]) -> torch.Tensor:
        """Logits for ``idx``, the tokens that follow those already in ``caches`` (one
        :class:`KVCache` per layer, filled in place): what ``generate`` runs for each step."""
        if len(caches) != len(self.blocks):
            raise ValueError(f"expected one KVCache per layer ({len(self.blocks)}), got {len(caches)}")
        return self._run(idx, caches)

    def new_cache(self) -> list[KVCache]:
        """Empty caches, one per layer, for :meth:`forward_cached`."""
        return [KVCache() for _ in self.blocks]

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """One tensor (B, heads, T, T) per layer: the softmax weights each query position puts
        on every key position (rows sum to 1; zero above the diagonal, the causal mask, unless
        ``causal=False``)."""
        weights: list[torch.Tensor] = []
        self._run(idx, weights=weights)
        return weights

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None,
                 use_cache: bool = True) -> torch.Tensor:
        """(B, T + max_new_tokens): ``idx`` followed by tokens drawn one at a time from
        softmax(logits / temperature), restricted to the ``top_k`` most likely if given.

        ``use_cache`` reuses past keys/values (a :class:`KVCache` per layer); without it every
        step recomputes the whole context. When the context outgrows ``max_len`` only its last
        ``max_len`` tokens are kept and, with the cache, the cache is refilled from them."""
        if not self.causal:
            raise ValueError("TinyGPT.generate expected a causal model; this one (causal=False) "
                             "reads both directions, so it cannot write left to right")
        check_ids("TinyGPT.generate", idx, self.vocab_size)
        if idx.shape[1] == 0:
            raise ValueError("expected a prompt of at least one token to generate from")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"expected max_new_tokens to be an int >= 0, got {max_new_tokens!r}")
        was_training = self.training
        self.eval()
        caches, pending = None, idx[:, -self.max_len:]   # pending: tokens the model has not read
        for _ in range(max_new_tokens):
            if not use_cache:
                logits = self(idx[:, -self.max_len:])
            else:
                if caches is None or caches[0].length + pending.shape[1] > self.max_len:
                    caches, pending = self.new_cache(), idx[:, -self.max_len:]
                logits = self.forward_cached(pending, caches)
            probs = next_token_probabilities(logits[:, -1], temperature, top_k)
            token = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)
            idx, pending = torch.cat([idx, token], dim=1), token
        self.train(was_training)
        return idx
