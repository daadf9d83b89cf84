"""Job pages: the list, one job's live progress and report, and cancelling a queued or running job
(from its page, or from the page of the version it trains, which it then returns to)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from training_jobs.kinds import UnknownJobKind, job_kind_get
from training_jobs.models import Job
from training_jobs.reports import report_sections, report_truncated
from training_jobs.selectors import jobs_for_user
from training_jobs.services import job_cancel
from webapp.pages import redirect_back
from webapp.users import request_user

JOBS_PER_PAGE = 50


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(jobs_for_user(request_user(request)), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "training_jobs/job_list.html", {"page_obj": page})


@login_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(jobs_for_user(request_user(request)), pk=pk)
    counts, rejected = report_sections(job.report or {})
    try:
        kind = job_kind_get(job.kind)
    except UnknownJobKind:
        kind = None
    context = {
        "job": job,
        "summary": kind.summary(job) if kind and kind.summary else [],
        "counts": counts if kind is None or kind.report_counts else [],
        "rejected": rejected,
        "truncated": report_truncated(job.report or {}),
        "report_url": reverse("training_jobs_api:job-report", args=[job.id]) if job.report_file else "",
        "is_active": job.status in (Job.Status.QUEUED, Job.Status.RUNNING),
    }
    return render(request, "training_jobs/job_detail.html", context)


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = job_cancel(job=get_object_or_404(jobs_for_user(request_user(request)), pk=pk))
    if job.status == Job.Status.CANCELLED:
        messages.success(request, "Job cancelled.")
    else:
        messages.info(request, f"The job had already {job.get_status_display().lower()}; nothing to cancel.")
    # The version page's Cancel button sends its own address, to come back to the live curves.
    return redirect_back(request, reverse("training_jobs:job-detail", args=[job.pk]))
