"""Delete images: the rows (with their augmented copies) first, their stored files once that has committed.

Kept apart from ``services.images`` because placing images (``services.splits``, ``services.near_duplicates``)
deletes augmented copies that would leak held-out pictures, while storing an image asks those same modules
where it goes.
"""

from django.db import transaction
from django.db.models import Q, QuerySet

from classifier.models import DatasetImage
from webapp.storage import stored_files_delete


def image_delete(*, image: DatasetImage) -> None:
    images_delete(images=DatasetImage.objects.filter(id=image.id))


def images_delete(*, images: QuerySet[DatasetImage]) -> int:
    """Delete these images and their augmented copies; their files go once the deletion commits.

    Returns how many image rows were deleted.
    """
    with transaction.atomic():
        ids = images.values("id")
        doomed = DatasetImage.objects.filter(Q(id__in=ids) | Q(source_image__in=ids))
        names = [name for pair in doomed.values_list("file", "thumbnail") for name in pair if name]
        deleted = doomed.delete()[1].get(DatasetImage._meta.label, 0)
        # robust: the rows are gone either way; a file that cannot be deleted is logged, not raised.
        transaction.on_commit(lambda: stored_files_delete(names=names), robust=True)
    return deleted
