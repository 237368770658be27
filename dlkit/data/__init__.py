"""Datasets for the course: every loader returns an :class:`ArrayDataset` (chapter 06).

Offline, shipped or generated: :func:`load_digits`, the 2-D toy sets (:func:`make_moons`,
:func:`make_circles`, :func:`make_spirals`, :func:`make_ring_gaussians`, :func:`make_blobs`,
:func:`make_xor`), :func:`make_shapes` images, sequence tasks (:func:`make_sine`,
:func:`make_copy`, :func:`make_reverse`, :func:`make_addition`), a graph (:func:`make_sbm_graph`) a text corpus
(:func:`load_stdlib_corpus`) with tokenizers, and labelled review sentences (:func:`load_reviews`).
Chapter 13's applications: star ratings from a latent-factor model (:func:`make_ratings`), loan
applicants (:func:`make_credit`), a random-walk price series (:func:`make_random_walk_prices`)
and the breast-cancer diagnostic table (:func:`load_breast_cancer`).

Downloaded once into a cache and verified: :func:`load_mnist`, :func:`load_fashion_mnist`,
:func:`load_cifar10`. Offline they raise :class:`DatasetUnavailable` naming the offline
dataset to use instead; :func:`course_images` picks Fashion-MNIST or, in quick mode or
offline, the digits, for the chapters that train a real model.
"""

from dlkit.data.breast_cancer import load_breast_cancer
from dlkit.data.cifar import load_cifar10, read_cifar10
from dlkit.data.course import course_images
from dlkit.data.credit import make_credit
from dlkit.data.dataset import ArrayDataset
from dlkit.data.digits import load_digits
from dlkit.data.download import ChecksumMismatch, DatasetUnavailable, RemoteFile, dataset_dir, fetch
from dlkit.data.graphs import make_sbm_graph
from dlkit.data.mnist import load_fashion_mnist, load_mnist, read_idx, read_idx_pair
from dlkit.data.prices import make_random_walk_prices
from dlkit.data.ratings import make_ratings
from dlkit.data.reviews import load_reviews
from dlkit.data.scenes import make_shape_scenes
from dlkit.data.sequences import make_addition, make_copy, make_reverse, make_sine, shift_right
from dlkit.data.shapes import make_shapes, mask_to_box
from dlkit.data.text import load_stdlib_corpus, make_language_model_data
from dlkit.data.tokenizers import CharTokenizer, Tokenizer, WordTokenizer
from dlkit.data.toy2d import (
    make_blobs,
    make_circles,
    make_moons,
    make_ring_gaussians,
    make_spirals,
    make_xor,
)
from dlkit.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "ArrayDataset",
    "BOS",
    "EOS",
    "PAD",
    "SPECIALS",
    "UNK",
    "CharTokenizer",
    "ChecksumMismatch",
    "DatasetUnavailable",
    "RemoteFile",
    "Tokenizer",
    "Vocab",
    "WordTokenizer",
    "course_images",
    "dataset_dir",
    "fetch",
    "load_breast_cancer",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_reviews",
    "load_stdlib_corpus",
    "make_addition",
    "make_blobs",
    "make_circles",
    "make_copy",
    "make_credit",
    "make_language_model_data",
    "make_moons",
    "make_random_walk_prices",
    "make_ratings",
    "make_reverse",
    "make_ring_gaussians",
    "make_sbm_graph",
    "make_shape_scenes",
    "make_shapes",
    "make_sine",
    "make_spirals",
    "make_xor",
    "mask_to_box",
    "read_cifar10",
    "read_idx",
    "read_idx_pair",
    "shift_right",
]
