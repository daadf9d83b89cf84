"""End to end in Debian's chromium through Selenium: sign up, create a dataset, upload real JPEGs into
two classes, and see the class chart drawn by Chart.js and the thumbnails in the grid; and watch a
training version's page follow its job live, then show the trained version's results; watch a job's page
follow it to its end; and quick-test a version with an uploaded image.

And the whole journey of a new user: sign up, a careless form, import, relabel in place, train, quick
test, feedback from the dataset's classes, a second version, compare and promote.

Screenshots of the dataset page, the version page, a quick test's result and the journey's end are left in
the temp folder (sightline_*.png) for a human look; a failed test leaves a screenshot and the page's HTML
in sightline-browser/ there (or $SIGHTLINE_BROWSER_FAILURES).
"""

import base64
import os
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import image_bytes

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_dataset.png"
VERSION_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_version.png"
PREDICT_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_predict.png"
WAIT_SECONDS = 15

pytestmark = pytest.mark.browser


# A failed test leaves a screenshot and the page's HTML here, named after the test.
FAILURE_FOLDER = Path(os.environ.get("SIGHTLINE_BROWSER_FAILURES", Path(tempfile.gettempdir()) / "sightline-browser"))


def _save_failure(driver, name: str) -> None:
    FAILURE_FOLDER.mkdir(parents=True, exist_ok=True)
    stem = FAILURE_FOLDER / name.replace("/", "_").replace("[", "_").replace("]", "")
    try:
        _full_page_screenshot(driver, stem.with_suffix(".png"))
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
        _save_failure(driver, request.node.name)
    driver.quit()


def _wait(driver, condition, message: str, seconds: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition, message)


def _submit(driver, form_id: str) -> None:
    from selenium.webdriver.common.by import By

    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()
    _wait(driver, lambda d: old_page != d.find_element(By.TAG_NAME, "html"), f"{form_id} did not submit")


def _full_page_screenshot(driver, path: Path) -> None:
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


def _wait_for_images(driver, images, message: str) -> None:
    _wait(
        driver,
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) for img in images
        ),
        message,
    )


def _chart_labels(driver, canvas_id: str):
    return driver.execute_script(
        "const canvas = document.getElementById(arguments[0]);"
        "const chart = canvas && window.Chart && Chart.getChart(canvas);"
        "return chart ? chart.data.labels : null;",
        canvas_id,
    )


