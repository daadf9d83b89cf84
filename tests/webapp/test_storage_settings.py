"""SIGHTLINE_STORAGE: local files by default, an S3 bucket from the usual django-storages variables."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp.storage_settings import LOCAL_BACKEND, S3_BACKEND, default_storage_from_env

ROOT = Path(__file__).resolve().parents[2]
S3_VARIABLES = (
    "SIGHTLINE_STORAGE",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_S3_REGION_NAME",
    "AWS_S3_ADDRESSING_STYLE",
    "AWS_QUERYSTRING_AUTH",
    "AWS_QUERYSTRING_EXPIRE",
)


@pytest.fixture
def environment(monkeypatch):
    for name in S3_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_local_files_are_the_default(environment):
    assert default_storage_from_env() == {"BACKEND": LOCAL_BACKEND}


def test_s3_reads_the_django_storages_variables_with_private_objects_and_no_overwrites(environment):
    for name, value in {
        "SIGHTLINE_STORAGE": "S3",
        "AWS_STORAGE_BUCKET_NAME": "photos",
        "AWS_S3_ENDPOINT_URL": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_S3_REGION_NAME": "eu-west-1",
        "AWS_QUERYSTRING_EXPIRE": "60",
    }.items():
        environment.setenv(name, value)

    entry = default_storage_from_env()

    assert entry["BACKEND"] == S3_BACKEND
    assert {
        key: entry["OPTIONS"][key]
        for key in ("bucket_name", "endpoint_url", "access_key", "secret_key", "region_name", "querystring_expire")
    } == {
        "bucket_name": "photos",
        "endpoint_url": "http://minio:9000",
        "access_key": "key",
        "secret_key": "secret",
        "region_name": "eu-west-1",
        "querystring_expire": 60,
    }
    assert entry["OPTIONS"]["addressing_style"] == "path"
    assert entry["OPTIONS"]["signature_version"] == "s3v4"
    assert entry["OPTIONS"]["default_acl"] is None
    assert entry["OPTIONS"]["querystring_auth"] is True
    assert entry["OPTIONS"]["file_overwrite"] is False
    client = entry["OPTIONS"]["client_config"]
    assert (client.signature_version, client.s3, client.retries["mode"]) == (
        "s3v4",
        {"addressing_style": "path"},
        "standard",
    )


def test_s3_without_credentials_leaves_them_to_boto3(environment):
    environment.setenv("SIGHTLINE_STORAGE", "s3")
    environment.setenv("AWS_STORAGE_BUCKET_NAME", "photos")

    options = default_storage_from_env()["OPTIONS"]

    assert (options["endpoint_url"], options["access_key"], options["secret_key"]) == (None, None, None)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SIGHTLINE_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
        ({"SIGHTLINE_STORAGE": "ftp"}, 'SIGHTLINE_STORAGE must be "local" or "s3", not "ftp"'),
    ],
)
def test_an_incomplete_storage_setting_stops_the_start(environment, variables, message):
    for name, value in variables.items():
        environment.setenv(name, value)

    with pytest.raises(ImproperlyConfigured, match=message):
        default_storage_from_env()


def test_a_process_started_with_s3_variables_uses_s3_storage():
    env = {
        **{name: value for name, value in os.environ.items() if name not in S3_VARIABLES},
        "SIGHTLINE_DEV": "1",
        "SIGHTLINE_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "photos",
        "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    code = (
        "import django; django.setup(); from django.core.files.storage import default_storage as s; "
        "bucket = s.bucket_name; print(type(s._wrapped).__name__, bucket, s.file_overwrite)"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "photos", "False"]
