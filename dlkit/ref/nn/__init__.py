"""From-scratch layers on the numpy autograd ``Tensor``, shaped like ``torch.nn`` (chapters 02-09).

Every layer keeps torch's parameter names, shapes and default initialisation, so
``load_torch_weights(ours, theirs)`` copies a torch layer in and the outputs and gradients can be
compared; each heavy layer (conv, pooling, normalization, recurrent steps, attention) is one
Tensor op with a hand-written backward.
"""
from dlkit.ref.nn.activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from dlkit.ref.nn.attention import (
                                    MultiHeadAttention,
                                    attention_weights,
                                    causal_mask,
                                    padding_mask,
                                    scaled_dot_product_attention,
)
from dlkit.ref.nn.cells import (
                                    GRUCell,
                                    LSTMCell,
                                    RNNCell,
                                    affine_sum,
                                    gru_cell,
                                    gru_hidden,
                                    lstm_cell,
                                    lstm_state,
                                    rnn_cell,
)
from dlkit.ref.nn.container import Flatten, Identity, Sequential
from dlkit.ref.nn.conv import Conv2d, col2im, conv2d, conv_output_size, im2col
from dlkit.ref.nn.conv_transpose import (
                                    ConvTranspose2d,
                                    conv_transpose2d,
                                    conv_transpose_output_size,
)
from dlkit.ref.nn.dropout import Dropout
from dlkit.ref.nn.embedding import Embedding, embedding
from dlkit.ref.nn.from_torch import load_torch_weights
from dlkit.ref.nn.linear import Linear
from dlkit.ref.nn.norm import (
                                    BatchNorm1d,
                                    BatchNorm2d,
                                    LayerNorm,
                                    batch_norm,
                                    batch_norm_backward,
                                    batch_norm_composed,
                                    layer_norm,
                                    normalize_backward,
)
from dlkit.ref.nn.pool import AvgPool2d, MaxPool2d, avg_pool2d, max_pool2d
from dlkit.ref.nn.positional import PositionalEncoding, sinusoidal_positional_encoding
from dlkit.ref.nn.recurrent import GRU, LSTM, RNN, unbind

__all__ = [
    "GELU", "GRU", "LSTM", "RNN", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout",
    "Embedding", "Flatten", "GRUCell", "Identity", "LSTMCell", "LayerNorm", "LeakyReLU", "Linear",
    "MaxPool2d", "MultiHeadAttention", "PositionalEncoding", "RNNCell", "ReLU", "Sequential",
    "Sigmoid", "Tanh", "affine_sum", "attention_weights", "avg_pool2d", "batch_norm",
    "batch_norm_backward", "batch_norm_composed", "causal_mask", "col2im", "conv2d",
    "conv_output_size", "conv_transpose2d", "conv_transpose_output_size",
    "embedding", "gru_cell", "gru_hidden", "im2col", "layer_norm",
    "load_torch_weights", "lstm_cell", "lstm_state", "max_pool2d", "normalize_backward",
    "padding_mask", "rnn_cell", "scaled_dot_product_attention", "sinusoidal_positional_encoding",
    "unbind",
]
