"""Near-duplicates: perceptual hashes of near-copies vs distinct pictures, grouping, leak detection, the
split a new near-copy gets, reassignment keeping groups whole, the fix, and lazy hashing of older images."""

import io
import time
import zipfile

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from classifier.ml.near_duplicates import (
    NO_STRUCTURE,
    UNREADABLE,
    hash_distance,
    near_duplicate_groups,
    nearest,
)
from classifier.models import DatasetImage
from classifier.selectors_near_duplicates import near_duplicate_groups as dataset_groups
from classifier.selectors_near_duplicates import near_duplicate_summary
from classifier.services.images import image_store, images_upload
from classifier.services.imaging import image_check
from classifier.services.imports import dataset_import_start
from classifier.services.near_duplicates import near_duplicates_fix, perceptual_hashes_fill
from classifier.services.splits import dataset_splits_reassign
from tests.classifier.near_duplicate_support import add, add_copy, add_photo, encoded, near_copies, photo
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes

THRESHOLD = 57


def _hash(content: bytes) -> str:
    return image_check(content=content, filename="x.png").perceptual_hash


# Pure hashing and grouping


@pytest.mark.parametrize("change", ["resized", "jpeg30", "cropped", "rotated"])
def test_near_copies_hash_within_the_threshold(change):
    for seed in range(8):
        original = _hash(encoded(photo(seed)))
        assert hash_distance(original, _hash(near_copies(photo(seed))[change])) <= THRESHOLD


def test_distinct_pictures_hash_further_apart_than_the_threshold():
    hashes = [_hash(encoded(photo(seed))) for seed in range(12)]

    distances = [hash_distance(a, b) for index, a in enumerate(hashes) for b in hashes[:index]]

    assert len(hashes[0]) == 48 and int(hashes[0], 16) >= 0
    assert min(distances) > THRESHOLD


def test_a_flat_picture_gets_no_hash_whatever_its_colour():
    assert _hash(image_bytes(color=(200, 0, 0), fmt="PNG")) == NO_STRUCTURE
    assert _hash(image_bytes(color=(0, 0, 200))) == NO_STRUCTURE


def test_groups_chain_close_pairs_and_leave_singletons_out():
    a = "0" * 48
    b = "f" * 8 + "0" * 40  # 32 bits from a
    c = "f" * 16 + "0" * 32  # 32 bits from b, 64 from a: in a's group through b
    lone = "f" * 48

    assert near_duplicate_groups([lone, a, b, c], 32) == [[1, 2, 3]]
    assert near_duplicate_groups([lone, a, b, c], 31) == []
    assert nearest([lone, c, b], a, 32) == 2
    assert nearest([lone, c], a, 32) is None
    assert nearest([], a, 32) is None


def _alike(count: int, seed: int = 0) -> list[str]:
    """Hashes of pictures alike by nature (digits, one product on one background): each about 36 bits from
    every other, within the threshold, though no two are copies of each other."""
    rng = np.random.default_rng(seed)
    base = int.from_bytes(rng.bytes(24), "big")
    hashes = []
    for _ in range(count):
        value = base
        for bit in rng.choice(192, size=18, replace=False):
            value ^= 1 << int(bit)
        hashes.append(f"{value:048x}")
    return hashes


def test_alike_pictures_do_not_chain_into_one_group_but_a_real_copy_among_them_does():
    alike = _alike(200)
    copy = f"{int(alike[7], 16) ^ 0b1111:048x}"  # 4 bits from alike[7]: the same picture

    assert near_duplicate_groups(alike, THRESHOLD) == []
    assert near_duplicate_groups([*alike, copy], THRESHOLD) == [[7, 200]]
    # A new picture in that region matches only a real copy, not whichever alike picture is closest.
    assert nearest(alike, _alike(1, seed=1)[0], THRESHOLD) is None
    assert nearest(alike, copy, THRESHOLD) == 7


def test_a_few_near_copies_of_one_picture_still_group():
    # Near-copies come a few at a time: up to DENSE_NEIGHBOURS of them chain as before.
    original = "0" * 48
    copies = [f"{((1 << 20) - 1) << (20 * index):048x}" for index in range(5)]  # 20 bits from it, 40 apart
    assert near_duplicate_groups([original, *copies], THRESHOLD) == [[0, 1, 2, 3, 4, 5]]


def test_ten_thousand_hashes_group_in_seconds():
    rng = np.random.default_rng(0)
    hashes = [rng.bytes(24).hex() for _ in range(10_000)]
    planted = [f"{int(value, 16) ^ 0b111:048x}" for value in hashes[:100]]

    started = time.perf_counter()
    groups = near_duplicate_groups(hashes + planted, 8)

    assert time.perf_counter() - started < 20
    assert sorted(groups) == [[index, 10_000 + index] for index in range(100)]


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


# Groups, leaks, reassignment and the fix


def _leaky_dataset():
    """Two groups: photo 1 (train, oldest) with a copy in test, photo 2 all in val; photo 3 alone."""
    dataset = DatasetFactory()
    first = add_photo(dataset, 1, split="train")
    leaked = add_copy(dataset, 1, "jpeg30")
    DatasetImage.objects.filter(id=leaked.id).update(split="test")
    add_photo(dataset, 2, split="val")
    add_copy(dataset, 2, "resized")
    add_photo(dataset, 3)
    return dataset, first, leaked


