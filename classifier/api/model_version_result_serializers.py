"""Serializers of what training stores on a version: metrics, calibration, plan, int8 record and
what it was trained on.

That JSON is written by the training worker; these serializers describe it for the schema and pass it
through, so the detail view (``model_version_serializers``) can nest them.
"""

from typing import Any

from rest_framework import serializers

from classifier.api.serializers import SplitCountsSerializer


class MetricsSummarySerializer(serializers.Serializer[dict[str, Any]]):
    accuracy = serializers.FloatField(allow_null=True, help_text="On the test split; null without test images.")
    # Not allow_null: DRF would then add it as null to versions from before int8 models (a stored null shows).
    accuracy_int8 = serializers.FloatField(
        required=False,
        help_text="The int8 model's top-1 accuracy on the same test images; null without them or an int8 model.",
    )
    macro_f1 = serializers.FloatField(required=False)
    best_epoch = serializers.IntegerField(required=False, help_text="The epoch whose weights were kept.")


class PerClassMetricsSerializer(serializers.Serializer[dict[str, Any]]):
    precision = serializers.FloatField()
    recall = serializers.FloatField()
    f1 = serializers.FloatField()
    support = serializers.IntegerField(help_text="Test images of this class.")


class MetricsSerializer(MetricsSummarySerializer):
    per_class = serializers.DictField(child=PerClassMetricsSerializer(), help_text="Keyed by class name.")
    confusion_matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="confusion_matrix[true][predicted] counts test images, both in `class_names` order.",
    )
    split_sizes = SplitCountsSerializer(required=False, help_text="Images of the classes trained on, per split.")


class ReliabilityBinSerializer(serializers.Serializer[dict[str, Any]]):
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    confidence = serializers.FloatField(allow_null=True, help_text="Mean top probability; null for an empty bin.")
    accuracy = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField()


class CalibrationSerializer(serializers.Serializer[dict[str, Any]]):
    """Every figure is null for a version that was not recalibrated (the ready ImageNet models): there was
    no data here to fit or measure it on."""

    recalibrated = serializers.BooleanField(
        help_text="False: the published weights' own probabilities, with no temperature fitted here (`note` says why)."
    )
    temperature = serializers.FloatField(help_text="Logits are divided by it; fitted on the validation split.")
    ece_before = serializers.FloatField(
        allow_null=True, help_text="Expected calibration error on held-out data, before scaling."
    )
    ece_after = serializers.FloatField(allow_null=True)
    reliability_before = ReliabilityBinSerializer(many=True, allow_null=True)
    reliability_after = ReliabilityBinSerializer(many=True, allow_null=True)
    answer_threshold = serializers.FloatField(
        help_text="The answer rule's threshold when a prediction request gives none: 0.5, or the version's own."
    )
    note = serializers.CharField(allow_null=True, help_text="Why the figures are missing, when they are.")


class MostConfusedSerializer(serializers.Serializer[dict[str, Any]]):
    image_id = serializers.IntegerField()
    true = serializers.CharField()
    predicted = serializers.CharField()
    probability = serializers.FloatField(help_text="Calibrated probability of the wrong prediction.")


class PlanSerializer(serializers.Serializer[dict[str, Any]]):
    budget_minutes = serializers.FloatField()
    chosen = serializers.DictField(help_text="The options the plan chose (the user's own are in `options`).")
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why, one sentence each.")
    reserve_seconds = serializers.FloatField(help_text="Kept after training for evaluation and exports.")
    training_seconds = serializers.FloatField()
    options = serializers.DictField(help_text="What the user asked for; a retrain repeats these.")
    live = serializers.DictField(
        required=False,
        help_text="Written by the worker while it trains: total_epochs, epochs_done, epoch_seconds, started_at, "
        "expected_end.",
    )


class QuantizationSerializer(serializers.Serializer[dict[str, Any]]):
    accuracy = serializers.FloatField(
        required=False, help_text="The float model's, compared; null without test images."
    )
    accuracy_int8 = serializers.FloatField(required=False)
    test_images = serializers.IntegerField(required=False, help_text="Images both accuracies were measured on.")
    measured_on = serializers.CharField(required=False, help_text="What they are, when not the test split.")
    agreement = serializers.FloatField(required=False, help_text="Share of images both models give the same top-1.")
    calibration_images = serializers.IntegerField(required=False, help_text="Training images it was calibrated on.")
    size_bytes = serializers.IntegerField(required=False, help_text="The int8 file's size.")
    error = serializers.CharField(required=False, help_text="Why there is no usable int8 model.")


class DataDriftSerializer(serializers.Serializer[dict[str, Any]]):
    relabelled = serializers.IntegerField(help_text="Manifest images whose label is not the one trained with.")
    moved = serializers.IntegerField(help_text="Manifest images in another split now.")
    deleted = serializers.IntegerField(help_text="Manifest images deleted since.")


class VersionDataSerializer(serializers.Serializer[dict[str, Any]]):
    """What the version's manifest says it was trained on, and how much of it changed since."""

    splits = SplitCountsSerializer(help_text="Images per split when it was trained.")
    drift = DataDriftSerializer()
