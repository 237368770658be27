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


class RecurrentStateDemo(Demo):
    """A ``CharLM``-like model (``embed`` and a one-layer ``rnn``) reading ``text`` (chapter 08).

    ``model``: has ``embed`` (nn.Embedding) and ``rnn``; ``encode``: text → list of ids (a
    tokenizer's ``encode``). State: ``text`` (what the model reads) and ``step`` (the cursor, a
    character index). Top: the hidden units (rows) over the characters; bottom: the mean of
    each gate over the units; the title shows the character at the cursor and the model's
    top guesses for the next one when ``decode`` is given."""

    def __init__(self, model: nn.Module, encode: Any, decode: Any = None, **state: Any) -> None:
        if not hasattr(model, "embed") or not hasattr(model, "rnn"):
            raise TypeError(f"RecurrentStateDemo expected a model with .embed and .rnn (a CharLM), "
                            f"got {type(model).__name__}")
        _gate_kind(model.rnn)
        self.model, self.encode, self.decode = model, encode, decode
        super().__init__(**state)

    def defaults(self) -> dict[str, Any]:
        return {"text": "Return a new list of the values.", "step": 0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        text = state["text"]
        if not isinstance(text, str) or not 1 <= len(text) <= 200:
            raise ValueError(f"expected text of 1 to 200 characters, got {text!r}")
        step = int(state["step"])
        if not 0 <= step < len(text):
            step = len(text) - 1 if step >= len(text) else 0   # a shorter text moves the cursor
        return {"text": text, "step": step}

    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {"text": widgets.Text(description="text", continuous_update=False),
                "step": widgets.IntSlider(min=0, max=199, description="step")}

    def refresh_controls(self) -> None:
        self._controls["step"].max = len(self.state["text"]) - 1

    def trace(self) -> dict[str, np.ndarray]:
        """The traces of the current text: exactly what is drawn."""
        ids = torch.tensor(self.encode(self.state["text"]), dtype=torch.int64)
        weight = self.model.embed.weight
        with torch.no_grad():
            return gate_trace(self.model.rnn, self.model.embed(ids.to(weight.device)).cpu())

    def draw_initial(self) -> None:
        self.figure.set_size_inches(11, 5.5)
        self.ax_h, self.ax_g = self.figure.subplots(2, 1, sharex=True,
                                                     gridspec_kw={"height_ratios": [3, 2]})

    def redraw(self) -> None:
        trace, text, step = self.trace(), self.state["text"], self.state["step"]
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
        self.ax_g.legend(loc="upper right", fontsize=8, ncol=3)
        for ax in (self.ax_h, self.ax_g):
            ax.axvline(step, color="black", lw=1.5, alpha=0.6)
        self.ax_g.set_xticks(range(len(text)))
        self.ax_g.set_xticklabels([ch if ch != " " else "␣" for ch in text], fontsize=8)
        self.ax_h.set_title(self._title(text, step), fontsize=10)

    def _title(self, text: str, step: int) -> str:
        title = f"step {step}: read {text[step]!r}"
        if self.decode is None:
            return title
        ids = torch.tensor([self.encode(text[: step + 1])], dtype=torch.int64)
        with torch.no_grad():
            logits = self.model(ids.to(self.model.embed.weight.device))[0][0, -1]
        top = logits.float().softmax(-1).topk(3)
        guesses = ", ".join(f"{self.decode([int(i)])!r} {float(p):.2f}"
                            for p, i in zip(top.values, top.indices, strict=True))
        return f"{title}; next: {guesses}"
