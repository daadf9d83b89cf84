"""Dataset pages: the list with its create form, the detail page (``dataset_page`` renders its tabs),
edit and delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.forms.datasets import DatasetForm
from classifier.forms.service_errors import add_service_error
from classifier.selectors import datasets_for_user, public_model_versions
from classifier.services.datasets import dataset_create, dataset_delete, dataset_update
from classifier.services.quotas import account_usage
from classifier.views.dataset_page import owned_dataset, render_dataset_detail
from webapp.users import request_user


def _render_dataset_list(request: HttpRequest, form: DatasetForm) -> HttpResponse:
    user = request_user(request)
    context = {
        "datasets": datasets_for_user(user).prefetch_related("classes"),
        "form": form,
        "ready_models": public_model_versions(),
        "usage": account_usage(user=user),
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
            dataset = dataset_create(owner=request_user(request), **form.cleaned_data)
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
