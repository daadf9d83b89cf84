"""Django admin for staff: every job with its status, progress and report."""

from django.contrib import admin

from training_jobs.models import EpochMetric, Job
from training_jobs.services import job_delete, jobs_cancel


class EpochMetricInline(admin.TabularInline):
    model = EpochMetric
    extra = 0
    can_delete = False
    readonly_fields = ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
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
    def cancel(self, request, queryset):
        self.message_user(request, f"{jobs_cancel(jobs=queryset)} job(s) cancelled.")

    # Cancelled first, then deleted with the files it produced or held.
    def delete_model(self, request, obj: Job) -> None:
        job_delete(job=obj)

    def delete_queryset(self, request, queryset) -> None:
        for job in queryset:
            job_delete(job=job)
