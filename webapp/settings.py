"""Sightline settings, read from the environment with embedded defaults for one machine.

With nothing set, the platform runs on SQLite and a filesystem Celery broker under ``var/``; set
``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis. See ``.env.example``.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_float, env_int, env_list, env_str
from webapp.storage_settings import default_storage_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime data of the embedded defaults (SQLite file, media, broker folders); ignored by git.
VAR_DIR = Path(env_str("SIGHTLINE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# A development run on one machine: insecure-but-convenient defaults (fixed key, plain HTTP).
DEV = env_bool("SIGHTLINE_DEV", False)
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

# Upload limits: a request body, one image, and the pixels Pillow may decode (bombs).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
# Files in one upload request: each is decoded and checked while the request waits.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 100)
# The largest body any request but an archive upload may declare (webapp.request_limits): refused by its
# Content-Length before it is read.
SIGHTLINE_MAX_REQUEST_BYTES = env_int("SIGHTLINE_MAX_REQUEST_BYTES", 256 * 1024 * 1024)
SIGHTLINE_MAX_IMAGE_BYTES = env_int("SIGHTLINE_MAX_IMAGE_BYTES", 20 * 1024 * 1024)
SIGHTLINE_MAX_IMAGE_PIXELS = env_int("SIGHTLINE_MAX_IMAGE_PIXELS", 40_000_000)
SIGHTLINE_MAX_ARCHIVE_BYTES = env_int("SIGHTLINE_MAX_ARCHIVE_BYTES", 2 * 1024 * 1024 * 1024)
SIGHTLINE_MAX_ARCHIVE_UNCOMPRESSED_BYTES = env_int(
    "SIGHTLINE_MAX_ARCHIVE_UNCOMPRESSED_BYTES", 8 * 1024 * 1024 * 1024
)
SIGHTLINE_MAX_ARCHIVE_MEMBERS = env_int("SIGHTLINE_MAX_ARCHIVE_MEMBERS", 100_000)
# A job report lists at most this many rows per list (rejected files, …) and counts the rest; the
# full lists are a CSV download, so a report never makes a large row or a large response.
SIGHTLINE_REPORT_MAX_ROWS = env_int("SIGHTLINE_REPORT_MAX_ROWS", 100)
SIGHTLINE_MAX_COMPRESSION_RATIO = env_float("SIGHTLINE_MAX_COMPRESSION_RATIO", 200.0)
# Split fractions for new datasets; each dataset keeps its own copy and seed.
SIGHTLINE_DEFAULT_VAL_FRACTION = env_float("SIGHTLINE_DEFAULT_VAL_FRACTION", 0.1)
SIGHTLINE_DEFAULT_TEST_FRACTION = env_float("SIGHTLINE_DEFAULT_TEST_FRACTION", 0.1)
# Two pictures are near-duplicates when their 192-bit perceptual hashes differ in at most this many bits
# (classifier.ml.near_duplicates); bench/near_duplicates.py measured 57: recall 0.97 on resized,
# recompressed, cropped and turned copies, no false pair among 4,371 pairs of distinct photos. Lower is stricter.
SIGHTLINE_NEAR_DUPLICATE_DISTANCE = env_int("SIGHTLINE_NEAR_DUPLICATE_DISTANCE", 57)
# Images stored before hashing existed are hashed lazily: this many per look at the check (a page or API
# call; each is a file read and decode), all of them on a fix or a split reassignment, or with
# `manage.py near_duplicates_hash`.
SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST = env_int("SIGHTLINE_NEAR_DUPLICATE_FILL_PER_REQUEST", 500)
# Pretrained keras.applications weights are looked up here first (offline installs place them here).
SIGHTLINE_WEIGHTS_DIR = Path(env_str("SIGHTLINE_WEIGHTS_DIR", str(VAR_DIR / "weights")))
# Off (an offline install): a backbone whose weights are not on disk is refused when a training is
# submitted. On: such a training is accepted, and Keras downloads the weights on the worker.
SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS = env_bool("SIGHTLINE_ALLOW_WEIGHT_DOWNLOADS", False)
# A version serves its int8 model when that loses at most this much test accuracy (0.01 = 1 point) against
# its float model on the same test images; otherwise, or with no test images, the float model serves.
SIGHTLINE_INT8_MAX_ACCURACY_DROP = env_float("SIGHTLINE_INT8_MAX_ACCURACY_DROP", 0.01)
# ... and when the two models give the same top-1 answer on at least this share of the training images
# compared while calibrating (a tiny test split alone cannot show a poor int8 model).
SIGHTLINE_INT8_MIN_AGREEMENT = env_float("SIGHTLINE_INT8_MIN_AGREEMENT", 0.98)
# The longest time budget a training may ask for, in minutes.
SIGHTLINE_MAX_BUDGET_MINUTES = env_float("SIGHTLINE_MAX_BUDGET_MINUTES", 240.0)
# The largest training options a user may give (classifier.services.training_limits): epochs (also
# fine-tuning epochs and patience), batch size, fine-tuned layers, and the input size as a multiple of
# the backbone's own (EfficientNet-Lite0: 224 px × 2 = 448 px).
SIGHTLINE_MAX_EPOCHS = env_int("SIGHTLINE_MAX_EPOCHS", 300)
SIGHTLINE_MAX_BATCH_SIZE = env_int("SIGHTLINE_MAX_BATCH_SIZE", 512)
SIGHTLINE_MAX_FINE_TUNE_LAYERS = env_int("SIGHTLINE_MAX_FINE_TUNE_LAYERS", 500)
SIGHTLINE_MAX_IMAGE_SIZE_FACTOR = env_float("SIGHTLINE_MAX_IMAGE_SIZE_FACTOR", 2.0)
# Quotas per account (classifier.services.quotas); 0 means no limit. Staff have none, and staff can give
# one account its own limits in the admin (the user's page). Images and bytes stored, over all its datasets;
# jobs queued or running at once; of those, gpu-queue jobs (trainings, label-issue searches): 1 keeps the
# training queue fair, since every other account's training then waits behind at most one of this one's;
# training minutes in any 24 hours, counting each training's time budget while it is queued or running and
# the minutes it ran once it ended.
SIGHTLINE_QUOTA_IMAGES = env_int("SIGHTLINE_QUOTA_IMAGES", 20_000)
SIGHTLINE_QUOTA_BYTES = env_int("SIGHTLINE_QUOTA_BYTES", 5 * 1024**3)
SIGHTLINE_QUOTA_ACTIVE_JOBS = env_int("SIGHTLINE_QUOTA_ACTIVE_JOBS", 3)
SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS = env_int("SIGHTLINE_QUOTA_ACTIVE_GPU_JOBS", 1)
SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY = env_int("SIGHTLINE_QUOTA_TRAINING_MINUTES_PER_DAY", 240)
# Backbone features per image, reused across epochs and versions: a worker-local cache of at most
# SIGHTLINE_FEATURE_CACHE_MAX_BYTES (0: no limit), least recently used files evicted first. Deleting it at
# any time loses nothing: missing features are computed again from the images in storage.
SIGHTLINE_FEATURE_CACHE_DIR = Path(env_str("SIGHTLINE_FEATURE_CACHE_DIR", str(VAR_DIR / "feature-cache")))
SIGHTLINE_FEATURE_CACHE_MAX_BYTES = env_int("SIGHTLINE_FEATURE_CACHE_MAX_BYTES", 10 * 1024**3)
# Loaded TFLite interpreters (and unknown-image detectors) each web or inference process keeps, least
# recently used dropped first; each is read again from storage when needed. At least 1: unlike the
# quotas, 0 cannot mean "no limit" here, since every served version would stay in memory.
SIGHTLINE_INTERPRETER_CACHE_SIZE = env_int("SIGHTLINE_INTERPRETER_CACHE_SIZE", 8)
if SIGHTLINE_INTERPRETER_CACHE_SIZE < 1:
    raise ImproperlyConfigured(
        f"SIGHTLINE_INTERPRETER_CACHE_SIZE is {SIGHTLINE_INTERPRETER_CACHE_SIZE}; it must be at least 1."
    )
# A training's own feature files while it runs (memory-mapped, so memory stays flat); deleted after it.
SIGHTLINE_SCRATCH_DIR = Path(env_str("SIGHTLINE_SCRATCH_DIR", str(VAR_DIR / "scratch")))
SIGHTLINE_SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
# Jobs: a worker writes its job's heartbeat this often, from a thread, in every phase of the work. A
# running job whose heartbeat is older than the stale age lost its worker: the reaper (every
# SIGHTLINE_REAPER_INTERVAL_SECONDS) queues it again to resume from its checkpoint, at most
# SIGHTLINE_JOB_MAX_ATTEMPTS times in all, then fails it. A queued job no worker took is sent again
# after SIGHTLINE_JOB_RESEND_SECONDS (a lost message; a duplicate delivery is harmless).
SIGHTLINE_JOB_HEARTBEAT_SECONDS = env_float("SIGHTLINE_JOB_HEARTBEAT_SECONDS", 5.0)
SIGHTLINE_JOB_STALE_SECONDS = env_int("SIGHTLINE_JOB_STALE_SECONDS", 60)
SIGHTLINE_JOB_MAX_ATTEMPTS = env_int("SIGHTLINE_JOB_MAX_ATTEMPTS", 3)
SIGHTLINE_JOB_RESEND_SECONDS = env_int("SIGHTLINE_JOB_RESEND_SECONDS", 15 * 60)
SIGHTLINE_REAPER_INTERVAL_SECONDS = env_float("SIGHTLINE_REAPER_INTERVAL_SECONDS", 30.0)
if SIGHTLINE_JOB_STALE_SECONDS < 3 * SIGHTLINE_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("SIGHTLINE_JOB_STALE_SECONDS must be at least 3 heartbeats, or healthy jobs look lost.")
# A queued prediction no worker ran within this long fails (waiting behind long jobs is normal).
SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS = env_int("SIGHTLINE_PREDICTION_MAX_WAIT_SECONDS", 24 * 3600)
# Stored files no row references are deleted daily once they are this old (a file precedes its row).
SIGHTLINE_ORPHAN_MIN_AGE_HOURS = env_float("SIGHTLINE_ORPHAN_MIN_AGE_HOURS", 24.0)
# Images fetched from a URL for a prediction: only public internet addresses are contacted (no SSRF
# into loopback, private or cloud-metadata addresses). Hosts listed here as "host" or "host:port" are
# fetched whatever address they resolve to: an explicit allow-list for tests and trusted intranet
# image servers, empty by default.
SIGHTLINE_URL_FETCH_ALLOWED_HOSTS = env_list("SIGHTLINE_URL_FETCH_ALLOWED_HOSTS", [])
# Each connect and each read may take this long; the whole fetch, redirects included, the deadline.
SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS = env_float("SIGHTLINE_URL_FETCH_TIMEOUT_SECONDS", 5.0)
SIGHTLINE_URL_FETCH_DEADLINE_SECONDS = env_float("SIGHTLINE_URL_FETCH_DEADLINE_SECONDS", 15.0)
# Image URLs are fetched from these ports only (hosts in SIGHTLINE_URL_FETCH_ALLOWED_HOSTS: any port),
# and a host name must resolve within the DNS timeout.
SIGHTLINE_URL_FETCH_PORTS = [int(port) for port in env_list("SIGHTLINE_URL_FETCH_PORTS", ["80", "443"])]
SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS = env_float("SIGHTLINE_URL_FETCH_DNS_TIMEOUT_SECONDS", 3.0)
# Image URLs fetched at once per web process for answers a request waits for (sync predictions): a fetch
# may take the whole deadline, so a few slow URLs must not hold every web thread (gunicorn: 4 a process).
SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY = env_int("SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY", 2)
# URL-list imports (docs/imports.md): rows a list may have, URLs fetched at once, at most so many at once
# from one host and requests to one host at least so far apart (politeness), and how often a temporary
# failure (timeout, broken connection, 429/5xx) is tried again, after a pause doubling from the backoff;
# a server's Retry-After is honoured up to the cap.
SIGHTLINE_URL_IMPORT_MAX_ROWS = env_int("SIGHTLINE_URL_IMPORT_MAX_ROWS", 10_000)
SIGHTLINE_URL_IMPORT_CONCURRENCY = env_int("SIGHTLINE_URL_IMPORT_CONCURRENCY", 8)
SIGHTLINE_URL_IMPORT_PER_HOST = env_int("SIGHTLINE_URL_IMPORT_PER_HOST", 2)
SIGHTLINE_URL_IMPORT_HOST_INTERVAL_SECONDS = env_float("SIGHTLINE_URL_IMPORT_HOST_INTERVAL_SECONDS", 0.0)
SIGHTLINE_URL_IMPORT_RETRIES = env_int("SIGHTLINE_URL_IMPORT_RETRIES", 2)
SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS = env_float("SIGHTLINE_URL_IMPORT_RETRY_BACKOFF_SECONDS", 1.0)
SIGHTLINE_URL_IMPORT_RETRY_AFTER_MAX_SECONDS = env_float("SIGHTLINE_URL_IMPORT_RETRY_AFTER_MAX_SECONDS", 30.0)

# Public service: who may sign up, how the client's address is found, where request counts are kept, how
# fast each client may go, and when repeated failed sign-ins lock out (docs/public-instance.md).
# Sign-up: "open" (anyone), "invite" (with an unused invitation code staff created in the admin; it
# expires after SIGHTLINE_INVITATION_DAYS) or "closed" (staff create accounts in the admin). No email is sent.
SIGHTLINE_SIGNUP = env_str("SIGHTLINE_SIGNUP", "open").strip().lower()
if SIGHTLINE_SIGNUP not in {"open", "invite", "closed"}:
    raise ImproperlyConfigured('SIGHTLINE_SIGNUP must be "open", "invite" or "closed".')
SIGHTLINE_INVITATION_DAYS = env_int("SIGHTLINE_INVITATION_DAYS", 14)
# How many reverse proxies in front of Sightline append to X-Forwarded-For (and set X-Forwarded-Proto).
# 0: the client's address is the connection's (REMOTE_ADDR) and forwarded headers are ignored, since any
# client can send them; N: the Nth address from the right of X-Forwarded-For, the one the outermost
# trusted proxy saw.
SIGHTLINE_TRUSTED_PROXIES = env_int("SIGHTLINE_TRUSTED_PROXIES", 0)
if SIGHTLINE_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("SIGHTLINE_TRUSTED_PROXIES must be 0 or more.")
# Rate limits and lockouts count in this cache. Several web processes must share it (Redis, e.g.
# redis://redis:6379/1), or each counts alone; unset, each process has its own memory (development).
SIGHTLINE_CACHE_URL = env_str("SIGHTLINE_CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": SIGHTLINE_CACHE_URL}
    if SIGHTLINE_CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sightline"}
}
CACHES["default"]["KEY_PREFIX"] = "sightline"
# Rates as "<count>/<second|minute|hour|day>": token exchanges and sign-in form posts per client address
# (the admin's sign-in counts with the pages'), sign-up form posts per address, and predictions
# (one image, ensemble, queued or batch) per account.
SIGHTLINE_THROTTLE_RATES = {
    "token": env_str("SIGHTLINE_THROTTLE_TOKEN", "10/min"),
    "login": env_str("SIGHTLINE_THROTTLE_LOGIN", "10/min"),
    "signup": env_str("SIGHTLINE_THROTTLE_SIGNUP", "10/hour"),
    "predictions": env_str("SIGHTLINE_THROTTLE_PREDICTIONS", "120/min"),
}
for _scope, _rate in SIGHTLINE_THROTTLE_RATES.items():
    _count, _, _period = _rate.partition("/")
    if not _count.isdigit() or _period not in {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}:
        raise ImproperlyConfigured(f'SIGHTLINE_THROTTLE_{_scope.upper()} must read like "10/min", not "{_rate}".')
# Failed sign-ins (pages, admin, token endpoint) for one username from one address: this many lock that
# pair out for this long (django-axes; staff see and clear lockouts in the admin under "Axes").
SIGHTLINE_LOGIN_FAILURE_LIMIT = env_int("SIGHTLINE_LOGIN_FAILURE_LIMIT", 10)
SIGHTLINE_LOGIN_LOCKOUT_MINUTES = env_int("SIGHTLINE_LOGIN_LOCKOUT_MINUTES", 15)
AXES_ENABLED = True
AXES_FAILURE_LIMIT = SIGHTLINE_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGHTLINE_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "webapp.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "webapp.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_COOLOFF_MESSAGE = (
    f"Too many failed sign-in attempts: this account is locked for {SIGHTLINE_LOGIN_LOCKOUT_MINUTES} minutes "
    "from your address. Try again later."
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three, with webapp.parsers.JSONParser for its JSON one.
    "DEFAULT_PARSER_CLASSES": [
        "webapp.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": SIGHTLINE_THROTTLE_RATES,
    # DRF's own client address reads X-Forwarded-For only behind this many trusted proxies; Sightline's
    # throttles use webapp.throttling.client_address, which follows the same setting.
    "NUM_PROXIES": SIGHTLINE_TRUSTED_PROXIES,
    "EXCEPTION_HANDLER": "webapp.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sightline API",
    "DESCRIPTION": "Train and serve image classifiers by transfer learning.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Docs assets come from the sidecar package, not a CDN: installs may be offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema's URL to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Jobs, model versions and predictions each have a "status" with different choices; name each enum after
    # its model.
    "ENUM_NAME_OVERRIDES": {
        "JobKindEnum": "training_jobs.models.Job.Kind",
        "JobStatusEnum": "training_jobs.models.Job.Status",
        "ModelVersionStatusEnum": "classifier.models.ModelVersion.Status",
        "PredictionStatusEnum": "classifier.models.Prediction.Status",
    },
}

# Celery: a filesystem broker by default so one machine needs no server; Redis in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 6 * 3600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 3600 + 300)
# Redis hands an unacknowledged message to another worker after the visibility timeout; shorter
# than the hard time limit, a long job would be delivered twice while it still runs.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 3600)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT.")
# A training planned to its longest budget must end (exports included) before the hard limit kills it.
if SIGHTLINE_MAX_BUDGET_MINUTES * 60 * 1.25 > CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("SIGHTLINE_MAX_BUDGET_MINUTES must leave a quarter of CELERY_TASK_TIME_LIMIT spare.")
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    # kombu's filesystem transport expects its folders to exist before the first message.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
# Jobs go to the queue of their kind (training_jobs.kinds), given when their task is sent.
CELERY_TASK_ROUTES = {
    "training_jobs.tasks.reap_jobs": {"queue": "cpu"},
    # Queued predictions run on TFLite beside batch predictions, never behind an import or a training.
    "classifier.tasks.run_prediction": {"queue": "inference"},
    "classifier.tasks.delete_stored_orphans": {"queue": "cpu"},
}
# A broker that is down must not hold a request for long: the reaper sends what could not be sent.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BEAT_SCHEDULE = {
    "reap-jobs": {"task": "training_jobs.tasks.reap_jobs", "schedule": SIGHTLINE_REAPER_INTERVAL_SECONDS},
    "delete-stored-orphans": {"task": "classifier.tasks.delete_stored_orphans", "schedule": 24 * 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True


def _without_traceback(record) -> bool:
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
