"""Serving one image now (``version_predict``): calibrated top-k answers, unknown images, centre crops,
the per-process model cache, and a web tier that never loads TensorFlow.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from classifier.ml.images import CENTER_CROP
from classifier.models import ModelVersion
from classifier.services.predictions import prediction_answer, prediction_create
from classifier.services.serving import VersionNotServable, version_predict, version_serving
from tests.classifier.prediction_support import BLUE, GREEN, GREY, RED, labels_of, png
from tests.models import OTHER_CLASSES, PRIMARY_CLASSES

pytestmark = pytest.mark.django_db


# One image, now


def test_prediction_is_calibrated_sorted_and_cut_to_top_k(version):
    everything = version_predict(version=version, image_bytes=png(RED), top_k=3)
    top_two = version_predict(version=version, image_bytes=png(RED), top_k=2)

    probabilities = [row["probability"] for row in everything["predictions"]]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert probabilities == sorted(probabilities, reverse=True)
    assert labels_of(everything["predictions"])[0] == "red"
    assert top_two["predictions"] == everything["predictions"][:2]
    assert everything["latency_ms"] > 0


def test_top_k_defaults_to_five_capped_at_the_class_count(version):
    assert len(version_predict(version=version, image_bytes=png(BLUE))["predictions"]) == 3


@pytest.mark.parametrize("top_k", [0, 4, -1])
def test_top_k_outside_the_classes_is_refused(version, top_k):
    with pytest.raises(ValidationError) as caught:
        version_predict(version=version, image_bytes=png(RED), top_k=top_k)
    assert "between 1 and 3" in caught.value.message_dict["top_k"][0]


def test_an_image_unlike_the_training_images_is_unknown(version):
    known = version_predict(version=version, image_bytes=png(GREEN))
    unknown = version_predict(version=version, image_bytes=png(GREY))

    assert known["is_unknown"] is False
    assert unknown["is_unknown"] is True
    assert unknown["unknown_score"] > known["unknown_score"]


def test_a_version_without_a_detector_never_says_unknown(dataset, make_ready_version):
    version = make_ready_version(dataset, detector=False)

    result = version_predict(version=version, image_bytes=png(GREY))

    assert (result["is_unknown"], result["unknown_score"]) == (False, None)


def _red_between_blue(width=64, height=32) -> bytes:
    """Blue sides a quarter wide each, red between: stretched, as much blue as red; centre-cropped, red."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, :, 2] = 255
    pixels[:, width // 4 : width - width // 4] = RED
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_version_that_says_so_is_served_the_centre_of_the_photo(dataset, make_ready_version):
    # The ready ImageNet models are served as their weights were evaluated; trained versions stretch.
    cropped = make_ready_version(dataset, detector=False, hyperparameters={"input": {"resize": CENTER_CROP}})
    stretched = make_ready_version(dataset, 2, detector=False)

    centre = version_predict(version=cropped, image_bytes=_red_between_blue())["predictions"]
    whole = version_predict(version=stretched, image_bytes=_red_between_blue())["predictions"]

    assert centre[0]["label"] == "red" and centre[0]["probability"] > 0.95
    assert {row["label"] for row in whole[:2]} == {"red", "blue"} and whole[0]["probability"] < 0.55


# Greyish red: the colour models give red about 44%, so a 50% threshold is unsure and 25% is not.
DULL_RED = (120, 110, 100)


def test_a_prediction_without_a_threshold_uses_the_versions_own(user, dataset, make_ready_version):
    version = make_ready_version(
        dataset, detector=False, calibration={"temperature": 1.0, "recalibrated": False, "answer_threshold": 0.25}
    )

    default = prediction_create(owner=user, model_version=version, image_bytes=png(DULL_RED), filename="a.png")
    asked = prediction_create(
        owner=user, model_version=version, image_bytes=png(DULL_RED), filename="b.png", threshold=0.5
    )

    assert 0.25 < default.results[0]["probability"] < 0.5
    assert (default.details["threshold"], asked.details["threshold"]) == (0.25, 0.5)
    assert prediction_answer(default.results, is_unknown=False, threshold=default.details["threshold"])["kind"] == (
        "confident"
    )
    assert prediction_answer(asked.results, is_unknown=False, threshold=asked.details["threshold"])["kind"] == (
        "uncertain"
    )


@pytest.mark.parametrize(
    "status", [ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING, ModelVersion.Status.FAILED]
)
def test_a_version_that_is_not_ready_cannot_predict(dataset, make_ready_version, status):
    version = make_ready_version(dataset, status=status)

    with pytest.raises(VersionNotServable, match="not ready"):
        version_predict(version=version, image_bytes=png(RED))


def test_a_version_is_loaded_once_per_process(version):
    first = version_serving(version=version)
    again = version_serving(version=ModelVersion.objects.get(id=version.id))

    assert again.predictor is first.predictor
    assert again.detector is first.detector


def test_a_new_model_file_is_served_instead_of_the_cached_one(version, make_ready_version, dataset):
    assert labels_of(version_predict(version=version, image_bytes=png(RED))["predictions"])[0] == "red"
    replacement = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    # The same version row now points at another model file (re-exported, say): it must be reloaded.
    version.tflite_file = replacement.tflite_file.name
    version.class_names = list(OTHER_CLASSES)
    result = version_predict(version=version, image_bytes=png(BLUE), top_k=3)

    assert set(labels_of(result["predictions"])) == set(OTHER_CLASSES)
    assert result["predictions"][0] == {"label": "blue", "probability": pytest.approx(0.995, abs=0.01)}


# The web tier stays free of TensorFlow


def test_the_prediction_code_path_does_not_import_tensorflow(settings):
    code = (
        "import sys, django; django.setup();"
        "import classifier.services.serving, classifier.services.predictions, classifier.api.prediction_views;"
        "import webapp.urls;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "heavy = sorted(name for name in ('tensorflow', 'keras') if name in sys.modules);"
        "print(','.join(heavy) or 'clean')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "SIGHTLINE_DEV": "1"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_serving_a_prediction_loads_no_tensorflow_in_a_fresh_process(settings, tmp_path, colour_models):
    """Not only imports: loading a TFLite model and predicting uses LiteRT alone."""
    model = tmp_path / "model.tflite"
    model.write_bytes(colour_models[PRIMARY_CLASSES])
    image = tmp_path / "red.png"
    image.write_bytes(png(RED))
    code = (
        "import sys;"
        "from classifier.ml.predictor import TFLitePredictor, prepare_image;"
        f"predictor = TFLitePredictor(open({str(model)!r}, 'rb').read());"
        f"predictor.predict(prepare_image(open({str(image)!r}, 'rb').read(), predictor.input_size));"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=settings.BASE_DIR
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
