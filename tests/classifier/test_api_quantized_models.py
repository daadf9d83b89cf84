"""Int8 models through the API and the version page: which model serves, both accuracies, the int8
download, and `quantized=` on predict. Tiny real TFLite colour models (see conftest)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from classifier.models import Prediction
from tests.factories import image_bytes

pytestmark = pytest.mark.django_db

RED = (255, 0, 0)


def _predict(client, version, query=""):
    upload = SimpleUploadedFile("red.png", image_bytes(color=RED, fmt="PNG"), content_type="image/png")
    return client.post(f"/api/v1/model-versions/{version.id}/predict/{query}", {"image": upload}, format="multipart")


def test_the_detail_says_which_model_serves_and_both_accuracies(user_api, dataset, make_quantized_version, settings):
    settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP = 0.01
    version = make_quantized_version(
        dataset, metrics={"accuracy": 0.9, "accuracy_int8": 0.895, "per_class": {}, "confusion_matrix": []}
    )

    body = user_api.get(f"/api/v1/model-versions/{version.id}/").json()

    assert body["serving_model"] == "int8"
    assert (body["metrics"]["accuracy"], body["metrics"]["accuracy_int8"]) == (0.9, 0.895)
    assert body["quantization"] == {"accuracy": 0.9, "accuracy_int8": 0.895, "test_images": 200}
    assert "within the allowed 1.0% drop" in body["serving_reason"]
    settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP = 0.001
    assert user_api.get(f"/api/v1/model-versions/{version.id}/").json()["serving_model"] == "float"


def test_the_int8_file_downloads(user_api, dataset, make_quantized_version, colour_int8_model):
    version = make_quantized_version(dataset)

    response = user_api.get(f"/api/v1/model-versions/{version.id}/export/", {"format": "tflite_int8"})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == colour_int8_model
    assert response["Content-Disposition"] == 'attachment; filename="colours-v1.int8.tflite"'


@pytest.mark.parametrize(("query", "model"), [("", "int8"), ("?quantized=true", "int8"), ("?quantized=false", "float")])
def test_predict_answers_with_the_serving_model_or_the_one_asked_for(
    user_api, dataset, make_quantized_version, make_ready_version, query, model
):
    version = make_quantized_version(dataset)
    # The reference: the same colour model, float only.
    plain = make_ready_version(dataset, number=2)
    float_probability = _predict(user_api, plain).json()["predictions"][0]["probability"]

    response = _predict(user_api, version, query)

    assert response.status_code == 200, response.json()
    probability = response.json()["predictions"][0]["probability"]
    assert response.json()["predictions"][0]["label"] == "red"
    # The int8 model's rounded logits give close but different probabilities.
    assert (probability == float_probability) is (model == "float")
    assert Prediction.objects.get(id=response.json()["prediction_id"]).results[0]["probability"] == probability


def test_predict_forcing_int8_on_a_version_without_one_is_400_and_stores_nothing(user_api, dataset, make_ready_version):
    version = make_ready_version(dataset, quantization={"error": "The int8 quantization failed: no kernel"})

    response = _predict(user_api, version, "?quantized=true")

    assert response.status_code == 400
    assert response.json() == {
        "quantized": ["Version 1 of Colours has no int8 model: The int8 quantization failed: no kernel"]
    }
    assert not Prediction.objects.exists()


def test_predict_with_a_quantized_value_that_is_no_boolean_is_400(user_api, dataset, make_quantized_version):
    version = make_quantized_version(dataset)

    response = _predict(user_api, version, "?quantized=maybe")

    assert response.status_code == 400
    assert "quantized" in response.json()
    assert not Prediction.objects.exists()


def test_the_version_page_shows_the_serving_model_both_accuracies_and_the_int8_download(
    user_client, dataset, make_quantized_version
):
    version = make_quantized_version(dataset)

    page = user_client.get(reverse("classifier:model-version-detail", args=[version.pk])).content.decode()

    assert 'id="version-serving-model"' in page and ">int8</dd>" in page
    assert "90.0% / 89.5%" in page
    assert "?format=tflite_int8" in page
    assert "The int8 model serves" in page
