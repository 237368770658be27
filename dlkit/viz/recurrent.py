"""Inside a recurrent network, step by step (chapter 08): hidden state and gates over a sequence.

``gate_trace`` runs a one-layer torch ``nn.RNN``/``nn.LSTM``/``nn.GRU`` one step at a time on one
sequence and records what the layer computes but does not return: every gate's activation
(LSTM: input i, forget f, output o; GRU: reset r, update z) and the hidden state (and the LSTM's
memory cell c). ``RecurrentStateDemo`` draws them for a ``CharLM`` reading a text: a heat map
of the hidden units over the characters, and each gate's mean activation, with a cursor on one
step that a slider moves.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from dlkit.viz.demo import Demo
from dlkit.viz.style import drawable

GATES = {nn.LSTM: ("input i", "forget f", "output o"), nn.GRU: ("reset r", "update z"), nn.RNN: ()}


def _gate_kind(layer: nn.Module) -> type:
    for kind in GATES:
        if isinstance(layer, kind):
            if layer.num_layers != 1 or layer.bidirectional:
                raise ValueError(f"gate_trace expected a one-layer, one-direction {kind.__name__}, "
                                 f"got num_layers={layer.num_layers}, "
                                 f"bidirectional={layer.bidirectional}")
            return kind
    raise TypeError(f"gate_trace expected a torch nn.RNN, nn.LSTM or nn.GRU, got {type(layer).__name__}")


@torch.no_grad()
def gate_trace(layer: nn.Module, inputs: torch.Tensor) -> dict[str, np.ndarray]:
    """Run ``layer`` over ``inputs`` (T, input_size), one sequence, and return each (T, H) trace:
    "hidden", "cell" (LSTM), and every gate by name (chapter 08). Uses torch's gate layout
    (LSTM rows i, f, g, o; GRU rows r, z, n); the hidden states equal ``layer``'s own output."""
    kind = _gate_kind(layer)
    if inputs.ndim != 2 or inputs.shape[1] != layer.input_size:
        raise ValueError(f"gate_trace expected inputs of shape (T, {layer.input_size}), "
                         f"got {tuple(inputs.shape)}")
    H = layer.hidden_size
    w_ih, w_hh = layer.weight_ih_l0, layer.weight_hh_l0
    b_ih = layer.bias_ih_l0 if layer.bias else torch.zeros(w_ih.shape[0])
    b_hh = layer.bias_hh_l0 if layer.bias else torch.zeros(w_hh.shape[0])
    x = inputs.to(w_ih.dtype)
    h, c = torch.zeros(H, dtype=w_ih.dtype), torch.zeros(H, dtype=w_ih.dtype)
    trace: dict[str, list[torch.Tensor]] = {"hidden": []}
    for x_t in x:
        gi, gh = w_ih @ x_t + b_ih, w_hh @ h + b_hh
        if kind is nn.LSTM:
            i, f, g, o = (gi + gh).split(H)
            i, f, o, g = i.sigmoid(), f.sigmoid(), o.sigmoid(), g.tanh()
            c = f * c + i * g
            h = o * c.tanh()
            for name, value in (("input i", i), ("forget f", f), ("output o", o), ("cell", c)):
                trace.setdefault(name, []).append(value)
        elif kind is nn.GRU:
            r = (gi[:H] + gh[:H]).sigmoid()
            z = (gi[H:2 * H] + gh[H:2 * H]).sigmoid()
            n = (gi[2 * H:] + r * gh[2 * H:]).tanh()
            h = (1 - z) * n + z * h
            trace.setdefault("reset r", []).append(r)
            trace.setdefault("update z", []).append(z)
        else:
            pre = gi + gh
            h = pre.tanh() if layer.nonlinearity == "tanh" else pre.relu()
        trace["hidden"].append(h)
    return {name: torch.stack(values).float().numpy() for name, values in trace.items()}


def corpus_char_lstm(seed: int = 0, chars: int = 40_000, epochs: int = 2) -> tuple[nn.Module, Any]:
    """(a ``CharLM`` LSTM trained on the first ``chars`` characters of the stdlib corpus, its
    ``CharTokenizer``): the same for a ``seed`` on every run, global RNGs untouched (chapter 08)."""
    import torch.nn.functional as F

    from dlkit.data import CharTokenizer, load_stdlib_corpus, make_language_model_data
    from dlkit.models import CharLM
    from dlkit.runtime import torch_threads

    for name, value, low in (("seed", seed, 0), ("chars", chars, 1000), ("epochs", epochs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"expected {name} an int >= {low}, got {value!r}")
    corpus = load_stdlib_corpus()
    tokenizer = CharTokenizer(corpus)
    windows = make_language_model_data(corpus[:chars], tokenizer, seq_len=64)
    data = torch.utils.data.TensorDataset(torch.as_tensor(windows.X), torch.as_tensor(windows.y))
    with torch_threads(1), torch.random.fork_rng(devices=[]):   # the learner's RNG stays untouched
        torch.manual_seed(seed)
        model = CharLM(len(tokenizer), embed_dim=32, hidden_size=64, cell="lstm")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True,
                                             generator=torch.Generator().manual_seed(seed))
        for _ in range(epochs):
            for x, y in loader:
                loss = F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
    return model.eval(), tokenizer


