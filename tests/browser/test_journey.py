"""End to end in Debian's chromium through Selenium, the whole journey of a new user: sign up, a
careless form, import, relabel in place, train, quick test, feedback from the dataset's classes, a
second version, compare and promote.

Screenshots are left in the temp folder (sightline_*.png) for a human look; a failed test leaves a
screenshot and the page's HTML in sightline-browser/ there (or $SIGHTLINE_BROWSER_FAILURES).
"""

import tempfile
from pathlib import Path

import pytest

from tests.browser.browser_support import full_page_screenshot, open_tab, sign_up, submit_form, wait
from tests.factories import image_bytes

pytestmark = pytest.mark.browser


# The whole journey of a new user, as they meet it in the browser


TRAIN_SECONDS = 240


JOURNEY_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_journey_versions.png"
JOURNEY_COMPARE_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_journey_compare.png"


def _zip_of_colours(path: Path) -> Path:
    """A ZIP with one folder per class: eight reddish and eight bluish pictures, each a little different."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for number in range(8):
            archive.writestr(f"red/red-{number}.jpg", image_bytes(color=(200 + number * 5, 30, 40), size=(48, 48)))
            archive.writestr(f"blue/blue-{number}.jpg", image_bytes(color=(30, 40, 200 + number * 5), size=(48, 48)))
    return path


def _in_view(driver, element) -> bool:
    return driver.execute_script(
        "const box = arguments[0].getBoundingClientRect();"
        "return box.top >= 0 && box.bottom <= window.innerHeight;",
        element,
    )


def _train_quickly(driver) -> None:
    """Fill the Train tab's form for a tiny model that trains in seconds on this machine's CPU, and start."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "train_budget")).select_by_value("custom")
    driver.find_element(By.ID, "train_budget_minutes").send_keys("0.5")
    Select(driver.find_element(By.ID, "train_backbone")).select_by_value("mobilenet_v3_small")
    driver.find_element(By.CSS_SELECTOR, "#train-form details.advanced summary").click()
    Select(driver.find_element(By.ID, "train_weights")).select_by_value("none")
    for field, value in (("train_image_size", "32"), ("train_epochs", "2"), ("train_fine_tune_layers", "0")):
        driver.find_element(By.ID, field).send_keys(value)
    Select(driver.find_element(By.ID, "train_augment")).select_by_value("no")
    driver.find_element(By.CSS_SELECTOR, "#train-form button[type=submit]").click()
    # Tasks run in the test process here, so the version is trained by the time its page opens.
    wait(
        driver,
        lambda d: d.find_elements(By.ID, "version-status") and d.find_element(By.ID, "version-status").text == "Ready",
        "the version did not become ready",
        seconds=TRAIN_SECONDS,
    )


