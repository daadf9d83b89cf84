"""Prediction results: the history, a prediction's page with its answer (the threshold can be changed
there: the answer is recomputed from the stored probabilities), the owner's feedback on it, and adding a
wrongly answered image to the version's dataset.

Predictions are looked up through ``predictions_for_user``, so another user's prediction is a 404;
writes are POST-only and the services' refusals are shown on the form or as a message.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from classifier.forms.predictions import PredictionAddToDatasetForm, PredictionFeedbackForm, ThresholdForm
from classifier.forms.service_errors import add_service_error
from classifier.models import Prediction
from classifier.selectors import model_versions_usable_by, predictions_for_user
from classifier.services.prediction_feedback import (
    prediction_add_creates_class,
    prediction_add_to_dataset,
    prediction_class_names,
    prediction_feedback,
)
from classifier.services.predictions import PredictionNotReady, prediction_answer
from classifier.services.serving import DEFAULT_THRESHOLD, version_is_recalibrated
from classifier.views.predict import class_list
from classifier.views.shared import percent
from webapp.pages import flash_service_error
from webapp.users import request_user

PREDICTIONS_PER_PAGE = 25


def _owned_prediction(request: HttpRequest, prediction_id: int) -> Prediction:
    return get_object_or_404(
        predictions_for_user(request_user(request)).select_related("added_image__dataset", "added_image__label"),
        pk=prediction_id,
    )


@login_required
@require_GET
def prediction_list(request: HttpRequest) -> HttpResponse:
    predictions = predictions_for_user(request_user(request))
    page = Paginator(predictions, PREDICTIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "classifier/prediction_list.html", {"page_obj": page})


def _bars(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def _members(request: HttpRequest, prediction: Prediction) -> list[dict[str, Any]]:
    """An ensemble's members side by side, each with its version (None once that version is gone)."""
    members = prediction.details.get("members", [])
    usable = model_versions_usable_by(request_user(request))
    versions = usable.in_bulk([member["model_version"] for member in members])
    return [
        {
            "version": versions.get(member["model_version"]),
            "version_id": member["model_version"],
            "is_unknown": member.get("is_unknown", False),
            "bars": _bars(member["predictions"]),
        }
        for member in members
    ]


def _feedback_form(prediction: Prediction, data: QueryDict | None = None) -> PredictionFeedbackForm:
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
        **class_list(version),
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
        messages.success(request, f'Added to "{image.dataset.name}" as "{image.label}".')
    return redirect("classifier:prediction-detail", pk=prediction.pk)
