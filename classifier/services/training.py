"""Train a queued model version on a worker: the bridge between rows/storage and ``classifier.ml``.

It reads the dataset's images through the storage API, feeds ``ml.training.train`` with an observer
that writes one EpochMetric row per epoch and the job's progress, then evaluates on the test split,
calibrates on the validation split, fits the unknown-image detector on the training embeddings, and
stores the Keras, TFLite and detector artifacts. A failure or a cancel leaves the version
failed/cancelled and the dataset's active version untouched.
"""

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from classifier.ml import calibration, evaluation, unknown
from classifier.ml.backbones import UnknownBackbone, WeightsUnavailable
from classifier.ml.config import TrainingConfig
from classifier.ml.features import DirectoryFeatureCache
from classifier.ml.images import load_array
from classifier.ml.training import ImageRecord, TrainingCancelled
from classifier.models import DatasetImage, ModelVersion
from classifier.services.storage import model_version_folder
from training_jobs.models import EpochMetric, Job
from training_jobs.services import JobCancelled, JobInputError, ProgressReporter

MOST_CONFUSED_COUNT = 24
# What every stored model takes, recorded in its metadata.json: RGB pixels in [0, 255], resized
# (stretched) to image_size square; the backbone's own normalisation is inside the model.
MODEL_INPUT = {"color": "RGB", "range": [0, 255], "resize": "bilinear-stretch"}
# Share of the progress bar for the epochs; the rest is evaluation, calibration and export.
EPOCHS_SHARE = 0.85


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class _JobObserver:
    """Keras-side hooks: an EpochMetric row per epoch, throttled progress and heartbeat per batch."""

    def __init__(self, job: Job, progress: ProgressReporter, total_epochs: int) -> None:
        self.job = job
        self.progress = progress
        self.total_epochs = max(1, total_epochs)
        self.epochs_done = 0

    def fraction(self) -> float:
        return EPOCHS_SHARE * min(1.0, self.epochs_done / self.total_epochs)

    def on_epoch_end(self, epoch: int, phase: str, logs: dict[str, float]) -> None:
        EpochMetric.objects.update_or_create(
            job=self.job,
            epoch=epoch,
            # A diverging run logs NaN/inf, which JSON cannot carry: store it as a gap instead.
            defaults={
                "phase": phase,
                **{
                    k: _finite(logs.get(k))
                    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
                },
            },
        )
        self.epochs_done = epoch
        self.progress(
            self.fraction(),
            f"Epoch {epoch} ({phase.replace('_', '-')}): val accuracy {logs['val_accuracy']:.3f}",
            force=True,
        )

    def on_batch_end(self) -> None:
        # Throttled inside ProgressReporter; raises JobCancelled once the user cancels.
        self.progress(self.fraction())

    def should_stop(self) -> bool:
        # Cancellation is already seen in on_batch_end: the progress write raises JobCancelled
        # once the job is no longer running, so a second status query per batch would add nothing.
        return False


def _records(images: list[DatasetImage]) -> list[ImageRecord]:
    def loader(name: str):
        def load() -> np.ndarray:
            with default_storage.open(name, "rb") as file:
                return load_array(file.read())

        return load

    return [ImageRecord(sha256=image.sha256, load=loader(image.file.name)) for image in images]


def _split(version: ModelVersion, split: str) -> tuple[list[DatasetImage], np.ndarray]:
    index = {name: i for i, name in enumerate(version.class_names)}
    images = [
        image
        for image in DatasetImage.objects.filter(dataset=version.dataset, split=split, label__isnull=False)
        .select_related("label")
        .order_by("id")
        if image.label.name in index
    ]
    return images, np.array([index[image.label.name] for image in images], dtype=np.int64)


def _config(version: ModelVersion) -> TrainingConfig:
    config = TrainingConfig.from_dict(dict(version.hyperparameters))
    config.weights_dir = str(settings.SIGHTLINE_WEIGHTS_DIR)
    return config


