"""Prediction services: one image now or queued, the answer rule, unknown images, ensembles aligned by
class name, feedback, adding a wrong answer's image to the dataset, and batch predictions of a ZIP.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import csv
import io
import os
import subprocess
import sys
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from classifier.ml.images import CENTER_CROP
from classifier.models import DatasetImage, LabelClass, ModelVersion, Prediction
from classifier.services import batch_predictions
from classifier.services.batch_predictions import batch_prediction_start
from classifier.services.predictions import (
    PredictionNotReady,
    prediction_add_to_dataset,
    prediction_answer,
    prediction_create,
    prediction_ensemble_create,
    prediction_feedback,
    prediction_queue,
    predictions_reap,
)
from classifier.services.serving import VersionNotServable, version_predict, version_serving
from classifier.tasks import run_prediction
from tests.classifier.conftest import Route
from tests.factories import DatasetFactory, LabelClassFactory, UserFactory, image_bytes
from tests.models import OTHER_CLASSES, PRIMARY_CLASSES
from training_jobs.models import Job
from training_jobs.tasks import reap_jobs

pytestmark = pytest.mark.django_db

RED, GREEN, BLUE, GREY = (255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Colours")


@pytest.fixture
def version(dataset, make_ready_version):
    return make_ready_version(dataset, is_active=True)


def _png(color) -> bytes:
    return image_bytes(color=color, fmt="PNG")


def _labels(rows: list[dict]) -> list[str]:
    return [row["label"] for row in rows]


# One image, now


def test_prediction_is_calibrated_sorted_and_cut_to_top_k(version):
    everything = version_predict(version=version, image_bytes=_png(RED), top_k=3)
    top_two = version_predict(version=version, image_bytes=_png(RED), top_k=2)

    probabilities = [row["probability"] for row in everything["predictions"]]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert probabilities == sorted(probabilities, reverse=True)
    assert _labels(everything["predictions"])[0] == "red"
    assert top_two["predictions"] == everything["predictions"][:2]
    assert everything["latency_ms"] > 0


def test_top_k_defaults_to_five_capped_at_the_class_count(version):
    assert len(version_predict(version=version, image_bytes=_png(BLUE))["predictions"]) == 3


@pytest.mark.parametrize("top_k", [0, 4, -1])
def test_top_k_outside_the_classes_is_refused(version, top_k):
    with pytest.raises(ValidationError) as caught:
        version_predict(version=version, image_bytes=_png(RED), top_k=top_k)
    assert "between 1 and 3" in caught.value.message_dict["top_k"][0]


def test_an_image_unlike_the_training_images_is_unknown(version):
    known = version_predict(version=version, image_bytes=_png(GREEN))
    unknown = version_predict(version=version, image_bytes=_png(GREY))

    assert known["is_unknown"] is False
    assert unknown["is_unknown"] is True
    assert unknown["unknown_score"] > known["unknown_score"]


def test_a_version_without_a_detector_never_says_unknown(dataset, make_ready_version):
    version = make_ready_version(dataset, detector=False)

    result = version_predict(version=version, image_bytes=_png(GREY))

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

    default = prediction_create(owner=user, model_version=version, image_bytes=_png(DULL_RED), filename="a.png")
    asked = prediction_create(
        owner=user, model_version=version, image_bytes=_png(DULL_RED), filename="b.png", threshold=0.5
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
        version_predict(version=version, image_bytes=_png(RED))


def test_a_version_is_loaded_once_per_process(version):
    first = version_serving(version=version)
    again = version_serving(version=ModelVersion.objects.get(id=version.id))

    assert again.predictor is first.predictor
    assert again.detector is first.detector


def test_a_new_model_file_is_served_instead_of_the_cached_one(version, make_ready_version, dataset):
    assert _labels(version_predict(version=version, image_bytes=_png(RED))["predictions"])[0] == "red"
    replacement = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    # The same version row now points at another model file (re-exported, say): it must be reloaded.
    version.tflite_file = replacement.tflite_file.name
    version.class_names = list(OTHER_CLASSES)
    result = version_predict(version=version, image_bytes=_png(BLUE), top_k=3)

    assert set(_labels(result["predictions"])) == set(OTHER_CLASSES)
    assert result["predictions"][0] == {"label": "blue", "probability": pytest.approx(0.995, abs=0.01)}


def test_prediction_create_stores_the_image_and_the_answer(user, version):
    prediction = prediction_create(
        owner=user, model_version=version, image_bytes=_png(RED), filename="red.png", top_k=2, threshold=0.7
    )

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.SUCCEEDED
    assert prediction.image.name.startswith(f"predictions/{user.id}/")
    assert default_storage.open(prediction.image.name).read() == _png(RED)
    assert _labels(prediction.results) == ["red", "green"]
    assert prediction.is_unknown is False
    assert prediction.latency_ms > 0
    assert prediction.details == {"threshold": 0.7, "filename": "red.png"}


def test_an_image_that_does_not_decode_is_refused_and_nothing_is_stored(user, version):
    with pytest.raises(ValidationError) as caught:
        prediction_create(owner=user, model_version=version, image_bytes=b"not an image", filename="notes.txt")

    assert "notes.txt is not an image" in caught.value.message_dict["image"][0]
    assert not Prediction.objects.exists()


def test_a_refused_url_names_the_url(user, version):
    with pytest.raises(ValidationError) as caught:
        prediction_create(owner=user, model_version=version, source_url="http://127.0.0.1/admin/")

    assert "a loopback address" in caught.value.message_dict["url"][0]


def test_a_url_is_fetched_and_recorded(user, version, image_server):
    image_server.routes["/photos/leaf.png"] = Route(body=_png(GREEN), headers={"Content-Type": "image/png"})

    prediction = prediction_create(owner=user, model_version=version, source_url=image_server.url("/photos/leaf.png"))

    assert prediction.results[0]["label"] == "green"
    assert prediction.source_url == image_server.url("/photos/leaf.png")
    assert prediction.details["filename"] == "leaf.png"


# The answer rule


@pytest.mark.parametrize(
    ("predictions", "is_unknown", "threshold", "kind", "labels"),
    [
        (
            [{"label": "beagle", "probability": 0.8}, {"label": "basset", "probability": 0.1}],
            False,
            0.5,
            "confident",
            ["beagle"],
        ),
        (
            [{"label": "beagle", "probability": 0.45}, {"label": "basset", "probability": 0.4}],
            False,
            0.5,
            "uncertain",
            ["beagle", "basset"],
        ),
        (
            [{"label": "beagle", "probability": 0.8}, {"label": "basset", "probability": 0.1}],
            False,
            0.9,
            "uncertain",
            ["beagle", "basset"],
        ),
        ([{"label": "beagle", "probability": 0.4}], False, 0.5, "uncertain", ["beagle"]),
        ([{"label": "beagle", "probability": 0.99}], True, 0.5, "unknown", []),
        ([], False, 0.5, "none", []),
    ],
)
def test_the_answer_is_one_class_above_the_threshold_else_the_top_two(predictions, is_unknown, threshold, kind, labels):
    answer = prediction_answer(predictions, is_unknown=is_unknown, threshold=threshold)

    assert (answer["kind"], answer["labels"]) == (kind, labels)
    assert answer["text"]


def test_a_threshold_outside_zero_to_one_is_refused():
    with pytest.raises(ValidationError) as caught:
        prediction_answer([], is_unknown=False, threshold=1.5)
    assert "threshold" in caught.value.message_dict


# Queued


def test_a_queued_prediction_runs_on_the_worker_once(user, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        prediction = prediction_queue(owner=user, model_version=version, image_bytes=_png(BLUE), filename="b.png")

    assert len(callbacks) == 1
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.SUCCEEDED
    assert prediction.results[0]["label"] == "blue"
    finished = (prediction.results, prediction.latency_ms)

    # Delivered a second time: nothing changes.
    run_prediction.apply(args=[prediction.id])
    prediction.refresh_from_db()
    assert (prediction.results, prediction.latency_ms) == finished


def test_a_queued_url_is_fetched_by_the_worker_and_its_refusal_recorded(
    user, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        prediction = prediction_queue(owner=user, model_version=version, source_url="http://169.254.169.254/latest/")

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert "169.254.169.254, a link-local address" in prediction.error
    assert not prediction.image


def test_a_queued_url_is_stored_with_its_prediction(user, version, image_server, django_capture_on_commit_callbacks):
    image_server.routes["/r.png"] = Route(body=_png(RED), headers={"Content-Type": "image/png"})

    with django_capture_on_commit_callbacks(execute=True):
        prediction = prediction_queue(owner=user, model_version=version, source_url=image_server.url("/r.png"))

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.SUCCEEDED
    assert default_storage.open(prediction.image.name).read() == _png(RED)


def test_a_prediction_whose_version_was_deleted_fails(user, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        prediction = prediction_queue(owner=user, model_version=version, image_bytes=_png(RED), filename="r.png")
    ModelVersion.objects.filter(id=version.id).delete()
    for callback in callbacks:
        callback()

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert "deleted" in prediction.error


def test_queueing_checks_what_it_can_at_once(user, dataset, make_ready_version):
    training = make_ready_version(dataset, status=ModelVersion.Status.TRAINING)
    ready = make_ready_version(dataset, number=2)

    with pytest.raises(VersionNotServable):
        prediction_queue(owner=user, model_version=training, image_bytes=_png(RED))
    with pytest.raises(ValidationError) as caught:
        prediction_queue(owner=user, model_version=ready, source_url="gopher://example.com/")
    assert "url" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        prediction_queue(owner=user, model_version=ready, image_bytes=_png(RED), top_k=9)
    assert "top_k" in caught.value.message_dict
    assert not Prediction.objects.exists()


def _lose_the_task(*predictions) -> None:
    # Queued, but their tasks never reached the broker: the on-commit callbacks that send them are dropped.
    Prediction.objects.filter(id__in=[p.id for p in predictions]).update(
        created_at=timezone.now() - timedelta(minutes=5), sent_at=None
    )


def test_a_queued_prediction_whose_task_was_lost_is_sent_again_by_the_reaper(
    user, version, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        lost = prediction_queue(owner=user, model_version=version, image_bytes=_png(RED), filename="r.png")
    _lose_the_task(lost)

    assert reap_jobs.apply().get()["repaired"] == 1

    lost.refresh_from_db()
    assert (lost.status, lost.results[0]["label"], lost.attempts) == (Prediction.Status.SUCCEEDED, "red", 1)


def test_a_prediction_waiting_behind_long_jobs_is_not_failed(user, version, settings, monkeypatch):
    settings.SIGHTLINE_JOB_RESEND_SECONDS = 900
    # Sent, but every cpu worker is busy with long imports: it just waits.
    monkeypatch.setattr("classifier.tasks.run_prediction.apply_async", lambda *a, **k: None)
    waiting = prediction_queue(owner=user, model_version=version, image_bytes=_png(RED), filename="r.png")
    Prediction.objects.filter(id=waiting.id).update(
        created_at=timezone.now() - timedelta(hours=2), sent_at=timezone.now() - timedelta(minutes=10)
    )

    assert predictions_reap() == 0
    assert Prediction.objects.get(id=waiting.id).status == Prediction.Status.QUEUED


def test_a_prediction_no_worker_ran_within_the_longest_wait_fails(user, version, settings, monkeypatch):
    settings.SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS = 3600
    monkeypatch.setattr("classifier.tasks.run_prediction.apply_async", lambda *a, **k: None)
    expired = prediction_queue(owner=user, model_version=version, image_bytes=_png(RED), filename="r.png")
    Prediction.objects.filter(id=expired.id).update(created_at=timezone.now() - timedelta(hours=2))
    finished = prediction_create(owner=user, model_version=version, image_bytes=_png(GREEN), filename="g.png")
    Prediction.objects.filter(id=finished.id).update(created_at=timezone.now() - timedelta(hours=2))

    assert predictions_reap() == 1

    expired.refresh_from_db()
    assert expired.status == Prediction.Status.FAILED
    assert expired.error == "No worker ran this prediction within 1 hours; it was marked failed. Send the image again."
    assert Prediction.objects.get(id=finished.id).status == Prediction.Status.SUCCEEDED
    # The task turns up after all: the prediction stays failed.
    run_prediction.apply(args=[expired.id])
    expired.refresh_from_db()
    assert (expired.status, expired.results) == (Prediction.Status.FAILED, [])


def test_a_prediction_whose_worker_was_lost_runs_again_then_fails_after_the_last_attempt(
    user, version, settings, monkeypatch
):
    settings.SIGHTLINE_JOB_MAX_ATTEMPTS = 2
    sent = []
    monkeypatch.setattr("classifier.tasks.run_prediction.apply_async", lambda args, **k: sent.append(args[0]))
    prediction = prediction_queue(owner=user, model_version=version, image_bytes=_png(RED), filename="r.png")
    # Two workers took it and died in the middle.
    Prediction.objects.filter(id=prediction.id).update(attempts=2, started_at=timezone.now() - timedelta(hours=1))

    assert predictions_reap() == 1
    assert sent == [prediction.id]
    run_prediction.apply(args=[prediction.id])

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.FAILED
    assert prediction.error == (
        "The worker running this prediction was lost 2 times; send the image again, or a smaller one."
    )


# Ensembles


def test_an_ensemble_averages_the_same_classes_aligned_by_class_name(user, dataset, make_ready_version):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=PRIMARY_CLASSES)
    # The same classes in another order: the columns follow the names, not the positions.
    ModelVersion.objects.filter(id=second.id).update(class_names=list(reversed(PRIMARY_CLASSES)))
    second.refresh_from_db()
    members = {
        version.id: version_predict(version=version, image_bytes=_png(RED), top_k=3)["predictions"]
        for version in (first, second)
    }

    prediction = prediction_ensemble_create(
        owner=user, model_versions=[first, second], image_bytes=_png(RED), filename="r.png", top_k=3
    )

    expected = dict.fromkeys(PRIMARY_CLASSES, 0.0)
    for rows in members.values():
        for row in rows:
            expected[row["label"]] += row["probability"] / 2
    ensemble = {row["label"]: row["probability"] for row in prediction.results}
    assert ensemble == pytest.approx(expected, abs=1e-6)
    assert sum(ensemble.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.ensemble_version_ids == [first.id, second.id]
    assert prediction.model_version is None
    recorded = prediction.details["members"]
    assert [member["model_version"] for member in recorded] == [first.id, second.id]
    assert [member["predictions"] for member in recorded] == [members[first.id], members[second.id]]
    assert prediction.details["shared_classes_only"] is False


def test_versions_of_different_classes_are_refused_naming_each_and_nothing_is_stored(
    user, dataset, make_ready_version
):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=[first, second], image_bytes=_png(RED))

    message = caught.value.message_dict["model_versions"][0]
    assert '"Colours" v1 (3 classes), "Colours" v2 (3 classes)' in message
    assert "shared_classes_only" in message and "the 2 they all know" in message
    assert not Prediction.objects.exists()


def test_shared_classes_only_averages_each_versions_probabilities_over_the_shared_ones(
    user, dataset, make_ready_version
):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    second = make_ready_version(dataset, number=2, classes=OTHER_CLASSES)
    predicted = [version_predict(version=version, image_bytes=_png(RED))["predictions"] for version in (first, second)]
    members = [{row["label"]: row["probability"] for row in rows} for rows in predicted]

    prediction = prediction_ensemble_create(
        owner=user, model_versions=[first, second], image_bytes=_png(RED), shared_classes_only=True
    )

    # red and blue are all they share; each version's two are rescaled to sum to 1, then averaged.
    expected = {
        name: sum(member[name] / (member["red"] + member["blue"]) for member in members) / 2 for name in ("red", "blue")
    }
    assert {row["label"]: row["probability"] for row in prediction.results} == pytest.approx(expected, abs=1e-6)
    assert prediction.top_k == 2
    assert prediction.details["shared_classes_only"] is True


def test_shared_classes_only_needs_two_shared_classes(user, dataset, make_ready_version):
    first = make_ready_version(dataset, classes=PRIMARY_CLASSES)
    faces = make_ready_version(DatasetFactory(owner=user, name="Faces"), classes=PRIMARY_CLASSES)
    ModelVersion.objects.filter(id=faces.id).update(class_names=["face", "red"])
    faces.refresh_from_db()

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(
            owner=user, model_versions=[first, faces], image_bytes=_png(RED), shared_classes_only=True
        )

    message = caught.value.message_dict["model_versions"][0]
    assert "share 1 class (red)" in message and '"Faces" v1 (2 classes)' in message and "at least 2" in message
    assert not Prediction.objects.exists()


def test_an_ensemble_without_a_threshold_uses_its_versions_mean(user, dataset, make_ready_version):
    versions = [
        make_ready_version(dataset, number, calibration={"answer_threshold": threshold})
        for number, threshold in ((1, 0.25), (2, 0.45))
    ]

    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(RED))

    assert prediction.details["threshold"] == 0.35


def test_an_ensemble_is_unknown_only_when_every_member_says_so(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]

    grey = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(GREY), filename="g.png")
    blue = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(BLUE), filename="b.png")

    assert grey.is_unknown is True
    assert blue.is_unknown is False


@pytest.mark.parametrize("count", [1, 6])
def test_an_ensemble_needs_two_to_five_versions(user, dataset, make_ready_version, count):
    versions = [make_ready_version(dataset, number=number) for number in range(1, count + 1)]

    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(RED))
    assert "2 to 5" in caught.value.message_dict["model_versions"][0]


def test_an_ensemble_refuses_the_same_version_twice(user, version):
    with pytest.raises(ValidationError) as caught:
        prediction_ensemble_create(owner=user, model_versions=[version, version], image_bytes=_png(RED))
    assert "only once" in caught.value.message_dict["model_versions"][0]


# Feedback and adding to the dataset


def _prediction(user, version, color=RED) -> Prediction:
    return prediction_create(owner=user, model_version=version, image_bytes=_png(color), filename="photo.png")


def test_feedback_is_recorded(user, version):
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="  green ")
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (False, "green")

    prediction_feedback(prediction=prediction, is_correct=True, correct_label="ignored")
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (True, "")


def test_feedback_names_a_class_as_it_is_spelled(user, dataset, version):
    LabelClassFactory(dataset=dataset, name="Violet")
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="GREEN")
    assert Prediction.objects.get(id=prediction.id).correct_label == "green"
    # A class of the dataset that the version was not trained on is a class too.
    prediction_feedback(prediction=prediction, is_correct=False, correct_label="violet")
    assert Prediction.objects.get(id=prediction.id).correct_label == "Violet"


def test_feedback_refuses_a_typo_and_names_the_classes(user, dataset, version):
    prediction = _prediction(user, version)

    with pytest.raises(ValidationError) as caught:
        prediction_feedback(prediction=prediction, is_correct=False, correct_label="gren")

    message = caught.value.message_dict["correct_label"][0]
    assert '"gren" is not a class of "Colours" v1' in message
    assert 'Did you mean "green"?' in message
    assert "Its classes: blue, green, red." in message
    assert "new_class" in message
    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (None, "")
    assert not LabelClass.objects.exists()


def test_feedback_names_a_new_class_only_when_asked(user, version):
    prediction = _prediction(user, version)

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="crimson", new_class=True)

    prediction.refresh_from_db()
    assert (prediction.is_correct, prediction.correct_label) == (False, "crimson")
    # Feedback only records the name: the class is made when the image is added, if ever.
    assert not LabelClass.objects.exists()


def test_feedback_on_an_ensemble_names_a_class_of_its_versions(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]
    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(RED))

    prediction_feedback(prediction=prediction, is_correct=False, correct_label="blue")
    assert Prediction.objects.get(id=prediction.id).correct_label == "blue"
    with pytest.raises(ValidationError, match='"bleu" is not a class of these versions'):
        prediction_feedback(prediction=prediction, is_correct=False, correct_label="bleu")


def test_feedback_needs_an_answer(user, version):
    queued = Prediction.objects.create(owner=user, model_version=version)

    with pytest.raises(PredictionNotReady):
        prediction_feedback(prediction=queued, is_correct=True)


def test_a_wrong_answer_becomes_a_training_image(user, dataset, version):
    crimson = LabelClassFactory(dataset=dataset, name="crimson")
    prediction = _prediction(user, version)

    image = prediction_add_to_dataset(prediction=prediction, label_name="Crimson")

    assert (image.dataset, image.label, image.origin) == (dataset, crimson, DatasetImage.Origin.UPLOAD)
    assert image.original_name == "photo.png"
    assert default_storage.open(image.file.name).read() == _png(RED)
    assert LabelClass.objects.filter(dataset=dataset).count() == 1
    prediction.refresh_from_db()
    assert prediction.added_image == image
    # The dataset already holds this picture now.
    with pytest.raises(ValidationError, match="same picture"):
        prediction_add_to_dataset(prediction=prediction, label_name="crimson")


def test_adding_under_a_name_the_dataset_lacks_creates_no_class_unless_asked(user, dataset, version):
    LabelClassFactory(dataset=dataset, name="green")
    prediction = _prediction(user, version)

    # "red" is a class the version knows but the dataset no longer has: re-creating it is a new class too.
    for name in ("gren", "red"):
        with pytest.raises(ValidationError) as caught:
            prediction_add_to_dataset(prediction=prediction, label_name=name)
        message = caught.value.message_dict["label"][0]
        assert f'"{name}" is not a class of "Colours".' in message
        assert "Its classes: green." in message
    assert list(LabelClass.objects.values_list("name", flat=True)) == ["green"]
    assert not DatasetImage.objects.exists()

    image = prediction_add_to_dataset(prediction=prediction, label_name="crimson", new_class=True)

    assert image.label.name == "crimson"
    assert sorted(LabelClass.objects.values_list("name", flat=True)) == ["crimson", "green"]


def test_a_refusal_names_at_most_thirty_classes(user, dataset, version):
    for number in range(40):
        LabelClassFactory(dataset=dataset, name=f"class {number:02d}")

    with pytest.raises(ValidationError) as caught:
        prediction_add_to_dataset(prediction=_prediction(user, version), label_name="purple")

    classes_named = caught.value.message_dict["label"][0].split("Its classes: ")[1]
    assert classes_named.startswith("class 00, class 01,")
    assert "class 29 and 10 more." in classes_named
    assert "class 30" not in classes_named


def test_a_public_dataset_takes_images_from_staff_only(other_user, staff_user, make_ready_version):
    public = DatasetFactory(owner=UserFactory(username="sightline"), name="ImageNet-1k", is_public=True)
    version = make_ready_version(public)

    with pytest.raises(PermissionDenied, match="only staff"):
        prediction_add_to_dataset(prediction=_prediction(other_user, version), label_name="red", new_class=True)
    assert not DatasetImage.objects.filter(dataset=public).exists()

    image = prediction_add_to_dataset(
        prediction=_prediction(staff_user, version, BLUE), label_name="blue", new_class=True
    )
    assert image.dataset == public


def test_an_ensemble_prediction_has_no_dataset_to_add_to(user, dataset, make_ready_version):
    versions = [make_ready_version(dataset), make_ready_version(dataset, number=2)]
    prediction = prediction_ensemble_create(owner=user, model_versions=versions, image_bytes=_png(RED))

    with pytest.raises(ValidationError, match="no single model version"):
        prediction_add_to_dataset(prediction=prediction, label_name="red")


# Batch predictions


def _zip(members: dict[str, bytes]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return SimpleUploadedFile("photos.zip", buffer.getvalue(), content_type="application/zip")


def _csv_rows(job: Job) -> list[dict]:
    with default_storage.open(job.result_file.name) as stored:
        return list(csv.DictReader(io.StringIO(stored.read().decode("utf-8"))))


def test_a_batch_prediction_writes_a_csv_row_per_file(user, version, django_capture_on_commit_callbacks):
    archive = _zip(
        {
            "red.png": _png(RED),
            "shades/blue.jpg": image_bytes(color=BLUE),
            "shades/grey.png": _png(GREY),
            "notes.txt": b"not an image",
            "broken.jpg": image_bytes(color=GREEN)[:60],
            "__MACOSX/._red.png": b"resource fork",
        }
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert (job.kind, job.status, job.model_version, job.requested_by) == ("batch_predict", "succeeded", version, user)
    rows = _csv_rows(job)
    assert list(rows[0]) == ["filename", "label", "probability", "is_unknown", "error"]
    by_name = {row["filename"]: row for row in rows}
    assert list(by_name) == ["red.png", "shades/blue.jpg", "shades/grey.png", "notes.txt", "broken.jpg"]
    assert (by_name["red.png"]["label"], by_name["red.png"]["is_unknown"], by_name["red.png"]["error"]) == (
        "red",
        "false",
        "",
    )
    assert float(by_name["red.png"]["probability"]) > 0.9
    assert by_name["shades/blue.jpg"]["label"] == "blue"
    assert by_name["shades/grey.png"]["is_unknown"] == "true"
    assert "notes.txt is not an image" in by_name["notes.txt"]["error"]
    assert by_name["notes.txt"]["label"] == ""
    assert "broken.jpg" in by_name["broken.jpg"]["error"]
    assert job.report["total"] == 5
    assert (job.report["predicted"], job.report["unknown"], job.report["failed"]) == (3, 1, 2)
    assert sum(job.report["classes"].values()) == 3
    assert [entry["filename"] for entry in job.report["rejected"]] == ["notes.txt", "broken.jpg"]
    # The uploaded archive is gone; the CSV stays for download.
    assert not default_storage.exists(job.params["archive"])


def test_a_batch_predicts_in_batches_and_reports_progress(
    user, version, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(batch_predictions, "BATCH_SIZE", 2)
    calls = []
    real_answer = batch_predictions.ServingModel.answer

    def counting_answer(self, pixels):
        calls.append(len(pixels))
        return real_answer(self, pixels)

    monkeypatch.setattr(batch_predictions.ServingModel, "answer", counting_answer)
    archive = _zip({f"{index}.png": _png((index * 40, 0, 255)) for index in range(5)})

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert job.status == "succeeded"
    # Chunks run on several cores at once, so they may finish in any order.
    assert sorted(calls) == [1, 2, 2]
    assert len(_csv_rows(job)) == 5


def test_a_zip_bomb_fails_the_batch_before_anything_is_predicted(
    user, version, settings, django_capture_on_commit_callbacks
):
    settings.SIGHTLINE_MAX_ARCHIVE_MEMBERS = 2
    archive = _zip({f"{index}.png": _png(RED) for index in range(3)})

    with django_capture_on_commit_callbacks(execute=True):
        job = batch_prediction_start(owner=user, model_version=version, archive=archive)

    job.refresh_from_db()
    assert job.status == "failed"
    assert "the limit is 2" in job.error
    assert not job.result_file


def test_a_batch_needs_a_ready_version_and_a_zip(user, dataset, make_ready_version):
    failed = make_ready_version(dataset, status=ModelVersion.Status.FAILED)
    ready = make_ready_version(dataset, number=2)

    with pytest.raises(VersionNotServable):
        batch_prediction_start(owner=user, model_version=failed, archive=_zip({"a.png": _png(RED)}))
    with pytest.raises(ValidationError) as caught:
        batch_prediction_start(
            owner=user, model_version=ready, archive=SimpleUploadedFile("photos.zip", b"not a zip at all")
        )
    assert "not a ZIP archive" in caught.value.message_dict["archive"][0]
    assert not Job.objects.exists()


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
    image.write_bytes(_png(RED))
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
