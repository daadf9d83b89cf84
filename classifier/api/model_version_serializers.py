"""Input and output serializers of the backbone and model-version API.

Training options are checked here only for their type; their ranges, the backbone name and whether
the dataset can be trained on are the services' rules, answered with a 400 that names the problem.
The stored metrics and calibration are JSON written by the training worker; their serializers here
describe that JSON for the schema and pass it through.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.api.serializers import SplitCountsSerializer
from classifier.ml.config import TrainingConfig
from classifier.ml.plan import LABEL_SMOOTHING
from classifier.models import ModelVersion
from classifier.selectors import model_version_data_summary, model_version_eta_seconds, model_version_training_job
from classifier.services.quantization import FLOAT, INT8, version_serving_choice
from classifier.services.serving import version_answer_threshold, version_is_recalibrated
from training_jobs.api.serializers import JobSerializer
from training_jobs.models import EpochMetric

EXPORT_FORMATS = ("keras", "tflite", "tflite_int8", "savedmodel")


class BackboneSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What `backbone` takes when starting a version.")
    label = serializers.CharField()
    input_size = serializers.IntegerField(help_text="Default image size: the one its ImageNet weights were trained at.")
    pretrained_weights_available = serializers.BooleanField(
        help_text="Its ImageNet weights are on this install; if not, training downloads them when online."
    )


class ModelVersionCreateInputSerializer(serializers.Serializer):
    """Every option may be left out: `{}` trains with the plan for the Standard budget. An option given
    is kept as given; the plan chooses the rest (see `plan` in the detail)."""

    backbone = serializers.CharField(
        required=False, help_text=f"A name listed by /api/v1/backbones/; default {TrainingConfig.backbone}."
    )
    # Any JSON value: the service names the range for one it cannot take (true, -1, "soon").
    budget_minutes = serializers.JSONField(
        required=False,
        help_text="Minutes the training may take, or quick (2), standard (10, the default) or best (60). The plan "
        "fits input size, fine-tuning and epochs to it, measured on the worker as it goes.",
    )
    image_size = serializers.IntegerField(
        required=False, help_text="Square input in pixels; default: chosen from the images' size and the budget."
    )
    epochs = serializers.IntegerField(
        required=False, help_text=f"Epochs training the head on a frozen backbone; default {TrainingConfig.epochs}."
    )
    batch_size = serializers.IntegerField(required=False, help_text="Default: chosen from the dataset's size.")
    learning_rate = serializers.FloatField(
        required=False, help_text=f"The head's; default {TrainingConfig.learning_rate}."
    )
    fine_tune_layers = serializers.IntegerField(
        required=False,
        help_text="Top backbone layers to fine-tune (BatchNorm not counted, rounded to a block); default: the top "
        "half, when the budget allows; 0 for none.",
    )
    fine_tune_epochs = serializers.IntegerField(
        required=False, help_text="Most fine-tuning epochs; default: as many as the budget allows."
    )
    early_stopping_patience = serializers.IntegerField(
        required=False,
        help_text=(
            "Epochs without a better validation loss before stopping; "
            f"default {TrainingConfig.early_stopping_patience}."
        ),
    )
    augment = serializers.BooleanField(
        required=False, help_text="Train on several fixed views of each image (mirrored, shifted); default true."
    )
    horizontal_flip = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="Mirror images among the views: true, false (mirroring changes what a picture shows: text, digits, "
        "left and right), or left out / null: training checks whether mirrored pictures keep their class and says "
        "in the plan what it found.",
    )
    weights = serializers.ChoiceField(
        choices=["imagenet", "none"], required=False, help_text="Start from ImageNet weights (default) or random ones."
    )
    dropout = serializers.FloatField(required=False, help_text=f"Before the head; default {TrainingConfig.dropout}.")
    label_smoothing = serializers.FloatField(required=False, help_text=f"Default {LABEL_SMOOTHING}.")


class _WithTrainingJobSerializer(serializers.Serializer):
    """Adds the training job. Its error, report and parameters are the owner's: a view that may serve
    other readers (a public dataset's version) passes ``job_visible=False`` in the context for them."""

    job = serializers.SerializerMethodField(
        help_text="The version's latest training job: status, progress, error. Null for a public dataset's "
        "version read by anyone but its owner and staff."
    )

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_job(self, version: ModelVersion) -> dict | None:
        if not self.context.get("job_visible", True):
            return None
        job = model_version_training_job(version=version)
        return JobSerializer(job).data if job else None


class ModelVersionStartedSerializer(_WithTrainingJobSerializer, serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "number", "status", "job"]
        read_only_fields = fields


class MetricsSummarySerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True, help_text="On the test split; null without test images.")
    # Not allow_null: DRF would then add it as null to versions from before int8 models (a stored null shows).
    accuracy_int8 = serializers.FloatField(
        required=False,
        help_text="The int8 model's top-1 accuracy on the same test images; null without them or an int8 model.",
    )
    macro_f1 = serializers.FloatField(required=False)
    best_epoch = serializers.IntegerField(required=False, help_text="The epoch whose weights were kept.")


