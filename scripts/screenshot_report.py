"""Screenshot an attention report in headless Chromium (for docs/images/).

    python scripts/screenshot_report.py REPORT.html OUT.png [--section interactive]

Needs selenium and Debian's ``chromium`` + ``chromium-driver`` (as the browser test); nothing is
downloaded (the driver's path is given and Selenium Manager is off).
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from neurocine_toolbox.interpretation.report_browser import HEADLESS_CHROMIUM_ARGS

ARGS = (*HEADLESS_CHROMIUM_ARGS, "--window-size=1400,1100")


def screenshot(report, out, section="interactive", timeout=120):
    """Open ``report``, wait until its surface views are drawn, and save a PNG of ``section``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ARGS:
        options.add_argument(arg)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
        try:
            driver.get(Path(report).resolve().as_uri())
            WebDriverWait(driver, timeout).until(
                lambda d: d.execute_script("return document.body.dataset.viewsReady === '1'"))
            element = driver.find_element("id", section)
            driver.execute_script("arguments[0].scrollIntoView()", element)
            element.screenshot(str(out))
        finally:
            driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("out")
    parser.add_argument("--section", default="interactive", help="id of the report section to capture")
    args = parser.parse_args()
    screenshot(args.report, args.out, args.section)
    print(args.out)


if __name__ == "__main__":
    main()
