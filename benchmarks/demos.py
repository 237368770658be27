"""How long does each demo take from a control change to the new image?

Builds every demo of ``dlkit.viz`` as its chapter does, opens its live view, then moves each of
its controls through a few values, as a lecturer would, and times, in Python, the update path
a front end triggers: the control's new value → ``set`` → the figure redrawn → the PNG that the
image widget sends. Prints ``DEMO: median MS (max MS over N changes)`` per demo. The goal
(docs: "react within 300 ms") is a median under 300 ms on 2 cores; nothing is asserted.

The browser adds the transfer and the decode of one PNG (tens of KB, a few ms on localhost);
tests/browser/test_demos.py measures the full round trip in Chromium and prints it.

    .venv/bin/python benchmarks/demos.py [DEMO ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import torch

GOAL_MS = 300.0


def demos() -> dict[str, Callable[[], Any]]:
    """name → how its chapter builds it (the arguments of the notebook's cell)."""
    from dlkit import viz

    return {
        "ActivationExplorer": lambda: viz.ActivationExplorer(activation="sigmoid"),
        "NeuronPlayground": lambda: viz.NeuronPlayground(dataset="blobs", activation="sigmoid"),
        "CapacityDemo": lambda: viz.CapacityDemo(target="sawtooth", width=32, depth=3,
                                                 activation="relu", steps=300),
        "GraphDemo": lambda: viz.GraphDemo(expression="neuron", backward_step=4),
        "OptimizerRace": lambda: viz.OptimizerRace(
            surface="bowl", optimizers=("SGD", "momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"),
            lr=0.02, steps=150),
        "InitHistograms": lambda: viz.InitHistograms(depth=10, width=256, activation="tanh",
                                                     init="xavier"),
        "RegularizationDemo": lambda: viz.RegularizationDemo(method="weight decay", strength=0.0,
                                                             width=128),
        "ConvStepper": lambda: viz.ConvStepper(image="square", kernel="vertical edge", stride=1,
                                               padding=0, step=17),
        # chapters 07-09 pass the nets they trained; these build small ones like them
        "FeatureMapDemo": lambda: viz.FeatureMapDemo.on_digits(image=2, layer="features.0"),
        "RecurrentStateDemo": lambda: viz.RecurrentStateDemo.on_stdlib_corpus(
            text="Return the number of items in the list.", step=11),
        "GAN2DDemo": lambda: viz.GAN2DDemo(loss="non-saturating", lr_g=2e-3, lr_d=2e-3, steps=200),
        "AttentionDemo": lambda: viz.AttentionDemo.on_stdlib_corpus(
            text="Return the number of items in the list.", layer=0, head="all"),
        "SaliencyDemo": lambda: viz.SaliencyDemo.on_digits(image=2, method="Grad-CAM"),
    }


def new_values(control: widgets.ValueWidget) -> Iterator[Any]:
    """A few values a person would pick, each different from the one before."""
    if isinstance(control, widgets.SelectMultiple):
        options = [value for _, value in control._options_full] if hasattr(control, "_options_full") \
            else list(control.options)
        yield tuple(options[:2])
        yield tuple(options[1:4])
        yield tuple(options)
    elif isinstance(control, (widgets.Dropdown, widgets.Select, widgets.SelectionSlider)):
        options = [option[1] if isinstance(option, tuple) else option for option in control.options]
        yield from options[1:3] + options[:1]
    elif isinstance(control, widgets.Text):
        original = control.value
        yield "import this; read the zen."
        yield original
    elif isinstance(control, widgets.Checkbox):
        yield not control.value
        yield control.value
    elif isinstance(control, (widgets.FloatLogSlider,)):
        for fraction in (0.3, 0.6, 0.45):
            exponent = control.min + fraction * (control.max - control.min)
            yield float(control.base ** exponent)
    elif hasattr(control, "min") and hasattr(control, "max"):
        for fraction in (0.25, 0.75, 0.5):
            # on the slider's grid, as the front end sends it
            step = getattr(control, "step", 1) or 1
            value = control.min + round(fraction * (control.max - control.min) / step) * step
            yield int(value) if isinstance(control.value, int) else float(value)


def image_of(view: widgets.Widget) -> widgets.Image:
    """The one image widget inside a demo's view."""
    stack = [view]
    while stack:
        widget = stack.pop()
        if isinstance(widget, widgets.Image):
            return widget
        stack.extend(getattr(widget, "children", ()))
    raise LookupError("the demo's view holds no image")


def latencies(build: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """(wall, CPU) milliseconds from each control change to the new PNG in the image widget.

    The update path runs on one thread, so its CPU time is what it would take on an idle core;
    on a shared machine it is the steadier of the two numbers."""
    demo = build()
    view = demo.widget()
    image = image_of(view)
    times, cpu_times = [], []
    for name, control in list(demo._controls.items()):
        if getattr(control, "disabled", False):
            continue
        for value in new_values(control):
            if value == control.value:
                continue
            before = image.value
            start, cpu_start = time.perf_counter(), time.process_time()
            control.value = value          # what the front end does: the same observers run
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            if image.value != before:      # a change that does not alter the picture is no update
                times.append(1000 * elapsed)
                cpu_times.append(1000 * cpu)
            else:
                print(f"  note: {name} = {value!r} left the image unchanged")
    return times, cpu_times


def frame_latencies(build: Callable[[], Any], frames: int = 8) -> tuple[list[float], list[float]]:
    """(wall, CPU) milliseconds of each frame of "play": a training demo's ``tick`` and its PNG."""
    demo = build()
    demo.widget()
    times, cpu_times = [], []
    for _ in range(frames):
        start, cpu_start = time.perf_counter(), time.process_time()
        demo._run_tick()
        times.append(1000 * (time.perf_counter() - start))
        cpu_times.append(1000 * (time.process_time() - cpu_start))
    return times, cpu_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demos", nargs="*")
    args = parser.parse_args()
    os.environ.setdefault("DLKIT_QUICK", "1")
    torch.set_num_threads(1)   # the notebooks run their demos on one thread
    table = demos()
    worst = 0.0
    for name in args.demos or table:
        times, cpu_times = latencies(table[name])
        median, cpu = statistics.median(times), statistics.median(cpu_times)
        worst = max(worst, cpu)
        print(f"{name}: median {median:.0f} ms wall, {cpu:.0f} ms CPU "
              f"(max {max(times):.0f} ms wall over {len(times)} changes)", flush=True)
        if name == "GAN2DDemo":   # a demo that is watched while it plays: time its frames too
            frames, cpu_frames = frame_latencies(table[name])
            worst = max(worst, statistics.median(cpu_frames))
            print(f"{name}: play frames median {statistics.median(frames):.0f} ms wall, "
                  f"{statistics.median(cpu_frames):.0f} ms CPU (max {max(frames):.0f} ms wall over "
                  f"{len(frames)} frames)", flush=True)
    print(f"slowest median CPU time: {worst:.0f} ms (goal: under {GOAL_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
