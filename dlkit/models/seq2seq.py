"""A sequence-to-sequence encoder-decoder (Sutskever et al., 2014; Cho et al., 2014) (chapter 08).

The encoder reads the source and its final state summarises it; the decoder starts from that
state and writes the target one token at a time. In training, **teacher forcing** feeds the
decoder the true previous token (``<bos>``, y₁, ..., y_{T-1}: ``dlkit.data.shift_right``)
instead of its own guess, so every step learns from a correct prefix and all steps run in one
call; ``teacher_forcing < 1`` feeds back the model's own prediction with probability
1 − teacher_forcing, which trains it for what it sees at inference. ``greedy_decode`` writes
with the arg-max token at each step.
"""
from __future__ import annotations

import torch
from torch import nn

from dlkit.data.vocab import BOS
from dlkit.models._recurrent import recurrent_layer


class Seq2Seq(nn.Module):
    """Encoder and decoder (each Embedding → GRU/LSTM), a Linear to target-vocabulary logits
    (chapter 08). forward(src (N, S), tgt_in (N, T)) → logits (N, T, tgt_vocab)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int = 32,
                 hidden_size: int = 64, num_layers: int = 1, cell: str = "gru") -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"expected cell 'gru' or 'lstm', got {cell!r}")
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.src_embed = nn.Embedding(src_vocab, embed_dim)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed_dim)
        self.encoder = recurrent_layer(cell, embed_dim, hidden_size, num_layers)
        self.decoder = recurrent_layer(cell, embed_dim, hidden_size, num_layers)
        self.out = nn.Linear(hidden_size, tgt_vocab)

    def _check(self, name: str, ids: torch.Tensor, vocab: int) -> None:
        if ids.ndim != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"Seq2Seq expected {name} token ids of shape (N, T) and an integer "
                             f"dtype, got {tuple(ids.shape)} {ids.dtype}")
        if ids.numel() and ids.device.type != "meta" and (ids.min() < 0 or ids.max() >= vocab):
            raise ValueError(f"Seq2Seq expected {name} ids in [0, {vocab}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")

    def encode(self, src: torch.Tensor):
        """The encoder's final state: the whole source in one vector per layer."""
        self._check("source", src, self.src_vocab)
        _, state = self.encoder(self.src_embed(src))
        return state

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor,
                teacher_forcing: float = 1.0) -> torch.Tensor:
        self._check("target", tgt_in, self.tgt_vocab)
        if len(src) != len(tgt_in):
            raise ValueError(f"Seq2Seq expected source and target batches of the same size, "
                             f"got {tuple(src.shape)} and {tuple(tgt_in.shape)}")
        state = self.encode(src)
        if teacher_forcing >= 1.0:                     # every step sees the true prefix: one call
            hidden, _ = self.decoder(self.tgt_embed(tgt_in), state)
            return self.out(hidden)
        logits, token = [], tgt_in[:, :1]
        for t in range(tgt_in.shape[1]):
            hidden, state = self.decoder(self.tgt_embed(token), state)
            logits.append(self.out(hidden))
            if t + 1 < tgt_in.shape[1]:
                use_truth = torch.rand(len(src), 1, device=src.device) < teacher_forcing
                token = torch.where(use_truth, tgt_in[:, t + 1: t + 2], logits[-1].argmax(-1))
        return torch.cat(logits, dim=1)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, length: int, bos: int = BOS) -> torch.Tensor:
        """(N, length) ids: start from ``bos``, then the arg-max token at every step."""
        state = self.encode(src)
        token = torch.full((len(src), 1), bos, dtype=torch.int64, device=src.device)
        out = []
        for _ in range(length):
            hidden, state = self.decoder(self.tgt_embed(token), state)
            token = self.out(hidden).argmax(-1)
            out.append(token)
        return torch.cat(out, dim=1)
