"""A public instance: who may sign up, how the client's address is found, where request counts are kept,
how fast each client may go, when failed sign-ins lock out (docs/public-instance.md), and the API."""

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_int, env_str

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
# Seconds to connect to Redis, and to wait for an answer, before a request needing the counts gets 503:
# without a limit a Redis host that stopped answering would hold every web process for minutes.
SIGHTLINE_CACHE_TIMEOUT = env_int("SIGHTLINE_CACHE_TIMEOUT", 2)
if SIGHTLINE_CACHE_TIMEOUT < 1:
    raise ImproperlyConfigured("SIGHTLINE_CACHE_TIMEOUT must be 1 (second) or more.")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": SIGHTLINE_CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": SIGHTLINE_CACHE_TIMEOUT, "socket_timeout": SIGHTLINE_CACHE_TIMEOUT},
    }
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
