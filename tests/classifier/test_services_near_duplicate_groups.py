"""Near-duplicates in a dataset: groups and the leaks between splits they show, the fix, and reassignment
keeping groups whole."""

import pytest
from django.core.exceptions import ValidationError

from classifier.models import DatasetImage
from classifier.selectors_near_duplicates import near_duplicate_groups as dataset_groups
from classifier.selectors_near_duplicates import near_duplicate_summary
from classifier.services.images import image_store
from classifier.services.imaging import image_check
from classifier.services.near_duplicates import near_duplicates_fix
from classifier.services.splits import dataset_splits_reassign
from tests.classifier.near_duplicate_support import add_copy, add_photo, alike_hashes, leaky_dataset
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory, image_bytes


@pytest.mark.django_db
def test_groups_mark_the_ones_straddling_splits():
    dataset, first, leaked = leaky_dataset()

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
    dataset, first, leaked = leaky_dataset()
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
    dataset, first, leaked = leaky_dataset()
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
    for value in alike_hashes(30):
        DatasetImageFactory(dataset=dataset, label=seven, perceptual_hash=value)

    counts = dataset_splits_reassign(dataset=dataset, seed=0)

    assert dataset_groups(dataset=dataset) == []
    assert (counts["train"], counts["val"], counts["test"]) == (18, 6, 6)
