"""A real S3 server for tests: moto's standalone server, run as its own process on 127.0.0.1 and spoken
to over HTTP with boto3 by django-storages, as a bucket on MinIO or AWS would be. No in-process mocks.

``s3_storage`` puts the test's ``default_storage`` in a fresh bucket of that server; tests/conftest.py
imports these fixtures so any test can ask for them.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.storage import default_storage
from pytest_django import Settings
from storages.backends.s3 import S3Storage

from webapp.storage_settings import s3_storage as s3_storage_entry

REGION = "us-east-1"
# moto accepts any credentials; these only have to be the same on every side.
ACCESS_KEY = "sightline-test"
SECRET_KEY = "sightline-test-secret"  # noqa: S105 - a throwaway test server's


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> Any:  # boto3 ships no types
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def bucket_create(self) -> str:
        name = f"sightline-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def environment(self, bucket: str) -> dict[str, str]:
        """The variables a web or worker process needs to use ``bucket`` (the settings read them)."""
        return {
            "SIGHTLINE_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def storage_entry(self, bucket: str) -> dict[str, Any]:
        return s3_storage_entry(
            bucket_name=bucket,
            endpoint_url=self.endpoint_url,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region_name=REGION,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto's S3 server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - our own loopback server
            return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto's S3 server did not answer on {url} within {timeout:.0f} s")


def moto_server_start(log: Path) -> tuple[subprocess.Popen[bytes], S3Server]:
    """moto's S3 server as a subprocess on a free loopback port, answering once this returns."""
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    endpoint_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint_url, process, log)
    except RuntimeError:
        moto_server_stop(process)
        raise
    return process, S3Server(endpoint_url=endpoint_url)


def moto_server_stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server, one process for the whole session."""
    process, server = moto_server_start(tmp_path_factory.mktemp("s3-server") / "moto.log")
    try:
        yield server
    finally:
        moto_server_stop(process)


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    bucket: str

    def keys(self) -> list[str]:
        return self.server.keys(self.bucket)


@pytest.fixture
def s3_storage(s3_server: S3Server, settings: Settings) -> S3Bucket:
    """This test's ``default_storage`` is S3Storage over HTTP on a fresh bucket of the moto server.

    Changing STORAGES through the settings fixture sends ``setting_changed``, on which Django drops its
    cached storages and empties the lazy ``default_storage``; the same happens when the test ends.
    """
    bucket = s3_server.bucket_create()
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storage_entry(bucket)}
    # The lazy object is built anew from the setting (it proxies isinstance to what it wraps).
    assert isinstance(default_storage, S3Storage), "default_storage did not follow the STORAGES setting"
    assert default_storage.bucket_name == bucket
    return S3Bucket(server=s3_server, bucket=bucket)
