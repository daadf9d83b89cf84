"""What a user may reach: a dataset looked up through the selectors scoped to the signed-in user
(``webapp.users.request_user``), so another user's dataset answers 404 and staff reach everything.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from classifier.models import Dataset
from classifier.selectors import datasets_for_user, datasets_readable_by
from webapp.users import request_user


def dataset_or_404(request: Request, dataset_id: int) -> Dataset:
    """The dataset, if the requesting user may change it.

    A public dataset of another user's is readable (``readable_dataset_or_404``) but not changeable:
    that answers 403 saying so, rather than a 404 for a dataset the user can see listed.
    """
    user = request_user(request)
    dataset = datasets_for_user(user).filter(pk=dataset_id).first()
    if dataset is None:
        if datasets_readable_by(user).filter(pk=dataset_id).exists():
            raise PermissionDenied(
                f"Dataset {dataset_id} is public: everyone may read it and use its models; only its owner changes it."
            )
        raise Http404
    return dataset


def readable_dataset_or_404(request: Request, dataset_id: int) -> Dataset:
    """The dataset, if the user may read it: also a public one, which only its owner and staff change."""
    return get_object_or_404(datasets_readable_by(request_user(request)), pk=dataset_id)
