"""End to end in a real browser: chapter 08 runs in JupyterLab, and its recurrent-state demo
redraws when the text it reads is changed (the server and browser set-up of test_jupyterlab)."""
from test_jupyterlab import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, lab_server, pytestmark, run_to_the_demo  # noqa: F401

CHAPTER = "08-recurrent-networks-and-text.ipynb"


def test_recurrent_state_demo_reacts_in_the_browser(lab_server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        demo, image = run_to_the_demo(page, lab_server, CHAPTER, timeout_ms=240_000)  # it trains first
        before = image.get_attribute("src")
        picture_before = image.screenshot()
        text = demo.locator("input[type='text']").first
        text.fill("import this; read the zen.")
        text.press("Enter")                          # the control updates on Enter, not per key
        page.wait_for_function("([img, old]) => img.getAttribute('src') !== old",
                               arg=[image.element_handle(), before], timeout=60_000)
        page.wait_for_timeout(300)
        picture_after = image.screenshot()
        demo.screenshot(path=str(ARTIFACTS / "recurrent-state-after.png"))
        browser.close()
    assert picture_after != picture_before, "the text changed but the plot did not"
    assert (ARTIFACTS / "recurrent-state-after.png").stat().st_size > 10_000
