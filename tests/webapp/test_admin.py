"""Staff see and manage every user's rows in the Django admin; other users cannot get in."""

from tests.factories import DatasetFactory, DatasetImageFactory, JobFactory


def test_staff_see_every_users_datasets_images_and_jobs(client, staff_user, user, other_user):
    DatasetFactory(owner=user, name="alice birds")
    DatasetImageFactory(dataset=DatasetFactory(owner=other_user, name="bob bills"), original_name="bill.jpg")
    JobFactory(requested_by=other_user)
    client.force_login(staff_user)

    datasets = client.get("/admin/classifier/dataset/")
    assert datasets.status_code == 200
    assert b"alice birds" in datasets.content and b"bob bills" in datasets.content
    assert b"bill.jpg" in client.get("/admin/classifier/datasetimage/").content
    assert client.get("/admin/training_jobs/job/").status_code == 200


def test_non_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    response = client.get("/admin/classifier/dataset/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