@pytest.mark.django_db
def test_groups_mark_the_ones_straddling_splits():
    dataset, first, leaked = _leaky_dataset()

    groups = dataset_groups(dataset=dataset)

    assert [[member.original_name for member in group.members] for group in groups] == [
        ["photo1.png", "photo1-jpeg30.png"],
        ["photo2.png", "photo2-resized.png"],
    ]
    assert [group.leaks for group in groups] == [True, False]
    assert [group.id for group in dataset_groups(dataset=dataset, leaks_only=True)] == [first.id]
    assert near_duplicate_summary(dataset=dataset, groups=groups) == {
        "groups": 2, "leaking_groups": 1, "images": 4, "unhashed_images": 0
    }  # fmt: skip


@pytest.mark.django_db
def test_fix_moves_the_rest_of_a_leaking_group_to_its_first_members_split_and_drops_leaked_copies():
    dataset, first, leaked = _leaky_dataset()
    # The oldest member in val, its copy in train with an augmented copy of its own.
    DatasetImage.objects.filter(id=first.id).update(split="val")
    DatasetImage.objects.filter(id=leaked.id).update(split="train")
    leaked.split = "train"
    leaked_copy = image_store(
        dataset=dataset, checked=image_check(content=image_bytes(color=(1, 2, 3)), filename="aug.jpg"),
        label=leaked.label, origin="augmented", original_name="aug.jpg", source_image=leaked,
    )  # fmt: skip

    result = near_duplicates_fix(dataset=dataset)

    assert result == {
        "groups": 1,
        "moved": [{"image": leaked.id, "original_name": "photo1-jpeg30.png", "from": "train", "to": "val"}],
        "augmented_deleted": 1,
    }
    assert DatasetImage.objects.get(id=leaked.id).split == "val"
    assert DatasetImage.objects.get(id=first.id).split == "val"
    assert not DatasetImage.objects.filter(id=leaked_copy.id).exists()
    assert not any(group.leaks for group in dataset_groups(dataset=dataset))


@pytest.mark.django_db
def test_fix_of_one_group_leaves_the_others_and_refuses_an_image_in_no_group():
    dataset, first, leaked = _leaky_dataset()
    add_photo(dataset, 5, split="train")
    other_leak = add_copy(dataset, 5, "cropped")
    DatasetImage.objects.filter(id=other_leak.id).update(split="val")
    lone = DatasetImage.objects.get(dataset=dataset, original_name="photo3.png")
    before = dict(DatasetImage.objects.filter(dataset=dataset).values_list("id", "split"))

    with pytest.raises(ValidationError, match=f"Image {lone.id} is not in a near-duplicate group"):
        near_duplicates_fix(dataset=dataset, image_id=lone.id)
    assert dict(DatasetImage.objects.filter(dataset=dataset).values_list("id", "split")) == before

    result = near_duplicates_fix(dataset=dataset, image_id=leaked.id)

    assert [row["image"] for row in result["moved"]] == [leaked.id]
    assert DatasetImage.objects.get(id=leaked.id).split == "train"
    assert DatasetImage.objects.get(id=other_leak.id).split == "val"


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_reassign_keeps_every_group_in_one_split(seed):
    dataset = DatasetFactory(val_fraction=0.2, test_fraction=0.2)
    for photo_seed in range(10, 22):
        add_photo(dataset, photo_seed)
    for photo_seed in range(3):
        add_photo(dataset, photo_seed)
        for change in ("jpeg30", "resized", "cropped"):
            add_copy(dataset, photo_seed, change)

    counts = dataset_splits_reassign(dataset=dataset, seed=seed)

    groups = dataset_groups(dataset=dataset)
    assert len(groups) == 3
    assert all(not group.leaks for group in groups)
    assert counts["train"] + counts["val"] + counts["test"] == 24
    # 24 images: 5 val and 5 test wanted; groups of 4 fill what they fit in, singletons the rest.
    assert counts["val"] <= 5 and counts["test"] <= 5 and counts["train"] >= 14


@pytest.mark.django_db
def test_reassign_of_alike_pictures_still_fills_validation_and_test():
    dataset = DatasetFactory(val_fraction=0.2, test_fraction=0.2)
    seven = LabelClassFactory(dataset=dataset, name="seven")
    for value in _alike(30):
        DatasetImageFactory(dataset=dataset, label=seven, perceptual_hash=value)

    counts = dataset_splits_reassign(dataset=dataset, seed=0)

    assert dataset_groups(dataset=dataset) == []
    assert (counts["train"], counts["val"], counts["test"]) == (18, 6, 6)


@pytest.mark.django_db
def test_older_images_are_hashed_lazily_then_grouped():
    dataset, first, leaked = _leaky_dataset()
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
    dataset, first, _ = _leaky_dataset()
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")
    output = io.StringIO()

    call_command("near_duplicates_hash", stdout=output)

    assert not DatasetImage.objects.filter(dataset=dataset, perceptual_hash="").exists()
    assert "5 images hashed" in output.getvalue()
    assert [group.id for group in dataset_groups(dataset=dataset, leaks_only=True)] == [first.id]
