"""Where a Transformer looks (chapter 09): attention heat maps per layer and head, live.

``AttentionDemo`` reads a sentence the learner types with a trained ``TinyGPT`` and draws, for
one layer, the attention weights of one head (or of every head side by side) as a query × key
heat map with the tokens as tick labels: row t is where position t looks, it sums to 1, and
it is empty above the diagonal because a language model may not read ahead. A query cursor
picks one row; the title lists the keys it weighs most.

Text the model cannot read as typed is still shown, and the figure says why: characters
outside the vocabulary are read as ``<unk>`` (and named), a text longer than the model's
context is cut to its last ``max_len`` tokens, an empty text asks for one.
"""
from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.colors import PowerNorm
from matplotlib.patches import Rectangle
from torch import nn

from dlkit.viz.demo import DRAW_LOCK, Demo, figure_png
from dlkit.viz.style import PALETTE, demo_style, drawable

ALL_HEADS = "all"
UNKNOWN_COLOR = PALETTE[1]   # vermillion: the tick label of a token read as <unk>
def token_label(token: str) -> str:
    """A tick label for ``token``: white space made visible, what the font cannot draw as �,
    long words cut."""
    token = drawable(token, visible_spaces=True)
    return token if len(token) <= 8 else token[:7] + "…"


def corpus_tiny_gpt(seed: int = 0, chars: int = 30_000, steps: int = 150) -> tuple[nn.Module, Any]:
    """(a ``TinyGPT`` trained for ``steps`` Adam steps on the first ``chars`` characters of the
    stdlib corpus, its ``CharTokenizer``): the same for a ``seed`` on every run, the global
    random generators untouched; a few seconds on one core (chapter 09)."""
    import torch.nn.functional as F

    from dlkit.data import CharTokenizer, load_stdlib_corpus, make_language_model_data
    from dlkit.models import TinyGPT
    from dlkit.runtime import torch_threads

    for name, value, low in (("seed", seed, 0), ("chars", chars, 1000), ("steps", steps, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"expected {name} an int >= {low}, got {value!r}")
    corpus = load_stdlib_corpus()
    tokenizer = CharTokenizer(corpus)
    windows = make_language_model_data(corpus[:chars], tokenizer, seq_len=32, stride=16)
    X, y = torch.as_tensor(windows.X), torch.as_tensor(windows.y)
    with torch_threads(1), torch.random.fork_rng(devices=[]):   # the learner's RNG stays untouched
        torch.manual_seed(seed)
        model = TinyGPT(len(tokenizer), d_model=32, num_heads=4, num_layers=2, max_len=64)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        order = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            batch = torch.randint(0, len(X), (32,), generator=order)
            loss = F.cross_entropy(model(X[batch]).flatten(0, 1), y[batch].flatten())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return model.eval(), tokenizer


class AttentionDemo(Demo):
    """The attention weights of a trained ``TinyGPT``-like ``model`` reading ``text`` (chapter 09).

    ``model``: has ``attention_maps(idx) -> [(B, heads, T, T) per layer]`` and ``max_len``;
    ``tokenizer``: a dlkit tokenizer (``tokenize`` and ``vocab``), the one the model was
    trained with. State: ``text``, ``layer`` (0-based), ``head`` (0-based, or ``"all"`` for
    every head of the layer) and ``query`` (the position whose row is outlined and described).
    ``maps()`` is exactly what is drawn: (layers, heads, T, T) for the tokens read."""

    figure_px = (520, 460)

    def __init__(self, model: nn.Module, tokenizer: Any, **state: Any) -> None:
        if not callable(getattr(model, "attention_maps", None)) or not hasattr(model, "max_len"):
            raise TypeError(f"AttentionDemo expected a model with .attention_maps(idx) and .max_len "
                            f"(a dlkit.models.TinyGPT), got {type(model).__name__}")
        if not callable(getattr(tokenizer, "tokenize", None)) or not hasattr(tokenizer, "vocab"):
            raise TypeError(f"AttentionDemo expected a dlkit tokenizer (CharTokenizer, WordTokenizer) "
                            f"with .tokenize and .vocab, got {type(tokenizer).__name__}")
        self.model, self.tokenizer = model, tokenizer
        self._cached_text: str | None = None
        probe = self._read("a")[0]                 # runs the model once: a bad model fails here
        self.num_layers, self.num_heads = probe.shape[0], probe.shape[1]
        super().__init__(**state)

    @classmethod
    def on_stdlib_corpus(cls, *, seed: int = 0, chars: int = 30_000, steps: int = 150,
                         **state: Any) -> AttentionDemo:
        """The demo on a small character GPT trained here, in a few seconds, on the offline
        standard-library corpus (chapter 09's model, smaller). Deterministic for a ``seed``; the
        learner's random generators are left as they were."""
        model, tokenizer = corpus_tiny_gpt(seed, chars, steps)
        return cls(model, tokenizer, **state)

    # ---- what is computed -------------------------------------------------------------------
    def tokens(self, text: str | None = None) -> tuple[list[str], list[str], int]:
        """(the tokens the model reads, those outside the vocabulary, how many were cut off the
        front to fit the context) for ``text`` (default: the current one)."""
        tokens = self.tokenizer.tokenize(self.state["text"] if text is None else text)
        unknown = list(dict.fromkeys(t for t in tokens if t not in self.tokenizer.vocab))
        dropped = max(0, len(tokens) - self.model.max_len)
        return tokens[dropped:], unknown, dropped

    def maps(self) -> np.ndarray:
        """(layers, heads, T, T): the model's attention weights for the current text, as drawn
        (T = 0 for an empty text)."""
        return self._read(self.state["text"])[0]

    def _read(self, text: str) -> tuple[np.ndarray, list[str], list[str], int]:
        """(maps, tokens, unknown tokens, tokens dropped) of ``text``, computed once per text."""
        if self._cached_text != text:
            tokens, unknown, dropped = self.tokens(text)
            if tokens:
                where = next(self.model.parameters()).device
                ids = torch.tensor([self.tokenizer.vocab.encode(tokens)], dtype=torch.int64, device=where)
                was_training = self.model.training
                self.model.eval()                       # no dropout on the weights shown
                try:
                    with torch.no_grad():
                        maps = np.stack([w[0].float().cpu().numpy() for w in self.model.attention_maps(ids)])
                finally:
                    self.model.train(was_training)
            else:
                layers, heads = getattr(self, "num_layers", 0), getattr(self, "num_heads", 0)
                maps = np.zeros((layers, heads, 0, 0), np.float32)
            self._cached_text, self._cached = text, (maps, tokens, unknown, dropped)
        return self._cached

    # ---- state and controls -----------------------------------------------------------------
    def defaults(self) -> dict[str, Any]:
        return {"text": "Return a new list of the values.", "layer": 0, "head": ALL_HEADS, "query": None}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        text, layer, head, query = state["text"], state["layer"], state["head"], state["query"]
        if not isinstance(text, str):
            raise ValueError(f"expected text (a str) for the model to read, got {type(text).__name__} {text!r}")
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
                or not 0 <= layer < self.num_layers:
            raise ValueError(f"expected layer an int in 0..{self.num_layers - 1}, got {layer!r}")
        if head != ALL_HEADS and (isinstance(head, bool) or not isinstance(head, (int, np.integer))
                                  or not 0 <= head < self.num_heads):
            raise ValueError(f"expected head an int in 0..{self.num_heads - 1} or {ALL_HEADS!r}, "
                             f"got {head!r}")
        if query is not None and (isinstance(query, bool) or not isinstance(query, (int, np.integer))
                                  or query < 0):
            raise ValueError(f"expected query a non-negative int (a token position), got {query!r}")
        last_before = max(0, len(self._read(self.state["text"])[1]) - 1) if self.state else None
        length = len(self._read(text)[1])              # read last: the one kept for drawing
        if query is None or (text != self.state.get("text") and query == last_before):
            # by default, and after a new text if it was there, the last token: the one whose
            # output predicts what comes next
            query = length - 1
        query = max(0, min(int(query), length - 1))    # a shorter text pulls the cursor in
        return {"text": text, "layer": int(layer), "head": head if head == ALL_HEADS else int(head),
                "query": query}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "text": widgets.Text(description="text", continuous_update=False),
            "layer": widgets.Dropdown(options=[(f"layer {i + 1}", i) for i in range(self.num_layers)],
                                      description="layer"),
            "head": widgets.Dropdown(options=[("all heads", ALL_HEADS)]
                                     + [(f"head {h + 1}", h) for h in range(self.num_heads)],
                                     description="head"),
            "query": widgets.IntSlider(min=0, max=max(1, self.model.max_len - 1), description="query"),
        }

    def refresh_controls(self) -> None:
        length = len(self._read(self.state["text"])[1])
        query = self._controls["query"]
        query.max = max(1, length - 1)     # a slider needs two values; one token disables it
        query.disabled = length <= 1

    # ---- drawing -------------------------------------------------------------------------------
    def png(self) -> bytes:
        """The current figure as PNG. Every axes is placed by hand, so no layout engine runs."""
        with DRAW_LOCK, demo_style():
            self.figure.set_layout_engine("none")
            return figure_png(self.figure, self.dpi, demo_style)

    def draw_initial(self) -> None:
        # every axes is placed by hand (add_axes), so no layout engine moves them between frames
        self.ax_one = self.figure.add_axes((0.12, 0.1, 0.7, 0.66))
        self.ax_bar = self.figure.add_axes((0.85, 0.1, 0.03, 0.66))
        columns = math.ceil(math.sqrt(self.num_heads))
        rows = math.ceil(self.num_heads / columns)
        left, bottom, width, height, gap_x, gap_y = 0.07, 0.05, 0.91, 0.71, 0.08, 0.09
        cell_w, cell_h = (width - gap_x * (columns - 1)) / columns, (height - gap_y * (rows - 1)) / rows
        self.ax_heads = [self.figure.add_axes((left + (h % columns) * (cell_w + gap_x),
                                               bottom + (rows - 1 - h // columns) * (cell_h + gap_y),
                                               cell_w, cell_h))
                         for h in range(self.num_heads)]
        self._left = [ax for h, ax in enumerate(self.ax_heads) if h % columns == 0]
        self._bottom = [ax for h, ax in enumerate(self.ax_heads) if h + columns >= self.num_heads]
        self.images, self.cursors = {}, {}
        for ax in (self.ax_one, *self.ax_heads):
            # white = 0 (the masked future is blank); the square-root scale shows weak weights too
            self.images[ax] = ax.imshow(np.zeros((1, 1)), cmap="Blues", norm=PowerNorm(0.5, 0.0, 1.0),
                                        interpolation="nearest", aspect="auto")
            self.cursors[ax] = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False,
                                                      edgecolor=PALETTE[1], linewidth=2))
            ax.grid(False)
            ax.tick_params(length=0)
            # fixed places for the axis labels and titles: matplotlib would otherwise measure
            # every token label on every frame to place them (most of a frame's time)
            ax.xaxis.set_label_coords(0.5, -0.09)
            ax.yaxis.set_label_coords(-0.1, 0.5)
            ax.set_title(" ", y=1.01, fontsize=9)
        self.figure.colorbar(self.images[self.ax_one], cax=self.ax_bar, label="attention weight")
        self.ax_one.set_xlabel("key: the token looked at")
        self.ax_one.set_ylabel("query: the token looking")
        self.title = self.figure.text(0.02, 0.985, "", va="top", ha="left", fontsize=10)
        self.notice = self.figure.text(0.5, 0.45, "", va="center", ha="center", fontsize=11, wrap=True)
        self._drawn: tuple[str, Any] | None = None

    def redraw(self) -> None:
        text, layer, head, query = (self.state[k] for k in ("text", "layer", "head", "query"))
        maps, tokens, unknown, dropped = self._read(text)
        single = head != ALL_HEADS
        shown = [self.ax_one] if single else self.ax_heads
        for ax in (self.ax_one, *self.ax_heads):
            ax.set_visible(bool(tokens) and ax in shown)
        self.ax_bar.set_visible(bool(tokens) and single)
        if not tokens:
            self.notice.set_text("expected a text of at least one character to read, got an empty text:\n"
                                 "type a sentence in the text box")
            self.title.set_text("")
            return
        self.notice.set_text("")
        if self._drawn != (text, single):      # new tokens or another layout: new tick labels
            for ax in shown:     # in the grid, only the outer axes name the tokens
                self._label(ax, tokens, unknown, most=40 if single else 16,
                            x=single or ax in self._bottom, y=single or ax in self._left)
            self._drawn = (text, single)
        heads = [head] if single else range(self.num_heads)
        for ax, h in zip(shown, heads, strict=True):
            weights = maps[layer, h]
            image = self.images[ax]
            image.set_data(weights)
            image.set_extent((-0.5, len(tokens) - 0.5, len(tokens) - 0.5, -0.5))
            self.cursors[ax].set_bounds(-0.5, query - 0.5, len(tokens), 1)
            if not single:
                top = int(weights[query].argmax())
                ax.set_title(f"head {h + 1}: → {token_label(tokens[top])!r} {weights[query, top]:.2f}",
                             y=1.01, fontsize=9)
        self.title.set_text(self._describe(maps, tokens, unknown, dropped))

    def _label(self, ax: Any, tokens: list[str], unknown: list[str], most: int, x: bool, y: bool) -> None:
        """A tick label per token while they fit (every k-th beyond ``most``); unknown ones
        coloured. ``x``, ``y``: whether that axis is labelled (a grid labels its outer edges)."""
        every = max(1, math.ceil(len(tokens) / most))
        positions = list(range(0, len(tokens), every))
        size = 9 if len(positions) <= most * 0.6 else 7
        for axis, labelled in ((ax.xaxis, x), (ax.yaxis, y)):
            if not labelled:
                axis.set_ticks([])
                continue
            axis.set_ticks(positions, [token_label(tokens[i]) for i in positions], fontsize=size)
            for tick, i in zip(axis.get_ticklabels(), positions, strict=True):
                tick.set_color(UNKNOWN_COLOR if tokens[i] in unknown else "black")
        ax.set_xlim(-0.5, len(tokens) - 0.5)
        ax.set_ylim(len(tokens) - 0.5, -0.5)

    def _describe(self, maps: np.ndarray, tokens: list[str], unknown: list[str], dropped: int) -> str:
        """The title: what is shown, where the query looks most, and what was not read as typed."""
        layer, head, query = self.state["layer"], self.state["head"], self.state["query"]
        which = "all heads (their mean)" if head == ALL_HEADS else f"head {head + 1}"
        weights = maps[layer, :, query].mean(axis=0) if head == ALL_HEADS else maps[layer, head, query]
        top = np.argsort(-weights, kind="stable")[:3]
        lines = [f"layer {layer + 1} of {self.num_layers}, {which}",
                 f"query {query} {token_label(tokens[query])!r} looks at "
                 + ", ".join(f"{token_label(tokens[k])!r} ({k}) {weights[k]:.2f}" for k in top)]
        if unknown:
            named = ", ".join(repr(drawable(t)) for t in unknown[:5]) + (", …" if len(unknown) > 5 else "")
            lines.append(f"not in the vocabulary, read as <unk> (coloured): {named}")
        if dropped:
            lines.append(f"longer than the model's context of {self.model.max_len} tokens: "
                         f"the first {dropped} are cut off")
        return "\n".join(lines)
