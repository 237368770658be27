"""One JupyterLab server and one headless Chromium for the whole browser-test session.

The server runs over a scratch folder (the repository's notebooks stay clean) holding chapter 01
and one small generated notebook per demo, in quick mode. Debian's `chromium` is needed
(`make browser` installs it); without it every browser test is skipped with that reason.
Screenshots go to test-artifacts/ (gitignored), which CI keeps as artifacts.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from lab_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    DEMO_CELLS,
    ROOT,
    demo_notebook,
    free_port,
    isolated_jupyter_env,
    wait_until_serving,
)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """(base URL, token) of JupyterLab over a scratch folder with the chapters and the demo notebooks."""
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (`make browser` installs it)")
    root = tmp_path_factory.mktemp("lab")
    for chapter in (ROOT / "course").glob("[0-9][0-9]-*.ipynb"):  # the repo's notebooks stay clean
        shutil.copy(chapter, root / chapter.name)
    for name in DEMO_CELLS:
        nbformat.write(demo_notebook(name), root / f"demo-{name}.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--allow-root",
             f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
             f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
             "--ServerApp.disable_check_xsrf=True"],
            env=isolated_jupyter_env(root), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base, token, server, log_path)
            yield base, token
        finally:
            os.killpg(server.pid, 15)   # the server and the kernels it started
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (closed, with its processes, at the end)."""
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
