"""Predicting: the Predict entry page, a quick test of one version (or of a dataset's active version),
and the ensemble page.

Predictions run synchronously in the services, on the version's cached TFLite interpreter; the result
is the saved Prediction's page (``predictions``), so it can be reloaded and stays in the history.
Versions are looked up through ``model_versions_usable_by``: the user's own and public ones.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from classifier.forms.predictions import EnsemblePredictForm, PredictForm
from classifier.forms.service_errors import add_service_error
from classifier.models import ModelVersion
from classifier.selectors import dataset_active_version, datasets_usable_by, model_versions_usable_by
from classifier.services.prediction_ensembles import MAX_ENSEMBLE_VERSIONS, prediction_ensemble_create
from classifier.services.predictions import prediction_create
from classifier.services.serving import (
    VersionNotServable,
    version_answer_threshold,
    version_check_servable,
    version_is_recalibrated,
)
from classifier.views.shared import percent
from webapp.users import request_user

# A version's class list starts open when it is short; ImageNet's thousand start collapsed.
CLASS_LIST_OPEN_UP_TO = 40


def _usable_version(request: HttpRequest, version_id: int) -> ModelVersion:
    return get_object_or_404(model_versions_usable_by(request_user(request)), pk=version_id)


def _servable_versions(request: HttpRequest) -> QuerySet[ModelVersion]:
    """Versions the user may predict with: their own datasets' first, then the public ones, each dataset's
    in version order."""
    return (
        model_versions_usable_by(request_user(request))
        .filter(status=ModelVersion.Status.READY)
        .exclude(tflite_file="")
        .order_by("dataset__is_public", "dataset__name", "dataset_id", "number")
    )


def _image_input(form: PredictForm) -> dict[str, Any]:
    """The image arguments of the prediction services: an upload's bytes and name, or the URL, which the
    service fetches itself once it knows the versions can answer (its refusals name "url")."""
    upload = form.cleaned_data["image"]
    if upload:
        return {"image_bytes": upload.read(), "filename": upload.name}
    return {"source_url": form.cleaned_data["url"]}


def class_list(version: ModelVersion | None) -> dict[str, Any]:
    """The version's class names for its quick test and its predictions' pages, open when few."""
    names = version.class_names if version is not None else []
    return {"class_names": names, "class_list_open": len(names) <= CLASS_LIST_OPEN_UP_TO}


# Choosing a version and an image


@login_required
@require_GET
def predict_index(request: HttpRequest) -> HttpResponse:
    rows = [
        {
            "version": version,
            "class_count": len(version.class_names),
            "accuracy": percent(version.metrics.get("accuracy")),
        }
        for version in _servable_versions(request)
    ]
    return render(request, "classifier/predict_index.html", {"rows": rows})


def _unservable_reason(version: ModelVersion) -> str:
    """Why the version cannot answer yet (not ready, no TFLite model), or "" when it can."""
    try:
        version_check_servable(version=version)
    except VersionNotServable as reason:
        return str(reason)
    return ""


def _render_quick_test(request: HttpRequest, version: ModelVersion, form: PredictForm) -> HttpResponse:
    context = {
        "version": version,
        "dataset": version.dataset,
        "form": form,
        "unservable_reason": _unservable_reason(version),
        "accuracy": percent(version.metrics.get("accuracy")),
        "recalibrated": version_is_recalibrated(version=version),
        "answer_threshold_percent": percent(version_answer_threshold(version=version)),
        **class_list(version),
    }
    return render(request, "classifier/predict.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def version_predict(request: HttpRequest, pk: int) -> HttpResponse:
    version = _usable_version(request, pk)
    form = PredictForm(
        request.POST or None, request.FILES or None, initial={"threshold": version_answer_threshold(version=version)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            prediction = prediction_create(
                owner=request_user(request),
                model_version=version,
                threshold=form.cleaned_data["threshold"],
                **_image_input(form),
            )
        except ValidationError as error:
            add_service_error(form, error)
        except VersionNotServable as error:
            form.add_error(None, str(error))
        else:
            return redirect("classifier:prediction-detail", pk=prediction.pk)
    return _render_quick_test(request, version, form)


@login_required
@require_GET
def dataset_predict(request: HttpRequest, pk: int) -> HttpResponse:
    """A dataset's quick test is its active version's."""
    dataset = get_object_or_404(datasets_usable_by(request_user(request)), pk=pk)
    active = dataset_active_version(dataset=dataset)
    if active is None:
        return render(request, "classifier/predict_unavailable.html", {"dataset": dataset})
    return redirect("classifier:model-version-predict", pk=active.pk)


@login_required
@require_http_methods(["GET", "POST"])
def ensemble_predict(request: HttpRequest) -> HttpResponse:
    versions = _servable_versions(request)
    # The ready-made public models (ImageNet-1k's three) are the natural first ensemble.
    public = [version.pk for version in versions if version.dataset.is_public][:MAX_ENSEMBLE_VERSIONS]
    form = EnsemblePredictForm(
        request.POST or None, request.FILES or None, versions=versions, initial={"model_versions": public}
    )
    if request.method == "POST" and form.is_valid():
        try:
            prediction = prediction_ensemble_create(
                owner=request_user(request),
                model_versions=list(form.cleaned_data["model_versions"]),
                threshold=form.cleaned_data["threshold"],
                shared_classes_only=form.cleaned_data["shared_classes_only"],
                **_image_input(form),
            )
        except ValidationError as error:
            add_service_error(form, error)
        except VersionNotServable as error:
            form.add_error("model_versions", str(error))
        else:
            return redirect("classifier:prediction-detail", pk=prediction.pk)
    return render(request, "classifier/ensemble.html", {"form": form, "version_count": len(versions)})


