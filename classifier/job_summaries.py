"""What each kind of job did, in words and links, for its page: the version a training made and its
score, the classes an import filled, the copies augmentation made per class, a batch's results file.

Registered with each job kind (``classifier.jobs``); the job engine shows the facts without knowing what
they mean.
"""

from django.urls import reverse

from training_jobs.models import Job


def _fact(label: str, text: str, url: str = "") -> dict[str, str]:
    return {"label": label, "text": text, "url": url}


def _version_fact(job: Job) -> list[dict[str, str]]:
    version = job.model_version
    if version is None:
        return [_fact("Model version", "deleted since")]
    url = reverse("classifier:model-version-detail", args=[version.pk])
    return [_fact("Model version", f"{version.dataset.name} v{version.number}", url)]


def _per_class_text(per_class: dict[str, int], sign: str = "") -> str:
    if not per_class:
        return "none"
    return " · ".join(f"{name} {sign}{count}" for name, count in sorted(per_class.items()) if count) or "none"


def training_summary(job: Job) -> list[dict[str, str]]:
    facts = _version_fact(job)
    version = job.model_version
    if version is not None:
        facts.append(_fact("Backbone", f"{version.backbone} · {version.image_size} px"))
    accuracy = (job.report or {}).get("accuracy")
    if accuracy is not None:
        facts.append(_fact("Test accuracy", f"{accuracy * 100:.1f}%"))
    elif job.status == Job.Status.SUCCEEDED:
        facts.append(_fact("Test accuracy", "not measured: the dataset had no test images"))
    best_epoch = (job.report or {}).get("best_epoch")
    if best_epoch:
        facts.append(_fact("Best epoch", str(best_epoch)))
    return facts


def import_summary(job: Job) -> list[dict[str, str]]:
    report = job.report or {}
    if "imported" not in report:
        return []
    # A URL list's rows are URLs, an archive's members files.
    unit = "URLs" if job.params.get("urls") else "files"
    facts = [_fact("Imported", f"{report['imported']} of {report.get('total', 0)} {unit}")]
    if report.get("classes"):
        facts.append(_fact("Into classes", _per_class_text(report["classes"])))
    if report["imported"] and job.dataset_id:
        url = reverse("classifier:dataset-detail", args=[job.dataset_id]) + "?tab=images"
        facts.append(_fact("Images", "see them in the dataset", url))
    return facts


def augmentation_summary(job: Job) -> list[dict[str, str]]:
    report = job.report or {}
    if "created" not in report:
        return [_fact("Target", f"{job.params.get('target_per_class', '?')} training images per class")]
    facts = [_fact("Copies made", f"{report['created']} ({_per_class_text(report.get('per_class', {}), '+')})")]
    untouched = sorted(name for name, count in (report.get("planned") or {}).items() if not count)
    if untouched:
        facts.append(_fact("Already at the target", ", ".join(untouched)))
    if report.get("skipped_not_training"):
        facts.append(_fact("Skipped", f"{report['skipped_not_training']} (their pictures left the training split)"))
    if report.get("stopped_at_quota"):
        facts.append(_fact("Stopped early", report["stopped_at_quota"]))
    return facts


def batch_prediction_summary(job: Job) -> list[dict[str, str]]:
    facts = _version_fact(job)
    if job.result_file:
        facts.append(_fact("Results", "download the CSV", reverse("training_jobs_api:job-result", args=[job.pk])))
    return facts


def label_issues_summary(job: Job) -> list[dict[str, str]]:
    report = job.report or {}
    facts = []
    if "images" in report:
        facts.append(_fact("Images checked", f"{report['images']} in {report['classes']} classes"))
        facts.append(_fact("Backbone", f"{report['backbone']} · {report['image_size']} px"))
    if job.status == Job.Status.SUCCEEDED and job.dataset_id:
        url = reverse("classifier:label-issues", args=[job.dataset_id])
        facts.append(_fact("Likely label issues", f"{report.get('queued', 0)} to review", url))
    return facts


def score_summary(job: Job) -> list[dict[str, str]]:
    """Each version's accuracy on the scored test set, linked to its page."""
    report = job.report or {}
    source = job.params.get("manifest_version")
    where = "the dataset's current test split" if source is None else f"the manifest test set of version #{source}"
    facts = [_fact("Test set", where + (f" ({report['images']} images)" if "images" in report else ""))]
    for result in report.get("results", []):
        label = f"v{result.get('number')}"
        if result.get("accuracy") is None:
            facts.append(_fact(label, result.get("error") or "no image could be scored"))
            continue
        counts = [f"{result['correct']} of {result['scored']} right"]
        counts += [f"{result[key]} {key}" for key in ("skipped", "missing") if result.get(key)]
        url = reverse("classifier:model-version-detail", args=[result["model_version"]])
        facts.append(_fact(label, f"{result['accuracy'] * 100:.1f}% ({', '.join(counts)})", url))
    return facts
