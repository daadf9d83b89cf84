"""Model-versions API: promote and roll back, retrain (staff only), and delete.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest
from django.core.files.storage import default_storage

from classifier.ml.config import TrainingConfig
from classifier.models import ModelVersion
from classifier.services.storage import model_version_folder
from tests.classifier.model_version_support import Status, add_class, store_file, trainable_dataset, version_row
from tests.factories import JobFactory
from training_jobs import services
from training_jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


# Promote and roll back


def _promote(client, version):
    return client.post(f"/api/v1/model-versions/{version.id}/promote/")


def _active_numbers(dataset):
    return list(ModelVersion.objects.filter(dataset=dataset, is_active=True).values_list("number", flat=True))


def test_promoting_a_version_makes_it_the_only_active_one_and_promoting_back_rolls_back(user_api, dataset):
    first = version_row(dataset, 1, is_active=True)
    second = version_row(dataset, 2)

    response = _promote(user_api, second)

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["is_active"]) == (second.id, True)
    assert _active_numbers(dataset) == [2]

    rollback = _promote(user_api, first)

    assert rollback.status_code == 200
    assert rollback.json()["is_active"] is True
    assert _active_numbers(dataset) == [1]


def test_a_version_that_is_not_ready_cannot_be_promoted(user_api, dataset):
    version_row(dataset, 1, is_active=True)
    training = version_row(dataset, 2, status=Status.TRAINING)

    response = _promote(user_api, training)

    assert response.status_code == 400
    assert response.json() == {"status": ["Only a ready version can be promoted; this one is training."]}
    assert _active_numbers(dataset) == [1]


# Retrain


def test_retraining_is_staff_only_even_for_the_owner(user_api, dataset):
    version = version_row(dataset)

    response = user_api.post(f"/api/v1/model-versions/{version.id}/retrain/")

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only staff can retrain a model version; start a new version on the dataset instead."
    }
    assert ModelVersion.objects.count() == 1


def test_staff_retrain_a_version_with_its_settings_on_the_dataset_as_it_is_now(
    staff_user, staff_api, dataset, django_capture_on_commit_callbacks
):
    settings = TrainingConfig(backbone="resnet50", image_size=200, epochs=7, augment=False, weights=None)
    version = version_row(dataset, backbone="resnet50", image_size=200, hyperparameters=settings.to_dict())
    add_class(dataset, "sparrow")

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_api.post(f"/api/v1/model-versions/{version.id}/retrain/")

    assert response.status_code == 202
    body = response.json()
    assert (body["number"], body["status"], body["job"]["kind"], body["job"]["status"]) == (
        2,
        "queued",
        "train",
        "queued",
    )
    retrained = ModelVersion.objects.get(id=body["id"])
    assert (retrained.parent, retrained.backbone, retrained.image_size) == (version, "resnet50", 200)
    assert retrained.created_by == staff_user
    # A version from before plans: every option it was trained with is repeated.
    for name in ("backbone", "image_size", "epochs", "augment", "weights", "batch_size", "learning_rate"):
        assert retrained.hyperparameters[name] == version.hyperparameters[name], name
    assert retrained.class_names == ["robin", "sparrow", "wren"]
    assert len(callbacks) == 1


def test_deleting_a_version_removes_it_and_its_stored_files(user_api, dataset, django_capture_on_commit_callbacks):
    version_row(dataset, 1, is_active=True)
    version = version_row(dataset, 2)
    folder = model_version_folder(dataset_id=dataset.id, number=2, version_id=version.id)
    names = [store_file(f"{folder}/{name}") for name in ("model.keras", "model.tflite", "metadata.json", "unknown.npz")]
    ModelVersion.objects.filter(id=version.id).update(keras_file=names[0], tflite_file=names[1])
    kept = store_file(f"models/{dataset.id}/v1-{version.id - 1}/model.keras")

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.delete(f"/api/v1/model-versions/{version.id}/")

    assert response.status_code == 204
    assert not ModelVersion.objects.filter(id=version.id).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert default_storage.exists(kept), "another version's files stay"


def test_the_active_version_cannot_be_deleted(user_api, dataset):
    active = version_row(dataset, is_active=True)

    response = user_api.delete(f"/api/v1/model-versions/{active.id}/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Version 1 is the dataset's active version; promote another one before deleting it."
    }
    assert ModelVersion.objects.filter(id=active.id).exists()


def test_deleting_a_version_still_training_cancels_its_job_first(
    user_api, dataset, django_capture_on_commit_callbacks, monkeypatch
):
    training = version_row(dataset, status=Status.TRAINING)
    folder = model_version_folder(dataset_id=dataset.id, number=1, version_id=training.id)
    checkpoint = store_file(f"{folder}/checkpoints/checkpoint-000001.npz")
    job = JobFactory(
        kind=Job.Kind.TRAIN,
        dataset=dataset,
        model_version=training,
        requested_by=dataset.owner,
        status=Job.Status.RUNNING,
        attempts=1,
        params={"folder": folder},
    )
    cancelled = []
    real_cancel = services.job_cancel
    # The job row goes with the version, so its cancel is seen on the way.
    monkeypatch.setattr(services, "job_cancel", lambda job: cancelled.append(job.id) or real_cancel(job=job))
    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.delete(f"/api/v1/model-versions/{training.id}/")

    assert response.status_code == 204
    assert cancelled == [job.id]
    assert not ModelVersion.objects.filter(id=training.id).exists()
    assert not Job.objects.filter(id=job.id).exists()
    assert not default_storage.exists(checkpoint)
