"""Train a queued model version on a worker: the bridge between rows/storage and ``classifier.ml``.

It reads the dataset's images through the storage API, feeds ``ml.training.train`` with an observer
that writes one EpochMetric row per epoch and the job's progress, and a checkpoint store, so a new
attempt after a lost worker goes on from the last epoch. Then it evaluates on the test split,
calibrates on the validation split, fits the unknown-image detector on the training embeddings and
stores the Keras, TFLite and detector artifacts. The version becomes ready only in the transaction
that marks its job succeeded; every other ending is the job engine's (see ``version_states``).
"""

import hashlib
import json
import math
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from classifier.ml import calibration, evaluation, unknown
from classifier.ml.backbones import UnknownBackbone, WeightsUnavailable
from classifier.ml.config import TrainingConfig
from classifier.ml.features import DirectoryFeatureCache
from classifier.ml.images import load_array
from classifier.ml.training import ImageRecord, TrainingCancelled
from classifier.models import Dataset, DatasetImage, ModelVersion
from classifier.services import quantization
from classifier.services.checkpoints import StoredCheckpoints
from classifier.services.manifests import manifest_store
from classifier.services.storage import model_version_folder
from training_jobs.kinds import JobResult
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
    """Keras-side hooks: an EpochMetric row per epoch, throttled progress and heartbeat per batch, and
    the plan's live part (epochs planned, seconds per epoch, expected end) on the version."""

    def __init__(self, job: Job, progress: ProgressReporter, total_epochs: int, version: ModelVersion) -> None:
        self.job = job
        self.progress = progress
        self.total_epochs = max(1, total_epochs)
        self.epochs_done = 0
        self.version = version
        self.plan = dict(version.plan or {})
        self.started = timezone.now()
        self.epoch_seconds: float | None = None

    def on_plan(self, total_epochs: int, epoch_seconds: float | None) -> None:
        self.total_epochs = max(1, total_epochs)
        if epoch_seconds is not None:
            self.epoch_seconds = epoch_seconds
        self._live()

    def on_note(self, text: str) -> None:
        # A resumed run decides again from the same data: the same note, recorded once.
        reasons = self.plan.setdefault("reasons", [])
        if text not in reasons:
            reasons.append(text)
        self._live()

    def _live(self) -> None:
        if not self.plan:
            return
        now = timezone.now()
        if self.epoch_seconds is None:
            end = self.started + timedelta(seconds=self.plan.get("budget_minutes", 0) * 60)
        else:
            left = max(0, self.total_epochs - self.epochs_done) * self.epoch_seconds
            end = now + timedelta(seconds=left + self.plan.get("reserve_seconds", 0))
        self.plan["live"] = {
            "total_epochs": self.total_epochs,
            "epochs_done": self.epochs_done,
            "epoch_seconds": round(self.epoch_seconds, 1) if self.epoch_seconds is not None else None,
            "started_at": self.started.isoformat(),
            "expected_end": end.isoformat(),
        }
        ModelVersion.objects.filter(id=self.version.id).update(plan=self.plan)

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
        if phase == "fine_tune" and logs.get("seconds"):
            # Fine-tuning epochs are the slow ones: they say when the training will end.
            self.epoch_seconds = logs["seconds"]
        self._live()
        self.progress(
            self.fraction(),
            f"Epoch {epoch} of {self.total_epochs} ({phase.replace('_', '-')}): "
            f"val accuracy {logs['val_accuracy']:.3f}",
            force=True,
        )

    def on_batch_end(self) -> None:
        # Throttled inside ProgressReporter; raises JobCancelled once the user cancels.
        self.progress(self.fraction())

    def should_stop(self) -> bool:
        # Cancellation is already seen in on_batch_end: the progress write raises JobCancelled
        # once the job is no longer running, so a second status query per batch would add nothing.
        return False

    def on_resume(self, epochs_done: int) -> None:
        # Rows of epochs after the checkpoint belong to no weights any more: they are trained again.
        EpochMetric.objects.filter(job=self.job, epoch__gt=epochs_done).delete()
        self.epochs_done = epochs_done
        self.progress(self.fraction(), f"Resumed from the checkpoint after epoch {epochs_done}", force=True)


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


def _test_set(images: list[DatasetImage]) -> dict:
    """The test images' size and a digest of their contents and labels: two versions with the same digest
    were scored on the same pictures with the same answers, so their scores compare."""
    entries = sorted(f"{image.sha256}:{image.label.name}" for image in images)
    return {"count": len(images), "digest": hashlib.sha256("\n".join(entries).encode()).hexdigest()}


