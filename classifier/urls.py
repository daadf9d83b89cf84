"""Dataset, image, model version and prediction page routes; the image file and thumbnail routes are also
linked from the API."""

from django.urls import path

from classifier import views, views_data_checks, views_label_issues, views_predictions, views_versions

app_name = "classifier"

urlpatterns = [
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/new/", views.dataset_create_view, name="dataset-create"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/edit/", views.dataset_edit, name="dataset-edit"),
    path("datasets/<int:pk>/delete/", views.dataset_delete_view, name="dataset-delete"),
    path("datasets/<int:pk>/classes/", views.label_class_create, name="label-class-create"),
    path(
        "datasets/<int:pk>/classes/<int:class_id>/delete/",
        views.label_class_delete_view,
        name="label-class-delete",
    ),
    path("datasets/<int:pk>/images/", views.images_upload_view, name="image-upload"),
    path("datasets/<int:pk>/imports/", views.dataset_import, name="dataset-import"),
    path("datasets/<int:pk>/splits/", views.dataset_splits, name="dataset-splits"),
    path("datasets/<int:pk>/augmentations/", views.dataset_augment, name="dataset-augment"),
    path("datasets/<int:pk>/versions/", views_versions.model_version_create_view, name="model-version-create"),
    path("datasets/<int:pk>/predict/", views_predictions.dataset_predict, name="dataset-predict"),
    path("datasets/<int:pk>/label-issues/", views_label_issues.label_issues_page, name="label-issues"),
    path("datasets/<int:pk>/near-duplicates/", views_data_checks.near_duplicates_page, name="near-duplicates"),
    path(
        "datasets/<int:pk>/near-duplicates/fix/",
        views_data_checks.near_duplicates_fix_view,
        name="near-duplicates-fix",
    ),
    path(
        "datasets/<int:pk>/label-issues/start/",
        views_label_issues.label_issues_start_view,
        name="label-issues-start",
    ),
    path("label-issues/<int:pk>/keep/", views_label_issues.label_issue_keep_view, name="label-issue-keep"),
    path("label-issues/<int:pk>/relabel/", views_label_issues.label_issue_relabel_view, name="label-issue-relabel"),
    path("label-issues/<int:pk>/delete/", views_label_issues.label_issue_delete_view, name="label-issue-delete"),
    path("images/<int:pk>/file/", views.image_file, name="image-file"),
    path("images/<int:pk>/thumbnail/", views.image_thumbnail, name="image-thumbnail"),
    path("images/<int:pk>/label/", views.image_relabel_view, name="image-relabel"),
    path("images/<int:pk>/delete/", views.image_delete_view, name="image-delete"),
    path("versions/compare/", views_versions.model_version_compare, name="model-version-compare"),
    path("versions/<int:pk>/", views_versions.model_version_detail, name="model-version-detail"),
    path("versions/<int:pk>/promote/", views_versions.model_version_promote_view, name="model-version-promote"),
    path("versions/<int:pk>/retrain/", views_versions.model_version_retrain_view, name="model-version-retrain"),
    path(
        "versions/<int:pk>/train-again/",
        views_versions.model_version_train_again_view,
        name="model-version-train-again",
    ),
    path("versions/<int:pk>/delete/", views_versions.model_version_delete_view, name="model-version-delete"),
    path("versions/<int:pk>/predict/", views_predictions.version_predict, name="model-version-predict"),
    path("predict/", views_predictions.predict_index, name="predict"),
    path("ensembles/", views_predictions.ensemble_predict, name="ensemble-predict"),
    path("predictions/", views_predictions.prediction_list, name="prediction-list"),
    path("predictions/<int:pk>/", views_predictions.prediction_detail, name="prediction-detail"),
    path("predictions/<int:pk>/feedback/", views_predictions.prediction_feedback_view, name="prediction-feedback"),
    path(
        "predictions/<int:pk>/add-to-dataset/",
        views_predictions.prediction_add_to_dataset_view,
        name="prediction-add-to-dataset",
    ),
]
