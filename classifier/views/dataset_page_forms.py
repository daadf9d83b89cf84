"""The forms the dataset page posts, each to its own URL: a class (add, delete), an upload, an import
(archive or URL list), the split settings, augmentation, and training a new version.

``dataset_page_form`` makes each view from a handler that gets the user's dataset and the form's valid
data: a refusal shows the dataset page again on the form's tab.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from classifier.forms.datasets import AugmentForm, DatasetImportForm, ImageUploadForm, LabelClassForm, SplitSettingsForm
from classifier.forms.versions import TrainVersionForm
from classifier.models import Dataset
from classifier.services.augmentation import dataset_augment_start
from classifier.services.datasets import label_class_delete, label_class_get_or_create
from classifier.services.images import images_upload
from classifier.services.imports import dataset_import_start
from classifier.services.model_versions import model_version_create
from classifier.services.splits import dataset_splits_reassign
from classifier.services.url_imports import url_list_import_start
from classifier.views.dataset_page import UPLOAD_RESULT_SESSION_KEY, dataset_page_form, dataset_tab_url, owned_dataset
from webapp.users import request_user

# Classes


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(LabelClassForm, name="class_form")
def label_class_create(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    try:
        label = label_class_get_or_create(dataset=dataset, name=data["name"])
    except ValidationError as error:
        # The service names its field "label"; this form calls it "name".
        raise ValidationError({"name": error.messages}) from error
    messages.success(request, f'Class "{label.name}" is ready.')
    return redirect(dataset_tab_url(dataset.pk, "add", "classes"))


@login_required
@require_POST
def label_class_delete_view(request: HttpRequest, pk: int, class_id: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
    label = get_object_or_404(dataset.classes, pk=class_id)
    label_class_delete(label=label)
    messages.success(request, f'Class "{label.name}" deleted; its images are now unlabelled.')
    return redirect(dataset_tab_url(dataset.pk, "add", "classes"))


# Images


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(ImageUploadForm, name="upload_form")
def images_upload_view(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    result = images_upload(dataset=dataset, files=data["files"], label_name=data["label"] or None)
    request.session[UPLOAD_RESULT_SESSION_KEY] = {
        "dataset_id": dataset.pk,
        "counts": result.counts(),
        "imported": result.imported_names(),
        "rejected": result.rejected,
    }
    return redirect(dataset_tab_url(dataset.pk, "add", "upload-result"))


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(DatasetImportForm, name="import_form")
def dataset_import(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    user = request_user(request)
    if data["urls"]:
        job = url_list_import_start(dataset=dataset, requested_by=user, urls=data["urls"])
    else:
        job = dataset_import_start(dataset=dataset, requested_by=user, archive=data["archive"], labels=data["labels"])
    messages.success(request, "Import started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


# Training


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(SplitSettingsForm, name="split_form")
def dataset_splits(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    counts = dataset_splits_reassign(dataset=dataset, **data)
    summary = f"{counts['train']} train, {counts['val']} validation, {counts['test']} test"
    if counts.get("augmented_deleted"):
        # Copies of images now held out would leak them into training, so the service drops them.
        summary += f"; {counts['augmented_deleted']} augmented copies of held-out images removed"
    messages.success(request, f"Splits reassigned: {summary}.")
    return redirect(dataset_tab_url(dataset.pk, "train", "splits"))


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(AugmentForm, name="augment_form", auto_id="augment_%s")
def dataset_augment(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    job = dataset_augment_start(dataset=dataset, requested_by=request_user(request), **data)
    messages.success(request, "Augmentation started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(TrainVersionForm, name="train_form", auto_id="train_%s")
def model_version_create_view(request: HttpRequest, dataset: Dataset, data: dict[str, Any]) -> HttpResponse:
    version = model_version_create(dataset=dataset, requested_by=request_user(request), options=data)
    messages.success(request, f"Version {version.number} is queued for training.")
    return redirect("classifier:model-version-detail", pk=version.pk)
