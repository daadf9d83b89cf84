"""Top-level routes: pages, the REST API under /api/v1/, its schema and docs, and the admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

api_v1 = [
    path("", include("webapp.api_urls")),
    path("", include("classifier.api.urls")),
    path("", include("training_jobs.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("webapp.page_urls")),
    path("", include("classifier.urls")),
    path("jobs/", include("training_jobs.urls")),
]
