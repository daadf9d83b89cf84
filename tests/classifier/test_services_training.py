"""Training a model version end to end through the job (eager task): rows, curves, artifacts, failures."""

import io
import zipfile

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from classifier.ml import quantize
from classifier.ml.predictor import TFLitePredictor, prepare_image
from classifier.ml.unknown import UnknownDetector
from classifier.models import ModelVersion
from classifier.services.images import image_add
from classifier.services.model_versions import model_version_create
from classifier.services.quantization import version_serving_choice
from classifier.services.serving import version_predict
from classifier.services.training_observer import JobObserver
from tests.factories import DatasetFactory
from training_jobs.models import EpochMetric, Job
from training_jobs.services import job_cancel

# Head only (no fine-tuning), so each training takes seconds.
TINY = {"backbone": "mobilenet_v3_small", "image_size": 32, "weights": "none", "epochs": 3, "batch_size": 8,
        "fine_tune_layers": 0}


def _png(color, seed) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (32, 32, 3))
    pixels = np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def dataset(user):
    dataset = DatasetFactory(owner=user, name="colours")
    for index in range(12):
        image_add(dataset=dataset, content=_png((220, 20, 20), index), filename=f"red{index}.png",
                  label_name="red", origin="upload")
        image_add(dataset=dataset, content=_png((20, 20, 220), 100 + index), filename=f"blue{index}.png",
                  label_name="blue", origin="upload")
    return dataset


def _train(dataset, user, django_capture_on_commit_callbacks, **options):
    with django_capture_on_commit_callbacks(execute=True):
        version = model_version_create(dataset=dataset, requested_by=user, options={**TINY, **options})
    version.refresh_from_db()
    return version, version.jobs.get()


def test_training_stores_curves_metrics_calibration_artifacts_and_unknown_detector(
    dataset, user, django_capture_on_commit_callbacks
):
    version, job = _train(dataset, user, django_capture_on_commit_callbacks)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.status == ModelVersion.Status.READY
    assert version.is_active, "the first ready version of a dataset serves at once"
    assert version.class_names == ["blue", "red"]
    epochs = list(EpochMetric.objects.filter(job=job).order_by("epoch"))
    assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1)) and 1 <= len(epochs) <= 3
    assert all(e.val_accuracy is not None and e.learning_rate > 0 for e in epochs)
    assert set(version.metrics["per_class"]) == {"blue", "red"}
    assert version.metrics["split_sizes"] == {"train": 20, "val": 2, "test": 2}
    assert version.calibration["temperature"] > 0
    assert {"ece_before", "ece_after"} <= set(version.calibration)
    assert default_storage.exists(version.keras_file.name)
    assert default_storage.exists(version.tflite_file.name)
    with default_storage.open(version.savedmodel_file.name, "rb") as file:
        assert "savedmodel/saved_model.pb" in zipfile.ZipFile(file).namelist()
    assert job.report["model_version"] == version.id
    # Where it trained: this machine has no GPU, so its one CPU in float32.
    assert (job.report["devices"], job.report["precision"]) == (["CPU:0"], "float32")
    # The served model answers embeddings too, which the stored unknown-image detector scores.
    assert version.unknown_stats["method"] == "knn"
    assert version.unknown_stats["threshold"] > 0
    assert version.unknown_stats["reference_count"] == 20
    assert version.unknown_stats["validation_count"] == 2
    with default_storage.open(version.unknown_file.name, "rb") as file:
        detector = UnknownDetector.from_bytes(file.read())
    with default_storage.open(version.tflite_file.name, "rb") as file:
        predictor = TFLitePredictor(file.read())
    probabilities, embeddings = predictor.predict(prepare_image(_png((220, 20, 20), 999), predictor.input_size))
    assert probabilities.shape == (1, 2)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert embeddings.shape == (1, detector.reference.shape[1])
    assert detector.score(embeddings).shape == (1,)
    # The int8 model beside it, calibrated on the training images and scored on the same test images.
    assert version.quantization["calibration_images"] == 20
    assert version.quantization["test_images"] == 2
    assert version.quantization["accuracy"] == version.metrics["accuracy"]
    assert version.metrics["accuracy_int8"] == version.quantization["accuracy_int8"] is not None
    assert job.report["serving_model"] == version_serving_choice(version=version).model
    with default_storage.open(version.tflite_int8_file.name, "rb") as file:
        int8 = TFLitePredictor(file.read())
    int8_probabilities, int8_embeddings = int8.predict(prepare_image(_png((220, 20, 20), 999), int8.input_size))
    assert int8_probabilities.sum() == pytest.approx(1.0, abs=1e-3)
    assert int8_embeddings.shape == embeddings.shape


