"""Waiting, signing in, uploading and screenshots for the browser tests."""

import base64
from pathlib import Path

from django.urls import reverse

WAIT_SECONDS = 15


def wait(driver, condition, message: str, seconds: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition, message)


def submit_form(driver, form_id: str) -> None:
    from selenium.webdriver.common.by import By

    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()
    wait(driver, lambda d: old_page != d.find_element(By.TAG_NAME, "html"), f"{form_id} did not submit")


def full_page_screenshot(driver, path: Path) -> None:
    """The whole page in one picture, beyond the window's height (Chrome DevTools protocol)."""
    driver.execute_script("window.scrollTo(0, 0)")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def wait_for_images(driver, images, message: str) -> None:
    wait(
        driver,
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) for img in images
        ),
        message,
    )


def sign_up(browser, live_server, username: str) -> None:
    """Sign up through the form, as a new user does; it lands on the dataset list."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + reverse("signup"))
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password1").send_keys("a-Long-pass-4321")
    browser.find_element(By.ID, "id_password2").send_keys("a-Long-pass-4321")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser, lambda d: d.current_url.endswith(reverse("classifier:dataset-list")), "sign up failed")


def sign_in(browser, live_server, client, settings, user) -> None:
    """Signed in through the session cookie: the sign-in form is the sign-up test's business."""
    client.force_login(user)
    browser.get(live_server.url + reverse("login"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session})


def open_tab(driver, tab: str) -> None:
    """Click one of the dataset page's tabs and wait for it to open."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, f"tab-{tab}").click()
    wait(
        driver,
        lambda d: d.find_element(By.ID, f"tab-{tab}").get_attribute("aria-current") == "page",
        f"the {tab} tab did not open",
    )
