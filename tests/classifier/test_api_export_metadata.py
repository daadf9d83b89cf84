"""The export metadata API and the version page's exports section: what a client needs to feed a
version's exported files (docs/exports.md).

tests/classifier/test_export_agreement.py runs the files with it; these check what it says without
training anything.
"""

import html

import pytest
from django.urls import reverse

from classifier.models import ModelVersion
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def _version(dataset, **fields) -> ModelVersion:
    values = {
        "number": 1,
        "backbone": "mobilenet_v2",
        "image_size": 96,
        "status": ModelVersion.Status.READY,
        "class_names": ["wren", "robin"],
        "keras_file": "models/1/model.keras",
        "tflite_file": "models/1/model.tflite",
        "calibration": {"temperature": 1.7, "ece_before": 0.1, "ece_after": 0.02},
        "created_by": dataset.owner,
        **fields,
    }
    return ModelVersion.objects.create(dataset=dataset, **values)


def test_a_trained_version_is_fed_stretched_rgb_and_answers_calibrated_probabilities(user_api, user):
    version = _version(DatasetFactory(owner=user))

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/metadata/")

    assert response.status_code == 200
    assert response.json() == {
        "model_version": version.id,
        "backbone": "mobilenet_v2",
        "class_names": ["wren", "robin"],
        "image_size": 96,
        "input": {
            "shape": [None, 96, 96, 3],
            "dtype": "float32",
            "color": "RGB",
            "range": [0, 255],
            "resize": "bilinear-stretch",
        },
        # Only the files the version has: this one was trained before SavedModel and int8 exports.
        "outputs": {"keras": ["probabilities"], "tflite": ["probabilities", "embeddings"]},
        "serving_model": "float",
        "calibrated": True,
        "temperature": 1.7,
        "temperature_applied": True,
    }


def test_a_ready_imagenet_model_is_fed_a_centre_crop_and_is_not_recalibrated(user_api, user):
    public = DatasetFactory(owner=user, is_public=True)
    version = _version(
        public,
        backbone="efficientnet_lite0",
        image_size=224,
        hyperparameters={"input": {"color": "RGB", "range": [0, 255], "resize": "bicubic-center-crop"}},
        calibration={"temperature": 1.0, "recalibrated": False},
    )

    metadata = user_api.get(f"/api/v1/model-versions/{version.id}/export/metadata/").json()

    assert metadata["input"]["resize"] == "bicubic-center-crop"
    assert metadata["input"]["crop_fraction"] == 0.875
    assert metadata["calibrated"] is False


def test_metadata_of_a_version_not_ready_is_409_and_of_another_users_is_404(user_api, user, other_user):
    training = _version(DatasetFactory(owner=user), status=ModelVersion.Status.TRAINING)
    private = _version(DatasetFactory(owner=other_user))

    assert user_api.get(f"/api/v1/model-versions/{training.id}/export/metadata/").status_code == 409
    assert user_api.get(f"/api/v1/model-versions/{private.id}/export/metadata/").status_code == 404


# The version page says the same beside its download links


def test_the_version_page_says_how_to_feed_each_export(user_client, user):
    version = _version(DatasetFactory(owner=user, name="Garden birds"), savedmodel_file="models/1/savedmodel.zip")

    text = html.unescape(user_client.get(reverse("classifier:model-version-detail", args=[version.pk])).text)

    assert 'id="version-exports"' in text
    assert "shape (1, 96, 96, 3), RGB values 0–255" in text
    assert "stretched whole to 96 × 96 px with Pillow's bilinear filter" in text
    assert "already calibrated: do not apply the temperature again" in text
    assert f'href="/api/v1/model-versions/{version.pk}/export/?format=savedmodel"' in text
    assert 'signatures["serve"](image=x)["output_0"]' in text
    assert "?format=tflite_int8" not in text, "no link to a file the version does not have"
    assert f'href="/api/v1/model-versions/{version.pk}/export/metadata/"' in text
    assert 'download="garden-birds-v1.metadata.json"' in text
    assert "docs/exports.md" in text


def test_a_version_not_ready_has_no_export_section(user_client, user):
    version = _version(DatasetFactory(owner=user), status=ModelVersion.Status.TRAINING)

    assert (
        'id="version-exports"'
        not in user_client.get(reverse("classifier:model-version-detail", args=[version.pk])).text
    )
