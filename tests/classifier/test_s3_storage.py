"""Object storage: the acceptance flow (import → train → predict → batch → export) with every file in a
bucket of a real S3 server process (moto's, over HTTP; tests/storage_s3.py) and nothing in MEDIA_ROOT;
ownership-checked downloads, streamed or presigned; deletions and orphans found in the bucket."""

import io
import urllib.request
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.ml.predictor import TFLitePredictor, prepare_image
from classifier.models import DatasetImage, ModelVersion
from classifier.services.orphans import stored_orphans_delete
from tests.factories import DatasetFactory, DatasetImageFactory
from training_jobs.models import Job
from webapp.storage_writes import stored_file_put

pytestmark = pytest.mark.django_db

# Head only (no fine-tuning), as tests/classifier/test_services_training.py trains: seconds.
TINY = {
    "backbone": "mobilenet_v3_small",
    "image_size": 32,
    "weights": "none",
    "epochs": 3,
    "batch_size": 8,
    "fine_tune_layers": 0,
}
RED, BLUE = (220, 20, 20), (20, 20, 220)


def _png(color, seed) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 40, (32, 32, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes], name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _run(capture, call):
    with capture(execute=True):
        return call()


def test_the_acceptance_flow_keeps_every_file_in_the_bucket_and_none_in_media_root(
    s3_storage, user_api, other_api, user_client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    media_root = Path(settings.MEDIA_ROOT)
    dataset = user_api.post("/api/v1/datasets/", {"name": "Colours"}, format="json").json()

    members = {f"red/{index}.png": _png(RED, index) for index in range(12)}
    members |= {f"blue/{index}.png": _png(BLUE, 100 + index) for index in range(12)}
    archive = _zip(members, "colours.zip")
    imported = _run(
        capture,
        lambda: user_api.post(f"/api/v1/datasets/{dataset['id']}/imports/", {"archive": archive}, format="multipart"),
    )
    assert imported.status_code == 202, imported.content
    job = user_api.get(f"/api/v1/jobs/{imported.json()['job']['id']}/").json()
    assert (job["status"], job["report"]["imported"]) == ("succeeded", 24), job
    images = DatasetImage.objects.filter(dataset_id=dataset["id"])
    assert all(image.file.name in s3_storage.keys() and image.thumbnail.name for image in images)
    thumbnail = user_client.get(f"/images/{images[0].id}/thumbnail/")
    assert thumbnail.status_code == 200 and _body(thumbnail)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"RIFF")

    trained = _run(
        capture,
        lambda: user_api.post(f"/api/v1/datasets/{dataset['id']}/model-versions/", TINY, format="json"),
    )
    assert trained.status_code == 202, trained.content
    version = ModelVersion.objects.get(dataset_id=dataset["id"])
    training_job = version.jobs.get()
    assert (training_job.status, version.status) == (Job.Status.SUCCEEDED, ModelVersion.Status.READY), (
        training_job.error
    )
    for field in (version.keras_file, version.savedmodel_file, version.tflite_file, version.unknown_file):
        assert field.name in s3_storage.keys()
    assert not any("/checkpoints/" in key for key in s3_storage.keys()), "a finished training keeps no checkpoint"

    predicted = user_api.post(
        f"/api/v1/model-versions/{version.id}/predict/",
        {"image": SimpleUploadedFile("red.png", _png(RED, 999))},
        format="multipart",
    )
    assert predicted.status_code == 200, predicted.content
    assert predicted.json()["predictions"][0]["label"] == "red"

    batch_archive = _zip({"a-red.png": _png(RED, 501), "b-blue.png": _png(BLUE, 502)}, "batch.zip")
    batch = _run(
        capture,
        lambda: user_api.post(
            f"/api/v1/model-versions/{version.id}/batch-predictions/", {"archive": batch_archive}, format="multipart"
        ),
    )
    assert batch.status_code == 202, batch.content
    batch_job = Job.objects.get(id=batch.json()["job"]["id"])
    assert (batch_job.status, batch_job.report["predicted"]) == (Job.Status.SUCCEEDED, 2), batch_job.error
    assert batch_job.result_file.name in s3_storage.keys()
    result = user_api.get(f"/api/v1/jobs/{batch_job.id}/result/")
    assert result.status_code == 200
    rows = _body(result).decode().splitlines()
    assert rows[1].startswith("a-red.png,red") and rows[2].startswith("b-blue.png,blue"), rows
    assert other_api.get(f"/api/v1/jobs/{batch_job.id}/result/").status_code == 404

    exported = user_api.get(f"/api/v1/model-versions/{version.id}/export/?format=tflite")
    assert exported.status_code == 200
    tflite = _body(exported)
    with default_storage.open(version.tflite_file.name, "rb") as stored:
        assert tflite == stored.read()
    predictor = TFLitePredictor(tflite)
    probabilities, _ = predictor.predict(prepare_image(_png(BLUE, 998), predictor.input_size))
    assert version.class_names[int(probabilities.argmax())] == "blue"
    savedmodel = _body(user_api.get(f"/api/v1/model-versions/{version.id}/export/?format=savedmodel"))
    assert "savedmodel/saved_model.pb" in zipfile.ZipFile(io.BytesIO(savedmodel)).namelist()
    assert other_api.get(f"/api/v1/model-versions/{version.id}/export/?format=tflite").status_code == 404

    assert _files_under(media_root) == [], "S3 storage wrote into MEDIA_ROOT"


