"""The gallery's image views: relabel and delete (answering JSON to the page's script, which changes
the picture in place, or a message and the page for a plain form), and the owner-checked image file and
thumbnail responses, also linked from the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST

from classifier.forms.datasets import ImageRelabelForm
from classifier.models import DatasetImage
from classifier.selectors import images_for_user
from classifier.services.image_deletion import image_delete
from classifier.services.images import image_relabel
from classifier.views.dataset_page import dataset_tab_url
from webapp.downloads import stored_file_response
from webapp.pages import redirect_back
from webapp.users import request_user

# Browsers may keep an image for an hour, but only privately: files are visible to their owner only.
IMAGE_CACHE_SECONDS = 3600


def _owned_image(request: HttpRequest, image_id: int) -> DatasetImage:
    return get_object_or_404(images_for_user(request_user(request)), pk=image_id)


def _wants_json(request: HttpRequest) -> bool:
    # The gallery's script asks for JSON to change the picture in place; a plain form post gets a page.
    return "application/json" in request.headers.get("Accept", "")


def _image_answer(request: HttpRequest, image: DatasetImage, *, ok: bool, text: str) -> HttpResponse:
    """The JSON the gallery's script reads, or, for a plain form, a message and the page it came from
    (its ``next``, with filters and page number), back at the picture."""
    if _wants_json(request):
        label = image.label.name if image.label is not None else ""
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
    where = f'class "{image.label.name}"' if image.label is not None else "unlabelled"
    return _image_answer(request, image, ok=True, text=f'"{image}" is now {where}.')


@login_required
@require_POST
def image_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    image = _owned_image(request, pk)
    name = str(image)
    image_delete(image=image)
    image.pk = None
    return _image_answer(request, image, ok=True, text=f'"{name}" deleted.')


def _image_file_response(name: str | None) -> HttpResponseBase:
    # An image without a stored name answers the same 404 as one whose file is gone.
    response = stored_file_response(name or "", missing="The image's file is missing from storage.")
    patch_cache_control(response, private=True, max_age=IMAGE_CACHE_SECONDS)
    return response


@login_required
@require_GET
def image_file(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _image_file_response(_owned_image(request, pk).file.name)


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, pk: int) -> HttpResponseBase:
    image = _owned_image(request, pk)
    # Images stored before their thumbnail was made fall back to the full file.
    return _image_file_response(image.thumbnail.name or image.file.name)
