"""A model version's page: live training curves, test metrics, confusion matrix, calibration, the most
confidently wrong test images, and the buttons that change it (``version_actions``) for its owner.

Public versions (the ImageNet models) are readable by everyone, as in the API; the version is looked up
through ``model_versions_usable_by``, so another user's private version is a 404.
"""

import math
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from classifier.models import ModelVersion
from classifier.selectors import (
    dataset_active_version,
    images_for_user,
    model_version_changeable_by,
    model_version_retrain_allowed,
    model_versions_usable_by,
)
from classifier.selectors_versions import (
    model_version_data_summary,
    model_version_eta_seconds,
    model_version_promote_warnings,
    model_version_training_job,
)
from classifier.services.export_metadata import version_export_metadata
from classifier.services.manifests import manifest_summary_text
from classifier.services.quantization import version_serving_choice
from classifier.views.shared import percent
from training_jobs.selectors import epoch_metrics_for_job
from webapp.users import request_user

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


def setting_text(value: object) -> str:
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
        (label, NULL_SETTINGS[name] if stored[name] is None and name in NULL_SETTINGS else setting_text(stored[name]))
        for name, label in SETTING_LABELS.items()
        if name in stored
    ]


def _per_class_rows(version: ModelVersion) -> list[dict[str, Any]]:
    per_class = version.metrics.get("per_class", {})
    return [{"name": name, **per_class[name]} for name in version.class_names if name in per_class]


def _confusion_rows(version: ModelVersion) -> list[dict[str, Any]]:
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


def _confused_gallery(request: HttpRequest, version: ModelVersion) -> list[dict[str, Any]]:
    """The stored most-confused entries whose image still exists (some may have been deleted since)."""
    entries = version.most_confused
    images = images_for_user(request_user(request)).in_bulk([entry["image_id"] for entry in entries])
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
    user = request_user(request)
    version = get_object_or_404(model_versions_usable_by(user), pk=pk)
    can_change = model_version_changeable_by(user=user, version=version)
    job = model_version_training_job(version=version)
    curves = [
        {name: _finite_or_none(value) for name, value in row.items()}
        for row in (epoch_metrics_for_job(job).values(*CURVE_FIELDS) if job else [])
    ]
    active = dataset_active_version(dataset=version.dataset)
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
        "can_retrain": model_version_retrain_allowed(user=user),
        "data_text": manifest_summary_text(data) if data else "",
        "manifest_url": reverse("classifier_api:model-version-manifest", args=[version.pk]),
    }
    return render(request, "classifier/model_version_detail.html", context)
