"""The throw-away platform's side: two users with their objects, the jobs the requests queued, and a
fingerprint of every row and stored file to compare before and after."""

import collections
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.hostile_cases.images import encoded

if TYPE_CHECKING:
    from classifier.models import ModelVersion

# Every row, by (model label, primary key), and every stored file's sha256, by name.
Fingerprint = tuple[dict[tuple[str, Any], dict[str, Any]], dict[str, str]]


@dataclass
class Actor:
    name: str
    token: str
    user_id: int
    dataset: int
    images: list[int]
    classes: list[int]
    version: int
    prediction: int
    job: int


def actor_make(name: str, imagenet_version: "ModelVersion", rng: random.Random) -> Actor:
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image
    from rest_framework.authtoken.models import Token

    from classifier.models import DatasetImage, ModelVersion
    from classifier.services.datasets import dataset_create
    from classifier.services.images import image_add

    user, _ = User.objects.get_or_create(username=name)
    user.set_password("correct horse battery staple")
    user.save()
    token, _ = Token.objects.get_or_create(user=user)
    dataset = dataset_create(owner=user, name=f"{name}'s pets")
    images = []
    for index in range(6):
        label = ("cats", "dogs")[index % 2]
        pixels = Image.frombytes("RGB", (64, 64), rng.randbytes(64 * 64 * 3))
        image = image_add(
            dataset=dataset,
            content=encoded(pixels, "JPEG"),
            filename=f"{label}-{index}.jpg",
            label_name=label,
            origin=DatasetImage.Origin.UPLOAD,
        )
        images.append(image.id)
    # A ready version serving the ImageNet model's files, copied into the user's own folder.
    version = ModelVersion.objects.get(pk=imagenet_version.pk)
    version.pk = None
    version.id = None
    version.dataset = dataset
    version.number = 1
    version.is_active = True
    version.created_by = user
    for file_field in ("keras_file", "tflite_file", "tflite_int8_file", "savedmodel_file", "unknown_file"):
        stored = getattr(version, file_field)
        if stored:
            with default_storage.open(stored.name, "rb") as source:
                copy = default_storage.save(
                    f"models/{dataset.id}/v1/{Path(stored.name).name}", ContentFile(source.read())
                )
            setattr(version, file_field, copy)
    version.save()
    classes = list(dataset.classes.values_list("id", flat=True))
    return Actor(name, token.key, user.id, dataset.id, images, classes, version.id, 0, 0)


def owned_counts(actor: Actor) -> dict[str, int]:
    """What the other user has: nothing alice sends may add to it or take from it."""
    from classifier.models import DatasetImage, LabelClass, ModelVersion, Prediction
    from training_jobs.models import Job

    return {
        "images": DatasetImage.objects.filter(dataset__owner_id=actor.user_id).count(),
        "classes": LabelClass.objects.filter(dataset__owner_id=actor.user_id).count(),
        "versions": ModelVersion.objects.filter(dataset__owner_id=actor.user_id).count(),
        "predictions": Prediction.objects.filter(owner_id=actor.user_id).count(),
        "jobs": Job.objects.filter(requested_by_id=actor.user_id).count(),
    }


def run_queued_jobs(*, jobs_before: set[int], predictions_before: set[int]) -> dict[str, int]:
    """Run what the requests queued, as the workers would: imports, batches, augmentations, predictions."""
    from classifier.models import Prediction
    from classifier.services.prediction_queue import prediction_run
    from training_jobs.models import Job
    from training_jobs.tasks import run_job

    ran: collections.Counter[str] = collections.Counter()
    queued = Job.objects.filter(status=Job.Status.QUEUED).exclude(id__in=jobs_before)
    for job in queued.exclude(kind=Job.Kind.TRAIN).order_by("id"):
        try:
            run_job(job.id)
            ran["jobs"] += 1
        except Exception as error:  # noqa: BLE001 - counted: a job body must never raise out of run_job
            ran["jobs raised"] += 1
            print(f"  job {job.id} ({job.kind}) raised {type(error).__name__}: {error}")
    queued_predictions = Prediction.objects.filter(status=Prediction.Status.QUEUED).exclude(id__in=predictions_before)
    for prediction_id in queued_predictions.values_list("id", flat=True):
        try:
            prediction_run(prediction_id=prediction_id)
            ran["predictions"] += 1
        except Exception as error:  # noqa: BLE001 - as above
            ran["predictions raised"] += 1
            print(f"  prediction {prediction_id} raised {type(error).__name__}: {error}")
    return dict(ran)


# --- Fingerprint ---------------------------------------------------------------------------------------

# Rows that change by design: sessions, login attempts.
SKIPPED_TABLES = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}


def fingerprint(media_root: Path) -> Fingerprint:
    from django.apps import apps

    rows = {}
    for model in apps.get_models():
        if model._meta.db_table in SKIPPED_TABLES or model._meta.proxy:
            continue
        for values in model._default_manager.values():
            rows[(model._meta.label, values.get("id", values.get(model._meta.pk.attname)))] = values
    files = {}
    for path in media_root.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(media_root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return rows, files


def fingerprint_compare(before: Fingerprint, after: Fingerprint) -> list[str]:
    problems = []
    for key, values in before[0].items():
        if key not in after[0]:
            problems.append(f"row lost: {key}")
        elif after[0][key] != values:
            now = after[0][key]
            changed = {name: (value, now.get(name)) for name, value in values.items() if now.get(name) != value}
            problems.append(f"row changed: {key} {str(changed)[:300]}")
    for name, digest in before[1].items():
        if name not in after[1]:
            problems.append(f"file lost: {name}")
        elif after[1][name] != digest:
            problems.append(f"file changed: {name}")
    return problems


def own_rows_changed_by(path: str, alice: Actor) -> set[tuple[str, int]]:
    """The rows of alice's that an accepted request to ``path`` may change."""
    rows = {
        f"/api/v1/datasets/{alice.dataset}/": ("classifier.Dataset", alice.dataset),
        f"/api/v1/images/{alice.images[0]}/": ("classifier.DatasetImage", alice.images[0]),
        f"/api/v1/predictions/{alice.prediction}/feedback/": ("classifier.Prediction", alice.prediction),
        f"/api/v1/predictions/{alice.prediction}/add-to-dataset/": ("classifier.Prediction", alice.prediction),
    }
    return {rows[path]} if path in rows else set()
