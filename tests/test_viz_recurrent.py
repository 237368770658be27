"""The recurrent-state demo (chapter 08): the traced gates are the layer's own computation."""
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dlkit.data import CharTokenizer
from dlkit.models import CharLM
from dlkit.viz import RecurrentStateDemo, gate_trace


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_traced_hidden_states_are_the_layers_output(cell):
    torch.manual_seed(0)
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](5, 7)
    x = torch.randn(9, 5)
    out, state = layer(x[:, None])
    trace = gate_trace(layer, x)
    np.testing.assert_allclose(trace["hidden"], out[:, 0].detach().numpy(), atol=1e-6)
    if cell == "lstm":
        np.testing.assert_allclose(trace["cell"][-1], state[1][0, 0].detach().numpy(), atol=1e-6)
        assert set(trace) == {"hidden", "cell", "input i", "forget f", "output o"}
    if cell == "gru":
        assert set(trace) == {"hidden", "reset r", "update z"}
    for name, values in trace.items():
        assert values.shape == (9, 7), name
        if name not in ("hidden", "cell"):
            assert np.all((values > 0) & (values < 1)), f"{name} is a sigmoid gate"


def test_the_forget_gate_trace_follows_the_forget_bias():
    layer = nn.LSTM(3, 4)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.zero_()
        layer.bias_hh_l0.zero_()
        layer.bias_ih_l0.zero_()
        layer.bias_ih_l0[4:8] = 3.0                  # rows i, f, g, o: the forget block
    trace = gate_trace(layer, torch.randn(6, 3))
    np.testing.assert_allclose(trace["forget f"], 1 / (1 + np.exp(-3.0)), rtol=1e-6)
    np.testing.assert_allclose(trace["input i"], 0.5, rtol=1e-6)


def test_bad_layers_and_inputs_are_refused():
    with pytest.raises(ValueError, match="one-layer"):
        gate_trace(nn.LSTM(3, 4, num_layers=2), torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        gate_trace(nn.GRU(3, 4), torch.randn(5, 2))
    with pytest.raises(TypeError, match="nn.RNN, nn.LSTM or nn.GRU"):
        gate_trace(nn.Linear(3, 4), torch.randn(5, 3))


def demo(**state):
    tok = CharTokenizer("abc def ghi")
    torch.manual_seed(0)
    return RecurrentStateDemo(CharLM(len(tok), 4, 6, cell="lstm"), tok.encode, tok.decode, **state)


def test_demo_draws_the_trace_and_moves_its_cursor():
    d = demo(text="abc fed", step=1)
    lines = d.gate_lines
    np.testing.assert_allclose(lines["forget f"].get_ydata(), d.trace()["forget f"].mean(axis=1))
    assert "step 1: read 'b'" in d.ax_h.get_title()
    before = d.png()
    d.set(step=5)
    assert "step 5: read 'e'" in d.ax_h.get_title() and d.png() != before
    d.set(text="ab")                                   # a shorter text pulls the cursor in
    assert d.state["step"] == 1


def test_demo_controls_follow_the_state():
    d = demo()
    d.widget()
    d._controls["text"].value = "hi di"
    assert d.state["text"] == "hi di" and d._controls["step"].max == 4
    d._controls["step"].value = 3
    assert "step 3" in d.ax_h.get_title()


def test_a_refused_text_typed_into_the_box_is_explained_beside_the_controls():
    d = demo(text="abc fed", step=3)
    view = d.widget()
    message = next(w for w in view.children[0].children if "dlkit-demo-message" in w._dom_classes)
    picture = d._image.value
    d._controls["text"].value = ""                     # the learner empties the box, presses Enter
    assert "expected text of 1 to 200 characters, got ''" in message.value
    assert "still shows the last valid text" in message.value
    assert d.state == {"text": "abc fed", "step": 3} and d._image.value == picture
    assert d._controls["text"].value == ""             # what was typed stays, to be corrected
    d._controls["text"].value = "<b>" * 70             # 210 characters, shown as text, not HTML
    assert "got 210 characters ('&lt;b&gt;" in message.value and "<b>" not in message.value
    d._controls["text"].value = "a"                    # one character: the cursor cannot move
    assert message.value == "" and d._controls["step"].disabled and d.state["step"] == 0
    d._controls["text"].value = "abc"
    assert message.value == "" and d.state["text"] == "abc" and d._image.value != picture
    assert not d._controls["step"].disabled and d._controls["step"].max == 2


def test_typed_characters_the_font_lacks_are_drawn_without_a_warning(recwarn):
    d = demo(text="a\tb 🙂c", step=1)
    d.png()
    d.set(step=4)
    d.png()
    assert [str(w.message) for w in recwarn if "Glyph" in str(w.message)] == []
    labels = [t.get_text() for t in d.ax_g.get_xticklabels()]
    assert labels == ["a", "⇥", "b", "␣", "\ufffd", "c"]
    assert "read '\ufffd'" in d.ax_h.get_title()


def test_demo_refuses_bad_state():
    with pytest.raises(ValueError, match="1 to 200 characters"):
        demo(text="")
    with pytest.raises(TypeError, match="CharLM"):
        RecurrentStateDemo(nn.Linear(2, 2), list)


def test_cached_guesses_are_those_of_the_prefix_alone():
    # one pass over the whole text gives each step's guess: the model is causal
    d = demo(text="abc fed", step=0)
    tok = CharTokenizer("abc def ghi")
    for step in range(7):
        d.set(step=step)
        with torch.no_grad():
            logits = d.model(torch.tensor([tok.encode("abc fed"[: step + 1])]))[0][0, -1]
        top = logits.softmax(-1).topk(3)
        expected = ", ".join(f"{tok.decode([int(i)])!r} {float(p):.2f}"
                             for p, i in zip(top.values, top.indices, strict=True))
        assert d.ax_h.get_title().endswith(f"next: {expected}")


def test_the_figure_is_rendered_at_the_size_it_is_shown():
    d = demo(text="abc fed", step=2)
    assert Image.open(io.BytesIO(d.png())).size == d.image_size == d.figure_px


def test_the_corpus_model_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(11)
    before = torch.get_rng_state()
    first = RecurrentStateDemo.on_stdlib_corpus(chars=4000, epochs=1, text="Return it.", step=3)
    assert torch.equal(torch.get_rng_state(), before)
    second = RecurrentStateDemo.on_stdlib_corpus(chars=4000, epochs=1, text="Return it.", step=3)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.state == {"text": "Return it.", "step": 3} and first.png() == second.png()
    with pytest.raises(ValueError, match="expected chars an int >= 1000, got 10"):
        RecurrentStateDemo.on_stdlib_corpus(chars=10)
