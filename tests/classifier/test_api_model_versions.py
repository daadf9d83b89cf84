"""Model-versions API: start training, list and read versions, curves, promote and roll back, retrain,
delete, export, and who may do which.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.ml.config import TrainingConfig
from classifier.models import DatasetImage, ModelVersion
from classifier.services.storage import model_version_folder
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory, LabelClassFactory
from training_jobs import services
from training_jobs.models import EpochMetric, Job

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split
Status = ModelVersion.Status

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


def _add_class(dataset, name, splits=(Split.TRAIN, Split.VAL)):
    label = LabelClassFactory(dataset=dataset, name=name)
    for split in splits:
        DatasetImageFactory(dataset=dataset, label=label, split=split)
    return label


def _trainable_dataset(owner, classes=("robin", "wren"), name="Garden birds"):
    """Each class with one training and one validation image: the least a version can be trained on."""
    dataset = DatasetFactory(owner=owner, name=name)
    for class_name in classes:
        _add_class(dataset, class_name)
    return dataset


def _version(dataset, number=1, **fields):
    """A version row as training would leave it, without training anything."""
    values = {
        "backbone": "mobilenet_v2",
        "image_size": 224,
        "status": Status.READY,
        "class_names": ["robin", "wren"],
        "hyperparameters": TrainingConfig(image_size=224, epochs=7).to_dict(),
        "created_by": dataset.owner,
        **fields,
    }
    return ModelVersion.objects.create(dataset=dataset, number=number, **values)


def _start(client, dataset, data):
    return client.post(f"/api/v1/datasets/{dataset.id}/model-versions/", data, format="json")


@pytest.fixture
def dataset(user):
    return _trainable_dataset(user)


# Starting a version


def test_starting_a_version_queues_its_training_job(user, user_api, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _start(user_api, dataset, {"backbone": "efficientnet_lite0", "epochs": 3, "fine_tune_layers": 10})

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "number", "status", "job"}
    assert (body["number"], body["status"]) == (1, "queued")
    job = body["job"]
    assert (job["kind"], job["status"], job["model_version"], job["dataset"]) == (
        "train",
        "queued",
        body["id"],
        dataset.id,
    )
    version = ModelVersion.objects.get(id=body["id"])
    # The dataset's 32 px pictures are trained at 96 px by the Standard plan, not at 224.
    assert (version.status, version.backbone, version.image_size, version.created_by) == (
        Status.QUEUED,
        "efficientnet_lite0",
        96,
        user,
    )
    assert version.class_names == ["robin", "wren"]
    assert version.hyperparameters["epochs"] == 3
    assert version.hyperparameters["fine_tune_layers"] == 10
    assert version.hyperparameters["weights"] == "imagenet"
    assert Job.objects.get(model_version=version).status == Job.Status.QUEUED
    # The training task is sent once the request's transaction commits; it is not run in this test.
    assert len(callbacks) == 1


def test_class_names_are_frozen_in_order_when_the_version_starts(user, user_api):
    dataset = _trainable_dataset(user, classes=("wren", "blackbird", "robin"))

    version_id = _start(user_api, dataset, {"backbone": "efficientnet_lite0"}).json()["id"]
    _add_class(dataset, "sparrow")

    detail = user_api.get(f"/api/v1/model-versions/{version_id}/").json()
    assert detail["class_names"] == ["blackbird", "robin", "wren"]


def test_versions_are_numbered_per_dataset(user, user_api, dataset, settings):
    settings.SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = 0  # two trainings queued at once: no quota on them here
    other_dataset = _trainable_dataset(user, name="Pond birds")

    numbers = [_start(user_api, dataset, {"backbone": "efficientnet_lite0"}).json()["number"] for _ in range(2)]

    assert numbers == [1, 2]
    assert _start(user_api, other_dataset, {"backbone": "efficientnet_lite0"}).json()["number"] == 1


def test_a_version_can_start_from_random_weights(user_api, dataset):
    response = _start(user_api, dataset, {"backbone": "resnet50", "weights": "none", "image_size": 160})

    assert response.status_code == 202
    version = ModelVersion.objects.get(id=response.json()["id"])
    assert (version.backbone, version.image_size) == ("resnet50", 160)
    assert version.hyperparameters["weights"] is None


def test_a_dataset_with_fewer_than_two_classes_is_400(user, user_api):
    dataset = _trainable_dataset(user, classes=("robin",))

    response = _start(user_api, dataset, {"backbone": "efficientnet_lite0"})

    assert response.status_code == 400
    assert response.json() == {"dataset": ["Training needs at least 2 classes with images; this dataset has 1."]}
    assert not ModelVersion.objects.exists()
    assert not Job.objects.exists()


def test_a_class_without_validation_images_is_400_naming_it(user, user_api):
    dataset = _trainable_dataset(user, classes=("robin",))
    _add_class(dataset, "wren", splits=(Split.TRAIN, Split.TRAIN))

    response = _start(user_api, dataset, {"backbone": "efficientnet_lite0"})

    assert response.status_code == 400
    assert response.json() == {
        "dataset": [
            'Every class needs training and validation images: "wren" has no validation images '
            "(2 train, 0 validation). Reassign the splits, or add images"
        ]
    }
    assert not ModelVersion.objects.exists()


def test_a_one_image_class_is_400_saying_to_add_pictures_or_delete_it(user, user_api):
    dataset = _trainable_dataset(user, classes=("robin",))
    _add_class(dataset, "robbin", splits=(Split.TRAIN,))

    response = _start(user_api, dataset, {})

    assert response.status_code == 400
    message = response.json()["dataset"][0]
    assert '"robbin" has only 1 image' in message
    assert "Add more pictures of it, or delete the class" in message
    assert not ModelVersion.objects.exists()


def test_an_unknown_backbone_is_400_listing_the_valid_ones(user_api, dataset):
    response = _start(user_api, dataset, {"backbone": "alexnet"})

    assert response.status_code == 400
    [message] = response.json()["backbone"]
    assert message.startswith("unknown backbone 'alexnet'; choose one of: mobilenet_v2, ")
    assert "efficientnet_lite0" in message
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        ({"epochs": 0}, {"epochs": ["epochs must be at least 1, got 0"]}),
        ({"learning_rate": 2}, {"learning_rate": ["learning_rate must be at most 1.0, got 2.0"]}),
        ({"image_size": 8}, {"image_size": ["image_size must be at least 32, got 8"]}),
        ({"epochs": "many"}, {"epochs": ["A valid integer is required."]}),
        ({"weights": "maybe"}, {"weights": ['"maybe" is not a valid choice.']}),
    ],
)
def test_bad_hyperparameters_are_400_naming_the_field(user_api, dataset, options, errors):
    response = _start(user_api, dataset, {"backbone": "efficientnet_lite0", **options})

    assert response.status_code == 400
    assert response.json() == errors
    assert not ModelVersion.objects.exists()


def test_an_empty_request_trains_with_the_standard_plan_on_a_backbone_whose_weights_are_here(user_api, dataset):
    response = _start(user_api, dataset, {})

    assert response.status_code == 202
    version = ModelVersion.objects.get(id=response.json()["id"])
    assert (version.backbone, version.hyperparameters["weights"]) == ("efficientnet_lite0", "imagenet")
    detail = user_api.get(f"/api/v1/model-versions/{version.id}/").json()
    assert detail["plan"]["budget_minutes"] == 10
    assert detail["plan"]["chosen"]["image_size"] == 96 and detail["plan"]["reasons"]
    assert detail["eta_seconds"] == 600


def test_a_backbone_without_weights_here_is_refused_naming_the_file_and_the_ones_that_work(
    user_api, dataset, settings, tmp_path
):
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "weights"

    response = _start(user_api, dataset, {"backbone": "resnet50"})

    assert response.status_code == 400
    message = response.json()["backbone"][0]
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "weights") in message
    assert "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2" in message
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("budget", [0, -1, "soon", 100000, True])
def test_a_budget_out_of_range_is_refused_naming_the_range(user_api, dataset, budget):
    response = _start(user_api, dataset, {"budget_minutes": budget})

    assert response.status_code == 400
    assert "budget_minutes must be a number of minutes above 0 and at most 240" in response.json()["budget_minutes"][0]
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(("budget", "minutes"), [("quick", 2), ("best", 60), (25, 25), ("7.5", 7.5)])
def test_a_budget_is_a_preset_or_minutes(user_api, dataset, budget, minutes):
    response = _start(user_api, dataset, {"budget_minutes": budget})

    assert response.status_code == 202, response.json()
    assert ModelVersion.objects.get().plan["budget_minutes"] == minutes


def test_training_options_are_taken_as_json_only(user_api, dataset):
    # A form would send an unticked "augment" as false; JSON keeps "not given" apart from false.
    response = user_api.post(f"/api/v1/datasets/{dataset.id}/model-versions/", {"backbone": "efficientnet_lite0"})

    assert response.status_code == 415


# Listing and reading


def test_the_list_shows_the_datasets_versions_newest_first_with_a_metrics_summary(user, user_api, dataset):
    trained = _version(dataset, 1, metrics=METRICS, is_active=True)
    queued = _version(dataset, 2, status=Status.QUEUED)
    _version(_trainable_dataset(user, name="Pond birds"), 1)

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
    parent = _version(dataset, 1)
    version = _version(
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
    version = _version(dataset, calibration=calibration, metrics={})

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
    version = _version(dataset, status=Status.QUEUED)

    body = user_api.get(f"/api/v1/model-versions/{version.id}/").json()

    assert (body["metrics"], body["calibration"], body["job"], body["most_confused"]) == (None, None, None, [])


# Ownership

VERSION_ROUTES = [
    ("get", "/api/v1/model-versions/{id}/"),
    ("delete", "/api/v1/model-versions/{id}/"),
    ("get", "/api/v1/model-versions/{id}/curves/"),
    ("post", "/api/v1/model-versions/{id}/promote/"),
    ("get", "/api/v1/model-versions/{id}/export/?format=keras"),
]


@pytest.mark.parametrize(("method", "route"), VERSION_ROUTES)
def test_another_users_version_is_404(other_api, dataset, method, route):
    version = _version(dataset)

    response = getattr(other_api, method)(route.format(id=version.id))

    assert response.status_code == 404
    assert ModelVersion.objects.filter(id=version.id).exists()


@pytest.mark.parametrize(("method", "route"), [*VERSION_ROUTES, ("post", "/api/v1/model-versions/{id}/retrain/")])
def test_anonymous_requests_are_401(api_client, dataset, method, route):
    version = _version(dataset)

    assert getattr(api_client, method)(route.format(id=version.id)).status_code == 401


def test_another_users_dataset_versions_are_404(other_api, dataset):
    _version(dataset)

    assert other_api.get(f"/api/v1/datasets/{dataset.id}/model-versions/").status_code == 404
    assert _start(other_api, dataset, {"backbone": "efficientnet_lite0"}).status_code == 404
    assert ModelVersion.objects.count() == 1


def test_staff_can_read_and_start_anyones_versions(staff_api, dataset):
    version = _version(dataset)

    assert staff_api.get(f"/api/v1/model-versions/{version.id}/").status_code == 200
    assert staff_api.get(f"/api/v1/datasets/{dataset.id}/model-versions/").json()["count"] == 1
    assert _start(staff_api, dataset, {"backbone": "efficientnet_lite0"}).status_code == 202


def test_a_public_versions_job_internals_are_for_its_owner_and_staff_only(
    user, user_api, other_api, staff_api, dataset
):
    dataset.is_public = True
    dataset.save(update_fields=["is_public"])
    version = _version(dataset)
    JobFactory(
        kind=Job.Kind.TRAIN,
        requested_by=user,
        dataset=dataset,
        model_version=version,
        status=Job.Status.FAILED,
        error="Traceback: /srv/sightline/weights missing",
        report={"epochs": 3},
    )

    reader = other_api.get(f"/api/v1/model-versions/{version.id}/")

    assert reader.status_code == 200
    assert (reader.json()["id"], reader.json()["job"]) == (version.id, None)
    assert "/srv/sightline" not in reader.content.decode()
    for owner_or_staff in (user_api, staff_api):
        job = owner_or_staff.get(f"/api/v1/model-versions/{version.id}/").json()["job"]
        assert (job["error"], job["report"]) == ("Traceback: /srv/sightline/weights missing", {"epochs": 3})


# Curves


def test_curves_come_from_the_latest_training_jobs_epochs(user, user_api, dataset):
    version = _version(dataset)
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
    version = _version(dataset, status=Status.QUEUED)

    assert user_api.get(f"/api/v1/model-versions/{version.id}/curves/").json() == []


# Promote and roll back


def _promote(client, version):
    return client.post(f"/api/v1/model-versions/{version.id}/promote/")


def _active_numbers(dataset):
    return list(ModelVersion.objects.filter(dataset=dataset, is_active=True).values_list("number", flat=True))


def test_promoting_a_version_makes_it_the_only_active_one_and_promoting_back_rolls_back(user_api, dataset):
    first = _version(dataset, 1, is_active=True)
    second = _version(dataset, 2)

    response = _promote(user_api, second)

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["is_active"]) == (second.id, True)
    assert _active_numbers(dataset) == [2]

    rollback = _promote(user_api, first)

    assert rollback.status_code == 200
    assert rollback.json()["is_active"] is True
    assert _active_numbers(dataset) == [1]


def test_a_version_that_is_not_ready_cannot_be_promoted(user_api, dataset):
    _version(dataset, 1, is_active=True)
    training = _version(dataset, 2, status=Status.TRAINING)

    response = _promote(user_api, training)

    assert response.status_code == 400
    assert response.json() == {"status": ["Only a ready version can be promoted; this one is training."]}
    assert _active_numbers(dataset) == [1]


# Retrain


def test_retraining_is_staff_only_even_for_the_owner(user_api, dataset):
    version = _version(dataset)

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
    version = _version(dataset, backbone="resnet50", image_size=200, hyperparameters=settings.to_dict())
    _add_class(dataset, "sparrow")

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


# Delete


def _store(name, content=b"model bytes"):
    return default_storage.save(name, ContentFile(content))


def test_deleting_a_version_removes_it_and_its_stored_files(user_api, dataset, django_capture_on_commit_callbacks):
    _version(dataset, 1, is_active=True)
    version = _version(dataset, 2)
    folder = model_version_folder(dataset_id=dataset.id, number=2, version_id=version.id)
    names = [_store(f"{folder}/{name}") for name in ("model.keras", "model.tflite", "metadata.json", "unknown.npz")]
    ModelVersion.objects.filter(id=version.id).update(keras_file=names[0], tflite_file=names[1])
    kept = _store(f"models/{dataset.id}/v1-{version.id - 1}/model.keras")

    with django_capture_on_commit_callbacks(execute=True):
        response = user_api.delete(f"/api/v1/model-versions/{version.id}/")

    assert response.status_code == 204
    assert not ModelVersion.objects.filter(id=version.id).exists()
    assert not any(default_storage.exists(name) for name in names)
    assert default_storage.exists(kept), "another version's files stay"


def test_the_active_version_cannot_be_deleted(user_api, dataset):
    active = _version(dataset, is_active=True)

    response = user_api.delete(f"/api/v1/model-versions/{active.id}/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Version 1 is the dataset's active version; promote another one before deleting it."
    }
    assert ModelVersion.objects.filter(id=active.id).exists()


def test_deleting_a_version_still_training_cancels_its_job_first(
    user_api, dataset, django_capture_on_commit_callbacks, monkeypatch
):
    training = _version(dataset, status=Status.TRAINING)
    folder = model_version_folder(dataset_id=dataset.id, number=1, version_id=training.id)
    checkpoint = _store(f"{folder}/checkpoints/checkpoint-000001.npz")
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


# Export


@pytest.mark.parametrize(
    ("file_format", "field", "extension"),
    [
        ("keras", "keras_file", "keras"),
        ("tflite", "tflite_file", "tflite"),
        ("tflite_int8", "tflite_int8_file", "int8.tflite"),
        ("savedmodel", "savedmodel_file", "savedmodel.zip"),
    ],
)
def test_export_streams_the_stored_file_as_an_attachment(user_api, dataset, file_format, field, extension):
    content = f"{file_format} model bytes".encode()
    version = _version(dataset, 3, **{field: _store(f"models/{dataset.id}/v3/model.{extension}", content)})

    # Clients that ask for a binary body must get the file, not a 406.
    response = user_api.get(
        f"/api/v1/model-versions/{version.id}/export/",
        {"format": file_format},
        HTTP_ACCEPT="application/octet-stream",
    )

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="garden-birds-v3.{extension}"'


def test_export_in_a_format_that_is_not_available_is_400_naming_the_available_ones(user_api, dataset):
    version = _version(dataset)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "onnx"})

    assert response.status_code == 400
    assert response.json() == {
        "format": ['"onnx" cannot be exported; choose keras, tflite, tflite_int8 or savedmodel.']
    }


def test_int8_export_of_a_version_without_an_int8_model_is_400_saying_why(user_api, dataset):
    reason = "The int8 quantization failed, so the float model serves: no int8 kernel for op X"
    tflite = _store(f"models/{dataset.id}/v1/model.tflite")
    version = _version(dataset, tflite_file=tflite, quantization={"error": reason})

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "tflite_int8"})

    assert response.status_code == 400
    assert response.json() == {"format": [f"Version 1 has no int8 model: {reason}"]}


def test_a_version_trained_before_savedmodel_export_answers_404_saying_so(user_api, dataset):
    version = _version(dataset, keras_file=_store(f"models/{dataset.id}/v1/model.keras", b"k"))

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "savedmodel"})

    assert response.status_code == 404
    assert response.json() == {"detail": "The savedmodel file of version 1 is not stored."}


def test_export_needs_a_format(user_api, dataset):
    version = _version(dataset)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/")

    assert response.status_code == 400
    assert response.json() == {"format": ["This field is required."]}


def test_a_version_that_is_not_ready_cannot_be_exported(user_api, dataset):
    version = _version(dataset, status=Status.TRAINING)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "keras"})

    assert response.status_code == 409
    assert response.json() == {"detail": "Version 1 is training; only a ready version can be exported."}


def test_a_model_file_missing_from_storage_is_404(user_api, dataset):
    version = _version(dataset, keras_file=f"models/{dataset.id}/v1/model.keras")

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "keras"})

    assert response.status_code == 404
    assert response.json() == {"detail": "The keras file of version 1 is not stored."}
