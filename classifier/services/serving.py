"""Answer predictions in this process from a model version's TFLite file, without TensorFlow.

The web tier and the workers load each version's interpreter once per process and keep it, at most
``SIGHTLINE_INTERPRETER_CACHE_SIZE`` of them, least recently used dropped first. It is made from the TFLite
file's bytes read through the storage API, so no process needs another's local files. Its cache
key holds the version id and the stored TFLite file's name, so a version whose artifact changes is
loaded afresh and its old interpreter dropped. The unknown-image detector (``classifier.ml.unknown``)
is cached the same way beside it. Each version also says how an image is resized for it and, through
its calibration, the threshold its answers use when a request names none.
"""

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from classifier.ml.images import STRETCH, load_model_input
from classifier.ml.predictor import PredictorCache, TFLitePredictor
from classifier.ml.predictor import top_k as top_classes
from classifier.ml.unknown import UnknownDetector
from classifier.models import ModelVersion
from classifier.services.quantization import FLOAT, version_model_file
from classifier.services.storage import stored_file_name

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 5
# The answer rule's threshold for a calibrated version: one class when it is more likely right than not.
DEFAULT_THRESHOLD = 0.5

_predictors = PredictorCache(max_entries=settings.SIGHTLINE_INTERPRETER_CACHE_SIZE)
# Version id → the names of its float and int8 files now, to drop its old interpreters when a file changes.
_current_keys: dict[int, tuple[str, str]] = {}
# Detector per "<version id>:<file name>", least recently used first; None remembers a version without
# a usable detector. Bounded like the interpreters: a detector holds up to thousands of embeddings.
_detectors: OrderedDict[str, UnknownDetector | None] = OrderedDict()
_lock = threading.Lock()


class VersionNotServable(Exception):
    """The version cannot answer predictions: it is not ready, or its TFLite file is missing."""


