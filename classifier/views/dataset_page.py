"""The dataset page, laid out for the journey: add images → look at them → train → test.

Each step is a tab (``?tab=``) of one page, so the gallery is never below the forms and a form's errors
are never far below the fold. The forms post to their own URLs; a refused form shows this page again
on its own tab with the errors beside the fields, and a GET of such a URL (a reload, Enter in the
address bar) comes back here instead of answering 405.
"""

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from classifier.forms.datasets import (
    AugmentForm,
    DatasetImportForm,
    ImageFilterForm,
    ImageUploadForm,
    LabelClassForm,
    SplitSettingsForm,
)
from classifier.forms.service_errors import add_service_error
from classifier.forms.versions import TrainVersionForm, VersionCompareForm
from classifier.models import Dataset, DatasetImage, ModelVersion
from classifier.selectors import (
    dataset_class_stats,
    dataset_images,
    dataset_model_versions,
    datasets_for_user,
)
from classifier.selectors_versions import model_version_promote_warnings, model_version_scores_lower
from classifier.views.shared import percent
from training_jobs.reports import report_sections
from training_jobs.selectors import jobs_for_user
from webapp.users import request_user

IMAGES_PER_PAGE = 48
RECENT_JOBS_SHOWN = 5
# The upload result survives the redirect after the POST in the session, for one display.
UPLOAD_RESULT_SESSION_KEY = "sightline_upload_result"

# A form a POST view refused, by its name in the page's context.
BoundForms = dict[str, forms.Form]
# Per class: its name, image count and counts per split (``dataset_class_stats``).
ClassStats = list[dict[str, Any]]
TabContext = Callable[[HttpRequest, Dataset, ClassStats, list[ModelVersion], BoundForms], dict[str, Any]]

# Tab key -> title, in the order of the journey.
TABS = {"add": "Add images", "images": "Images", "train": "Train", "versions": "Versions"}
# The tab each of the page's forms lives on: a refused form is shown there.
FORM_TABS = {
    "class_form": "add",
    "upload_form": "add",
    "import_form": "add",
    "split_form": "train",
    "train_form": "train",
    "augment_form": "train",
}


def dataset_tab_url(dataset_id: int, tab: str, anchor: str = "") -> str:
    url = f"{reverse('classifier:dataset-detail', args=[dataset_id])}?tab={tab}"
    return f"{url}#{anchor}" if anchor else url


def _default_tab(image_count: int, version_count: int) -> str:
    """Where a visitor most likely wants to be: adding images to an empty dataset, the versions once
    there are some, the pictures in between."""
    if not image_count:
        return "add"
    return "versions" if version_count else "images"


def _next_step(image_count: int, stats: ClassStats, versions: list[ModelVersion]) -> dict[str, Any]:
    """One sentence saying what to do next, and the tab that does it."""
    trainable = [row for row in stats if row["split_counts"]["train"] and row["split_counts"]["val"]]
    if not image_count:
        return {"tab": "add", "text": "Start by adding images: upload pictures with a class name, or import a ZIP "
                "with one folder per class."}
    if len(trainable) < 2:
        return {"tab": "add", "text": "Training needs at least two classes with training and validation images. "
                "Add more pictures, or label the ones you have."}
    if not versions:
        return {"tab": "train", "text": "Your images are ready: train a first version. The defaults work offline."}
    latest = versions[0]
    if latest.status in (ModelVersion.Status.QUEUED, ModelVersion.Status.TRAINING):
        return {"tab": "versions", "text": f"v{latest.number} is {latest.get_status_display().lower()}; "
                "its page shows the curves as they grow.", "version": latest}
    if not any(version.status == ModelVersion.Status.READY for version in versions):
        return {"tab": "versions", "text": f"v{latest.number} {latest.get_status_display().lower()}: its page says "
                "why, and trains it again in one click.", "version": latest}
    if not any(version.is_active for version in versions):
        return {"tab": "versions", "text": "Promote a ready version to make it answer this dataset's predictions."}
    return {"tab": "versions", "text": "Test the active version with a picture of your own (Quick test).",
            "quick_test": True}


def render_dataset_detail(
    request: HttpRequest, dataset: Dataset, *, tab: str = "", bound_forms: BoundForms | None = None
) -> HttpResponse:
    """The page on one tab. POST views that fail validation pass their bound form, shown on its tab."""
    bound_forms = bound_forms or {}
    if bound_forms:
        tab = FORM_TABS[next(iter(bound_forms))]
    stats = dataset_class_stats(dataset=dataset)
    class_names = [row["name"] for row in stats]
    versions = list(dataset_model_versions(dataset=dataset))
    unlabelled = dataset_images(dataset=dataset, label="").count()
    # Every image is in one class or unlabelled.
    image_count = sum(row["image_count"] for row in stats) + unlabelled
    tab = tab if tab in TABS else _default_tab(image_count, len(versions))
    context = {
        "dataset": dataset,
        "tab": tab,
        "tabs": [
            {"key": key, "title": title, "count": {"images": image_count, "versions": len(versions)}.get(key)}
            for key, title in TABS.items()
        ],
        "next_step": _next_step(image_count, stats, versions),
        "class_stats": stats,
        "class_names": class_names,
        "unlabelled_count": unlabelled,
        "active_version": next((version for version in versions if version.is_active), None),
        # A refused form is shown on the URL it posted to; the page puts the tab's own address back in
        # the address bar, so a reload shows the page, not a form that cannot be fetched.
        "page_url": dataset_tab_url(dataset.pk, tab),
    }
    context.update(TAB_CONTEXTS[tab](request, dataset, stats, versions, bound_forms))
    return render(request, "classifier/dataset_detail.html", context)


