"""Near-duplicates of older images: hashed lazily (and by the management command), with missing files and
failing storage."""

import io

import pytest
from django.core.management import call_command

from classifier.ml.near_duplicates import UNREADABLE
from classifier.models import DatasetImage
from classifier.selectors_near_duplicates import near_duplicate_groups as dataset_groups
from classifier.services.near_duplicates import perceptual_hashes_fill
from tests.classifier.near_duplicate_support import add, add_photo, leaky_dataset
from tests.factories import DatasetFactory, image_bytes


@pytest.mark.django_db
def test_older_images_are_hashed_lazily_then_grouped():
    dataset, first, leaked = leaky_dataset()
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")
    assert dataset_groups(dataset=dataset) == []

    assert perceptual_hashes_fill(dataset=dataset, limit=2) == 2
    assert DatasetImage.objects.filter(dataset=dataset, perceptual_hash="").count() == 3
    assert perceptual_hashes_fill(dataset=dataset) == 3

    assert [group.id for group in dataset_groups(dataset=dataset, leaks_only=True)] == [first.id]
    assert perceptual_hashes_fill(dataset=dataset) == 0


@pytest.mark.django_db
def test_an_older_image_whose_file_is_gone_stays_unhashed_and_the_rest_are_hashed():
    dataset = DatasetFactory()
    kept = add_photo(dataset, 1)
    lost = add_photo(dataset, 2)
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")
    lost.file.storage.delete(lost.file.name)

    assert perceptual_hashes_fill(dataset=dataset) == 1

    assert DatasetImage.objects.get(id=kept.id).perceptual_hash not in ("", UNREADABLE)
    # Marked, so the next checks move on instead of reading it again; the command can retry it.
    assert DatasetImage.objects.get(id=lost.id).perceptual_hash == UNREADABLE
    assert perceptual_hashes_fill(dataset=dataset) == 0
    assert perceptual_hashes_fill(dataset=dataset, retry_unreadable=True) == 0
    assert DatasetImage.objects.get(id=lost.id).perceptual_hash == UNREADABLE


@pytest.mark.django_db
def test_storage_failing_while_hashing_stops_the_fill_without_marking_anything(monkeypatch):
    dataset = DatasetFactory()
    for seed in (1, 2, 3):
        add_photo(dataset, seed)
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")

    def outage(name, mode="rb"):
        raise ConnectionError("the bucket does not answer")

    monkeypatch.setattr("classifier.services.near_duplicates.default_storage.open", outage)

    assert perceptual_hashes_fill(dataset=dataset) == 0
    assert set(DatasetImage.objects.filter(dataset=dataset).values_list("perceptual_hash", flat=True)) == {""}


@pytest.mark.django_db
def test_flat_pictures_are_not_near_duplicates_of_each_other():
    dataset = DatasetFactory()
    add(dataset, image_bytes(color=(200, 0, 0), fmt="PNG"), "red.png")

    blue = add(dataset, image_bytes(color=(0, 0, 200), fmt="PNG"), "blue.png")

    assert blue.near_duplicate_of is None
    assert dataset_groups(dataset=dataset) == []


@pytest.mark.django_db
def test_the_management_command_hashes_every_older_image():
    dataset, first, _ = leaky_dataset()
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")
    output = io.StringIO()

    call_command("near_duplicates_hash", stdout=output)

    assert not DatasetImage.objects.filter(dataset=dataset, perceptual_hash="").exists()
    assert "5 images hashed" in output.getvalue()
    assert [group.id for group in dataset_groups(dataset=dataset, leaks_only=True)] == [first.id]
