"""What a client needs to run a version's exported files outside Sightline (docs/exports.md): the input
every format takes, how to resize to it, each format's outputs, and the class names in output order."""

from typing import Any

from classifier.ml.images import CENTER_CROP, IMAGENET_CROP_FRACTION
from classifier.models import ModelVersion
from classifier.services.quantization import version_serving_choice
from classifier.services.serving import version_input_resize, version_is_recalibrated


def version_export_metadata(*, version: ModelVersion) -> dict[str, Any]:
    """What a client needs to run the version's exported files outside Sightline (docs/exports.md):
    the input every format takes, how to resize to it, each format's outputs, and the class names in
    output order. Built from the row, so versions trained before it existed answer it too."""
    resize = version_input_resize(version=version)
    model_input = {
        "shape": [None, version.image_size, version.image_size, 3],
        "dtype": "float32",
        "color": "RGB",
        "range": [0, 255],
        "resize": resize,
        **({"crop_fraction": IMAGENET_CROP_FRACTION} if resize == CENTER_CROP else {}),
    }
    return {
        "model_version": version.id,
        "backbone": version.backbone,
        "class_names": list(version.class_names),
        "image_size": version.image_size,
        "input": model_input,
        # Per format downloadable now, its output names: the probabilities (one per class, in class_names'
        # order) first; the TFLite files also answer the pooled image features as "embeddings".
        "outputs": {
            file_format: outputs
            for file_format, outputs, field in (
                ("keras", ["probabilities"], version.keras_file),
                ("savedmodel", ["output_0"], version.savedmodel_file),
                ("tflite", ["probabilities", "embeddings"], version.tflite_file),
                ("tflite_int8", ["probabilities", "embeddings"], version.tflite_int8_file),
            )
            if field
        },
        "serving_model": version_serving_choice(version=version).model,
        # Every export answers the same probabilities as the served model: the temperature is already
        # inside each file, so a client never divides by it again.
        "calibrated": version_is_recalibrated(version=version),
        "temperature": version.calibration.get("temperature", 1.0),
        "temperature_applied": True,
    }
