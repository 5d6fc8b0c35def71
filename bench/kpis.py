"""KPI benchmark: the overview for the largest organisation over 90 days, and the rollups absorbing a day.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cd_bench_kpi .venv/bin/python -m bench.kpis [--scale 1]

Uses the inbox benchmark's data set (bench/common.py: 1,000,000 messages, half in bench-00), in its own
database. Steps:

1. the full rollup build (metrics.rollups.rebuild) of every organisation, once (again with --rebuild);
2. (a) the overview of bench-00 over the last 90 days, `--requests` times after a warm-up, p50/p95: through
   metrics.kpis.overview directly, the API /api/v1/kpis/overview/ and the HTML page /dashboards/ (test Client,
   signed in as bench-00's admin, the whole Django stack), each cold (cache emptied first: the first request
   after a rollup run) and warm (the period's response times from the cache). Target p95 ≤ 100 ms;
3. (b) a day of 100,000 new messages for bench-00 written as ingest and replies leave them (new
   conversations, follow-ups and replies in existing ones, conversations' updated_at bumped, closed ones
   reopened), then metrics.rollups.refresh for that organisation, timed. Target ≤ 5 s. Each run adds another
   day (skip with --no-day).
`--explain` prints EXPLAIN ANALYZE of the slowest query of a request over target.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench import common

OVERVIEW_TARGET_MS = 100.0
REFRESH_TARGET_S = 5.0
DAY_MESSAGES = 100_000


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(force: bool) -> None:
    from accounts.models import Organisation
    from metrics import rollups
    from metrics.models import RollupCursor

    org_ids = list(Organisation.objects.filter(slug__startswith="bench-").order_by("pk").values_list("pk", flat=True))
    if not force and RollupCursor.objects.filter(organisation_id__in=org_ids).count() == len(org_ids):
        print("Rollups already built (--rebuild to build them again).", flush=True)
        _vacuum()
        return
    started, cpu = time.perf_counter(), time.process_time()
    for org_id in org_ids:
        t0 = time.perf_counter()
        result = rollups.rebuild(org_id)
        print(f"  rebuild organisation {org_id}: {result.conversations:,} conversations, {result.days} days, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    print(f"Full rollup build: {time.perf_counter() - started:.1f} s wall, {time.process_time() - cpu:.1f} s CPU "
          f"(Python); {_load()}", flush=True)
    _vacuum()


def _vacuum() -> None:
    """As autovacuum soon would after a bulk write: statistics, and the visibility map index-only scans need."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE metrics_responsefact, metrics_contactdaily, metrics_agentdaily")


