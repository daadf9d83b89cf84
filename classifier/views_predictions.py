"""Prediction pages: the Predict entry page, a quick test of one version (or of a dataset's active
version), the ensemble page, the history, and a prediction's page with its answer and the owner's
feedback on it.

Predictions run synchronously in the services, on the version's cached TFLite interpreter; the result
is the saved Prediction's page, so it can be reloaded and stays in the history. Objects are looked up
through user-scoped selectors, so another user's version or prediction is a 404; writes are POST-only
and the services' refusals are shown on the form or as a message.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.dataset_page import percent
from classifier.forms import (
    EnsemblePredictForm,
    PredictForm,
    PredictionAddToDatasetForm,
    PredictionFeedbackForm,
    ThresholdForm,
    add_service_error,
)
from classifier.models import ModelVersion, Prediction
from classifier.selectors import (
    dataset_active_version,
    datasets_usable_by,
    model_versions_usable_by,
    predictions_for_user,
)
from classifier.services.predictions import (
    DEFAULT_THRESHOLD,
    MAX_ENSEMBLE_VERSIONS,
    PredictionNotReady,
    prediction_add_creates_class,
    prediction_add_to_dataset,
    prediction_answer,
    prediction_class_names,
    prediction_create,
    prediction_ensemble_create,
    prediction_feedback,
)
from classifier.services.serving import (
    VersionNotServable,
    version_answer_threshold,
    version_check_servable,
    version_is_recalibrated,
)
from webapp.pages import flash_service_error

PREDICTIONS_PER_PAGE = 25
# A version's class list starts open when it is short; ImageNet's thousand start collapsed.
CLASS_LIST_OPEN_UP_TO = 40


def _usable_version(request: HttpRequest, version_id: int) -> ModelVersion:
    return get_object_or_404(model_versions_usable_by(request.user), pk=version_id)


def _owned_prediction(request: HttpRequest, prediction_id: int) -> Prediction:
    return get_object_or_404(
        predictions_for_user(request.user).select_related("added_image__dataset", "added_image__label"),
        pk=prediction_id,
    )


def _servable_versions(request: HttpRequest) -> QuerySet[ModelVersion]:
    """Versions the user may predict with: their own datasets' first, then the public ones, each dataset's
    in version order."""
    return (
        model_versions_usable_by(request.user)
        .filter(status=ModelVersion.Status.READY)
        .exclude(tflite_file="")
        .order_by("dataset__is_public", "dataset__name", "dataset_id", "number")
    )


def _image_input(form: PredictForm) -> dict:
    """The image arguments of the prediction services: an upload's bytes and name, or the URL, which the
    service fetches itself once it knows the versions can answer (its refusals name "url")."""
    upload = form.cleaned_data["image"]
    if upload:
        return {"image_bytes": upload.read(), "filename": upload.name}
    return {"source_url": form.cleaned_data["url"]}


def _class_list(version: ModelVersion | None) -> dict:
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
        **_class_list(version),
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
                owner=request.user,
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
    dataset = get_object_or_404(datasets_usable_by(request.user), pk=pk)
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
                owner=request.user,
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


# History and results


@login_required
@require_GET
def prediction_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(predictions_for_user(request.user), PREDICTIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "classifier/prediction_list.html", {"page_obj": page})


def _bars(results: list[dict]) -> list[dict]:
    """Top-k rows for the bar chart: label, percent, and the bar's CSS width."""
    return [
        {"label": row["label"], "percent": percent(row["probability"]), "width": f"{row['probability'] * 100:.2f}%"}
        for row in results
    ]


def _threshold(request: HttpRequest, prediction: Prediction) -> tuple[ThresholdForm, float]:
    """The threshold asked for in the query string, else the one the prediction was made with."""
    stored = prediction.details.get("threshold", DEFAULT_THRESHOLD)
    if "threshold" not in request.GET:
        return ThresholdForm(initial={"threshold": stored}), stored
    form = ThresholdForm(request.GET)
    return form, form.cleaned_data["threshold"] if form.is_valid() else stored