def model_version_train_run(*, job: Job, progress: ProgressReporter) -> tuple[dict, str]:
    """The gpu task's work: train, evaluate, calibrate, export; returns the job's report."""
    from classifier.ml import export, training

    version = job.model_version
    claimed = ModelVersion.objects.filter(id=version.id, status=ModelVersion.Status.QUEUED).update(
        status=ModelVersion.Status.TRAINING
    )
    if not claimed:
        raise JobInputError(f"Model version {version.number} is {version.status}, not queued.")
    try:
        config = _config(version)
        train_images, train_labels = _split(version, DatasetImage.Split.TRAIN)
        val_images, val_labels = _split(version, DatasetImage.Split.VAL)
        test_images, test_labels = _split(version, DatasetImage.Split.TEST)
        total_epochs = config.epochs + (config.fine_tune_epochs if config.fine_tuning_enabled else 0)
        observer = _JobObserver(job, progress, total_epochs)
        progress(
            0.0, f"Computing {config.backbone} features for {len(train_images) + len(val_images)} images", force=True
        )
        cache = DirectoryFeatureCache(settings.SIGHTLINE_FEATURE_CACHE_DIR)
        result = training.train(
            config,
            _records(train_images),
            train_labels,
            _records(val_images),
            val_labels,
            version.class_names,
            observer,
            feature_cache=cache,
        )

        progress(EPOCHS_SHARE, "Calibrating on the validation split", force=True)
        temperature = calibration.fit_temperature(result.val_logits, result.val_labels)
        calibrated_val = calibration.softmax(result.val_logits, temperature)
        calibration_report = {
            "temperature": temperature,
            "ece_before": calibration.expected_calibration_error(result.val_probabilities, result.val_labels),
            "ece_after": calibration.expected_calibration_error(calibrated_val, result.val_labels),
            "reliability_before": calibration.reliability_diagram_bins(result.val_probabilities, result.val_labels),
            "reliability_after": calibration.reliability_diagram_bins(calibrated_val, result.val_labels),
        }
        model = export.with_temperature(result.model, temperature)
        detector = unknown.fit_unknown_detector(result.train_embeddings, result.train_labels, result.val_embeddings)

        progress(0.9, f"Evaluating on {len(test_images)} test images", force=True)
        metrics, confused = _evaluate(model, result, config, version, test_images, test_labels, cache)
        metrics.update(
            best_epoch=result.best_epoch,
            split_sizes={"train": len(train_images), "val": len(val_images), "test": len(test_images)},
        )

        progress(0.95, "Exporting Keras and TFLite models", force=True)
        model_version_artifacts_store(
            version=version,
            model=model,
            unknown_detector=detector,
            metadata={
                "class_names": version.class_names,
                "backbone": version.backbone,
                "image_size": result.image_size,
                "input": MODEL_INPUT,
                "temperature": temperature,
            },
        )
    except (TrainingCancelled, JobCancelled) as exc:
        ModelVersion.objects.filter(id=version.id).update(status=ModelVersion.Status.CANCELLED)
        raise JobCancelled() from exc
    except (UnknownBackbone, WeightsUnavailable, ValueError) as exc:
        _fail(version)
        raise JobInputError(str(exc)) from exc
    except BaseException:
        _fail(version)
        raise

    with transaction.atomic():
        ModelVersion.objects.filter(id=version.id).update(
            status=ModelVersion.Status.READY,
            metrics=metrics,
            most_confused=confused,
            calibration=calibration_report,
            trained_at=timezone.now(),
        )
        # The first ready version of a dataset serves at once; later ones wait to be promoted.
        if not ModelVersion.objects.filter(dataset=version.dataset, is_active=True).exists():
            ModelVersion.objects.filter(id=version.id).update(is_active=True)
    report = {"model_version": version.id, "accuracy": metrics.get("accuracy"), "best_epoch": result.best_epoch}
    accuracy = metrics.get("accuracy")
    summary = f"test accuracy {accuracy:.3f}" if accuracy is not None else "no test images"
    return report, f"Version {version.number} ready: {summary}"


def _fail(version: ModelVersion) -> None:
    ModelVersion.objects.filter(id=version.id).update(status=ModelVersion.Status.FAILED)


def _evaluate(
    model: Any,
    result: Any,
    config: TrainingConfig,
    version: ModelVersion,
    test_images: list[DatasetImage],
    test_labels: np.ndarray,
    cache: DirectoryFeatureCache,
) -> tuple[dict, list[dict]]:
    from classifier.ml import training

    if not test_images:
        return {"accuracy": None, "per_class": {}, "confusion_matrix": []}, []
    probabilities = training.predict_probabilities(
        model, _records(test_images), image_size=result.image_size, batch_size=config.batch_size
    )
    metrics = evaluation.evaluate(probabilities, test_labels, version.class_names)
    confused = [
        {
            "image_id": test_images[entry["index"]].id,
            "true": version.class_names[entry["true"]],
            "predicted": version.class_names[entry["predicted"]],
            "probability": entry["probability"],
        }
        for entry in evaluation.most_confused(probabilities, test_labels, MOST_CONFUSED_COUNT)
    ]
    return metrics, confused


def model_version_artifacts_store(
    *,
    version: ModelVersion,
    model: Any,
    metadata: dict,
    unknown_detector: unknown.UnknownDetector | None = None,
    folder: str | None = None,
) -> None:
    """Store a version's files via the storage API and record them on its row.

    The Keras file holds `model` (probabilities out, for retraining and batch inference), and so does
    the zipped TensorFlow SavedModel (for TF Serving); the TFLite
    file the web tier serves answers probabilities and embeddings (`export.serving_model`), which the
    unknown-image detector (unknown.npz) scores. metadata.json holds class names and preprocessing.
    `folder` defaults to the version's own; a rebuild passes a fresh one so no file name is reused.
    """
    from classifier.ml import export

    prefix = folder or model_version_folder(dataset_id=version.dataset_id, number=version.number, version_id=version.id)
    stored: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        keras_path = Path(scratch) / "model.keras"
        tflite_path = Path(scratch) / "model.tflite"
        savedmodel_path = Path(scratch) / "savedmodel.zip"
        export.save_keras(model, keras_path)
        export.export_tflite(export.serving_model(model), tflite_path)
        export.export_savedmodel_zip(model, savedmodel_path)
        default_storage.save(f"{prefix}/metadata.json", ContentFile(json.dumps(metadata, indent=2).encode()))
        files = (("keras_file", keras_path), ("tflite_file", tflite_path), ("savedmodel_file", savedmodel_path))
        for field, path in files:
            with path.open("rb") as file:
                stored[field] = default_storage.save(f"{prefix}/{path.name}", File(file))
    if unknown_detector is not None:
        stored["unknown_file"] = default_storage.save(f"{prefix}/unknown.npz", ContentFile(unknown_detector.to_bytes()))
        stored["unknown_stats"] = unknown_detector.summary()
    ModelVersion.objects.filter(id=version.id).update(**stored)
