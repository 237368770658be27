"""Figures and interactive demos in one style (chapters 01-12).

Every demo is a ``Demo``: one figure updated in place, controls as ipywidgets, state that can
be set and read back from Python, and a static PNG where no widget front end is attached.
"""
from dlkit.viz.activations import ActivationExplorer
from dlkit.viz.attention import AttentionDemo
from dlkit.viz.capacity import CapacityDemo
from dlkit.viz.conv import ConvStepper
from dlkit.viz.demo import Demo, figure_png, presenter_mode
from dlkit.viz.features import FeatureMapDemo
from dlkit.viz.gan import GAN2DDemo
from dlkit.viz.graph import GraphDemo
from dlkit.viz.histograms import InitHistograms
from dlkit.viz.neuron import NeuronPlayground
from dlkit.viz.optimizers import OptimizerRace
from dlkit.viz.recurrent import RecurrentStateDemo, gate_trace
from dlkit.viz.regularization import RegularizationDemo
from dlkit.viz.saliency import SaliencyDemo
from dlkit.viz.style import PALETTE, course_style, use_style

__all__ = ["PALETTE", "ActivationExplorer", "AttentionDemo", "CapacityDemo", "ConvStepper", "Demo", "FeatureMapDemo",
           "GraphDemo", "InitHistograms", "NeuronPlayground", "OptimizerRace", "RecurrentStateDemo",
           "RegularizationDemo", "course_style", "figure_png", "gate_trace", "presenter_mode",
           "use_style",
           "GAN2DDemo", "SaliencyDemo"]
