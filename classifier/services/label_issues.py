"""The label-issue queue: a job that finds a dataset's likely mislabelled images (the owner's review of them
is ``services.label_issue_reviews``; the queue is read through ``selectors``).

The job reads each labelled picture's backbone features through the feature cache training fills (the
active version's backbone and input size, else those a default training would choose, so a training
before or after reuses them), gets out-of-sample class probabilities by k-fold logistic regression and
ranks the labels with confident learning (``classifier.ml.label_issues``). The dataset's open issues are
replaced only in the transaction that marks the job succeeded: a cancelled or failed job leaves the
queue as it was. A kept issue stays, and its image is not asked about again while it keeps that label.
Augmented copies are left out: they repeat their source's picture and label.
"""

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet

from classifier.ml import label_issues as ml
from classifier.ml.arrays import fill_features
from classifier.ml.backbone_registry import UnknownBackbone
from classifier.ml.backbone_weights import WeightsUnavailable
from classifier.ml.features import FeatureKey
from classifier.ml.images import load_array
from classifier.ml.views import ORIGINAL
from classifier.models import Dataset, DatasetImage, LabelIssue
from classifier.services.quotas import job_quota_check
from classifier.services.storage import stored_file_name
from classifier.services.training_inputs import feature_cache
from classifier.services.training_plans import training_plan_build
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import ACTIVE_STATUSES, JobInputError, ProgressReporter, job_create, job_enqueue

BATCH_SIZE = 32
# Share of the progress bar for the features; the rest is cross-validation and ranking.
FEATURES_SHARE = 0.85


def label_issue_images(dataset: Dataset) -> QuerySet[DatasetImage]:
    """The images the job judges: labelled, not augmented copies, in a fixed order."""
    return (
        DatasetImage.objects.filter(dataset=dataset, label__isnull=False)
        .exclude(origin=DatasetImage.Origin.AUGMENTED)
        .order_by("id")
    )


def _class_counts(dataset: Dataset) -> Counter[str]:
    return Counter(label_issue_images(dataset).values_list("label__name", flat=True))


def _classes_check(dataset: Dataset) -> list[str]:
    """The classes with enough images to judge; a ValidationError saying what is missing otherwise."""
    counts = _class_counts(dataset)
    enough = sorted(name for name, count in counts.items() if count >= ml.MIN_IMAGES_PER_CLASS)
    if len(enough) >= 2:
        return enough
    short = ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()) if name not in enough)
    raise ValidationError(
        {
            "dataset": f"Finding label issues needs at least 2 classes with at least {ml.MIN_IMAGES_PER_CLASS} "
            f"labelled images each (not counting augmented copies); this dataset has {len(enough)}"
            + (f". Too few images: {short}." if short else ".")
        }
    )


def _feature_setup(dataset: Dataset, class_names: list[str]) -> dict[str, Any]:
    """Backbone, input size and weights: the active version's, else what a default training would use."""
    active = dataset.model_versions.filter(is_active=True).first()
    if active is not None:
        hyper = active.hyperparameters or {}
        return {
            "backbone": active.backbone,
            "image_size": active.image_size,
            "weights": hyper.get("weights", "imagenet"),
            "seed": int(hyper.get("seed", 0)),
        }
    # Raises a ValidationError naming the weights file to place when they are not installed.
    config, _plan = training_plan_build(dataset=dataset, class_names=class_names, options={})
    return {"backbone": config.backbone, "image_size": config.image_size, "weights": config.weights, "seed": 0}


def label_issues_start(*, dataset: Dataset, requested_by: User) -> Job:
    """Check the dataset can be judged and queue the job on the training worker (it needs the backbone)."""
    class_names = _classes_check(dataset)
    setup = _feature_setup(dataset, class_names)
    with transaction.atomic():
        # The dataset row locked: two requests at once cannot both see no search running and both start one.
        Dataset.objects.select_for_update().filter(id=dataset.id).first()
        # Before the quota, whose refusal would not say why: a second search would only repeat the first.
        if Job.objects.filter(dataset=dataset, kind=Job.Kind.LABEL_ISSUES, status__in=ACTIVE_STATUSES).exists():
            raise ValidationError(
                {"dataset": "Label issues are already being looked for in this dataset: wait for that job to end."}
            )
        job_quota_check(user=requested_by, kind=Job.Kind.LABEL_ISSUES)
        job = job_create(kind=Job.Kind.LABEL_ISSUES, requested_by=requested_by, dataset=dataset, params=setup)
        job_enqueue(job=job)
    return job


