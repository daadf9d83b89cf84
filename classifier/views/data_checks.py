"""The near-duplicate check's page: a dataset's groups of near-identical pictures with their splits, the
groups that leak across splits first in view, and the "Move into one split" button (a plain POST)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from classifier.services.near_duplicates import near_duplicate_check, near_duplicates_fix
from classifier.views.dataset_page import owned_dataset
from webapp.pages import flash_service_error, redirect_back

GROUPS_PER_PAGE = 20


@login_required
@require_GET
def near_duplicates_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
    leaks_only = request.GET.get("leaks") == "true"
    shown, summary = near_duplicate_check(dataset=dataset, leaks_only=leaks_only)
    page_obj = Paginator(shown, GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "classifier/near_duplicates.html",
        {"dataset": dataset, "page_obj": page_obj, "summary": summary, "leaks_only": leaks_only},
    )


@login_required
@require_POST
def near_duplicates_fix_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
    back = redirect_back(request, reverse("classifier:near-duplicates", args=[dataset.pk]))
    raw_image = request.POST.get("image", "").strip()
    if raw_image and not raw_image.isdigit():
        messages.error(request, f'"{raw_image[:40]}" is not an image id.')
        return back
    try:
        result = near_duplicates_fix(dataset=dataset, image_id=int(raw_image) if raw_image else None)
    except ValidationError as error:
        flash_service_error(request, error)
        return back
    moved = len(result["moved"])
    if not result["groups"]:
        messages.info(request, "No near-duplicate group straddles splits: nothing to move.")
        return back
    text = (
        f"Moved {moved} image{'s' if moved != 1 else ''} into the split of its group's first picture "
        f"({result['groups']} group{'s' if result['groups'] != 1 else ''})."
    )
    if result["augmented_deleted"]:
        text += f" {result['augmented_deleted']} augmented copies of pictures that left training were deleted."
    messages.success(request, text)
    return back
