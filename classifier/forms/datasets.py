"""Forms of the dataset pages: a dataset's name, its classes, uploads and imports, split settings and
augmentation (the dataset page's tabs), and the image grid's filter and relabel menus."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from classifier.ml.augment import AUGMENT_TRANSFORMS
from classifier.models import DatasetImage
from classifier.services.augmentation import MAX_TARGET_PER_CLASS


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class LabelClassForm(forms.Form):
    name = forms.CharField(max_length=200, label="Class name")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files from one input (the pattern Django's docs give)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[bytes]]:
        clean_one = super().clean
        items = list(data) if isinstance(data, list | tuple) else [data]
        # An empty selection arrives as [], which must still meet ``required``: clean None for it.
        cleaned = [clean_one(item, initial) for item in items or [None]]
        return [item for item in cleaned if item]


class ImageUploadForm(forms.Form):
    # Django's form metaclass takes declared fields off the class, so this does not replace the form's
    # ``files`` (the uploaded data), whatever the stubs think; the page's input is named "files".
    files = MultipleFileField(label="Images")  # type: ignore[assignment]
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

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
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

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
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

    def __init__(self, *args: Any, class_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["label"]).choices = [
            ("", "All classes"),
            (self.UNLABELLED, "Unlabelled"),
            *((name, name) for name in class_names),
        ]


class ImageRelabelForm(forms.Form):
    label = forms.CharField(max_length=200, required=False)


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
