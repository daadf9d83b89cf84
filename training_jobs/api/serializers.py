"""Input and output serializers of the jobs API."""

from typing import Any

from django.db.models.fields.files import FieldFile
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from training_jobs.models import Job


class JobListItemSerializer(serializers.ModelSerializer[Job]):
    """A job in a list: its state and message, not its report, which the detail carries (a list of 50
    import jobs with their per-file reports would be a large response)."""

    result_url = serializers.SerializerMethodField(
        help_text="Where to download the file the job produced (a batch prediction's CSV); null if none."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "dataset",
            "model_version",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "result_url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_result_url(self, job: Job) -> str | None:
        return self._download_url(job, job.result_file, "training_jobs_api:job-result")

    def _download_url(self, job: Job, file: FieldFile, route: str) -> str | None:
        # Served by an owner-checked route, never straight from media storage.
        if not file:
            return None
        path = reverse(route, args=[job.id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class JobSerializer(JobListItemSerializer):
    report = serializers.JSONField(
        read_only=True,
        help_text="What the job found: counts, and at most SIGHTLINE_REPORT_MAX_ROWS rows per list; "
        '`truncated` names the lists that were cut, {"listed", "total"}, and `report_url` has every row.',
    )
    report_url = serializers.SerializerMethodField(
        help_text="Where to download every row of the report's lists as CSV, when they were cut; else null."
    )

    class Meta(JobListItemSerializer.Meta):
        fields = [*JobListItemSerializer.Meta.fields, "report", "report_url"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_report_url(self, job: Job) -> str | None:
        return self._download_url(job, job.report_file, "training_jobs_api:job-report")


class JobFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """Query parameters of the job list; an empty value means "any"."""

    status = serializers.ChoiceField(choices=Job.Status.choices, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False, allow_blank=True)
    # Bounded by the largest id a database holds: a longer number would overflow the query (a 500), not
    # match nothing.
    dataset = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only this dataset's jobs."
    )
