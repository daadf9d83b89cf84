"""Ensembles: one image predicted by 2 to 5 versions, their probabilities averaged by class name, kept
in the owner's history like any prediction answered now."""

import time
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from classifier.ml.predictor import top_k as top_classes
from classifier.models import ModelVersion, Prediction
from classifier.services.ensembles import ensemble_classes, ensemble_member_add
from classifier.services.predictions import (
    prediction_image_read,
    prediction_image_stored_while,
    prediction_request_check,
    prediction_row_write,
)
from classifier.services.serving import version_scores

ENSEMBLE_MEMBER_TOP_K = 3
MIN_ENSEMBLE_VERSIONS, MAX_ENSEMBLE_VERSIONS = 2, 5


def prediction_ensemble_create(
    *,
    owner: User,
    model_versions: list[ModelVersion],
    image_bytes: bytes | None = None,
    filename: str = "",
    source_url: str = "",
    top_k: int | None = None,
    threshold: float | None = None,
    shared_classes_only: bool = False,
) -> Prediction:
    """Predict one image with 2 to 5 versions and combine them: the mean of their probabilities,
    aligned by class name.

    The versions must know the same classes (``ensemble_classes`` refuses others before any image is
    read), unless ``shared_classes_only``: then the ensemble answers over the classes they all know, each
    member's probabilities over those scaled to sum to 1. Each member's own top 3 is kept in
    ``details["members"]``; the ensemble's top ``top_k`` is the prediction's ``results``. It is unknown
    only when every member with a detector says so: one member knowing the image is enough to answer it.
    """
    ids = [version.id for version in model_versions]
    if not MIN_ENSEMBLE_VERSIONS <= len(ids) <= MAX_ENSEMBLE_VERSIONS:
        raise ValidationError(
            {
                "model_versions": f"An ensemble combines {MIN_ENSEMBLE_VERSIONS} to {MAX_ENSEMBLE_VERSIONS} "
                f"model versions; got {len(ids)}."
            }
        )
    if len(set(ids)) != len(ids):
        raise ValidationError({"model_versions": "Each model version may appear in an ensemble only once."})
    classes = ensemble_classes(model_versions=model_versions, shared_classes_only=shared_classes_only)
    count, threshold = prediction_request_check(
        model_versions=model_versions, top_k=top_k, threshold=threshold, class_count=len(classes)
    )
    checked, filename = prediction_image_read(image_bytes=image_bytes, filename=filename, source_url=source_url)
    (total, members, verdicts, latency_ms), image = prediction_image_stored_while(
        owner_id=owner.pk,
        checked=checked,
        work=lambda: _members_predict(
            model_versions=model_versions, image=checked.content, classes=classes, renormalise=shared_classes_only
        ),
    )
    return prediction_row_write(
        owner=owner,
        image=image,
        answered_now=True,
        ensemble_version_ids=ids,
        source_url=source_url,
        status=Prediction.Status.SUCCEEDED,
        top_k=count,
        results=top_classes(total / len(model_versions), classes, count),
        is_unknown=bool(verdicts) and all(verdicts),
        latency_ms=latency_ms,
        details={
            "threshold": threshold,
            "filename": filename,
            "members": members,
            "shared_classes_only": shared_classes_only,
        },
    )


def _members_predict(
    *, model_versions: list[ModelVersion], image: bytes, classes: list[str], renormalise: bool
) -> tuple[np.ndarray, list[dict[str, Any]], list[bool], float]:
    """The members' probabilities summed by class, each member's own top 3, the verdicts of those with an
    unknown-image detector, and the milliseconds it took."""
    started = time.perf_counter()
    total = np.zeros(len(classes), dtype=np.float64)
    members, verdicts = [], []
    for version in model_versions:
        scores = version_scores(version=version, image_bytes=image)
        ensemble_member_add(
            total=total,
            classes=classes,
            class_names=version.class_names,
            probabilities=scores.probabilities,
            renormalise=renormalise,
        )
        if scores.unknown_score is not None:
            verdicts.append(scores.is_unknown)
        members.append(
            {
                "model_version": version.id,
                "predictions": top_classes(scores.probabilities, version.class_names, ENSEMBLE_MEMBER_TOP_K),
                "is_unknown": scores.is_unknown,
            }
        )
    return total, members, verdicts, (time.perf_counter() - started) * 1000
