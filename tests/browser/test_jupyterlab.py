"""End to end in a real browser: JupyterLab serves chapter 01, headless Chromium runs it, finds
the activation explorer, changes its control and sees the plot change.

Needs Debian's `chromium` (installed by `.ci/run`); skipped with a reason where it is missing.
A screenshot of the changed demo is kept in test-artifacts/ for a person to look at.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHAPTER = "01-neuron.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

KERNEL_READY = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """JupyterLab on localhost over a scratch copy of course/ (the repo's notebooks stay clean)."""
    root = tmp_path_factory.mktemp("course")
    for notebook in (ROOT / "course").glob("[0-9][0-9]-*.ipynb"):   # every chapter, for every demo test
        shutil.copy(notebook, root / notebook.name)
    # no "get Jupyter news?" pop-up over the screenshots
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DLKIT_QUICK": "1",
           "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config"), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings")}
    log = open(root / "server.log", "w")
    server = subprocess.Popen(
        [str(bin_dir / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         "--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield base, token
    os.killpg(server.pid, 15)
    server.wait(timeout=20)
    log.close()


def run_to_the_demo(page, lab_server, chapter: str, timeout_ms: int = 120_000):
    """Open ``chapter``, run all its cells, and return its first demo and the demo's image."""
    base, token = lab_server
    page.goto(f"{base}/lab/tree/{chapter}?token={token}")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel')",
                           timeout=60_000)
    # wait until the kernel is connected and idle, then Run > Run All Cells (without
    # awaiting the command's promise, which settles only when every cell has run)
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    demo = page.locator(".dlkit-demo").first
    demo.wait_for(state="visible", timeout=timeout_ms)
    demo.scroll_into_view_if_needed()
    image = demo.locator("img")
    image.wait_for(state="visible")
    return demo, image


def test_activation_explorer_reacts_in_the_browser(lab_server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        demo, image = run_to_the_demo(page, lab_server, CHAPTER)
        before = image.get_attribute("src")
        picture_before = image.screenshot()
        page.screenshot(path=str(ARTIFACTS / "activation-explorer-before.png"))

        demo.locator("select").first.select_option("relu")
        page.wait_for_function("([img, old]) => img.getAttribute('src') !== old",
                               arg=[image.element_handle(), before], timeout=30_000)
        page.wait_for_timeout(300)  # let the new image decode before photographing it
        picture_after = image.screenshot()
        demo.screenshot(path=str(ARTIFACTS / "activation-explorer-after.png"))
        chosen = demo.locator("select").first.input_value()
        browser.close()
    assert chosen == "relu"
    assert picture_after != picture_before, "the control changed but the plot did not"
    assert (ARTIFACTS / "activation-explorer-after.png").stat().st_size > 10_000
