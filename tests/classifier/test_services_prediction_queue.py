"""Queued predictions: run once on the worker, URLs fetched there, and the reaper that resends a lost
task or fails a prediction no worker finished.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from classifier.models import ModelVersion, Prediction
from classifier.services.prediction_queue import prediction_queue, predictions_reap
from classifier.services.predictions import prediction_create
from classifier.services.serving import VersionNotServable
from classifier.tasks import run_prediction
from tests.classifier.conftest import Route
from tests.classifier.prediction_support import BLUE, GREEN, RED, png
from training_jobs.tasks import reap_jobs

pytestmark = pytest.mark.django_db


# Queued


def test_a_queued_prediction_runs_on_the_worker_once(user, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        prediction = prediction_queue(owner=user, model_version=version, image_bytes=png(BLUE), filename="b.png")

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
    image_server.routes["/r.png"] = Route(body=png(RED), headers={"Content-Type": "image/png"})

    with django_capture_on_commit_callbacks(execute=True):
        prediction = prediction_queue(owner=user, model_version=version, source_url=image_server.url("/r.png"))

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.SUCCEEDED
    assert default_storage.open(prediction.image.name).read() == png(RED)


def test_a_prediction_whose_version_was_deleted_fails(user, version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        prediction = prediction_queue(owner=user, model_version=version, image_bytes=png(RED), filename="r.png")
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
        prediction_queue(owner=user, model_version=training, image_bytes=png(RED))
    with pytest.raises(ValidationError) as caught:
        prediction_queue(owner=user, model_version=ready, source_url="gopher://example.com/")
    assert "url" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        prediction_queue(owner=user, model_version=ready, image_bytes=png(RED), top_k=9)
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
        lost = prediction_queue(owner=user, model_version=version, image_bytes=png(RED), filename="r.png")
    _lose_the_task(lost)

    assert reap_jobs.apply().get()["repaired"] == 1

    lost.refresh_from_db()
    assert (lost.status, lost.results[0]["label"], lost.attempts) == (Prediction.Status.SUCCEEDED, "red", 1)


def test_a_prediction_waiting_behind_long_jobs_is_not_failed(user, version, settings, monkeypatch):
    settings.SIGHTLINE_JOB_RESEND_SECONDS = 900
    # Sent, but every cpu worker is busy with long imports: it just waits.
    monkeypatch.setattr("classifier.tasks.run_prediction.apply_async", lambda *a, **k: None)
    waiting = prediction_queue(owner=user, model_version=version, image_bytes=png(RED), filename="r.png")
    Prediction.objects.filter(id=waiting.id).update(
        created_at=timezone.now() - timedelta(hours=2), sent_at=timezone.now() - timedelta(minutes=10)
    )

    assert predictions_reap() == 0
    assert Prediction.objects.get(id=waiting.id).status == Prediction.Status.QUEUED


def test_a_prediction_no_worker_ran_within_the_longest_wait_fails(user, version, settings, monkeypatch):
    settings.SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS = 3600
    monkeypatch.setattr("classifier.tasks.run_prediction.apply_async", lambda *a, **k: None)
    expired = prediction_queue(owner=user, model_version=version, image_bytes=png(RED), filename="r.png")
    Prediction.objects.filter(id=expired.id).update(created_at=timezone.now() - timedelta(hours=2))
    finished = prediction_create(owner=user, model_version=version, image_bytes=png(GREEN), filename="g.png")
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
    prediction = prediction_queue(owner=user, model_version=version, image_bytes=png(RED), filename="r.png")
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
