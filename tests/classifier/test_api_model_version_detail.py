"""Model-versions API: the list, the detail with metrics and calibration, and the training curves.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest

from tests.classifier.model_version_support import Status, trainable_dataset, version_row
from tests.factories import JobFactory
from training_jobs.models import EpochMetric, Job

pytestmark = pytest.mark.django_db


METRICS = {
    "accuracy": 0.75,
    "macro_f1": 0.7333,
    "best_epoch": 3,
    "per_class": {
        "robin": {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3},
        "wren": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
    },
    "confusion_matrix": [[2, 1], [0, 1]],
    "split_sizes": {"train": 16, "val": 4, "test": 4},
}


CALIBRATION = {
    "temperature": 1.5,
    "ece_before": 0.12,
    "ece_after": 0.03,
    "reliability_before": [
        {"lower": 0.0, "upper": 0.5, "confidence": None, "accuracy": None, "count": 0},
        {"lower": 0.5, "upper": 1.0, "confidence": 0.9, "accuracy": 0.75, "count": 4},
    ],
    "reliability_after": [
        {"lower": 0.0, "upper": 0.5, "confidence": None, "accuracy": None, "count": 0},
        {"lower": 0.5, "upper": 1.0, "confidence": 0.78, "accuracy": 0.75, "count": 4},
    ],
}


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


# Listing and reading


def test_the_list_shows_the_datasets_versions_newest_first_with_a_metrics_summary(user, user_api, dataset):
    trained = version_row(dataset, 1, metrics=METRICS, is_active=True)
    queued = version_row(dataset, 2, status=Status.QUEUED)
    version_row(trainable_dataset(user, name="Pond birds"), 1)

    response = user_api.get(f"/api/v1/datasets/{dataset.id}/model-versions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [v["id"] for v in body["results"]] == [queued.id, trained.id]
    listed = body["results"][1]
    assert set(listed) == {
        "id",
        "dataset",
        "number",
        "backbone",
        "image_size",
        "status",
        "class_names",
        "is_active",
        "parent",
        "created_by",
        "created_at",
        "trained_at",
        "metrics",
    }
    assert listed["metrics"] == {"accuracy": 0.75, "macro_f1": 0.7333, "best_epoch": 3}
    assert (listed["status"], listed["is_active"], listed["created_by"]) == ("ready", True, "alice")
    assert body["results"][0]["metrics"] is None


def test_the_detail_has_metrics_calibration_most_confused_and_the_latest_training_job(user, user_api, dataset):
    parent = version_row(dataset, 1)
    version = version_row(
        dataset,
        2,
        parent=parent,
        metrics=METRICS,
        calibration=CALIBRATION,
        most_confused=[{"image_id": 7, "true": "robin", "predicted": "wren", "probability": 0.91}],
    )
    JobFactory(kind=Job.Kind.TRAIN, requested_by=user, dataset=dataset, model_version=version)
    latest = JobFactory(
        kind=Job.Kind.TRAIN,
        requested_by=user,
        dataset=dataset,
        model_version=version,
        status=Job.Status.FAILED,
        progress=0.4,
        error="no ImageNet weights for resnet50",
    )

    response = user_api.get(f"/api/v1/model-versions/{version.id}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["dataset"], body["number"], body["parent"]) == (version.id, dataset.id, 2, parent.id)
    assert (body["backbone"], body["image_size"], body["status"], body["is_active"]) == (
        "mobilenet_v2",
        224,
        "ready",
        False,
    )
    assert body["class_names"] == ["robin", "wren"]
    assert body["hyperparameters"]["epochs"] == 7
    assert body["metrics"] == METRICS
    assert body["calibration"] == {**CALIBRATION, "recalibrated": True, "answer_threshold": 0.5, "note": None}
    assert body["most_confused"] == [{"image_id": 7, "true": "robin", "predicted": "wren", "probability": 0.91}]
    assert (body["job"]["id"], body["job"]["status"], body["job"]["progress"], body["job"]["error"]) == (
        latest.id,
        "failed",
        0.4,
        "no ImageNet weights for resnet50",
    )


@pytest.mark.parametrize(
    "calibration",
    [
        # As the ImageNet installer first wrote it, which answered 500 (KeyError: 'ece_before').
        {"temperature": 1.0, "note": "published ImageNet weights, not recalibrated"},
        {"temperature": 1.0, "recalibrated": False, "answer_threshold": 0.25, "note": "not recalibrated"},
    ],
)
def test_a_version_without_calibration_figures_reads_with_nulls_and_its_note(user_api, dataset, calibration):
    version = version_row(dataset, calibration=calibration, metrics={})

    response = user_api.get(f"/api/v1/model-versions/{version.id}/")

    assert response.status_code == 200
    assert response.json()["calibration"] == {
        "recalibrated": False,
        "temperature": 1.0,
        "ece_before": None,
        "ece_after": None,
        "reliability_before": None,
        "reliability_after": None,
        "answer_threshold": calibration.get("answer_threshold", 0.5),
        "note": calibration["note"],
    }


def test_an_untrained_version_has_no_metrics_calibration_or_job_yet(user_api, dataset):
    version = version_row(dataset, status=Status.QUEUED)

    body = user_api.get(f"/api/v1/model-versions/{version.id}/").json()

    assert (body["metrics"], body["calibration"], body["job"], body["most_confused"]) == (None, None, None, [])


# Curves


def test_curves_come_from_the_latest_training_jobs_epochs(user, user_api, dataset):
    version = version_row(dataset)
    earlier = JobFactory(kind=Job.Kind.TRAIN, requested_by=user, dataset=dataset, model_version=version)
    EpochMetric.objects.create(job=earlier, epoch=1, phase="head", loss=9.0)
    latest = JobFactory(kind=Job.Kind.TRAIN, requested_by=user, dataset=dataset, model_version=version)
    head = {"epoch": 1, "phase": "head", "loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.7}
    fine_tune = {"epoch": 2, "phase": "fine_tune", "loss": 0.4, "accuracy": 0.9, "val_loss": 0.5, "val_accuracy": 0.85}
    EpochMetric.objects.create(job=latest, learning_rate=1e-4, seconds=0.5, **fine_tune)
    EpochMetric.objects.create(job=latest, learning_rate=1e-3, seconds=1.5, **head)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/curves/")

    assert response.status_code == 200
    assert response.json() == [
        {**head, "learning_rate": 1e-3, "seconds": 1.5},
        {**fine_tune, "learning_rate": 1e-4, "seconds": 0.5},
    ]


def test_a_version_without_a_training_job_has_no_curves(user_api, dataset):
    version = version_row(dataset, status=Status.QUEUED)

    assert user_api.get(f"/api/v1/model-versions/{version.id}/curves/").json() == []
