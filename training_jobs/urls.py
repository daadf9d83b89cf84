"""Job page routes, mounted under /jobs/."""

from django.urls import path

from training_jobs import views

app_name = "training_jobs"

urlpatterns = [
    path("", views.job_list, name="job-list"),
    path("<int:pk>/", views.job_detail, name="job-detail"),
    path("<int:pk>/cancel/", views.job_cancel_view, name="job-cancel"),
]
