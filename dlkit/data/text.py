"""A text corpus that needs no download, and language-model windows over it (chapter 08).

The corpus is the documentation of Python itself: the docstrings of a fixed, sorted list of
pure-Python standard-library modules, walked in source order, so every machine with the same
Python minor version builds the same text.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

import numpy as np

from dlkit.data._checks import check_positive_int
from dlkit.data.dataset import ArrayDataset
from dlkit.data.tokenizers import Tokenizer

# Pure-Python standard-library modules, in sorted order.
CORPUS_MODULES: tuple[str, ...] = (
    "argparse",
    "base64",
    "bisect",
    "calendar",
    "cmd",
    "colorsys",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "difflib",
    "doctest",
    "enum",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "getopt",
    "gettext",
    "glob",
    "heapq",
    "html",
    "imaplib",
    "inspect",
    "ipaddress",
    "json",
    "logging",
    "mailbox",
    "mimetypes",
    "numbers",
    "optparse",
    "pickle",
    "pprint",
    "queue",
    "quopri",
    "random",
    "reprlib",
    "sched",
    "secrets",
    "shlex",
    "smtplib",
    "statistics",
    "string",
    "tarfile",
    "textwrap",
    "threading",
    "timeit",
    "tokenize",
    "trace",
    "unittest",
    "warnings",
    "wave",
    "weakref",
    "zipfile",
)


def load_stdlib_corpus(max_chars: int | None = None) -> str:
    """English text from standard-library docstrings, no download needed (chapter 08).

    Each section is a heading (``module`` or ``module.name``) and its docstring. The
    docstrings are read from each module's source file with ``ast`` rather than from the
    imported objects, because other libraries patch stdlib functions at import time (torch
    replaces ``inspect.getfile``), which would make the text depend on what was imported
    first. Modules without a source file in this Python are skipped. ``max_chars`` cuts the
    text to its first characters.
    """
    if max_chars is not None:
        max_chars = check_positive_int("max_chars", max_chars)
    text = _build_corpus()
    return text if max_chars is None else text[:max_chars]


@functools.lru_cache(maxsize=1)
def _build_corpus() -> str:
    sections: list[str] = []
    for name in CORPUS_MODULES:
        source = _module_source(name)
        if source is not None:
            sections.extend(_module_sections(name, ast.parse(source)))
    return "\n\n".join(sections) + "\n"


def _module_source(name: str) -> str | None:
    """Source text of a top-level stdlib module, or None where this Python lacks it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        return Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return None


def _module_sections(name: str, tree: ast.Module) -> list[str]:
    """The module docstring, then those of its public top-level classes (each followed by its
    public methods) and functions, in source order. Definitions nested in ``if``/``try``
    blocks are left out: they are often platform-specific."""
    sections = _section(name, tree)
    for node in tree.body:
        if not isinstance(node, _DEFINITIONS) or node.name.startswith("_"):
            continue
        sections += _section(f"{name}.{node.name}", node)
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, _DEFINITIONS) and not member.name.startswith("_"):
                    sections += _section(f"{name}.{node.name}.{member.name}", member)
    return sections


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _section(title: str, node: ast.AST) -> list[str]:
    doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
    return [f"{title}\n\n{doc}"] if doc and doc.strip() else []


def make_language_model_data(
    text: str, tokenizer: Tokenizer, seq_len: int, stride: int | None = None
) -> ArrayDataset:
    """Next-token windows of ``text`` (chapter 08).

    The text is encoded once; window i starts at ``i * stride`` (default ``seq_len``, no
    overlap). ``X[i]`` holds ``seq_len`` token ids and ``y[i]`` the same window shifted one
    token ahead, so ``y[i, t]`` is the token that follows ``X[i, t]``. Both (N, seq_len) int64.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"expected a dlkit tokenizer (CharTokenizer, WordTokenizer), got {tokenizer!r}"
        )
    seq_len = check_positive_int("seq_len", seq_len)
    stride = seq_len if stride is None else check_positive_int("stride", stride)
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"expected a text of at least seq_len + 1 = {seq_len + 1} tokens, got {len(ids)}"
        )
    starts = np.arange(0, len(ids) - seq_len, stride)
    window = starts[:, None] + np.arange(seq_len)
    X, y = ids[window], ids[window + 1]
    kind = type(tokenizer).__name__.removesuffix("Tokenizer").lower()
    meta = {"tokenizer": tokenizer, "vocab": tokenizer.vocab, "vocab_size": len(tokenizer)}
    return ArrayDataset(X, y, f"language model ({kind})", None, meta)