def label_issues_run(*, job: Job, progress: ProgressReporter) -> JobResult:
    """Features (cached), out-of-sample probabilities, ranking; the queue changes only as the job succeeds.
    A resumed attempt starts over: its features are in the cache by then."""
    dataset = job.dataset
    if dataset is None:
        raise JobInputError("The dataset was deleted before its label issues were looked for.")
    counts = _class_counts(dataset)
    class_names = sorted(name for name, count in counts.items() if count >= ml.MIN_IMAGES_PER_CLASS)
    if len(class_names) < 2:
        raise JobInputError(
            f"Too few labelled images left: at least 2 classes need {ml.MIN_IMAGES_PER_CLASS} images each."
        )
    index = {name: i for i, name in enumerate(class_names)}
    labelled = [
        (image, image.label)
        for image in label_issue_images(dataset).select_related("label")
        if image.label is not None and image.label.name in index
    ]
    images = [image for image, _ in labelled]
    labels = np.array([index[label.name] for _, label in labelled], dtype=np.int64)
    setup = job.params
    try:
        features = _features(images, setup, progress)
    except (UnknownBackbone, WeightsUnavailable, ValueError) as exc:
        raise JobInputError(str(exc)) from exc

    def fold_done(done: int, total: int) -> None:
        share = FEATURES_SHARE + (1 - FEATURES_SHARE) * done / (total + 1)
        progress(share, f"Cross-validated {done} of {total} folds", force=True)

    probabilities = ml.out_of_sample_probabilities(features, labels, seed=setup.get("seed", 0), on_fold_end=fold_done)
    found = ml.find_label_issues(labels, probabilities)
    label_ids = {label.name: label.id for _, label in labelled}
    kept = _kept_labels(dataset.id)
    rows = [
        {
            "image_id": images[issue.index].id,
            "given_label_id": images[issue.index].label_id,
            "suggested_label_id": label_ids[class_names[issue.suggested]],
            "score": issue.score,
            "given_probability": issue.given_probability,
            "suggested_probability": issue.suggested_probability,
        }
        for issue in found
        if kept.get(images[issue.index].id) != images[issue.index].label_id
    ]
    report = {
        "images": len(images),
        "classes": len(class_names),
        "found": len(found),
        "kept_before": len(found) - len(rows),
        "queued": len(rows),
        "backbone": setup["backbone"],
        "image_size": setup["image_size"],
    }
    return JobResult(
        report=report,
        message=f"Found {len(rows)} likely label issues among {len(images)} images",
        finish=lambda finished: label_issues_replace(dataset_id=dataset.id, job=finished, rows=rows),
    )


def _features(images: list[DatasetImage], setup: dict[str, Any], progress: ProgressReporter) -> np.ndarray:
    """(n, d) pooled backbone features, from the cache where training or an earlier job put them; the
    rest computed a batch at a time, with progress (and a cancel seen) after each batch."""
    import keras

    from classifier.ml import backbones

    size, weights = setup["image_size"], setup["weights"]
    progress(0.0, f"Computing {setup['backbone']} features for {len(images)} images", force=True)
    # An untrained backbone's features depend on the seed that initialised it (as in training).
    keras.utils.set_random_seed(setup.get("seed", 0))
    extractor = backbones.build_feature_extractor(
        setup["backbone"], input_size=size, weights=weights, weights_dir=settings.SIGHTLINE_WEIGHTS_DIR
    )
    weights_id = "imagenet" if weights == "imagenet" else f"random-seed{setup.get('seed', 0)}"
    keys = [FeatureKey(image.sha256, setup["backbone"], size, weights_id, ORIGINAL) for image in images]
    loaders = [_loader(stored_file_name(image.file), size) for image in images]
    cache = feature_cache()
    out = np.zeros((len(images), int(extractor.output.shape[-1])), dtype=np.float32)
    for start in range(0, len(images), BATCH_SIZE):
        chunk = slice(start, start + BATCH_SIZE)
        fill_features(out[chunk], extractor.predict_on_batch, loaders[chunk], keys[chunk], cache, BATCH_SIZE)
        done = min(start + BATCH_SIZE, len(images))
        # Raises JobCancelled once the job was cancelled or deleted: nothing of it is kept.
        progress(FEATURES_SHARE * done / len(images), f"Features of {done} of {len(images)} images", force=True)
    return out


def _loader(name: str, size: int) -> Callable[[], npt.NDArray[np.uint8]]:
    def load() -> npt.NDArray[np.uint8]:
        with default_storage.open(name, "rb") as file:
            return load_array(file.read(), size)

    return load


def _kept_labels(dataset_id: int) -> dict[int, int | None]:
    """{image id: the label it was kept with}."""
    kept = LabelIssue.objects.filter(dataset_id=dataset_id, status=LabelIssue.Status.KEPT)
    return dict(kept.values_list("image_id", "given_label_id"))


def label_issues_replace(*, dataset_id: int, job: Job, rows: list[dict[str, Any]]) -> int:
    """In the transaction that ends the job succeeded: the dataset's open issues become ``rows``.

    Images deleted or relabelled since the job read them are left out (their label was not the one
    judged), and so are images kept with the label they have; a kept issue of an image relabelled
    since gives way to the new one. Returns how many issues are open now."""
    # One replacement at a time per dataset: two searches ending together would both insert their issues.
    if Dataset.objects.select_for_update().filter(id=dataset_id).first() is None:
        return 0
    LabelIssue.objects.filter(dataset_id=dataset_id, status=LabelIssue.Status.OPEN).delete()
    current = dict(
        DatasetImage.objects.filter(dataset_id=dataset_id, id__in=[row["image_id"] for row in rows]).values_list(
            "id", "label_id"
        )
    )
    kept = _kept_labels(dataset_id)
    fresh = [row for row in rows if row["image_id"] in current and current[row["image_id"]] == row["given_label_id"]]
    fresh = [row for row in fresh if kept.get(row["image_id"], -1) != row["given_label_id"]]
    stale = [row["image_id"] for row in fresh if row["image_id"] in kept]
    LabelIssue.objects.filter(dataset_id=dataset_id, image_id__in=stale).delete()
    LabelIssue.objects.bulk_create([LabelIssue(dataset_id=dataset_id, job=job, **row) for row in fresh], batch_size=500)
    return len(fresh)
