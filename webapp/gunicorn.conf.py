"""The production web server's settings (gunicorn -c webapp/gunicorn.conf.py), from the environment.

Sized for the predict endpoint, the busiest one: each request spends most of its time in a LiteRT
interpreter call that releases the GIL but takes its version's lock (one interpreter per version per
process). Measured with bench/load.py (50 clients); see docs/serving.md, "The server".
"""

import os

from webapp.env import env_int, env_str
from webapp.web_tier import web_threads, web_worker_class, web_workers

bind = env_str("SIGHTLINE_WEB_BIND", "0.0.0.0:8000")
# One process per core and one more: while a process's request waits on the database or runs Python under
# its GIL, another process's interpreter call keeps the cores busy. One per core left a core idle often
# enough to cost 12% of the requests/s; each process holds its own interpreters (memory).
workers = web_workers()
# One request at a time per process (gunicorn's sync worker): it takes the next connection from the
# kernel's accept queue only when it is free, so requests are answered first come, first served across
# processes, and no thread hands a request to another. Two threads per process (gthread) cost ~1.4 ms more
# CPU a request under load (8% fewer requests/s, p99 526 ms against 479 ms). Nginx in front (the only
# published port) reads whole bodies and buffers answers, so a slow client never holds a process; the one
# slow thing a request can do itself, fetch an image URL, is bounded across the host's processes
# (SIGHTLINE_URL_FETCH_SYNC_CONCURRENCY). SIGHTLINE_WEB_THREADS above 1 makes gunicorn use gthread.
threads = web_threads()
worker_class = web_worker_class()
# A threaded process takes no more connections than it has threads, so requests beyond them wait in the
# kernel's accept queue, which every process takes from in turn: first come, first served across processes.
worker_connections = env_int("SIGHTLINE_WEB_CONNECTIONS", threads)
# No keep-alive (sync workers keep none anyway): a kept connection stays with one process. Behind nginx
# nothing is lost: nginx keeps the client's connection, and opens one to gunicorn per request anyway
# (proxy_pass to a variable keeps no upstream pool).
keepalive = env_int("SIGHTLINE_WEB_KEEPALIVE", 0)
backlog = env_int("SIGHTLINE_WEB_BACKLOG", 2048)
# A worker silent for this long is stuck and is restarted. A sync worker is silent for the whole of each
# request, so its limit is the longest request's (storing a 2 GiB archive upload; nginx gives up on an answer
# after 120 s, and the process still finishes its writes); a threaded worker's main loop speaks between them.
# (gunicorn runs gthread whenever threads > 1, whatever the class says.)
timeout = env_int("SIGHTLINE_WEB_TIMEOUT", 300 if worker_class == "sync" and threads == 1 else 60)
graceful_timeout = env_int("SIGHTLINE_WEB_GRACEFUL_TIMEOUT", 30)
loglevel = env_str("SIGHTLINE_WEB_LOG_LEVEL", "info")
accesslog = env_str("SIGHTLINE_WEB_ACCESS_LOG", "") or None

# The web tier's interpreters use the cores (up to 4) unless the environment says otherwise: a request
# alone on the machine gets its answer in half the time with two threads, and under load the extra thread
# cost nothing measurable (requests/s and CPU per request within noise; docs/serving.md). Exported before
# the workers load Django and the models (classifier.ml.predictor), with the tier's size, which settings'
# defaults follow (webapp.limits_settings).
INTERPRETER_THREADS = env_int("SIGHTLINE_INTERPRETER_THREADS", max(1, min(os.cpu_count() or 1, 4)))
os.environ["SIGHTLINE_INTERPRETER_THREADS"] = str(INTERPRETER_THREADS)
os.environ["SIGHTLINE_WEB_WORKERS"] = str(workers)
os.environ["SIGHTLINE_WEB_THREADS"] = str(threads)
