"""Model version pages: train a new version from the dataset page, a version's page (live training
curves, test metrics, confusion matrix, calibration, the most confidently wrong test images), promote
or roll back, retrain (staff), and two versions side by side (and scored again on the same test images).

Versions are looked up through ``model_versions_for_user``, so another user's version is a 404;
writes are POST-only and go through the services, whose ValidationErrors reach the form or a message.
"""

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.dataset_page import dataset_page_form, dataset_tab_url, percent
from classifier.forms import TrainVersionForm, VersionCompareForm
from classifier.models import Dataset, DatasetImage, ModelVersion
from classifier.selectors import (
    images_for_user,
    model_version_changeable_by,
    model_version_data_summary,
    model_version_eta_seconds,
    model_version_promote_warnings,
    model_version_training_job,
    model_versions_for_user,
    model_versions_score_job,
    model_versions_test_sets,
    model_versions_usable_by,
)
from classifier.services.manifests import manifest_summary_text
from classifier.services.model_versions import (
    ModelVersionInUse,
    model_version_create,
    model_version_delete,
    model_version_promote,
    model_version_retrain,
    model_version_train_again,
)
from classifier.services.quantization import version_serving_choice
from classifier.services.scoring import model_versions_score_start
from classifier.services.serving import version_export_metadata
from training_jobs.models import Job
from training_jobs.selectors import epoch_metrics_for_job
from webapp.pages import flash_service_error, redirect_back

# The settings a version shows, in this order. The weights folder is left out: it is a path on the
# server, not a choice the user made.
SETTING_LABELS = {
    "backbone": "Backbone",
    "weights": "Pretrained weights",
    "image_size": "Image size (px)",
    "budget_minutes": "Time budget (min)",
    "epochs": "Head epochs",
    "batch_size": "Batch size",
    "learning_rate": "Learning rate",
    "fine_tune_layers": "Fine-tune layers",
    "fine_tune_fraction": "Fine-tuned share of the backbone",
    "fine_tune_epochs": "Fine-tune epochs (most)",
    "fine_tune_learning_rate": "Fine-tune peak learning rate",
    "weight_decay": "Weight decay",
    "early_stopping_patience": "Early-stopping patience",
    "augment": "Augment while training",
    "horizontal_flip": "Mirror images",
    "augment_views": "Views per image",
    "dropout": "Dropout",
    "label_smoothing": "Label smoothing",
    "seed": "Seed",
}
CURVE_FIELDS = ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def _owned_version(request: HttpRequest, version_id: int) -> ModelVersion:
    return get_object_or_404(model_versions_for_user(request.user), pk=version_id)


def _setting_text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# What a null means for the settings where it is not "none".
NULL_SETTINGS = {"horizontal_flip": "found out from the pictures", "image_size": "the backbone's"}


def _settings(version: ModelVersion) -> list[tuple[str, str]]:
    stored = dict(version.hyperparameters)
    if not stored.get("fine_tune_layers") and stored.get("fine_tune_fraction"):
        # Fine-tuning was asked for as a share of the backbone: a layer count of 0 would read as "none".
        stored.pop("fine_tune_layers")
    return [
        (label, NULL_SETTINGS[name] if stored[name] is None and name in NULL_SETTINGS else _setting_text(stored[name]))
        for name, label in SETTING_LABELS.items()
        if name in stored
    ]


def _active_version(version: ModelVersion) -> ModelVersion | None:
    return version.dataset.model_versions.filter(is_active=True).first()


