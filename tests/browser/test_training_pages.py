"""End to end in Debian's chromium through Selenium: a training version's page follows its job live,
then shows the trained version's results; a job's page follows it to its end.

Screenshots are left in the temp folder (sightline_*.png) for a human look; a failed test leaves a
screenshot and the page's HTML in sightline-browser/ there (or $SIGHTLINE_BROWSER_FAILURES).
"""

import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.browser_support import full_page_screenshot, sign_in, wait, wait_for_images

pytestmark = pytest.mark.browser


VERSION_SCREENSHOT = Path(tempfile.gettempdir()) / "sightline_version.png"


def chart_labels(driver, canvas_id: str):
    return driver.execute_script(
        "const canvas = document.getElementById(arguments[0]);"
        "const chart = canvas && window.Chart && Chart.getChart(canvas);"
        "return chart ? chart.data.labels : null;",
        canvas_id,
    )


def test_a_training_version_page_follows_its_job_then_shows_the_results(
    browser, live_server, transactional_db, client, settings
):
    from selenium.webdriver.common.by import By

    from classifier.models import DatasetImage, ModelVersion
    from tests.classifier.version_pages_support import make_version
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

    sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("classifier:model-version-detail", args=[trained.pk]))

    assert wait(browser, lambda d: chart_labels(d, "loss-chart"), "the loss chart was not drawn") == [1, 2]
    assert browser.find_element(By.ID, "job-cancel").is_displayed()

    # A new epoch reaches the charts through the curves API, without a reload.
    EpochMetric.objects.create(
        job=job, epoch=3, phase="fine_tune", loss=0.3, accuracy=0.9, val_loss=0.4, val_accuracy=0.85,
        learning_rate=1e-4, seconds=2.0,
    )
    Job.objects.filter(pk=job.pk).update(progress=0.7, message="Epoch 3 (fine-tune): val accuracy 0.850")
    wait(browser, lambda d: chart_labels(d, "accuracy-chart") == [1, 2, 3], "the new epoch was not drawn")
    wait(browser, lambda d: d.find_element(By.ID, "job-percent").text == "70%", "the progress bar did not move")

    # The job ends: the page reloads by itself and shows the results.
    ModelVersion.objects.filter(pk=trained.pk).update(status=ModelVersion.Status.READY, is_active=True)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, progress=1.0, message="Version 1 ready")
    wait(browser, lambda d: d.find_elements(By.ID, "confusion-matrix"), "the page did not reload with results")
    assert browser.find_element(By.ID, "version-status").text == "Ready"
    assert not browser.find_elements(By.ID, "job-cancel")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#confusion-matrix td.confusion-cell")) == 4
    assert wait(browser, lambda d: chart_labels(d, "reliability-chart"), "no reliability diagram") == ["0.63", "0.88"]

    gallery = browser.find_elements(By.CSS_SELECTOR, "#confused-gallery img")
    assert len(gallery) == DatasetImage.objects.filter(id__in=[e["image_id"] for e in trained.most_confused]).count()
    browser.execute_script("arguments[0].scrollIntoView()", gallery[-1])
    wait_for_images(browser, gallery, "gallery thumbnails did not load")
    full_page_screenshot(browser, VERSION_SCREENSHOT)


def test_a_job_page_follows_its_job_then_shows_how_it_ended(browser, live_server, transactional_db, client, settings):
    from selenium.webdriver.common.by import By

    from tests.factories import JobFactory, UserFactory
    from training_jobs.models import Job

    user = UserFactory(username="erin")
    job = JobFactory(requested_by=user, status=Job.Status.RUNNING, progress=0.2, message="10 of 50 files")

    sign_in(browser, live_server, client, settings, user)
    browser.get(live_server.url + reverse("training_jobs:job-detail", args=[job.pk]))

    Job.objects.filter(pk=job.pk).update(progress=0.6, message="30 of 50 files")
    wait(browser, lambda d: d.find_element(By.ID, "job-percent").text == "60%", "the progress bar did not move")
    assert browser.find_element(By.ID, "job-message").text == "30 of 50 files"

    # The job ends: the page reloads by itself and shows why.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error="The archive is not a readable ZIP file.")
    error = wait(browser, lambda d: d.find_elements(By.ID, "job-error"), "the page did not reload when the job ended")
    assert error[0].text == "The archive is not a readable ZIP file."
    assert browser.find_element(By.ID, "job-status").text == "Failed"
    assert not browser.find_elements(By.ID, "job-cancel")
