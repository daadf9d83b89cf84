"""The data-checks card on the dataset page, the near-duplicates page and its "Move into one split" button."""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage
from tests.classifier.near_duplicate_support import add_copy, add_photo
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def _leaky(owner):
    dataset = DatasetFactory(owner=owner)
    first = add_photo(dataset, 1, split="val")
    leaked = add_copy(dataset, 1, "rotated")
    DatasetImage.objects.filter(id=leaked.id).update(split="train")
    add_photo(dataset, 2)
    return dataset, first, leaked


def _page(dataset) -> str:
    return reverse("classifier:near-duplicates", args=[dataset.pk])


def _fix(dataset) -> str:
    return reverse("classifier:near-duplicates-fix", args=[dataset.pk])


def test_dataset_page_card_counts_groups_and_leaks(user, user_client):
    dataset, _, _ = _leaky(user)

    html = user_client.get(reverse("classifier:dataset-detail", args=[dataset.pk]), {"tab": "images"}).content.decode()

    assert 'id="data-checks-card"' in html
    assert "Near-duplicate groups <strong>1</strong>" in html
    assert "Across splits <strong>1</strong>" in html
    assert _page(dataset) in html


def test_page_lists_groups_with_thumbnails_split_badges_and_the_button(user, user_client):
    dataset, first, leaked = _leaky(user)

    html = user_client.get(_page(dataset)).content.decode()

    assert f'id="group-{first.id}"' in html
    assert reverse("classifier:image-thumbnail", args=[leaked.id]) in html
    assert '<span class="badge badge-val">Validation</span>' in html
    assert '<span class="badge badge-train">Train</span>' in html
    assert "Move into one split" in html
    assert "photo2.png" not in html


def test_move_into_one_split_moves_the_group_and_says_so(user, user_client):
    dataset, first, leaked = _leaky(user)

    response = user_client.post(_fix(dataset), {"image": first.id, "next": _page(dataset)}, follow=True)

    assert response.redirect_chain[-1][0] == _page(dataset)
    assert "Moved 1 image into the split of its group" in response.content.decode()
    assert DatasetImage.objects.get(id=leaked.id).split == "val"
    assert DatasetImage.objects.get(id=first.id).split == "val"


def test_move_with_nothing_leaking_says_there_is_nothing_to_move(user, user_client):
    dataset, _, _ = _leaky(user)
    user_client.post(_fix(dataset))

    response = user_client.post(_fix(dataset), follow=True)

    assert "nothing to move" in response.content.decode()


@pytest.mark.parametrize("image", ["x1", "999999"])
def test_move_with_a_bad_image_says_why_and_changes_nothing(user, user_client, image):
    dataset, _, leaked = _leaky(user)

    response = user_client.post(_fix(dataset), {"image": image}, follow=True)

    html = response.content.decode()
    assert "is not an image id" in html or "is not in a near-duplicate group" in html
    assert DatasetImage.objects.get(id=leaked.id).split == "train"


def test_another_users_dataset_is_not_found_and_nothing_moves(user, other_user, client):
    dataset, _, leaked = _leaky(user)
    client.force_login(other_user)

    assert client.get(_page(dataset)).status_code == 404
    assert client.post(_fix(dataset)).status_code == 404
    assert DatasetImage.objects.get(id=leaked.id).split == "train"


def test_fix_needs_a_post_and_a_signed_in_user(user, client):
    dataset, _, leaked = _leaky(user)

    response = client.post(_fix(dataset))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(user)
    assert client.get(_fix(dataset)).status_code == 405
    assert DatasetImage.objects.get(id=leaked.id).split == "train"
