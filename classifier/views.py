"""Dataset pages: list and create, detail (``dataset_page``: tabs for adding images, the gallery, training and
versions), edit, delete, the forms the detail page posts, and the owner-checked image file and thumbnail
responses.

The model version pages, and the train form the detail page posts, are in ``views_versions``.

Each view does one operation. Objects are looked up through the selectors, so another user's dataset
or image is a 404; writes go through the services, whose ValidationErrors are shown on the form or as a
message. The gallery's relabel and delete forms answer JSON to the page's script, which changes the
picture in place.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.dataset_page import (
    UPLOAD_RESULT_SESSION_KEY,
    dataset_page_form,
    dataset_tab_url,
    owned_dataset,
    render_dataset_detail,
)
from classifier.forms import (
    AugmentForm,
    DatasetForm,
    DatasetImportForm,
    ImageRelabelForm,
    ImageUploadForm,
    LabelClassForm,
    SplitSettingsForm,
    add_service_error,
)
from classifier.models import Dataset, DatasetImage
from classifier.selectors import datasets_for_user, images_for_user, public_model_versions
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
from classifier.services.quotas import account_usage
from classifier.services.splits import dataset_splits_reassign
from classifier.services.url_imports import url_list_import_start
from webapp.downloads import stored_file_response
from webapp.pages import redirect_back

# Browsers may keep an image for an hour, but only privately: files are visible to their owner only.
IMAGE_CACHE_SECONDS = 3600


def _owned_image(request: HttpRequest, image_id: int) -> DatasetImage:
    return get_object_or_404(images_for_user(request.user), pk=image_id)


# Datasets


def _render_dataset_list(request: HttpRequest, form: DatasetForm) -> HttpResponse:
    datasets = datasets_for_user(request.user).prefetch_related("classes")
    context = {
        "datasets": datasets,
        "form": form,
        "ready_models": public_model_versions(),
        "usage": account_usage(user=request.user),
    }
    return render(request, "classifier/dataset_list.html", context)


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    return _render_dataset_list(request, DatasetForm())


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # The address of a refused form, reloaded: the list page holds that form.
        return redirect("classifier:dataset-list")
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


@login_required
@require_GET
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_dataset_detail(request, owned_dataset(request, pk), tab=request.GET.get("tab", ""))


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
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
    dataset = owned_dataset(request, pk)
    name = dataset.name
    dataset_delete(dataset=dataset)
    messages.success(request, f'Dataset "{name}" deleted.')
    return redirect("classifier:dataset-list")


# Classes


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(LabelClassForm, name="class_form")
def label_class_create(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
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
def images_upload_view(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
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
def dataset_import(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    if data["urls"]:
        job = url_list_import_start(dataset=dataset, requested_by=request.user, urls=data["urls"])
    else:
        job = dataset_import_start(
            dataset=dataset, requested_by=request.user, archive=data["archive"], labels=data["labels"]
        )
    messages.success(request, "Import started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


@login_required
@require_http_methods(["GET", "POST"])
@dataset_page_form(SplitSettingsForm, name="split_form")
def dataset_splits(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
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
def dataset_augment(request: HttpRequest, dataset: Dataset, data: dict) -> HttpResponse:
    job = dataset_augment_start(dataset=dataset, requested_by=request.user, **data)
    messages.success(request, "Augmentation started.")
    return redirect("training_jobs:job-detail", pk=job.pk)


def _wants_json(request: HttpRequest) -> bool:
    # The gallery's script asks for JSON to change the picture in place; a plain form post gets a page.
    return "application/json" in request.headers.get("Accept", "")


def _image_answer(request: HttpRequest, image: DatasetImage, *, ok: bool, text: str) -> HttpResponse:
    """The JSON the gallery's script reads, or, for a plain form, a message and the page it came from
    (its ``next``, with filters and page number), back at the picture."""
    if _wants_json(request):
        label = image.label.name if image.label_id else ""
        return JsonResponse({"ok": ok, "message": text, "label": label}, status=200 if ok else 400)
    (messages.success if ok else messages.error)(request, text)
    fallback = dataset_tab_url(image.dataset_id, "images")
    response = redirect_back(request, fallback)
    if ok and image.pk and "#" not in response["Location"]:
        response["Location"] += f"#image-{image.pk}"
    return response


@login_required
@require_POST
def image_relabel_view(request: HttpRequest, pk: int) -> HttpResponse:
    image = _owned_image(request, pk)
    form = ImageRelabelForm(request.POST)
    if not form.is_valid():
        return _image_answer(request, image, ok=False, text="That class name is not valid.")
    try:
        image = image_relabel(image=image, label_name=form.cleaned_data["label"] or None)
    except ValidationError as error:
        image.refresh_from_db()
        return _image_answer(request, image, ok=False, text=" ".join(error.messages))
    where = f'class "{image.label.name}"' if image.label_id else "unlabelled"
    return _image_answer(request, image, ok=True, text=f'"{image}" is now {where}.')


@login_required
@require_POST
def image_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    image = _owned_image(request, pk)
    name = str(image)
    image_delete(image=image)
    image.pk = None
    return _image_answer(request, image, ok=True, text=f'"{name}" deleted.')


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