class RecurrentStateDemo(Demo):
    """A ``CharLM``-like model (``embed`` and a one-layer ``rnn``) reading ``text`` (chapter 08).

    ``model``: has ``embed`` (nn.Embedding) and ``rnn``; ``encode``: text → list of ids (a
    tokenizer's ``encode``). State: ``text`` (what the model reads) and ``step`` (the cursor, a
    character index). Top: the hidden units (rows) over the characters; bottom: the mean of
    each gate over the units; the title shows the character at the cursor and the model's
    top guesses for the next one when ``decode`` is given."""

    figure_px = (520, 440)

    def __init__(self, model: nn.Module, encode: Any, decode: Any = None, **state: Any) -> None:
        if not hasattr(model, "embed") or not hasattr(model, "rnn"):
            raise TypeError(f"RecurrentStateDemo expected a model with .embed and .rnn (a CharLM), "
                            f"got {type(model).__name__}")
        _gate_kind(model.rnn)
        self.model, self.encode, self.decode = model, encode, decode
        super().__init__(**state)

    @classmethod
    def on_stdlib_corpus(cls, *, seed: int = 0, chars: int = 40_000, epochs: int = 2,
                         **state: Any) -> RecurrentStateDemo:
        """The demo on a small character LSTM trained here, in a few seconds, on the offline
        standard-library corpus (chapter 08's model, smaller). Deterministic for a ``seed``; the
        learner's random generators are left as they were."""
        model, tokenizer = corpus_char_lstm(seed, chars, epochs)
        return cls(model, tokenizer.encode, tokenizer.decode, **state)

    def defaults(self) -> dict[str, Any]:
        return {"text": "Return a new list of the values.", "step": 0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        text = state["text"]
        if not isinstance(text, str) or not 1 <= len(text) <= 200:
            got = f"{len(text)} characters ({text[:20]!r}…)" if isinstance(text, str) and text else repr(text)
            raise ValueError(f"expected text of 1 to 200 characters, got {got}")
        step = int(state["step"])
        if not 0 <= step < len(text):
            step = len(text) - 1 if step >= len(text) else 0   # a shorter text moves the cursor
        return {"text": text, "step": step}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {"text": widgets.Text(description="text", continuous_update=False),
                "step": widgets.IntSlider(min=0, max=199, description="step")}

    def refresh_controls(self) -> None:
        step = self._controls["step"]
        step.max = max(1, len(self.state["text"]) - 1)   # a slider needs two values
        step.disabled = len(self.state["text"]) == 1      # one character: nowhere to move

    def trace(self) -> dict[str, np.ndarray]:
        """The traces of the current text: exactly what is drawn (computed once per text)."""
        return self._read(self.state["text"])[0]

    def _read(self, text: str) -> tuple[dict[str, np.ndarray], torch.Tensor | None]:
        """(the traces, the next-character probabilities after each character) of ``text``."""
        if self._cached_text != text:
            ids = torch.tensor(self.encode(text), dtype=torch.int64)
            where = self.model.embed.weight.device
            with torch.no_grad():
                trace = gate_trace(self.model.rnn, self.model.embed(ids.to(where)).cpu())
                # the model is causal: its output at t depends only on text[:t + 1], so one pass
                # over the whole text gives every step's guess for the next character
                guesses = None if self.decode is None else \
                    self.model(ids[None].to(where))[0][0].float().softmax(-1).cpu()
            self._cached_text, self._cached = text, (trace, guesses)
        return self._cached

    def draw_initial(self) -> None:
        self._cached_text: str | None = None
        self._drawn_text: str | None = None
        # a fixed layout: constrained layout measures every character label on every frame
        self.figure.set_layout_engine("none")
        self.ax_h, self.ax_g = self.figure.subplots(2, 1, sharex=True, gridspec_kw={
            "height_ratios": [3, 2], "left": 0.1, "right": 0.98, "top": 0.94, "bottom": 0.07,
            "hspace": 0.06})

    def redraw(self) -> None:
        text, step = self.state["text"], self.state["step"]
        if text != self._drawn_text:      # a new text: new traces; a new step only moves the cursor
            self._draw_text(text)
        for cursor in self.cursors:
            cursor.set_xdata([step, step])
        self.ax_h.set_title(self._title(text, step), fontsize=10)

    def _draw_text(self, text: str) -> None:
        trace = self.trace()
        self.ax_h.clear()
        self.ax_g.clear()
        hidden = trace["hidden"]
        self.image = self.ax_h.imshow(hidden.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                                      interpolation="nearest")
        self.ax_h.set_ylabel("hidden unit")
        self.gate_lines = {}
        for name, values in trace.items():
            if name in ("hidden", "cell"):
                continue
            self.gate_lines[name], = self.ax_g.plot(values.mean(axis=1), marker=".", label=name)
        if not self.gate_lines:     # a plain RNN has no gates: show how big the state is
            self.gate_lines["mean |h|"], = self.ax_g.plot(np.abs(hidden).mean(axis=1), marker=".",
                                                          label="mean |h|")
        self.ax_g.set_ylim(0, 1)
        self.ax_g.set_ylabel("mean activation")
        self.ax_g.legend(loc="lower center", fontsize=8, ncol=3)
        self.cursors = [ax.axvline(0, color="black", lw=1.5, alpha=0.6) for ax in (self.ax_h, self.ax_g)]
        every = max(1, -(-len(text) // 50))      # a label per character while they fit
        self.ax_g.set_xticks(range(0, len(text), every))
        self.ax_g.set_xticklabels([drawable(ch, visible_spaces=True) for ch in text[::every]], fontsize=8)
        # one tick per character is many artists: no grid lines and no tick marks over the map
        self.ax_h.grid(False)
        self.ax_g.grid(False, axis="x")
        self.ax_h.tick_params(axis="x", length=0)
        self._drawn_text = text

    def _title(self, text: str, step: int) -> str:
        title = f"step {step}: read {drawable(text[step])!r}"
        guesses = self._read(text)[1]
        if guesses is None:
            return title
        top = guesses[step].topk(3)
        named = ", ".join(f"{drawable(self.decode([int(i)]))!r} {float(p):.2f}"
                          for p, i in zip(top.values, top.indices, strict=True))
        return f"{title}; next: {named}"
