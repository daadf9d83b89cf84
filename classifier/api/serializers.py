"""Input and output serializers of the dataset, class and image API.

Input serializers check only the shape of a request; the rules (unique names, split fractions, what
counts as an image) belong to the services, whose ValidationErrors the API answers with a 400.
"""

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.ml.augment import AUGMENT_TRANSFORMS
from classifier.models import Dataset, DatasetImage, LabelClass
from classifier.selectors import dataset_class_stats
from training_jobs.api.serializers import JobSerializer

# The largest seed a PositiveIntegerField holds on every database backend.
MAX_SPLIT_SEED = 2**31 - 1


class DatasetCreateInputSerializer(serializers.Serializer[Dataset]):
    # Typed by the model, not by its dict: the dataset list view names it as its serializer_class.
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    val_fraction = serializers.FloatField(
        required=False, help_text="Share of each class held out for validation; default from settings."
    )
    test_fraction = serializers.FloatField(
        required=False, help_text="Share of each class held out for testing; default from settings."
    )
    split_seed = serializers.IntegerField(required=False, min_value=0, max_value=MAX_SPLIT_SEED, default=0)


class DatasetUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class DatasetSerializer(serializers.ModelSerializer[Dataset]):
    owner = serializers.CharField(source="owner.username", read_only=True)
    image_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "is_public",
            "image_count",
            "val_fraction",
            "test_fraction",
            "split_seed",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SplitCountsSerializer(serializers.Serializer[dict[str, Any]]):
    train = serializers.IntegerField()
    val = serializers.IntegerField()
    test = serializers.IntegerField()


class LabelClassStatsSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    image_count = serializers.IntegerField()
    split_counts = SplitCountsSerializer()


class DatasetDetailSerializer(DatasetSerializer):
    classes = serializers.SerializerMethodField()

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "classes"]
        read_only_fields = fields

    @extend_schema_field(LabelClassStatsSerializer(many=True))
    def get_classes(self, dataset: Dataset) -> list[dict[str, Any]]:
        # The stubs take a list with many=True only for a ModelSerializer, and call .data one object's dict.
        rows = LabelClassStatsSerializer(dataset_class_stats(dataset=dataset), many=True)  # type: ignore[arg-type]
        return rows.data  # type: ignore[return-value]


class LabelClassCreateInputSerializer(serializers.Serializer[LabelClass]):
    # Typed by the model, not by its dict: the class list view names it as its serializer_class.
    name = serializers.CharField(max_length=200)


class SplitsReassignInputSerializer(serializers.Serializer[dict[str, Any]]):
    """Omitted values keep the dataset's current seed and fractions."""

    seed = serializers.IntegerField(required=False, min_value=0, max_value=MAX_SPLIT_SEED)
    val_fraction = serializers.FloatField(required=False)
    test_fraction = serializers.FloatField(required=False)


class SplitsResultSerializer(serializers.Serializer[dict[str, Any]]):
    train = serializers.IntegerField(help_text="Original images now in train.")
    val = serializers.IntegerField(help_text="Original images now in validation.")
    test = serializers.IntegerField(help_text="Original images now in test.")
    augmented_deleted = serializers.IntegerField(
        help_text="Augmented copies deleted because their source left the training split."
    )


class ImageSerializer(serializers.ModelSerializer[DatasetImage]):
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        source="label.name", read_only=True, allow_null=True, help_text="Class name; null when unlabelled."
    )
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetImage
        fields = [
            "id",
            "dataset",
            "label",
            "split",
            "origin",
            "width",
            "height",
            "sha256",
            "original_name",
            "created_at",
            "file_url",
            "thumbnail_url",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    # Files are served by owner-checked page routes, never straight from media storage.
    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, image: DatasetImage) -> str:
        return self._absolute(reverse("classifier:image-file", args=[image.id]))

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, image: DatasetImage) -> str:
        return self._absolute(reverse("classifier:image-thumbnail", args=[image.id]))


class DatasetFilterSerializer(serializers.Serializer[dict[str, Any]]):
    include_public = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: also list the public datasets (the ready ImageNet models), marked is_public.",
    )


class ImageFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """Query parameters of the image list; an empty value means "any"."""

    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        required=False, allow_blank=True, help_text='Class name, or "-" for unlabelled images.'
    )
    split = serializers.ChoiceField(choices=DatasetImage.Split.choices, required=False, allow_blank=True)


class ImageUploadInputSerializer(serializers.Serializer[DatasetImage]):
    # Typed by the model, not by its dict: the image list view names it as its serializer_class.
    # Empty and non-image files are let through so the service can report each one as rejected
    # instead of failing the whole batch.
    file = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        allow_empty=False,
        help_text="One or more image files (repeat the field).",
    )
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Class name for every file, created if new; omitted or empty: unlabelled.",
    )


class ImageRelabelInputSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        allow_null=True, max_length=200, help_text="Class name, created if new; null: unlabelled."
    )


class RejectedFileSerializer(serializers.Serializer[dict[str, Any]]):
    filename = serializers.CharField()
    reason = serializers.CharField(help_text="e.g. duplicate, corrupt, not_image, too_large.")
    detail = serializers.CharField()


class UploadResultSerializer(serializers.Serializer[dict[str, Any]]):
    imported = ImageSerializer(many=True)
    rejected = RejectedFileSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Number of files per outcome.")
    near_duplicates = serializers.ListField(
        child=serializers.DictField(),
        default=list,
        help_text=(
            'Imported files that nearly copy a picture already in the dataset, each {"filename", "image", '
            '"near_duplicate_of", "near_duplicate_of_name", "split"}: stored in that picture\'s split.'
        ),
    )


class ImportInputSerializer(serializers.Serializer[dict[str, Any]]):
    archive = serializers.FileField(
        required=False, help_text="A ZIP archive: one folder per class, or flat with `labels`."
    )
    labels = serializers.FileField(required=False, help_text="CSV with `filename,label` columns.")
    urls = serializers.FileField(
        required=False,
        help_text="Instead of `archive`: a CSV with `url,label` columns (optional `filename`), one image URL a row.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("archive") and data.get("urls"):
            raise serializers.ValidationError(
                {"urls": "Send an archive or a URL list, not both: each is its own import."}
            )
        if data.get("urls") and data.get("labels"):
            raise serializers.ValidationError(
                {"labels": "A labels CSV goes with an archive; a URL list gives its labels in its label column."}
            )
        if not data.get("archive") and not data.get("urls"):
            # The archive is what most imports send; a URL list is named in the field's help.
            raise serializers.ValidationError({"archive": "No file was submitted."})
        return data


class AugmentationInputSerializer(serializers.Serializer[dict[str, Any]]):
    target_per_class = serializers.IntegerField(
        help_text="Classes with fewer training images get augmented copies of them up to this count."
    )
    transforms = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=f"Applied in order to every copy; default: all of {', '.join(AUGMENT_TRANSFORMS)}.",
    )
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_SPLIT_SEED, default=0, help_text="Same seed, same copies."
    )


class JobStartedSerializer(serializers.Serializer[dict[str, Any]]):
    job = JobSerializer()
