"""Queues by cost: each job kind and task goes to the queue of what it costs, and a batch prediction and a
queued prediction run on an inference worker while a training holds the gpu queue, through the configured
broker (Redis in CI, the filesystem transport locally) with a real worker."""

import io
import time
import zipfile

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import ModelVersion, Prediction
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from training_jobs.kinds import job_kind_get
from training_jobs.models import Job
from training_jobs.services import job_cancel
from webapp.celery import app as celery_app


@pytest.mark.parametrize(
    ("kind", "queue"),
    [
        (Job.Kind.IMPORT, "cpu"),
        (Job.Kind.AUGMENT, "cpu"),
        (Job.Kind.TRAIN, "gpu"),
        (Job.Kind.LABEL_ISSUES, "gpu"),
        (Job.Kind.BATCH_PREDICT, "inference"),
        (Job.Kind.SCORE, "inference"),
    ],
)
def test_each_job_kind_goes_to_the_queue_of_its_cost(kind, queue):
    assert job_kind_get(kind).queue == queue


def test_queued_predictions_are_routed_to_the_inference_queue():
    routed = celery_app.amqp.router.route({}, "classifier.tasks.run_prediction", args=[1])
    assert (
        routed["queue"].name == "inference" == settings.CELERY_TASK_ROUTES["classifier.tasks.run_prediction"]["queue"]
    )


def _archive() -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("red.png", image_bytes(color=(250, 10, 10), fmt="PNG"))
        archive.writestr("blue.png", image_bytes(color=(10, 10, 250), fmt="PNG"))
    buffer.seek(0)
    buffer.name = "photos.zip"
    return buffer


def _wait(condition, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_batch_prediction_runs_while_a_training_holds_the_gpu_queue(user, user_api, make_ready_version):
    version = make_ready_version(DatasetFactory(owner=user, name="Colours"))
    trainable = DatasetFactory(owner=user, name="Birds")
    for class_name in ("robin", "wren"):
        label = LabelClassFactory(dataset=trainable, name=class_name)
        for split in ("train", "val"):
            DatasetImageFactory(dataset=trainable, label=label, split=split)
    # The training is sent to the gpu queue, which no worker here consumes: it stands for a gpu worker
    # busy with a long training.
    training = user_api.post(f"/api/v1/datasets/{trainable.id}/model-versions/", {}, format="json")
    assert training.status_code == 202, training.content
    training_job = Job.objects.get(kind=Job.Kind.TRAIN, requested_by=user)
    assert training_job.enqueued_at is not None
    try:
        with start_worker(celery_app, queues=["inference"], perform_ping_check=False, shutdown_timeout=30):
            batch = user_api.post(
                f"/api/v1/model-versions/{version.id}/batch-predictions/", {"archive": _archive()}, format="multipart"
            )
            assert batch.status_code == 202, batch.content
            queued = user_api.post(
                "/api/v1/predictions/",
                {"model_version": version.id, "image": SimpleUploadedFile("g.png", image_bytes(fmt="PNG"))},
                format="multipart",
            )
            assert queued.status_code == 202, queued.content
            prediction_id = queued.json()["id"]
            batch_job = Job.objects.get(id=batch.json()["job"]["id"])
            _wait(lambda: Job.objects.get(id=batch_job.id).is_finished)
            _wait(lambda: Prediction.objects.get(id=prediction_id).status != Prediction.Status.QUEUED)

        batch_job.refresh_from_db()
        assert (batch_job.status, batch_job.report["predicted"]) == (Job.Status.SUCCEEDED, 2), batch_job.error
        assert Prediction.objects.get(id=prediction_id).status == Prediction.Status.SUCCEEDED
        training_job.refresh_from_db()
        assert training_job.status == Job.Status.QUEUED, "no inference worker may take a training"
        assert ModelVersion.objects.get(id=training_job.model_version_id).status == ModelVersion.Status.QUEUED
    finally:
        job_cancel(job=Job.objects.get(id=training_job.id))
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_purge("gpu")
