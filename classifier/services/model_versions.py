"""Start training a new model version, promote one to active, retrain from a version's settings.

The training itself runs on a worker (``training.model_version_train_run``); this module only
validates the request in the web tier, where a bad request becomes a 400 naming the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q

from classifier.ml.backbone_registry import get_backbone_spec
from classifier.models import Dataset, DatasetImage, LabelClass, ModelVersion
from classifier.services.quotas import job_quota_check, training_usage_record, training_usage_settle
from classifier.services.storage import model_version_folder
from classifier.services.training_plans import USER_OPTIONS, training_plan_build
from training_jobs.models import Job
from training_jobs.services import job_create, job_enqueue, jobs_cancel, jobs_result_files
from webapp.storage import stored_files_delete, stored_folder_delete

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    class _SplitCounts(TypedDict):
        train: int
        val: int

    # A class with its training and validation image counts (``dataset_check_trainable``).
    CountedClass: TypeAlias = WithAnnotations[LabelClass, _SplitCounts]


def dataset_check_trainable(*, dataset: Dataset) -> list[CountedClass]:
    """The classes a version of this dataset would learn; ValidationError says what is missing."""
    classes = list(
        LabelClass.objects.filter(dataset=dataset)
        .annotate(
            train=Count("images", filter=Q(images__split=DatasetImage.Split.TRAIN)),
            val=Count("images", filter=Q(images__split=DatasetImage.Split.VAL)),
        )
        .filter(Q(train__gt=0) | Q(val__gt=0))
        .order_by("name")
    )
    if len(classes) < 2:
        raise ValidationError(
            {"dataset": f"Training needs at least 2 classes with images; this dataset has {len(classes)}."}
        )
    problems = [_class_problem(c) for c in classes if c.train == 0 or c.val == 0]
    if problems:
        raise ValidationError({"dataset": "Every class needs training and validation images: " + "; ".join(problems)})
    return classes


def _class_problem(label: CountedClass) -> str:
    """What a class lacks for training, and what fixes it: a one-image class (often a typo in a feedback
    or an upload) needs more pictures or deleting; a larger one only a split that gives it both."""
    count = label.train + label.val
    if count < 2:
        return (
            f'"{label.name}" has only {count} image (a class needs at least 2: one to learn from, one to check '
            "on). Add more pictures of it, or delete the class: its picture stays, unlabelled"
        )
    missing = "training" if label.train == 0 else "validation"
    return (
        f'"{label.name}" has no {missing} images ({label.train} train, {label.val} validation). '
        "Reassign the splits, or add images"
    )


@transaction.atomic
def model_version_create(
    *,
    dataset: Dataset,
    requested_by: User,
    options: dict[str, Any],
    parent: ModelVersion | None = None,
) -> ModelVersion:
    """Number a new version, freeze its classes and queue its training job on the gpu queue.

    Raises ``QuotaExceeded``, creating nothing, when the requesting account already has a training (or
    batch prediction) waiting or running, as many jobs as it may, or too few training minutes left today
    for the plan's budget."""
    classes = dataset_check_trainable(dataset=dataset)
    config, plan = training_plan_build(dataset=dataset, class_names=[c.name for c in classes], options=options)
    # Locks the account's row until the job is created: one account's requests at once take turns here.
    job_quota_check(user=requested_by, kind=Job.Kind.TRAIN, budget_minutes=plan["budget_minutes"])
    # Lock the dataset row so two requests cannot take the same version number.
    Dataset.objects.select_for_update().filter(id=dataset.id).first()
    number = (dataset.model_versions.aggregate(top=Max("number"))["top"] or 0) + 1
    version = ModelVersion.objects.create(
        dataset=dataset,
        number=number,
        backbone=config.backbone,
        # None would mean the backbone's default; the plan always chooses a size.
        image_size=config.image_size or get_backbone_spec(config.backbone).default_input_size,
        hyperparameters=config.to_dict(),
        plan=plan,
        class_names=[c.name for c in classes],
        parent=parent,
        created_by=requested_by,
    )
    folder = model_version_folder(dataset_id=dataset.id, number=number, version_id=version.id)
    job = job_create(
        kind=Job.Kind.TRAIN,
        requested_by=requested_by,
        dataset=dataset,
        model_version=version,
        # The folder is kept on the job so its clean-up still finds it once the version is deleted.
        params={"model_version": version.id, "folder": folder},
    )
    training_usage_record(job=job, budget_minutes=plan["budget_minutes"])
    job_enqueue(job=job)
    return version


def model_version_train_again(*, version: ModelVersion, requested_by: User) -> ModelVersion:
    """A failed or cancelled version started again by its owner: ``model_version_retrain`` without
    the staff rule, since it takes no more of the workers than the training that did not finish."""
    if version.status not in (ModelVersion.Status.FAILED, ModelVersion.Status.CANCELLED):
        raise ValidationError(
            {"status": f"Version {version.number} is {version.get_status_display().lower()}; only a failed or "
             "cancelled version is trained again."}
        )
    return model_version_retrain(version=version, requested_by=requested_by)


def model_version_retrain(*, version: ModelVersion, requested_by: User) -> ModelVersion:
    """A new version with the same settings, on the dataset as it is now (its classes may differ).

    The options the user gave are kept and the plan is made again for the data as it is now; a
    version from before plans existed repeats every setting it was trained with."""
    if version.plan.get("options") is not None:
        options = dict(version.plan["options"])
    else:
        options = {name: version.hyperparameters[name] for name in USER_OPTIONS if name in version.hyperparameters}
        options.pop("budget_minutes", None)
    if options.get("weights") is None and "weights" in options:
        options["weights"] = "none"
    return model_version_create(dataset=version.dataset, requested_by=requested_by, options=options, parent=version)


@transaction.atomic
def model_version_promote(*, version: ModelVersion) -> ModelVersion:
    """Make this version the one its dataset serves; promoting an older one is a rollback."""
    if version.status != ModelVersion.Status.READY:
        raise ValidationError({"status": f"Only a ready version can be promoted; this one is {version.status}."})
    # Deactivate first: the partial unique constraint allows one active version per dataset.
    ModelVersion.objects.filter(dataset=version.dataset, is_active=True).exclude(id=version.id).update(
        is_active=False
    )
    ModelVersion.objects.filter(id=version.id).update(is_active=True)
    version.refresh_from_db()
    return version


class ModelVersionInUse(Exception):
    """The version cannot be deleted now: it serves its dataset."""


def model_version_delete(*, version: ModelVersion, allow_active: bool = False) -> None:
    """Delete a version and every file it and its jobs hold; a training or batch prediction under way
    is cancelled first (its worker stops at its next heartbeat and cleans up after itself).

    The dataset's active version is refused unless ``allow_active`` (staff in the admin), since
    deleting it leaves the dataset with no model to serve."""
    with transaction.atomic():
        # Locked and re-read: a promotion or a worker's finish may have changed it since it was loaded.
        current = ModelVersion.objects.select_for_update().get(id=version.id)
        if current.is_active and not allow_active:
            raise ModelVersionInUse(
                f"Version {current.number} is the dataset's active version; promote another one before deleting it."
            )
        jobs_cancel(jobs=Job.objects.filter(model_version=current))
        training_usage_settle(jobs=Job.objects.filter(model_version=current))
        folder = model_version_folder(dataset_id=current.dataset_id, number=current.number, version_id=current.id)
        results = jobs_result_files(jobs=Job.objects.filter(model_version=current))
        current.delete()

        def files_delete() -> None:
            stored_folder_delete(folder=folder)
            stored_files_delete(names=results)

        transaction.on_commit(files_delete, robust=True)
