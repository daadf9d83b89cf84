"""The ``browser`` fixture: Debian's chromium, headless, driven through Selenium. A failed test leaves a
screenshot and the page's HTML in sightline-browser/ in the temp folder (or $SIGHTLINE_BROWSER_FAILURES).
"""

import os
import tempfile
from pathlib import Path

import pytest

from tests.browser.browser_support import full_page_screenshot

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# A failed test leaves a screenshot and the page's HTML here, named after the test.
FAILURE_FOLDER = Path(os.environ.get("SIGHTLINE_BROWSER_FAILURES", Path(tempfile.gettempdir()) / "sightline-browser"))


def save_failure(driver, name: str) -> None:
    FAILURE_FOLDER.mkdir(parents=True, exist_ok=True)
    stem = FAILURE_FOLDER / name.replace("/", "_").replace("[", "_").replace("]", "")
    try:
        full_page_screenshot(driver, stem.with_suffix(".png"))
        stem.with_suffix(".html").write_text(f"<!-- {driver.current_url} -->\n{driver.page_source}")
    except Exception as error:  # noqa: BLE001 - the test's own failure is what matters; say why there is no picture
        print(f"No failure screenshot for {name}: {error}")
    else:
        print(f"Failure screenshot: {stem.with_suffix('.png')} (page at {driver.current_url})")


@pytest.fixture
def browser(tmp_path, request):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    # The driver's path is given, so Selenium Manager never tries to download one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        save_failure(driver, request.node.name)
    driver.quit()
