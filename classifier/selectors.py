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


def _datasets_counted() -> QuerySet[Dataset]:
    # The annotation drops the model's default ordering, and pagination needs a stable one.
    return (
        Dataset.objects.select_related("owner")
        .annotate(image_count=Count("images", distinct=True))
        .order_by("-created_at", "-id")
    )


def datasets_for_user(user: AbstractBaseUser) -> QuerySet[Dataset]:
    """The datasets the user may change: their own (staff: all), with ``image_count``."""
    datasets = _datasets_counted()
    return datasets if user.is_staff else datasets.filter(owner=user)


def datasets_listed_for(user: AbstractBaseUser, *, include_public: bool = False) -> QuerySet[Dataset]:
    """The datasets the API lists: the user's own (staff: all), and every public one when asked for.

    Public datasets are listed on request only, so a client counting its own datasets is not surprised
    by the ready ImageNet models; the model-version list shows their versions by default.
    """
    if include_public and not user.is_staff:
        return _datasets_counted().filter(Q(owner=user) | Q(is_public=True))
    return datasets_for_user(user)


def datasets_readable_by(user: AbstractBaseUser) -> QuerySet[Dataset]:
    """Datasets the user may read (their own and public ones, staff: all), annotated like
    ``datasets_for_user``; changing one goes through ``datasets_for_user``."""
    return datasets_listed_for(user, include_public=True)


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


def model_version_changeable_by(*, user: AbstractBaseUser, version: ModelVersion) -> bool:
    """Whether the user owns the version's dataset (or is staff): may change it and see its jobs'
    errors and reports, which a public version's other readers do not."""
    # The dataset is loaded with the version wherever this is asked: no query needed.
    return user.is_staff or version.dataset.owner_id == user.pk


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


def model_versions_listed_for(
    user: AbstractBaseUser,
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


def model_versions_test_sets(a: ModelVersion, b: ModelVersion) -> dict:
    """Whether two versions were scored on the same test images with the same labels.

    ``same`` is True or False when that is known (from the test set's digest, stored since it was
    added; else from differing counts), None when it cannot be told; ``text`` says it to a person.
    """
    sets = [version.metrics.get("test_set") or {} for version in (a, b)]
    counts = [(version.metrics.get("split_sizes") or {}).get("test") for version in (a, b)]
    if all(found.get("digest") for found in sets):
        same = sets[0]["digest"] == sets[1]["digest"]
    elif None not in counts and counts[0] != counts[1]:
        same = False
    else:
        same = None
    if same:
        text = f"Both were scored on the same {counts[0]} test images."
    elif same is False:
        text = (
            f"v{a.number} and v{b.number} were scored on different test sets ({_count_text(counts[0])} and "
            f"{_count_text(counts[1])}, or images added, removed or relabelled in between): their scores do "
            "not compare directly."
        )
    else:
        text = "Whether both were scored on the same test images is not known (trained before this was recorded)."
    return {"same": same, "text": text}


def _count_text(count: int | None) -> str:
    return "an unknown number" if count is None else f"{count} image{'' if count == 1 else 's'}"


def model_version_scores_lower(*, version: ModelVersion, active: ModelVersion | None) -> bool:
    """Whether ``version`` has a lower test accuracy than the active version (both measured)."""
    new = version.metrics.get("accuracy")
    old = active.metrics.get("accuracy") if active is not None else None
    return new is not None and old is not None and new < old


def model_version_promote_warnings(*, version: ModelVersion, active: ModelVersion | None) -> list[str]:
    """What a person should know before making ``version`` the active one in place of ``active``: that it
    scores lower, and that the two were not tested on the same images."""
    if active is None or version.pk == active.pk or version.status != ModelVersion.Status.READY:
        return []
    warnings = []
    if model_version_scores_lower(version=version, active=active):
        new, old = version.metrics["accuracy"], active.metrics["accuracy"]
        warnings.append(
            f"v{version.number} scores lower than the active v{active.number}: "
            f"{new * 100:.1f}% against {old * 100:.1f}% test accuracy."
        )
    test_sets = model_versions_test_sets(version, active)
    if test_sets["same"] is False:
        warnings.append(test_sets["text"])
    return warnings


def model_version_data_summary(*, version: ModelVersion) -> dict | None:
    """What the version was trained on, from its manifest, and how much of it changed since: ``{"splits":
    {"train", "val", "test"}, "drift": {"relabelled", "moved", "deleted"}}``; None without a manifest.

    One query over the manifest's image ids: an image is relabelled when its label is not the one it was
    trained with (unlabelled since counts too), moved when it is in another split now, deleted when gone.
    The ids are asked for as their range, not a list: a manifest of 50,000 images would pass SQLite's limit
    on query parameters, and images added since have higher ids, so the range holds few others."""
    from classifier.services.manifests import ManifestMissing, manifest_frame

    try:
        frame = manifest_frame(version=version)
    except ManifestMissing:
        return None
    ids = frame["image_id"]
    current = (
        {
            image_id: (split, label)
            for image_id, split, label in DatasetImage.objects.filter(
                dataset_id=version.dataset_id, id__gte=int(ids.min()), id__lte=int(ids.max())
            ).values_list("id", "split", "label__name")
        }
        if len(ids)
        else {}
    )
    drift = {"relabelled": 0, "moved": 0, "deleted": 0}
    for image_id, split, label in zip(frame["image_id"], frame["split"], frame["label"], strict=True):
        now = current.get(int(image_id))
        if now is None:
            drift["deleted"] += 1
            continue
        drift["moved"] += now[0] != split
        drift["relabelled"] += now[1] != label
    counts = frame["split"].value_counts()
    splits = {split: int(counts.get(split, 0)) for split in DatasetImage.Split.values}
    return {"splits": splits, "drift": drift}


def model_versions_score_job(*, user: AbstractBaseUser, versions: list[ModelVersion]) -> Job | None:
    """The user's newest scoring of exactly these versions on their dataset's current test split (running,
    or ended), for the compare page."""
    key = ",".join(str(version_id) for version_id in sorted(version.id for version in versions))
    return (
        Job.objects.filter(
            kind=Job.Kind.SCORE, requested_by=user, params__versions_key=key, params__test_set="current"
        )
        .order_by("-created_at", "-id")
        .first()
    )


def public_model_versions() -> QuerySet[ModelVersion]:
    """The ready versions of public datasets (the ImageNet-1k models), in order: everyone may use them."""
    return (
        ModelVersion.objects.filter(dataset__is_public=True, status=ModelVersion.Status.READY)
        .select_related("dataset")
        .order_by("dataset__name", "number")
    )