def feature_cache() -> DirectoryFeatureCache:
    """The worker's local cache of backbone features, bounded (SIGHTLINE_FEATURE_CACHE_MAX_BYTES, 0 for no
    limit); trainings and label-issue searches share it."""
    return DirectoryFeatureCache(
        settings.SIGHTLINE_FEATURE_CACHE_DIR, max_bytes=settings.SIGHTLINE_FEATURE_CACHE_MAX_BYTES or None
    )


def _config(version: ModelVersion) -> TrainingConfig:
    config = TrainingConfig.from_dict(dict(version.hyperparameters))
    config.weights_dir = str(settings.SIGHTLINE_WEIGHTS_DIR)
    return config


class VersionNotTraining(Exception):
    """The version left the training state (cancelled, deleted) before its result could be kept."""


def model_version_train_run(*, job: Job, progress: ProgressReporter) -> JobResult:
    """The gpu task's work: train (or go on from a checkpoint), evaluate, calibrate, export."""
    from classifier.ml import export, training

    version = job.model_version
    if version is None:
        raise JobInputError("The model version was deleted before it was trained.")
    # Training already on a later attempt: the worker of the first one was lost.
    claimed = ModelVersion.objects.filter(
        id=version.id, status__in=[ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING]
    ).update(status=ModelVersion.Status.TRAINING)
    if not claimed:
        raise JobInputError(f"Model version {version.number} is {version.status}, not queued.")
    folder = model_version_training_folder(version)
    try:
        config = _config(version)
        train_images, train_labels = _split(version, DatasetImage.Split.TRAIN)
        val_images, val_labels = _split(version, DatasetImage.Split.VAL)
        test_images, test_labels = _split(version, DatasetImage.Split.TEST)
        # Written first, into the version's folder: a failed or cancelled training's clean-up removes it.
        manifest = manifest_store(
            folder=folder, images_by_split={"train": train_images, "val": val_images, "test": test_images}
        )
        total_epochs = config.epochs + (config.fine_tune_epochs if config.fine_tuning_enabled else 0)
        observer = _JobObserver(job, progress, total_epochs, version)
        progress(
            0.0, f"Computing {config.backbone} features for {len(train_images) + len(val_images)} images", force=True
        )
        cache = feature_cache()
        result = training.train(
            config,
            _records(train_images),
            train_labels,
            _records(val_images),
            val_labels,
            version.class_names,
            observer,
            feature_cache=cache,
            checkpoints=StoredCheckpoints(folder),
            time_budget=_time_budget(version, job),
            scratch_dir=str(settings.SIGHTLINE_SCRATCH_DIR),
        )

        progress(EPOCHS_SHARE, "Calibrating on the validation split", force=True)
        temperature = calibration.fit_temperature(result.val_logits, result.val_labels)
        model = export.with_temperature(result.model, temperature)
        progress(0.87, "Fitting the unknown-image detector", force=True)
        detector = unknown.fit_unknown_detector(result.train_embeddings, result.train_labels, result.val_embeddings)

        progress(0.9, f"Evaluating on {len(test_images)} test images", force=True)
        metrics, confused, calibration_report = _evaluate(
            result, config, version, (test_images, test_labels), temperature
        )
        metrics.update(
            best_epoch=result.best_epoch,
            split_sizes={"train": len(train_images), "val": len(val_images), "test": len(test_images)},
            test_set=_test_set(test_images),
        )

        progress(0.95, "Exporting Keras and TFLite models", force=True)
        # The int8 model is calibrated on the version's own training images, as the model sees them.
        calibration_images = quantization.calibration_pixels(images=train_images, size=result.image_size)
        artifacts = model_version_artifacts_store(
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
            folder=folder,
            # Conversions take long: a cancel is seen between the files, not after all of them.
            between_files=lambda: progress(0.95, "Exporting Keras and TFLite models", force=True),
            calibration_images=calibration_images,
        )
        if artifacts.get("tflite_int8_file"):
            progress(0.98, f"Scoring the int8 model on {len(test_images)} test images", force=True)
            artifacts["quantization"] = quantization.int8_accuracy_record(
                record=artifacts["quantization"],
                int8_file=artifacts["tflite_int8_file"],
                images=test_images,
                labels=test_labels,
                size=result.image_size,
                accuracy=metrics.get("accuracy"),
            )
        metrics["accuracy_int8"] = artifacts.setdefault("quantization", {}).get("accuracy_int8")
    except TrainingCancelled as exc:
        raise JobCancelled() from exc
    except (UnknownBackbone, WeightsUnavailable, ValueError) as exc:
        raise JobInputError(str(exc)) from exc

    fields = {
        **artifacts,
        "manifest_file": manifest,
        "metrics": metrics,
        "most_confused": confused,
        "calibration": calibration_report,
        "trained_at": timezone.now(),
    }
    accuracy = metrics.get("accuracy")
    summary = f"test accuracy {accuracy:.3f}" if accuracy is not None else "no test images"
    # The choice as the job ends, for its report; serving derives it again on every read (the setting may change).
    serving = quantization.serving_choice(
        record=artifacts["quantization"], has_int8=bool(artifacts.get("tflite_int8_file"))
    )
    return JobResult(
        report={
            "model_version": version.id,
            "accuracy": accuracy,
            "accuracy_int8": metrics["accuracy_int8"],
            "serving_model": serving.model,
            "serving_reason": serving.reason,
            "best_epoch": result.best_epoch,
            # Where it trained (classifier.ml.devices): e.g. ["GPU:0", "GPU:1"] mirrored in mixed_float16.
            "devices": result.devices,
            "precision": result.precision,
        },
        message=f"Version {version.number} ready: {summary}",
        finish=lambda _job: _version_ready(version=version, fields=fields),
    )


