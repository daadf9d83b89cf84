"""Forms of the model version pages: a new version's training options (on the dataset page's Train tab)
and the two versions to compare."""

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.forms import BoundField

from classifier.ml.config import TrainingConfig
from classifier.models import ModelVersion
from classifier.selectors import backbones_list


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per form, so weights placed in the folder after start-up show up without a restart.
        backbone = cast(forms.ChoiceField, self.fields["backbone"])
        backbone.choices = _backbone_choices()
        backbone.initial = TrainingConfig.backbone

    def primary_fields(self) -> list[BoundField]:
        return [self[name] for name in self.fields if name not in self.ADVANCED]

    def advanced_fields(self) -> list[BoundField]:
        return [self[name] for name in self.ADVANCED]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
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


# Django's form fields cannot be subscripted at run time, though the stubs make them generic.
class VersionLabelChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
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

    def __init__(self, *args: Any, versions: QuerySet[ModelVersion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(VersionLabelChoiceField, self.fields["a"]).queryset = versions
        cast(VersionLabelChoiceField, self.fields["b"]).queryset = versions
