"""End to end in Debian's chromium through Selenium: quick-test a version with an uploaded image.

Screenshots are left in the temp folder (sightline_*.png) for a human look; a failed test leaves a
screenshot and the page's HTML in sightline-browser/ there (or $SIGHTLINE_BROWSER_FAILURES).
"""

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.browser_support import full_page_screenshot, sign_in, submit_form, wait, wait_for_images
from tests.factories import image_bytes

pytestmark = pytest.mark.browser


PREDICT_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_predict.png"


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
    sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("classifier:model-version-detail", args=[version.pk]))

    browser.find_element(By.ID, "version-quick-test").click()
    wait(browser, lambda d: d.find_elements(By.ID, "predict-form"), "the quick test page did not open")
    # Orange, between red and green: the model is 78% sure of red.
    photo = tmp_path / "orange.png"
    photo.write_bytes(image_bytes(color=(255, 200, 0), size=(320, 240), fmt="PNG"))
    browser.find_element(By.ID, "id_image").send_keys(str(photo))
    wait(browser, lambda d: d.find_element(By.ID, "predict-preview").is_displayed(), "no preview of the chosen file")
    threshold = browser.find_element(By.ID, "id_threshold")
    threshold.clear()
    threshold.send_keys("0.8")
    submit_form(browser, "predict-form")

    answer = wait(browser, lambda d: d.find_elements(By.ID, "answer"), "no answer shown")[0]
    assert answer.find_element(By.CLASS_NAME, "answer-text").text == "It could be red or green"
    labels = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#result .prob-label")]
    assert labels == ["red", "green", "blue"]
    wait_for_images(browser, browser.find_elements(By.ID, "prediction-image"), "the predicted image did not load")
    full_page_screenshot(browser, PREDICT_SCREENSHOT)