def _time_budget(version: ModelVersion, job: Job) -> float | None:
    """Seconds the training steps may take: the plan's, less what this attempt has spent already."""
    seconds = (version.plan or {}).get("training_seconds")
    if seconds is None:
        return None
    spent = (timezone.now() - job.started_at).total_seconds() if job.attempts <= 1 and job.started_at else 0.0
    return max(0.0, seconds - spent)


def model_version_training_folder(version: ModelVersion) -> str:
    return model_version_folder(dataset_id=version.dataset_id, number=version.number, version_id=version.id)


def _version_ready(*, version: ModelVersion, fields: dict[str, Any]) -> None:
    """Inside the job's final transaction: the version becomes ready, and active if its dataset has
    no active version. The dataset row is locked first, so two versions finishing at once cannot
    both find no active version (and the second one then waits to be promoted)."""
    Dataset.objects.select_for_update().filter(id=version.dataset_id).first()
    current = ModelVersion.objects.select_for_update().filter(id=version.id).first()
    if current is None or current.status != ModelVersion.Status.TRAINING:
        state = "deleted" if current is None else current.status
        raise VersionNotTraining(f"Model version {version.number} was {state} before its training finished.")
    has_active = ModelVersion.objects.filter(dataset_id=version.dataset_id, is_active=True).exists()
    ModelVersion.objects.filter(id=version.id).update(
        status=ModelVersion.Status.READY, is_active=not has_active, **fields
    )


def _evaluate(
    result: Any,
    config: TrainingConfig,
    version: ModelVersion,
    test_split: tuple[list[DatasetImage], np.ndarray],
    temperature: float,
) -> tuple[dict, list[dict], dict]:
    """Metrics, most confused images and calibration, all measured on the test split (the temperature
    was fitted on validation; judging it there would flatter it). Without test images, calibration is
    reported on validation and says so."""
    from classifier.ml import training

    test_images, test_labels = test_split
    if not test_images:
        calibrated = calibration.softmax(result.val_logits, temperature)
        report = _calibration_report(result.val_probabilities, calibrated, result.val_labels, temperature, "val")
        return {"accuracy": None, "per_class": {}, "confusion_matrix": []}, [], report
    raw = training.predict_probabilities(
        result.model, _records(test_images), image_size=result.image_size, batch_size=config.batch_size
    )
    # Log-probabilities are the logits up to a constant per image: scaling them is temperature scaling.
    probabilities = calibration.softmax(np.log(np.clip(raw, 1e-12, 1.0)), temperature)
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
    return metrics, confused, _calibration_report(raw, probabilities, test_labels, temperature, "test")


def _calibration_report(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, temperature: float, split: str
) -> dict:
    return {
        "temperature": temperature,
        "split": split,
        "ece_before": calibration.expected_calibration_error(before, labels),
        "ece_after": calibration.expected_calibration_error(after, labels),
        "reliability_before": calibration.reliability_diagram_bins(before, labels),
        "reliability_after": calibration.reliability_diagram_bins(after, labels),
    }


def model_version_artifacts_store(
    *,
    version: ModelVersion,
    model: Any,
    metadata: dict,
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
