"""Inbox list benchmark: server time of the conversation list (API and page), detail and messages.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cd_bench .venv/bin/python -m bench.inbox_list [--scale 1]

Loads the issue's data set into its own database once (bench/common.py), then times requests in-process
through the whole Django stack (middleware, session auth, DRF, serialisation, template rendering) with the
test Client, signed in as a member of the largest organisation (half the data). Each request is timed
end to end, `--requests` times after a warm-up; p50 and p95 are reported. `--explain` prints EXPLAIN
ANALYZE of the slowest query of every request that misses the target.
"""

from __future__ import annotations

import argparse
import random
import time

from bench import common

TARGET_MS = 30.0


def _client_for(email: str):
    from django.conf import settings
    from django.test import Client

    from accounts.models import Membership

    if "testserver" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    membership = Membership.objects.select_related("user").get(user__email=email)
    client = Client()
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["organisation_id"] = membership.organisation_id
    session.save()
    return client, membership


def _deep_url(client, url: str, params: dict, pages: int) -> str | None:
    """Follows `next` links `pages` times; the URL of the page after that."""
    response = client.get(url, params)
    next_url = response.json()["next"]
    for _ in range(pages - 1):
        if not next_url:
            return None
        next_url = client.get(next_url).json()["next"]
    return next_url


def _measure(client, name: str, url_or_urls, params: dict | None, n: int, explain: bool) -> common.Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    urls = url_or_urls if isinstance(url_or_urls, list) else [url_or_urls]
    counter = iter(range(10**9))

    def call():
        url = urls[next(counter) % len(urls)]
        response = client.get(url, params or {})
        assert response.status_code == 200, (name, url, response.status_code, response.content[:300])
        return response

    samples, cpu_ms = common.time_calls_cpu(call, n)
    with CaptureQueriesContext(connection) as captured:
        call()
    timing = common.Timing(name, samples, queries=len(captured.captured_queries), cpu_ms=cpu_ms)
    if explain and timing.p95 > TARGET_MS:
        # Only reads can be explained (a session save's COMMIT may be the slowest statement).
        reads = [q for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
        slowest = max(reads, key=lambda q: float(q["time"]))
        print(f"\n--- {name}: slowest query {float(slowest['time']) * 1000:.1f} ms\n{slowest['sql']}\n", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()), flush=True)
    print(f"  {name}: p50 {timing.p50:.1f} ms, p95 {timing.p95:.1f} ms, CPU {cpu_ms:.1f} ms, {timing.queries} queries",
          flush=True)
    return timing


