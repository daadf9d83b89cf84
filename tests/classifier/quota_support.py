"""Uploads, trainable datasets, and a snapshot of an account's rows, shared by the quota tests."""

import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage, ModelVersion, TrainingUsage
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from training_jobs.models import Job
from webapp.storage import stored_names

Split = DatasetImage.Split


GPU_JOBS_FULL = (
    "You already have 1 job for the training worker queued or running, as many as your account may have at "
    "once (1): the training worker is shared, so each account waits for its own. Start this one when that has "
    "finished, or cancel it."
)


def stored_files(settings) -> list[str]:
    # Through the storage API, so the same assertions hold on object storage (SIGHTLINE_TEST_STORAGE=s3).
    return sorted(stored_names())


def jpeg_upload(name: str, n: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes(color=(n, 40, 90)), content_type="image/jpeg")


def upload(client, dataset, files):
    return client.post(f"/api/v1/datasets/{dataset.id}/images/", {"file": files, "label": "wren"}, format="multipart")


def trainable_dataset(owner, name="Garden birds"):
    """Two classes with a training and a validation image each: the least a version trains on."""
    dataset = DatasetFactory(owner=owner, name=name)
    for class_name in ("robin", "wren"):
        label = LabelClassFactory(dataset=dataset, name=class_name)
        for split in (Split.TRAIN, Split.VAL):
            DatasetImageFactory(dataset=dataset, label=label, split=split)
    return dataset


def train(client, dataset, budget_minutes=10):
    data = {"backbone": "efficientnet_lite0", "budget_minutes": budget_minutes}
    return client.post(f"/api/v1/datasets/{dataset.id}/model-versions/", data, format="json")


def account_rows(user):
    """What the account has stored and started, to check a refusal changed none of it."""
    return (
        sorted(DatasetImage.objects.filter(dataset__owner=user).values_list("id", "sha256", "stored_bytes")),
        sorted(ModelVersion.objects.filter(dataset__owner=user).values_list("id", "status")),
        sorted(Job.objects.filter(requested_by=user).values_list("id", "status")),
        TrainingUsage.objects.filter(user=user).count(),
    )


def zip_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()
