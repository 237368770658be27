"""What the browser tests share: where Chromium is, the demos' notebooks, JupyterLab helpers."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None,
                                    reason="needs Debian's chromium (`make browser` installs it)")

KERNEL_READY = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

# each demo exactly as its chapter builds it (the notebooks' own cells)
DEMO_CELLS = {
    "ActivationExplorer": 'ActivationExplorer(activation="sigmoid")',
    "NeuronPlayground": 'NeuronPlayground(dataset="blobs", activation="sigmoid")',
    "CapacityDemo": 'CapacityDemo(target="sawtooth", width=32, depth=3, activation="relu", steps=300)',
    "GraphDemo": 'GraphDemo(expression="neuron", x1=2.0, x2=0.0, w1=-3.0, w2=1.0, b=6.88, backward_step=4)',
    "OptimizerRace": ('OptimizerRace(surface="bowl", optimizers=("SGD", "momentum", "Nesterov", "AdaGrad", '
                      '"RMSprop", "Adam"), lr=0.02, steps=150)'),
    "InitHistograms": 'InitHistograms(depth=10, width=256, activation="tanh", init="xavier")',
    "RegularizationDemo": 'RegularizationDemo(method="weight decay", strength=0.0, width=128)',
    "ConvStepper": 'ConvStepper(image="square", kernel="vertical edge", stride=1, padding=0, step=17)',
    # chapters 07-09 pass the nets they trained; a cell of its own trains a small one like it
    "FeatureMapDemo": 'FeatureMapDemo.on_digits(image=2, layer="features.0")',
    "RecurrentStateDemo": ('RecurrentStateDemo.on_stdlib_corpus(text="Return the number of items in the list.", '
                           'step=11)'),
    "GAN2DDemo": 'GAN2DDemo(loss="non-saturating", lr_g=2e-3, lr_d=2e-3, steps=200)',
    "AttentionDemo": ('AttentionDemo.on_stdlib_corpus(text="Return the number of items in the list.", '
                      'layer=0, head="all")'),
    "SaliencyDemo": 'SaliencyDemo.on_digits(image=2, method="Grad-CAM")',
}


def free_port(offset: int = 0) -> int:
    """A free port (``DLKIT_BROWSER_PORT + offset`` where ports are shared between people)."""
    if os.environ.get("DLKIT_BROWSER_PORT"):
        return int(os.environ["DLKIT_BROWSER_PORT"]) + offset
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_jupyter_env(root: Path) -> dict[str, str]:
    """Jupyter's config, runtime, settings and workspaces under ``root``; no news pop-up."""
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    bin_dir = Path(sys.executable).parent
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DLKIT_QUICK": "1",
            "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(root / ".lab-workspaces")}


def wait_until_serving(base: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                os.killpg(server.pid, 9)
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def demo_notebook(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        f"import dlkit\nfrom dlkit.viz import {name}\n\ndlkit.seed(0)\ndemo = {DEMO_CELLS[name]}\ndemo")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def open_notebook(page, base: str, token: str, path: str) -> None:
    """Open ``path`` in JupyterLab and wait for its kernel to be connected and idle."""
    # a workspace of its own: JupyterLab would otherwise reopen (and start kernels for) every
    # notebook an earlier test opened
    workspace = re.sub(r"\W", "-", path)
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?token={token}")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel')",
                           timeout=90_000)
    page.wait_for_function(KERNEL_READY, timeout=120_000)


def run_all_cells(page) -> None:
    """Run > Run All Cells (without awaiting the promise, which settles only at the end)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def run_to_the_demo(page, base: str, token: str, chapter: str, timeout_ms: int = 120_000):
    """Open ``chapter``, run all its cells, and return its first demo and the demo's image."""
    open_notebook(page, base, token, chapter)
    run_all_cells(page)
    demo = page.locator(".dlkit-demo").first
    demo.wait_for(state="visible", timeout=timeout_ms)
    demo.scroll_into_view_if_needed()
    image = demo.locator("img")
    image.wait_for(state="visible")
    return demo, image
