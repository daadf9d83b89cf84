"""Sightline settings, read from the environment with embedded defaults for one machine.

With nothing set, the platform runs on SQLite and a filesystem Celery broker under ``var/``; set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis. See ``.env.example``.

Django's own settings are here; Sightline's come from the parts imported below, one per concern:
``base_settings`` (folders, debug and development runs), ``limits_settings`` (uploads, archives,
trainings, quotas, URL fetches), ``ml_settings`` (splits, weights, serving, local caches),
``celery_settings`` (job engine and Celery), ``public_settings`` (sign-up, proxies, rate limits,
lockouts, the API) and ``storage_settings`` (where stored files live).
"""

import logging
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Every name a part defines is a setting: a star import means a setting added to a part cannot be
# forgotten here. The names this module uses itself are imported by name as well.
from webapp.base_settings import *  # noqa: F403
from webapp.base_settings import BASE_DIR, DEBUG, DEV, VAR_DIR
from webapp.celery_settings import *  # noqa: F403
from webapp.env import env_bool, env_int, env_list, env_str
from webapp.limits_settings import *  # noqa: F403
from webapp.ml_settings import *  # noqa: F403
from webapp.public_settings import *  # noqa: F403
from webapp.public_settings import SIGHTLINE_TRUSTED_PROXIES
from webapp.storage_settings import default_storage_from_env

# Django's generic classes take type arguments at runtime too (``admin.ModelAdmin[Job]``), as their
# stubs have them for the type checker.
django_stubs_ext.monkeypatch()

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not DEV:
        raise ImproperlyConfigured("SECRET_KEY must be set (or SIGHTLINE_DEV=1 for a development run).")
    # Only development runs get a fixed key; production refuses to start without one (above).
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "webapp",
    "classifier",
    "training_jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Answers the busiest request, a token client's predict upload, before the rest (see its docstring).
    "classifier.api.predict_fast_path.PredictFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CsrfViewMiddleware, which reads a form's body: an oversized body is refused unread.
    "webapp.request_limits.RequestSizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.context_processors.signup",
            ],
        },
    },
]

WSGI_APPLICATION = "webapp.wsgi.application"

# SQLite by default. Web and worker write at once, so WAL, a busy timeout and IMMEDIATE transactions
# keep "database is locked" away (see DESIGN.md pitfalls).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'sightline.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# The predict endpoint's lookup and history row are prepared once per PostgreSQL connection
# (webapp.prepared_statements); false behind a pooler that moves a client between server sessions.
SIGHTLINE_DB_PREPARED_STATEMENTS = env_bool("SIGHTLINE_DB_PREPARED_STATEMENTS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out username and address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "classifier:dataset-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Stored files: MEDIA_ROOT on this host by default; SIGHTLINE_STORAGE=s3 puts them in an S3-compatible
# bucket (AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, …) so web and workers can run on several hosts.
SIGHTLINE_STORAGE = env_str("SIGHTLINE_STORAGE", "local")
STORAGES = {
    "default": default_storage_from_env(),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Development runs serve static files straight from the source folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEV or DEBUG
# Media is never served publicly: image files go through views that check ownership.
# With S3 storage: on, a download (an export, a result; after its ownership check) is a redirect to a
# presigned URL valid for AWS_QUERYSTRING_EXPIRE seconds, so the bytes skip the web process; off (the
# default), the app streams them. Images shown in pages are always streamed.
SIGHTLINE_PRESIGNED_DOWNLOADS = env_bool("SIGHTLINE_PRESIGNED_DOWNLOADS", False)

def _without_traceback(record: logging.LogRecord) -> bool:
    record.exc_info = record.exc_text = None
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"without_traceback": {"()": "django.utils.log.CallbackFilter", "callback": _without_traceback}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        # A forged Host header or an over-limit form is the client's doing (Django answers 400): one line
        # says which, where Django would add a traceback that reads like a server error.
        "console_without_traceback": {"class": "logging.StreamHandler", "filters": ["without_traceback"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.security": {"handlers": ["console_without_traceback"], "propagate": False}},
}

# Production is secure by default; a development run (SIGHTLINE_DEV=1) serves plain HTTP on localhost.
_SECURE_DEFAULT = not DEV and not DEBUG
# Only a trusted proxy may say a request came over HTTPS; without one, a client could claim it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SIGHTLINE_TRUSTED_PROXIES else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _SECURE_DEFAULT)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _SECURE_DEFAULT)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _SECURE_DEFAULT)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _SECURE_DEFAULT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _SECURE_DEFAULT)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _SECURE_DEFAULT)
SECURE_CONTENT_TYPE_NOSNIFF = True
