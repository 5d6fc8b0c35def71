"""Before the tests: PostgreSQL and Redis must answer. Stops at once, naming which is down and how to start it."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse


def check_postgres(url: str) -> str | None:
    import psycopg2

    if not url.startswith(("postgres://", "postgresql://")):
        return f"DATABASE_URL must point at PostgreSQL for the tests (got {url.split(':')[0]}:…); they never use SQLite."
    parsed = urlparse(url)
    try:
        conn = psycopg2.connect(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password or None,
            dbname="postgres",
            connect_timeout=3,
        )
        conn.close()
    except psycopg2.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return (
            f"PostgreSQL is not reachable at {parsed.hostname}:{parsed.port or 5432} ({first_line}).\n"
            "  Start it, e.g.: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
            "  or: docker compose up -d postgres   (or set DATABASE_URL to a PostgreSQL you have)"
        )
    return None


def _without_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def check_redis(url: str, variable: str = "REDIS_URL") -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        return (
            f"Redis is not reachable at {_without_password(url)} ({variable}; {exc}).\n"
            "  Start it, e.g.: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no\n"
            f"  or: docker compose up -d redis   (or set {variable} to a Redis you have)"
        )
    return None


def main() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    checks = [
        check_postgres(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civicdesk")),
        check_redis(redis_url),
    ]
    # make test uses CELERY_BROKER_URL when set (else REDIS_URL); a separate Redis broker must answer too.
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if broker_url and broker_url != redis_url and broker_url.startswith(("redis://", "rediss://")):
        checks.append(check_redis(broker_url, "CELERY_BROKER_URL"))
    problems = [p for p in checks if p]
    for problem in problems:
        print(f"make test: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
