"""An encoder-decoder Transformer for sequence-to-sequence tasks (Vaswani et al., 2017) (chapter 09).

The encoder (``num_layers`` × :class:`TransformerBlock`, no mask but padding) reads the whole
source at once; the decoder (``num_layers`` × :class:`DecoderBlock`) reads the target prefix
with a causal mask and looks at the encoder's output through cross-attention. Training uses
teacher forcing exactly as chapter 08's ``Seq2Seq``: ``tgt_in = shift_right(y)`` = ``<bos>``,
y₁, ..., y_{T-1}, and every position is predicted in one call. ``greedy_decode`` writes with the
arg-max token at each step.
"""
from __future__ import annotations

import torch
from torch import nn

from dlkit.data.vocab import BOS
from dlkit.models.transformer import DecoderBlock, Positions, TransformerBlock, check_ids


class Seq2SeqTransformer(nn.Module):
    """forward(src (N, S), tgt_in (N, T)) → logits (N, T, tgt_vocab) (chapter 09).

    ``pad_id``: source tokens equal to it are masked out of attention (None: no padding)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, d_ff: int | None = None, max_len: int = 64,
                 dropout: float = 0.0, positions: str = "sinusoidal", norm_first: bool = True,
                 pad_id: int | None = None) -> None:
        super().__init__()
        self.src_vocab, self.tgt_vocab, self.pad_id = src_vocab, tgt_vocab, pad_id
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        self.positions = Positions(max_len, d_model, positions)
        self.encoder = nn.ModuleList(TransformerBlock(d_model, num_heads, d_ff, dropout, norm_first)
                                     for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, num_heads, d_ff, dropout, norm_first)
                                     for _ in range(num_layers))
        self.enc_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.out = nn.Linear(d_model, tgt_vocab)

    def _padding(self, src: torch.Tensor) -> torch.Tensor | None:
        return None if self.pad_id is None else src == self.pad_id

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """The encoder's output (N, S, d_model): one vector per source token, read in context."""
        check_ids("Seq2SeqTransformer source", src, self.src_vocab)
        x = self.src_embed(src) + self.positions(src.shape[1])
        for block in self.encoder:
            x = block(x, key_padding_mask=self._padding(src))
        return self.enc_norm(x)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor,
               src: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, T, tgt_vocab) for the target prefix ``tgt_in`` given the encoder output."""
        check_ids("Seq2SeqTransformer target", tgt_in, self.tgt_vocab)
        padding = None if src is None else self._padding(src)
        x = self.tgt_embed(tgt_in) + self.positions(tgt_in.shape[1])
        for block in self.decoder:
            x = block(x, memory, memory_padding_mask=padding)
        return self.out(self.dec_norm(x))

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        if len(src) != len(tgt_in):
            raise ValueError(f"Seq2SeqTransformer expected source and target batches of the same "
                             f"size, got {tuple(src.shape)} and {tuple(tgt_in.shape)}")
        return self.decode(tgt_in, self.encode(src), src)

    def cross_attention(self, src: torch.Tensor, tgt_in: torch.Tensor) -> list[torch.Tensor]:
        """Per decoder layer, the cross-attention weights (N, heads, T, S): which source
        positions each target position reads."""
        memory, padding = self.encode(src), self._padding(src)
        x = self.tgt_embed(tgt_in) + self.positions(tgt_in.shape[1])
        maps = []
        with torch.no_grad():
            for block in self.decoder:
                x, _, cross = block.forward_with_weights(x, memory, memory_padding_mask=padding)
                maps.append(cross)
        return maps

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, length: int, bos: int = BOS) -> torch.Tensor:
        """(N, length) ids: start from ``bos``, then append the arg-max token at every step."""
        memory = self.encode(src)
        out = torch.full((len(src), 1), bos, dtype=torch.int64, device=src.device)
        for _ in range(length):
            token = self.decode(out, memory, src)[:, -1:].argmax(-1)
            out = torch.cat([out, token], dim=1)
        return out[:, 1:]
