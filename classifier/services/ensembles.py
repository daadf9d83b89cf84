"""Which classes an ensemble of model versions answers over, and how each member's probabilities join it.

Versions that know different classes are refused unless the user asks for the classes they share:
averaged silently, a 2-class model's "face" would stand beside 1000 ImageNet classes it never saw,
each of them holding none of its probability.
"""

import numpy as np
from django.core.exceptions import ValidationError

from classifier.models import ModelVersion

MIN_SHARED_CLASSES = 2


def _described(model_versions: list[ModelVersion]) -> str:
    return ", ".join(
        f'"{version.dataset.name}" v{version.number} ({len(version.class_names)} classes)' for version in model_versions
    )


def ensemble_classes(*, model_versions: list[ModelVersion], shared_classes_only: bool = False) -> list[str]:
    """The classes the ensemble answers over, each once, in the first version's order.

    Versions whose class sets differ are refused, naming each with its class count, unless
    ``shared_classes_only``: then the classes every version knows, refused when fewer than two are shared.
    Raises ``ValidationError`` on ``model_versions``.
    """
    first = list(dict.fromkeys(model_versions[0].class_names))
    others = [set(version.class_names) for version in model_versions[1:]]
    shared = [name for name in first if all(name in known for known in others)]
    if not shared_classes_only and all(known == set(first) for known in others):
        return first
    too_few = len(shared) < MIN_SHARED_CLASSES
    if not shared_classes_only:
        advice = (
            f"They share {len(shared)} class{'' if len(shared) == 1 else 'es'}, too few for an ensemble of those."
            if too_few
            else f"Or ask for the shared classes only (shared_classes_only) to combine the {len(shared)} they all know."
        )
        raise ValidationError(
            {
                "model_versions": f"These versions know different classes: {_described(model_versions)}. An ensemble "
                f"averages one set of classes, so choose versions trained on the same classes. {advice}"
            },
            code="different_classes",
        )
    if too_few:
        named = f" ({', '.join(shared)})" if shared else ""
        raise ValidationError(
            {
                "model_versions": f"These versions share {len(shared)} class{'' if len(shared) == 1 else 'es'}{named}: "
                f"{_described(model_versions)}. An ensemble of the shared classes needs at least {MIN_SHARED_CLASSES}."
            },
            code="too_few_shared_classes",
        )
    return shared


def ensemble_member_add(
    *, total: np.ndarray, classes: list[str], class_names: list[str], probabilities: np.ndarray, renormalise: bool
) -> None:
    """Add one member's probabilities into ``total`` (one column per entry of ``classes``), by class name.

    Classes outside ``classes`` are left out; with ``renormalise`` the rest are scaled to sum to 1, so a
    member that spreads its probability over many other classes still counts as much as the others.
    A class name a version has twice (ImageNet's "missile") adds both into its one column.
    """
    column = {name: index for index, name in enumerate(classes)}
    kept = [(index, column[name]) for index, name in enumerate(class_names) if name in column]
    rows = np.array([row for row, _ in kept])
    columns = np.array([target for _, target in kept])
    values = np.asarray(probabilities, dtype=np.float64)[rows]
    if renormalise:
        mass = values.sum()
        values = values / mass if mass > 0 else np.full(len(values), 1.0 / len(values))
    np.add.at(total, columns, values)
