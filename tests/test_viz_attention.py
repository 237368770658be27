"""The attention demo (chapter 09): the maps drawn are the model's, every control changes the
figure and the state, and text the model cannot read as typed is explained, not a crash."""
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import dlkit
from dlkit.data import CharTokenizer, WordTokenizer
from dlkit.models import TinyGPT
from dlkit.runtime import torch_threads
from dlkit.viz import AttentionDemo
from dlkit.viz.attention import token_label

TEXT = "the cat sat on the mat."


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def tokenizer() -> CharTokenizer:
    return CharTokenizer("the quick brown fox jumps over the lazy dog, then sat on a mat.")


def demo(max_len: int = 32, **state) -> AttentionDemo:
    tok = tokenizer()
    dlkit.seed(0)
    model = TinyGPT(len(tok), d_model=16, num_heads=4, num_layers=2, max_len=max_len)
    return AttentionDemo(model, tok, **{"text": TEXT, **state})


def shown(d: AttentionDemo, ax) -> np.ndarray:
    return np.asarray(d.images[ax].get_array())


def test_the_maps_drawn_are_the_models_causal_softmax():
    d = demo(head=2, layer=1)
    ids = torch.tensor([tokenizer().encode(TEXT)])
    expected = d.model.attention_maps(ids)
    maps = d.maps()
    assert maps.shape == (2, 4, len(TEXT), len(TEXT))
    for layer in range(2):
        np.testing.assert_allclose(maps[layer], expected[layer][0].numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)               # each row a softmax
    assert np.all(np.triu(maps, k=1) == 0)                                  # causal: nothing ahead
    np.testing.assert_array_equal(shown(d, d.ax_one), maps[1, 2])          # what is drawn
    labels = [t.get_text() for t in d.ax_one.get_xticklabels()]
    assert labels == [token_label(ch) for ch in TEXT] and labels[3] == "␣"


def test_all_heads_draws_each_head_of_the_layer():
    d = demo(layer=1, head="all")
    for h, ax in enumerate(d.ax_heads):
        assert ax.get_visible()
        np.testing.assert_array_equal(shown(d, ax), d.maps()[1, h])
    assert not d.ax_one.get_visible()


@pytest.mark.parametrize("change", [{"text": "the mat sat."}, {"layer": 1}, {"head": 3},
                                    {"head": "all"}, {"query": 4}])
def test_every_control_changes_the_state_and_the_figure(change):
    d = demo(head=0)
    before = d.png()
    d.set(**change)
    assert all(d.state[k] == v for k, v in change.items())
    assert d.png() != before


def test_the_query_row_is_outlined_and_described():
    d = demo(head=1, query=7)
    assert d.cursors[d.ax_one].get_y() == pytest.approx(6.5)
    weights = d.maps()[0, 1, 7]
    best = int(np.argmax(weights))
    assert f"query 7 {token_label(TEXT[7])!r} looks at {token_label(TEXT[best])!r} ({best}) " \
           f"{weights[best]:.2f}" in d.title.get_text()


def test_the_query_stays_on_the_last_token_and_is_pulled_into_shorter_text():
    d = demo()
    assert d.state["query"] == len(TEXT) - 1          # default: the token that predicts the next
    d.set(text="the dog")
    assert d.state["query"] == 6                      # it followed the last token
    d.set(query=2)
    d.set(text="the cat sat")
    assert d.state["query"] == 2                      # a query elsewhere stays where it was
    d.set(query=9, text="a mat")
    assert d.state["query"] == 4                      # ... unless the text is shorter


def test_characters_outside_the_vocabulary_are_named_and_read_as_unknown():
    d = demo(text="the café €", head=0)
    assert "not in the vocabulary, read as <unk> (coloured): 'é', '€'" in d.title.get_text()
    ids = torch.tensor([tokenizer().encode("the café €")])
    assert ids[0, 7] == 1 and ids[0, 9] == 1                                # the <unk> id
    np.testing.assert_array_equal(d.maps()[0], d.model.attention_maps(ids)[0][0].numpy())
    colours = {t.get_text(): t.get_color() for t in d.ax_one.get_xticklabels()}
    assert colours["é"] != colours["c"]


