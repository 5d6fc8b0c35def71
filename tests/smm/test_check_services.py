"""scripts/check_services.py, run by `make test` first: it stops at once, naming what is down and how to start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_services.py"
DOWN_DATABASE = "postgres://postgres@127.0.0.1:1/civicdesk"
DOWN_REDIS = "redis://127.0.0.1:1/0"


def run_check(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    environment.update(env)
    return subprocess.run([sys.executable, str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60)


def test_both_down_exits_1_naming_postgresql_and_redis_and_how_to_start_them():
    result = run_check(DATABASE_URL=DOWN_DATABASE, REDIS_URL=DOWN_REDIS)

    assert result.returncode == 1
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "pg_ctlcluster" in result.stderr and "docker compose up -d postgres" in result.stderr
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in result.stderr
    assert "redis-server --daemonize yes" in result.stderr and "docker compose up -d redis" in result.stderr


def test_both_up_exits_0_quietly():
    result = run_check(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civicdesk"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_sqlite_is_refused():
    result = run_check(DATABASE_URL="sqlite:///tmp/x.sqlite3", REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    assert result.returncode == 1
    assert "never use SQLite" in result.stderr


def test_a_separate_redis_broker_is_checked_too():
    result = run_check(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civicdesk"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        CELERY_BROKER_URL="redis://127.0.0.1:1/3",
    )

    assert result.returncode == 1
    assert "CELERY_BROKER_URL" in result.stderr
    assert "Redis is not reachable at redis://127.0.0.1:1/3" in result.stderr


def test_a_broker_that_is_not_redis_is_left_to_the_tests():
    result = run_check(
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civicdesk"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        CELERY_BROKER_URL="filesystem://",
    )
    assert result.returncode == 0
