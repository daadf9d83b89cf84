"""Score versions of one dataset again on the same images: the dataset's current test split with its labels
now, or one version's manifest test set with the labels it had then. A gpu job, so that versions trained on
different test sets (compare warns of it) can be compared on equal terms.

Each version answers through the cached TFLite model predictions use (``serving.version_serving``). An
image whose label is not among a version's classes is counted as skipped by that version; an image of a
manifest deleted since (or whose file is gone) as missing. Nothing is stored but the job's report, so a
resumed attempt simply scores again.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from classifier.models import DatasetImage, ModelVersion
from classifier.services.datasets import job_dataset
from classifier.services.manifests import ManifestMissing, manifest_rows
from classifier.services.quotas import job_quota_check
from classifier.services.serving import VersionNotServable, image_pixels, version_check_servable, version_serving
from training_jobs.kinds import JobResult
from training_jobs.models import Job
from training_jobs.services import JobInputError, job_create, job_enqueue

CURRENT = "current"
MANIFEST = "manifest"
# Versions one job may score: a comparison names a few; more would hold the gpu worker for long.
MAX_VERSIONS = 10
# Images decoded and answered per step, and per progress report (which is where a cancel is seen).
BATCH_SIZE = 32


@dataclass(frozen=True)
class _TestImage:
    file: str
    label: str


def model_versions_score_start(
    *, requested_by: User, versions: list[ModelVersion], manifest_version: ModelVersion | None = None
) -> Job:
    """Queue a scoring of ``versions`` (ready, of one dataset) on their dataset's current test split, or on
    ``manifest_version``'s manifest test set. A ValidationError names what is wrong; nothing is created."""
    _check_versions(versions)
    dataset = versions[0].dataset
    if manifest_version is not None:
        if manifest_version.dataset_id != dataset.id:
            raise ValidationError(
                {"test_set": f"Version {manifest_version.number} of {manifest_version.dataset.name} is not a "
                 f"version of {dataset.name}: its test set holds other pictures."}
            )
        if not manifest_version.manifest_file:
            raise ValidationError(
                {"test_set": f"Version {manifest_version.number} has no manifest (trained before manifests were "
                 'kept); score on "current" instead.'}
            )
    ids = [version.id for version in versions]
    with transaction.atomic():
        job_quota_check(user=requested_by, kind=Job.Kind.SCORE)
        job = job_create(
            kind=Job.Kind.SCORE,
            requested_by=requested_by,
            # Not the versions': a version deleted meanwhile is reported as such, not the job deleted with it.
            dataset=dataset,
            params={
                "model_versions": ids,
                # The same versions in any order, to find the newest scoring of a pair (compare page).
                "versions_key": ",".join(str(version_id) for version_id in sorted(ids)),
                "numbers": {str(version.id): version.number for version in versions},
                "test_set": CURRENT if manifest_version is None else MANIFEST,
                "manifest_version": None if manifest_version is None else manifest_version.id,
            },
        )
        job_enqueue(job=job)
    return job


def _check_versions(versions: list[ModelVersion]) -> None:
    if not versions:
        raise ValidationError({"model_versions": "Name at least one version to score."})
    if len(versions) > MAX_VERSIONS:
        raise ValidationError(
            {"model_versions": f"At most {MAX_VERSIONS} versions are scored at once; {len(versions)} were named."}
        )
    if len({version.id for version in versions}) != len(versions):
        raise ValidationError({"model_versions": "A version is named twice."})
    datasets = sorted({version.dataset.name for version in versions})
    if len({version.dataset_id for version in versions}) > 1:
        raise ValidationError(
            {"model_versions": f"The versions belong to different datasets ({', '.join(datasets)}); only versions "
             "of one dataset are scored on the same test images."}
        )
    for version in versions:
        try:
            version_check_servable(version=version)
        except VersionNotServable as error:
            raise ValidationError({"model_versions": str(error)}) from None


