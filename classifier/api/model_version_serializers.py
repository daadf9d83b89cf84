"""Response serializers of the backbone and model-version API: a version in a list, its detail, the
training it started and its epoch curves.

The stored results nested in the detail are described in ``model_version_result_serializers``; the
request serializers are in ``model_version_input_serializers``.
"""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.api.model_version_result_serializers import (
    CalibrationSerializer,
    MetricsSerializer,
    MetricsSummarySerializer,
    MostConfusedSerializer,
    PlanSerializer,
    QuantizationSerializer,
    VersionDataSerializer,
)
from classifier.models import ModelVersion
from classifier.selectors_versions import (
    model_version_data_summary,
    model_version_eta_seconds,
    model_version_training_job,
)
from classifier.services.quantization import FLOAT, INT8, version_serving_choice
from classifier.services.serving import version_answer_threshold, version_is_recalibrated
from training_jobs.api.serializers import JobSerializer
from training_jobs.models import EpochMetric


class BackboneSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(help_text="What `backbone` takes when starting a version.")
    label = serializers.CharField()  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
    input_size = serializers.IntegerField(help_text="Default image size: the one its ImageNet weights were trained at.")
    pretrained_weights_available = serializers.BooleanField(
        help_text="Its ImageNet weights are on this install; if not, training downloads them when online."
    )


class _WithTrainingJobSerializer(serializers.Serializer[ModelVersion]):
    """Adds the training job. Its error, report and parameters are the owner's: a view that may serve
    other readers (a public dataset's version) passes ``job_visible=False`` in the context for them."""

    job = serializers.SerializerMethodField(
        help_text="The version's latest training job: status, progress, error. Null for a public dataset's "
        "version read by anyone but its owner and staff."
    )

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_job(self, version: ModelVersion) -> dict[str, Any] | None:
        if not self.context.get("job_visible", True):
            return None
        job = model_version_training_job(version=version)
        return JobSerializer(job).data if job else None


class ModelVersionStartedSerializer(_WithTrainingJobSerializer, serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = ["id", "number", "status", "job"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class_names = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Frozen when the version was started, in the order it predicts them.",
    )
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    metrics = serializers.SerializerMethodField(help_text="Null until the version is trained.")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "dataset",
            "number",
            "backbone",
            "image_size",
            "status",
            "class_names",
            "is_active",
            "parent",
            "created_by",
            "created_at",
            "trained_at",
            "metrics",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "is_active": {"help_text": "The version its dataset serves by default."},
            "parent": {"help_text": "The version this one was retrained from."},
        }

    @extend_schema_field(MetricsSummarySerializer(allow_null=True))
    def get_metrics(self, version: ModelVersion) -> dict[str, Any] | None:
        return MetricsSummarySerializer(version.metrics).data if version.metrics else None


class ModelVersionDetailSerializer(_WithTrainingJobSerializer, ModelVersionSerializer):
    serving_model = serializers.SerializerMethodField(
        help_text="The TFLite model predictions use: `int8` when the version has one within "
        "SIGHTLINE_INT8_MAX_ACCURACY_DROP of the float model's test accuracy, else `float`."
    )
    serving_reason = serializers.SerializerMethodField(help_text="Why that model serves.")
    quantization = QuantizationSerializer(read_only=True, help_text="The int8 model's record; {} before int8.")
    hyperparameters = serializers.DictField(read_only=True, help_text="The full training configuration used.")
    plan = serializers.SerializerMethodField(help_text="How the time budget is spent, and why; null before plans.")
    eta_seconds = serializers.SerializerMethodField(
        help_text="Seconds until the training is expected to end; null once it has ended."
    )
    calibration = serializers.SerializerMethodField(help_text="Null until the version is trained.")
    most_confused = MostConfusedSerializer(
        many=True, read_only=True, help_text="Test images it got most confidently wrong."
    )
    data = serializers.SerializerMethodField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        help_text="Its manifest's images per split and how many changed since (the manifest downloads from "
        "`manifest/`); null for a version without one."
    )

    class Meta(ModelVersionSerializer.Meta):
        fields = [
            *ModelVersionSerializer.Meta.fields,
            "hyperparameters",
            "plan",
            "eta_seconds",
            "job",
            "calibration",
            "most_confused",
            "serving_model",
            "serving_reason",
            "quantization",
            "data",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=[FLOAT, INT8]))
    def get_serving_model(self, version: ModelVersion) -> str:
        return version_serving_choice(version=version).model

    @extend_schema_field(serializers.CharField())
    def get_serving_reason(self, version: ModelVersion) -> str:
        return version_serving_choice(version=version).reason

    @extend_schema_field(PlanSerializer(allow_null=True))
    def get_plan(self, version: ModelVersion) -> dict[str, Any] | None:
        return PlanSerializer(version.plan).data if version.plan else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_eta_seconds(self, version: ModelVersion) -> int | None:
        return model_version_eta_seconds(version=version)

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_metrics(self, version: ModelVersion) -> dict[str, Any] | None:
        return MetricsSerializer(version.metrics).data if version.metrics else None

    @extend_schema_field(VersionDataSerializer(allow_null=True))
    def get_data(self, version: ModelVersion) -> dict[str, Any] | None:
        summary = model_version_data_summary(version=version)
        return None if summary is None else VersionDataSerializer(summary).data

    @extend_schema_field(CalibrationSerializer(allow_null=True))
    def get_calibration(self, version: ModelVersion) -> dict[str, Any] | None:
        if not version.calibration:
            return None
        derived = {
            "recalibrated": version_is_recalibrated(version=version),
            "answer_threshold": version_answer_threshold(version=version),
        }
        return CalibrationSerializer({**version.calibration, **derived}).data


class EpochMetricSerializer(serializers.ModelSerializer[EpochMetric]):
    class Meta:
        model = EpochMetric
        fields = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
        read_only_fields = fields
