"""Forms of the dataset pages. They only check input shape; services make the writes and the rules."""

from django import forms
from django.core.exceptions import ValidationError

from classifier.models import DatasetImage


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
