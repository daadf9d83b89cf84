"""Request serializers of the model-version API: the training options, the export format and the
scoring request.

Training options are checked here only for their type; their ranges, the backbone name and whether
the dataset can be trained on are the services' rules, answered with a 400 that names the problem.
"""

from typing import Any

from rest_framework import serializers

from classifier.ml.config import TrainingConfig
from classifier.ml.plan import LABEL_SMOOTHING
from classifier.models import ModelVersion

EXPORT_FORMATS = ("keras", "tflite", "tflite_int8", "savedmodel")


class ModelVersionCreateInputSerializer(serializers.Serializer[ModelVersion]):
    """Every option may be left out: `{}` trains with the plan for the Standard budget. An option given
    is kept as given; the plan chooses the rest (see `plan` in the detail)."""

    # Typed by the model, not by its dict: the version list view names it as its serializer_class.
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


class ExportFormatSerializer(serializers.Serializer[dict[str, Any]]):
    format = serializers.ChoiceField(
        choices=EXPORT_FORMATS,
        help_text="keras: the .keras archive; tflite: the float served model (probabilities and embeddings); "
        "tflite_int8: the same quantized to int8 (same input and outputs); savedmodel: a zipped TensorFlow SavedModel.",
        error_messages={
            "invalid_choice": '"{input}" cannot be exported; choose keras, tflite, tflite_int8 or savedmodel.'
        },
    )


class ModelVersionScoreInputSerializer(serializers.Serializer[dict[str, Any]]):
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
