"""Balance a dataset's classes with augmented copies of its training images (the bird tutorial).

Copies are drawn from train-split images only and are train images themselves, so nothing derived
from a validation or test image can leak into training: each copy's source is checked to be a
training image in the transaction that stores the copy. Each copy records its source image and its
job, so a job resumed after a lost worker tops up what is still missing and reports every copy.
Copies count against the owner's images and storage quotas: a job that reaches one stops there, and
its report says so.
"""

import io

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q

from classifier.ml.augment import AUGMENT_TRANSFORMS, augment_image, plan_augmentation
from classifier.ml.images import InvalidImage, load_rgb
from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.services.datasets import job_dataset
from classifier.services.images import SourceNotTraining, image_store
from classifier.services.imaging import ImageRejected, image_check
from classifier.services.quotas import QuotaExceeded, job_quota_check, storage_quota_check
from classifier.services.storage import stored_file_name
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import ProgressReporter, job_create, job_enqueue

MAX_TARGET_PER_CLASS = 10_000
# A copy identical to an image already stored (same bytes) is skipped; give up on a source after this.
ATTEMPTS_PER_COPY = 5


def dataset_augment_start(
    *,
    dataset: Dataset,
    requested_by: User,
    target_per_class: int,
    transforms: list[str] | None = None,
    seed: int = 0,
) -> Job:
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
    storage_quota_check(owner_id=dataset.owner_id, adding_bytes=1)
    with transaction.atomic():
        job_quota_check(user=requested_by, kind=Job.Kind.AUGMENT)
        job = job_create(
            kind=Job.Kind.AUGMENT,
            requested_by=requested_by,
            dataset=dataset,
            params={"target_per_class": target_per_class, "transforms": transforms, "seed": seed},
        )
        job_enqueue(job=job)
    return job


def _train_counts(dataset: Dataset) -> dict[str, int]:
    rows = LabelClass.objects.filter(dataset=dataset).annotate(
        train=Count("images", filter=Q(images__split=DatasetImage.Split.TRAIN))
    )
    return {row.name: row.train for row in rows if row.train > 0}


def dataset_augment_run(*, job: Job, progress: ProgressReporter) -> JobResult:
    dataset = job_dataset(job)
    target = job.params["target_per_class"]
    transforms = job.params["transforms"]
    # Another stream per attempt: a resumed attempt must not draw the same copies again.
    rng = np.random.default_rng([job.params.get("seed", 0), job.attempts])
    # Counts include the copies earlier attempts made, so a resumed job plans only what is missing.
    plan = plan_augmentation(_train_counts(dataset), target)
    total = sum(plan.values())
    made_before = _copies_by_class(job)
    skipped = 0
    done = 0
    over_quota: QuotaExceeded | None = None
    for class_name, wanted in plan.items():
        label = LabelClass.objects.get(dataset=dataset, name=class_name)
        sources = list(
            DatasetImage.objects.filter(dataset=dataset, label=label, split=DatasetImage.Split.TRAIN)
            .exclude(origin=DatasetImage.Origin.AUGMENTED)
            .order_by("id")
        )
        for index in range(wanted if sources else 0):
            try:
                outcome = _augment_one(job, label, sources[index % len(sources)], transforms, rng)
            except QuotaExceeded as error:
                over_quota = error
                break
            skipped += outcome == "not_training"
            done += 1
            progress(done / max(1, total), f"{done} of {total} copies")
        if over_quota is not None:
            # The account is full: no other class can have copies either.
            break
    created = _copies_by_class(job)
    made = sum(created.values())
    planned = {name: made_before.get(name, 0) + count for name, count in plan.items()}
    per_class = {name: created.get(name, 0) for name in {**planned, **created}}
    report = {"created": made, "per_class": per_class, "planned": planned}
    if skipped:
        # Their sources were moved out of the training split while the job ran.
        report["skipped_not_training"] = skipped
    if over_quota is not None:
        report["stopped_at_quota"] = over_quota.message
        return JobResult(report=report, message=f"Created {made} augmented images, then reached your quota")
    return JobResult(report=report, message=f"Created {made} augmented images")


def _copies_by_class(job: Job) -> dict[str, int]:
    """Copies this job stored so far (all its attempts), per class name."""
    copies = job.created_images.filter(origin=DatasetImage.Origin.AUGMENTED)
    return dict(copies.values_list("label__name").annotate(n=Count("id")).order_by())


def _augment_one(
    job: Job, label: LabelClass, source: DatasetImage, transforms: list[str], rng: np.random.Generator
) -> str:
    """Store one augmented copy of ``source``; returns "created", "not_training" or "failed"."""
    dataset = job_dataset(job)
    try:
        with default_storage.open(stored_file_name(source.file), "rb") as file:
            original = load_rgb(file.read())
    except (InvalidImage, OSError):
        return "failed"
    for _ in range(ATTEMPTS_PER_COPY):
        buffer = io.BytesIO()
        augment_image(original, transforms, rng).save(buffer, format="JPEG", quality=92)
        try:
            checked = image_check(content=buffer.getvalue(), filename=f"augmented-{source.id}.jpg")
        except ImageRejected:
            return "failed"
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
                job=job,
            )
        except SourceNotTraining:
            return "not_training"
        except IntegrityError:
            continue
        return "created"
    return "failed"
