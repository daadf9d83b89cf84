"""Which TFLite model a version serves (float or int8) and the serving of each, with tiny real models."""

import pytest
from django.core.exceptions import ValidationError

from classifier.services.quantization import FLOAT, INT8, ServingChoice, version_model_file, version_serving_choice
from classifier.services.serving import version_predict, version_serving
from tests.factories import DatasetFactory, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def quantized_version(user, make_quantized_version):
    return lambda quantization=None: make_quantized_version(DatasetFactory(owner=user), quantization)


def test_an_int8_model_within_the_allowed_drop_serves(quantized_version, settings):
    settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP = 0.01
    version = quantized_version()

    choice = version_serving_choice(version=version)

    assert choice.model == INT8
    assert "int8 test accuracy 89.5%, float 90.0%" in choice.reason
    assert version_serving(version=version).model == INT8


def test_an_int8_model_losing_more_than_allowed_leaves_float_serving(quantized_version, settings):
    settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP = 0.01
    version = quantized_version({"accuracy": 0.9, "accuracy_int8": 0.88, "test_images": 200})

    choice = version_serving_choice(version=version)

    assert choice.model == FLOAT
    assert "more than the allowed 1.0% drop" in choice.reason
    settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP = 0.05
    assert version_serving_choice(version=version).model == INT8, "the setting applies at once"


def test_without_test_images_or_an_int8_file_float_serves_saying_why(quantized_version, make_ready_version, user):
    no_test_images = quantized_version({"accuracy": None, "accuracy_int8": None, "test_images": 0})
    failed = make_ready_version(DatasetFactory(owner=user), quantization={"error": "The int8 quantization failed"})
    older = make_ready_version(DatasetFactory(owner=user))

    assert version_serving_choice(version=no_test_images).model == FLOAT
    assert "No test images" in version_serving_choice(version=no_test_images).reason
    assert version_serving_choice(version=failed) == ServingChoice(FLOAT, "The int8 quantization failed")
    assert version_serving_choice(version=older).reason == "The version has no int8 model."


def test_a_forced_model_answers_and_int8_of_a_version_without_one_is_refused(quantized_version, make_ready_version):
    version = quantized_version({"accuracy": 0.9, "accuracy_int8": 0.5, "test_images": 200})
    red = image_bytes(color=(255, 0, 0), fmt="PNG")

    default = version_predict(version=version, image_bytes=red)
    forced = version_predict(version=version, image_bytes=red, quantized=True)

    assert (default["serving_model"], forced["serving_model"]) == (FLOAT, INT8)
    assert default["predictions"][0]["label"] == forced["predictions"][0]["label"] == "red"
    # Close, but not the same numbers: the int8 model's logits are rounded to its 8-bit steps.
    int8_probability, float_probability = (
        forced["predictions"][0]["probability"],
        default["predictions"][0]["probability"],
    )
    assert int8_probability != float_probability
    assert int8_probability == pytest.approx(float_probability, abs=0.02)
    assert version_model_file(version=version, quantized=False) == (version.tflite_file, FLOAT)
    without = make_ready_version(version.dataset, number=2)
    with pytest.raises(ValidationError) as refused:
        version_model_file(version=without, quantized=True)
    assert "has no int8 model" in refused.value.message_dict["quantized"][0]


def test_an_int8_model_that_answers_differently_on_the_training_images_leaves_float_serving(
    quantized_version, settings
):
    # A three-image test split scores both models 100%, yet int8 gave another answer on 1 in 10 of the
    # training images it was calibrated on: float serves.
    settings.SIGHTLINE_INT8_MIN_AGREEMENT = 0.98
    version = quantized_version(
        {
            "accuracy": 1.0,
            "accuracy_int8": 1.0,
            "test_images": 3,
            "calibration_images": 200,
            "calibration_agreement": 0.9,
        }
    )

    choice = version_serving_choice(version=version)

    assert choice.model == FLOAT
    assert choice.reason.startswith(
        "The float model serves: the int8 model gives the same answer on 90.0% of 200 training images, below "
        "the required 98%"
    )
    settings.SIGHTLINE_INT8_MIN_AGREEMENT = 0.9
    assert version_serving_choice(version=version).model == INT8, "the setting applies at once"
