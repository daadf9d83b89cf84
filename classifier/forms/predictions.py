"""Forms of the prediction pages: one image for one version or an ensemble, the answer's threshold, and
the owner's feedback on an answer."""

from __future__ import annotations

from typing import Any, Literal, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet

from classifier.models import ModelVersion
from classifier.services.imaging import ImageRejected, image_size_check
from classifier.services.prediction_ensembles import MAX_ENSEMBLE_VERSIONS, MIN_ENSEMBLE_VERSIONS
from classifier.services.serving import DEFAULT_THRESHOLD
from classifier.services.storage import upload_size


class ThresholdForm(forms.Form):
    """The threshold of the answer rule; the result page recomputes the answer from stored probabilities."""

    threshold = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=DEFAULT_THRESHOLD,
        label="Threshold",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="One answer when the top probability reaches it; otherwise the top two.",
    )


class PredictForm(ThresholdForm):
    """One image to classify, uploaded or fetched from a URL."""

    image = forms.FileField(
        required=False,
        label="Image",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    url = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        label="…or an image URL",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/photo.jpg"}),
    )
    field_order = ["image", "url", "threshold"]

    def clean_image(self) -> UploadedFile[bytes] | Literal[False] | None:
        upload: UploadedFile[bytes] | Literal[False] | None = self.cleaned_data["image"]
        if upload:
            # Refused from its size alone, before the view reads it into memory. FileField has already
            # refused a file with no name or no content, so the fallbacks are never used.
            try:
                image_size_check(size=upload_size(upload), filename=upload.name or "")
            except ImageRejected as rejection:
                raise ValidationError(rejection.detail) from None
        return upload

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        has_image, has_url = bool(cleaned.get("image")), bool(cleaned.get("url"))
        # A field that failed its own checks is missing here, and its error already explains.
        if not (has_image or has_url) and not (self.has_error("image") or self.has_error("url")):
            raise ValidationError("Upload an image or paste an image URL.")
        if has_image and has_url:
            raise ValidationError("Upload an image or paste a URL, not both.")
        return cleaned


# Django's form fields cannot be subscripted at run time, though the stubs make them generic.
class VersionChoicesField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.dataset.name} v{obj.number} · {obj.backbone}"


class EnsemblePredictForm(PredictForm):
    """Several versions answering the same image; the ensemble averages their probabilities.

    How many versions an ensemble may have, and that they must know the same classes unless
    ``shared_classes_only`` is ticked, are the service's rules; their errors land on ``model_versions``.
    """

    model_versions = VersionChoicesField(
        queryset=ModelVersion.objects.none(),
        label="Versions",
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox-list version-checkboxes"}),
        help_text=f"{MIN_ENSEMBLE_VERSIONS} to {MAX_ENSEMBLE_VERSIONS}, trained on the same classes.",
    )
    shared_classes_only = forms.BooleanField(
        required=False,
        label="Shared classes only",
        help_text="For versions of different classes: answer over the classes they all know, each version's "
        "probabilities rescaled over those.",
    )
    field_order = ["model_versions", "shared_classes_only", "image", "url", "threshold"]

    def __init__(self, *args: Any, versions: QuerySet[ModelVersion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(VersionChoicesField, self.fields["model_versions"]).queryset = versions
        # Blank is the chosen versions' own thresholds, averaged: the ready ImageNet models' are lower.
        threshold = self.fields["threshold"]
        threshold.required, threshold.initial = False, None
        threshold.help_text = "One answer when the top probability reaches it; blank: the versions' own, averaged."


class PredictionFeedbackForm(forms.Form):
    """Feedback on an answer: right, or wrong and which class it is. The page sends each verdict from its
    own form, so Enter in the wrong-answer form can only ever mean "wrong".

    The class is picked from the ones the version and its dataset know, so a typo cannot name a class; a
    new class is a separate, explicit field.
    """

    verdict = forms.ChoiceField(choices=[("right", "Right"), ("wrong", "Wrong")])
    # Named as prediction_feedback takes it, so the service's errors land on this field.
    correct_label = forms.ChoiceField(required=False, label="Wrong — it is")
    new_class_name = forms.CharField(
        max_length=200,
        required=False,
        label="or a new class",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "new class name"}),
    )

    def __init__(self, *args: Any, class_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        correct_label = cast(forms.ChoiceField, self.fields["correct_label"])
        correct_label.choices = [("", "choose a class…"), *((name, name) for name in class_names)]

    def clean(self) -> dict[str, Any]:
        """Adds what prediction_feedback takes: ``label`` (the class picked or the new name) and
        ``new_class`` (whether it was given as a new class)."""
        super().clean()
        cleaned = self.cleaned_data
        chosen, new_name = cleaned.get("correct_label", ""), cleaned.get("new_class_name", "").strip()
        if cleaned.get("verdict") == "wrong":
            if chosen and new_name:
                self.add_error("new_class_name", "Choose a class or name a new one, not both.")
            elif not chosen and not new_name and "correct_label" not in self.errors:
                self.add_error("correct_label", "Say what it is instead.")
        cleaned["label"], cleaned["new_class"] = new_name or chosen, bool(new_name)
        return cleaned


class PredictionAddToDatasetForm(forms.Form):
    """Adding a wrong answer's image to the dataset; ``new_class`` is set only by the button that says it
    starts a new class."""

    new_class = forms.BooleanField(required=False)
