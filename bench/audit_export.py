"""Audit export benchmark (issue 6, Performance: export streams at least 20,000 events per second, and a
million events export in constant memory).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cd_bench_audit .venv/bin/python -m bench.audit_export [--verify]

Two organisations, one with 100,000 audit events and one with 1,000,000, are loaded once with COPY straight
into audit_auditevent, with valid chain hashes computed in Python (audit/chain.py) and the chain heads and a
signed checkpoint set, so a full export verifies. Each export then runs through the whole stack: Django's test
Client signed in as the organisation's admin, GET /audit/export.jsonl and .csv, reading the streamed content
piece by piece and keeping only a byte count. Speed is timed without tracing; memory is a second run under
tracemalloc (peak of Python allocations during the request and the stream). `--verify` writes the 1,000,000
event JSON Lines export to a temporary file and times scripts/verify_audit_export.py on it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import machine, migrate, setup_django

SIZES = {"bench-audit-100k": 100_000, "bench-audit-1m": 1_000_000}
BATCH = 50_000
EVENT_TYPES = ["post.created", "post.edited", "post.approved", "conversation.assigned", "reply.sent"]


def _organisation(slug: str):
    from accounts import services
    from accounts.models import Department, Membership, Organisation, User
    from audit.context import ActionContext, acting

    organisation = Organisation.objects.filter(slug=slug).first()
    with acting(ActionContext(system_actor="system: bench")):
        if organisation is None:
            organisation = services.organisation_create(
                name=f"Bench {slug}", slug=slug, two_factor_policy="optional",
                department_names=["Communications", "Customer Services"],
            )
        email = f"admin@{slug}.example"
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, "bench password 42 x")
        membership = Membership.objects.filter(organisation=organisation, user=user).first() or services.member_add(
            organisation=organisation, user=user, role="admin", departments=[]
        )
    departments = list(Department.objects.filter(organisation=organisation).values_list("id", flat=True))
    return organisation, membership, departments


def _cell(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load(slug: str, size: int) -> None:
    """Append events until the organisation's chain holds `size` of them, with valid hashes."""
    from django.db import connection, transaction

    from audit import chain
    from audit.models import AuditChainHead
    from audit.services import checkpoints_write

    organisation, membership, departments = _organisation(slug)
    head = AuditChainHead.objects.get(organisation=organisation)
    if head.sequence >= size:
        return
    print(f"loading {size - head.sequence:,} events into {slug} ...", flush=True)
    started = time.perf_counter()
    columns = ["organisation_id", "department_id", "occurred_at", "actor_id", "actor_label", "event_type",
               "target_type", "target_id", "target_repr", "changes", "request_id", "ip", "user_agent",
               "sequence", "prev_hash", "hash"]
    sequence, prev_hash = head.sequence, head.head_hash
    at = datetime(2025, 1, 1, tzinfo=UTC)
    label = membership.user.label
    while sequence < size:
        buffer = io.StringIO()
        for _ in range(min(BATCH, size - sequence)):
            sequence += 1
            at += timedelta(seconds=7, microseconds=123)
            fields = {
                "organisation_id": organisation.pk,
                "department_id": departments[sequence % len(departments)],
                "occurred_at": at,
                "actor_id": membership.user_id,
                "actor_label": label,
                "event_type": EVENT_TYPES[sequence % len(EVENT_TYPES)],
                "target_type": "approvals.post",
                "target_id": str(sequence // 7),
                "target_repr": f"Bin collections over the holidays – part {sequence // 7}",
                "changes": {"status": {"from": "draft", "to": "approved"}, "body": "Bins go out on Friday."},
                "request_id": f"{sequence:032x}",
                "ip": "192.0.2.10",
                "user_agent": "Mozilla/5.0 (bench)",
                "sequence": sequence,
                "prev_hash": prev_hash,
            }
            fields["hash"] = prev_hash = chain.event_hash(fields)
            row = dict(fields, occurred_at=chain.format_time(at), changes=json.dumps(fields["changes"]))
            buffer.write("\t".join(_cell(row[c]) for c in columns))
            buffer.write("\n")
        buffer.seek(0)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN", buffer)
            AuditChainHead.objects.filter(pk=head.pk).update(sequence=sequence, head_hash=prev_hash)
        print(f"  {sequence:,}", flush=True)
    with transaction.atomic():
        checkpoints_write()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_auditevent")
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _client(slug: str):
    from django.test import Client

    organisation, membership, _ = _organisation(slug)
    client = Client()
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["organisation_id"] = organisation.pk
    session.save()
    return client


def export_once(client, fmt: str, sink=None) -> tuple[int, int, float]:
    """(events, bytes, seconds) for one export, reading the stream piece by piece."""
    started = time.perf_counter()
    response = client.get(f"/audit/export.{fmt}")
    assert response.status_code == 200, response.status_code
    size = 0
    last = b""
    for piece in response.streaming_content:
        size += len(piece)
        last = piece
        if sink is not None:
            sink.write(piece)
    seconds = time.perf_counter() - started
    tail = last.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode()
    trailer = json.loads(tail) if fmt == "jsonl" else json.loads(next(iter(__import__("csv").reader([tail])))[1])
    return trailer["count"], size, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verify", action="store_true", help="also time the offline verifier on the 1M JSONL export")
    parser.add_argument("--only", choices=sorted(SIZES), help="one organisation only")
    args = parser.parse_args()
    setup_django(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/cd_bench_audit")
    migrate()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    slugs = [args.only] if args.only else list(SIZES)
    for slug in slugs:
        load(slug, SIZES[slug])
    print(machine())
    print(f"{'export':<26} {'events':>10} {'MB':>8} {'seconds':>8} {'events/s':>10} {'peak MB (tracemalloc)':>22}")
    for slug in slugs:
        client = _client(slug)
        for fmt in ("jsonl", "csv"):
            count, size, seconds = export_once(client, fmt)
            tracemalloc.start()
            export_once(client, fmt)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"{slug + ' ' + fmt:<26} {count:>10,} {size / 1e6:>8.1f} {seconds:>8.2f} {count / seconds:>10,.0f}"
                  f" {peak / 1e6:>22.1f}", flush=True)
    import resource

    print(f"process max RSS over the whole run (loading included): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.verify:
        slug = "bench-audit-1m" if "bench-audit-1m" in slugs else slugs[0]
        with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as sink:
            export_once(_client(slug), "jsonl", sink)
        script = Path(__file__).resolve().parent.parent / "scripts" / "verify_audit_export.py"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-I", str(script), sink.name, "--key", settings.AUDIT_CHECKPOINT_KEY],
            capture_output=True, text=True,
        )
        print(f"verify_audit_export.py on {slug} JSONL: exit {result.returncode} in {time.perf_counter() - started:.1f} s")
        print(result.stdout or result.stderr)
        os.unlink(sink.name)


if __name__ == "__main__":
    main()
