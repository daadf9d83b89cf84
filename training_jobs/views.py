"""Job pages: the list, one job's live progress and report, and cancelling a queued or running job."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from training_jobs.models import Job
from training_jobs.selectors import jobs_for_user
from training_jobs.services import job_cancel

JOBS_PER_PAGE = 50


def report_sections(report: dict) -> tuple[list[tuple[str, int | float]], list[dict]]:
    """Split a report into its counts, as (readable name, number) pairs, and the rejected files.

    Import jobs and page uploads both report this way. Counts may sit under ``counts`` or at the
    top level; any plain number there is shown, so a new outcome renders without a template change.
    """
    counts_source = report.get("counts") if isinstance(report.get("counts"), dict) else report
    counts = [
        (_readable(name), value)
        for name, value in counts_source.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    rejected = report.get("rejected")
    rows = rejected if isinstance(rejected, list) else []
    return counts, [{**row, "reason": _readable(str(row.get("reason", "")))} for row in rows]


def _readable(code: str) -> str:
    """``not_image`` → ``Not image``: report codes as people read them."""
    return code.replace("_", " ").capitalize()


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(jobs_for_user(request.user), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "training_jobs/job_list.html", {"page_obj": page})


@login_required
@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(jobs_for_user(request.user), pk=pk)
    counts, rejected = report_sections(job.report or {})
    context = {
        "job": job,
        "counts": counts,
        "rejected": rejected,
        "is_active": job.status in (Job.Status.QUEUED, Job.Status.RUNNING),
    }
    return render(request, "training_jobs/job_detail.html", context)


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = job_cancel(job=get_object_or_404(jobs_for_user(request.user), pk=pk))
    if job.status == Job.Status.CANCELLED:
        messages.success(request, "Job cancelled.")
    else:
        messages.info(request, f"The job had already {job.get_status_display().lower()}; nothing to cancel.")
    return redirect("training_jobs:job-detail", pk=job.pk)