def _add_context(
    request: HttpRequest, dataset: Dataset, stats: ClassStats, versions: list[ModelVersion], bound_forms: BoundForms
) -> dict[str, Any]:
    upload_result = None
    stored_upload = request.session.pop(UPLOAD_RESULT_SESSION_KEY, None)
    if stored_upload and stored_upload.get("dataset_id") == dataset.pk:
        counts, rejected = report_sections(stored_upload)
        upload_result = {"counts": counts, "rejected": rejected, "imported": stored_upload["imported"]}
    return {
        "class_form": bound_forms.get("class_form") or LabelClassForm(),
        "upload_form": bound_forms.get("upload_form") or ImageUploadForm(),
        "import_form": bound_forms.get("import_form") or DatasetImportForm(),
        "upload_result": upload_result,
        "recent_jobs": jobs_for_user(request_user(request)).filter(dataset=dataset)[:RECENT_JOBS_SHOWN],
    }


def _images_context(
    request: HttpRequest, dataset: Dataset, stats: ClassStats, versions: list[ModelVersion], bound_forms: BoundForms
) -> dict[str, Any]:
    # Its own id prefix: the relabel menus on the same page also have a "label" field.
    filter_form = ImageFilterForm(request.GET, class_names=[row["name"] for row in stats], auto_id="filter_%s")
    label = split = None
    if filter_form.is_valid():
        label = filter_form.cleaned_data["label"] or None
        split = filter_form.cleaned_data["split"] or None
    page = Paginator(dataset_images(dataset=dataset, label=label, split=split), IMAGES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {"page_obj": page, "filter_form": filter_form, "is_filtered": bool(label or split)}


def _train_context(
    request: HttpRequest, dataset: Dataset, stats: ClassStats, versions: list[ModelVersion], bound_forms: BoundForms
) -> dict[str, Any]:
    largest_train_count = max((row["split_counts"]["train"] for row in stats), default=0)
    return {
        "chart_data": {
            "labels": [row["name"] for row in stats],
            "splits": [
                {"key": key, "label": str(name), "counts": [row["split_counts"][key] for row in stats]}
                for key, name in DatasetImage.Split.choices
            ],
        },
        "train_form": bound_forms.get("train_form") or TrainVersionForm(auto_id="train_%s"),
        "augment_form": bound_forms.get("augment_form")
        or AugmentForm(initial={"target_per_class": largest_train_count or None}, auto_id="augment_%s"),
        "split_form": bound_forms.get("split_form")
        or SplitSettingsForm(
            initial={
                "val_fraction": dataset.val_fraction,
                "test_fraction": dataset.test_fraction,
                "seed": dataset.split_seed,
            }
        ),
    }


def _versions_context(
    request: HttpRequest, dataset: Dataset, stats: ClassStats, versions: list[ModelVersion], bound_forms: BoundForms
) -> dict[str, Any]:
    """The versions table, with what promoting each one would change, and the compare picker."""
    active = next((version for version in versions if version.is_active), None)
    return {
        "version_rows": [
            {
                "version": version,
                "accuracy": percent(version.metrics.get("accuracy")),
                # Promoting a version older than the active one is a rollback; the button says so.
                "is_rollback": active is not None and version.number < active.number,
                "promote_warnings": model_version_promote_warnings(version=version, active=active),
                "scores_lower": model_version_scores_lower(version=version, active=active),
            }
            for version in versions
        ],
        "compare_form": VersionCompareForm(
            versions=dataset_model_versions(dataset=dataset),
            initial={"a": versions[1] if len(versions) > 1 else None, "b": versions[0] if versions else None},
            auto_id="compare_%s",
        ),
    }


TAB_CONTEXTS: dict[str, TabContext] = {
    "add": _add_context,
    "images": _images_context,
    "train": _train_context,
    "versions": _versions_context,
}


def owned_dataset(request: HttpRequest, dataset_id: int) -> Dataset:
    return get_object_or_404(datasets_for_user(request_user(request)), pk=dataset_id)


# What a form view's handler gets (the request, the user's dataset, the form's valid data) and returns.
FormHandler = Callable[[HttpRequest, Dataset, dict[str, Any]], HttpResponse]
DatasetFormView = Callable[[HttpRequest, int], HttpResponse]


def dataset_page_form(
    form_class: type[forms.Form], *, name: str, **form_options: Any
) -> Callable[[FormHandler], DatasetFormView]:
    """Make the view of a form the dataset page posts, from a function that gets the user's dataset and
    the form's valid data, calls the service and returns where to go next.

    A refusal, the form's or the service's ValidationError, shows the dataset page again on the form's
    tab with its errors; ``name`` is the form's name in that page's context. A GET (the address of a
    refused form, reloaded) goes to that tab.
    """

    def decorator(handle: FormHandler) -> DatasetFormView:
        @functools.wraps(handle)
        def view(request: HttpRequest, pk: int) -> HttpResponse:
            dataset = owned_dataset(request, pk)
            if request.method != "POST":
                return redirect(dataset_tab_url(dataset.pk, FORM_TABS[name]))
            form = form_class(request.POST, request.FILES, **form_options)
            if form.is_valid():
                try:
                    return handle(request, dataset, form.cleaned_data)
                except ValidationError as error:
                    add_service_error(form, error)
            return render_dataset_detail(request, dataset, bound_forms={name: form})

        return view

    return decorator
