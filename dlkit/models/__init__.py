"""The torch modules the chapters train, one short file each (chapters 07-10).

``MLP``, ``LeNet``, ``ResNet`` (``BasicBlock``; ``residual=False`` gives the plain net of equal
depth), ``TinyUNet``, ``CharLM`` with ``sample``, and ``Seq2Seq`` with teacher forcing.
Chapter 09: the Transformer blocks (``TransformerBlock``, ``DecoderBlock``), ``Seq2SeqTransformer``,
``TinyGPT`` with a KV cache, and the graph networks ``GCN`` and ``GAT``. Chapter 10: the GAN
networks and losses (``gan``) and the ``VAE`` (``vae``). Chapter 12's outlook: the contrastive
losses ``nt_xent_loss`` (SimCLR) and ``clip_loss`` with ``random_views`` of digits, and the
leaky integrate-and-fire neuron ``lif_neuron``.
"""
from dlkit.models.char_lm import CharLM, next_token_probabilities, sample
from dlkit.models.contrastive import clip_loss, nt_xent_loss, random_views
from dlkit.models.detector import GridDetector, decode_detections, detection_loss, encode_targets
from dlkit.models.gan import (
    DCGANDiscriminator,
    DCGANGenerator,
    critic_gradient_norms,
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    js_divergence,
    minimax_value,
    mlp_discriminator,
    mlp_generator,
    optimal_discriminator,
    wgan_generator_loss,
)
from dlkit.models.gnn import GAT, GCN, GATLayer, GCNLayer, normalized_adjacency
from dlkit.models.gpt import TinyGPT
from dlkit.models.lenet import LeNet, lenet_feature_size
from dlkit.models.mlp import MLP
from dlkit.models.resnet import BasicBlock, ResNet
from dlkit.models.seq2seq import Seq2Seq
from dlkit.models.seq2seq_transformer import Seq2SeqTransformer
from dlkit.models.spiking import lif_neuron, lif_rate
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
from dlkit.models.vae import VAE, elbo, gaussian_kl, reparameterize

__all__ = [
    "MLP", "BasicBlock", "CharLM", "GridDetector", "decode_detections", "detection_loss",
    "encode_targets", "LeNet", "ResNet", "Seq2Seq", "TinyUNet", "double_conv",
    "lenet_feature_size", "next_token_probabilities", "sample",
    # chapter 09
    "DecoderBlock", "FeedForward", "KVCache", "MultiHeadAttention", "Positions", "Seq2SeqTransformer",
    "TinyGPT", "TransformerBlock", "sinusoidal_table", "GAT", "GATLayer", "GCN", "GCNLayer",
    "normalized_adjacency",
    # chapter 10
    "DCGANDiscriminator", "DCGANGenerator", "VAE", "critic_gradient_norms", "critic_loss",
    "discriminator_loss", "elbo", "gaussian_kl", "generator_loss", "gradient_penalty",
    "js_divergence", "minimax_value", "mlp_discriminator", "mlp_generator",
    "optimal_discriminator", "reparameterize", "wgan_generator_loss",
    # chapter 12, beyond this course
    "clip_loss", "lif_neuron", "lif_rate", "nt_xent_loss", "random_views",
]
