"""Every demo in real JupyterLab + Chromium, at 1280×720 and at 1920×1080.

For each demo (built exactly as its chapter builds it) and each screen size, the test checks
that the demo fits the notebook's viewport without scrolling, that every slider track is at
least 150 px wide, that the figure is shown at the size it was rendered at, that no readout
says NaN and that the state is the constructor's; then it operates EVERY control (sliders by
clicking their track, menus, text boxes, check boxes, buttons, play and pause) and after each
one waits for a new picture and checks it is not blank. Screenshots go to test-artifacts/; the time from each
action to its new picture is printed and kept in test-artifacts/demo-latency-*.json.
"""
from __future__ import annotations

import io
import json
import re
import statistics
import time

import numpy as np
import pytest
from lab_helpers import ARTIFACTS, DEMO_CELLS, NEEDS_CHROMIUM, open_notebook, run_all_cells
from PIL import Image

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

SCREENS = [(1280, 720), (1920, 1080)]
MIN_TRACK_PX = 150

# The constructor's arguments as the kernel must hold them after the cell ran (and after reset).
EXPECTED_STATE = {
    "ActivationExplorer": {"activation": "sigmoid"},
    "NeuronPlayground": {"dataset": "blobs", "activation": "sigmoid"},
    "CapacityDemo": {"target": "sawtooth", "width": 32, "depth": 3, "activation": "relu", "steps": 300},
    "GraphDemo": {"expression": "neuron", "x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.88,
                  "backward_step": 4},
    "OptimizerRace": {"surface": "bowl", "lr": 0.02, "steps": 150,
                      "optimizers": ["SGD", "momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]},
    "InitHistograms": {"depth": 10, "width": 256, "activation": "tanh", "init": "xavier"},
    "RegularizationDemo": {"method": "weight decay", "strength": 0.0, "width": 128},
    "ConvStepper": {"image": "square", "kernel": "vertical edge", "stride": 1, "padding": 0, "step": 17},
    "FeatureMapDemo": {"image": 2, "layer": "features.0", "page": 0},
    "RecurrentStateDemo": {"text": "Return the number of items in the list.", "step": 11},
    "GAN2DDemo": {"loss": "non-saturating", "lr_g": 2e-3, "lr_d": 2e-3, "steps": 200},
    "AttentionDemo": {"text": "Return the number of items in the list.", "layer": 0, "head": "all",
                      "query": 38},
    "SaliencyDemo": {"image": 2, "method": "Grad-CAM", "target": "predicted"},
}
# ... and what the controls must show at first: label -> readout text or chosen option
SHOWN = {
    "ActivationExplorer": {"activation": "sigmoid"},
    "NeuronPlayground": {"dataset": "blobs", "activation": "sigmoid", "w1": "1.00", "w2": "1.00",
                         "b": "-1.00", "lr": "0.5"},
    "CapacityDemo": {"target": "sawtooth", "width": "32", "depth": "3", "activation": "relu",
                     "steps": "300"},
    "GraphDemo": {"expression": "neuron", "x1": "2.00", "x2": "0.00", "w1": "-3.00", "w2": "1.00",
                  "b": "6.88", "backward": "4"},
    "OptimizerRace": {"surface": "bowl", "lr": "0.02", "steps": "150"},
    "InitHistograms": {"depth": "10", "width": "256", "activation": "tanh", "init": "Xavier normal"},
    "RegularizationDemo": {"method": "weight decay", "strength": "0.00", "width": "128", "steps": "600"},
    "ConvStepper": {"image": "square", "kernel": "vertical edge", "stride": "1", "padding": "0", "step": "17"},
    "FeatureMapDemo": {"image": "2", "layer": "conv 1 (features.0): 6 maps 16×16", "page": "0"},
    "RecurrentStateDemo": {"text": "Return the number of items in the list.", "step": "11"},
    "GAN2DDemo": {"G loss": "non-saturating", "lr G": "0.002", "lr D": "0.002", "steps": "200"},
    "AttentionDemo": {"text": "Return the number of items in the list.", "layer": "layer 1",
                      "head": "all heads", "query": "38"},
    "SaliencyDemo": {"image": "2", "method": "Grad-CAM", "explain": "predicted"},
}
# What to do, in order, at each screen size: (kind, label, [choice at screen 1, at screen 2]).
# A slider is clicked at that fraction of its track (well away from where its handle is, or the
# click would land on the handle); a menu picks that option.
PLANS = {
    "ActivationExplorer": [("select", "activation", ["swish", "elu"]),
                           ("slider", "PARAM", [0.7, 0.3]),
                           ("slider", "x range", [0.7, 0.2])],
    "NeuronPlayground": [("slider", "w1", [0.3, 0.8]), ("slider", "w2", [0.7, 0.2]),
                         ("slider", "b", [0.6, 0.15]), ("slider", "lr", [0.3, 0.9]),
                         ("select", "activation", ["tanh", "relu"]),
                         ("select", "dataset", ["moons", "xor"]),
                         ("button", "train 25 steps", None), ("button", "step", None),
                         ("play", None, None), ("button", "reset", None)],
    "CapacityDemo": [("slider", "width", [0.2, 0.1]), ("slider", "depth", [0.3, 0.1]),
                     ("slider", "steps", [0.5, 0.6]),
                     ("select", "target", ["abs", "zigzag"]), ("select", "activation", ["tanh", "gelu"]),
                     ("button", "step", None), ("play", None, None), ("button", "reset", None)],
    "GraphDemo": [("slider", "x1", [0.7, 0.3]), ("slider", "x2", [0.3, 0.8]),
                  ("slider", "w1", [0.6, 0.2]), ("slider", "w2", [0.2, 0.7]),
                  ("slider", "b", [0.4, 0.9]), ("slider", "backward", [0.95, 0.3]),
                  ("select", "expression", ["square", "reuse"]),
                  ("select", "expression", ["neuron", "neuron"])],   # back, for the next screen
    "OptimizerRace": [("slider", "lr", [0.8, 0.25]), ("slider", "steps", [0.6, 0.4]),
                      ("multiselect", "optimizers", [["SGD", "Adam"], ["momentum", "RMSprop"]]),
                      ("select", "surface", ["rosenbrock", "saddle"]),
                      ("button", "step", None), ("play", None, None), ("button", "reset", None)],
    "InitHistograms": [("slider", "depth", [0.7, 0.2]), ("slider", "width", [0.3, 0.8]),
                       ("select", "activation", ["relu", "sigmoid"]),
                       ("select", "init", ["He normal", "N(0, 1), too large"]),
                       ("checkbox", "batch norm", None)],
    "RegularizationDemo": [("slider", "strength", [0.5, 0.2]), ("slider", "width", [0.1, 0.3]),
                           ("slider", "steps", [0.5, 0.3]), ("select", "method", ["dropout", "dropout"]),
                           ("button", "step", None), ("play", None, None), ("button", "reset", None)],
    # a change of stride or padding resizes the output, and with it the step slider
    "ConvStepper": [("slider", "step", [0.8, 0.3]), ("select", "kernel", ["blur", "sharpen"]),
                    ("select", "image", ["ring", "diagonal"]), ("slider", "padding", [0.9, 0.1]),
                    ("slider", "stride", [0.9, 0.1])],
    # conv 2 has two pages of 8 channels (conv 1 has one, and its page slider is disabled)
    "FeatureMapDemo": [("select", "layer", ["conv 2 (features.3): 16 maps 4×4"] * 2),
                       ("slider", "page", [0.9, 0.9]), ("slider", "image", [0.8, 0.2]),
                       ("select", "layer", ["conv 1 (features.0): 6 maps 16×16"] * 2)],
    "RecurrentStateDemo": [("slider", "step", [0.8, 0.2]),
                           ("text", "text", ["import this; read the zen.", "Return a new list of the values."])],
    # the steps slider scrubs through the frames trained so far; a new rate or loss starts a new
    # run at step 0, so those come after step and play
    "GAN2DDemo": [("slider", "steps", [0.3, 0.6]), ("button", "step", None), ("play", None, None),
                  ("slider", "lr G", [0.9, 0.1]), ("slider", "lr D", [0.1, 0.9]),
                  ("select", "G loss", ["saturating", "saturating"]), ("button", "reset", None)],
    # a new sentence (one with a character outside the vocabulary at the second size), then
    # every layer, one head and back to all, and the query cursor
    "AttentionDemo": [("text", "text", ["Sort the keys of the dict.", "Return the café's menu."]),
                      ("select", "layer", ["layer 2", "layer 1"]), ("select", "head", ["head 3", "head 2"]),
                      ("slider", "query", [0.3, 0.6]), ("select", "head", ["all heads", "all heads"]),
                      ("slider", "query", [0.8, 0.1])],
    # every method on a new image, then a class other than the guess
    "SaliencyDemo": [("slider", "image", [0.8, 0.3]), ("select", "method", ["saliency", "occlusion"]),
                     ("select", "method", ["integrated gradients", "Grad-CAM"]),
                     ("select", "explain", ["3", "7"])],
}

MEASURE = """(demo) => {
    const scroller = demo.closest('.jp-WindowedPanel-outer') || demo.closest('.jp-Notebook');
    const box = demo.getBoundingClientRect(), view = scroller.getBoundingClientRect();
    const img = demo.querySelector('img');
    const output = demo.closest('.jp-OutputArea-output') || demo.parentElement;
    return {
        box: [box.left, box.top, box.width, box.height],
        view: [view.left, view.top, view.width, view.height, scroller.clientWidth, scroller.clientHeight],
        overflowX: output.scrollWidth - output.clientWidth,
        tracks: [...demo.querySelectorAll('.noUi-target')].map(t => t.getBoundingClientRect().width),
        readouts: [...demo.querySelectorAll('.widget-readout')].map(r => r.innerText || r.value || ''),
        cut: [...demo.querySelectorAll('.widget-label, .widget-label-basic, button')]
            .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText),
        image: [img.naturalWidth, img.naturalHeight, img.getBoundingClientRect().width,
                img.getBoundingClientRect().height],
        // the figure must end inside the output area, which clips what sticks out on the right
        imageRight: img.getBoundingClientRect().right,
        outputRight: output.getBoundingClientRect().right,
        // what a person can operate: each slider, menu, box and button; a player counts once
        controls: [...demo.querySelectorAll('.noUi-target, select, input[type=checkbox], input[type=text], button')]
            .filter(e => e.offsetParent !== null && !e.closest('.widget-play')).length
            + demo.querySelectorAll('.widget-play').length,
    };
}"""

STATE_OF_KERNEL = """async () => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({code: 'import json; print(json.dumps(demo.state))',
                                          silent: false, store_history: false});
    let text = '';
    future.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') text += msg.content.text; };
    await future.done;
    return text;
}"""


def picture_of(image) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("L"), dtype=np.float64)


def assert_not_blank(image, what: str) -> None:
    pixels = picture_of(image)
    inked = float(np.mean(pixels < 235))
    assert pixels.std() > 15 and inked > 0.03, (
        f"after {what} the picture is blank (std {pixels.std():.1f}, {inked:.1%} of pixels inked)")


def kernel_state(page) -> dict:
    return json.loads(page.evaluate(STATE_OF_KERNEL))


def assert_state(page, name: str, when: str) -> None:
    state = kernel_state(page)
    for key, expected in EXPECTED_STATE[name].items():
        value = state[key]
        if isinstance(expected, float):
            assert value == pytest.approx(expected), f"{when}: {key} is {value}, the cell said {expected}"
        else:
            assert value == expected, f"{when}: {key} is {value!r}, the cell said {expected!r}"


def control_row(demo, label: str):
    labelled = demo.locator(".widget-inline-hbox").filter(
        has=demo.page.locator("label.widget-label", has_text=re.compile(rf"^{re.escape(label)}$")))
    return labelled.first


def shown_value(demo, label: str) -> str:
    row = control_row(demo, label)
    if row.locator("select").count():
        select = row.locator("select")
        text = select.evaluate("s => s.options[s.selectedIndex].text")
    elif row.locator("input[type=text]").count():
        text = row.locator("input[type=text]").input_value()
    else:
        text = row.locator(".widget-readout").evaluate("r => r.innerText || r.value")
    return plain(text)


def plain(text: str) -> str:
    """ipywidgets writes options with no-break spaces and numbers with a typographic minus."""
    return text.replace("\u00a0", " ").replace("\u2212", "-")


def option_indices(select, labels: list[str]) -> list[int]:
    texts = [plain(t) for t in select.evaluate("s => [...s.options].map(o => o.text)")]
    missing = [label for label in labels if label not in texts]
    assert not missing, f"no option {missing} among {texts}"
    return [texts.index(label) for label in labels]


def check_layout(page, demo, name: str, screen: tuple[int, int]) -> dict:
    demo.scroll_into_view_if_needed()
    page.wait_for_timeout(100)
    m = demo.evaluate(MEASURE)
    width, height = m["box"][2], m["box"][3]
    assert width <= m["view"][4] and height <= m["view"][5], (
        f"{name} at {screen}: the demo ({width:.0f}×{height:.0f}) does not fit the notebook's "
        f"viewport ({m['view'][4]}×{m['view'][5]})")
    assert m["box"][1] >= m["view"][1] - 1 and m["box"][1] + height <= m["view"][1] + m["view"][3] + 1, (
        f"{name} at {screen}: the demo cannot be seen whole without scrolling")
    assert m["overflowX"] <= 1, f"{name} at {screen}: the output scrolls sideways by {m['overflowX']} px"
    assert all(track >= MIN_TRACK_PX for track in m["tracks"]), (
        f"{name} at {screen}: slider tracks {m['tracks']} px, at least {MIN_TRACK_PX} wanted")
    assert not any("nan" in r.lower() for r in m["readouts"]), f"{name}: a readout shows NaN: {m['readouts']}"
    assert not m["cut"], f"{name} at {screen}: labels cut short: {m['cut']}"
    assert m["imageRight"] <= m["outputRight"] + 1, (
        f"{name} at {screen}: the figure is cut off at the right by {m['imageRight'] - m['outputRight']:.0f} px")
    natural_w, natural_h, shown_w, shown_h = m["image"]
    assert abs(natural_w - shown_w) <= 1 and abs(natural_h - shown_h) <= 1, (
        f"{name} at {screen}: a {natural_w}×{natural_h} picture is shown at {shown_w:.0f}×{shown_h:.0f}")
    return m


def wait_for_new_picture(page, image, old_src: str, what: str, timeout_ms: int = 60_000) -> float:
    start = time.perf_counter()
    try:
        page.wait_for_function("([img, old]) => img.getAttribute('src') !== old && img.complete",
                               arg=[image.element_handle(), old_src], timeout=timeout_ms)
    except Exception as error:  # playwright's TimeoutError
        raise AssertionError(f"{what} did not change the picture within {timeout_ms / 1000:.0f} s") from error
    return 1000 * (time.perf_counter() - start)


def operate(page, demo, image, step, screen_index: int) -> tuple[str, float]:
    kind, label, choices = step
    choice = choices[screen_index] if choices else None
    old_src = image.get_attribute("src")
    if kind == "slider":
        if label == "PARAM":  # the α / β slider is relabelled for the activation chosen
            label = "beta" if screen_index == 0 else "alpha"
        track = control_row(demo, label).locator(".noUi-target")
        box = track.bounding_box()
        page.mouse.click(box["x"] + choice * box["width"], box["y"] + box["height"] / 2)
    elif kind == "select":
        select = control_row(demo, label).locator("select")
        select.select_option(index=option_indices(select, [choice]))
    elif kind == "multiselect":
        select = demo.locator("select[multiple]")
        select.select_option(index=option_indices(select, choice))
    elif kind == "text":      # the control takes the text on Enter, not per key
        box = control_row(demo, label).locator("input[type=text]")
        box.fill(choice)
        box.press("Enter")
    elif kind == "checkbox":
        demo.locator(".widget-checkbox input[type=checkbox]").click()
    elif kind == "button":
        demo.locator("button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).click()
    elif kind == "play":
        player = demo.locator(".widget-play")
        player.locator("button").nth(0).click()                       # play
        first = wait_for_new_picture(page, image, old_src, "play")
        second_src = image.get_attribute("src")
        wait_for_new_picture(page, image, second_src, "the second frame of play")
        player.locator("button").nth(1).click()                       # pause
        page.wait_for_timeout(1500)
        paused_src = image.get_attribute("src")
        page.wait_for_timeout(1200)
        assert image.get_attribute("src") == paused_src, "the picture kept changing after pause"
        return "play", first
    what = f"{kind} {label!r}" + (f" → {choice}" if choice is not None else "")
    return what, wait_for_new_picture(page, image, old_src, what)


@pytest.mark.parametrize("name", list(DEMO_CELLS))
def test_demo_in_jupyterlab(lab_server, chromium, name):
    base, token = lab_server
    page = chromium.new_page(viewport={"width": SCREENS[0][0], "height": SCREENS[0][1]})
    latencies: dict[str, list[float]] = {}
    try:
        open_notebook(page, base, token, f"demo-{name}.ipynb")
        run_all_cells(page)
        demo = page.locator(".dlkit-demo").first
        demo.wait_for(state="visible", timeout=180_000)
        image = demo.locator("img.dlkit-demo-figure")
        image.wait_for(state="visible")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert_state(page, name, "after the cell ran")
        for label, expected in SHOWN[name].items():
            assert shown_value(demo, label) == expected, f"{name}: the {label} control does not show {expected}"
        for index, screen in enumerate(SCREENS):
            page.set_viewport_size({"width": screen[0], "height": screen[1]})
            page.wait_for_timeout(500)
            demo.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"demo-{name}-{screen[0]}x{screen[1]}.png"))
            measured = check_layout(page, demo, name, screen)
            assert_not_blank(image, "opening")
            operated = set()
            for step in PLANS[name]:
                what, ms = operate(page, demo, image, step, index)
                print(f"  {name} {screen}: {what}: {ms:.0f} ms", flush=True)
                latencies.setdefault(what.split(" →")[0], []).append(ms)
                assert_not_blank(image, what)
                check_layout(page, demo, name, screen)
                operated.add((step[0], step[1]))
                if step[0] == "button" and step[1] == "reset":
                    assert_state(page, name, "after reset")
            # every control of the demo was operated: sliders, menus, boxes, buttons, the player
            assert len(operated) == measured["controls"], (
                f"{name}: {len(operated)} controls operated, the demo has {measured['controls']}")
            demo.screenshot(path=str(ARTIFACTS / f"demo-{name}-{screen[0]}x{screen[1]}-operated.png"))
    finally:
        # each demo's kernel goes with its test: the machine runs one at a time
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        page.close()
    summary = {what: round(statistics.median(ms)) for what, ms in latencies.items()}
    everything = [ms for values in latencies.values() for ms in values]
    (ARTIFACTS / f"demo-latency-{name}.json").write_text(json.dumps(
        {"median_ms": statistics.median(everything), "per_control_ms": summary}, indent=1))
    print(f"{name}: median {statistics.median(everything):.0f} ms from action to new picture in Chromium "
          f"({summary})")
