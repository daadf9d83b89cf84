"""The label-issue queue in the API: start the job that fills it, list it most suspicious first, and
review an issue (keep the label, relabel the image, or delete the image).

Reading follows the dataset (public datasets are readable by all); every change is the owner's (staff:
anyone's): another user's issue answers 404, a public dataset's 403.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from classifier.api.access import dataset_or_404, readable_dataset_or_404
from classifier.api.serializers import ImageSerializer, JobStartedSerializer
from classifier.api.usage_views import QUOTA_EXCEEDED_RESPONSE
from classifier.models import LabelIssue
from classifier.selectors import datasets_for_user, datasets_readable_by, label_issues_for_dataset
from classifier.services.label_issue_reviews import label_issue_delete_image, label_issue_keep, label_issue_relabel
from classifier.services.label_issues import label_issues_start
from webapp.users import request_user


class LabelIssueSerializer(serializers.ModelSerializer[LabelIssue]):
    given_label = serializers.CharField(source="given_label.name", read_only=True, allow_null=True)
    suggested_label = serializers.CharField(source="suggested_label.name", read_only=True, allow_null=True)
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = LabelIssue
        fields = [
            "id",
            "image",
            "thumbnail_url",
            "given_label",
            "suggested_label",
            "score",
            "given_probability",
            "suggested_probability",
            "status",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_thumbnail_url(self, issue: LabelIssue) -> str:
        return reverse("classifier:image-thumbnail", args=[issue.image_id], request=self.context.get("request"))


class LabelIssueFilterSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=LabelIssue.Status.choices, required=False, default="open")


class LabelIssueRelabelInputSerializer(serializers.Serializer[dict[str, Any]]):
    label = serializers.CharField(  # type: ignore[assignment]  # a field: DRF's metaclass takes it off the class
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=200,
        help_text="Class name, created if new; left out: the suggested class.",
    )


def _issue_to_change(request: Request, issue_id: int) -> LabelIssue:
    """The issue, if the user may change its dataset: 403 for a public dataset's, 404 when not readable."""
    user = request_user(request)
    issues = LabelIssue.objects.select_related("image", "image__dataset", "suggested_label")
    issue = issues.filter(pk=issue_id, dataset__in=datasets_for_user(user).values("pk")).first()
    if issue is None:
        if issues.filter(pk=issue_id, dataset__in=datasets_readable_by(user).values("pk")).exists():
            raise PermissionDenied("This dataset is public: only its owner reviews its label issues.")
        raise Http404
    return issue


class DatasetLabelIssuesView(GenericAPIView[LabelIssue]):
    serializer_class = LabelIssueSerializer

    def get_queryset(self) -> QuerySet[LabelIssue]:
        dataset = readable_dataset_or_404(self.request, self.kwargs["dataset_id"])
        filters = LabelIssueFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return label_issues_for_dataset(dataset=dataset, status=filters.validated_data["status"])

    @extend_schema(parameters=[LabelIssueFilterSerializer], responses=LabelIssueSerializer(many=True))
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LabelIssueSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=None,
        responses={202: JobStartedSerializer, 429: QUOTA_EXCEEDED_RESPONSE},
        description=(
            "Queues a job that ranks the dataset's labelled images by how likely their label is wrong; when it "
            "succeeds its findings replace the open issues (kept ones stay). 400 when fewer than 2 classes "
            "have enough images."
        ),
    )
    def post(self, request: Request, dataset_id: int) -> Response:
        job = label_issues_start(dataset=dataset_or_404(request, dataset_id), requested_by=request_user(request))
        return Response(JobStartedSerializer({"job": job}).data, status=status.HTTP_202_ACCEPTED)


class LabelIssueDetailView(APIView):
    @extend_schema(responses=LabelIssueSerializer)
    def get(self, request: Request, issue_id: int) -> Response:
        issues = LabelIssue.objects.filter(dataset__in=datasets_readable_by(request_user(request)).values("pk"))
        issue = issues.select_related("given_label", "suggested_label").filter(pk=issue_id).first()
        if issue is None:
            raise Http404
        return Response(LabelIssueSerializer(issue, context={"request": request}).data)

    @extend_schema(responses={204: None}, description="Deletes the issue's image (and so the issue).")
    def delete(self, request: Request, issue_id: int) -> Response:
        label_issue_delete_image(issue=_issue_to_change(request, issue_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelIssueKeepView(APIView):
    @extend_schema(request=None, responses=LabelIssueSerializer, description="The label is right: it leaves the queue.")
    def post(self, request: Request, issue_id: int) -> Response:
        issue = label_issue_keep(issue=_issue_to_change(request, issue_id))
        return Response(LabelIssueSerializer(issue, context={"request": request}).data)


class LabelIssueRelabelView(APIView):
    @extend_schema(request=LabelIssueRelabelInputSerializer, responses=ImageSerializer)
    def post(self, request: Request, issue_id: int) -> Response:
        issue = _issue_to_change(request, issue_id)
        params = LabelIssueRelabelInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        image = label_issue_relabel(issue=issue, label_name=params.validated_data.get("label"))
        return Response(ImageSerializer(image, context={"request": request}).data)
