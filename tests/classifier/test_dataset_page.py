"""The dataset page's tabs: which one opens, the next step it suggests, refused forms shown on their own
tab at a reloadable address, live statuses, and the ready-made models beside the dataset list."""

import pytest
from django.urls import reverse

from classifier.models import DatasetImage, ModelVersion
from tests.classifier.version_pages_support import make_version
from tests.factories import DatasetFactory, DatasetImageFactory, LabelClassFactory
from training_jobs.models import Job

pytestmark = pytest.mark.django_db

Split = DatasetImage.Split


def _detail(dataset, tab: str = "") -> str:
    url = reverse("classifier:dataset-detail", args=[dataset.pk])
    return f"{url}?tab={tab}" if tab else url


@pytest.fixture
def dataset(user):
    return DatasetFactory(owner=user, name="Pets")


def _trainable(dataset) -> None:
    for name in ("cat", "dog"):
        label = LabelClassFactory(dataset=dataset, name=name)
        for split in (Split.TRAIN, Split.VAL, Split.TEST):
            DatasetImageFactory(dataset=dataset, label=label, split=split)


def test_an_empty_dataset_opens_on_adding_images(user_client, dataset):
    page = user_client.get(_detail(dataset))

    assert page.context["tab"] == "add"
    assert 'id="upload-form"' in page.text and 'id="import-form"' in page.text
    assert 'id="train-form"' not in page.text
    assert page.context["next_step"]["text"].startswith("Start by adding images")


def test_with_images_it_opens_on_the_gallery_and_suggests_training(user_client, dataset):
    _trainable(dataset)

    page = user_client.get(_detail(dataset))

    assert page.context["tab"] == "images"
    assert len(page.context["page_obj"]) == 6
    assert 'id="image-grid"' in page.text and "js/gallery.js" in page.text
    assert page.context["next_step"]["tab"] == "train"
    assert 'href="?tab=train"' in page.text


def test_one_class_is_not_enough_and_the_page_says_so(user_client, dataset):
    DatasetImageFactory(dataset=dataset, label=LabelClassFactory(dataset=dataset, name="cat"), split=Split.TRAIN)

    page = user_client.get(_detail(dataset))

    assert "at least two classes with training and validation images" in page.context["next_step"]["text"]


def test_with_versions_it_opens_on_them_and_follows_a_training_live(user_client, dataset):
    _trainable(dataset)
    make_version(dataset, 1, is_active=True)
    training = make_version(dataset, 2, status=ModelVersion.Status.TRAINING, metrics={})

    page = user_client.get(_detail(dataset))

    assert page.context["tab"] == "versions"
    api = reverse("classifier_api:model-version-detail", args=[training.pk])
    assert f'data-live-url="{api}"' in page.text and "js/live_status.js" in page.text
    assert page.context["next_step"]["version"] == training


def test_each_tab_shows_its_own_forms_only(user_client, dataset):
    _trainable(dataset)
    expected = {
        "add": ("upload-form", "import-form", "class-form"),
        "images": ("image-grid",),
        "train": ("train-form", "augment-form", "split-form", "class-chart"),
        "versions": ("versions",),
    }
    for tab, ids in expected.items():
        text = user_client.get(_detail(dataset, tab)).text
        for element_id in ids:
            assert f'id="{element_id}"' in text, (tab, element_id)
        others = {other for key, names in expected.items() if key != tab for other in names} - set(ids)
        for element_id in others:
            assert f'id="{element_id}"' not in text, (tab, element_id)


def test_an_unknown_tab_falls_back_to_the_default(user_client, dataset):
    assert user_client.get(_detail(dataset, "nonsense")).context["tab"] == "add"


def test_a_refused_form_is_shown_on_its_tab_with_a_reloadable_address(user_client, dataset):
    _trainable(dataset)

    page = user_client.post(
        reverse("classifier:dataset-splits", args=[dataset.pk]), {"val_fraction": "0.7", "test_fraction": "0.6"}
    )

    assert page.status_code == 200
    assert page.context["tab"] == "train"
    assert 'class="field field-invalid"' in page.text or 'class="form-errors"' in page.text
    # forms.js puts this address back in the address bar, so a reload is a GET of the page.
    assert f'data-page-url="{_detail(dataset, "train")}"' in page.text
    assert "js/forms.js" in page.text
    dataset.refresh_from_db()
    assert (dataset.val_fraction, dataset.test_fraction) != (0.7, 0.6)


def test_a_refused_upload_is_shown_on_the_add_tab(user_client, dataset):
    page = user_client.post(reverse("classifier:image-upload", args=[dataset.pk]), {"label": "cat"})

    assert page.context["tab"] == "add"
    assert page.context["upload_form"].errors
    assert not DatasetImage.objects.exists()


def test_class_names_link_to_their_pictures_in_the_gallery(user_client, dataset):
    _trainable(dataset)

    text = user_client.get(_detail(dataset, "add")).text

    assert 'href="?tab=images&amp;label=cat"' in text


def test_recent_jobs_follow_their_status_live(user_client, user, dataset):
    running = Job.objects.create(kind=Job.Kind.IMPORT, requested_by=user, dataset=dataset, status="running")
    done = Job.objects.create(kind=Job.Kind.IMPORT, requested_by=user, dataset=dataset, status="succeeded")

    text = user_client.get(_detail(dataset, "add")).text

    assert f'data-live-url="{reverse("training_jobs_api:job-detail", args=[running.pk])}"' in text
    assert f'data-live-url="{reverse("training_jobs_api:job-detail", args=[done.pk])}"' not in text


def test_the_dataset_list_leads_to_the_ready_made_models_in_order(user_client, other_user):
    public = DatasetFactory(owner=other_user, name="ImageNet-1k", is_public=True)
    versions = [make_version(public, number, is_active=number == 1) for number in (3, 1, 2)]

    page = user_client.get(reverse("classifier:dataset-list"))

    assert [version.number for version in page.context["ready_models"]] == [1, 2, 3]
    assert list(page.context["datasets"]) == []
    text = page.text
    links = [text.index(reverse("classifier:model-version-predict", args=[version.pk])) for version in versions]
    assert links[1] < links[2] < links[0]


def test_a_failed_first_version_points_to_its_page(user_client, dataset):
    _trainable(dataset)
    failed = make_version(dataset, 1, status=ModelVersion.Status.FAILED, is_active=False, metrics={})

    step = user_client.get(_detail(dataset)).context["next_step"]

    assert step["version"] == failed
    assert step["text"].startswith("v1 failed: its page says why")
