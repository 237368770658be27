"""A character-level language model and sampling from it (chapter 08).

The model reads characters (ids) x₁..x_T and predicts each next one: embedding → RNN/LSTM/GRU
→ linear layer to one logit per character. Trained with cross-entropy on (x, x shifted by one),
it learns p(x_{t+1} | x_1..x_t). ``sample`` writes text by feeding its own output back in:

    p = softmax(logits / temperature)   temperature < 1: sharper, safer; > 1: flatter, wilder
    keep only the top_k most likely characters (if given), renormalise, draw one.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dlkit.models._recurrent import recurrent_layer

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


class CharLM(nn.Module):
    """Embedding → ``cell`` ("rnn", "lstm", "gru") × ``num_layers`` → Linear (chapter 08).

    forward(x (N, T) int64, state=None) → (logits (N, T, vocab_size), state). For the loss,
    ``F.cross_entropy(logits.flatten(0, 1), targets.flatten())``."""

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 1, cell: str = "lstm", dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size, self.cell = vocab_size, cell
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.rnn = recurrent_layer(cell, embed_dim, hidden_size, num_layers, dropout)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        if x.ndim != 2 or x.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"CharLM expected token ids of shape (N, T) and an integer dtype, "
                             f"got {tuple(x.shape)} {x.dtype}")
        if x.numel() and x.device.type != "meta" and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(f"CharLM expected ids in [0, {self.vocab_size}), got "
                             f"[{int(x.min())}, {int(x.max())}]")
        hidden, state = self.rnn(self.embed(x), state)
        return self.out(hidden), state


def next_token_probabilities(logits: torch.Tensor, temperature: float = 1.0,
                             top_k: int | None = None) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis, restricted to the ``top_k`` largest
    logits (ties at the k-th value are kept) and renormalised (chapter 08)."""
    if not temperature > 0:
        raise ValueError(f"expected temperature > 0, got {temperature}")
    logits = logits.float() / temperature
    if top_k is not None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"expected top_k to be a positive int or None, got {top_k!r}")
        k = min(top_k, logits.shape[-1])
        kth = logits.topk(k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1)


@torch.no_grad()
def sample(model: CharLM, prompt: list[int] | torch.Tensor, length: int, temperature: float = 1.0,
           top_k: int | None = None, generator: torch.Generator | None = None) -> list[int]:
    """``length`` new ids drawn one at a time after ``prompt`` (a non-empty list of ids), each
    from :func:`next_token_probabilities` of the model's last output (chapter 08)."""
    ids = torch.as_tensor(prompt, dtype=torch.int64).flatten()
    if ids.numel() == 0:
        raise ValueError("expected a prompt of at least one id to start sampling from")
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"expected length to be an int >= 0, got {length!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, state = model(ids[None].to(device))          # read the whole prompt once
    drawn: list[int] = []
    for _ in range(length):
        p = next_token_probabilities(logits[0, -1], temperature, top_k)
        token = torch.multinomial(p.cpu(), 1, generator=generator)
        drawn.append(int(token))
        logits, state = model(token[None].to(device), state)
    model.train(was_training)
    return drawn