def test_a_presigned_download_redirects_to_a_short_lived_url_after_the_ownership_check(
    s3_storage, user, user_api, other_api, user_client, settings, make_ready_version
):
    settings.SIGHTLINE_PRESIGNED_DOWNLOADS = True
    dataset = DatasetFactory(owner=user, name="Colours")
    version = make_ready_version(dataset)
    image = DatasetImageFactory(dataset=dataset)
    # Images in pages stay streamed: a browser keeps them an hour, longer than a presigned URL lives.
    shown = user_client.get(f"/images/{image.id}/file/")
    assert shown.status_code == 200 and shown.streaming
    url = f"/api/v1/model-versions/{version.id}/export/?format=tflite"

    response = user_api.get(url)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_storage.server.endpoint_url}/{s3_storage.bucket}/")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    with urllib.request.urlopen(location) as fetched:  # noqa: S310 - the test's loopback S3 server
        body = fetched.read()
        assert fetched.headers["Content-Disposition"] == 'attachment; filename="colours-v1.tflite"'
    with default_storage.open(version.tflite_file.name, "rb") as stored:
        assert body == stored.read()
    assert other_api.get(url).status_code == 404
    default_storage.delete(version.tflite_file.name)
    assert user_api.get(url).status_code == 404


def test_the_same_upload_name_twice_makes_two_objects(s3_storage):
    first = default_storage.save("images/1/cat.jpg", ContentFile(b"first"))
    second = default_storage.save("images/1/cat.jpg", ContentFile(b"second"))

    assert first != second
    with default_storage.open(first, "rb") as file:
        assert file.read() == b"first", "S3Storage overwrote a stored file"
    assert s3_storage.keys() == sorted([first, second])


def test_a_prediction_image_is_stored_with_one_request_to_the_bucket(s3_storage):
    # save() asks the bucket whether the name is free first (a HEAD request); a UUID name needs no asking.
    calls = []
    default_storage.connection.meta.client.meta.events.register(
        "before-call.s3", lambda model, **kwargs: calls.append(model.name)
    )

    name = stored_file_put(name="predictions/1/0123456789abcdef.jpg", content=b"pixels")

    assert calls == ["PutObject"]
    assert s3_storage.keys() == [name]
    with default_storage.open(name, "rb") as file:
        assert file.read() == b"pixels"


def test_deleting_a_dataset_deletes_its_objects_and_orphans_are_found_in_the_bucket(
    s3_storage, user, user_api, make_ready_version, django_capture_on_commit_callbacks
):
    dataset = DatasetFactory(owner=user, name="Colours")
    version = make_ready_version(dataset)
    stray = default_storage.save("exports/stray.bin", ContentFile(b"left by a crash"))
    assert version.tflite_file.name in s3_storage.keys()

    assert stored_orphans_delete(min_age=timedelta(0)) == [stray]
    with django_capture_on_commit_callbacks(execute=True):
        assert user_api.delete(f"/api/v1/datasets/{dataset.id}/").status_code == 204

    assert s3_storage.keys() == []
