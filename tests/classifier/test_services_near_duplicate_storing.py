"""Near-duplicates when a picture is stored: the split a new near-copy gets, augmented copies, and what
uploads and archive imports report."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.ml.near_duplicates import hash_distance
from classifier.models import DatasetImage
from classifier.services.images import image_store, images_upload
from classifier.services.imaging import image_check
from classifier.services.imports import dataset_import_start
from tests.classifier.near_duplicate_support import THRESHOLD, add_copy, add_photo, encoded, near_copies, photo
from tests.factories import DatasetFactory

# Storing a new picture


@pytest.mark.django_db
def test_a_near_copy_is_stored_in_the_split_of_the_picture_it_copies():
    dataset = DatasetFactory()
    original = add_photo(dataset, 1, split="test")
    add_photo(dataset, 2)

    copy = add_copy(dataset, 1, "cropped", label="dog")

    assert copy.near_duplicate_of.id == original.id
    stored = DatasetImage.objects.get(id=copy.id)
    assert stored.split == "test"
    assert hash_distance(stored.perceptual_hash, original.perceptual_hash) <= THRESHOLD


@pytest.mark.django_db
def test_a_distinct_picture_has_no_near_duplicate_and_is_placed_as_usual():
    dataset = DatasetFactory()
    add_photo(dataset, 1, split="test")

    image = add_photo(dataset, 2)

    assert image.near_duplicate_of is None
    assert image.split == "train"
    assert len(image.perceptual_hash) == 48


@pytest.mark.django_db
def test_an_augmented_copy_always_trains_and_reports_no_near_duplicate():
    dataset = DatasetFactory()
    source = add_photo(dataset, 1)
    checked = image_check(content=near_copies(photo(1))["jpeg30"], filename="aug.jpg")

    copy = image_store(
        dataset=dataset, checked=checked, label=source.label, origin="augmented", original_name="aug.jpg",
        source_image=source,
    )  # fmt: skip

    assert copy.near_duplicate_of is None
    assert copy.split == "train"


@pytest.mark.django_db
def test_upload_lists_near_duplicates_with_the_matched_name():
    dataset = DatasetFactory()
    add_photo(dataset, 1, split="val")
    files = [
        SimpleUploadedFile("copy.png", near_copies(photo(1))["resized"]),
        SimpleUploadedFile("new.png", encoded(photo(3))),
    ]

    result = images_upload(dataset=dataset, files=files, label_name="cat")

    copy = next(image for image in result.imported if image.original_name == "copy.png")
    assert result.near_duplicates == [
        {"filename": "copy.png", "image": copy.id, "near_duplicate_of": copy.near_duplicate_of.id,
         "near_duplicate_of_name": "photo1.png", "split": "val"}
    ]  # fmt: skip
    assert result.counts()["near_duplicate"] == 1
    assert result.imported_names() == ["copy.png (near-duplicate of photo1.png)", "new.png"]


@pytest.mark.django_db
def test_archive_import_reports_near_duplicates(user, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=user)
    add_photo(dataset, 1, split="test")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cat/again.png", near_copies(photo(1))["rotated"])
        archive.writestr("cat/other.png", encoded(photo(4)))

    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_import_start(
            dataset=dataset, requested_by=user, archive=SimpleUploadedFile("cats.zip", buffer.getvalue())
        )
    job.refresh_from_db()

    assert job.report["imported"] == 2
    assert job.report["near_duplicate"] == 1
    [row] = job.report["near_duplicates"]
    assert (row["filename"], row["near_duplicate_of_name"], row["split"]) == ("cat/again.png", "photo1.png", "test")
    assert DatasetImage.objects.get(original_name="cat/again.png").split == "test"
