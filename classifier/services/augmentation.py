"""Balance a dataset's classes with augmented copies of its training images (the bird tutorial).

Copies are drawn from train-split images only and are train images themselves, so nothing derived
from a validation or test image can leak into training. Each copy records its source image.
"""

import io

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from classifier.ml.augment import AUGMENT_TRANSFORMS, augment_image, plan_augmentation
from classifier.ml.images import InvalidImage, load_rgb
from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.services.images import image_store
from classifier.services.imaging import ImageRejected, image_check
from training_jobs.models import Job
from training_jobs.services import ProgressReporter, job_create, job_enqueue

MAX_TARGET_PER_CLASS = 10_000
# A copy identical to an image already stored (same bytes) is skipped; give up on a source after this.
ATTEMPTS_PER_COPY = 5


def dataset_augment_start(
    *,
    dataset: Dataset,
    requested_by: AbstractBaseUser,
    target_per_class: int,
    transforms: list[str] | None = None,
    seed: int = 0,
) -> Job:
    from training_jobs.tasks import run_augment_job

    if isinstance(target_per_class, bool) or not isinstance(target_per_class, int) or not (
        1 <= target_per_class <= MAX_TARGET_PER_CLASS
    ):
        raise ValidationError(
            {"target_per_class": f"Must be a whole number from 1 to {MAX_TARGET_PER_CLASS}."}
        )
    transforms = list(transforms) if transforms else list(AUGMENT_TRANSFORMS)
    unknown = [name for name in transforms if name not in AUGMENT_TRANSFORMS]
    if unknown:
        raise ValidationError(
            {"transforms": f"Unknown transform(s): {', '.join(unknown)}. Choose from: {', '.join(AUGMENT_TRANSFORMS)}."}
        )
    if not _train_counts(dataset):
        raise ValidationError({"dataset": "There are no labelled training images to augment."})
    with transaction.atomic():
        job = job_create(
            kind=Job.Kind.AUGMENT,
            requested_by=requested_by,
            dataset=dataset,
            params={"target_per_class": target_per_class, "transforms": transforms, "seed": seed},
        )
        job_enqueue(job=job, task=run_augment_job, queue="cpu")
    return job


def _train_counts(dataset: Dataset) -> dict[str, int]:
    rows = LabelClass.objects.filter(dataset=dataset).annotate(
        train=Count("images", filter=Q(images__split=DatasetImage.Split.TRAIN))
    )
    return {row.name: row.train for row in rows if row.train > 0}


def dataset_augment_run(*, job: Job, progress: ProgressReporter) -> tuple[dict, str]:
    dataset = job.dataset
    target = job.params["target_per_class"]
    transforms = job.params["transforms"]
    rng = np.random.default_rng(job.params.get("seed", 0))
    plan = plan_augmentation(_train_counts(dataset), target)
    total = sum(plan.values())
    created: dict[str, int] = {}
    done = 0
    for class_name, wanted in plan.items():
        label = LabelClass.objects.get(dataset=dataset, name=class_name)
        sources = list(
            DatasetImage.objects.filter(dataset=dataset, label=label, split=DatasetImage.Split.TRAIN)
            .exclude(origin=DatasetImage.Origin.AUGMENTED)
            .order_by("id")
        )
        if not sources:
            continue
        created[class_name] = 0
        for index in range(wanted):
            source = sources[index % len(sources)]
            if _augment_one(dataset, label, source, transforms, rng):
                created[class_name] += 1
            done += 1
            progress(done / max(1, total), f"{done} of {total} copies")
    made = sum(created.values())
    return {"created": made, "per_class": created, "planned": plan}, f"Created {made} augmented images"


def _augment_one(dataset, label, source, transforms, rng) -> bool:
    try:
        with default_storage.open(source.file.name, "rb") as file:
            original = load_rgb(file.read())
    except (InvalidImage, OSError):
        return False
    for _ in range(ATTEMPTS_PER_COPY):
        buffer = io.BytesIO()
        augment_image(original, transforms, rng).save(buffer, format="JPEG", quality=92)
        try:
            checked = image_check(content=buffer.getvalue(), filename=f"augmented-{source.id}.jpg")
        except ImageRejected:
            return False
        if DatasetImage.objects.filter(dataset=dataset, sha256=checked.sha256).exists():
            continue
        try:
            image_store(
                dataset=dataset,
                checked=checked,
                label=label,
                origin=DatasetImage.Origin.AUGMENTED,
                original_name=f"augmented from {source.original_name or source.id}",
                source_image=source,
            )
        except IntegrityError:
            continue
        return True
    return False
