"""Top-level routes: pages, the REST API under /api/v1/, its schema and docs, and the admin."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from webapp.throttling import rate_limited_page

api_v1: list[URLPattern | URLResolver] = [
    path("", include("webapp.api_urls")),
    path("", include("classifier.api.urls")),
    path("", include("training_jobs.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    # The admin's sign-in counts against the same rate as the pages' (django-axes locks out both).
    path("admin/login/", rate_limited_page("login", counted="sign-in attempts")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("", include("webapp.page_urls")),
    path("", include("classifier.urls")),
    path("jobs/", include("training_jobs.urls")),
]