@dataclass(frozen=True)
class ServingModel:
    class_names: list[str]
    predictor: TFLitePredictor
    detector: UnknownDetector | None
    resize: str = STRETCH  # classifier.ml.images.RESIZE_MODES
    model: str = FLOAT  # which TFLite file answers: services.quantization.FLOAT or INT8

    def answer(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(probabilities (n, C), unknown scores (n,) or None, is_unknown (n,))`` for a batch.

        Without a detector (versions trained before it existed) nothing is ever called unknown.
        """
        probabilities, embeddings = self.predictor.predict(pixels)
        if self.detector is None or embeddings is None:
            return probabilities, None, np.zeros(len(probabilities), dtype=bool)
        scores, unknown = self.detector.verdict(embeddings)
        return probabilities, scores, unknown


@dataclass(frozen=True)
class VersionScores:
    """One image's full answer from one version: every class's calibrated probability."""

    probabilities: np.ndarray
    is_unknown: bool
    unknown_score: float | None
    latency_ms: float
    model: str = FLOAT  # the TFLite file that answered: services.quantization.FLOAT or INT8


def version_check_servable(*, version: ModelVersion) -> None:
    if version.status != ModelVersion.Status.READY:
        raise VersionNotServable(
            f"Version {version.number} of {version.dataset.name} is {version.status}, not ready; "
            "only a trained version can predict."
        )
    if not version.tflite_file:
        raise VersionNotServable(f"Version {version.number} of {version.dataset.name} has no TFLite model to serve.")


def version_serving(*, version: ModelVersion, quantized: bool | None = None) -> ServingModel:
    """The version's cached predictor and detector, loaded from storage on first use in this process.

    The predictor runs the float or the int8 file as the version's serving choice says
    (``services.quantization``), or as ``quantized`` asks.
    """
    version_check_servable(version=version)
    model_file, model = version_model_file(version=version, quantized=quantized)
    key = f"{version.id}:{model_file.name}"
    # The float file is there (version_check_servable); an int8 one may not be.
    names = (version.tflite_file.name or "", version.tflite_int8_file.name or "")
    with _lock:
        # Both files stay cached side by side: a request forcing the other model does not evict the default.
        if _current_keys.get(version.id) != names:
            # The version's artifact changed (or this is its first use): forget what was loaded for it.
            prefix = f"{version.id}:"
            _predictors.invalidate(prefix)
            for stale in [name for name in _detectors if name.startswith(prefix)]:
                del _detectors[stale]
            _current_keys[version.id] = names
    try:
        model_name = stored_file_name(model_file)
        predictor = _predictors.get(key, lambda: _read(model_name))
    except FileNotFoundError as error:
        raise VersionNotServable(
            f"The TFLite model of version {version.number} of {version.dataset.name} is missing from storage."
        ) from error
    return ServingModel(
        class_names=list(version.class_names),
        predictor=predictor,
        detector=_detector(version),
        resize=version_input_resize(version=version),
        model=model,
    )


def version_input_resize(*, version: ModelVersion) -> str:
    """How images are resized for the version: as its hyperparameters' "input" says (the ready ImageNet
    models, centre-cropped as their weights were evaluated), else stretched, as every trained version was
    trained."""
    resize: str = (version.hyperparameters.get("input") or {}).get("resize", STRETCH)
    return resize


def version_is_recalibrated(*, version: ModelVersion) -> bool:
    """Whether the version's probabilities were calibrated on its own data (temperature scaling after
    training); the ready ImageNet models answer their published weights' probabilities as they are.
    Rows that do not say (older ones): a calibration without measured errors was not recalibrated; none
    at all is a version not trained yet, which will be."""
    calibration = version.calibration
    return bool(calibration.get("recalibrated", "ece_after" in calibration or not calibration))


def version_answer_threshold(*, version: ModelVersion) -> float:
    """The answer rule's threshold when a request names none: the one stored in the version's calibration
    (the ready ImageNet models', measured by bench/imagenet_models.py), else ``DEFAULT_THRESHOLD``."""
    return float(version.calibration.get("answer_threshold", DEFAULT_THRESHOLD))


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as file:
        content: bytes = file.read()
    return content


def _detector(version: ModelVersion) -> UnknownDetector | None:
    name = version.unknown_file.name
    if not name:
        return None
    key = f"{version.id}:{name}"
    with _lock:
        if key in _detectors:
            _detectors.move_to_end(key)
            return _detectors[key]
    try:
        detector: UnknownDetector | None = UnknownDetector.from_bytes(_read(name))
    except (OSError, ValueError):
        # Predictions still work without it; they only cannot say "unknown".
        logger.exception("The unknown-image detector of model version %s cannot be loaded.", version.id)
        detector = None
    with _lock:
        _detectors[key] = detector
        while len(_detectors) > _predictors.max_entries:
            _detectors.popitem(last=False)
    return detector


def top_k_resolve(*, class_count: int, requested: int | None) -> int:
    """How many classes to list: ``requested`` if in 1..class_count, else a ValidationError naming top_k."""
    if requested is None:
        return min(DEFAULT_TOP_K, class_count)
    if not 1 <= requested <= class_count:
        raise ValidationError(
            {"top_k": f"top_k must be between 1 and {class_count} (the number of classes); got {requested}."}
        )
    return requested


def image_pixels(*, image_bytes: bytes, size: int, resize: str = STRETCH) -> np.ndarray:
    """The image as the model's (size, size, 3) uint8 input; ValidationError({"image"}) if it cannot be decoded.

    A big JPEG is decoded at a reduced size (``load_model_input``): a phone photo's full decode would
    take longer than the model itself.
    """
    try:
        return load_model_input(image_bytes, size, resize)
    except ValueError as error:
        raise ValidationError({"image": f"The image cannot be decoded: {error}."}) from None


def version_scores(
    *,
    version: ModelVersion,
    image_bytes: bytes = b"",
    quantized: bool | None = None,
    pixels: np.ndarray | None = None,
) -> VersionScores:
    """Every class's calibrated probability for one image, with the unknown verdict and the latency;
    ``quantized`` forces the int8 (true) or float (false) model, see ``version_serving``. ``pixels``, the
    model's input already decoded (``version_input``), stand in for ``image_bytes``."""
    started = time.perf_counter()
    serving = version_serving(version=version, quantized=quantized)
    if pixels is None:
        pixels = image_pixels(image_bytes=image_bytes, size=serving.predictor.input_size, resize=serving.resize)
    probabilities, scores, unknown = serving.answer(pixels[np.newaxis])
    return VersionScores(
        probabilities=probabilities[0],
        is_unknown=bool(unknown[0]),
        unknown_score=None if scores is None else float(scores[0]),
        latency_ms=(time.perf_counter() - started) * 1000,
        model=serving.model,
    )


def version_input(*, version: ModelVersion, quantized: bool | None = None) -> tuple[int, str]:
    """The side and resize mode of the model input the version answers from, to decode an image for it."""
    serving = version_serving(version=version, quantized=quantized)
    return serving.predictor.input_size, serving.resize


def version_predict(
    *,
    version: ModelVersion,
    image_bytes: bytes = b"",
    top_k: int | None = None,
    quantized: bool | None = None,
    pixels: np.ndarray | None = None,
) -> dict[str, Any]:
    """``{"predictions": [{"label", "probability"}], "is_unknown", "unknown_score", "latency_ms",
    "serving_model"}``.

    Probabilities are calibrated (the temperature is folded into the TFLite model; the ready ImageNet
    models answer their published ones, see ``version_is_recalibrated``) and sorted, highest first;
    ``top_k`` defaults to 5, or fewer when the version knows fewer classes.
    """
    version_check_servable(version=version)
    count = top_k_resolve(class_count=len(version.class_names), requested=top_k)
    scores = version_scores(version=version, image_bytes=image_bytes, quantized=quantized, pixels=pixels)
    return {
        "predictions": top_classes(scores.probabilities, version.class_names, count),
        "is_unknown": scores.is_unknown,
        "unknown_score": scores.unknown_score,
        "latency_ms": scores.latency_ms,
        "serving_model": scores.model,
    }
