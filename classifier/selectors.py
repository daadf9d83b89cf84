"""Reads of datasets, images, model versions (and their training job), predictions and backbones,
scoped to what the requesting user may see.

Views look objects up through these querysets, so another user's object is simply not found (404).
The ``*_for_user`` selectors give what a user may change (their own; staff: everything); the
``*_usable_by`` ones add the public datasets' versions, which everyone may read and predict with.
"""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from classifier.ml.backbones import available_backbones, pretrained_weights_available
from classifier.models import Dataset, DatasetImage, LabelClass, ModelVersion, Prediction
from training_jobs.models import Job


def datasets_for_user(user: AbstractBaseUser) -> QuerySet[Dataset]:
    # The annotation drops the model's default ordering, and pagination needs a stable one.
    datasets = (
        Dataset.objects.select_related("owner")
        .annotate(image_count=Count("images", distinct=True))
        .order_by("-created_at", "-id")
    )
    return datasets if user.is_staff else datasets.filter(owner=user)


def images_for_user(user: AbstractBaseUser) -> QuerySet[DatasetImage]:
    images = DatasetImage.objects.select_related("dataset", "label")
    return images if user.is_staff else images.filter(dataset__owner=user)


def dataset_images(*, dataset: Dataset, label: str | None = None, split: str | None = None) -> QuerySet[DatasetImage]:
    """A dataset's images, optionally filtered by class name (``""`` or ``"-"``: unlabelled) and split."""
    images = DatasetImage.objects.filter(dataset=dataset).select_related("label")
    if label is not None:
        images = images.filter(label__isnull=True) if label in ("", "-") else images.filter(label__name=label)
    if split:
        images = images.filter(split=split)
    return images


def dataset_class_stats(*, dataset: Dataset) -> list[dict]:
    """Per class: id, name, image count and counts per split, for the detail API and the chart."""
    rows = LabelClass.objects.filter(dataset=dataset).annotate(
        image_count=Count("images"),
        train=Count("images", filter=Q(images__split=DatasetImage.Split.TRAIN)),
        val=Count("images", filter=Q(images__split=DatasetImage.Split.VAL)),
        test=Count("images", filter=Q(images__split=DatasetImage.Split.TEST)),
    )
    return [
        {
            "id": row.id,
            "name": row.name,
            "image_count": row.image_count,
            "split_counts": {"train": row.train, "val": row.val, "test": row.test},
        }
        for row in rows.order_by("name")
    ]


def model_versions_for_user(user: AbstractBaseUser) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related("dataset", "created_by")
    return versions if user.is_staff else versions.filter(dataset__owner=user)


def datasets_usable_by(user: AbstractBaseUser) -> QuerySet[Dataset]:
    """The user's datasets and every public one (staff: all): those whose models the user may use."""
    datasets = Dataset.objects.select_related("owner")
    return datasets if user.is_staff else datasets.filter(Q(owner=user) | Q(is_public=True))


def model_versions_usable_by(user: AbstractBaseUser) -> QuerySet[ModelVersion]:
    """Versions the user may read and predict with: their own and public datasets' (staff: all).

    Read-only use: promoting, retraining and deleting look versions up through
    ``model_versions_for_user``, so a public dataset stays changeable by its owner and staff only.
    """
    versions = ModelVersion.objects.select_related("dataset", "created_by")
    return versions if user.is_staff else versions.filter(Q(dataset__owner=user) | Q(dataset__is_public=True))


def dataset_active_version(*, dataset: Dataset) -> ModelVersion | None:
    """The version the dataset serves by default, or None before one is trained and promoted."""
    return ModelVersion.objects.filter(dataset=dataset, is_active=True).select_related("dataset").first()


def predictions_for_user(user: AbstractBaseUser) -> QuerySet[Prediction]:
    """The user's prediction history, newest first (staff: everyone's)."""
    predictions = Prediction.objects.select_related("model_version__dataset", "owner")
    return predictions if user.is_staff else predictions.filter(owner=user)


def dataset_model_versions(*, dataset: Dataset) -> QuerySet[ModelVersion]:
    """A dataset's versions, newest first."""
    return ModelVersion.objects.filter(dataset=dataset).select_related("created_by").order_by("-number")


def model_version_training_job(*, version: ModelVersion) -> Job | None:
    """The version's latest training job (a retrain has its own version): its progress, curves and error."""
    return version.jobs.filter(kind=Job.Kind.TRAIN).order_by("-created_at", "-id").first()


def model_version_eta_seconds(*, version: ModelVersion) -> int | None:
    """Seconds until the version's training is expected to end: the worker's estimate from measured
    epochs once it has one, else the end of the time budget; None once training has ended."""
    plan = version.plan or {}
    if version.status not in (ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING) or not plan:
        return None
    budget = plan.get("budget_minutes", 0) * 60
    live = plan.get("live") or {}
    if version.status == ModelVersion.Status.QUEUED or not live.get("expected_end"):
        return int(budget)
    end = datetime.fromisoformat(live["expected_end"])
    return max(0, int((end - timezone.now()).total_seconds()))


def backbones_list() -> list[dict]:
    """Each registered backbone with its default input size and whether its ImageNet weights are here.

    Checked per call, so weights placed in the folder after start-up count without a restart.
    """
    return [
        {
            "name": spec.name,
            "label": spec.label,
            "input_size": spec.default_input_size,
            "pretrained_weights_available": pretrained_weights_available(
                spec.name, weights_dir=settings.SIGHTLINE_WEIGHTS_DIR
            ),
        }
        for spec in available_backbones()
    ]
