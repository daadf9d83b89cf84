"""Two model versions side by side: settings, test metrics, split sizes and F1 per class, and a button
that scores both again on the dataset's current test split (a job this page follows).

Either version may be one the user can read (``model_versions_usable_by``): their own or a public one.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from classifier.forms.versions import VersionCompareForm
from classifier.models import DatasetImage, ModelVersion
from classifier.selectors import model_versions_usable_by
from classifier.selectors_versions import model_versions_score_job, model_versions_test_sets
from classifier.services.scoring import model_versions_score_start
from classifier.views.shared import percent
from classifier.views.version_page import SETTING_LABELS, setting_text
from training_jobs.models import Job
from webapp.pages import flash_service_error
from webapp.users import request_user


def _plain_text(value: object) -> str:
    return "—" if value is None else str(value)


def _score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _percent_text(value: float | None) -> str:
    return "—" if value is None else f"{percent(value):.1f}%"


def _compare_row(
    label: str, a: object, b: object, *, text: Callable[[Any], str] = _plain_text, better: str | None = None
) -> dict[str, Any]:
    """One line of the comparison. ``better`` is "higher" or "lower" for metrics, to mark the winner."""
    winner = None
    if better and isinstance(a, int | float) and isinstance(b, int | float) and a != b:
        winner = "a" if (a > b) == (better == "higher") else "b"
    return {"label": label, "a": text(a), "b": text(b), "differs": a != b, "winner": winner}


def _compare_sections(a: ModelVersion, b: ModelVersion) -> list[tuple[str, list[dict[str, Any]]]]:
    settings_rows = [
        _compare_row(label, a.hyperparameters.get(name), b.hyperparameters.get(name), text=setting_text)
        for name, label in SETTING_LABELS.items()
        if name in a.hyperparameters or name in b.hyperparameters
    ]
    metric_rows = [
        _compare_row(
            "Test accuracy", a.metrics.get("accuracy"), b.metrics.get("accuracy"), text=_percent_text, better="higher"
        ),
        _compare_row(
            "Macro F1", a.metrics.get("macro_f1"), b.metrics.get("macro_f1"), text=_score_text, better="higher"
        ),
        _compare_row(
            "ECE after calibration",
            a.calibration.get("ece_after"),
            b.calibration.get("ece_after"),
            text=_score_text,
            better="lower",
        ),
        _compare_row("Best epoch", a.metrics.get("best_epoch"), b.metrics.get("best_epoch")),
    ]
    split_rows = [
        _compare_row(
            f"{name} images",
            a.metrics.get("split_sizes", {}).get(split),
            b.metrics.get("split_sizes", {}).get(split),
        )
        for split, name in DatasetImage.Split.choices
    ]
    # Classes of both versions, A's order first: they may differ when the dataset changed in between.
    class_names = [*a.class_names, *(name for name in b.class_names if name not in a.class_names)]
    f1_rows = [
        _compare_row(
            name,
            a.metrics.get("per_class", {}).get(name, {}).get("f1"),
            b.metrics.get("per_class", {}).get(name, {}).get("f1"),
            text=_score_text,
            better="higher",
        )
        for name in class_names
    ]
    return [
        ("Settings", settings_rows),
        ("Test metrics", metric_rows),
        ("Split sizes", split_rows),
        ("F1 per class", f1_rows),
    ]


def _compare_scores(job: Job | None, a: ModelVersion, b: ModelVersion) -> dict[str, Any] | None:
    """The newest scoring of both on the current test split: its job, and each version's result once done."""
    if job is None:
        return None
    results = {result["model_version"]: result for result in (job.report or {}).get("results", [])}
    sides = {}
    for side, version in (("a", a), ("b", b)):
        result = results.get(version.pk) or {}
        accuracy = result.get("accuracy")
        text = _percent_text(accuracy) if accuracy is not None else result.get("error") or "—"
        sides[side] = {**result, "text": text}
    row = _compare_row("accuracy", sides["a"].get("accuracy"), sides["b"].get("accuracy"), better="higher")
    return {**sides, "job": job, "images": (job.report or {}).get("images"), "winner": row["winner"]}


@login_required
@require_http_methods(["GET", "POST"])
def model_version_compare(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    form = VersionCompareForm(request.GET, versions=model_versions_usable_by(user))
    if not form.is_valid():
        # A missing id, or one the user cannot see: both are "no such version" here.
        raise Http404("Choose two versions to compare.")
    a, b = form.cleaned_data["a"], form.cleaned_data["b"]
    if request.method == "POST":
        # "Score both on the current test split": back to this page, which follows the job.
        try:
            model_versions_score_start(requested_by=user, versions=[a, b])
        except ValidationError as error:
            flash_service_error(request, error)
        else:
            messages.success(request, f"Scoring v{a.number} and v{b.number} on the current test split.")
        return redirect(request.get_full_path())
    same_dataset = a.dataset_id == b.dataset_id
    context = {
        "a": a,
        "b": b,
        "sections": _compare_sections(a, b),
        "test_sets": model_versions_test_sets(a, b),
        "same_dataset": same_dataset,
        "can_score": same_dataset and a.pk != b.pk and a.status == b.status == ModelVersion.Status.READY,
        "scores": _compare_scores(model_versions_score_job(user=user, versions=[a, b]), a, b),
    }
    return render(request, "classifier/model_version_compare.html", context)
