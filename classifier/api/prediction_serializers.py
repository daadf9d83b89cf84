"""Input and output serializers of the prediction API.

Inputs are checked here for their shape only (an image or a url, not both; numbers are numbers); what
counts as an image, a fetchable URL or a valid top_k is the services' rule, answered with a 400.
"""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.models import Prediction
from classifier.services.prediction_ensembles import MAX_ENSEMBLE_VERSIONS, MIN_ENSEMBLE_VERSIONS
from classifier.services.predictions import Answer, prediction_answer
from classifier.services.serving import DEFAULT_THRESHOLD, DEFAULT_TOP_K
from classifier.services.url_targets import MAX_URL_LENGTH


class PredictImageInputSerializer(serializers.Serializer[Prediction]):
    """An image, sent as a file (multipart) or named by its URL (JSON or multipart): exactly one."""

    # This and the other inputs of a prediction are typed by the model they make, not by their dict: the
    # prediction list view names the queued prediction's input as its serializer_class.

    # Empty and non-image files are let through so the service names what is wrong with them.
    image = serializers.FileField(required=False, allow_empty_file=True, help_text="The image file (multipart).")
    url = serializers.CharField(
        required=False,
        max_length=MAX_URL_LENGTH,
        help_text="An http(s) URL of the image; fetched from public addresses only.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "image" in data and "url" in data:
            raise serializers.ValidationError({"url": "Send either an image file or a url, not both."})
        if "image" not in data and "url" not in data:
            raise serializers.ValidationError({"image": "Send an image file (multipart) or a url."})
        return data


class PredictOptionsSerializer(serializers.Serializer[Prediction]):
    top_k = serializers.IntegerField(
        required=False,
        help_text=f"How many classes to list, 1 to the version's class count; default {DEFAULT_TOP_K} "
        "(or every class when it knows fewer).",
    )
    threshold = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="The `answer` names one class when its probability reaches this, else the top two. Default: the "
        "version's own (`calibration.answer_threshold`: 0.5, lower for the ready ImageNet models, whose published "
        "probabilities run low); an ensemble's is its versions' mean.",
    )


class ModelVersionPredictOptionsSerializer(PredictOptionsSerializer):
    # default=None: DRF reads a boolean left out of a query string as false, which would force float.
    quantized = serializers.BooleanField(
        required=False,
        default=None,
        allow_null=True,
        help_text="true: answer with the version's int8 model (a 400 when it has none); false: with its float "
        "model. Default: the model it serves (`serving_model` in the version's detail).",
    )


class EnsemblePredictInputSerializer(PredictImageInputSerializer):
    model_versions = serializers.ListField(
        # Bounded as database ids are: a larger number is a 400, not an overflow in the query.
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=MIN_ENSEMBLE_VERSIONS,
        max_length=MAX_ENSEMBLE_VERSIONS,
        help_text=f"{MIN_ENSEMBLE_VERSIONS} to {MAX_ENSEMBLE_VERSIONS} model version ids (repeat the field "
        "in multipart), trained on the same classes: versions whose class sets differ are a 400 naming each "
        "with its class count, unless `shared_classes_only` is true.",
    )
    shared_classes_only = serializers.BooleanField(
        required=False,
        default=False,
        help_text="True to combine versions of different classes over the classes they all know (at least 2, "
        "else a 400), each version's probabilities rescaled to sum to 1 over those. Default false.",
    )


class PredictionQueueInputSerializer(PredictImageInputSerializer, PredictOptionsSerializer):
    model_version = serializers.IntegerField(help_text="The id of a ready model version you may use.")


class LabelProbabilitySerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.CharField()  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
    probability = serializers.FloatField(
        help_text="Probability, 0 to 1: calibrated, or as published for a version not recalibrated (see its "
        "`calibration`)."
    )


class AnswerSerializer(serializers.Serializer[dict[str, Any]]):
    kind = serializers.ChoiceField(
        choices=["confident", "uncertain", "unknown", "none"],
        help_text="confident: one class reached the threshold; uncertain: the top two are given; unknown: "
        "the image is unlike anything the model was trained on; none: no answer yet.",
    )
    labels = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField(help_text="The answer as a sentence.")


