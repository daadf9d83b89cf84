"""Image services: storing files with their rows, uploads with per-file rejections, relabel, delete."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from PIL import Image

from classifier.models import DatasetImage, LabelClass
from classifier.services.image_deletion import image_delete
from classifier.services.images import (
    SourceNotTraining,
    image_relabel,
    image_store,
    images_upload,
)
from classifier.services.imaging import image_check
from tests.classifier.test_services_imaging import mode_samples, noisy_jpeg, rotated_jpeg
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes
from webapp.storage import stored_names

pytestmark = pytest.mark.django_db


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _stored_files(settings) -> list[str]:
    # Through the storage API, so the same assertions hold on object storage (SIGHTLINE_TEST_STORAGE=s3).
    return sorted(stored_names())


def test_image_store_saves_file_thumbnail_and_row():
    dataset = DatasetFactory()
    label = LabelClassFactory(dataset=dataset, name="robin")
    checked = image_check(content=image_bytes(size=(40, 30), fmt="PNG"), filename="robin.png")

    image = image_store(
        dataset=dataset,
        checked=checked,
        label=label,
        origin=DatasetImage.Origin.UPLOAD,
        original_name="robin.png",
    )

    sha = checked.sha256
    assert image.file.name == f"datasets/{dataset.id}/{sha[:2]}/{sha}.png"
    assert image.thumbnail.name == f"datasets/{dataset.id}/thumbnails/{sha[:2]}/{sha}.jpg"
    assert default_storage.open(image.file.name).read() == checked.content
    assert Image.open(default_storage.open(image.thumbnail.name)).format == "JPEG"
    assert (image.label, image.sha256, image.width, image.height) == (label, sha, 40, 30)
    assert (image.split, image.origin, image.original_name) == ("train", "upload", "robin.png")


def test_image_store_deletes_its_files_when_the_row_cannot_be_written(settings):
    dataset = DatasetFactory()
    content = image_bytes(color=(1, 2, 3))
    DatasetImageFactory(dataset=dataset, content=content)
    files_before = _stored_files(settings)
    checked = image_check(content=content, filename="again.jpg")

    with pytest.raises(IntegrityError):
        image_store(
            dataset=dataset,
            checked=checked,
            label=None,
            origin=DatasetImage.Origin.UPLOAD,
            original_name="again.jpg",
        )

    assert _stored_files(settings) == files_before
    assert DatasetImage.objects.filter(dataset=dataset).count() == 1


def test_augmented_copies_are_always_stored_as_train():
    dataset = DatasetFactory(val_fraction=0.5, test_fraction=0.4)
    source = DatasetImageFactory(dataset=dataset, split="train")
    checked = image_check(content=image_bytes(color=(9, 9, 9)), filename="copy.jpg")

    copy = image_store(
        dataset=dataset,
        checked=checked,
        label=source.label,
        origin=DatasetImage.Origin.AUGMENTED,
        original_name="copy.jpg",
        source_image=source,
    )

    assert (copy.split, copy.source_image) == ("train", source)


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_copy_of_an_image_that_is_no_longer_a_training_image_is_refused_and_leaves_no_file(split):
    dataset = DatasetFactory()
    source = DatasetImageFactory(dataset=dataset, split=split)
    checked = image_check(content=image_bytes(color=(9, 9, 9)), filename="copy.jpg")
    files_before = sorted(stored_names())

    with pytest.raises(SourceNotTraining):
        image_store(
            dataset=dataset,
            checked=checked,
            label=source.label,
            origin=DatasetImage.Origin.AUGMENTED,
            original_name="copy.jpg",
            source_image=source,
        )

    assert DatasetImage.objects.filter(dataset=dataset).count() == 1
    assert sorted(stored_names()) == files_before


def test_upload_stores_images_under_a_new_label_and_reports_each_rejection(settings):
    dataset = DatasetFactory()
    DatasetImageFactory(dataset=dataset, content=image_bytes(color=(5, 5, 5)), original_name="old.jpg")
    settings.SIGHTLINE_MAX_IMAGE_BYTES = 4000
    truncated = noisy_jpeg(size=(40, 40))
    big = noisy_jpeg(size=(128, 128))
    files = [
        _upload("a.jpg", image_bytes(color=(10, 0, 0))),
        _upload("b.png", image_bytes(color=(20, 0, 0), fmt="PNG")),
        _upload("a-again.jpg", image_bytes(color=(10, 0, 0))),
        _upload("old-again.jpg", image_bytes(color=(5, 5, 5))),
        _upload("cut.jpg", truncated[: len(truncated) * 2 // 3]),
        _upload("notes.jpg", b"hello"),
        _upload("big.jpg", big),
    ]

    result = images_upload(dataset=dataset, files=files, label_name=" sparrow ")

    assert [image.original_name for image in result.imported] == ["a.jpg", "b.png"]
    assert {image.label.name for image in result.imported} == {"sparrow"}
    assert result.counts() == {
        "imported": 2,
        "duplicate": 2,
        "corrupt": 1,
        "not_image": 1,
        "too_large": 1,
        "over_quota": 0,
    }
    details = {rejection["filename"]: (rejection["reason"], rejection["detail"]) for rejection in result.rejected}
    assert details["a-again.jpg"] == (
        "duplicate",
        "a-again.jpg is the same picture as a.jpg already in the dataset.",
    )
    assert details["old-again.jpg"] == (
        "duplicate",
        "old-again.jpg is the same picture as old.jpg already in the dataset.",
    )
    assert details["cut.jpg"][0] == "corrupt"
    assert details["notes.jpg"][0] == "not_image"
    assert details["big.jpg"][0] == "too_large"
    assert set(DatasetImage.objects.filter(dataset=dataset).values_list("original_name", flat=True)) == {
        "old.jpg",
        "a.jpg",
        "b.png",
    }


def test_upload_without_a_label_stores_unlabelled_images():
    dataset = DatasetFactory()

    result = images_upload(dataset=dataset, files=[_upload("a.jpg", image_bytes())], label_name=None)

    assert result.imported[0].label is None
    assert not LabelClass.objects.filter(dataset=dataset).exists()


def test_upload_with_every_file_rejected_creates_no_class():
    dataset = DatasetFactory()

    result = images_upload(dataset=dataset, files=[_upload("notes.jpg", b"hello")], label_name="robin")

    assert result.counts()["not_image"] == 1
    assert not LabelClass.objects.filter(dataset=dataset).exists()


def test_upload_with_an_invalid_label_stores_nothing(settings):
    dataset = DatasetFactory()

    with pytest.raises(ValidationError) as caught:
        images_upload(dataset=dataset, files=[_upload("a.jpg", image_bytes())], label_name="x" * 201)

    assert caught.value.message_dict == {"label": ["A class name can be at most 200 characters."]}
    assert not DatasetImage.objects.filter(dataset=dataset).exists()
    assert _stored_files(settings) == []


def test_upload_accepts_everyday_non_rgb_and_rotated_images():
    dataset = DatasetFactory()
    samples = {**mode_samples(), "phone.jpg": rotated_jpeg()}

    result = images_upload(
        dataset=dataset,
        files=[_upload(name, content) for name, content in samples.items()],
        label_name="mixed",
    )

    assert result.rejected == []
    sizes = {image.original_name: (image.width, image.height) for image in result.imported}
    assert sizes.pop("phone.jpg") == (20, 40)
    assert set(sizes.values()) == {(24, 16)}
    for image in result.imported:
        assert Image.open(io.BytesIO(default_storage.open(image.thumbnail.name).read())).mode == "RGB"


def test_relabel_moves_the_image_and_its_augmented_copies_to_the_new_class():
    dataset = DatasetFactory()
    image = DatasetImageFactory(dataset=dataset, split="val")
    copy = DatasetImageFactory(dataset=dataset, label=image.label, origin="augmented", source_image=image)

    image_relabel(image=image, label_name="heron")

    image.refresh_from_db()
    copy.refresh_from_db()
    assert image.label.name == copy.label.name == "heron"
    assert image.split == "val"


@pytest.mark.parametrize("label_name", [None, "", "  "])
def test_relabel_to_nothing_makes_the_image_unlabelled(label_name):
    image = DatasetImageFactory()

    image_relabel(image=image, label_name=label_name)

    image.refresh_from_db()
    assert image.label is None


def test_delete_removes_the_image_its_copies_and_their_files_after_commit(django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    image = DatasetImageFactory(dataset=dataset, thumbnail="thumbs/x.jpg")
    default_storage.save("thumbs/x.jpg", io.BytesIO(b"thumb"))
    copy = DatasetImageFactory(dataset=dataset, label=image.label, origin="augmented", source_image=image)
    other = DatasetImageFactory(dataset=dataset)
    names = [image.file.name, "thumbs/x.jpg", copy.file.name]

    with django_capture_on_commit_callbacks() as callbacks:
        image_delete(image=image)
        # The rows are gone first; the files wait for the commit.
        assert all(default_storage.exists(name) for name in names)
    for callback in callbacks:
        callback()

    assert list(DatasetImage.objects.filter(dataset=dataset)) == [other]
    assert not any(default_storage.exists(name) for name in names)
    assert default_storage.exists(other.file.name)
