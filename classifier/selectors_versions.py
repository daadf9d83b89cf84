"""Reads about a model version for its pages and the API, beyond who may see it (``selectors``): its
training job and expected end, what it was trained on and how the dataset drifted since, and how two
versions compare (test sets, scores before a promotion, the compare page's scoring job).
"""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from classifier.models import DatasetImage, ModelVersion
from classifier.services.manifests import ManifestMissing, manifest_frame
from training_jobs.models import Job


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


def model_versions_test_sets(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
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


def model_version_data_summary(*, version: ModelVersion) -> dict[str, Any] | None:
    """What the version was trained on, from its manifest, and how much of it changed since: ``{"splits":
    {"train", "val", "test"}, "drift": {"relabelled", "moved", "deleted"}}``; None without a manifest.

    One query over the manifest's image ids: an image is relabelled when its label is not the one it was
    trained with (unlabelled since counts too), moved when it is in another split now, deleted when gone.
    The ids are asked for as their range, not a list: a manifest of 50,000 images would pass SQLite's limit
    on query parameters, and images added since have higher ids, so the range holds few others."""
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


def model_versions_score_job(*, user: User, versions: list[ModelVersion]) -> Job | None:
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