class _WithAnswerSerializer(serializers.Serializer[Prediction]):
    answer = serializers.SerializerMethodField(help_text="The answer rule applied with the request's threshold.")

    @extend_schema_field(AnswerSerializer)
    def get_answer(self, prediction: Prediction) -> Answer:
        threshold = prediction.details.get("threshold", DEFAULT_THRESHOLD)
        return prediction_answer(prediction.results, is_unknown=prediction.is_unknown, threshold=threshold)


class PredictionResultSerializer(_WithAnswerSerializer):
    """A prediction made now, from its stored row."""

    predictions = LabelProbabilitySerializer(many=True, source="results", help_text="Sorted, most probable first.")
    is_unknown = serializers.BooleanField(help_text="The image is unlike the images the version was trained on.")
    unknown_score = serializers.FloatField(
        allow_null=True, help_text="Distance from the training images (higher = stranger); null without a detector."
    )
    model_version = serializers.IntegerField(source="model_version_id")
    latency_ms = serializers.FloatField()
    prediction_id = serializers.IntegerField(source="id", help_text="Its entry in /api/v1/predictions/.")


class EnsembleMemberSerializer(serializers.Serializer[dict[str, Any]]):
    model_version = serializers.IntegerField()
    predictions = LabelProbabilitySerializer(many=True, help_text="The version's top 3.")
    is_unknown = serializers.BooleanField()


class EnsemblePredictionsSerializer(serializers.Serializer[dict[str, Any]]):
    predictions = LabelProbabilitySerializer(
        many=True, help_text="Mean of the members' probabilities, aligned by class name."
    )


class EnsembleResultSerializer(_WithAnswerSerializer):
    members = EnsembleMemberSerializer(many=True, source="details.members")
    ensemble = serializers.SerializerMethodField()
    shared_classes_only = serializers.SerializerMethodField(
        help_text="The ensemble answers over the classes its versions share only."
    )
    is_unknown = serializers.BooleanField(help_text="True only when every member with a detector says unknown.")
    latency_ms = serializers.FloatField()
    prediction_id = serializers.IntegerField(source="id")

    @extend_schema_field(EnsemblePredictionsSerializer)
    def get_ensemble(self, prediction: Prediction) -> dict[str, Any]:
        return {"predictions": prediction.results}

    def get_shared_classes_only(self, prediction: Prediction) -> bool:
        return bool(prediction.details.get("shared_classes_only", False))


class PredictionQueuedSerializer(serializers.ModelSerializer[Prediction]):
    class Meta:
        model = Prediction
        fields = ["id", "status"]
        read_only_fields = fields


class PredictionSerializer(_WithAnswerSerializer, serializers.ModelSerializer[Prediction]):
    predictions = LabelProbabilitySerializer(
        many=True, source="results", read_only=True, help_text="Sorted; empty until it has succeeded."
    )
    members = serializers.SerializerMethodField(help_text="An ensemble's members; null for a single version.")
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = [
            "id",
            "status",
            "error",
            "model_version",
            "ensemble_version_ids",
            "source_url",
            "image_url",
            "top_k",
            "predictions",
            "members",
            "is_unknown",
            "unknown_score",
            "latency_ms",
            "answer",
            "is_correct",
            "correct_label",
            "added_image",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(EnsembleMemberSerializer(many=True, allow_null=True))
    def get_members(self, prediction: Prediction) -> list[dict[str, Any]] | None:
        members: list[dict[str, Any]] | None = prediction.details.get("members")
        return members

    # Served by an owner-checked route, never straight from media storage.
    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_image_url(self, prediction: Prediction) -> str | None:
        if not prediction.image:
            return None
        path = reverse("classifier_api:prediction-image", args=[prediction.id])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class PredictionFeedbackInputSerializer(serializers.Serializer[dict[str, Any]]):
    is_correct = serializers.BooleanField()
    correct_label = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="What the image really shows, when the answer was wrong: one of the dataset's classes or "
        "the version's class names (case aside), else a 400 naming them, unless `new_class` is true.",
    )
    new_class = serializers.BooleanField(
        default=False, help_text="True to name a class that neither the dataset nor the version has."
    )


class AddToDatasetInputSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        max_length=200,
        help_text="One of the dataset's classes (case aside), else a 400 naming them, unless `new_class` is true.",
    )
    new_class = serializers.BooleanField(
        default=False, help_text="True to create `label` as a new class of the dataset when it has none by that name."
    )


class BatchPredictionInputSerializer(serializers.Serializer[dict[str, Any]]):
    archive = serializers.FileField(help_text="A ZIP of images; folders are kept in the CSV's file names.")
