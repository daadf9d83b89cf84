"""Stored predictions (``prediction_create``) of an upload or a URL, and the answer rule that turns
probabilities into one class, two, or unknown.

The models are real: tiny colour classifiers exported to TFLite (see conftest), served through
LiteRT exactly as in production.
"""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError

from classifier.models import Prediction
from classifier.services import predictions
from classifier.services.predictions import prediction_answer, prediction_create
from tests.classifier.conftest import Route
from tests.classifier.prediction_support import GREEN, RED, labels_of, png
from webapp import storage_writes
from webapp.storage import stored_names
from webapp.storage_writes import stored_file_put

pytestmark = pytest.mark.django_db


def test_prediction_create_stores_the_image_and_the_answer(user, version):
    prediction = prediction_create(
        owner=user, model_version=version, image_bytes=png(RED), filename="red.png", top_k=2, threshold=0.7
    )

    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.SUCCEEDED
    assert prediction.image.name.startswith(f"predictions/{user.id}/")
    assert default_storage.open(prediction.image.name).read() == png(RED)
    assert labels_of(prediction.results) == ["red", "green"]
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
    image_server.routes["/photos/leaf.png"] = Route(body=png(GREEN), headers={"Content-Type": "image/png"})

    prediction = prediction_create(owner=user, model_version=version, source_url=image_server.url("/photos/leaf.png"))

    assert prediction.results[0]["label"] == "green"
    assert prediction.source_url == image_server.url("/photos/leaf.png")
    assert prediction.details["filename"] == "leaf.png"


# What a failure leaves: the image is stored on a writer thread while the model runs


def test_a_model_that_fails_leaves_no_image_and_no_row(user, version, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the interpreter failed")

    monkeypatch.setattr(predictions, "version_predict", broken)

    with pytest.raises(RuntimeError, match="the interpreter failed"):
        prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    assert not Prediction.objects.exists()
    assert list(stored_names("predictions")) == []


def test_on_a_bucket_a_model_that_fails_leaves_no_object_and_no_row(s3_storage, user, version, monkeypatch):
    # There the image is stored on a writer thread while the model runs, and deleted once the model fails.
    stored = threading.Event()

    def put(*, name, content):
        written = stored_file_put(name=name, content=content)
        stored.set()
        return written

    def broken(**kwargs):
        assert stored.wait(10), "the image was not stored meanwhile"
        raise RuntimeError("the interpreter failed")

    monkeypatch.setattr(storage_writes, "stored_file_put", put)
    monkeypatch.setattr(predictions, "version_predict", broken)
    models = s3_storage.keys()

    with pytest.raises(RuntimeError, match="the interpreter failed"):
        prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    assert not Prediction.objects.exists()
    assert s3_storage.keys() == models


def test_a_worker_stopped_while_it_waits_for_the_image_leaves_no_image_and_no_row(user, version, monkeypatch):
    # gunicorn's timeout ends a sync worker with SystemExit, wherever the request is.
    def stopped(self):
        raise SystemExit("worker timeout")

    monkeypatch.setattr(storage_writes.BackgroundWrite, "stored_name", stopped)

    with pytest.raises(SystemExit):
        prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    assert not Prediction.objects.exists()
    assert list(stored_names("predictions")) == []


def test_an_image_that_cannot_be_stored_fails_the_prediction_and_writes_no_row(user, version, monkeypatch):
    def full(*, name, content):
        raise OSError("No space left on device")

    monkeypatch.setattr(storage_writes, "stored_file_put", full)

    with pytest.raises(OSError, match="No space left"):
        prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    assert not Prediction.objects.exists()
    assert list(stored_names("predictions")) == []


def test_a_row_that_cannot_be_written_deletes_the_stored_image(user, version, monkeypatch):
    def refused(prediction):
        raise IntegrityError("the owner was deleted meanwhile")

    monkeypatch.setattr(predictions, "history_row_insert", refused)

    with pytest.raises(IntegrityError):
        prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    assert not Prediction.objects.exists()
    assert list(stored_names("predictions")) == []


def test_the_row_names_the_image_the_writer_stored(user, version, monkeypatch):
    # A storage may store under another name than the one asked for (FileSystemStorage, when it exists).
    def elsewhere(*, name, content):
        return stored_file_put(name=name.replace(".png", "-2.png"), content=content)

    monkeypatch.setattr(storage_writes, "stored_file_put", elsewhere)

    prediction = prediction_create(owner=user, model_version=version, image_bytes=png(RED), filename="red.png")

    prediction.refresh_from_db()
    assert prediction.image.name.endswith("-2.png")
    assert list(stored_names("predictions")) == [prediction.image.name]


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
