"""Ingestion benchmark (issue 4, Performance): inbox.ingest.ingest end to end against a raw batched
INSERT ... ON CONFLICT DO NOTHING of the same rows into inbox_message, in the same run.

    createdb -h 127.0.0.1 -U postgres cd_bench_ingest   # once; the script migrates it itself
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cd_bench_ingest .venv/bin/python -m bench.ingest [--items 50000] [--batch 1000]

Each run makes its own organisation, so runs do not see each other's rows. The items are what a busy channel
brings: mentions that start threads, replies into earlier threads and under our own posts, and direct messages,
from a pool of people who write more than once, with the text length of real posts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smm.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import Department  # noqa: E402
from audit.context import ActionContext, acting  # noqa: E402
from channels_app import services as channel_services  # noqa: E402
from channels_app.connectors.base import InboundItem  # noqa: E402
from inbox.ingest import ingest  # noqa: E402
from inbox.models import Message, RiskKeyword  # noqa: E402
from inbox.tone import assess, keyword_pattern  # noqa: E402

PHRASES = [
    "the bins on {street} were not collected again", "there is a pothole outside {n} {street}",
    "streetlight out on {street} for a week now", "fly-tipping behind the shops on {street}",
    "when is the tip open this weekend?", "thank you for fixing the lights on {street}, brilliant work",
    "this is the third time I've reported this, absolutely useless", "urgent: water pouring out of a drain on {street}",
    "who do I speak to about a parking permit?", "my council tax bill is wrong and nobody answers the phone",
]  # fmt: skip
STREETS = ["Elm Road", "Mill Lane", "Station Road", "High Street", "Church Walk", "Victoria Avenue", "Park Lane"]


def make_items(n: int, seed: int = 4) -> list[InboundItem]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    people = max(10, n // 8)
    our_posts = [f"post-{i}" for i in range(max(5, n // 2000))]
    threads: list[str] = []
    items = []
    for i in range(n):
        author = f"user-{rng.randrange(people)}"
        text = "@council " + rng.choice(PHRASES).format(street=rng.choice(STREETS), n=rng.randrange(1, 200))
        at = start + timedelta(milliseconds=i * 700)
        roll = rng.random()
        if roll < 0.35 or not threads:
            kind, key, parent = "mention", f"x{i}", ""
            threads.append(key)
        elif roll < 0.60:
            key = rng.choice(threads[-500:])
            kind, parent = "reply", key
        elif roll < 0.80:
            key = rng.choice(our_posts)
            kind, parent = "reply", key
        else:
            kind, key, parent = "dm", f"dm-{author}", ""
        items.append(InboundItem(
            platform_id=f"x{i}", kind=kind, text=text, created_at=at, author_id=author, author_handle=f"@{author}",
            author_name=author.replace("-", " ").title(), author_avatar_url=f"https://img.example/{author}.png",
            conversation_key=key, in_reply_to_id=parent, url=f"https://x.com/{author}/status/{i}",
        ))  # fmt: skip
    return items


def setup_channels():
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    with acting(ActionContext(system_actor="system: bench")):
        organisation = account_services.organisation_create(
            name=f"Bench {stamp}", slug=f"bench-ingest-{stamp}", department_names=["Customer Services"]
        )
    department = Department.objects.get(organisation=organisation)
    RiskKeyword.objects.bulk_create(
        [RiskKeyword(organisation=organisation, phrase=p) for p in ("urgent", "threat", "self-harm")]
    )
    channels = [
        channel_services.channel_connect(actor=None, department=department, platform="x", account_id=f"{stamp}-{name}",
                                         handle=f"@{name}", credentials={"access_token": "bench"})
        for name in ("ingest", "raw")
    ]  # fmt: skip
    return organisation, channels


def raw_insert(organisation_id: int, channel_id: int, items: list[InboundItem], batch: int) -> tuple[float, float]:
    """The floor: the same rows straight into inbox_message, conversations and authors already known."""
    from psycopg2.extras import execute_values

    placement = dict(
        Message.objects.filter(organisation_id=organisation_id).values_list("platform_message_id", "conversation_id")
    )
    authors = dict(Message.objects.filter(organisation_id=organisation_id).values_list("platform_message_id", "author_id"))
    now = datetime.now(UTC)
    rows = [
        (organisation_id, channel_id, placement[i.platform_id], i.platform_id, "in", i.kind, i.text,
         authors[i.platform_id], i.in_reply_to_id, i.url, i.created_at, now, False)
        for i in items
    ]  # fmt: skip
    sql = (
        "INSERT INTO inbox_message (organisation_id, channel_id, conversation_id, platform_message_id, direction, kind,"
        " text, author_id, in_reply_to_id, url, created_at, received_at, flagged) VALUES %s"
        " ON CONFLICT (channel_id, platform_message_id) DO NOTHING"
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, len(rows), batch):
        with connection.cursor() as cursor:
            execute_values(cursor.cursor, sql, rows[offset : offset + batch], page_size=batch)
    return time.perf_counter() - started, time.process_time() - cpu_started


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend, when the server runs on this host and its
    /proc is readable (else NaN). With the process's own CPU it gives a figure that other load on a shared machine
    hardly moves, unlike wall time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument(
        "--unique-texts", action="store_true", help="make every text distinct (no two items share a tone score)"
    )
    args = parser.parse_args(argv)
    if connection.vendor != "postgresql":
        print("Run this against PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    if not args.no_migrate:
        call_command("migrate", verbosity=0, interactive=False)
    organisation, (channel, raw_channel) = setup_channels()
    items = make_items(args.items)
    if args.unique_texts:
        items = [dataclasses.replace(i, text=f"{i.text} (ref {n})") for n, i in enumerate(items)]

    server_started = backend_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    created = duplicates = 0
    for offset in range(0, len(items), args.batch):
        result = ingest(channel, items[offset : offset + args.batch])
        created, duplicates = created + result.created, duplicates + result.duplicates
    ingest_seconds, ingest_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    ingest_server = backend_cpu() - server_started
    assert created == len(items), (created, duplicates)

    again = time.perf_counter()
    for offset in range(0, len(items), args.batch):
        ingest(channel, items[offset : offset + args.batch])
    replay_seconds = time.perf_counter() - again

    server_started = backend_cpu()
    raw_seconds, raw_cpu = raw_insert(organisation.pk, raw_channel.pk, items, args.batch)
    raw_server = backend_cpu() - server_started
    pattern = keyword_pattern(["urgent", "threat", "self-harm"])
    tone_started = time.perf_counter()
    for item in items:
        assess(item.text, pattern)
    tone_seconds = time.perf_counter() - tone_started

    conversations = channel.conversations.count()
    rate, raw_rate = len(items) / ingest_seconds, len(items) / raw_seconds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"items: {len(items)} in batches of {args.batch}; {conversations} conversations")
    print(f"ingest():            {ingest_seconds:8.2f} s  {rate:10,.0f} msg/s")
    print(f"  Python CPU:        {ingest_cpu:8.2f} s  (this process only; the rest is PostgreSQL and waiting)")
    print(f"  PostgreSQL CPU:    {ingest_server:8.2f} s  (its backend for this connection)")
    print(f"  of which tone:     {tone_seconds:8.2f} s  (VADER + keywords alone, measured separately)")
    print(f"ingest() replayed:   {replay_seconds:8.2f} s  {len(items) / replay_seconds:10,.0f} msg/s (all duplicates)")
    print(f"raw INSERT ON CONFLICT DO NOTHING: {raw_seconds:8.2f} s  {raw_rate:10,.0f} msg/s")
    print(f"  Python CPU:        {raw_cpu:8.2f} s;  PostgreSQL CPU: {raw_server:8.2f} s")
    print(f"load average at the end: {load:.2f} on {os.cpu_count()} CPUs")
    print(f"ratio raw/ingest: {raw_rate / rate:.2f}x  (target: ingest >= 5,000 msg/s)")
    ingest_total, raw_total = ingest_cpu + ingest_server, raw_cpu + raw_server
    print(f"CPU-seconds (Python + PostgreSQL): ingest {ingest_total:.2f} s = {len(items) / ingest_total:,.0f} msg per"
          f" CPU-s; raw {raw_total:.2f} s = {len(items) / raw_total:,.0f}; ratio {ingest_total / raw_total:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
