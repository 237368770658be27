"""The README's main command, `make lab`, serves JupyterLab on the course, headless and as root."""
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


def test_make_lab_prints_the_url_and_serves_the_course(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    server = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline()
            seen.append(line)
            match = re.search(rf"(http://127\.0\.0\.1:{port}/lab\?token=(\w+))", line)
            url = match and match.group(1)
        assert url, "make lab printed no URL:\n" + "".join(seen[-30:])
        token = url.rsplit("=", 1)[1]
        listing = get_json(f"http://127.0.0.1:{port}/api/contents?token={token}")
        names = {item["name"] for item in listing["content"]}
        assert "00-welcome.ipynb" in names, f"JupyterLab is not serving course/: {sorted(names)}"
        kernels = get_json(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}")
        assert "dlkit" in kernels["kernelspecs"], "the course kernel is not registered"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
