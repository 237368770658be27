"""Figures and interactive demos in one style (chapters 01-10)."""
from dlkit.viz.activations import ActivationExplorer
from dlkit.viz.capacity import CapacityDemo
from dlkit.viz.demo import Demo, figure_png
from dlkit.viz.neuron import NeuronPlayground
from dlkit.viz.style import PALETTE, course_style, use_style

__all__ = ["PALETTE", "ActivationExplorer", "CapacityDemo", "Demo", "NeuronPlayground",
           "course_style", "figure_png", "use_style"]
