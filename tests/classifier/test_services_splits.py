"""Splits: stratified per class as images arrive, and reassigned reproducibly from a seed."""

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from classifier.services.images import images_upload
from classifier.services.splits import dataset_splits_reassign, split_for_new_image
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes

pytestmark = pytest.mark.django_db


def _upload_class(dataset, label_name: str, count: int, first_color: int = 0) -> list[DatasetImage]:
    files = [
        SimpleUploadedFile(f"{label_name}{n}.png", image_bytes(color=(first_color + n, 0, 0), fmt="PNG"))
        for n in range(count)
    ]
    return images_upload(dataset=dataset, files=files, label_name=label_name).imported


def _split_counts(dataset, label_name: str) -> dict[str, int]:
    images = DatasetImage.objects.filter(dataset=dataset, label__name=label_name).exclude(origin="augmented")
    return dict(Counter(images.values_list("split", flat=True)))


def _splits(dataset) -> dict[str, str]:
    return dict(DatasetImage.objects.filter(dataset=dataset).values_list("sha256", "split"))


def test_each_new_image_goes_to_the_split_furthest_below_its_share():
    dataset = DatasetFactory(val_fraction=0.1, test_fraction=0.1)

    images = _upload_class(dataset, "robin", 10)

    # The 4th image: train holds 3 of an expected 3.2, val 0 of 0.4; the 7th: test 0 of 0.7.
    assert [image.split for image in images] == [
        "train", "train", "train", "val", "train", "train", "test", "train", "train", "train"
    ]  # fmt: skip


def test_new_images_are_stratified_per_class():
    dataset = DatasetFactory(val_fraction=0.1, test_fraction=0.1)

    _upload_class(dataset, "robin", 20)
    _upload_class(dataset, "heron", 40, first_color=100)

    assert _split_counts(dataset, "robin") == {"train": 16, "val": 2, "test": 2}
    assert _split_counts(dataset, "heron") == {"train": 32, "val": 4, "test": 4}


def test_placing_a_new_image_never_moves_existing_ones_and_ignores_augmented_copies():
    dataset = DatasetFactory(val_fraction=0.2, test_fraction=0.2)
    label = LabelClassFactory(dataset=dataset)
    source = DatasetImageFactory(dataset=dataset, label=label, split="train")
    for _ in range(5):
        DatasetImageFactory(dataset=dataset, label=label, origin="augmented", source_image=source)
    before = _splits(dataset)

    # Five train copies do not count: with one original in train, val is furthest below target.
    assert split_for_new_image(dataset=dataset, label=label) == "val"
    assert _splits(dataset) == before


def test_unlabelled_images_are_placed_as_their_own_group():
    dataset = DatasetFactory(val_fraction=0.5, test_fraction=0.0)
    DatasetImageFactory(dataset=dataset, split="train")

    assert split_for_new_image(dataset=dataset, label=None) == "train"


def test_reassign_is_stratified_and_reproducible_from_the_seed():
    dataset = DatasetFactory()
    _upload_class(dataset, "robin", 10)
    _upload_class(dataset, "heron", 20, first_color=100)

    counts = dataset_splits_reassign(dataset=dataset, seed=7, val_fraction=0.2, test_fraction=0.2)
    first = _splits(dataset)
    dataset_splits_reassign(dataset=dataset, seed=8)
    other_seed = _splits(dataset)
    dataset_splits_reassign(dataset=dataset, seed=7)

    assert counts == {"train": 18, "val": 6, "test": 6, "augmented_deleted": 0}
    assert _split_counts(dataset, "robin") == {"train": 6, "val": 2, "test": 2}
    assert _split_counts(dataset, "heron") == {"train": 12, "val": 4, "test": 4}
    assert _splits(dataset) == first
    assert other_seed != first
    dataset.refresh_from_db()
    assert (dataset.split_seed, dataset.val_fraction, dataset.test_fraction) == (7, 0.2, 0.2)


def test_reassign_gives_the_same_splits_in_a_copy_of_the_dataset():
    # Splits are keyed by content, so upload order and row ids do not matter.
    first, second = DatasetFactory(), DatasetFactory()
    _upload_class(first, "robin", 12)
    files = [SimpleUploadedFile(f"r{n}.png", image_bytes(color=(n, 0, 0), fmt="PNG")) for n in reversed(range(12))]
    images_upload(dataset=second, files=files, label_name="robin")

    dataset_splits_reassign(dataset=first, seed=3)
    dataset_splits_reassign(dataset=second, seed=3)

    assert _splits(first) == _splits(second)


@pytest.mark.parametrize(
    ("count", "val_fraction", "test_fraction", "expected"),
    [
        (1, 0.1, 0.1, {"train": 1}),
        # Half rounds up, so a 5-image class still gets one validation and one test image.
        (5, 0.1, 0.1, {"train": 3, "val": 1, "test": 1}),
        # Never every image held out: at least one trains.
        (2, 0.3, 0.3, {"train": 1, "val": 1}),
    ],
)
def test_reassign_rounds_small_classes_and_keeps_one_to_train(count, val_fraction, test_fraction, expected):
    dataset = DatasetFactory()
    _upload_class(dataset, "robin", count)

    dataset_splits_reassign(dataset=dataset, val_fraction=val_fraction, test_fraction=test_fraction)

    assert _split_counts(dataset, "robin") == expected


def test_reassign_deletes_augmented_copies_of_sources_now_held_out(django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    originals = _upload_class(dataset, "robin", 10)
    copies = {
        original.id: DatasetImageFactory(
            dataset=dataset, label=original.label, origin="augmented", source_image=original, split="train"
        )
        for original in originals
    }

    with django_capture_on_commit_callbacks(execute=True):
        counts = dataset_splits_reassign(dataset=dataset, seed=1, val_fraction=0.3, test_fraction=0.2)

    held_out = DatasetImage.objects.filter(dataset=dataset, origin="upload").exclude(split="train")
    assert counts["augmented_deleted"] == held_out.count() == 5
    remaining = DatasetImage.objects.filter(dataset=dataset, origin="augmented")
    assert remaining.count() == 5
    assert set(remaining.values_list("split", flat=True)) == {"train"}
    assert set(remaining.values_list("source_image__split", flat=True)) == {"train"}
    for source in held_out:
        assert not default_storage.exists(copies[source.id].file.name)


def test_reassign_refuses_fractions_that_leave_nothing_to_train():
    dataset = DatasetFactory()

    with pytest.raises(ValidationError):
        dataset_splits_reassign(dataset=dataset, val_fraction=0.6, test_fraction=0.5)

    dataset.refresh_from_db()
    assert (dataset.val_fraction, dataset.test_fraction) == (0.1, 0.1)
