"""Int8 models beside the float ones: making them on the worker, scoring them, and choosing which one serves.

A version serves its int8 TFLite file when it has one, its int8 test accuracy is within
``SIGHTLINE_INT8_MAX_ACCURACY_DROP`` of the float model's on the same test images, and the two agree on
at least ``SIGHTLINE_INT8_MIN_AGREEMENT`` of the training images compared while calibrating; otherwise the float
file serves and ``version_serving_choice`` says why. The choice is derived on every read from the
version's ``quantization`` record and the setting, so changing the setting applies at once.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db.models.fields.files import FieldFile

from classifier.ml.images import STRETCH, InvalidImage, load_array
from classifier.ml.predictor import TFLitePredictor
from classifier.ml.quantize import CALIBRATION_IMAGES
from classifier.models import DatasetImage, ModelVersion
from classifier.services.storage import stored_file_name

logger = logging.getLogger(__name__)

FLOAT = "float"
INT8 = "int8"
# Room for the float arithmetic of two accuracies measured on the same images.
_EPSILON = 1e-9


@dataclass(frozen=True)
class ServingChoice:
    model: str  # FLOAT or INT8
    reason: str


def version_serving_choice(*, version: ModelVersion) -> ServingChoice:
    """Which of the version's TFLite files serves by default, and why (the rule is the module's)."""
    return serving_choice(record=version.quantization or {}, has_int8=bool(version.tflite_int8_file))


def serving_choice(*, record: dict[str, Any], has_int8: bool) -> ServingChoice:
    """The rule itself, from a quantization record and whether an int8 file was stored: for a version's
    files before its row is written (the end of a training, an install)."""
    if not has_int8:
        reason = record.get("error") or "The version has no int8 model."
        return ServingChoice(FLOAT, reason)
    float_accuracy, int8_accuracy = record.get("accuracy"), record.get("accuracy_int8")
    if float_accuracy is None or int8_accuracy is None:
        reason = record.get("error") or "No test images to compare the int8 model with the float one on."
        return ServingChoice(FLOAT, reason)
    allowed = settings.SIGHTLINE_INT8_MAX_ACCURACY_DROP
    drop = float_accuracy - int8_accuracy
    figures = f"int8 test accuracy {int8_accuracy:.1%}, float {float_accuracy:.1%}"
    # A small test split can hide a poor int8 model (3 test images: one wrong answer is 33 points, none
    # is a pass), so the two models must also give the same answers on the training images it was
    # calibrated on, up to 200 of them.
    agreement, minimum = record.get("calibration_agreement"), settings.SIGHTLINE_INT8_MIN_AGREEMENT
    if agreement is not None and agreement + _EPSILON < minimum:
        return ServingChoice(
            FLOAT,
            f"The float model serves: the int8 model gives the same answer on {agreement:.1%} of "
            f"{record.get('calibration_images', 'the')} training images, below the required {minimum:.0%} "
            f"({figures}).",
        )
    if drop <= allowed + _EPSILON:
        return ServingChoice(INT8, f"The int8 model serves: {figures}, within the allowed {allowed:.1%} drop.")
    return ServingChoice(FLOAT, f"The float model serves: {figures}, more than the allowed {allowed:.1%} drop.")


def version_int8_missing(*, version: ModelVersion, dataset_named: bool = False) -> str:
    """Why the version has no int8 model, in a sentence."""
    reason = (version.quantization or {}).get("error") or "it was made before int8 models were."
    of_dataset = f" of {version.dataset.name}" if dataset_named else ""
    return f"Version {version.number}{of_dataset} has no int8 model: {reason}"


def version_model_file(*, version: ModelVersion, quantized: bool | None = None) -> tuple[FieldFile, str]:
    """The TFLite file to answer with and which model it is: the version's choice, or the one asked for
    (``quantized``); asking for int8 of a version without one is a ValidationError naming ``quantized``."""
    if quantized is None:
        model = version_serving_choice(version=version).model
    elif quantized and not version.tflite_int8_file:
        raise ValidationError({"quantized": version_int8_missing(version=version, dataset_named=True)})
    else:
        model = INT8 if quantized else FLOAT
    return (version.tflite_int8_file if model == INT8 else version.tflite_file), model


def calibration_pixels(
    *, images: list[DatasetImage], size: int, limit: int = CALIBRATION_IMAGES, resize: str = STRETCH
) -> np.ndarray:
    """Up to ``limit`` of the images, spread evenly over the list, as (n, size, size, 3) uint8 model input.

    Evenly spread rather than the first ones: the split is ordered by id, so the first images would be
    one class's. An image that cannot be read is left out: calibration needs typical images, not all.
    """
    picked = (
        [images[index] for index in np.unique(np.linspace(0, len(images) - 1, limit).astype(int))] if images else []
    )
    pixels = []
    for image in picked:
        try:
            with default_storage.open(stored_file_name(image.file), "rb") as file:
                pixels.append(load_array(file.read(), size, resize))
        except (OSError, InvalidImage):
            logger.warning("Image %s is left out of the int8 calibration: it cannot be read.", image.id)
    return np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)


def int8_export(*, model: Any, calibration_images: np.ndarray, path: Path) -> dict[str, Any]:
    """Write the int8 file of ``model`` (the serving model) to ``path``; the version's quantization record.

    Never raises for a model that will not quantize: the record holds the error instead, the file is not
    written, and the version serves its float model.
    """
    from classifier.ml import quantize

    try:
        summary = quantize.export_tflite_int8(model, path, calibration_images)
    except Exception as error:  # noqa: BLE001 - quantization is an extra; any failure leaves float serving
        logger.warning("Int8 quantization failed: %s", error)
        path.unlink(missing_ok=True)
        return {"error": f"The int8 quantization failed, so the float model serves: {error}"}
    return summary.to_dict()


def int8_accuracy_record(
    *,
    record: dict[str, Any],
    int8_file: str,
    images: list[DatasetImage],
    labels: np.ndarray,
    size: int,
    accuracy: float | None,
) -> dict[str, Any]:
    """The quantization record with the int8 model's top-1 accuracy on the test images the float model was
    scored on (``accuracy``); the record says so when there are none or they cannot be run."""
    if accuracy is None or not images:
        return {**record, "accuracy": None, "accuracy_int8": None, "test_images": 0}
    try:
        with default_storage.open(int8_file, "rb") as file:
            predictor = TFLitePredictor(file.read())
        predicted = []
        for image in images:
            with default_storage.open(stored_file_name(image.file), "rb") as file:
                probabilities, _ = predictor.predict(load_array(file.read(), size))
            predicted.append(int(probabilities[0].argmax()))
    except (OSError, ValueError) as error:
        return {
            **record,
            "accuracy": accuracy,
            "accuracy_int8": None,
            "error": f"The int8 model cannot be scored: {error}",
        }
    int8_accuracy = float(np.mean(np.array(predicted) == labels))
    return {**record, "accuracy": accuracy, "accuracy_int8": int8_accuracy, "test_images": len(images)}
