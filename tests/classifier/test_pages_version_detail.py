"""A version's page: live training, metrics, curves, confusion matrix, calibration, the most-confused
gallery, downloads, and the plan's time.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classifier.ml.config import TrainingConfig
from classifier.models import DatasetImage, ModelVersion
from tests.classifier.version_pages_support import Status, detail_url, make_version, trainable_pets
from training_jobs.models import EpochMetric, Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_pets(user)


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


# The version page


def test_version_page_shows_metrics_settings_and_classes(user_client, version):
    page = user_client.get(detail_url(version))

    assert page.status_code == 200
    text = page.text
    assert "87.5%" in text and "0.871" in text
    assert [row["name"] for row in page.context["per_class"]] == ["cat", "dog"]
    assert "<td>dog</td><td class=\"num\">0.846</td><td class=\"num\">0.917</td>" in text
    settings = dict(page.context["settings"])
    assert settings["Fine-tune layers"] == "10"
    assert settings["Augment while training"] == "yes"
    # The weights folder is a path on the server, not a setting the user chose.
    assert list(settings)[:3] == ["Backbone", "Pretrained weights", "Image size (px)"]
    assert len(settings) == len(TrainingConfig().to_dict()) - 1
    assert '<ol class="class-names"><li>cat</li><li>dog</li></ol>' in text
    assert [row["epoch"] for row in page.context["curves"]] == [1, 2]
    assert 'id="curves-data"' in text
    assert page.context["is_live"] is False
    assert 'id="job-cancel"' not in text


def test_a_diverging_run_still_draws_its_curves(user_client, version):
    EpochMetric.objects.filter(job__model_version=version, epoch=2).update(loss=float("inf"))

    page = user_client.get(detail_url(version))

    # JSON has no Infinity or NaN: such a value is a gap in the line, not a broken chart.
    assert page.context["curves"][1]["loss"] is None
    assert "Infinity" not in page.text


def test_version_page_draws_the_confusion_matrix(user_client, version):
    page = user_client.get(detail_url(version))

    rows = page.context["confusion"]
    assert [row["name"] for row in rows] == ["cat", "dog"]
    assert [[cell["count"] for cell in row["cells"]] for row in rows] == [[9, 2], [1, 11]]
    # Shares of the true class's row, which set each cell's colour.
    assert [cell["share"] for cell in rows[0]["cells"]] == [82, 18]
    text = page.text
    assert text.count('class="confusion-cell') == 4
    assert 'title="true cat, predicted dog: 2 of 11 (18%)">2</td>' in text
    assert "confusion-correct confusion-strong" in text


def test_version_page_shows_calibration_and_its_reliability_diagram(user_client, version):
    page = user_client.get(detail_url(version))

    text = page.text
    assert "1.732" in text and "0.091" in text and "0.023" in text
    assert 'id="reliability-chart"' in text
    assert page.context["reliability"]["after"][1]["accuracy"] == 0.84


def test_gallery_shows_the_most_confidently_wrong_images_with_relabel_and_delete(user_client, version):
    first, second = (entry["image_id"] for entry in version.most_confused)
    DatasetImage.objects.filter(pk=second).delete()

    page = user_client.get(detail_url(version))

    gallery = page.context["gallery"]
    assert [item["image"].pk for item in gallery] == [first]
    text = page.text
    assert reverse("classifier:image-thumbnail", args=[first]) in text
    assert "predicted <strong class=\"danger-text\">dog</strong> 93%" in text
    assert reverse("classifier:image-relabel", args=[first]) in text
    assert reverse("classifier:image-delete", args=[first]) in text
    assert f'name="next" value="{detail_url(version)}#most-confused"' in text


def test_relabel_from_the_gallery_returns_to_the_version_page(user_client, version):
    image_id = version.most_confused[0]["image_id"]
    back = f"{detail_url(version)}#most-confused"

    response = user_client.post(reverse("classifier:image-relabel", args=[image_id]), {"label": "dog", "next": back})

    assert response.status_code == 302
    assert response.url == back
    assert DatasetImage.objects.get(pk=image_id).label.name == "dog"
    page = user_client.get(detail_url(version))
    assert page.context["gallery"][0]["image"].label.name == "dog"


def test_delete_from_the_gallery_returns_to_the_version_page_but_never_elsewhere(user_client, version):
    first, second = (entry["image_id"] for entry in version.most_confused)

    response = user_client.post(reverse("classifier:image-delete", args=[first]), {"next": detail_url(version)})
    assert response.url == detail_url(version)  # no picture to come back to: it is gone
    assert not DatasetImage.objects.filter(pk=first).exists()

    response = user_client.post(
        reverse("classifier:image-delete", args=[second]), {"next": "https://evil.example/phish"}
    )
    assert response.url == reverse("classifier:dataset-detail", args=[version.dataset_id]) + "?tab=images"


def test_training_version_polls_its_job_and_curves_and_can_be_cancelled(user_client, dataset):
    training = make_version(dataset, 1, status=Status.TRAINING, metrics={}, most_confused=[], calibration={})
    job = training.jobs.get()

    page = user_client.get(detail_url(training))

    text = page.text
    assert page.context["is_live"] is True
    assert f'data-job-url="{reverse("training_jobs_api:job-detail", args=[job.pk])}"' in text
    assert f'data-curves-url="/api/v1/model-versions/{training.pk}/curves/"' in text
    assert reverse("training_jobs:job-cancel", args=[job.pk]) in text
    assert 'aria-valuenow="40"' in text
    assert "js/model_version.js" in text
    # No metrics before training ends, and nothing to promote.
    assert 'id="confusion-matrix"' not in text
    assert 'id="version-promote"' not in text


def test_cancelling_training_from_the_version_page_returns_there(user_client, dataset):
    training = make_version(dataset, 1, status=Status.TRAINING, metrics={}, most_confused=[], calibration={})
    job = training.jobs.get()
    page = user_client.get(detail_url(training))
    assert f'name="next" value="{detail_url(training)}"' in page.text

    response = user_client.post(
        reverse("training_jobs:job-cancel", args=[job.pk]), {"next": detail_url(training)}, follow=True
    )

    assert response.redirect_chain == [(detail_url(training), 302)]
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert "Job cancelled." in response.text


def test_failed_version_shows_the_error(user_client, dataset):
    failed = make_version(dataset, 1, status=Status.FAILED, metrics={}, most_confused=[], calibration={})
    Job.objects.filter(model_version=failed).update(
        status=Job.Status.FAILED, error="no ImageNet weights for resnet50: offline. Place x.h5 in the weights folder."
    )

    page = user_client.get(detail_url(failed))

    assert page.status_code == 200
    assert 'id="job-error"' in page.text
    assert "Place x.h5 in the weights folder." in page.text
    assert 'data-job-url' not in page.text


def test_download_links_point_at_the_export_api(user_client, version):
    ModelVersion.objects.filter(pk=version.pk).update(keras_file="models/1/m.keras", tflite_file="models/1/m.tflite")

    text = user_client.get(detail_url(version)).text

    assert f'href="/api/v1/model-versions/{version.pk}/export/?format=keras"' in text
    assert f'href="/api/v1/model-versions/{version.pk}/export/?format=tflite"' in text


def test_the_version_page_shows_the_plan_and_the_time_left(user_client, dataset):
    queued = make_version(dataset, 1, status=Status.QUEUED, is_active=False,
                          plan={"budget_minutes": 10, "reasons": ["Images are 32 px (median): trained at 96 px."]})

    page = user_client.get(detail_url(queued))

    assert "Images are 32 px (median): trained at 96 px." in page.text
    assert page.context["eta_seconds"] == 600


def test_a_trained_version_says_how_long_it_took_and_what_the_plan_left_to_the_training(user_client, dataset):
    settings = TrainingConfig(backbone="mobilenet_v2", image_size=96, fine_tune_fraction=0.5, fine_tune_epochs=8)
    trained = make_version(dataset, 1, hyperparameters=settings.to_dict(),
                           plan={"budget_minutes": 10, "reasons": ["Mirror images kept: …"]})
    finished = timezone.now()
    trained.jobs.update(started_at=finished - timedelta(minutes=6, seconds=20), finished_at=finished)

    page = user_client.get(detail_url(trained))

    assert page.context["eta_seconds"] is None
    assert "6 min 20 s of 10 min" in page.text
    shown = dict(page.context["settings"])
    assert shown["Mirror images"] == "found out from the pictures"
    # Fine-tuning was a share of the backbone: no "0 layers" that would read as none.
    assert shown["Fine-tuned share of the backbone"] == "0.5" and "Fine-tune layers" not in shown
