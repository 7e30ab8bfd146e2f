"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi`.

Every value can be set from the environment (GUNICORN_*); a command-line flag such as
`--bind 0.0.0.0:8000` or `--workers 4` still wins over this file.
"""

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer.") from None


# Processes: the usual 2 x cores + 1, capped so a big host does not open dozens of DB connections.
workers = _int("GUNICORN_WORKERS", min(2 * (os.cpu_count() or 1) + 1, 9))
# Threads per process (gthread worker): a slow upload or a long export download holds a thread,
# not a whole process.
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
# A bulk CSV upload of hundreds of MB over a plant network takes minutes: 300 s before a stuck
# worker is killed, then 30 s for requests in flight to finish on a restart.
timeout = _int("GUNICORN_TIMEOUT", 300)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)

bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
# The reverse proxy that terminates HTTPS and sets X-Forwarded-Proto (see SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Requests: a long query string (filters, cursors) fits; a header flood does not.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)

# Logs to stdout/stderr, for systemd's journal or the container's log.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")

# Heartbeat files in memory: a slow or full disk does not make workers look dead.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
