"""Django admin for staff: every job with its status, progress and report."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from training_jobs.models import EpochMetric, Job
from training_jobs.services import job_delete, jobs_cancel


class EpochMetricInline(admin.TabularInline[EpochMetric, Job]):
    model = EpochMetric
    extra = 0
    can_delete = False
    readonly_fields = ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = ("id", "kind", "status", "progress", "dataset", "requested_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    search_fields = ("message", "error", "dataset__name", "requested_by__username")
    raw_id_fields = ("dataset", "requested_by")
    readonly_fields = (
        "created_at", "started_at", "finished_at", "heartbeat_at", "celery_task_id", "attempts", "enqueued_at"
    )
    inlines = [EpochMetricInline]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        self.message_user(request, f"{jobs_cancel(jobs=queryset)} job(s) cancelled.")

    # Cancelled first, then deleted with the files it produced or held.
    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        job_delete(job=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            job_delete(job=job)
