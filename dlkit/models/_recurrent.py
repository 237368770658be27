"""The recurrent layer a model asks for by name: "rnn", "lstm" or "gru" (chapter 08)."""
from __future__ import annotations

from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                    dropout: float = 0.0) -> nn.RNNBase:
    """A batch-first ``nn.RNN``/``nn.LSTM``/``nn.GRU``; dropout only between stacked layers."""
    if cell not in CELLS:
        raise ValueError(f"expected cell to be one of {sorted(CELLS)}, got {cell!r}")
    return CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                       dropout=dropout if num_layers > 1 else 0.0)
