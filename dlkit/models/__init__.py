"""The torch modules the chapters train, one short file each (chapters 07-08).

``MLP``, ``LeNet``, ``ResNet`` (``BasicBlock``; ``residual=False`` gives the plain net of equal
depth), ``TinyUNet``, ``CharLM`` with ``sample``, and ``Seq2Seq`` with teacher forcing; chapter 09: Transformer
blocks (``TransformerBlock``, ``DecoderBlock``) and ``TinyGPT`` with a KV cache.
"""
from dlkit.models.char_lm import CharLM, next_token_probabilities, sample
from dlkit.models.detector import GridDetector, decode_detections, detection_loss, encode_targets
from dlkit.models.gpt import TinyGPT
from dlkit.models.lenet import LeNet, lenet_feature_size
from dlkit.models.mlp import MLP
from dlkit.models.resnet import BasicBlock, ResNet
from dlkit.models.seq2seq import Seq2Seq
from dlkit.models.seq2seq_transformer import Seq2SeqTransformer
from dlkit.models.transformer import (
    DecoderBlock,
    FeedForward,
    KVCache,
    MultiHeadAttention,
    Positions,
    TransformerBlock,
    sinusoidal_table,
)
from dlkit.models.unet import TinyUNet, double_conv

__all__ = [
    "MLP", "BasicBlock", "CharLM", "GridDetector", "decode_detections", "detection_loss",
    "encode_targets", "LeNet", "ResNet", "Seq2Seq", "TinyUNet", "double_conv",
    "lenet_feature_size", "next_token_probabilities", "sample",
    "DecoderBlock", "FeedForward", "KVCache", "MultiHeadAttention", "Positions", "Seq2SeqTransformer",
    "TinyGPT",
    "TransformerBlock", "sinusoidal_table",
]