def _members(request: HttpRequest, prediction: Prediction) -> list[dict]:
    """An ensemble's members side by side, each with its version (None once that version is gone)."""
    members = prediction.details.get("members", [])
    versions = model_versions_usable_by(request.user).in_bulk([member["model_version"] for member in members])
    return [
        {
            "version": versions.get(member["model_version"]),
            "version_id": member["model_version"],
            "is_unknown": member.get("is_unknown", False),
            "bars": _bars(member["predictions"]),
        }
        for member in members
    ]


def _feedback_form(prediction: Prediction, data: dict | None = None) -> PredictionFeedbackForm:
    """The wrong-answer form, its class list the prediction's known classes; a stored label that is not
    one of them (a new class) shows in the new-class field."""
    class_names = prediction_class_names(prediction=prediction)
    label = prediction.correct_label
    initial = {"correct_label": label} if label in class_names else {"new_class_name": label}
    return PredictionFeedbackForm(data, initial=initial, class_names=class_names, auto_id="feedback_%s")


def render_prediction(
    request: HttpRequest, prediction: Prediction, feedback_form: PredictionFeedbackForm | None = None
) -> HttpResponse:
    """The result page; the feedback view passes its bound form back to show its errors."""
    threshold_form, threshold = _threshold(request, prediction)
    is_ensemble = bool(prediction.ensemble_version_ids)
    version = None if is_ensemble else prediction.model_version
    members = _members(request, prediction) if is_ensemble else []
    answered_by = [member["version"] for member in members] if is_ensemble else [version]
    can_add_to_dataset = (
        version is not None
        and prediction.is_correct is False
        and bool(prediction.correct_label)
        and prediction.added_image_id is None
    )
    context = {
        "prediction": prediction,
        "version": version,
        "is_ensemble": is_ensemble,
        "members": members,
        # The ready ImageNet models answer their published probabilities, not recalibrated ones.
        "recalibrated": all(version_is_recalibrated(version=answered) for answered in answered_by if answered),
        "bars": _bars(prediction.results),
        "answer": prediction_answer(prediction.results, is_unknown=prediction.is_unknown, threshold=threshold),
        "threshold_percent": percent(threshold),
        "threshold_form": threshold_form,
        "feedback_form": feedback_form or _feedback_form(prediction),
        # A wrong answer whose right class is known can become a training image of the version's dataset.
        "can_add_to_dataset": can_add_to_dataset,
        # Then the button says so when that class is new to the dataset, and only that button creates it.
        "add_creates_class": can_add_to_dataset
        and prediction_add_creates_class(prediction=prediction, label_name=prediction.correct_label),
        **_class_list(version),
    }
    return render(request, "classifier/prediction_detail.html", context)


@login_required
@require_GET
def prediction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_prediction(request, _owned_prediction(request, pk))


@login_required
@require_POST
def prediction_feedback_view(request: HttpRequest, pk: int) -> HttpResponse:
    prediction = _owned_prediction(request, pk)
    form = _feedback_form(prediction, request.POST)
    if form.is_valid():
        is_correct = form.cleaned_data["verdict"] == "right"
        try:
            prediction_feedback(
                prediction=prediction,
                is_correct=is_correct,
                correct_label=form.cleaned_data["label"],
                new_class=form.cleaned_data["new_class"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        except PredictionNotReady as error:
            form.add_error(None, str(error))
        else:
            if is_correct:
                messages.success(request, "Thanks: marked as right.")
            else:
                messages.success(request, f'Thanks: marked as wrong; it is "{prediction.correct_label}".')
            return redirect("classifier:prediction-detail", pk=prediction.pk)
    return render_prediction(request, prediction, feedback_form=form)


@login_required
@require_POST
def prediction_add_to_dataset_view(request: HttpRequest, pk: int) -> HttpResponse:
    prediction = _owned_prediction(request, pk)
    form = PredictionAddToDatasetForm(request.POST)
    new_class = form.is_valid() and form.cleaned_data["new_class"]
    try:
        image = prediction_add_to_dataset(
            prediction=prediction, label_name=prediction.correct_label, new_class=new_class
        )
    except (PermissionDenied, PredictionNotReady) as refusal:
        # Refused nicely, on the page: a public dataset (ImageNet-1k) takes images from staff only.
        messages.error(request, str(refusal))
    except ValidationError as error:
        flash_service_error(request, error)
    else:
        messages.success(request, f'Added to "{image.dataset.name}" as "{image.label.name}".')
    return redirect("classifier:prediction-detail", pk=prediction.pk)
