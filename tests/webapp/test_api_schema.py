"""The OpenAPI schema covers every API route, and the docs page works offline."""

import re

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Served alongside the API but not part of it (SERVE_INCLUDE_SCHEMA is off).
NOT_OPERATIONS = {"/api/v1/schema/", "/api/v1/docs/"}


def _routes(patterns, prefix="/"):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _api_paths() -> set[str]:
    """Every /api/v1/ route in the URLconf, written the way OpenAPI writes paths."""
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in _routes(get_resolver().url_patterns)}
    return {route for route in routes if route.startswith("/api/v1/")} - NOT_OPERATIONS


def test_schema_lists_every_api_route(api_client):
    response = api_client.get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    missing = _api_paths() - set(schema["paths"])
    assert not missing, f"routes missing from the schema: {sorted(missing)}"


def test_schema_describes_uploads_as_multipart(api_client):
    schema = api_client.get("/api/v1/schema/", {"format": "json"}).json()

    upload = schema["paths"]["/api/v1/datasets/{dataset_id}/images/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert set(upload["responses"]) >= {"201", "400"}
    imports = schema["paths"]["/api/v1/datasets/{dataset_id}/imports/"]["post"]
    assert "multipart/form-data" in imports["requestBody"]["content"]
    assert "202" in imports["responses"]


def test_schema_is_valid_and_generates_without_warnings(tmp_path):
    # --fail-on-warn catches views whose request or response types drf-spectacular had to guess.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_docs_page_renders_without_any_cdn(api_client):
    response = api_client.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = re.findall(r"""(?:src|href)=["']?((?:https?:)?//[^"'\s>]+)""", html)
    assert not external, f"docs page loads assets from elsewhere: {external}"
    # A CDN's name, not three letters that a random CSRF token can hold.
    assert not re.search(r"cdn[.\-/]|jsdelivr|unpkg", html.lower())
    # Swagger UI's default would send the schema's address to validator.swagger.io.
    assert '"validatorUrl": null' in html
