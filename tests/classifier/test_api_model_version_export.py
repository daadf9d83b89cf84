"""Model-versions API: exporting a version's stored model files, and the refusals that name why.

Training itself never runs here: a started version's task is only queued (its on-commit callback is
captured, not executed), and ready versions are made directly as rows with stored files.
"""

import pytest

from tests.classifier.model_version_support import Status, store_file, trainable_dataset, version_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return trainable_dataset(user)


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
    version = version_row(dataset, 3, **{field: store_file(f"models/{dataset.id}/v3/model.{extension}", content)})

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
    version = version_row(dataset)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "onnx"})

    assert response.status_code == 400
    assert response.json() == {
        "format": ['"onnx" cannot be exported; choose keras, tflite, tflite_int8 or savedmodel.']
    }


def test_int8_export_of_a_version_without_an_int8_model_is_400_saying_why(user_api, dataset):
    reason = "The int8 quantization failed, so the float model serves: no int8 kernel for op X"
    tflite = store_file(f"models/{dataset.id}/v1/model.tflite")
    version = version_row(dataset, tflite_file=tflite, quantization={"error": reason})

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "tflite_int8"})

    assert response.status_code == 400
    assert response.json() == {"format": [f"Version 1 has no int8 model: {reason}"]}


def test_a_version_trained_before_savedmodel_export_answers_404_saying_so(user_api, dataset):
    version = version_row(dataset, keras_file=store_file(f"models/{dataset.id}/v1/model.keras", b"k"))

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "savedmodel"})

    assert response.status_code == 404
    assert response.json() == {"detail": "The savedmodel file of version 1 is not stored."}


def test_export_needs_a_format(user_api, dataset):
    version = version_row(dataset)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/")

    assert response.status_code == 400
    assert response.json() == {"format": ["This field is required."]}


def test_a_version_that_is_not_ready_cannot_be_exported(user_api, dataset):
    version = version_row(dataset, status=Status.TRAINING)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "keras"})

    assert response.status_code == 409
    assert response.json() == {"detail": "Version 1 is training; only a ready version can be exported."}


def test_a_model_file_missing_from_storage_is_404(user_api, dataset):
    version = version_row(dataset, keras_file=f"models/{dataset.id}/v1/model.keras")

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "keras"})

    assert response.status_code == 404
    assert response.json() == {"detail": "The keras file of version 1 is not stored."}
