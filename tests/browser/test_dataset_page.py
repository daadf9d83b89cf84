"""End to end in Debian's chromium through Selenium: sign up, create a dataset, upload real JPEGs into
two classes, and see the class chart drawn by Chart.js and the thumbnails in the grid.

Screenshots are left in the temp folder (sightline_*.png) for a human look; a failed test leaves a
screenshot and the page's HTML in sightline-browser/ there (or $SIGHTLINE_BROWSER_FAILURES).
"""

import tempfile
from pathlib import Path

import pytest

from tests.browser.browser_support import (
    full_page_screenshot,
    open_tab,
    sign_up,
    submit_form,
    wait,
    wait_for_images,
)
from tests.factories import image_bytes

pytestmark = pytest.mark.browser


SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_dataset.png"


def write_jpegs(folder: Path, prefix: str, colours: list[tuple[int, int, int]]) -> list[str]:
    paths = []
    for number, colour in enumerate(colours, start=1):
        path = folder / f"{prefix}-{number}.jpg"
        path.write_bytes(image_bytes(color=colour, size=(96, 72)))
        paths.append(str(path))
    return paths


def upload_files(driver, paths: list[str], label: str) -> None:
    from selenium.webdriver.common.by import By

    # Chrome takes several files for one <input multiple> as newline-separated paths.
    driver.find_element(By.ID, "id_files").send_keys("\n".join(paths))
    driver.find_element(By.ID, "id_label").send_keys(label)
    submit_form(driver, "upload-form")
    wait(driver, lambda d: d.find_elements(By.ID, "upload-result"), "no upload result shown")


def test_sign_up_upload_into_two_classes_and_see_the_chart(browser, live_server, transactional_db, tmp_path):
    from selenium.webdriver.common.by import By

    sign_up(browser, live_server, "erin")

    browser.find_element(By.ID, "id_name").send_keys("Garden birds")
    browser.find_element(By.ID, "id_description").send_keys("Seen from the kitchen window")
    submit_form(browser, "dataset-create-form")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Garden birds"

    upload_files(
        browser,
        write_jpegs(tmp_path, "sparrow", [(150, 110, 70), (140, 100, 60), (160, 120, 80)]),
        "sparrow",
    )
    upload_files(browser, write_jpegs(tmp_path, "robin", [(200, 60, 40), (210, 70, 50)]), "robin")
    assert "Imported 2" in " ".join(browser.find_element(By.ID, "upload-result").text.split())

    open_tab(browser, "train")
    chart = wait(
        browser,
        lambda d: d.execute_script(
            "const canvas = document.getElementById('class-chart');"
            "const chart = canvas && window.Chart && Chart.getChart(canvas);"
            "return chart ? {labels: chart.data.labels,"
            " datasets: chart.data.datasets.map(set => ({label: set.label, data: set.data}))} : null;"
        ),
        "the class chart was not drawn",
    )
    assert chart["labels"] == ["robin", "sparrow"]
    assert [dataset["label"] for dataset in chart["datasets"]] == ["Train", "Validation", "Test"]
    per_class = [sum(dataset["data"][index] for dataset in chart["datasets"]) for index in range(2)]
    assert per_class == [2, 3]

    open_tab(browser, "images")
    grid = browser.find_element(By.CSS_SELECTOR, ".image-grid")
    browser.execute_script("arguments[0].scrollIntoView()", grid)
    thumbnails = grid.find_elements(By.TAG_NAME, "img")
    assert len(thumbnails) == 5
    wait_for_images(browser, thumbnails, "thumbnails did not load")

    full_page_screenshot(browser, SCREENSHOT)
