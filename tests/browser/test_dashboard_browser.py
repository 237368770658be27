"""End to end in a real browser: chapter 11's training dashboard, run in JupyterLab, is one
picture that redraws in place while ``Trainer.fit`` runs (not a new picture per redraw)."""
import json
import urllib.request

import nbformat
import pytest
from lab_helpers import ARTIFACTS, KERNEL_READY, NEEDS_CHROMIUM, open_notebook, run_all_cells

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]

NOTEBOOK = "demo-TrainingDashboard.ipynb"
CELL = """import dlkit
from dlkit.train import run_dashboard_demo

dlkit.seed(0)
dashboard = run_dashboard_demo(epochs=4, every_s=0.3)
print(len(dashboard.steps["step"]), "steps")"""


def put_notebook(base: str, token: str) -> None:
    """Write the demo notebook into the server's folder through Jupyter's contents API."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
    request = urllib.request.Request(f"{base}/api/contents/{NOTEBOOK}?token={token}", data=body,
                                     method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201)


def test_the_dashboard_redraws_in_place_while_training(lab_server, chromium):
    base, token = lab_server
    put_notebook(base, token)
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_notebook(page, base, token, NOTEBOOK)
        run_all_cells(page)
        image = page.locator(".jp-OutputArea-output img").first
        image.wait_for(state="visible", timeout=120_000)
        first = image.get_attribute("src")
        # JupyterLab may replace the <img> element on an update: look it up again each time
        page.wait_for_function("old => { const img = document.querySelector('.jp-OutputArea-output img');"
                               " return img && img.getAttribute('src') !== old; }",
                               arg=first, timeout=120_000)
        page.locator(".jp-OutputArea-output", has_text="steps").wait_for(timeout=120_000)
        page.wait_for_function(KERNEL_READY, timeout=60_000)
        pictures = page.locator(".jp-OutputArea-output img").count()
        printed = page.locator(".jp-OutputArea-output", has_text="steps").inner_text()
        page.locator(".jp-OutputArea").first.screenshot(path=str(ARTIFACTS / "training-dashboard.png"))
    finally:
        page.close()
    assert pictures == 1, f"expected one picture redrawn in place, found {pictures}"
    assert printed.strip() == "176 steps"
    assert (ARTIFACTS / "training-dashboard.png").stat().st_size > 10_000