def _sign_up(browser, live_server, username: str) -> None:
    """Sign up through the form, as a new user does; it lands on the dataset list."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + reverse("signup"))
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password1").send_keys("a-Long-pass-4321")
    browser.find_element(By.ID, "id_password2").send_keys("a-Long-pass-4321")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(browser, lambda d: d.current_url.endswith(reverse("classifier:dataset-list")), "sign up failed")


def _sign_in(browser, live_server, client, settings, user) -> None:
    """Signed in through the session cookie: the sign-in form is the sign-up test's business."""
    client.force_login(user)
    browser.get(live_server.url + reverse("login"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.add_cookie({"name": settings.SESSION_COOKIE_NAME, "value": session})


def _write_jpegs(folder: Path, prefix: str, colours: list[tuple[int, int, int]]) -> list[str]:
    paths = []
    for number, colour in enumerate(colours, start=1):
        path = folder / f"{prefix}-{number}.jpg"
        path.write_bytes(image_bytes(color=colour, size=(96, 72)))
        paths.append(str(path))
    return paths


def _open_tab(driver, tab: str) -> None:
    """Click one of the dataset page's tabs and wait for it to open."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, f"tab-{tab}").click()
    _wait(
        driver,
        lambda d: d.find_element(By.ID, f"tab-{tab}").get_attribute("aria-current") == "page",
        f"the {tab} tab did not open",
    )


def _upload(driver, paths: list[str], label: str) -> None:
    from selenium.webdriver.common.by import By

    # Chrome takes several files for one <input multiple> as newline-separated paths.
    driver.find_element(By.ID, "id_files").send_keys("\n".join(paths))
    driver.find_element(By.ID, "id_label").send_keys(label)
    _submit(driver, "upload-form")
    _wait(driver, lambda d: d.find_elements(By.ID, "upload-result"), "no upload result shown")


def test_sign_up_upload_into_two_classes_and_see_the_chart(browser, live_server, transactional_db, tmp_path):
    from selenium.webdriver.common.by import By

    _sign_up(browser, live_server, "erin")

    browser.find_element(By.ID, "id_name").send_keys("Garden birds")
    browser.find_element(By.ID, "id_description").send_keys("Seen from the kitchen window")
    _submit(browser, "dataset-create-form")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Garden birds"

    _upload(
        browser,
        _write_jpegs(tmp_path, "sparrow", [(150, 110, 70), (140, 100, 60), (160, 120, 80)]),
        "sparrow",
    )
    _upload(browser, _write_jpegs(tmp_path, "robin", [(200, 60, 40), (210, 70, 50)]), "robin")
    assert "Imported 2" in " ".join(browser.find_element(By.ID, "upload-result").text.split())

    _open_tab(browser, "train")
    chart = _wait(
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

    _open_tab(browser, "images")
    grid = browser.find_element(By.CSS_SELECTOR, ".image-grid")
    browser.execute_script("arguments[0].scrollIntoView()", grid)
    thumbnails = grid.find_elements(By.TAG_NAME, "img")
    assert len(thumbnails) == 5
    _wait_for_images(browser, thumbnails, "thumbnails did not load")

    _full_page_screenshot(browser, SCREENSHOT)


def test_a_training_version_page_follows_its_job_then_shows_the_results(
    browser, live_server, transactional_db, client, settings
):
    from selenium.webdriver.common.by import By

    from classifier.models import DatasetImage, ModelVersion
    from tests.classifier.test_pages_versions import make_version
    from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, UserFactory
    from training_jobs.models import EpochMetric, Job

    user = UserFactory(username="dana")
    dataset = DatasetFactory(owner=user, name="Pets")
    for name in ("cat", "dog"):
        label = LabelClassFactory(dataset=dataset, name=name)
        for split in ("train", "train", "val", "test"):
            DatasetImageFactory(dataset=dataset, label=label, split=split)
    trained = make_version(dataset, 1)
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.TRAINING, is_active=False)
    job = trained.jobs.get()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, progress=0.4)

    _sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("classifier:model-version-detail", args=[trained.pk]))

    assert _wait(browser, lambda d: _chart_labels(d, "loss-chart"), "the loss chart was not drawn") == [1, 2]
    assert browser.find_element(By.ID, "job-cancel").is_displayed()

    # A new epoch reaches the charts through the curves API, without a reload.
    EpochMetric.objects.create(
        job=job, epoch=3, phase="fine_tune", loss=0.3, accuracy=0.9, val_loss=0.4, val_accuracy=0.85,
        learning_rate=1e-4, seconds=2.0,
    )
    Job.objects.filter(pk=job.pk).update(progress=0.7, message="Epoch 3 (fine-tune): val accuracy 0.850")
    _wait(browser, lambda d: _chart_labels(d, "accuracy-chart") == [1, 2, 3], "the new epoch was not drawn")
    _wait(browser, lambda d: d.find_element(By.ID, "job-percent").text == "70%", "the progress bar did not move")

    # The job ends: the page reloads by itself and shows the results.
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.READY, is_active=True)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, progress=1.0, message="Version 1 ready")
    _wait(browser, lambda d: d.find_elements(By.ID, "confusion-matrix"), "the page did not reload with results")
    assert browser.find_element(By.ID, "version-status").text == "Ready"
    assert not browser.find_elements(By.ID, "job-cancel")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#confusion-matrix td.confusion-cell")) == 4
    assert _wait(browser, lambda d: _chart_labels(d, "reliability-chart"), "no reliability diagram") == ["0.63", "0.88"]

    gallery = browser.find_elements(By.CSS_SELECTOR, "#confused-gallery img")
    assert len(gallery) == DatasetImage.objects.filter(id__in=[e["image_id"] for e in trained.most_confused]).count()
    browser.execute_script("arguments[0].scrollIntoView()", gallery[-1])
    _wait_for_images(browser, gallery, "gallery thumbnails did not load")
    _full_page_screenshot(browser, VERSION_SCREENSHOT)


def test_a_job_page_follows_its_job_then_shows_how_it_ended(browser, live_server, transactional_db, client, settings):
    from selenium.webdriver.common.by import By

    from tests.factories import JobFactory, UserFactory
    from training_jobs.models import Job

    user = UserFactory(username="erin")
    job = JobFactory(requested_by=user, status=Job.Status.RUNNING, progress=0.2, message="10 of 50 files")

    _sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("training_jobs:job-detail", args=[job.pk]))

    Job.objects.filter(pk=job.pk).update(progress=0.6, message="30 of 50 files")
    _wait(browser, lambda d: d.find_element(By.ID, "job-percent").text == "60%", "the progress bar did not move")
    assert browser.find_element(By.ID, "job-message").text == "30 of 50 files"

    # The job ends: the page reloads by itself and shows why.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error="The archive is not a readable ZIP file.")
    error = _wait(browser, lambda d: d.find_elements(By.ID, "job-error"), "the page did not reload when the job ended")
    assert error[0].text == "The archive is not a readable ZIP file."
    assert browser.find_element(By.ID, "job-status").text == "Failed"
    assert not browser.find_elements(By.ID, "job-cancel")


def test_quick_test_from_a_version_page_shows_the_answer(
    browser, live_server, transactional_db, client, settings, tmp_path
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from selenium.webdriver.common.by import By

    from classifier.models import ModelVersion
    from tests.factories import DatasetFactory, UserFactory
    from tests.models import MODEL_SIZE, PRIMARY_CLASSES, colour_model_tflite

    user = UserFactory(username="frank")
    dataset = DatasetFactory(owner=user, name="Colours")
    version = ModelVersion.objects.create(
        dataset=dataset,
        number=1,
        backbone="tiny",
        image_size=MODEL_SIZE,
        status=ModelVersion.Status.READY,
        class_names=list(PRIMARY_CLASSES),
        tflite_file=default_storage.save(
            "models/browser/model.tflite", ContentFile(colour_model_tflite(PRIMARY_CLASSES, tmp_path))
        ),
        metrics={"accuracy": 0.95},
        is_active=True,
        created_by=user,
    )
    _sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("classifier:model-version-detail", args=[version.pk]))

    browser.find_element(By.ID, "version-quick-test").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "predict-form"), "the quick test page did not open")
    # Orange, between red and green: the model is 78% sure of red.
    photo = tmp_path / "orange.png"
    photo.write_bytes(image_bytes(color=(255, 200, 0), size=(320, 240), fmt="PNG"))
    browser.find_element(By.ID, "id_image").send_keys(str(photo))
    _wait(browser, lambda d: d.find_element(By.ID, "predict-preview").is_displayed(), "no preview of the chosen file")
    threshold = browser.find_element(By.ID, "id_threshold")
    threshold.clear()
    threshold.send_keys("0.8")
    _submit(browser, "predict-form")

    answer = _wait(browser, lambda d: d.find_elements(By.ID, "answer"), "no answer shown")[0]
    assert answer.find_element(By.CLASS_NAME, "answer-text").text == "It could be red or green"
    labels = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#result .prob-label")]
    assert labels == ["red", "green", "blue"]
    _wait_for_images(browser, browser.find_elements(By.ID, "prediction-image"), "the predicted image did not load")
    _full_page_screenshot(browser, PREDICT_SCREENSHOT)


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
    _wait(
        driver,
        lambda d: d.find_elements(By.ID, "version-status") and d.find_element(By.ID, "version-status").text == "Ready",
        "the version did not become ready",
        seconds=TRAIN_SECONDS,
    )


def test_a_new_user_goes_from_sign_up_to_a_promoted_second_version(browser, live_server, transactional_db, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # Sign up, and a dataset.
    _sign_up(browser, live_server, "gina")
    browser.find_element(By.ID, "id_name").send_keys("Colours")
    _submit(browser, "dataset-create-form")
    # An empty dataset opens where images come in, and says so.
    assert browser.find_element(By.ID, "tab-add").get_attribute("aria-current") == "page"
    assert "Start by adding images" in browser.find_element(By.ID, "next-step").text

    # Careless input: an import with no archive. The error is in view, next to its field, and the address
    # bar holds an address that can be reloaded.
    browser.execute_script("document.querySelector('#import-form input[type=file]').removeAttribute('required')")
    _submit(browser, "import-form")
    error = browser.find_element(By.CSS_SELECTOR, "#import-form .field-invalid")
    assert _in_view(browser, error)
    assert browser.current_url.endswith("?tab=add")
    browser.refresh()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Colours"

    # Import a ZIP: the job page says what happened, in words.
    browser.find_element(By.CSS_SELECTOR, "#import-form input[type=file]").send_keys(
        str(_zip_of_colours(tmp_path / "colours.zip"))
    )
    _submit(browser, "import-form")
    _wait(browser, lambda d: d.find_element(By.ID, "job-status").text == "Succeeded", "the import did not succeed")
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
    _wait(browser, lambda d: "Saved: " + other in cards[0].text, "the new class was not saved in place")
    menu.select_by_value(original)
    _wait(browser, lambda d: "Saved: " + original in cards[0].text, "the class was not put back")
    assert browser.current_url == page_url

    # Train a first version; it becomes the active one.
    _open_tab(browser, "train")
    _train_quickly(browser)
    assert browser.find_elements(By.CSS_SELECTOR, ".badge-active")
    assert "%" in browser.find_element(By.ID, "test-metrics").text

    # Quick test with a picture of the user's own, then say the answer was wrong: the class is picked from
    # the dataset's classes, not typed.
    browser.find_element(By.ID, "version-quick-test").click()
    photo = tmp_path / "red.png"
    photo.write_bytes(image_bytes(color=(230, 20, 30), size=(120, 90), fmt="PNG"))
    browser.find_element(By.ID, "id_image").send_keys(str(photo))
    _submit(browser, "predict-form")
    answer = _wait(browser, lambda d: d.find_elements(By.ID, "answer"), "no answer shown")[0].text
    said = "red" if "It is red" in answer else "blue"
    correction = "blue" if said == "red" else "red"
    feedback = browser.find_element(By.ID, "feedback-wrong")
    choices = [option.get_attribute("value") for option in feedback.find_elements(By.CSS_SELECTOR, "select option")]
    assert {"red", "blue"} <= set(choices)
    Select(feedback.find_element(By.TAG_NAME, "select")).select_by_value(correction)
    _submit(browser, "feedback-wrong")
    assert correction in browser.find_element(By.ID, "feedback-state").text
    _submit(browser, "add-to-dataset")
    assert correction in browser.find_element(By.ID, "added-to-dataset").text

    # A second version, then compare the two and promote the newer one, told what changed first.
    browser.find_element(By.LINK_TEXT, "Datasets").click()
    browser.find_element(By.LINK_TEXT, "Colours").click()
    _open_tab(browser, "train")
    _train_quickly(browser)
    browser.find_element(By.PARTIAL_LINK_TEXT, "Colours").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "version-table"), "the versions tab did not open")
    assert browser.find_element(By.ID, "tab-versions").get_attribute("aria-current") == "page"
    browser.find_element(By.CSS_SELECTOR, "#compare-form button").click()
    _wait(browser, lambda d: d.find_elements(By.ID, "compare-table"), "no comparison")
    assert browser.find_elements(By.ID, "test-set-warning") or browser.find_elements(By.ID, "test-set-note")
    _full_page_screenshot(browser, JOURNEY_COMPARE_SCREENSHOT)
    browser.back()
    promote = browser.find_element(By.CSS_SELECTOR, "#version-2 form button")
    promote.click()
    alert = _wait(browser, lambda d: d.switch_to.alert, "no confirmation asked")
    assert alert.text.startswith("Make v2 the active version?")
    alert.accept()
    _wait(
        browser,
        lambda d: "Version 2 is now the active version." in d.find_element(By.CLASS_NAME, "messages").text,
        "no word that v2 is active",
    )
    assert browser.find_element(By.ID, "active-version").text == "v2"
    _full_page_screenshot(browser, JOURNEY_SCREENSHOT)
