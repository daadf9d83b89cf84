"""What an owner does with a prediction afterwards: say whether it was right (and what the image really
is), or add its image to the version's dataset under one of its classes."""

import difflib
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage

from classifier.models import DatasetImage, ModelVersion, Prediction
from classifier.services.images import image_add
from classifier.services.imaging import ImageRejected
from classifier.services.predictions import PredictionNotReady

# A refusal names at most this many classes: ImageNet's thousand would bury the sentence that matters.
CLASSES_NAMED_IN_ERRORS = 30


def prediction_class_names(*, prediction: Prediction) -> list[str]:
    """The classes feedback on ``prediction`` may name, sorted: its version's dataset's classes and the
    names its version (each version of an ensemble) was trained on, which may include classes deleted
    since, plus the labels of its answer (all that is left once its versions are deleted)."""
    names = {row["label"] for row in prediction.results}
    if prediction.model_version is not None:
        names |= set(prediction.model_version.class_names)
        names |= set(prediction.model_version.dataset.classes.values_list("name", flat=True))
    elif prediction.ensemble_version_ids:
        for class_names in ModelVersion.objects.filter(id__in=prediction.ensemble_version_ids).values_list(
            "class_names", flat=True
        ):
            names |= set(class_names)
    return _in_reading_order(names)


def _in_reading_order(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda name: (name.casefold(), name))


def _class_match(name: str, names: list[str]) -> str | None:
    """``name`` as spelled in ``names``; a difference in case alone is a slip, not another class."""
    if name in names:
        return name
    return next((known for known in names if known.casefold() == name.casefold()), None)


def _not_a_class(*, field: str, name: str, names: list[str], where: str) -> ValidationError:
    """The refusal of a class name that is not one of ``names``: what was probably meant, what the classes
    are, and that a new class has to be asked for."""
    text = f'"{name}" is not a class of {where}.'
    close = difflib.get_close_matches(name.casefold(), [known.casefold() for known in names], n=3)
    suggestions = [next(known for known in names if known.casefold() == folded) for folded in close]
    if suggestions:
        text += " Did you mean " + " or ".join(f'"{known}"' for known in suggestions) + "?"
    if not names:
        text += " It has no classes yet."
    else:
        shown = ", ".join(names[:CLASSES_NAMED_IN_ERRORS])
        more = len(names) - CLASSES_NAMED_IN_ERRORS
        text += f" Its classes: {shown}" + (f" and {more} more." if more > 0 else ".")
    text += " To start a new class by that name, ask for a new class (new_class)."
    return ValidationError({field: text}, code="unknown_class")


def prediction_feedback(
    *, prediction: Prediction, is_correct: bool, correct_label: str = "", new_class: bool = False
) -> Prediction:
    """Record whether the answer was right and, if not, what the image really shows (may be blank).

    The label must be one of ``prediction_class_names`` (in any case; it is stored as that class is
    spelled), so a typo is refused rather than becoming a class later; another name is taken only with
    ``new_class``, the owner's explicit choice.
    """
    if prediction.status != Prediction.Status.SUCCEEDED:
        raise PredictionNotReady(f"Prediction #{prediction.id} is {prediction.status}; it has no answer to judge.")
    label = "" if is_correct else correct_label.strip()
    if len(label) > 200:
        raise ValidationError({"correct_label": "A class name is at most 200 characters."})
    if label:
        names = prediction_class_names(prediction=prediction)
        known = _class_match(label, names)
        if known is None and not new_class:
            version = prediction.model_version
            where = f'"{version.dataset.name}" v{version.number}' if version is not None else "these versions"
            raise _not_a_class(field="correct_label", name=label, names=names, where=where)
        label = known or label
    prediction.is_correct = is_correct
    prediction.correct_label = label
    prediction.save(update_fields=["is_correct", "correct_label"])
    return prediction


def prediction_add_creates_class(*, prediction: Prediction, label_name: str) -> bool:
    """Whether adding the prediction's image under ``label_name`` would start a new class in its
    version's dataset (so the owner must ask for one)."""
    version = prediction.model_version
    if version is None:
        return False
    names = list(version.dataset.classes.values_list("name", flat=True))
    return _class_match(label_name.strip(), names) is None


def prediction_add_to_dataset(*, prediction: Prediction, label_name: str, new_class: bool = False) -> DatasetImage:
    """Add the prediction's image to its version's dataset under ``label_name``, one of the dataset's
    classes (in any case); a class it does not have is created only with ``new_class``, the owner's
    explicit choice: a one-image class made from a typo would stop the next training.

    The image goes through ``image_add`` like any upload, so a picture already in the dataset is
    refused as a duplicate. A public dataset takes images from staff only.
    """
    version = prediction.model_version
    if version is None:
        raise ValidationError(
            "This prediction has no single model version (an ensemble, or its version was deleted), "
            "so there is no dataset to add its image to."
        )
    image_name = prediction.image.name
    if not image_name:
        raise PredictionNotReady(f"Prediction #{prediction.id} has no stored image yet.")
    dataset, owner = version.dataset, prediction.owner
    if not owner.is_staff and (dataset.is_public or dataset.owner_id != owner.pk):
        raise PermissionDenied(f'"{dataset.name}" is not your dataset: only staff can add images to it.')
    name = label_name.strip()
    if not name:
        raise ValidationError({"label": "Name the class to add the image to."})
    names = _in_reading_order(dataset.classes.values_list("name", flat=True))
    known = _class_match(name, names)
    if known is None and not new_class:
        raise _not_a_class(field="label", name=name, names=names, where=f'"{dataset.name}"')
    with default_storage.open(image_name, "rb") as stored:
        content = stored.read()
    try:
        image = image_add(
            dataset=dataset,
            content=content,
            filename=prediction.details.get("filename") or image_name.rsplit("/", 1)[-1],
            label_name=known or name,
            origin=DatasetImage.Origin.UPLOAD,
        )
    except ImageRejected as rejection:
        raise ValidationError(rejection.detail) from None
    Prediction.objects.filter(id=prediction.id).update(added_image=image)
    prediction.added_image = image
    return image