def _explain(captured) -> None:
    from django.db import connection

    reads = [q for q in captured if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    slowest = max(reads, key=lambda q: float(q["time"]))
    print(f"\n--- slowest query {float(slowest['time']) * 1000:.1f} ms\n{slowest['sql']}\n", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        print("\n".join(row[0] for row in cursor.fetchall()), flush=True)


def _measure(name: str, call, n: int, explain: bool) -> common.Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    samples, cpu_ms = common.time_calls_cpu(call, n)
    with CaptureQueriesContext(connection) as captured:
        call()
    timing = common.Timing(name, samples, queries=len(captured.captured_queries), cpu_ms=cpu_ms)
    print(f"  {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms, CPU {cpu_ms:.1f} ms, "
          f"{timing.queries} queries; {_load()}", flush=True)
    if explain and timing.p95 > OVERVIEW_TARGET_MS:
        _explain(captured.captured_queries)
    return timing


def overview(n: int, explain: bool) -> list[common.Timing]:
    from django.conf import settings
    from django.core.cache import cache
    from django.http import QueryDict
    from django.urls import Resolver404, resolve
    from django.utils import timezone

    from bench.inbox_list import _client_for
    from metrics import kpis
    from metrics.rollups import zone_of

    client, admin = _client_for(f"admin@{common.BIG_ORG_SLUG}.example")
    today = timezone.now().astimezone(zone_of(admin.organisation_id)).date()
    params = {"from": (today - timedelta(days=89)).isoformat(), "to": today.isoformat()}
    f = kpis.kpi_filter(admin, QueryDict("&".join(f"{k}={v}" for k, v in params.items())))
    print(f"Overview of {common.BIG_ORG_SLUG}, {f.start} to {f.end} (90 days), {n} requests each; cold: the "
          f"cache emptied before each request (the first request after a rollup run), warm: served from it "
          f"(cache backend {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}):", flush=True)

    def cold(call):
        def first_after_a_run():
            cache.clear()
            call()
        return first_after_a_run

    def get(url):
        def call():
            response = client.get(url, params)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return call

    cases = [("metrics.kpis.overview (with previous period)", lambda: kpis.overview(f))]
    for name, url in [("API /api/v1/kpis/overview/", "/api/v1/kpis/overview/"), ("HTML /dashboards/", "/dashboards/")]:
        try:
            resolve(url)
        except Resolver404:
            print(f"  {name}: no such route yet, skipped", flush=True)
            continue
        cases.append((name, get(url)))
    timings = []
    for name, call in cases:
        timings.append(_measure(f"{name}, cold", cold(call), n, explain))
        timings.append(_measure(f"{name}, warm", call, n, explain))
    return timings


def add_day(org_slug: str, total: int = DAY_MESSAGES, seed: int | None = None) -> dict:
    """A day of `total` new messages for one organisation, written with COPY as ingest and replies leave them.

    Half start new conversations (two inbound messages each), half go to existing conversations (a follow-up
    from the public and an agent's reply each); every touched conversation gets updated_at = now, closed ones
    are reopened (new inbound reopens), unanswered ones get their first response.
    """
    from django.db import connection, transaction

    from accounts.models import Membership, Organisation
    from channels_app.models import Channel
    from inbox.models import Contact, Conversation

    rng = random.Random(seed if seed is not None else time.time_ns())
    org = Organisation.objects.get(slug=org_slug)
    channels = list(Channel.objects.filter(organisation=org).values_list("pk", "department_id", "platform"))
    agents = list(Membership.objects.filter(organisation=org, role="agent").values_list("user_id", flat=True))
    contacts = {}
    for pk, platform in Contact.objects.filter(organisation=org).values_list("pk", "platform")[:20000]:
        contacts.setdefault(platform, []).append(pk)
    now = datetime.now(UTC).replace(microsecond=0)
    token = now.strftime("%Y%m%d%H%M%S")
    new_conversations = total // 4  # 2 messages each: half of the day
    existing = total // 4  # 1 inbound + 1 reply each: the other half
    sample = list(Conversation.objects.filter(organisation=org).order_by("?").values_list(
        "pk", "channel_id", "status", "first_responded_at")[:existing])
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        ids = {t: common._next_id(cursor, t) for t in ("inbox_conversation", "inbox_message")}
        conversations, messages, reopened, answered, touched = [], [], [], [], []
        for n in range(new_conversations):
            channel_id, department_id, platform = rng.choice(channels)
            conversation_id = common._take(ids, "inbox_conversation")
            contact_id = rng.choice(contacts[platform])
            first = now - timedelta(seconds=rng.randint(600, 86_400))
            second = first + timedelta(seconds=rng.randint(1, 300))
            for at in (first, second):
                message_id = common._take(ids, "inbox_message")
                messages.append((message_id, org.pk, channel_id, conversation_id, f"d{token}-{message_id}", "in",
                                 "mention", common._inbound_text(rng), contact_id, None, "", "", at, now, 0.0, False))
            conversations.append((
                conversation_id, org.pk, channel_id, department_id, platform, "public", f"d{token}-{n}", contact_id,
                "open", None, 1, False, 0.0, "[]", first, first, second, second, "", 2,
                first + timedelta(hours=1), None, first + timedelta(hours=8), None, None, first, now,
            ))
        agent_cycle = iter(rng.choices(agents, k=len(sample)))
        for conversation_id, channel_id, status, first_responded_at in sample:
            asked = now - timedelta(seconds=rng.randint(3_600, 86_400))
            replied = asked + timedelta(seconds=rng.randint(60, 3_000))
            for at, direction in ((asked, "in"), (replied, "out")):
                message_id = common._take(ids, "inbox_message")
                messages.append((message_id, org.pk, channel_id, conversation_id, f"d{token}-{message_id}", direction,
                                 "reply" if direction == "out" else "mention", "Any update?" if direction == "in"
                                 else "Thanks, we're on it.", None, next(agent_cycle) if direction == "out" else None,
                                 "", "", at, now, 0.0, False))
            touched.append(conversation_id)
            if status == "closed":
                reopened.append(conversation_id)
            if first_responded_at is None:
                answered.append((conversation_id, replied))
        common._copy(cursor, "inbox_conversation", common.CONVERSATION_COLUMNS, conversations)
        common._copy(cursor, "inbox_message", common.MESSAGE_COLUMNS, messages)
        cursor.execute("UPDATE inbox_conversation SET updated_at = %s, last_message_at = %s, "
                       "message_count = message_count + 2 WHERE id = ANY(%s)", [now, now, touched])
        cursor.execute("UPDATE inbox_conversation SET status = 'open' WHERE id = ANY(%s)", [reopened])
        if answered:
            cursor.execute("UPDATE inbox_conversation c SET first_responded_at = v.at FROM (SELECT unnest(%s::bigint[]) "
                           "AS id, unnest(%s::timestamptz[]) AS at) v WHERE c.id = v.id",
                           [[a for a, _ in answered], [b for _, b in answered]])
        for table_name in ("inbox_conversation", "inbox_message"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                           f"(SELECT max(id) FROM {table_name}))")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_message")
        cursor.execute("ANALYZE inbox_conversation")
    print(f"Added a day for {org_slug}: {len(messages):,} messages, {len(conversations):,} new conversations, "
          f"{len(touched):,} existing ones touched ({len(reopened):,} reopened) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"messages": len(messages), "new": len(conversations), "touched": len(touched), "reopened": len(reopened)}


def absorb_day(profile: bool) -> tuple[float, float, object]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Organisation
    from metrics import rollups

    org_id = Organisation.objects.get(slug=common.BIG_ORG_SLUG).pk
    # Steady state: beat keeps the rollups current (every minute), so they start up to date.
    rollups.refresh(org_id)
    add_day(common.BIG_ORG_SLUG)
    reset_queries()
    server, own = common.backend_cpu(), time.process_time()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            result = profiler.runcall(rollups.refresh, org_id)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        else:
            result = rollups.refresh(org_id)
    wall = time.perf_counter() - started
    cpu = (time.process_time() - own) + (common.backend_cpu() - server)
    slow = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:5]
    print(f"rollups.refresh({common.BIG_ORG_SLUG}): {wall:.2f} s wall, {cpu:.2f} s CPU (Python + PostgreSQL), "
          f"{len(captured.captured_queries)} queries, {result}; {_load()}", flush=True)
    for q in slow:
        print(f"    {float(q['time']) * 1000:7.0f} ms  {q['sql'][:160]}", flush=True)
    return wall, cpu, result


def reset_days() -> None:
    """Removes the days earlier runs added (their messages and new conversations) and rebuilds bench-00's rollups.

    Conversations those days touched keep their bumped updated_at and reopened status; the counts are the data
    set's again."""
    from django.db import connection

    from accounts.models import Organisation
    from metrics import rollups

    org_id = Organisation.objects.get(slug=common.BIG_ORG_SLUG).pk
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inbox_message WHERE organisation_id = %s AND platform_message_id LIKE 'd20%%'",
                       [org_id])
        messages = cursor.rowcount
        cursor.execute("DELETE FROM metrics_responsefact WHERE conversation_id IN (SELECT id FROM inbox_conversation "
                       "WHERE organisation_id = %s AND key LIKE 'd20%%')", [org_id])
        cursor.execute("DELETE FROM inbox_conversation WHERE organisation_id = %s AND key LIKE 'd20%%'", [org_id])
        print(f"Removed {messages:,} added messages and {cursor.rowcount:,} added conversations.", flush=True)
        # Conversations an earlier run touched in the last minutes would fall in the next refresh's overlap window
        # and be read again: (b) should measure one day's conversations, as beat (every minute) would meet them.
        cursor.execute("UPDATE inbox_conversation SET updated_at = updated_at - %s WHERE organisation_id = %s "
                       "AND updated_at > now() - %s", [2 * rollups.OVERLAP, org_id, 2 * rollups.OVERLAP])
        if cursor.rowcount:
            print(f"Moved {cursor.rowcount:,} recently touched conversations out of the overlap window.", flush=True)
    started = time.perf_counter()
    result = rollups.rebuild(org_id)
    print(f"Rebuilt {common.BIG_ORG_SLUG}: {result}, {time.perf_counter() - started:.1f} s; {_load()}", flush=True)
    _vacuum()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE inbox_message, inbox_conversation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="build the rollups again from scratch")
    parser.add_argument("--no-day", action="store_true", help="skip (b), the day of 100,000 new messages")
    parser.add_argument("--no-overview", action="store_true", help="skip (a), the overview timings")
    parser.add_argument("--profile", action="store_true", help="cProfile the refresh of (b)")
    parser.add_argument("--reset", action="store_true", help="remove the days earlier runs added first")
    args = parser.parse_args()

    url = common.setup_django()
    print(f"Database: {url}", flush=True)
    common.migrate()
    loaded = common.ensure_dataset(args.scale)
    # Django's debug cursor keeps queries only under CaptureQueriesContext, as in the other benchmarks.
    build(args.rebuild)
    if args.reset:
        reset_days()
    timings = [] if args.no_overview else overview(args.requests, args.explain)
    day = None if args.no_day else absorb_day(args.profile)
    print(f"\nMachine: {common.machine()}; {_load()}")
    print(f"Data set: scale {args.scale}: {loaded['conversations']:,} conversations, {loaded['messages']:,} messages\n")
    if timings:
        print(common.table(timings, OVERVIEW_TARGET_MS))
    if day:
        wall, cpu, result = day
        verdict = "ok" if wall <= REFRESH_TARGET_S else f"over {REFRESH_TARGET_S:g} s"
        print(f"\n| Rollups absorb a day of {DAY_MESSAGES:,} messages | {wall:.2f} s wall | {cpu:.2f} s CPU | "
              f"{result.conversations:,} conversations, {result.days} days | {verdict} |")


if __name__ == "__main__":
    main()
