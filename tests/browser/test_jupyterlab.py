"""End to end in a real browser: JupyterLab serves chapter 01, headless Chromium runs it, finds
the activation explorer, changes its control and sees the plot change.

Needs Debian's `chromium` (installed by `.ci/run`); skipped with a reason where it is missing.
A screenshot of the changed demo is kept in test-artifacts/ for a person to look at.
"""
import pytest
from lab_helpers import ARTIFACTS, NEEDS_CHROMIUM, run_to_the_demo

CHAPTER = "01-neuron.ipynb"

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


def test_activation_explorer_reacts_in_the_browser(lab_server, chromium):
    base, token = lab_server
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        demo, image = run_to_the_demo(page, base, token, CHAPTER)
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
    finally:
        page.close()
    assert chosen == "relu"
    assert picture_after != picture_before, "the control changed but the plot did not"
    assert (ARTIFACTS / "activation-explorer-after.png").stat().st_size > 10_000
