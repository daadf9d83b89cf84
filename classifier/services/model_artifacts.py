"""A trained version's stored files: metadata.json, the Keras file, the float and int8 TFLite models, the
zipped SavedModel and the unknown-image detector, all through the storage API in the version's folder.

Written by the training (``services.training``) and by ``manage.py install_imagenet_models``.
"""

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifier.ml import unknown
from classifier.models import ModelVersion
from classifier.services import quantization
from classifier.services.storage import model_version_folder

# What every stored model takes, recorded in its metadata.json: RGB pixels in [0, 255], resized
# (stretched) to image_size square; the backbone's own normalisation is inside the model.
MODEL_INPUT = {"color": "RGB", "range": [0, 255], "resize": "bilinear-stretch"}


def model_version_training_folder(version: ModelVersion) -> str:
    return model_version_folder(dataset_id=version.dataset_id, number=version.number, version_id=version.id)


def model_version_artifacts_store(
    *,
    version: ModelVersion,
    model: Any,
    metadata: dict[str, Any],
    unknown_detector: unknown.UnknownDetector | None = None,
    folder: str | None = None,
    between_files: Any = None,
    calibration_images: np.ndarray | None = None,
) -> dict[str, Any]:
    """Store a version's files via the storage API; returns the fields that name them on its row.

    The Keras file holds `model` (probabilities out, for retraining and batch inference), and so does
    the zipped TensorFlow SavedModel (for TF Serving); the TFLite
    file the web tier serves answers probabilities and embeddings (`export.serving_model`), which the
    unknown-image detector (unknown.npz) scores. metadata.json holds class names and preprocessing.
    `folder` defaults to the version's own; a rebuild passes a fresh one so no file name is reused.
    A file left by an earlier attempt of the same training is replaced, not kept beside the new one.
    `between_files` is called after each file (a progress report, which stops a cancelled export).
    With `calibration_images` ((n, s, s, 3) pixels at the model's input size) the served model is also
    quantized to int8 (`tflite_int8_file`, next to the float one); the returned `quantization` record
    says how, or why there is no int8 file. A failed quantization never fails the store.
    """
    from classifier.ml import export

    prefix = folder or model_version_training_folder(version)
    step = between_files or (lambda: None)
    stored: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        keras_path = Path(scratch) / "model.keras"
        tflite_path = Path(scratch) / "model.tflite"
        savedmodel_path = Path(scratch) / "savedmodel.zip"
        _replace(f"{prefix}/metadata.json", ContentFile(json.dumps(metadata, indent=2).encode()))
        exports = (
            ("keras_file", keras_path, lambda: export.save_keras(model, keras_path)),
            ("tflite_file", tflite_path, lambda: export.export_tflite(export.serving_model(model), tflite_path)),
            ("savedmodel_file", savedmodel_path, lambda: export.export_savedmodel_zip(model, savedmodel_path)),
        )
        for field, path, write in exports:
            write()
            with path.open("rb") as file:
                stored[field] = _replace(f"{prefix}/{path.name}", File(file))
            step()
        if calibration_images is not None:
            int8_path = Path(scratch) / "model_int8.tflite"
            if len(calibration_images):
                record = quantization.int8_export(
                    model=export.serving_model(model), calibration_images=calibration_images, path=int8_path
                )
            else:
                record = {"error": "No training images could be read to calibrate an int8 model on."}
            stored["quantization"] = record
            stored["tflite_int8_file"] = ""
            if int8_path.exists():
                with int8_path.open("rb") as file:
                    stored["tflite_int8_file"] = _replace(f"{prefix}/{int8_path.name}", File(file))
            step()
    if unknown_detector is not None:
        stored["unknown_file"] = _replace(f"{prefix}/unknown.npz", ContentFile(unknown_detector.to_bytes()))
        stored["unknown_stats"] = unknown_detector.summary()
    return stored


def _replace(name: str, content: Any) -> str:
    default_storage.delete(name)
    return default_storage.save(name, content)
