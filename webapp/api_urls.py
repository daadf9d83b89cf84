"""API routes that belong to no app: the token exchange."""

from django.urls import path

from webapp.api import AuthTokenView

app_name = "webapp_api"

urlpatterns = [
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
]
