"""The near-duplicate check in the API: groups with members and splits, the leak filter and summary, the
fix (stored rows checked), permissions, bad input, and near-duplicates in the upload answer."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import DatasetImage
from tests.classifier.near_duplicate_support import add_copy, add_photo, near_copies, photo
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def _url(dataset, fix: bool = False) -> str:
    return f"/api/v1/datasets/{dataset.id}/near-duplicates/{'fix/' if fix else ''}"


def _leaky(owner, **fields):
    """photo 1 in train with a copy in test (a leak); photo 2 and its copy both in train; photo 3 alone."""
    dataset = DatasetFactory(owner=owner, **fields)
    first = add_photo(dataset, 1, split="train")
    leaked = add_copy(dataset, 1, "jpeg30", label="dog")
    DatasetImage.objects.filter(id=leaked.id).update(split="test")
    add_photo(dataset, 2, split="train")
    add_copy(dataset, 2, "cropped")
    add_photo(dataset, 3)
    return dataset, first, leaked


def _splits(dataset) -> dict[int, str]:
    return dict(DatasetImage.objects.filter(dataset=dataset).values_list("id", "split"))


def test_lists_groups_with_members_splits_and_a_summary(user, user_api):
    dataset, first, leaked = _leaky(user)

    response = user_api.get(_url(dataset))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["summary"] == {"groups": 2, "leaking_groups": 1, "images": 4, "unhashed_images": 0}
    group = body["results"][0]
    assert (group["id"], group["leaks"], group["splits"]) == (first.id, True, ["train", "test"])
    assert [
        {key: member[key] for key in ("image", "original_name", "split", "label")} for member in group["members"]
    ] == [
        {"image": first.id, "original_name": "photo1.png", "split": "train", "label": "cat"},
        {"image": leaked.id, "original_name": "photo1-jpeg30.png", "split": "test", "label": "dog"},
    ]
    assert group["members"][0]["thumbnail_url"].endswith(f"/images/{first.id}/thumbnail/")
    assert body["results"][1]["leaks"] is False


def test_leaks_filter_lists_only_groups_across_splits(user, user_api):
    dataset, first, _ = _leaky(user)

    body = user_api.get(_url(dataset), {"leaks": "true"}).json()

    assert [group["id"] for group in body["results"]] == [first.id]
    assert body["summary"]["groups"] == 2


def test_a_bad_leaks_value_is_refused(user, user_api):
    dataset, _, _ = _leaky(user)

    response = user_api.get(_url(dataset), {"leaks": "perhaps"})

    assert response.status_code == 400
    assert "leaks" in response.json()


def test_listing_hashes_older_images_first(user, user_api):
    dataset, first, _ = _leaky(user)
    DatasetImage.objects.filter(dataset=dataset).update(perceptual_hash="")

    body = user_api.get(_url(dataset), {"leaks": "true"}).json()

    assert [group["id"] for group in body["results"]] == [first.id]
    assert not DatasetImage.objects.filter(dataset=dataset, perceptual_hash="").exists()


def test_fix_moves_leaking_groups_and_answers_what_it_moved(user, user_api):
    dataset, first, leaked = _leaky(user)

    response = user_api.post(_url(dataset, fix=True), {}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "groups": 1,
        "moved": [{"image": leaked.id, "original_name": "photo1-jpeg30.png", "from": "test", "to": "train"}],
        "augmented_deleted": 0,
    }
    assert DatasetImage.objects.get(id=leaked.id).split == "train"
    assert user_api.get(_url(dataset)).json()["summary"]["leaking_groups"] == 0


def test_fix_of_one_group_by_image(user, user_api):
    dataset, first, leaked = _leaky(user)

    response = user_api.post(_url(dataset, fix=True), {"image": leaked.id}, format="json")

    assert response.status_code == 200
    assert [row["image"] for row in response.json()["moved"]] == [leaked.id]


@pytest.mark.parametrize("image", ["abc", 0, -3])
def test_fix_refuses_a_malformed_image_and_changes_nothing(user, user_api, image):
    dataset, _, _ = _leaky(user)
    before = _splits(dataset)

    response = user_api.post(_url(dataset, fix=True), {"image": image}, format="json")

    assert response.status_code == 400
    assert "image" in response.json()
    assert _splits(dataset) == before


def test_fix_refuses_an_image_in_no_group_or_another_dataset(user, user_api):
    dataset, _, _ = _leaky(user)
    lone = DatasetImage.objects.get(dataset=dataset, original_name="photo3.png")
    elsewhere = add_photo(DatasetFactory(owner=user), 7)
    before = _splits(dataset)

    for image_id in (lone.id, elsewhere.id):
        response = user_api.post(_url(dataset, fix=True), {"image": image_id}, format="json")
        assert response.status_code == 400
        assert f"Image {image_id} is not in a near-duplicate group" in response.json()["image"][0]
    assert _splits(dataset) == before


def test_another_users_dataset_is_not_found(user, other_api):
    dataset, _, _ = _leaky(user)
    before = _splits(dataset)

    assert other_api.get(_url(dataset)).status_code == 404
    assert other_api.post(_url(dataset, fix=True), {}, format="json").status_code == 404
    assert _splits(dataset) == before


def test_a_public_dataset_is_readable_but_only_its_owner_fixes_it(user, other_api):
    dataset, _, _ = _leaky(user, is_public=True)
    before = _splits(dataset)

    assert other_api.get(_url(dataset)).json()["summary"]["leaking_groups"] == 1
    response = other_api.post(_url(dataset, fix=True), {}, format="json")

    assert response.status_code == 403
    assert _splits(dataset) == before


def test_anonymous_requests_are_refused(user, api_client):
    dataset, _, _ = _leaky(user)

    assert api_client.get(_url(dataset)).status_code in (401, 403)
    assert api_client.post(_url(dataset, fix=True), {}, format="json").status_code in (401, 403)


def test_upload_answer_lists_near_duplicates(user, user_api):
    dataset = DatasetFactory(owner=user)
    original = add_photo(dataset, 1, split="val")

    response = user_api.post(
        f"/api/v1/datasets/{dataset.id}/images/",
        {"file": [SimpleUploadedFile("copy.png", near_copies(photo(1))["resized"])], "label": "cat"},
        format="multipart",
    )

    assert response.status_code == 201
    body = response.json()
    [row] = body["near_duplicates"]
    assert (row["filename"], row["near_duplicate_of"], row["near_duplicate_of_name"], row["split"]) == (
        "copy.png",
        original.id,
        "photo1.png",
        "val",
    )
    assert body["imported"][0]["split"] == "val"
    assert body["counts"]["near_duplicate"] == 1
