"""Finding models over the API: the model-version list with its filters, and public datasets in the
dataset list, so a token client can find and use the ready ImageNet models."""

import pytest
from rest_framework.test import APIClient

from classifier.models import Dataset, ModelVersion
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

Status = ModelVersion.Status


def _version(dataset: Dataset, number: int, status: str = Status.READY, **fields) -> ModelVersion:
    values = {"backbone": "tiny", "image_size": 32, "status": status, "class_names": ["cat", "dog"], **fields}
    return ModelVersion.objects.create(dataset=dataset, number=number, **values)


@pytest.fixture
def catalogue(user, other_user, staff_user):
    """alice's dataset (v1 active, v2 training), bob's private one, staff's public ImageNet one."""
    mine = DatasetFactory(owner=user, name="Pets")
    theirs = DatasetFactory(owner=other_user, name="Secret")
    public = DatasetFactory(owner=staff_user, name="ImageNet-1k", is_public=True)
    return {
        "mine": mine,
        "theirs": theirs,
        "public": public,
        "mine_v1": _version(mine, 1, is_active=True, metrics={"accuracy": 0.9, "best_epoch": 3}),
        "mine_v2": _version(mine, 2, status=Status.TRAINING),
        "theirs_v1": _version(theirs, 1, is_active=True),
        "public_v1": _version(public, 1, is_active=True, class_names=[f"class {i}" for i in range(1000)]),
    }


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_the_list_holds_the_users_and_public_versions_never_another_users(user_api, catalogue):
    response = user_api.get("/api/v1/model-versions/")

    assert _ids(response) == {catalogue[k].id for k in ("mine_v1", "mine_v2", "public_v1")}
    rows = {row["id"]: row for row in response.json()["results"]}
    public = rows[catalogue["public_v1"].id]
    assert (public["dataset"], public["dataset_name"], public["is_public"]) == (
        catalogue["public"].id,
        "ImageNet-1k",
        True,
    )
    # A thousand class names stay in the detail: the row says how many.
    assert public["class_count"] == 1000 and "class_names" not in public
    mine = rows[catalogue["mine_v1"].id]
    assert (mine["is_public"], mine["is_active"], mine["status"], mine["number"]) == (False, True, "ready", 1)
    assert mine["metrics"]["accuracy"] == 0.9
    assert rows[catalogue["mine_v2"].id]["metrics"] is None
    # A ready version without an int8 model serves float; one still training serves nothing yet.
    assert (mine["serving_model"], rows[catalogue["mine_v2"].id]["serving_model"]) == ("float", None)


def test_filters_narrow_the_list(user_api, catalogue):
    mine = catalogue["mine"].id
    assert _ids(user_api.get(f"/api/v1/model-versions/?dataset={mine}")) == {
        catalogue["mine_v1"].id,
        catalogue["mine_v2"].id,
    }
    assert _ids(user_api.get("/api/v1/model-versions/?status=training")) == {catalogue["mine_v2"].id}
    assert _ids(user_api.get("/api/v1/model-versions/?is_active=true")) == {
        catalogue["mine_v1"].id,
        catalogue["public_v1"].id,
    }
    assert _ids(user_api.get("/api/v1/model-versions/?is_active=false")) == {catalogue["mine_v2"].id}
    assert _ids(user_api.get("/api/v1/model-versions/?include_public=false&status=ready")) == {catalogue["mine_v1"].id}
    public = catalogue["public"].id
    assert _ids(user_api.get(f"/api/v1/model-versions/?dataset={public}&is_active=true")) == {catalogue["public_v1"].id}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("is_active=maybe", "is_active"),
        ("dataset=abc", "dataset"),
        ("dataset=0", "dataset"),
        ("include_public=perhaps", "include_public"),
    ],
)
def test_a_bad_filter_value_is_a_400_naming_it(user_api, catalogue, query, field):
    response = user_api.get(f"/api/v1/model-versions/?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_another_users_dataset_as_a_filter_is_refused_like_a_missing_one(user_api, catalogue):
    hidden = user_api.get(f"/api/v1/model-versions/?dataset={catalogue['theirs'].id}")
    missing = user_api.get("/api/v1/model-versions/?dataset=999999")

    assert hidden.status_code == missing.status_code == 400
    assert "among those you can use" in hidden.json()["dataset"][0]
    assert hidden.json()["dataset"][0].replace(str(catalogue["theirs"].id), "N") == missing.json()["dataset"][
        0
    ].replace("999999", "N")
    # Asking for only your own versions, a public dataset is not among them either.
    own_only = user_api.get(f"/api/v1/model-versions/?include_public=false&dataset={catalogue['public'].id}")
    assert own_only.status_code == 400


def test_staff_list_every_version(staff_api, catalogue):
    assert _ids(staff_api.get("/api/v1/model-versions/?status=ready")) == {
        catalogue[k].id for k in ("mine_v1", "theirs_v1", "public_v1")
    }


def test_the_list_needs_a_signed_in_client(catalogue):
    assert APIClient().get("/api/v1/model-versions/").status_code in (401, 403)


def test_public_datasets_are_listed_when_asked_for_and_marked(user_api, catalogue):
    own = user_api.get("/api/v1/datasets/").json()["results"]
    assert [row["name"] for row in own] == ["Pets"]
    assert own[0]["is_public"] is False

    listed = user_api.get("/api/v1/datasets/?include_public=true").json()["results"]
    assert {row["name"]: row["is_public"] for row in listed} == {"Pets": False, "ImageNet-1k": True}
    assert user_api.get("/api/v1/datasets/?include_public=perhaps").status_code == 400


def test_a_public_dataset_is_readable_but_only_its_owner_changes_it(user_api, catalogue):
    public = catalogue["public"]

    detail = user_api.get(f"/api/v1/datasets/{public.id}/")
    assert detail.status_code == 200 and detail.json()["is_public"] is True
    versions = user_api.get(f"/api/v1/datasets/{public.id}/model-versions/")
    assert _ids(versions) == {catalogue["public_v1"].id}

    renamed = user_api.patch(f"/api/v1/datasets/{public.id}/", {"name": "Mine now"}, format="json")
    deleted = user_api.delete(f"/api/v1/datasets/{public.id}/")
    trained = user_api.post(f"/api/v1/datasets/{public.id}/model-versions/", {}, format="json")
    assert (renamed.status_code, deleted.status_code, trained.status_code) == (403, 403, 403)
    assert "public" in renamed.json()["detail"]
    public.refresh_from_db()
    assert public.name == "ImageNet-1k"
    assert ModelVersion.objects.filter(dataset=public).count() == 1
    # Another user's private dataset still answers as if it did not exist.
    assert user_api.get(f"/api/v1/datasets/{catalogue['theirs'].id}/").status_code == 404
    assert (
        user_api.patch(f"/api/v1/datasets/{catalogue['theirs'].id}/", {"name": "x"}, format="json").status_code == 404
    )
