"""Dataset pages: list and create, detail (chart, classes, upload, import, splits, augmentation, model
versions, image grid), edit, delete, and the owner-checked image file and thumbnail responses.

The model version pages, and the train form the detail page posts, are in ``views_versions``.

Each view does one operation. Objects are looked up through the selectors, so another user's dataset
or image is a 404; writes are POST-only and go through the services, whose ValidationErrors are shown
on the form or as a message.
"""

import functools
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.forms import (
    AugmentForm,
    DatasetForm,
    DatasetImportForm,
    ImageFilterForm,
    ImageRelabelForm,
    ImageUploadForm,
    LabelClassForm,
    SplitSettingsForm,
    TrainVersionForm,
    VersionCompareForm,
    add_service_error,
)
from classifier.models import Dataset, DatasetImage
from classifier.selectors import (
    dataset_class_stats,
    dataset_images,
    dataset_model_versions,
    datasets_for_user,
    images_for_user,
)
from classifier.services.augmentation import dataset_augment_start
from classifier.services.datasets import (
    dataset_create,
    dataset_delete,
    dataset_update,
    label_class_delete,
    label_class_get_or_create,
)
from classifier.services.images import image_delete, image_relabel, images_upload
from classifier.services.imports import dataset_import_start
from classifier.services.splits import dataset_splits_reassign
from training_jobs.reports import report_sections
from training_jobs.selectors import jobs_for_user
from webapp.downloads import stored_file_response
from webapp.pages import flash_service_error, redirect_back

IMAGES_PER_PAGE = 48
RECENT_JOBS_SHOWN = 5
# Browsers may keep an image for an hour, but only privately: files are visible to their owner only.
IMAGE_CACHE_SECONDS = 3600
# The upload result survives the redirect after the POST in the session, for one display.
UPLOAD_RESULT_SESSION_KEY = "sightline_upload_result"


def _owned_dataset(request: HttpRequest, dataset_id: int) -> Dataset:
    return get_object_or_404(datasets_for_user(request.user), pk=dataset_id)


def _owned_image(request: HttpRequest, image_id: int) -> DatasetImage:
    return get_object_or_404(images_for_user(request.user), pk=image_id)


def percent(fraction: float | None) -> float | None:
    """0.9342 → 93.42 for a template's floatformat; None (a version without test images) stays None."""
    return None if fraction is None else fraction * 100


# Datasets


def _render_dataset_list(request: HttpRequest, form: DatasetForm) -> HttpResponse:
    datasets = datasets_for_user(request.user).prefetch_related("classes")
    return render(request, "classifier/dataset_list.html", {"datasets": datasets, "form": form})


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    return _render_dataset_list(request, DatasetForm())


@login_required
@require_POST
def dataset_create_view(request: HttpRequest) -> HttpResponse:
    form = DatasetForm(request.POST)
    if form.is_valid():
        try:
            dataset = dataset_create(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f'Dataset "{dataset.name}" created. Add classes and images next.')
            return redirect("classifier:dataset-detail", pk=dataset.pk)
    return _render_dataset_list(request, form)


