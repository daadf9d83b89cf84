"""The buttons of a model version's page: promote (or roll back), retrain (staff), train a failed
version again, delete. POST only; versions are looked up through ``model_versions_for_user``, so only
their owner (and staff) can change them, and the services' refusals come back as messages."""

from typing import Protocol

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from classifier.models import ModelVersion
from classifier.selectors import dataset_active_version, model_version_retrain_allowed, model_versions_for_user
from classifier.services.model_versions import (
    ModelVersionInUse,
    model_version_delete,
    model_version_promote,
    model_version_retrain,
    model_version_train_again,
)
from classifier.views.dataset_page import dataset_tab_url
from webapp.pages import flash_service_error, redirect_back
from webapp.users import request_user


class _StartAgain(Protocol):
    """``model_version_retrain`` or ``model_version_train_again``."""

    def __call__(self, *, version: ModelVersion, requested_by: User) -> ModelVersion: ...


def _owned_version(request: HttpRequest, version_id: int) -> ModelVersion:
    return get_object_or_404(model_versions_for_user(request_user(request)), pk=version_id)


@login_required
@require_POST
def model_version_promote_view(request: HttpRequest, pk: int) -> HttpResponse:
    version = _owned_version(request, pk)
    previous = dataset_active_version(dataset=version.dataset)
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
    if not model_version_retrain_allowed(user=request.user):
        raise PermissionDenied("Only staff can retrain a version.")
    return _start_again(request, _owned_version(request, pk), model_version_retrain)


@login_required
@require_POST
def model_version_train_again_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A failed or cancelled version's owner starts it again in one click: the same options, a new
    plan for the dataset as it is now."""
    return _start_again(request, _owned_version(request, pk), model_version_train_again)


def _start_again(request: HttpRequest, version: ModelVersion, start: _StartAgain) -> HttpResponse:
    try:
        again = start(version=version, requested_by=request_user(request))
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
