"""The label-issue review page: a dataset's likely mislabelled images, most suspicious first, each with
Relabel, Delete and Keep forms (plain POSTs, no script needed), and the button that starts the job."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from classifier.models import LabelClass, LabelIssue
from classifier.selectors import datasets_for_user, label_issues_for_dataset
from classifier.services.label_issue_reviews import label_issue_delete_image, label_issue_keep, label_issue_relabel
from classifier.services.label_issues import label_issues_start
from classifier.views.dataset_page import owned_dataset
from training_jobs.models import Job
from webapp.pages import flash_service_error, redirect_back
from webapp.users import request_user

ISSUES_PER_PAGE = 24


def _owned_issue(request: HttpRequest, pk: int) -> LabelIssue:
    issues = LabelIssue.objects.select_related("image", "suggested_label")
    return get_object_or_404(issues.filter(dataset__in=datasets_for_user(request_user(request)).values("pk")), pk=pk)


def _queue_url(dataset_id: int) -> str:
    return reverse("classifier:label-issues", args=[dataset_id])


@login_required
@require_GET
def label_issues_page(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
    status = request.GET.get("status", LabelIssue.Status.OPEN)
    if status not in LabelIssue.Status.values:
        status = LabelIssue.Status.OPEN
    page_obj = Paginator(label_issues_for_dataset(dataset=dataset, status=status), ISSUES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    issues = LabelIssue.objects.filter(dataset=dataset)
    counts = {value: issues.filter(status=value).count() for value in LabelIssue.Status.values}
    latest_job = Job.objects.filter(dataset=dataset, kind=Job.Kind.LABEL_ISSUES).order_by("-created_at").first()
    return render(
        request,
        "classifier/label_issues.html",
        {
            "dataset": dataset,
            "page_obj": page_obj,
            "status": status,
            "counts": counts,
            "latest_job": latest_job,
            "class_names": list(
                LabelClass.objects.filter(dataset=dataset).order_by("name").values_list("name", flat=True)
            ),
        },
    )


@login_required
@require_POST
def label_issues_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = owned_dataset(request, pk)
    try:
        job = label_issues_start(dataset=dataset, requested_by=request_user(request))
    except ValidationError as error:
        flash_service_error(request, error)
        return redirect_back(request, _queue_url(dataset.pk))
    messages.success(request, "Looking for label issues: the queue fills when the job ends.")
    return redirect("training_jobs:job-detail", pk=job.pk)


@login_required
@require_POST
def label_issue_keep_view(request: HttpRequest, pk: int) -> HttpResponse:
    issue = label_issue_keep(issue=_owned_issue(request, pk))
    messages.success(request, f'"{issue.image}" keeps its label and leaves the queue.')
    return redirect_back(request, _queue_url(issue.dataset_id))


@login_required
@require_POST
def label_issue_relabel_view(request: HttpRequest, pk: int) -> HttpResponse:
    issue = _owned_issue(request, pk)
    try:
        image = label_issue_relabel(issue=issue, label_name=request.POST.get("label", "")[:200])
    except ValidationError as error:
        flash_service_error(request, error)
    else:
        messages.success(request, f'"{image}" is now class "{image.label}".')
    return redirect_back(request, _queue_url(issue.dataset_id))


@login_required
@require_POST
def label_issue_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    issue = _owned_issue(request, pk)
    name = str(issue.image)
    label_issue_delete_image(issue=issue)
    messages.success(request, f'"{name}" was deleted from the dataset.')
    return redirect_back(request, _queue_url(issue.dataset_id))
