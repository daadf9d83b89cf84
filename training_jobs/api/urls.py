"""Jobs API routes, under /api/v1/."""

from django.urls import path

from training_jobs.api import views

app_name = "training_jobs_api"

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel/", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/result/", views.JobResultView.as_view(), name="job-result"),
    path("jobs/<int:job_id>/report/", views.JobReportView.as_view(), name="job-report"),
]
