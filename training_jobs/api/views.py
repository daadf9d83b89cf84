"""Jobs API: list and read the user's background jobs, cancel one, download what it produced."""

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from training_jobs.api.serializers import JobFilterSerializer, JobListItemSerializer, JobSerializer
from training_jobs.models import Job
from training_jobs.selectors import jobs_for_user
from training_jobs.services import job_cancel
from webapp.api import Conflict, ErrorSerializer, FileDownloadView
from webapp.downloads import stored_file_response
from webapp.users import request_user


def _job_or_404(request: Request, job_id: int) -> Job:
    return get_object_or_404(jobs_for_user(request_user(request)), pk=job_id)


class JobListView(GenericAPIView[Job]):
    serializer_class = JobListItemSerializer

    def get_queryset(self) -> QuerySet[Job]:
        filters = JobFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = jobs_for_user(request_user(self.request))
        if filters.validated_data.get("status"):
            jobs = jobs.filter(status=filters.validated_data["status"])
        if filters.validated_data.get("kind"):
            jobs = jobs.filter(kind=filters.validated_data["kind"])
        if "dataset" in filters.validated_data:
            jobs = jobs.filter(dataset_id=filters.validated_data["dataset"])
        return jobs

    @extend_schema(
        parameters=[JobFilterSerializer],
        responses=JobListItemSerializer(many=True),
        description="The jobs, newest first, without their reports: each job's detail has its report.",
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(JobListItemSerializer(page, many=True, context={"request": request}).data)


class JobDetailView(APIView):
    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        return Response(JobSerializer(_job_or_404(request, job_id), context={"request": request}).data)


class JobCancelView(APIView):
    @extend_schema(
        request=None,
        responses={
            202: JobSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The job had already succeeded or failed."),
        },
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = job_cancel(job=_job_or_404(request, job_id))
        # Judged after the conditional update, so a job that finished a moment ago is reported as
        # such; cancelling an already-cancelled job is answered like the first time.
        if job.status != Job.Status.CANCELLED:
            raise Conflict(f"This job already {job.status}; there is nothing to cancel.")
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobResultView(FileDownloadView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer, description="No such job, or it produced no file (yet)."),
        },
        description="Downloads the file the job produced: a batch prediction's CSV.",
    )
    def get(self, request: Request, job_id: int) -> FileResponse | HttpResponseRedirect:
        job = _job_or_404(request, job_id)
        return stored_file_response(
            job.result_file.name, missing=f"{job} has produced no file to download.", as_attachment=True
        )


class JobReportView(FileDownloadView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer, description="No such job, or its report lists every row already."),
        },
        description="Downloads every row of the job's report lists (e.g. an import's rejected files) as CSV, "
        "when there were more than the report keeps.",
    )
    def get(self, request: Request, job_id: int) -> FileResponse | HttpResponseRedirect:
        job = _job_or_404(request, job_id)
        return stored_file_response(
            job.report_file.name, missing=f"{job} has no longer report than its detail.", as_attachment=True
        )
