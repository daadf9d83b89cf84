"""Train a queued model version on a worker: the bridge between rows/storage and ``classifier.ml``.

It reads the dataset's images through the storage API (``training_inputs``), feeds ``ml.training.train``
with an observer that writes one EpochMetric row per epoch and the job's progress (``training_observer``),
and a checkpoint store, so a new attempt after a lost worker goes on from the last epoch. Then it
evaluates on the test split, calibrates on the validation split, fits the unknown-image detector on the
training embeddings and stores the Keras, TFLite and detector artifacts (``model_artifacts``). The
version becomes ready only in the transaction that marks its job succeeded; every other ending is the job
engine's (see ``version_states``).
"""

from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from classifier.ml import calibration, evaluation, unknown
from classifier.ml.backbone_registry import UnknownBackbone
from classifier.ml.backbone_weights import WeightsUnavailable
from classifier.ml.config import TrainingConfig
from classifier.ml.training import TrainingResult
from classifier.models import Dataset, DatasetImage, ModelVersion
from classifier.services import quantization
from classifier.services.checkpoints import StoredCheckpoints
from classifier.services.manifests import manifest_store
from classifier.services.model_artifacts import (
    MODEL_INPUT,
    model_version_artifacts_store,
    model_version_training_folder,
)
from classifier.services.training_inputs import (
    feature_cache,
    image_records,
    split_images,
    test_set_digest,
    training_config,
)
from classifier.services.training_observer import EPOCHS_SHARE, JobObserver
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, ProgressReporter

MOST_CONFUSED_COUNT = 24


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
        config = training_config(version)
        train_images, train_labels = split_images(version, DatasetImage.Split.TRAIN)
        val_images, val_labels = split_images(version, DatasetImage.Split.VAL)
        test_images, test_labels = split_images(version, DatasetImage.Split.TEST)
        # Written first, into the version's folder: a failed or cancelled training's clean-up removes it.
        manifest = manifest_store(
            folder=folder, images_by_split={"train": train_images, "val": val_images, "test": test_images}
        )
        total_epochs = config.epochs + (config.fine_tune_epochs if config.fine_tuning_enabled else 0)
        observer = JobObserver(job, progress, total_epochs, version)
        progress(
            0.0, f"Computing {config.backbone} features for {len(train_images) + len(val_images)} images", force=True
        )
        cache = feature_cache()
        result = training.train(
            config,
            image_records(train_images),
            train_labels,
            image_records(val_images),
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
            test_set=test_set_digest(test_images),
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
    seconds: float | None = (version.plan or {}).get("training_seconds")
    if seconds is None:
        return None
    spent = (timezone.now() - job.started_at).total_seconds() if job.attempts <= 1 and job.started_at else 0.0
    return max(0.0, seconds - spent)


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
    result: TrainingResult,
    config: TrainingConfig,
    version: ModelVersion,
    test_split: tuple[list[DatasetImage], np.ndarray],
    temperature: float,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
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
        result.model, image_records(test_images), image_size=result.image_size, batch_size=config.batch_size
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
) -> dict[str, Any]:
    return {
        "temperature": temperature,
        "split": split,
        "ece_before": calibration.expected_calibration_error(before, labels),
        "ece_after": calibration.expected_calibration_error(after, labels),
        "reliability_before": calibration.reliability_diagram_bins(before, labels),
        "reliability_after": calibration.reliability_diagram_bins(after, labels),
    }
