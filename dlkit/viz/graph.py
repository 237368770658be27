"""The computation-graph stepper (chapter 03): watch backpropagation visit a graph node by node.

A small scalar expression is built with ``dlkit.ref.Value`` and drawn as its graph: inputs on
the left, the output on the right, each node placed by its depth (the longest path from an
input). Each box shows the node's name and operation, its value (the forward pass) and its
gradient ∂out/∂node. ``backward_step = 0`` shows the forward pass only; step k fills in the
gradients of the first k nodes in reverse topological order, the order in which ``backward()``
finalises them: the output first (∂out/∂out = 1), and a node only once every node that uses it
has passed its gradient back. In the "reuse" expression one input feeds two nodes, and its
gradient is the *sum* of what comes back along the two edges.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

from dlkit.ref.value import Value, trace
from dlkit.viz.demo import Demo
from dlkit.viz.style import PALETTE

INPUTS = ("x1", "x2", "w1", "w2", "b")
# the sliders' ranges; b reaches 6.88, micrograd's classic neuron where tanh is half saturated
LIMIT = {"x1": 3.0, "x2": 3.0, "w1": 3.0, "w2": 3.0, "b": 10.0}
PENDING = "#E8E8E8"   # a node whose gradient is not known yet
DONE = "#CFE6F5"      # a node whose gradient is final
CURRENT = "#F6C89F"   # the node finalised by the latest step


def _neuron(v: dict[str, Value]) -> Value:
    x1w1 = v["x1"] * v["w1"]
    x1w1.label = "x1·w1"
    x2w2 = v["x2"] * v["w2"]
    x2w2.label = "x2·w2"
    s = x1w1 + x2w2
    s.label = "s"
    z = s + v["b"]
    z.label = "z"
    out = z.tanh()
    out.label = "out"
    return out


def _square(v: dict[str, Value]) -> Value:
    ab = v["x1"] * v["w1"]
    ab.label = "x1·w1"
    z = ab + v["b"]
    z.label = "z"
    out = z**2
    out.label = "out"
    return out


def _reuse(v: dict[str, Value]) -> Value:
    e = v["x1"] * v["w1"]
    e.label = "e"
    out = e + v["x1"]  # x1 is used twice: by e and by out
    out.label = "out"
    return out


# name -> (formula shown in the title, the inputs it reads, how to build it)
EXPRESSIONS: dict[str, tuple[str, tuple[str, ...], Callable[[dict[str, Value]], Value]]] = {
    "neuron": ("out = tanh(x1·w1 + x2·w2 + b)", ("x1", "x2", "w1", "w2", "b"), _neuron),
    "square": ("out = (x1·w1 + b)²", ("x1", "w1", "b"), _square),
    "reuse": ("out = x1·w1 + x1   (x1 used twice)", ("x1", "w1"), _reuse),
}


def build_expression(name: str, values: dict[str, float]) -> Value:
    """The output ``Value`` of a named expression at the given inputs (chapter 03)."""
    if name not in EXPRESSIONS:
        raise ValueError(f"expected an expression among {sorted(EXPRESSIONS)}, got {name!r}")
    _, used, builder = EXPRESSIONS[name]
    leaves = {k: Value(float(values[k]), label=k) for k in used}
    return builder(leaves)


def depths(nodes: list[Value]) -> dict[int, int]:
    """id(node) -> longest path from an input (inputs are 0); ``nodes`` in topological order."""
    depth: dict[int, int] = {}
    for node in nodes:
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents()), default=-1)
    return depth


class GraphDemo(Demo):
    """Draw a ``Value`` graph and step through its backward pass (chapter 03).

    State: ``expression`` (one of ``EXPRESSIONS``), ``x1, x2, w1, w2, b`` (the inputs; an
    expression reads only some of them), ``backward_step`` (0 = forward only; k = gradients of
    the first k nodes in reverse topological order shown).
    """

    figure_px = (520, 500)

    def defaults(self) -> dict[str, Any]:
        return {"expression": "neuron", "x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.88,
                "backward_step": 0}

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        if state["expression"] not in EXPRESSIONS:
            raise ValueError(f"expected an expression among {sorted(EXPRESSIONS)}, "
                             f"got {state['expression']!r}")
        checked = dict(state)
        for name in INPUTS:
            value, limit = state[name], LIMIT[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not -limit <= value <= limit:
                raise ValueError(f"expected {name} a number between {-limit:g} and {limit:g}, "
                                 f"got {value!r}")
            checked[name] = float(value)
        num_nodes = len(trace(build_expression(state["expression"], checked))[0])
        step = state["backward_step"]
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= num_nodes:
            raise ValueError(f"expected backward_step an integer from 0 to {num_nodes} (the "
                             f"number of nodes of {state['expression']!r}), got {step!r}")
        return checked

    def controls(self) -> dict[str, widgets.ValueWidget]:
        sliders: dict[str, widgets.ValueWidget] = {
            "expression": widgets.Dropdown(options=sorted(EXPRESSIONS), description="expression"),
        }
        for name in INPUTS:
            sliders[name] = widgets.FloatSlider(min=-LIMIT[name], max=LIMIT[name], step=0.01,
                                                description=name)
        sliders["backward_step"] = widgets.IntSlider(min=0, max=len(self.nodes), description="backward",
                                                     tooltip="backward step: how many nodes have "
                                                             "their final gradient")
        return sliders

    def set(self, **changes: Any) -> GraphDemo:
        """As ``Demo.set``; a new expression starts again from its forward pass (step 0)."""
        if "expression" in changes and "backward_step" not in changes \
                and changes["expression"] != self.state["expression"]:
            changes["backward_step"] = 0
        super().set(**changes)
        return self

    # ---- what is drawn -----------------------------------------------------------------
    def graph(self) -> tuple[list[Value], list[tuple[Value, Value]]]:
        """(nodes in topological order, edges) of the current expression, after backward()."""
        return self.nodes, self.edges

    def reverse_order(self) -> list[Value]:
        """The nodes in the order backward() finalises their gradients: output first."""
        return list(reversed(self.nodes))

    def shown(self) -> list[dict[str, Any]]:
        """What each box says, in topological order: label, op, data and grad (None = hidden)."""
        revealed = {id(n) for n in self.reverse_order()[: self.state["backward_step"]]}
        return [{"label": n.label, "op": n.op, "data": n.data,
                 "grad": n.grad if id(n) in revealed else None} for n in self.nodes]

    # ---- drawing -----------------------------------------------------------------------
    def draw_initial(self) -> None:
        self.ax = self.figure.add_subplot()
        self.ax.set_axis_off()
        self.figure.text(0.5, 0.01, "grey: its turn has not come   ·   blue: gradient final   ·   "
                         "orange: the latest step\norange arrow: gradient already sent back along it",
                         ha="center", va="bottom", fontsize=8, color="#444444")
        self.boxes: list[Text] = []
        self.arrows: list[FancyArrowPatch] = []
        self.edge_labels: list[Text] = []
        self._layout_of: tuple[str, ...] | None = None
        self.nodes, self.edges = [], []

    def _build(self) -> None:
        inputs = {k: self.state[k] for k in INPUTS}
        root = build_expression(self.state["expression"], inputs)
        root.backward()
        self.nodes, self.edges = trace(root)

    def _layout(self) -> None:
        """Place one box per node and one arrow per edge; only when the expression changes."""
        for artist in [*self.boxes, *self.arrows, *self.edge_labels]:
            artist.remove()
        depth = depths(self.nodes)
        columns: dict[int, list[Value]] = {}
        for node in self.nodes:
            columns.setdefault(depth[id(node)], []).append(node)
        self.position: dict[int, tuple[float, float]] = {}
        for d, column in columns.items():
            for i, node in enumerate(column):
                self.position[id(node)] = (float(d), (len(column) - 1) / 2 - i)
        max_depth = max(columns)
        max_rows = max(len(c) for c in columns.values())
        self.ax.set_xlim(-0.6, max_depth + 0.6)
        self.ax.set_ylim(-max_rows / 2 - 0.2, max_rows / 2 + 0.2)
        self.boxes = [
            self.ax.text(*self.position[id(n)], "", ha="center", va="center", fontsize=8,
                         family="monospace", zorder=3,
                         bbox={"boxstyle": "round,pad=0.4", "facecolor": PENDING,
                               "edgecolor": "#555555"})
            for n in self.nodes]
        self.arrows = []
        for parent, child in self.edges:
            arrow = FancyArrowPatch(self.position[id(parent)], self.position[id(child)],
                                    arrowstyle="-|>", mutation_scale=16, color="#777777",
                                    linewidth=1.4, shrinkA=30, shrinkB=30, zorder=1)
            self.ax.add_patch(arrow)
            self.arrows.append(arrow)
        self._layout_of = (self.state["expression"],)
        step_slider = self._controls.get("backward_step")
        if step_slider is not None:  # each expression has its own number of steps
            step_slider.max = len(self.nodes)

    def redraw(self) -> None:
        self._build()
        if self._layout_of != (self.state["expression"],):
            self._layout()
        step = self.state["backward_step"]
        order = self.reverse_order()
        revealed = {id(n) for n in order[:step]}
        latest = id(order[step - 1]) if step else None
        for box, node, info in zip(self.boxes, self.nodes, self.shown(), strict=True):
            name = node.label or "const"
            head = name if not node.op else f"{name} = {node.op}"
            grad = "?" if info["grad"] is None else f"{info['grad']:.3f}"
            box.set_text(f"{head}\ndata {node.data:.3f}\ngrad {grad}")
            colour = CURRENT if id(node) == latest else DONE if id(node) in revealed else PENDING
            box.get_bbox_patch().set_facecolor(colour)
        for arrow, (_, child) in zip(self.arrows, self.edges, strict=True):
            # an edge carries gradient back once its child's gradient is known
            carried = id(child) in revealed
            arrow.set_color(PALETTE[1] if carried else "#999999")
        formula = EXPRESSIONS[self.state["expression"]][0]
        if step == 0:
            what = "forward pass: values computed, no gradient yet"
        else:
            node = order[step - 1]
            what = (f"step {step}/{len(order)}: grad of {node.label or 'const'} is final "
                    f"({node.grad:.4f})")
            uses = sum(1 for parent, _ in self.edges if parent is node)
            if uses > 1:  # gradient accumulation: one contribution per use, summed
                what += f",\nthe sum over its {uses} uses"
            if node.parents():
                what += ";\nit flows on to its inputs" if uses <= 1 else "; it flows on to its inputs"
        self.ax.set_title(f"{formula}\n{what}", fontsize=10)
