"""The computation-graph stepper: drawn values and gradients are right, steps go in reverse
topological order, controls and the static fallback agree, bad state is refused."""
import base64
import math

import pytest
import torch

from dlkit.ref.value import Value, topological_order
from dlkit.viz.graph import EXPRESSIONS, GraphDemo, build_expression


def box_numbers(demo):
    """(data, grad or None) parsed back from the text of each drawn box."""
    parsed = []
    for box in demo.boxes:
        _, data_line, grad_line = box.get_text().split("\n")
        grad = grad_line.split()[1]
        parsed.append((float(data_line.split()[1]), None if grad == "?" else float(grad)))
    return parsed


def torch_neuron(x1, x2, w1, w2, b):
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in dict(x1=x1, x2=x2, w1=w1, w2=w2, b=b).items()}
    out = torch.tanh(leaves["x1"] * leaves["w1"] + leaves["x2"] * leaves["w2"] + leaves["b"])
    out.backward()
    return out.item(), {k: t.grad.item() for k, t in leaves.items()}


def test_drawn_values_and_gradients_match_torch():
    inputs = dict(x1=0.5, x2=-1.5, w1=1.2, w2=0.7, b=0.3)
    demo = GraphDemo(expression="neuron", **inputs)
    demo.set(backward_step=len(demo.nodes))
    out, grads = torch_neuron(**inputs)
    by_label = {n.label: n for n in demo.nodes}
    assert by_label["out"].data == pytest.approx(out, rel=1e-12)
    for name, grad in grads.items():
        assert by_label[name].grad == pytest.approx(grad, rel=1e-12)
    for (data, grad), node in zip(box_numbers(demo), demo.nodes, strict=True):
        assert data == pytest.approx(node.data, abs=5e-4)   # printed with 3 decimals
        assert grad == pytest.approx(node.grad, abs=5e-4)


def test_reused_input_gets_the_sum_of_its_gradients():
    demo = GraphDemo(expression="reuse", x1=2.0, w1=-3.0)
    x1 = next(n for n in demo.nodes if n.label == "x1")
    assert x1.grad == pytest.approx(-3.0 + 1.0)   # d(x1·w1 + x1)/dx1 = w1 + 1
    assert sum(1 for parent, _ in demo.edges if parent is x1) == 2


def test_stepping_reveals_gradients_in_reverse_topological_order():
    demo = GraphDemo(expression="square", x1=1.5, w1=-0.5, b=2.0)
    expected = list(reversed(topological_order(build_expression("square", demo.state))))
    assert [n.label for n in demo.reverse_order()] == [n.label for n in expected]
    assert all(grad is None for _, grad in box_numbers(demo))   # step 0: forward only
    for k in range(1, len(demo.nodes) + 1):
        demo.set(backward_step=k)
        revealed = {info["label"] for info in demo.shown() if info["grad"] is not None}
        assert revealed == {n.label for n in demo.reverse_order()[:k]}
        # every node that uses a revealed node was revealed before it
        for parent, child in demo.edges:
            if parent.label in revealed:
                assert child.label in revealed
    assert demo.reverse_order()[0].grad == 1.0   # the output: ∂out/∂out


def test_set_updates_the_same_figure_in_place():
    demo = GraphDemo()
    figure, boxes = demo.figure, list(demo.boxes)
    before = demo.png()
    demo.set(backward_step=3, x1=1.0)
    assert demo.figure is figure and demo.boxes == boxes   # same artists, new text and colours
    assert demo.png() != before
    demo.set(expression="reuse")
    assert demo.state["backward_step"] == 0 and len(demo.boxes) == 4


def test_moving_a_control_changes_state_and_picture():
    demo = GraphDemo()
    view = demo.widget()
    image_before = demo._image.value
    demo._controls["backward_step"].value = 2
    assert demo.state["backward_step"] == 2
    assert demo._image.value != image_before
    demo._controls["expression"].value = "square"
    assert demo.state["expression"] == "square" and demo._controls["backward_step"].max == 6
    demo.set(w1=1.25)
    assert demo._controls["w1"].value == 1.25
    assert view is demo.widget()


def test_display_offers_the_widget_and_a_static_png():
    bundle = GraphDemo()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")


def test_same_state_same_picture():
    assert GraphDemo(backward_step=5).png() == GraphDemo(backward_step=5).png()


def test_every_expression_builds_with_the_inputs_it_names():
    for name, (_, used, _) in EXPRESSIONS.items():
        root = build_expression(name, dict(x1=0.3, x2=0.2, w1=-0.4, w2=0.9, b=0.1))
        leaves = {n.label for n in topological_order(root) if not n.parents()}
        assert leaves == set(used)
        assert isinstance(root, Value) and math.isfinite(root.data)


def test_bad_state_is_refused_with_expected_and_got():
    with pytest.raises(ValueError, match=r"expected an expression among .*got 'sin'"):
        GraphDemo(expression="sin")
    demo = GraphDemo()
    with pytest.raises(ValueError, match=r"expected backward_step an integer from 0 to 10 .*got 11"):
        demo.set(backward_step=11)
    with pytest.raises(ValueError, match=r"expected x1 a number between -3 and 3, got 7"):
        demo.set(x1=7)
    with pytest.raises(ValueError, match=r"expected state among .*got \['colour'\]"):
        demo.set(colour="red")
    assert demo.state["backward_step"] == 0 and demo.state["x1"] == 2.0   # left as it was
