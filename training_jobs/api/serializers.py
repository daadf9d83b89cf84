"""Input and output serializers of the jobs API."""

from rest_framework import serializers

from training_jobs.models import Job


class JobSerializer(serializers.ModelSerializer):
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
        ]
        read_only_fields = fields


class JobFilterSerializer(serializers.Serializer):
    """Query parameters of the job list; an empty value means "any"."""

    status = serializers.ChoiceField(choices=Job.Status.choices, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Job.Kind.choices, required=False, allow_blank=True)
    dataset = serializers.IntegerField(required=False, help_text="Only this dataset's jobs.")
