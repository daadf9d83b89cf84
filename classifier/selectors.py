"""Reads of datasets, images, model versions, predictions, label issues and backbones, scoped to what the
requesting user may see.

Views look objects up through these querysets, so another user's object is simply not found (404).
The ``*_for_user`` selectors give what a user may change (their own; staff: everything); the
``*_usable_by`` ones add the public datasets' versions, which everyone may read and predict with.
What is known about one version (its training job, ETA, drift, comparisons) is ``selectors_versions``.
The user is the signed-in one (``webapp.users.request_user``): every page and API view requires one.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Q, QuerySet

from classifier.ml.backbone_registry import available_backbones
from classifier.ml.backbone_weights import pretrained_weights_available
from classifier.models import Dataset, DatasetImage, LabelClass, LabelIssue, ModelVersion, Prediction


def _datasets_counted() -> QuerySet[Dataset]:
    # The annotation drops the model's default ordering, and pagination needs a stable one.
    return (
        Dataset.objects.select_related("owner")
        .annotate(image_count=Count("images", distinct=True))
        .order_by("-created_at", "-id")
    )


def datasets_for_user(user: User) -> QuerySet[Dataset]:
    """The datasets the user may change: their own (staff: all), with ``image_count``."""
    datasets = _datasets_counted()
    return datasets if user.is_staff else datasets.filter(owner=user)


def datasets_listed_for(user: User, *, include_public: bool = False) -> QuerySet[Dataset]:
    """The datasets the API lists: the user's own (staff: all), and every public one when asked for.

    Public datasets are listed on request only, so a client counting its own datasets is not surprised
    by the ready ImageNet models; the model-version list shows their versions by default.
    """
    if include_public and not user.is_staff:
        return _datasets_counted().filter(Q(owner=user) | Q(is_public=True))
    return datasets_for_user(user)


def datasets_readable_by(user: User) -> QuerySet[Dataset]:
    """Datasets the user may read (their own and public ones, staff: all), annotated like
    ``datasets_for_user``; changing one goes through ``datasets_for_user``."""
    return datasets_listed_for(user, include_public=True)


def images_for_user(user: User) -> QuerySet[DatasetImage]:
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


def dataset_class_stats(*, dataset: Dataset) -> list[dict[str, Any]]:
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


def model_versions_for_user(user: User) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related("dataset", "created_by")
    return versions if user.is_staff else versions.filter(dataset__owner=user)


def model_version_changeable_by(*, user: User, version: ModelVersion) -> bool:
    """Whether the user owns the version's dataset (or is staff): may change it and see its jobs'
    errors and reports, which a public version's other readers do not."""
    # The dataset is loaded with the version wherever this is asked: no query needed.
    return user.is_staff or version.dataset.owner_id == user.pk


def model_version_retrain_allowed(*, user: User | AnonymousUser) -> bool:
    """Whether the user may retrain model versions, asked by the page and the API alike: staff only, since a
    retrain takes a GPU for as long as the first training did. Asked before the version is looked up (through
    ``model_versions_for_user``: staff reach all), so anyone else is refused whichever version they name. A
    failed or cancelled version's owner starts it again with ``model_version_train_again`` instead."""
    return user.is_staff


def datasets_usable_by(user: User) -> QuerySet[Dataset]:
    """The user's datasets and every public one (staff: all): those whose models the user may use."""
    datasets = Dataset.objects.select_related("owner")
    return datasets if user.is_staff else datasets.filter(Q(owner=user) | Q(is_public=True))


def model_versions_usable_by(user: User) -> QuerySet[ModelVersion]:
    """Versions the user may read and predict with: their own and public datasets' (staff: all).

    Read-only use: promoting, retraining and deleting look versions up through
    ``model_versions_for_user``, so a public dataset stays changeable by its owner and staff only.
    """
    versions = ModelVersion.objects.select_related("dataset", "created_by")
    return versions if user.is_staff else versions.filter(Q(dataset__owner=user) | Q(dataset__is_public=True))


def model_versions_listed_for(
    user: User,
    *,
    include_public: bool = True,
    dataset_id: int | None = None,
    status: str | None = None,
    is_active: bool | None = None,
) -> QuerySet[ModelVersion]:
    """The versions the API lists, newest first: the user's own and (unless ``include_public`` is
    False) public datasets' ones, so a token client finds the ready ImageNet models; staff: all.
    Each filter applies when given."""
    versions = model_versions_usable_by(user) if include_public else model_versions_for_user(user)
    if dataset_id is not None:
        versions = versions.filter(dataset_id=dataset_id)
    if status is not None:
        versions = versions.filter(status=status)
    if is_active is not None:
        versions = versions.filter(is_active=is_active)
    return versions.order_by("-created_at", "-id")


def dataset_active_version(*, dataset: Dataset) -> ModelVersion | None:
    """The version the dataset serves by default, or None before one is trained and promoted."""
    return ModelVersion.objects.filter(dataset=dataset, is_active=True).select_related("dataset").first()


def predictions_for_user(user: User) -> QuerySet[Prediction]:
    """The user's prediction history, newest first (staff: everyone's)."""
    predictions = Prediction.objects.select_related("model_version__dataset", "owner")
    return predictions if user.is_staff else predictions.filter(owner=user)


def dataset_model_versions(*, dataset: Dataset) -> QuerySet[ModelVersion]:
    """A dataset's versions, newest first."""
    return ModelVersion.objects.filter(dataset=dataset).select_related("created_by").order_by("-number")


def backbones_list() -> list[dict[str, Any]]:
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


def public_model_versions() -> QuerySet[ModelVersion]:
    """The ready versions of public datasets (the ImageNet-1k models), in order: everyone may use them."""
    return (
        ModelVersion.objects.filter(dataset__is_public=True, status=ModelVersion.Status.READY)
        .select_related("dataset")
        .order_by("dataset__name", "number")
    )


def label_issues_for_dataset(*, dataset: Dataset, status: str = LabelIssue.Status.OPEN) -> QuerySet[LabelIssue]:
    """A dataset's issues of one status, most suspicious first."""
    return (
        LabelIssue.objects.filter(dataset=dataset, status=status)
        .select_related("image", "given_label", "suggested_label")
        .order_by("-score", "id")
    )


def label_issues_open_count(*, dataset: Dataset) -> int:
    """How many of the dataset's label issues await review (the badge on its pages)."""
    return LabelIssue.objects.filter(dataset=dataset, status=LabelIssue.Status.OPEN).count()
