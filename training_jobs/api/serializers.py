"""Input and output serializers of the jobs API."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from training_jobs.models import Job


class JobSerializer(serializers.ModelSerializer):
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
            "report",
            "dataset",
            "model_version",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "result_url",
        ]
        read_only_fields = fields

    # Served by an owner-checked route, never straight from media storage.
    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_result_url(self, job: Job) -> str | None:
        if not job.result_file:
            return None
        path = reverse("training_jobs_api:job-result", args=[job.id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class JobFilterSerializer(serializers.Serializer):
    """Query parameters of the job list; an empty value means "any"."""

    status = serializers.ChoiceField(choices=Job.Status.choices, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False, allow_blank=True)
    dataset = serializers.IntegerField(required=False, help_text="Only this dataset's jobs.")