class PerClassMetricsSerializer(serializers.Serializer):
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


class ReliabilityBinSerializer(serializers.Serializer):
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    confidence = serializers.FloatField(allow_null=True, help_text="Mean top probability; null for an empty bin.")
    accuracy = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField()


class CalibrationSerializer(serializers.Serializer):
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


class MostConfusedSerializer(serializers.Serializer):
    image_id = serializers.IntegerField()
    true = serializers.CharField()
    predicted = serializers.CharField()
    probability = serializers.FloatField(help_text="Calibrated probability of the wrong prediction.")


class ModelVersionSerializer(serializers.ModelSerializer):
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
    def get_metrics(self, version: ModelVersion) -> dict | None:
        return MetricsSummarySerializer(version.metrics).data if version.metrics else None


class PlanSerializer(serializers.Serializer):
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


class QuantizationSerializer(serializers.Serializer):
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


class DataDriftSerializer(serializers.Serializer):
    relabelled = serializers.IntegerField(help_text="Manifest images whose label is not the one trained with.")
    moved = serializers.IntegerField(help_text="Manifest images in another split now.")
    deleted = serializers.IntegerField(help_text="Manifest images deleted since.")


class VersionDataSerializer(serializers.Serializer):
    """What the version's manifest says it was trained on, and how much of it changed since."""

    splits = SplitCountsSerializer(help_text="Images per split when it was trained.")
    drift = DataDriftSerializer()


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
    data = serializers.SerializerMethodField(
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
    def get_plan(self, version: ModelVersion) -> dict | None:
        return PlanSerializer(version.plan).data if version.plan else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_eta_seconds(self, version: ModelVersion) -> int | None:
        return model_version_eta_seconds(version=version)

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_metrics(self, version: ModelVersion) -> dict | None:
        return MetricsSerializer(version.metrics).data if version.metrics else None

    @extend_schema_field(VersionDataSerializer(allow_null=True))
    def get_data(self, version: ModelVersion) -> dict | None:
        summary = model_version_data_summary(version=version)
        return None if summary is None else VersionDataSerializer(summary).data

    @extend_schema_field(CalibrationSerializer(allow_null=True))
    def get_calibration(self, version: ModelVersion) -> dict | None:
        if not version.calibration:
            return None
        derived = {
            "recalibrated": version_is_recalibrated(version=version),
            "answer_threshold": version_answer_threshold(version=version),
        }
        return CalibrationSerializer({**version.calibration, **derived}).data


class EpochMetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = EpochMetric
        fields = ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
        read_only_fields = fields


class ExportFormatSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        help_text="keras: the .keras archive; tflite: the float served model (probabilities and embeddings); "
        "tflite_int8: the same quantized to int8 (same input and outputs); savedmodel: a zipped TensorFlow SavedModel.",
        error_messages={
            "invalid_choice": '"{input}" cannot be exported; choose keras, tflite, tflite_int8 or savedmodel.'
        },
    )


class ModelVersionScoreInputSerializer(serializers.Serializer):
    model_versions = serializers.ListField(
        # Bounded as database ids are: a larger number is a 400, not an overflow in the query.
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        allow_empty=False,
        help_text="Ids of ready versions of one dataset to score on the same images.",
    )
    test_set = serializers.RegexField(
        r"^(current|manifest:[1-9]\d{0,17})$",
        default="current",
        help_text="`current`: the dataset's test split with its labels now; `manifest:<version id>`: that "
        "version's test images with the labels it was trained with.",
        error_messages={"invalid": 'Use "current" or "manifest:<version id>".'},
    )
