"""Grading beyond one machine: a job queue (RQ on Redis) and a `dockyard worker` on every Docker host.

- jobs.py: a job is data (exercise id, rubric version, the submission as a bounded tarball), built
  by the sender and checked again by the worker before anything of it is used;
- worker.py: `dockyard worker` grades each job with the host's own engine (so the sandbox, probes,
  egress firewall and disk checks stay local), preflights that engine, and runs nothing but
  `grade_job`;
- client.py: enqueue and attach (`dockyard batch --queue`, `dockyard grade --queue`).

Redis URLs: redis://[user:password@]HOST:PORT/DB, rediss:// (TLS), unix:///path/redis.sock.
"""

from __future__ import annotations

from dockyard.errors import UsageError

QUEUE_NAME = "dockyard-grading"
SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_RESULT_TTL_S = 7 * 24 * 3600  # a finished Report stays this long (a week: a class's regrade window)


def check_url(url: str) -> str:
    if not url or not url.startswith(SCHEMES):
        raise UsageError(f"--queue {url!r}: not a Redis URL",
                         hint="use redis://HOST:PORT/DB, rediss://user:password@HOST:PORT/DB (TLS) or unix:///path")
    return url


def connect(url: str):
    """A Redis connection that answers, or a UsageError naming the URL (without its password)."""
    import redis

    check_url(url)
    connection = redis.Redis.from_url(url, socket_connect_timeout=10, health_check_interval=30)
    try:
        connection.ping()
    except redis.exceptions.RedisError as exc:
        raise UsageError(f"no Redis answers at {redacted(url)}: {str(exc).splitlines()[0][:160]}",
                         hint="start redis-server there, or check the URL, password and TLS (rediss://)") from None
    return connection


def first_line(exc: Exception) -> str:
    """An exception from Redis as a log or message says it: its first line, bounded (its type when it is silent)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:160] if lines else type(exc).__name__


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        rest = f"{user}:***@{host}" if user else f"***@{host}"
    return f"{scheme}{sep}{rest}"


def queue(connection):
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
