"""Dataset, class, image, backbone, model-version and prediction API routes, under /api/v1/."""

from django.urls import path

from classifier.api import (
    batch_prediction_views,
    dataset_views,
    image_views,
    label_issue_views,
    model_version_views,
    near_duplicate_views,
    prediction_history_views,
    prediction_views,
    usage_views,
    version_data_views,
    version_list,
)

app_name = "classifier_api"

urlpatterns = [
    path("datasets/", dataset_views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>/", dataset_views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:dataset_id>/classes/", dataset_views.DatasetClassesView.as_view(), name="dataset-classes"),
    path("datasets/<int:dataset_id>/splits/", dataset_views.DatasetSplitsView.as_view(), name="dataset-splits"),
    path("datasets/<int:dataset_id>/images/", image_views.DatasetImagesView.as_view(), name="dataset-images"),
    path("datasets/<int:dataset_id>/imports/", image_views.DatasetImportView.as_view(), name="dataset-imports"),
    path(
        "datasets/<int:dataset_id>/augmentations/",
        image_views.DatasetAugmentationView.as_view(),
        name="dataset-augmentations",
    ),
    path(
        "datasets/<int:dataset_id>/model-versions/",
        model_version_views.DatasetModelVersionsView.as_view(),
        name="dataset-model-versions",
    ),
    path("datasets/<int:dataset_id>/predict/", prediction_views.DatasetPredictView.as_view(), name="dataset-predict"),
    path("classes/<int:class_id>/", dataset_views.LabelClassDetailView.as_view(), name="class-detail"),
    path("images/<int:image_id>/", image_views.ImageDetailView.as_view(), name="image-detail"),
    path(
        "datasets/<int:dataset_id>/label-issues/",
        label_issue_views.DatasetLabelIssuesView.as_view(),
        name="dataset-label-issues",
    ),
    path(
        "datasets/<int:dataset_id>/near-duplicates/",
        near_duplicate_views.DatasetNearDuplicatesView.as_view(),
        name="dataset-near-duplicates",
    ),
    path(
        "datasets/<int:dataset_id>/near-duplicates/fix/",
        near_duplicate_views.DatasetNearDuplicatesFixView.as_view(),
        name="dataset-near-duplicates-fix",
    ),
    path("label-issues/<int:issue_id>/", label_issue_views.LabelIssueDetailView.as_view(), name="label-issue-detail"),
    path("label-issues/<int:issue_id>/keep/", label_issue_views.LabelIssueKeepView.as_view(), name="label-issue-keep"),
    path(
        "label-issues/<int:issue_id>/relabel/",
        label_issue_views.LabelIssueRelabelView.as_view(),
        name="label-issue-relabel",
    ),
    path("backbones/", model_version_views.BackboneListView.as_view(), name="backbone-list"),
    path("usage/", usage_views.AccountUsageView.as_view(), name="account-usage"),
    path("model-versions/", version_list.ModelVersionListView.as_view(), name="model-version-list"),
    path("model-versions/score/", version_data_views.ModelVersionScoreView.as_view(), name="model-version-score"),
    path(
        "model-versions/<int:version_id>/manifest/",
        version_data_views.ModelVersionManifestView.as_view(),
        name="model-version-manifest",
    ),
    path(
        "model-versions/<int:version_id>/",
        model_version_views.ModelVersionDetailView.as_view(),
        name="model-version-detail",
    ),
    path(
        "model-versions/<int:version_id>/curves/",
        model_version_views.ModelVersionCurvesView.as_view(),
        name="model-version-curves",
    ),
    path(
        "model-versions/<int:version_id>/promote/",
        model_version_views.ModelVersionPromoteView.as_view(),
        name="model-version-promote",
    ),
    path(
        "model-versions/<int:version_id>/retrain/",
        model_version_views.ModelVersionRetrainView.as_view(),
        name="model-version-retrain",
    ),
    path(
        "model-versions/<int:version_id>/export/",
        model_version_views.ModelVersionExportView.as_view(),
        name="model-version-export",
    ),
    path(
        "model-versions/<int:version_id>/export/metadata/",
        model_version_views.ModelVersionExportMetadataView.as_view(),
        name="model-version-export-metadata",
    ),
    path(
        "model-versions/<int:version_id>/predict/",
        prediction_views.ModelVersionPredictView.as_view(),
        name="model-version-predict",
    ),
    path(
        "model-versions/<int:version_id>/batch-predictions/",
        batch_prediction_views.ModelVersionBatchPredictionView.as_view(),
        name="model-version-batch-predictions",
    ),
    path("ensembles/predict/", prediction_views.EnsemblePredictView.as_view(), name="ensemble-predict"),
    path("predictions/", prediction_history_views.PredictionListView.as_view(), name="prediction-list"),
    path(
        "predictions/<int:prediction_id>/",
        prediction_history_views.PredictionDetailView.as_view(),
        name="prediction-detail",
    ),
    path(
        "predictions/<int:prediction_id>/image/",
        prediction_history_views.PredictionImageView.as_view(),
        name="prediction-image",
    ),
    path(
        "predictions/<int:prediction_id>/feedback/",
        prediction_history_views.PredictionFeedbackView.as_view(),
        name="prediction-feedback",
    ),
    path(
        "predictions/<int:prediction_id>/add-to-dataset/",
        prediction_history_views.PredictionAddToDatasetView.as_view(),
        name="prediction-add-to-dataset",
    ),
]
