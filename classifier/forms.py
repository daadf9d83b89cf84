"""Forms of the dataset and model version pages.

They only check input shape; services make the writes and the rules.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from classifier.ml.augment import AUGMENT_TRANSFORMS
from classifier.ml.config import TrainingConfig
from classifier.models import DatasetImage, ModelVersion
from classifier.selectors import backbones_list
from classifier.services.augmentation import MAX_TARGET_PER_CLASS
from classifier.services.imaging import ImageRejected, image_size_check
from classifier.services.predictions import DEFAULT_THRESHOLD, MAX_ENSEMBLE_VERSIONS, MIN_ENSEMBLE_VERSIONS


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: on the field it names when the form has that
    field, otherwise at the top of the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class LabelClassForm(forms.Form):
    name = forms.CharField(max_length=200, label="Class name")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files from one input (the pattern Django's docs give)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        clean_one = super().clean
        items = list(data) if isinstance(data, list | tuple) else [data]
        # An empty selection arrives as [], which must still meet ``required``: clean None for it.
        cleaned = [clean_one(item, initial) for item in items or [None]]
        return [item for item in cleaned if item]


class ImageUploadForm(forms.Form):
    files = MultipleFileField(label="Images")
    label = forms.CharField(
        max_length=200,
        required=False,
        label="Class",
        # Suggests the dataset's classes (a <datalist> on the page) while allowing a new name.
        widget=forms.TextInput(attrs={"list": "class-names", "autocomplete": "off"}),
        help_text="Created if new. Leave empty to upload unlabelled images.",
    )


class DatasetImportForm(forms.Form):
    archive = forms.FileField(
        required=False,
        label="ZIP archive",
        help_text="One folder per class, or any layout together with a labels CSV.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )
    labels = forms.FileField(
        required=False,
        label="Labels CSV (optional)",
        help_text="Columns filename,label.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    urls = forms.FileField(
        required=False,
        label="Or a URL list (CSV)",
        help_text="Instead of an archive: columns url,label (and filename if you like); each image is fetched.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean(self):
        cleaned = super().clean()
        archive, urls = cleaned.get("archive"), cleaned.get("urls")
        if archive and urls:
            self.add_error("urls", "Choose an archive or a URL list, not both: each is its own import.")
        elif urls and cleaned.get("labels"):
            self.add_error(
                "labels", "A labels CSV goes with an archive; a URL list gives its labels in its label column."
            )
        elif not archive and not urls and "archive" not in self.errors:
            self.add_error("archive", "Choose a ZIP archive, or a URL list below.")
        return cleaned


class SplitSettingsForm(forms.Form):
    val_fraction = forms.FloatField(min_value=0, max_value=0.99, label="Validation fraction")
    test_fraction = forms.FloatField(min_value=0, max_value=0.99, label="Test fraction")
    seed = forms.IntegerField(min_value=0, label="Seed", help_text="The same seed gives the same splits.")

    def clean(self):
        cleaned = super().clean()
        val, test = cleaned.get("val_fraction"), cleaned.get("test_fraction")
        if val is not None and test is not None and val + test >= 1:
            raise ValidationError("Validation and test fractions together must leave images for training.")
        return cleaned


class ImageFilterForm(forms.Form):
    """The grid's filters. ``label`` is a class name, ``-`` for unlabelled images, or empty for all."""

    UNLABELLED = "-"

    label = forms.ChoiceField(
        required=False, label="Class", widget=forms.Select(attrs={"aria-label": "Filter by class"})
    )
    split = forms.ChoiceField(
        required=False,
        choices=[("", "All splits"), *DatasetImage.Split.choices],
        label="Split",
        widget=forms.Select(attrs={"aria-label": "Filter by split"}),
    )

    def __init__(self, *args, class_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [
            ("", "All classes"),
            (self.UNLABELLED, "Unlabelled"),
            *((name, name) for name in class_names),
        ]


class ImageRelabelForm(forms.Form):
    label = forms.CharField(max_length=200, required=False)


def _backbone_choices() -> list[tuple[str, str]]:
    """Each registered backbone with its input size and whether its ImageNet weights are on this install."""
    choices = []
    for backbone in backbones_list():
        weights = "ImageNet weights installed" if backbone["pretrained_weights_available"] else "no weights here"
        choices.append((backbone["name"], f"{backbone['label']} · {backbone['input_size']} px · {weights}"))
    return choices


class TrainVersionForm(forms.Form):
    """A new version's training options, named as ``model_version_create`` takes them.

    As it opens it asks for a time budget only: every advanced option starts empty, and an empty
    option reaches the service as None, which lets the plan choose it for this dataset and budget.
    """

    ADVANCED = (
        "weights", "image_size", "epochs", "batch_size", "learning_rate", "fine_tune_layers", "fine_tune_epochs",
        "early_stopping_patience", "augment",
    )

    budget = forms.ChoiceField(
        choices=[
            ("quick", "Quick · about 2 minutes"),
            ("standard", "Standard · about 10 minutes"),
            ("best", "Best · about an hour"),
            ("custom", "Custom: minutes below"),
        ],
        initial="standard",
        label="Time budget",
        help_text="The plan fits image size, fine-tuning and epochs to it, and stops at it with the best model.",
    )
    budget_minutes = forms.FloatField(
        required=False, min_value=0.1, label="Minutes", help_text="For a custom budget.",
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    backbone = forms.ChoiceField(
        help_text="Only backbones whose ImageNet weights are on this server can start from them.",
        # Its choices are long (name, input size, weights): it takes a whole row of the form grid.
        widget=forms.Select(attrs={"class": "field-wide"}),
    )
    horizontal_flip = forms.ChoiceField(
        choices=[
            ("", "Find out from the pictures"),
            ("yes", "Yes"),
            ("no", "No: a mirror image would mean something else"),
        ],
        required=False,
        label="Mirror images while training",
        help_text="Mirroring changes what text, digits or left and right show; left to the training, it checks.",
    )
    weights = forms.ChoiceField(
        choices=[("imagenet", "ImageNet (transfer learning)"), ("none", "None (train from scratch)")],
        initial="imagenet",
    )
    image_size = forms.IntegerField(
        required=False, min_value=32, label="Image size (px)", help_text="Empty: chosen from your images' size."
    )
    epochs = forms.IntegerField(required=False, min_value=1, label="Head epochs", help_text="Empty: the plan's.")
    batch_size = forms.IntegerField(required=False, min_value=1, help_text="Empty: chosen from the dataset's size.")
    learning_rate = forms.FloatField(
        required=False, min_value=0, max_value=1, widget=forms.NumberInput(attrs={"step": "any"}),
        help_text=f"The head's; empty: {TrainingConfig.learning_rate}.",
    )
    fine_tune_layers = forms.IntegerField(
        required=False,
        min_value=0,
        label="Fine-tune layers",
        help_text="Top backbone layers to fine-tune; empty: the top half; 0: none.",
    )
    fine_tune_epochs = forms.IntegerField(
        required=False, min_value=0, label="Fine-tune epochs", help_text="Empty: as many as the budget allows."
    )
    early_stopping_patience = forms.IntegerField(
        required=False, min_value=1, label="Early-stopping patience",
        help_text=f"Empty: {TrainingConfig.early_stopping_patience}.",
    )
    augment = forms.ChoiceField(
        choices=[("", "The plan's (yes)"), ("yes", "Yes"), ("no", "No")],
        required=False,
        label="Augment while training",
        help_text="Several fixed views of each training image (mirrored, shifted).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per form, so weights placed in the folder after start-up show up without a restart.
        self.fields["backbone"].choices = _backbone_choices()
        self.fields["backbone"].initial = TrainingConfig.backbone

    def primary_fields(self):
        return [self[name] for name in self.fields if name not in self.ADVANCED]

    def advanced_fields(self):
        return [self[name] for name in self.ADVANCED]

    def clean(self):
        data = super().clean()
        choice = data.pop("budget", "standard")
        if choice == "custom":
            if data.get("budget_minutes") is None:
                self.add_error("budget_minutes", "Give the minutes for a custom budget.")
        else:
            data["budget_minutes"] = choice
        # "" leaves the choice to the plan (augment) or to the training (mirroring).
        for name in ("augment", "horizontal_flip"):
            choice = data.get(name)
            data[name] = None if not choice else choice == "yes"
        return data


class AugmentForm(forms.Form):
    target_per_class = forms.IntegerField(
        min_value=1,
        max_value=MAX_TARGET_PER_CLASS,
        label="Training images per class",
        help_text="Smaller classes get augmented copies of their training images up to this count.",
    )
    transforms = forms.MultipleChoiceField(
        choices=[(name, name.replace("_", " ").capitalize()) for name in AUGMENT_TRANSFORMS],
        initial=list(AUGMENT_TRANSFORMS),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox-list"}),
        error_messages={"required": "Choose at least one transform."},
    )


class VersionLabelChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"v{obj.number} · {obj.backbone} · {obj.get_status_display()}"


class VersionCompareForm(forms.Form):
    """Two versions to compare, chosen from ``versions`` (the user's own, so others' are not found)."""

    a = VersionLabelChoiceField(
        queryset=ModelVersion.objects.none(), label="Version A", widget=forms.Select(attrs={"aria-label": "Version A"})
    )
    b = VersionLabelChoiceField(
        queryset=ModelVersion.objects.none(), label="Version B", widget=forms.Select(attrs={"aria-label": "Version B"})
    )

    def __init__(self, *args, versions: QuerySet[ModelVersion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["a"].queryset = versions
        self.fields["b"].queryset = versions


# Predictions


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

    def clean_image(self):
        upload = self.cleaned_data["image"]
        if upload:
            # Refused from its size alone, before the view reads it into memory.
            try:
                image_size_check(size=upload.size, filename=upload.name)
            except ImageRejected as rejection:
                raise ValidationError(rejection.detail) from None
        return upload

    def clean(self):
        cleaned = super().clean()
        has_image, has_url = bool(cleaned.get("image")), bool(cleaned.get("url"))
        # A field that failed its own checks is missing here, and its error already explains.
        if not (has_image or has_url) and not (self.has_error("image") or self.has_error("url")):
            raise ValidationError("Upload an image or paste an image URL.")
        if has_image and has_url:
            raise ValidationError("Upload an image or paste a URL, not both.")
        return cleaned


class VersionChoicesField(forms.ModelMultipleChoiceField):
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

    def __init__(self, *args, versions: QuerySet[ModelVersion], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_versions"].queryset = versions
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

    def __init__(self, *args, class_names: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["correct_label"].choices = [("", "choose a class…"), *((name, name) for name in class_names)]

    def clean(self):
        """Adds what prediction_feedback takes: ``label`` (the class picked or the new name) and
        ``new_class`` (whether it was given as a new class)."""
        cleaned = super().clean()
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
