"""Start training a new model version, promote one to active, retrain from a version's settings.

The training itself runs on a worker (``training.model_version_train_run``); this module only
validates the request in the web tier, where a bad request becomes a 400 naming the problem.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q

from classifier.ml.backbones import UnknownBackbone, get_backbone_spec
from classifier.ml.config import TrainingConfig
from classifier.models import Dataset, DatasetImage, LabelClass, ModelVersion
from classifier.services.storage import model_version_folder
from training_jobs.models import Job
from training_jobs.services import job_create, job_enqueue, jobs_cancel, jobs_result_files
from webapp.storage import stored_files_delete, stored_folder_delete

# What a user may set; the rest of TrainingConfig (weights folder, seed…) comes from the platform.
USER_OPTIONS = (
    "backbone", "image_size", "epochs", "batch_size", "learning_rate", "fine_tune_layers",
    "fine_tune_epochs", "early_stopping_patience", "augment", "weights", "dropout", "label_smoothing",
)


def training_config_build(*, options: dict[str, Any]) -> TrainingConfig:
    """Validate a user's training options into a TrainingConfig; ValidationError names the field."""
    unknown = sorted(set(options) - set(USER_OPTIONS))
    if unknown:
        raise ValidationError({name: "Unknown training option." for name in unknown})
    values = {name: value for name, value in options.items() if value is not None or name == "weights"}
    if values.get("weights") == "none":
        values["weights"] = None
    if values.get("fine_tune_layers") and not values.get("fine_tune_epochs"):
        # Asking for fine-tuning layers means fine-tuning; give it as many epochs as the head.
        values["fine_tune_epochs"] = values.get("epochs", TrainingConfig.epochs)
    try:
        spec = get_backbone_spec(values.get("backbone", TrainingConfig.backbone))
    except UnknownBackbone as exc:
        raise ValidationError({"backbone": str(exc)}) from exc
    values.setdefault("image_size", spec.default_input_size)
    try:
        return TrainingConfig.from_dict(values)
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise ValidationError({field if field in USER_OPTIONS else "non_field_errors": str(exc)}) from exc


def dataset_check_trainable(*, dataset: Dataset) -> list[LabelClass]:
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
    problems = [f'"{c.name}" has no training images' for c in classes if c.train == 0]
    problems += [f'"{c.name}" has no validation images' for c in classes if c.val == 0]
    if problems:
        raise ValidationError(
            {"dataset": "Every class needs training and validation images: " + "; ".join(problems)
             + ". Add images or change the split fractions."}
        )
    return classes


@transaction.atomic
def model_version_create(
    *,
    dataset: Dataset,
    requested_by: AbstractBaseUser,
    options: dict[str, Any],
    parent: ModelVersion | None = None,
) -> ModelVersion:
    """Number a new version, freeze its classes and queue its training job on the gpu queue."""
    config = training_config_build(options=options)
    classes = dataset_check_trainable(dataset=dataset)
    # Lock the dataset row so two requests cannot take the same version number.
    Dataset.objects.select_for_update().filter(id=dataset.id).first()
    number = (dataset.model_versions.aggregate(top=Max("number"))["top"] or 0) + 1
    version = ModelVersion.objects.create(
        dataset=dataset,
        number=number,
        backbone=config.backbone,
        image_size=config.image_size,
        hyperparameters=config.to_dict(),
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
    job_enqueue(job=job)
    return version


def model_version_retrain(*, version: ModelVersion, requested_by: AbstractBaseUser) -> ModelVersion:
    """A new version with the same settings, on the dataset as it is now (its classes may differ)."""
    options = {name: version.hyperparameters.get(name) for name in USER_OPTIONS if name in version.hyperparameters}
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
        folder = model_version_folder(dataset_id=current.dataset_id, number=current.number, version_id=current.id)
        results = jobs_result_files(jobs=Job.objects.filter(model_version=current))
        current.delete()
        transaction.on_commit(
            lambda: (stored_folder_delete(folder=folder), stored_files_delete(names=results)), robust=True
        )