def test_an_emoji_or_a_tab_is_named_and_drawn_without_a_glyph_warning(recwarn):
    d = demo(text="the\tcat 🙂", head=0)
    d.png()
    assert [str(w.message) for w in recwarn if "Glyph" in str(w.message)] == []
    assert "read as <unk> (coloured): '⇥', '\ufffd'" in d.title.get_text()
    assert [t.get_text() for t in d.ax_one.get_xticklabels()][3] == "⇥"


def test_text_longer_than_the_context_keeps_its_last_tokens_and_says_so():
    long_text = "the quick brown fox jumps over the lazy dog"        # 43 characters
    d = demo(max_len=16, text=long_text, head=0)
    assert d.maps().shape[-1] == 16
    ids = torch.tensor([tokenizer().encode(long_text[-16:])])
    np.testing.assert_array_equal(d.maps()[0], d.model.attention_maps(ids)[0][0].numpy())
    assert "longer than the model's context of 16 tokens: the first 27 are cut off" in d.title.get_text()
    assert [t.get_text() for t in d.ax_one.get_xticklabels()][0] == token_label(long_text[-16])


def test_empty_text_asks_for_a_sentence_and_loses_nothing():
    d = demo(layer=1, head=2)
    d.set(text="")
    assert "expected a text of at least one character" in d.notice.get_text()
    assert not any(ax.get_visible() for ax in (d.ax_one, *d.ax_heads))
    Image.open(io.BytesIO(d.png()))                   # still a picture
    d.set(text="the mat")
    assert d.state == {"text": "the mat", "layer": 1, "head": 2, "query": 6}
    assert d.notice.get_text() == "" and d.ax_one.get_visible()


def test_bad_state_and_bad_parts_are_refused_with_what_was_expected():
    d = demo()
    with pytest.raises(ValueError, match=r"expected layer an int in 0\.\.1, got 2"):
        d.set(layer=2)
    with pytest.raises(ValueError, match=r"expected head an int in 0\.\.3 or 'all', got 'every'"):
        d.set(head="every")
    with pytest.raises(ValueError, match="expected query a non-negative int"):
        d.set(query=-1)
    with pytest.raises(ValueError, match=r"expected text \(a str\)"):
        d.set(text=42)
    assert d.state["text"] == TEXT                    # a refused change leaves the state as it was
    with pytest.raises(TypeError, match="attention_maps"):
        AttentionDemo(nn.Linear(2, 2), tokenizer())
    with pytest.raises(TypeError, match="dlkit tokenizer"):
        AttentionDemo(demo().model, str.split)


def test_controls_follow_the_state():
    d = demo()
    d.widget()
    d._controls["text"].value = "a dog"
    assert d.state["text"] == "a dog" and d._controls["query"].max == 4
    d._controls["head"].value = 1
    d._controls["query"].value = 2
    assert d.state["head"] == 1 and "query 2 'd'" in d.title.get_text()
    d._controls["text"].value = "a"
    assert d._controls["query"].disabled


def test_the_figure_is_rendered_at_the_size_it_is_shown():
    d = demo()
    assert Image.open(io.BytesIO(d.png())).size == d.image_size == d.figure_px


def test_the_corpus_model_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(11)
    before = torch.get_rng_state()
    first = AttentionDemo.on_stdlib_corpus(chars=4000, steps=3, text="Return it.")
    assert torch.equal(torch.get_rng_state(), before)
    second = AttentionDemo.on_stdlib_corpus(chars=4000, steps=3, text="Return it.")
    np.testing.assert_array_equal(first.maps(), second.maps())
    assert first.png() == second.png()
    with pytest.raises(ValueError, match="expected steps an int >= 1, got 0"):
        AttentionDemo.on_stdlib_corpus(steps=0)


def test_a_word_model_shows_its_words_and_names_unknown_ones():
    tok = WordTokenizer("the cat sat on the mat . the dog sat on the log .")
    dlkit.seed(0)
    d = AttentionDemo(TinyGPT(len(tok), d_model=16, num_heads=2, num_layers=1, max_len=16), tok,
                      text="The dog sat on the sofa.", head=1)
    assert [t.get_text() for t in d.ax_one.get_yticklabels()] == ["the", "dog", "sat", "on", "the", "sofa", "."]
    assert d.maps().shape == (1, 2, 7, 7)
    assert "read as <unk> (coloured): 'sofa'" in d.title.get_text()