def model_versions_score_run(*, job: Job, progress: Callable[..., None]) -> JobResult:
    """Score each version of the job on its test set; the report holds each one's accuracy and counts."""
    params = job.params
    images, missing = _test_set(job)
    numbers = params.get("numbers", {})
    results = []
    total = max(1, len(images) * len(params["model_versions"]))
    for position, version_id in enumerate(params["model_versions"]):
        version = ModelVersion.objects.select_related("dataset").filter(id=version_id).first()
        entry = {"model_version": version_id, "number": numbers.get(str(version_id))}
        if version is None:
            results.append({**entry, "error": "Deleted before it was scored."})
            continue

        def step(done: int, number: int = version.number, offset: int = position * len(images)) -> None:
            progress((offset + done) / total, f"Scoring v{number}: {done} of {len(images)} test images")

        results.append({**entry, **_version_score(version=version, images=images, missing=missing, step=step)})
    # A version deleted while it (or a later one) was scored: its score describes a model that is gone.
    remaining = set(ModelVersion.objects.filter(id__in=params["model_versions"]).values_list("id", flat=True))
    for result in results:
        if result["model_version"] not in remaining and not result.get("error"):
            result.update(accuracy=None, error="Deleted while the scoring ran.")
    if not any(result.get("accuracy") is not None or "scored" in result for result in results):
        raise JobInputError(
            "None of the versions could be scored: " + " ".join(f"v{r['number']}: {r['error']}" for r in results),
            report={"results": results},
        )
    report = {
        "test_set": params["test_set"],
        "manifest_version": params.get("manifest_version"),
        "images": len(images) + missing,
        "results": results,
    }
    return JobResult(report=report, message=_message(report))


def _test_set(job: Job) -> tuple[list[_TestImage], int]:
    """The test images with the labels to score against, and how many of them are gone since."""
    params = job.params
    if params["test_set"] == CURRENT:
        current = (
            DatasetImage.objects.filter(dataset=job_dataset(job), split=DatasetImage.Split.TEST, label__isnull=False)
            .order_by("id")
            .values_list("file", "label__name")
        )
        return [_TestImage(file=name, label=label) for name, label in current], 0
    source = ModelVersion.objects.filter(id=params["manifest_version"]).first()
    if source is None:
        raise JobInputError("The version whose test set was to be used was deleted before the scoring ran.")
    try:
        rows = manifest_rows(version=source, split=DatasetImage.Split.TEST)
    except ManifestMissing as error:
        raise JobInputError(str(error)) from None
    files = {
        image_id: name
        for image_id, name in DatasetImage.objects.filter(
            dataset_id=source.dataset_id, id__in=[row.image_id for row in rows]
        ).values_list("id", "file")
    }
    images = [_TestImage(file=files[row.image_id], label=row.label) for row in rows if row.image_id in files]
    return images, len(rows) - len(images)


def _version_score(
    *, version: ModelVersion, images: list[_TestImage], missing: int, step: Callable[[int], None]
) -> dict[str, Any]:
    try:
        serving = version_serving(version=version)
    except VersionNotServable as error:
        return {"accuracy": None, "error": str(error)}
    index = {name: position for position, name in enumerate(serving.class_names)}
    scored = correct = 0
    step(0)
    for start in range(0, len(images), BATCH_SIZE):
        pixels, answers = [], []
        for image in images[start : start + BATCH_SIZE]:
            if image.label not in index:
                continue
            try:
                with default_storage.open(image.file, "rb") as file:
                    content = file.read()
                size = serving.predictor.input_size
                pixels.append(image_pixels(image_bytes=content, size=size, resize=serving.resize))
            except (FileNotFoundError, ValidationError):
                # Its file is gone (or no longer decodes): it cannot be scored, like a deleted image.
                missing += 1
                continue
            answers.append(index[image.label])
        if pixels:
            probabilities, _scores, _unknown = serving.answer(np.stack(pixels))
            correct += int((np.argmax(probabilities, axis=1) == np.array(answers)).sum())
            scored += len(answers)
        # Raises JobCancelled once the job was cancelled or deleted.
        step(min(len(images), start + BATCH_SIZE))
    skipped = sum(image.label not in index for image in images)
    return {
        "accuracy": correct / scored if scored else None,
        "scored": scored,
        "correct": correct,
        "skipped": skipped,
        "missing": missing,
        "error": "",
    }


def _message(report: dict[str, Any]) -> str:
    scores = [
        f"v{result['number']} {result['accuracy'] * 100:.1f}%"
        for result in report["results"]
        if result.get("accuracy") is not None
    ]
    where = "the current test split" if report["test_set"] == CURRENT else "the manifest's test set"
    return f"Scored on {where} ({report['images']} images): {', '.join(scores) or 'no image could be scored'}"
