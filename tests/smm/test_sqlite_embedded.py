"""`make run` on SQLite (no DATABASE_URL): web, worker and beat write to one file. A transaction that reads
before it writes (ingest reads which messages are new, then inserts) must wait for another writer, not fail at
once with "database is locked" (SQLite refuses to upgrade a deferred transaction's read lock while another
connection writes, whatever the busy timeout). Each case starts a fresh Python that loads the settings as
`make run` does, and runs two such transactions at once in two threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import threading, time
import django
django.setup()
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS contention (n integer)")
connection.close()
writing = threading.Event()
errors = []

def first():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO contention VALUES (1)")
            writing.set()
            time.sleep(1)  # holds the write lock a while, as a poll's batch would
    connection.close()

def second():
    writing.wait()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM contention")  # reads first ...
                cursor.execute("INSERT INTO contention VALUES (2)")  # ... then writes
    except Exception as exc:
        errors.append(repr(exc))
    connection.close()

threads = [threading.Thread(target=first), threading.Thread(target=second)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM contention")
    print("rows", cursor.fetchone()[0], "errors", errors)
"""


def test_a_reading_then_writing_transaction_waits_for_another_writer(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VAR_DIR")}
    environment.update(DJANGO_SETTINGS_MODULE="smm.settings", DEBUG="1", VAR_DIR=str(tmp_path / "var"),
                       DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.sqlite3'}")

    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "rows 2 errors []", result.stdout
