"""Dataset, class and image API routes, under /api/v1/."""

from django.urls import path

from classifier.api import views

app_name = "classifier_api"

urlpatterns = [
    path("datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:dataset_id>/classes/", views.DatasetClassesView.as_view(), name="dataset-classes"),
    path("datasets/<int:dataset_id>/splits/", views.DatasetSplitsView.as_view(), name="dataset-splits"),
    path("datasets/<int:dataset_id>/images/", views.DatasetImagesView.as_view(), name="dataset-images"),
    path("datasets/<int:dataset_id>/imports/", views.DatasetImportView.as_view(), name="dataset-imports"),
    path("classes/<int:class_id>/", views.LabelClassDetailView.as_view(), name="class-detail"),
    path("images/<int:image_id>/", views.ImageDetailView.as_view(), name="image-detail"),
]