# Writes


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(TrainVersionForm, name="train_form", auto_id="train_%s")
def model_version_create_view(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    version = model_version_create(dataset=dataset, requested_by=request.user, options=data)
    messages.success(request, f"Version {version.number} is queued for training.")
    return redirect("classifier:model-version-detail", pk=version.pk)


@login_required
@require_POST
def model_version_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = _owned_version(request, pk)
    previous = _active_version(version)
    try:
        model_version_promote(version=version)
    except ValidationError as error:
        flash_service_error(request, error)
    else:
        if previous is not None and previous.number > version.number:
            messages.success(request, f"Rolled back from version {previous.number} to version {version.number}.")
        else:
            messages.success(request, f"Version {version.number} is now the active version.")
    return redirect_back(request, reverse("classifier:model-version-detail", args=[version.pk]))


@login_required
@require_POST
def model_version_retrain_view(request: HttpRequest, pk: int) -> HttpResponse:
    # Retraining takes a GPU for as long as the first training did, so only staff may start one.
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can retrain a version.")
    return _start_again(request, _owned_version(request, pk), model_version_retrain)


@login_required
@require_POST
def model_version_train_again_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A failed or cancelled version's owner starts it again in one click: the same options, a new
    plan for the dataset as it is now."""
    return _start_again(request, _owned_version(request, pk), model_version_train_again)


def _start_again(request: HttpRequest, version: ModelVersion, start) -> HttpResponse:
    try:
        again = start(version=version, requested_by=request.user)
    except ValidationError as error:
        flash_service_error(request, error)
        return redirect("classifier:model-version-detail", pk=version.pk)
    messages.success(request, f"Version {again.number} is queued with version {version.number}'s settings.")
    return redirect("classifier:model-version-detail", pk=again.pk)


@login_required
@require_POST
def model_version_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = _owned_version(request, pk)
    dataset_id, number = version.dataset_id, version.number
    try:
        model_version_delete(version=version)
    except ModelVersionInUse as error:
        messages.error(request, str(error))
        return redirect("classifier:model-version-detail", pk=version.pk)
    messages.success(request, f"Version {number} and its files were deleted.")
    return redirect(dataset_tab_url(dataset_id, "versions"))


# Pages


def _per_class_rows(version: ModelVersion) -> list[dict]:
    per_class = version.metrics.get("per_class", {})
    return [{"name": name, **per_class[name]} for name in version.class_names if name in per_class]


def _confusion_rows(version: ModelVersion) -> list[dict]:
    """Rows = true class, cells = predicted class; each cell's share of its row sets its colour, so a
    small class's mistakes stand out as much as a large one's."""
    rows = []
    for true_index, (name, counts) in enumerate(
        zip(version.class_names, version.metrics.get("confusion_matrix", []), strict=False)
    ):
        total = sum(counts)
        rows.append(
            {
                "name": name,
                "total": total,
                "cells": [
                    {
                        "count": count,
                        "predicted": version.class_names[index],
                        "share": round(100 * count / total) if total else 0,
                        "correct": index == true_index,
                    }
                    for index, count in enumerate(counts)
                ],
            }
        )
    return rows


def _confused_gallery(request: HttpRequest, version: ModelVersion) -> list[dict]:
    """The stored most-confused entries whose image still exists (some may have been deleted since)."""
    entries = version.most_confused
    images = images_for_user(request.user).in_bulk([entry["image_id"] for entry in entries])
    return [
        {**entry, "image": images[entry["image_id"]], "probability_percent": percent(entry["probability"])}
        for entry in entries
        if entry["image_id"] in images
    ]


def _finite_or_none(value: object) -> object:
    # A diverging run logs NaN or infinite losses, which JSON (and so the page's charts) cannot carry.
    return None if isinstance(value, float) and not math.isfinite(value) else value


@login_required
@require_GET
def model_version_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # Public versions (the ImageNet models) are readable by everyone, as in the API; only their owner
    # and staff see the buttons that change them.
    version = get_object_or_404(model_versions_usable_by(request.user), pk=pk)
    can_change = model_version_changeable_by(user=request.user, version=version)
    job = model_version_training_job(version=version)
    curves = [
        {name: _finite_or_none(value) for name, value in row.items()}
        for row in (epoch_metrics_for_job(job).values(*CURVE_FIELDS) if job else [])
    ]
    active = _active_version(version)
    calibration = version.calibration
    data = model_version_data_summary(version=version)
    context = {
        "version": version,
        "dataset": version.dataset,
        "job": job,
        "is_live": job is not None and not job.is_finished,
        "job_api_url": reverse("training_jobs_api:job-detail", args=[job.pk]) if job else "",
        "curves_api_url": reverse("classifier_api:model-version-curves", args=[version.pk]),
        "version_api_url": reverse("classifier_api:model-version-detail", args=[version.pk]),
        "export_url": reverse("classifier_api:model-version-export", args=[version.pk]),
        "export_metadata_url": reverse("classifier_api:model-version-export-metadata", args=[version.pk]),
        # How to feed the exported files (docs/exports.md), shown beside their links.
        "export_metadata": version_export_metadata(version=version)
        if version.status == ModelVersion.Status.READY
        else None,
        "curves": curves,
        "settings": _settings(version),
        "accuracy": percent(version.metrics.get("accuracy")),
        "macro_f1": version.metrics.get("macro_f1"),
        "serving": version_serving_choice(version=version),
        # The ready ImageNet models' record is measured on sample photos, not a test split.
        "float_accuracy": percent(version.quantization.get("accuracy")),
        "int8_accuracy": percent(version.quantization.get("accuracy_int8")),
        "per_class": _per_class_rows(version),
        "confusion": _confusion_rows(version),
        "reliability": {
            "before": calibration.get("reliability_before", []),
            "after": calibration.get("reliability_after", []),
            # Versions trained before test-split calibration measured it on validation.
            "split": "test" if calibration.get("split") == "test" else "validation",
        },
        "gallery": _confused_gallery(request, version),
        "plan": version.plan,
        "eta_seconds": model_version_eta_seconds(version=version),
        "dataset_classes": list(version.dataset.classes.values_list("name", flat=True)),
        "active_version": active,
        "is_rollback": active is not None and not version.is_active and version.number < active.number,
        "promote_warnings": model_version_promote_warnings(version=version, active=active),
        "can_change": can_change,
        "data_text": manifest_summary_text(data) if data else "",
        "manifest_url": reverse("classifier_api:model-version-manifest", args=[version.pk]),
    }
    return render(request, "classifier/model_version_detail.html", context)


def _plain_text(value: object) -> str:
    return "—" if value is None else str(value)


def _score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _percent_text(value: float | None) -> str:
    return "—" if value is None else f"{percent(value):.1f}%"


def _compare_row(label: str, a: object, b: object, *, text=_plain_text, better: str | None = None) -> dict:
    """One line of the comparison. ``better`` is "higher" or "lower" for metrics, to mark the winner."""
    winner = None
    if better and isinstance(a, int | float) and isinstance(b, int | float) and a != b:
        winner = "a" if (a > b) == (better == "higher") else "b"
    return {"label": label, "a": text(a), "b": text(b), "differs": a != b, "winner": winner}


def _compare_sections(a: ModelVersion, b: ModelVersion) -> list[tuple[str, list[dict]]]:
    settings_rows = [
        _compare_row(label, a.hyperparameters.get(name), b.hyperparameters.get(name), text=_setting_text)
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


def _compare_scores(job: Job | None, a: ModelVersion, b: ModelVersion) -> dict | None:
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
    form = VersionCompareForm(request.GET, versions=model_versions_usable_by(request.user))
    if not form.is_valid():
        # A missing id, or one the user cannot see: both are "no such version" here.
        raise Http404("Choose two versions to compare.")
    a, b = form.cleaned_data["a"], form.cleaned_data["b"]
    if request.method == "POST":
        # "Score both on the current test split": back to this page, which follows the job.
        try:
            model_versions_score_start(requested_by=request.user, versions=[a, b])
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
        "scores": _compare_scores(model_versions_score_job(user=request.user, versions=[a, b]), a, b),
    }
    return render(request, "classifier/model_version_compare.html", context)
