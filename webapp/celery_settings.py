"""The job engine's timings (heartbeats, reaping, retries) and Celery: broker, time limits, queues and
the beat schedule. Read by ``webapp.celery`` through the ``CELERY_`` namespace."""

from django.core.exceptions import ImproperlyConfigured

from webapp.base_settings import VAR_DIR
from webapp.env import env_bool, env_float, env_int, env_str
from webapp.limits_settings import SIGHTLINE_MAX_BUDGET_MINUTES

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
