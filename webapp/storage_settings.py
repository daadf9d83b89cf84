"""Where stored files live: the local folder MEDIA_ROOT (one host), or an S3-compatible bucket (AWS S3,
MinIO, …) that web and worker processes on several hosts share through django-storages."""

from typing import Any

from botocore.config import Config
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_int, env_str

LOCAL_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"


def s3_storage(
    *,
    bucket_name: str,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region_name: str | None = None,
    addressing_style: str | None = "path",
    location: str = "",
    querystring_auth: bool = True,
    querystring_expire: int = 300,
    max_memory_size: int = 16 * 1024 * 1024,
) -> dict[str, Any]:
    """A ``STORAGES`` entry for a bucket, with the policies every Sightline bucket needs.

    Keys and credentials left as ``None`` fall back to boto3's own lookup (instance roles, ~/.aws).
    """
    return {
        "BACKEND": S3_BACKEND,
        "OPTIONS": {
            "bucket_name": bucket_name,
            "endpoint_url": endpoint_url,
            "access_key": access_key,
            "secret_key": secret_key,
            "region_name": region_name,
            # MinIO and most self-hosted servers answer path-style URLs (host/bucket/key) only.
            "addressing_style": addressing_style,
            "signature_version": "s3v4",
            # django-storages builds this from the two above when none is given; given, it must say them.
            # A bucket briefly unreachable or throttling (connection errors, 5xx, SlowDown) is retried with
            # backoff before a job sees the error.
            "client_config": Config(
                s3={"addressing_style": addressing_style},
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 6},
                connect_timeout=10,
                read_timeout=60,
            ),
            "location": location,
            # Every object is private: files are only sent after an ownership check (webapp.downloads).
            "default_acl": None,
            # Signed URLs (webapp.downloads' optional redirects); an unsigned URL to a private object fails.
            "querystring_auth": querystring_auth,
            "querystring_expire": querystring_expire,
            # FileSystemStorage never overwrites (it picks a free name), and the services rely on it: two
            # images uploaded as "cat.jpg" are two files. S3Storage overwrites unless told not to.
            "file_overwrite": False,
            # A file read (an archive of gigabytes) spills to a temporary file past this size, not memory.
            "max_memory_size": max_memory_size,
        },
    }


def default_storage_from_env() -> dict[str, Any]:
    """``STORAGES["default"]`` from ``SIGHTLINE_STORAGE`` ("local", the default, or "s3") and, for s3, the
    usual django-storages variables (AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, …)."""
    kind = env_str("SIGHTLINE_STORAGE", "local").strip().lower()
    if kind == "local":
        return {"BACKEND": LOCAL_BACKEND}
    if kind != "s3":
        raise ImproperlyConfigured(f'SIGHTLINE_STORAGE must be "local" or "s3", not "{kind}".')
    bucket_name = env_str("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket_name:
        raise ImproperlyConfigured("SIGHTLINE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket's name).")
    return s3_storage(
        bucket_name=bucket_name,
        endpoint_url=env_str("AWS_S3_ENDPOINT_URL", "") or None,
        access_key=env_str("AWS_ACCESS_KEY_ID", "") or None,
        secret_key=env_str("AWS_SECRET_ACCESS_KEY", "") or None,
        region_name=env_str("AWS_S3_REGION_NAME", "") or None,
        # "virtual" for AWS buckets whose names need it; "path" suits MinIO and AWS alike.
        addressing_style=env_str("AWS_S3_ADDRESSING_STYLE", "path") or None,
        location=env_str("AWS_LOCATION", ""),
        querystring_auth=env_bool("AWS_QUERYSTRING_AUTH", True),
        querystring_expire=env_int("AWS_QUERYSTRING_EXPIRE", 300),
        max_memory_size=env_int("AWS_S3_MAX_MEMORY_SIZE", 16 * 1024 * 1024),
    )
