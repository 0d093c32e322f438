"""The attention report in a real browser: headless Chromium draws every view, offline, without errors.

Needs selenium, ``chromium`` and ``chromedriver`` (Debian's ``chromium`` and ``chromium-driver``;
``.ci/run`` installs them); skipped, with the reason, where any is missing. Selenium Manager never
runs: the driver's path is given and ``SE_OFFLINE`` is set, so nothing is downloaded.
"""

import io
import os
import shutil
import time

import numpy as np
import pytest
from report_factory import HOSTILE_ATTRIBUTE, HOSTILE_SCRIPT

from neurocine_toolbox.interpretation.report_browser import HEADLESS_CHROMIUM_ARGS

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")

ARGS = (*HEADLESS_CHROMIUM_ARGS, "--window-size=1400,1000")
#: Installed before the page's own scripts run: alert() calls and uncaught errors are recorded.
TRAPS = """
window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e)); });
window.addEventListener('unhandledrejection', function (e) { window.__errors.push(String(e.reason)); });
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _view_pixels(driver, element_id):
    """The view's pixels as an RGB array, from a screenshot of the viewport."""
    from PIL import Image

    driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})", element_id)
    rect = driver.execute_script(
        "var r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [r.left, r.top, r.right, r.bottom, window.devicePixelRatio];", element_id)
    *box, ratio = rect
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    return np.asarray(image.crop(tuple(int(round(v * ratio)) for v in box))), image


def _coloured(pixels):
    """Pixels that are neither white nor grey (the drawn map, not the background or mesh)."""
    spread = pixels.max(axis=-1).astype(int) - pixels.min(axis=-1)
    return int((spread > 40).sum())


def test_report_draws_every_view_offline_and_switches_maps(browser, attention_report, tmp_path):
    start = time.monotonic()
    _, path = attention_report
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRAPS})
    browser.get(path.as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.body.dataset.viewsReady === '1'"))
    views = browser.execute_script(
        "return Array.from(document.querySelectorAll('.view-plot')).map(function (div) {"
        "  var gl = Array.from(div.querySelectorAll('canvas')).filter(function (c) {"
        "    return c.getContext('webgl') || c.getContext('experimental-webgl'); });"
        "  return [div.id, div.classList.contains('js-plotly-plot'), div.dataset.ready,"
        "          gl.length ? gl[0].width * gl[0].height : 0]; });")
    assert [v[0] for v in views] == ["view-fslr", "view-fsaverage5"]
    assert all(v[1] and v[2] == "1" and v[3] > 0 for v in views), views

    before = {}
    for view in ("view-fslr", "view-fsaverage5"):
        pixels, screenshot = _view_pixels(browser, view)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{view} is blank"
        assert _coloured(pixels) > 500, f"{view} shows no map colours"
        before[view] = pixels
    screenshot.save(tmp_path / "attention-report.png")

    # Another measure: every view is redrawn with other values.
    Select(browser.find_element("id", "select-measure")).select_by_value("rollout")
    assert "rollout" in browser.find_element("id", "map-status").text
    for view, old in before.items():
        WebDriverWait(browser, 10, poll_frequency=0.25).until(
            lambda d: np.abs(_view_pixels(d, view)[0].astype(int) - old).mean() > 1.0)

    # The hostile category names are options' text, not markup.
    options = [o.text for o in Select(browser.find_element("id", "select-category")).options]
    assert HOSTILE_SCRIPT in options and HOSTILE_ATTRIBUTE in options
    assert browser.execute_script("return document.querySelectorAll('img[onerror], img[src=\"x\"]').length") == 0
    assert browser.execute_script("return window.__alerts") == []
    assert browser.execute_script("return window.__errors.concat(window.reportErrors)") == []
    # Nothing was fetched: no resource besides the page itself.
    assert browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)") == []
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    assert time.monotonic() - start < 60
