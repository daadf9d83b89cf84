"""Dataset, image, model version and prediction page routes; the image file and thumbnail routes are also
linked from the API."""

from django.urls import path

from classifier.views import (
    compare,
    data_checks,
    dataset_page_forms,
    datasets,
    images,
    label_issues,
    predict,
    predictions,
    version_actions,
    version_page,
)

app_name = "classifier"

urlpatterns = [
    path("datasets/", datasets.dataset_list, name="dataset-list"),
    path("datasets/new/", datasets.dataset_create_view, name="dataset-create"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="dataset-detail"),
    path("datasets/<int:pk>/edit/", datasets.dataset_edit, name="dataset-edit"),
    path("datasets/<int:pk>/delete/", datasets.dataset_delete_view, name="dataset-delete"),
    path("datasets/<int:pk>/classes/", dataset_page_forms.label_class_create, name="label-class-create"),
    path(
        "datasets/<int:pk>/classes/<int:class_id>/delete/",
        dataset_page_forms.label_class_delete_view,
        name="label-class-delete",
    ),
    path("datasets/<int:pk>/images/", dataset_page_forms.images_upload_view, name="image-upload"),
    path("datasets/<int:pk>/imports/", dataset_page_forms.dataset_import, name="dataset-import"),
    path("datasets/<int:pk>/splits/", dataset_page_forms.dataset_splits, name="dataset-splits"),
    path("datasets/<int:pk>/augmentations/", dataset_page_forms.dataset_augment, name="dataset-augment"),
    path("datasets/<int:pk>/versions/", dataset_page_forms.model_version_create_view, name="model-version-create"),
    path("datasets/<int:pk>/predict/", predict.dataset_predict, name="dataset-predict"),
    path("datasets/<int:pk>/label-issues/", label_issues.label_issues_page, name="label-issues"),
    path("datasets/<int:pk>/near-duplicates/", data_checks.near_duplicates_page, name="near-duplicates"),
    path("datasets/<int:pk>/near-duplicates/fix/", data_checks.near_duplicates_fix_view, name="near-duplicates-fix"),
    path("datasets/<int:pk>/label-issues/start/", label_issues.label_issues_start_view, name="label-issues-start"),
    path("label-issues/<int:pk>/keep/", label_issues.label_issue_keep_view, name="label-issue-keep"),
    path("label-issues/<int:pk>/relabel/", label_issues.label_issue_relabel_view, name="label-issue-relabel"),
    path("label-issues/<int:pk>/delete/", label_issues.label_issue_delete_view, name="label-issue-delete"),
    path("images/<int:pk>/file/", images.image_file, name="image-file"),
    path("images/<int:pk>/thumbnail/", images.image_thumbnail, name="image-thumbnail"),
    path("images/<int:pk>/label/", images.image_relabel_view, name="image-relabel"),
    path("images/<int:pk>/delete/", images.image_delete_view, name="image-delete"),
    path("versions/compare/", compare.model_version_compare, name="model-version-compare"),
    path("versions/<int:pk>/", version_page.model_version_detail, name="model-version-detail"),
    path("versions/<int:pk>/promote/", version_actions.model_version_promote_view, name="model-version-promote"),
    path("versions/<int:pk>/retrain/", version_actions.model_version_retrain_view, name="model-version-retrain"),
    path(
        "versions/<int:pk>/train-again/",
        version_actions.model_version_train_again_view,
        name="model-version-train-again",
    ),
    path("versions/<int:pk>/delete/", version_actions.model_version_delete_view, name="model-version-delete"),
    path("versions/<int:pk>/predict/", predict.version_predict, name="model-version-predict"),
    path("predict/", predict.predict_index, name="predict"),
    path("ensembles/", predict.ensemble_predict, name="ensemble-predict"),
    path("predictions/", predictions.prediction_list, name="prediction-list"),
    path("predictions/<int:pk>/", predictions.prediction_detail, name="prediction-detail"),
    path("predictions/<int:pk>/feedback/", predictions.prediction_feedback_view, name="prediction-feedback"),
    path(
        "predictions/<int:pk>/add-to-dataset/",
        predictions.prediction_add_to_dataset_view,
        name="prediction-add-to-dataset",
    ),
]