def test_a_new_user_goes_from_sign_up_to_a_promoted_second_version(browser, live_server, transactional_db, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # Sign up, and a dataset.
    sign_up(browser, live_server, "gina")
    browser.find_element(By.ID, "id_name").send_keys("Colours")
    submit_form(browser, "dataset-create-form")
    # An empty dataset opens where images come in, and says so.
    assert browser.find_element(By.ID, "tab-add").get_attribute("aria-current") == "page"
    assert "Start by adding images" in browser.find_element(By.ID, "next-step").text

    # Careless input: an import with no archive. The error is in view, next to its field, and the address
    # bar holds an address that can be reloaded.
    browser.execute_script("document.querySelector('#import-form input[type=file]').removeAttribute('required')")
    submit_form(browser, "import-form")
    error = browser.find_element(By.CSS_SELECTOR, "#import-form .field-invalid")
    assert _in_view(browser, error)
    assert browser.current_url.endswith("?tab=add")
    browser.refresh()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Colours"

    # Import a ZIP: the job page says what happened, in words.
    browser.find_element(By.CSS_SELECTOR, "#import-form input[type=file]").send_keys(
        str(_zip_of_colours(tmp_path / "colours.zip"))
    )
    submit_form(browser, "import-form")
    wait(browser, lambda d: d.find_element(By.ID, "job-status").text == "Succeeded", "the import did not succeed")
    # Labels are shown in capitals (CSS); what matters is the words.
    summary = " ".join(browser.find_element(By.ID, "job-summary").text.split()).lower()
    assert "imported 16 of 16 files" in summary and "blue 8 · red 8" in summary

    # The gallery: change a picture's class in place, without leaving the page.
    browser.find_element(By.LINK_TEXT, "see them in the dataset").click()
    cards = browser.find_elements(By.CSS_SELECTOR, "#image-grid .image-card")
    assert len(cards) == 16
    page_url = browser.current_url
    menu = Select(cards[0].find_element(By.TAG_NAME, "select"))
    original = menu.first_selected_option.get_attribute("value")
    other = "blue" if original == "red" else "red"
    menu.select_by_value(other)
    wait(browser, lambda d: "Saved: " + other in cards[0].text, "the new class was not saved in place")
    menu.select_by_value(original)
    wait(browser, lambda d: "Saved: " + original in cards[0].text, "the class was not put back")
    assert browser.current_url == page_url

    # Train a first version; it becomes the active one.
    open_tab(browser, "train")
    _train_quickly(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ".badge-active")
    assert "%" in browser.find_element(By.ID, "test-metrics").text

    # Quick test with a picture of the user's own, then say the answer was wrong: the class is picked from
    # the dataset's classes, not typed.
    browser.find_element(By.ID, "version-quick-test").click()
    photo = tmp_path / "red.png"
    photo.write_bytes(image_bytes(color=(230, 20, 30), size=(120, 90), fmt="PNG"))
    browser.find_element(By.ID, "id_image").send_keys(str(photo))
    submit_form(browser, "predict-form")
    answer = wait(browser, lambda d: d.find_elements(By.ID, "answer"), "no answer shown")[0].text
    said = "red" if "It is red" in answer else "blue"
    correction = "blue" if said == "red" else "red"
    feedback = browser.find_element(By.ID, "feedback-wrong")
    choices = [option.get_attribute("value") for option in feedback.find_elements(By.CSS_SELECTOR, "select option")]
    assert {"red", "blue"} <= set(choices)
    Select(feedback.find_element(By.TAG_NAME, "select")).select_by_value(correction)
    submit_form(browser, "feedback-wrong")
    assert correction in browser.find_element(By.ID, "feedback-state").text
    submit_form(browser, "add-to-dataset")
    assert correction in browser.find_element(By.ID, "added-to-dataset").text

    # A second version, then compare the two and promote the newer one, told what changed first.
    browser.find_element(By.LINK_TEXT, "Datasets").click()
    browser.find_element(By.LINK_TEXT, "Colours").click()
    open_tab(browser, "train")
    _train_quickly(browser)
    browser.find_element(By.PARTIAL_LINK_TEXT, "Colours").click()
    wait(browser, lambda d: d.find_elements(By.ID, "version-table"), "the versions tab did not open")
    assert browser.find_element(By.ID, "tab-versions").get_attribute("aria-current") == "page"
    browser.find_element(By.CSS_SELECTOR, "#compare-form button").click()
    wait(browser, lambda d: d.find_elements(By.ID, "compare-table"), "no comparison")
    assert browser.find_elements(By.ID, "test-set-warning") or browser.find_elements(By.ID, "test-set-note")
    full_page_screenshot(browser, JOURNEY_COMPARE_SCREENSHOT)
    browser.back()
    promote = browser.find_element(By.CSS_SELECTOR, "#version-2 form button")
    promote.click()
    alert = wait(browser, lambda d: d.switch_to.alert, "no confirmation asked")
    assert alert.text.startswith("Make v2 the active version?")
    alert.accept()
    wait(
        browser,
        lambda d: "Version 2 is now the active version." in d.find_element(By.CLASS_NAME, "messages").text,
        "no word that v2 is active",
    )
    assert browser.find_element(By.ID, "active-version").text == "v2"
    full_page_screenshot(browser, JOURNEY_SCREENSHOT)