def render_dataset_detail(request: HttpRequest, dataset: Dataset, **bound_forms) -> HttpResponse:
    """The detail page; POST views that fail validation pass their bound form to show its errors."""
    stats = dataset_class_stats(dataset=dataset)
    class_names = [row["name"] for row in stats]
    # Its own id prefix: the upload form on the same page also has a "label" field.
    filter_form = ImageFilterForm(request.GET, class_names=class_names, auto_id="filter_%s")
    label = split = None
    if filter_form.is_valid():
        label = filter_form.cleaned_data["label"] or None
        split = filter_form.cleaned_data["split"] or None
    page = Paginator(dataset_images(dataset=dataset, label=label, split=split), IMAGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    upload_result = None
    stored_upload = request.session.pop(UPLOAD_RESULT_SESSION_KEY, None)
    if stored_upload and stored_upload.get("dataset_id") == dataset.pk:
        counts, rejected = report_sections(stored_upload)
        upload_result = {"counts": counts, "rejected": rejected, "imported": stored_upload["imported"]}
    context = {
        "dataset": dataset,
        "class_stats": stats,
        "class_names": class_names,
        "chart_data": {
            "labels": class_names,
            "splits": [
                {"key": key, "label": str(name), "counts": [row["split_counts"][key] for row in stats]}
                for key, name in DatasetImage.Split.choices
            ],
        },
        "unlabelled_count": dataset_images(dataset=dataset, label="").count(),
        "page_obj": page,
        "filter_form": filter_form,
        "class_form": bound_forms.get("class_form") or LabelClassForm(),
        "upload_form": bound_forms.get("upload_form") or ImageUploadForm(),
        "import_form": bound_forms.get("import_form") or DatasetImportForm(),
        "split_form": bound_forms.get("split_form")
        or SplitSettingsForm(
            initial={
                "val_fraction": dataset.val_fraction,
                "test_fraction": dataset.test_fraction,
                "seed": dataset.split_seed,
            }
        ),
        "upload_result": upload_result,
        "recent_jobs": jobs_for_user(request.user).filter(dataset=dataset)[:RECENT_JOBS_SHOWN],
        **_versions_context(dataset, stats, bound_forms),
    }
    return render(request, "classifier/dataset_detail.html", context)


def _versions_context(dataset: Dataset, stats: list[dict], bound_forms: dict) -> dict:
    """The model versions section: the table, the compare picker, the train and augment forms."""
    versions = list(dataset_model_versions(dataset=dataset))
    active = next((version for version in versions if version.is_active), None)
    largest_train_count = max((row["split_counts"]["train"] for row in stats), default=0)
    return {
        "version_rows": [
            {
                "version": version,
                "accuracy": percent(version.metrics.get("accuracy")),
                # Promoting a version older than the active one is a rollback; the button says so.
                "is_rollback": active is not None and version.number < active.number,
            }
            for version in versions
        ],
        "active_version": active,
        "compare_form": VersionCompareForm(
            versions=dataset_model_versions(dataset=dataset),
            initial={"a": versions[1] if len(versions) > 1 else None, "b": versions[0] if versions else None},
            auto_id="compare_%s",
        ),
        "train_form": bound_forms.get("train_form") or TrainVersionForm(auto_id="train_%s"),
        "augment_form": bound_forms.get("augment_form")
        or AugmentForm(initial={"target_per_class": largest_train_count or None}, auto_id="augment_%s"),
    }


def dataset_page_form(form_class: type[forms.Form], *, name: str, **form_options) -> Callable:
    """Make the view of a form the dataset page posts, from a function that gets the user's dataset and
    the form's valid data, calls the service and returns where to go next.

    A refusal, the form's or the service's ValidationError, shows the dataset page again with this form's
    errors; ``name`` is the form's name in that page's context.
    """

    def decorator(handle: Callable[[HttpRequest, Dataset, dict], HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(handle)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            dataset = _owned_dataset(request, pk)
            form = form_class(request.POST, request.FILES, **form_options)
            if form.is_valid():
                try:
                    return handle(request, dataset, form.cleaned_data)
                except ValidationError as error:
                    add_service_error(form, error)
            return render_dataset_detail(request, dataset, **{name: form})

        return view

    return decorator


@login_required
@require_GET
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_dataset_detail(request, _owned_dataset(request, pk))


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _owned_dataset(request, pk)
    form = DatasetForm(
        request.POST or None, initial={"name": dataset.name, "description": dataset.description}
    )
    if request.method == "POST" and form.is_valid():
        try:
            dataset_update(dataset=dataset, **form.cleaned_data)
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Dataset saved.")
            return redirect("classifier:dataset-detail", pk=dataset.pk)
    return render(request, "classifier/dataset_edit.html", {"dataset": dataset, "form": form})


@login_required
@require_POST
def dataset_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _owned_dataset(request, pk)
    name = dataset.name
    dataset_delete(dataset=dataset)
    messages.success(request, f'Dataset "{name}" deleted.')
    return redirect("classifier:dataset-list")


# Classes


@login_required
@require_POST
@dataset_page_form(LabelClassForm, name="class_form")
def label_class_create(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    try:
        label = label_class_get_or_create(dataset=dataset, name=data["name"])
    except ValidationError as error:
        # The service names its field "label"; this form calls it "name".
        raise ValidationError({"name": error.messages}) from error
    messages.success(request, f'Class "{label.name}" is ready.')
    return redirect("classifier:dataset-detail", pk=dataset.pk)


@login_required
@require_POST
def label_class_delete_view(request: HttpRequest, pk: int, class_id: int) -> HttpResponse:
    dataset = _owned_dataset(request, pk)
    label = get_object_or_404(dataset.classes, pk=class_id)
    label_class_delete(label=label)
    messages.success(request, f'Class "{label.name}" deleted; its images are now unlabelled.')
    return redirect("classifier:dataset-detail", pk=dataset.pk)


# Images


@login_required
@require_POST
@dataset_page_form(ImageUploadForm, name="upload_form")
def images_upload_view(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    result = images_upload(dataset=dataset, files=data["files"], label_name=data["label"] or None)
    request.session[UPLOAD_RESULT_SESSION_KEY] = {
        "dataset_id": dataset.pk,
        "counts": result.counts(),
        "imported": [image.original_name for image in result.imported],
        "rejected": result.rejected,
    }
    return redirect("classifier:dataset-detail", pk=dataset.pk)


@login_required
@require_POST
@dataset_page_form(DatasetImportForm, name="import_form")
def dataset_import(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    job = dataset_import_start(
        dataset=dataset, requested_by=request.user, archive=data["archive"], labels=data["labels"]
    )
    messages.success(request, "Import started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


@login_required
@require_POST
@dataset_page_form(SplitSettingsForm, name="split_form")
def dataset_splits(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    counts = dataset_splits_reassign(dataset=dataset, **data)
    summary = f"{counts['train']} train, {counts['val']} validation, {counts['test']} test"
    if counts.get("augmented_deleted"):
        # Copies of images now held out would leak them into training, so the service drops them.
        summary += f"; {counts['augmented_deleted']} augmented copies of held-out images removed"
    messages.success(request, f"Splits reassigned: {summary}.")
    return redirect("classifier:dataset-detail", pk=dataset.pk)


@login_required
@require_POST
@dataset_page_form(AugmentForm, name="augment_form", auto_id="augment_%s")
def dataset_augment(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    job = dataset_augment_start(dataset=dataset, requested_by=request.user, **data)
    messages.success(request, "Augmentation started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


@login_required
@require_POST
def image_relabel_view(request: HttpRequest, pk: int) -> HttpResponse:
    image = _owned_image(request, pk)
    form = ImageRelabelForm(request.POST)
    if form.is_valid():
        try:
            image_relabel(image=image, label_name=form.cleaned_data["label"] or None)
        except ValidationError as error:
            flash_service_error(request, error)
        else:
            messages.success(request, f'"{image}" relabelled.')
    else:
        messages.error(request, "That class name is not valid.")
    return redirect_back(request, reverse("classifier:dataset-detail", args=[image.dataset_id]))


@login_required
@require_POST
def image_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    image = _owned_image(request, pk)
    dataset_id = image.dataset_id
    image_delete(image=image)
    messages.success(request, f'"{image}" deleted.')
    return redirect_back(request, reverse("classifier:dataset-detail", args=[dataset_id]))


def _image_file_response(name: str) -> FileResponse:
    response = stored_file_response(name, missing="The image's file is missing from storage.")
    patch_cache_control(response, private=True, max_age=IMAGE_CACHE_SECONDS)
    return response


@login_required
@require_GET
def image_file(request: HttpRequest, pk: int) -> FileResponse:
    return _image_file_response(_owned_image(request, pk).file.name)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    image = _owned_image(request, pk)
    # Images stored before their thumbnail was made fall back to the full file.
    return _image_file_response(image.thumbnail.name or image.file.name)