def test_a_failed_quantization_leaves_a_ready_version_serving_float_with_the_reason(
    dataset, user, django_capture_on_commit_callbacks, monkeypatch
):
    def refuse(*args, **kwargs):
        raise quantize.QuantizationFailed("the int8 conversion failed: no int8 kernel for HARD_SWISH")

    monkeypatch.setattr(quantize, "export_tflite_int8", refuse)
    version, job = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert version.status == ModelVersion.Status.READY
    assert not version.tflite_int8_file
    assert version.quantization == {
        "error": "The int8 quantization failed, so the float model serves: the int8 conversion failed: no int8 "
        "kernel for HARD_SWISH"
    }
    assert version.metrics["accuracy_int8"] is None and version.metrics["accuracy"] is not None
    choice = version_serving_choice(version=version)
    assert (choice.model, job.report["serving_model"]) == ("float", "float")
    assert "no int8 kernel for HARD_SWISH" in choice.reason == job.report["serving_reason"]
    assert version_predict(version=version, image_bytes=_png((220, 20, 20), 999))["serving_model"] == "float"


def test_a_later_version_waits_to_be_promoted(dataset, user, django_capture_on_commit_callbacks):
    first, _ = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)
    second, _ = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)

    assert (first.number, second.number) == (1, 2)
    first.refresh_from_db()
    assert first.is_active and not second.is_active


def test_missing_pretrained_weights_are_refused_before_a_job_exists_and_the_active_version_stays(
    dataset, user, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    active, _ = _train(dataset, user, django_capture_on_commit_callbacks, epochs=1)
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "no-weights"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    with pytest.raises(ValidationError) as refused:
        model_version_create(dataset=dataset, requested_by=user, options={**TINY, "backbone": "resnet50",
                                                                          "weights": "imagenet"})

    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in refused.value.message_dict["backbone"][0]
    assert list(ModelVersion.objects.values_list("number", flat=True)) == [1]
    active.refresh_from_db()
    assert active.is_active


def test_weights_that_went_missing_after_submission_fail_the_job_naming_the_file(
    dataset, user, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    # Allowed to download at submission (an online install), offline when the worker runs.
    settings.SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS = True
    settings.SIGHTLINE_WEIGHTS_DIR = tmp_path / "no-weights"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr("keras.utils.get_file", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))

    failed, job = _train(dataset, user, django_capture_on_commit_callbacks, backbone="resnet50", weights="imagenet",
                         image_size=32)

    assert job.status == Job.Status.FAILED
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in job.error
    assert failed.status == ModelVersion.Status.FAILED


def test_cancelling_during_training_ends_the_job_and_version_cancelled(
    dataset, user, django_capture_on_commit_callbacks, monkeypatch
):
    original = JobObserver.on_epoch_end

    def cancel_after_first_epoch(self, epoch, phase, logs):
        original(self, epoch, phase, logs)
        job_cancel(job=self.job)

    monkeypatch.setattr(JobObserver, "on_epoch_end", cancel_after_first_epoch)
    version, job = _train(dataset, user, django_capture_on_commit_callbacks, epochs=5)

    assert job.status == Job.Status.CANCELLED
    assert version.status == ModelVersion.Status.CANCELLED
    # Progress writes are throttled, so the cancel is seen within the next epoch at the latest.
    assert EpochMetric.objects.filter(job=job).count() <= 2
    assert not version.is_active
