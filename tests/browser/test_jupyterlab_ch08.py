"""End to end in a real browser: chapter 08 runs in JupyterLab, its recurrent-state demo
redraws when the text it reads is changed, and says under its controls why it refuses an
empty text (an error raised there would reach no part of JupyterLab a learner looks at)."""
import pytest
from lab_helpers import ARTIFACTS, NEEDS_CHROMIUM, run_to_the_demo

CHAPTER = "08-recurrent-networks-and-text.ipynb"

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


def test_recurrent_state_demo_reacts_in_the_browser(lab_server, chromium):
    base, token = lab_server
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # the chapter trains its model before the demo appears
        demo, image = run_to_the_demo(page, base, token, CHAPTER, timeout_ms=240_000)
        before = image.get_attribute("src")
        picture_before = image.screenshot()
        text = demo.locator("input[type='text']").first
        text.fill("import this; read the zen.")
        text.press("Enter")  # the control updates on Enter, not per key
        page.wait_for_function("([img, old]) => img.getAttribute('src') !== old",
                               arg=[image.element_handle(), before], timeout=60_000)
        page.wait_for_timeout(300)
        picture_after = image.screenshot()
        demo.screenshot(path=str(ARTIFACTS / "recurrent-state-after.png"))
        text.fill("")
        text.press("Enter")
        demo.locator(".dlkit-demo-message", has_text="expected text of 1 to 200 characters, got ''").wait_for(
            timeout=30_000)
        assert image.screenshot() == picture_after, "the figure changed for a refused text"
    finally:
        page.close()
    assert picture_after != picture_before, "the text changed but the plot did not"
    assert (ARTIFACTS / "recurrent-state-after.png").stat().st_size > 10_000
