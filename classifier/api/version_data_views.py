"""What a version was trained on: its manifest download, and scoring versions again on the same test images.

Versions are read through ``model_versions_usable_by`` (the user's own and public datasets'), as
predictions use them, so another user's private version is not found.
"""

from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.model_version_input_serializers import ModelVersionScoreInputSerializer
from classifier.api.serializers import JobStartedSerializer
from classifier.models import ModelVersion
from classifier.selectors import model_versions_usable_by
from classifier.services.scoring import model_versions_score_start
from webapp.api import ErrorSerializer, FileDownloadView
from webapp.downloads import stored_file_response
from webapp.parsers import JSONParser
from webapp.users import request_user


class ModelVersionManifestView(FileDownloadView):
    @extend_schema(
        responses={
            (200, "application/gzip"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer, description="No such version, or it has no manifest."),
        },
        description="Downloads the version's manifest, a gzipped CSV of `image_id,sha256,split,label,original_name`: "
        "every image it was trained, validated and tested on, with the label and split it had then.",
    )
    def get(self, request: Request, version_id: int) -> FileResponse | HttpResponseRedirect:
        version = get_object_or_404(model_versions_usable_by(request_user(request)), pk=version_id)
        name = f"{slugify(version.dataset.name) or f'dataset-{version.dataset_id}'}-v{version.number}-manifest.csv.gz"
        return stored_file_response(
            version.manifest_file.name or "",
            missing=f"Version {version.number} has no manifest: it was trained before manifests were kept.",
            download_name=name,
            as_attachment=True,
            content_type="application/gzip",
        )


class ModelVersionScoreView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        request=ModelVersionScoreInputSerializer,
        responses={
            202: JobStartedSerializer,
            400: OpenApiResponse(
                description="A version not found, not ready, or of another dataset, or a test set that is not "
                "`current` or `manifest:<id>` of a version of the same dataset with a manifest."
            ),
            429: OpenApiResponse(ErrorSerializer, description="The account's job quota is used up."),
        },
        description="Queues a job scoring the versions on the same images; its report holds, per version, "
        "`accuracy`, `scored`, `correct`, `skipped` (labels the version does not know), `missing` (images "
        "deleted since) and `error`.",
    )
    def post(self, request: Request) -> Response:
        params = ModelVersionScoreInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        versions = _readable_versions(request, params.validated_data["model_versions"], field="model_versions")
        test_set = params.validated_data["test_set"]
        manifest_version = None
        if test_set != "current":
            (manifest_version,) = _readable_versions(request, [int(test_set.split(":", 1)[1])], field="test_set")
        job = model_versions_score_start(
            requested_by=request_user(request), versions=versions, manifest_version=manifest_version
        )
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)


def _readable_versions(request: Request, ids: list[int], *, field: str) -> list[ModelVersion]:
    """The versions of ``ids`` in their order; a 400 naming those the user cannot read (or that do not exist)."""
    found = model_versions_usable_by(request_user(request)).in_bulk(ids)
    unknown = [str(version_id) for version_id in ids if version_id not in found]
    if unknown:
        raise ValidationError({field: [f"No model version {', '.join(unknown)} that you can read."]})
    return [found[version_id] for version_id in ids]
