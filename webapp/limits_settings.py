"""What one request, upload, archive, training, account and URL fetch may use: the limits that keep a
public instance up whatever its users send."""

from pathlib import Path

from webapp.base_settings import VAR_DIR
from webapp.env import env_float, env_int, env_list, env_str
from webapp.web_tier import web_threads, web_workers

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
# Image URLs fetched at once by all the web processes of a host (webapp.host_slots) for answers a request
# waits for (sync predictions): a fetch may take the whole deadline and holds its process (or thread), so
# slow URLs must leave most of the web tier answering everyone else. Default: a third of the web tier's
# workers x threads (webapp.web_tier), at least one.
SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY = env_int(
    "SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY", max(1, web_workers() * web_threads() // 3)
)
# Where the host's web processes keep the lock files of such bounds: a folder on this host's own disk.
SIGHTLINE_LOCK_DIR = Path(env_str("SIGHTLINE_LOCK_DIR", str(VAR_DIR / "locks")))
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