def run(n: int, explain: bool, only: str = "") -> list[common.Timing]:
    from django.urls import NoReverseMatch, reverse

    from inbox.models import Conversation, Tag

    admin_client, admin = _client_for(f"admin@{common.BIG_ORG_SLUG}.example")
    agent_client, agent = _client_for(f"agent0@{common.BIG_ORG_SLUG}.example")
    org_id = admin.organisation_id
    api = "/api/v1/conversations/"
    tag = Tag.objects.filter(organisation_id=org_id, name="Potholes").first()
    total = Conversation.objects.filter(organisation_id=org_id).count()
    print(f"Largest organisation: {total:,} conversations. {n} requests each.", flush=True)

    cases: list[tuple[str, object, str, dict | None]] = [
        # name, client, url, params
        ("API list, first page (open, oldest waiting)", admin_client, api, {}),
        ("API list, first page, newest", admin_client, api, {"sort": "newest"}),
        ("API list, first page, all statuses", admin_client, api, {"status": "all"}),
        ("API list, status=pending", admin_client, api, {"status": "pending"}),
        ("API list, assignee=unassigned", admin_client, api, {"assignee": "unassigned"}),
        ("API list, assignee=me (agent)", agent_client, api, {"assignee": "me"}),
        ("API list, platform=mastodon", admin_client, api, {"platform": "mastodon"}),
        ("API list, flagged=true", admin_client, api, {"flagged": "true"}),
        ("API list, overdue=true", admin_client, api, {"overdue": "true"}),
        ("API list, priority=urgent", admin_client, api, {"priority": "urgent"}),
        ("API list, tag=Potholes", admin_client, api, {"tag": tag.pk}),
        ("API list, q=pothole (common word)", admin_client, api, {"q": "pothole"}),
        ("API list, q=wisteria (rarer word)", admin_client, api, {"q": "wisteria"}),
        ("API list, q=marple (contact name)", admin_client, api, {"q": "marple"}),
        # The page's own work for a search, without the status counts (the HTML page shows none while searching).
        ("API list, q=pothole without counts", admin_client, api, {"q": "pothole", "counts": "false"}),
        ("API list, q=wisteria without counts", admin_client, api, {"q": "wisteria", "counts": "false"}),
        ("API list, agent (one department), first page", agent_client, api, {}),
        ("API list, first page without counts", admin_client, api, {"counts": "false"}),
    ]
    deep = [
        ("API list, page 51 (open, oldest waiting)", admin_client, api, {}),
        ("API list, page 51, newest", admin_client, api, {"sort": "newest"}),
        ("API list, page 51, assignee=unassigned", admin_client, api, {"assignee": "unassigned"}),
        ("API list, page 51, platform=mastodon", admin_client, api, {"platform": "mastodon"}),
        ("API list, page 51, q=pothole", admin_client, api, {"q": "pothole", "counts": "false"}),
    ]
    try:
        page = reverse("inbox:list")
    except NoReverseMatch:
        page = None

    timings = []
    for name, client, url, params in cases:
        if only and only not in name:
            continue
        timings.append(_measure(client, name, url, params, n, explain))
    for name, client, url, params in deep:
        if only and only not in name:
            continue
        deep_url = _deep_url(client, url, params, 51)
        if deep_url is None:
            print(f"  {name}: fewer than 51 pages, skipped", flush=True)
            continue
        timings.append(_measure(client, name, deep_url, None, n, explain))
    if page:
        for name, params in [
            ("HTML /inbox/, first page", {}),
            ("HTML /inbox/, assignee=unassigned", {"assignee": "unassigned"}),
            ("HTML /inbox/, q=pothole", {"q": "pothole"}),
        ]:
            if not only or only in name:
                timings.append(_measure(admin_client, name, page, params, n, explain))
        name = "HTML /inbox/, page 51"
        deep_url = _deep_url(admin_client, api, {}, 51) if not only or only in name else None
        cursor = deep_url.split("cursor=", 1)[1].split("&", 1)[0] if deep_url else None
        if cursor:
            timings.append(_measure(admin_client, name, page, {"cursor": cursor}, n, explain))
    rng = random.Random(7)
    ids = list(Conversation.objects.filter(organisation_id=org_id).values_list("id", flat=True)[:: max(1, total // 500)])
    sample = [f"{api}{pk}/" for pk in rng.sample(ids, min(50, len(ids)))]
    if not only or "detail" in only:
        timings.append(_measure(admin_client, "API detail (50 different conversations)", sample, None, n, explain))
        timings.append(
            _measure(admin_client, "API messages (50 different conversations)", [u + "messages/" for u in sample],
                     None, n, explain)
        )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = the issue's data set; 0.1 for a quick run")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest query of slow cases")
    parser.add_argument("--load-only", action="store_true", help="load the data set and stop")
    parser.add_argument("--only", default="", help="run only cases whose name contains this text")
    args = parser.parse_args()

    url = common.setup_django()
    print(f"Database: {url}", flush=True)
    common.migrate()
    loaded = common.ensure_dataset(args.scale)
    if args.load_only:
        return
    started = time.perf_counter()
    timings = run(args.requests, args.explain, args.only)
    print(f"\nMachine: {common.machine()}")
    print(f"Data set: scale {args.scale}: {loaded['conversations']:,} conversations, {loaded['messages']:,} messages; "
          f"measured in {time.perf_counter() - started:.0f} s\n")
    print(common.table(timings, TARGET_MS))


if __name__ == "__main__":
    main()
