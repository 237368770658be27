"""`make lab` in a real browser: chapter 00 opens first, and a lab opens from the file browser.

The README and chapter 00 send the learner to labs/lab01/lab01.ipynb; this test walks there by
double-clicking through JupyterLab's file browser, as a learner would, on the server that
`make lab` itself starts (over the repository root). Nothing is saved, so no file changes.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
from lab_helpers import ARTIFACTS, NEEDS_CHROMIUM, ROOT, free_port, isolated_jupyter_env

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

CURRENT_PATH = """() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    return widget && widget.context ? widget.context.path : null;
}"""


def test_a_lab_opens_from_the_file_browser(tmp_path, chromium):
    port = free_port(offset=1)   # beside the session's JupyterLab
    env = isolated_jupyter_env(tmp_path)
    # the test reads jupyterapp (the page's application object) to know which notebook is open
    config = tmp_path / ".jupyter-config"
    config.mkdir(exist_ok=True)
    (config / "jupyter_server_config.json").write_text('{"LabApp": {"expose_app_in_browser": true}}')
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    page = None
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
            seen.append(line)
            match = re.search(rf"(http://127\.0\.0\.1:{port}/lab/tree/course/00-welcome\.ipynb\?token=\w+)", line)
            url = match and match.group(1)
        assert url, "make lab printed no URL:\n" + "".join(seen[-30:])
        page = chromium.new_page(viewport={"width": 1280, "height": 720})
        for _ in range(60):   # the URL is printed a moment before the port accepts
            try:
                page.goto(url)
                break
            except Exception:  # connection refused: not listening yet
                time.sleep(0.5)
        page.wait_for_function(f"() => ({CURRENT_PATH})() === 'course/00-welcome.ipynb'", timeout=90_000)
        browser_panel = page.locator(".jp-FileBrowser")
        browser_panel.wait_for(state="visible")
        # from wherever the file browser is, go to the root, then labs/ → lab01/ → lab01.ipynb
        page.locator(".jp-FileBrowser .jp-BreadCrumbs-home").click()
        for name in ("labs", "lab01", "lab01.ipynb"):
            item = browser_panel.locator(".jp-DirListing-item", has=page.locator(
                ".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$")))
            item.wait_for(state="visible", timeout=30_000)
            item.dblclick()
        page.wait_for_function(f"() => ({CURRENT_PATH})() === 'labs/lab01/lab01.ipynb'", timeout=60_000)
        page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(state="visible", timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "make-lab-lab01-opened.png"))
        # the notebook's model, not the DOM: JupyterLab renders only the cells in view
        cells = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.cells.length")
    finally:
        if page is not None:
            page.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    assert cells > 3, "lab01 opened without its cells"
