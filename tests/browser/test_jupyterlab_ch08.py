"""End to end in a real browser: chapter 08 runs in JupyterLab, and its recurrent-state demo
redraws when the text it reads is changed (the server and browser set-up of test_jupyterlab)."""
from test_jupyterlab import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, KERNEL_READY, lab_server, pytestmark  # noqa: F401

CHAPTER = "08-recurrent-networks-and-text.ipynb"


def test_recurrent_state_demo_reacts_in_the_browser(lab_server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, token = lab_server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/{CHAPTER}?token={token}")
        page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel')",
                               timeout=60_000)
        page.wait_for_function(KERNEL_READY, timeout=90_000)
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        demo = page.locator(".dlkit-demo").first
        demo.wait_for(state="visible", timeout=240_000)
        demo.scroll_into_view_if_needed()
        image = demo.locator("img")
        image.wait_for(state="visible")
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
