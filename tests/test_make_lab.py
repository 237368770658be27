"""The README's main command, `make lab`: JupyterLab on the repository root (course/, labs/ and
solutions/ all reachable), opening chapter 00 first, headless and as root, with the URL printed.

tests/browser/test_make_lab_browser.py opens a lab from the file browser of the same server."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, attempts: int = 40):
    for _ in range(attempts):  # the URL is printed a moment before the port accepts
        try:
            return json.load(urllib.request.urlopen(url, timeout=30))
        except urllib.error.URLError:
            time.sleep(0.5)
    return json.load(urllib.request.urlopen(url, timeout=30))


def test_make_lab_serves_the_repository_root_and_opens_chapter_00(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
            seen.append(line)
            match = re.search(rf"(http://127\.0\.0\.1:{port}/lab/tree/course/00-welcome\.ipynb\?token=(\w+))", line)
            url = match and match.group(1)
        assert url, "make lab printed no URL that opens course/00-welcome.ipynb:\n" + "".join(seen[-30:])
        token = url.rsplit("=", 1)[1]
        api = f"http://127.0.0.1:{port}/api/contents"
        names = {item["name"] for item in get_json(f"{api}?token={token}")["content"]}
        assert {"course", "labs", "solutions"} <= names, f"not serving the repository root: {sorted(names)}"
        for notebook in ("course/00-welcome.ipynb", "labs/lab01/lab01.ipynb", "solutions/lab01/lab01.ipynb"):
            model = get_json(f"{api}/{notebook}?content=0&token={token}")
            assert model["type"] == "notebook", f"{notebook} is not reachable: {model}"
        kernels = get_json(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        assert "dlkit" in kernels["kernelspecs"], "the course kernel is not registered"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
