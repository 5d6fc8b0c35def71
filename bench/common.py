"""Shared parts of the benchmarks: the database, Django set-up, the issue's inbox data set, timing helpers.

The data set (issue 4, "Performance"): 1,000,000 messages in 200,000 conversations across 20 organisations,
one of them holding half; `--scale 0.1` makes a tenth of it. It is written with PostgreSQL COPY straight
into the real tables (contacts, channels, conversations, messages, tags), in its own database, and is
loaded once: a small `bench_dataset` table remembers what was loaded.
"""

from __future__ import annotations

import io
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cd_bench"
FULL_CONVERSATIONS = 200_000
MESSAGES_PER_CONVERSATION = 5  # 1,000,000 messages at full size
ORGANISATIONS = 20
AGENTS_PER_ORGANISATION = 8
BENCH_PASSWORD = "bench password that nobody uses 42"
BIG_ORG_SLUG = "bench-00"


# --------------------------------------------------------------------------------------- set-up
def setup_django(database_url: str | None = None) -> str:
    """Points Django at the benchmark database (created when missing), DEBUG off, and sets it up."""
    url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    os.environ["DATABASE_URL"] = url
    # DEBUG would keep every query in memory and time nothing like production.
    os.environ["DEBUG"] = "0"
    # A workstation measurement: SECRET_KEY and AUDIT_CHECKPOINT_KEY may come from var/ (smm/settings.py).
    os.environ.setdefault("LOCAL_KEYS", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smm.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _create_database(url)
    import django

    django.setup()
    return url


def _create_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connection.close()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def machine() -> str:
    cpus = os.cpu_count()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return f"{cpus} cores ({model}), Python {platform.python_version()}, PostgreSQL {pg}"


# --------------------------------------------------------------------------------------- timing
@dataclass
class Timing:
    name: str
    samples_ms: list[float]
    queries: int | None = None
    note: str = ""
    # Mean CPU per timed request: this process (Django) + its PostgreSQL backend. Other load on a shared machine
    # moves it far less than wall time, so two versions of the code compare better on it.
    cpu_ms: float | None = None

    def pct(self, p: float) -> float:
        ordered = sorted(self.samples_ms)
        # Nearest-rank percentile: p95 of 50 samples is the 48th fastest.
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        return self.pct(95)


def time_calls(call, n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (NaN unless the server runs on this host)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_calls_cpu(call, n: int, warmup: int = 3) -> tuple[list[float], float]:
    """Wall times (ms) of n calls after the warm-up, and their mean CPU ms (Python + PostgreSQL backend)."""
    for _ in range(warmup):
        call()
    server, own = backend_cpu(), time.process_time()
    samples = time_calls(call, n, warmup=0)
    cpu = (time.process_time() - own) + (backend_cpu() - server)
    return samples, cpu * 1000 / n


def table(timings: list[Timing], target_ms: float | None = None) -> str:
    lines = [
        "| Request | p50 ms | p95 ms | max ms | CPU ms | queries | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        verdict = ""
        if target_ms is not None:
            verdict = "ok" if t.p95 <= target_ms else f"over {target_ms:g} ms"
        lines.append(
            f"| {t.name} | {t.p50:.1f} | {t.p95:.1f} | {max(t.samples_ms):.1f} | "
            f"{'' if t.cpu_ms is None else f'{t.cpu_ms:.1f}'} | {'' if t.queries is None else t.queries} | {verdict}{' ' + t.note if t.note else ''} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ the data set
FIRST = ["Jane", "Sam", "Priya", "Tom", "Aisha", "Gareth", "Mei", "Oliver", "Fatima", "Liam", "Grace", "Dev",
         "Chloe", "Marek", "Siobhan", "Kwame", "Rhys", "Hannah", "Yusuf", "Ellie", "Nadia", "Callum", "Zara", "Owen"]
LAST = ["Marple", "Okafor", "Patel", "Jones", "Williams", "Nowak", "Chen", "Murphy", "Evans", "Ahmed", "Taylor",
        "Brown", "Davies", "Singh", "Hughes", "Campbell", "Wright", "Khan", "Roberts", "Walker", "Lewis", "Hall"]
STREETS = ["Elm Street", "Station Road", "High Street", "Church Lane", "Mill Road", "Park Avenue", "Victoria Road",
           "Queens Drive", "Wisteria Lane", "Bridge Street", "Market Square", "Orchard Close", "Castle Hill"]
PLACES = ["the library", "the leisure centre", "the recycling centre", "the primary school", "the town hall",
          "the bus station", "the park", "the car park", "the community centre", "the cemetery"]
SUBJECTS = [
    "The bins on {street}", "The streetlight outside number {n} {street}", "A pothole on {street}",
    "Fly-tipping behind {place}", "My council tax bill", "The bus stop by {place}", "Parking permit for {street}",
    "Graffiti on the wall of {place}", "Flooding on {street}", "The playground at {place}",
    "The recycling collection on {street}", "Overgrown hedges on {street}", "Dog fouling near {place}",
    "The opening hours of {place}", "Noise from {place}", "The road works on {street}",
]
PREDICATES = [
    "have not been collected for two weeks", "is still broken", "is getting worse every day",
    "was reported last month and nothing has happened", "needs looking at", "is a danger to children",
    "has been like this since Tuesday", "is blocking the pavement", "was fixed, thank you",
    "keeps me awake at night", "is completely flooded again", "is wrong, I was charged twice",
]
TAILS = [
    "Can someone help?", "This is urgent.", "Thanks for the quick reply!", "I've reported this three times already.",
    "Please sort this out.", "Who do I speak to?", "Absolutely disgraceful service.", "Any update?",
    "Really appreciate your help.", "", "", "When will it be done?", "I feel unsafe walking home.",
]
OURS = [
    "Thanks for letting us know, {name}. We've passed this to the {team} team.",
    "Sorry to hear that, {name}. Could you send us the exact location by direct message?",
    "Hi {name}, a crew is booked for this week. Thanks for your patience.",
    "Thanks {name}, this is now fixed. Let us know if there is anything else.",
    "Hi {name}, we've raised reference {n} for this and will update you.",
]
TEAMS = ["waste", "highways", "street lighting", "parks", "council tax", "parking", "environmental health"]
TAG_NAMES = ["Bins", "Potholes", "Street lighting", "Council tax", "Parking", "Noise", "Fly-tipping", "Flooding",
             "Graffiti", "Parks", "Complaint", "Compliment", "Housing", "Libraries", "Schools", "Roads",
             "Recycling", "Planning", "Benefits", "Elections", "Press", "Safeguarding", "Follow up", "VIP", "Escalated"]
PLATFORMS = ["x", "facebook", "instagram", "mastodon", "bluesky"]
# Public channels answer in Customer Services, two in Communications.
PLATFORM_DEPARTMENT = {"x": "Customer Services", "facebook": "Customer Services", "instagram": "Customer Services",
                       "mastodon": "Communications", "bluesky": "Communications"}
PLATFORM_WEIGHT = [40, 25, 15, 12, 8]


def _copy(cursor, table_name: str, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_cell(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN", buffer)


def _cell(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dataset_status(cursor) -> tuple | None:
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_dataset (scale numeric PRIMARY KEY, conversations int, "
                   "messages int, seconds numeric, loaded_at timestamptz default now())")
    cursor.execute("SELECT scale, conversations, messages, seconds FROM bench_dataset")
    return cursor.fetchone()


def ensure_dataset(scale: float, *, seed: int = 4) -> dict:
    """Loads the data set at this scale unless it is there already; returns what is loaded."""
    from django.db import connection

    with connection.cursor() as cursor:
        loaded = dataset_status(cursor)
    if loaded is not None:
        if float(loaded[0]) != scale:
            raise SystemExit(
                f"The benchmark database holds the data set at scale {loaded[0]}, not {scale}. "
                "Drop the database (DROP DATABASE cd_bench) or pass --scale to match."
            )
        print(f"Data set already loaded: {loaded[1]:,} conversations, {loaded[2]:,} messages "
              f"(loaded in {float(loaded[3]):.0f} s).", flush=True)
        return {"conversations": loaded[1], "messages": loaded[2], "seconds": float(loaded[3])}
    return _load(scale, seed)


def _load(scale: float, seed: int) -> dict:
    from django.db import connection, transaction

    from accounts import services as account_services
    from accounts.models import Department, User
    from audit.context import ActionContext, acting
    from channels_app import services as channel_services

    rng = random.Random(seed)
    started = time.perf_counter()
    total = round(FULL_CONVERSATIONS * scale)
    big = total // 2
    small = [(total - big) // (ORGANISATIONS - 1)] * (ORGANISATIONS - 1)
    small[0] += (total - big) - sum(small)
    per_org = [big, *small]
    print(f"Loading {total:,} conversations, {total * MESSAGES_PER_CONVERSATION:,} messages "
          f"in {ORGANISATIONS} organisations ({big:,} in the largest)...", flush=True)

    # Organisations, departments, members and channels through the services (a few hundred rows).
    orgs = []
    with acting(ActionContext(system_actor="system: benchmark")):
        for i in range(ORGANISATIONS):
            organisation = account_services.organisation_create(
                name=f"Bench Council {i:02d}", slug=f"bench-{i:02d}",
                department_names=["Communications", "Customer Services"],
            )
            departments = {d.name: d for d in Department.objects.filter(organisation=organisation)}
            members = []
            for role, email, department in [("admin", f"admin@bench-{i:02d}.example", None)] + [
                ("agent", f"agent{j}@bench-{i:02d}.example", "Customer Services") for j in range(AGENTS_PER_ORGANISATION)
            ]:
                user = User.objects.create_user(email, BENCH_PASSWORD, full_name=email.split("@")[0].title())
                account_services.member_add(
                    organisation=organisation, user=user, role=role,
                    departments=[departments[department]] if department else [],
                )
                members.append(user.pk)
            channels = {}
            for n, platform_name in enumerate(PLATFORMS):
                channel = channel_services.channel_connect(
                    actor=None, department=departments[PLATFORM_DEPARTMENT[platform_name]], platform=platform_name,
                    account_id=f"bench-{i}-{n}", handle=f"@benchcouncil{i:02d}",
                    credentials={"access_token": f"bench-{i}-{n}"}, display_name=f"Bench Council {i:02d}",
                )
                channels[platform_name] = (channel.pk, channel.department_id)
            orgs.append((organisation.pk, members, channels))

    now = datetime.now(UTC).replace(microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        dropped = _drop_secondary_indexes(cursor, ["inbox_message", "inbox_conversation", "inbox_contact",
                                                   "inbox_conversation_tags"])
        ids = {t: _next_id(cursor, t) for t in ("inbox_contact", "inbox_conversation", "inbox_message", "inbox_tag")}
        for org_index, ((org_id, members, channels), n_conversations) in enumerate(zip(orgs, per_org, strict=True)):
            with transaction.atomic():
                _load_organisation(cursor, rng, now, ids, org_id, members, channels, n_conversations)
            print(f"  organisation {org_index + 1}/{ORGANISATIONS}: {n_conversations:,} conversations "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        print(f"  rebuilding {len(dropped)} indexes...", flush=True)
        for name, definition in dropped:
            t0 = time.perf_counter()
            cursor.execute(definition)
            print(f"    {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        for table_name in ("inbox_contact", "inbox_conversation", "inbox_message", "inbox_tag"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), (SELECT max(id) FROM {table_name}))"
            )
        # VACUUM too, as autovacuum would soon: it sets the visibility map that index-only scans need.
        cursor.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        messages = total * MESSAGES_PER_CONVERSATION
        dataset_status(cursor)
        cursor.execute("INSERT INTO bench_dataset (scale, conversations, messages, seconds) VALUES (%s, %s, %s, %s)",
                       [scale, total, messages, seconds])
    print(f"Loaded in {seconds:.0f} s.", flush=True)
    return {"conversations": total, "messages": messages, "seconds": seconds}


def _next_id(cursor, table_name: str) -> list[int]:
    cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table_name}")
    return [cursor.fetchone()[0]]


def _drop_secondary_indexes(cursor, tables: list[str]) -> list[tuple[str, str]]:
    """Drops indexes that back no constraint (rebuilt after the load, which is faster than keeping them)."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename = ANY(%s) AND i.schemaname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [tables],
    )
    found = cursor.fetchall()
    for name, _definition in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return found


def _take(ids: dict, table_name: str) -> int:
    value = ids[table_name][0]
    ids[table_name][0] += 1
    return value


CONVERSATION_COLUMNS = [
    "id", "organisation_id", "channel_id", "department_id", "platform", "kind", "key", "contact_id", "status",
    "assignee_id", "priority", "flagged", "sentiment", "risk_terms", "waiting_since", "queue_at", "last_message_at",
    "last_inbound_at", "last_message_preview", "message_count", "first_response_due_at", "first_responded_at",
    "resolution_due_at", "closed_at", "auto_replied_for", "created_at", "updated_at",
]
MESSAGE_COLUMNS = [
    "id", "organisation_id", "channel_id", "conversation_id", "platform_message_id", "direction", "kind", "text",
    "author_id", "sent_by_id", "in_reply_to_id", "url", "created_at", "received_at", "sentiment", "flagged",
]
CONTACT_COLUMNS = ["id", "organisation_id", "platform", "platform_user_id", "handle", "name", "avatar_url",
                   "first_seen_at", "last_seen_at"]


def _inbound_text(rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS).format(street=rng.choice(STREETS), place=rng.choice(PLACES), n=rng.randint(1, 200))
    text = f"{subject} {rng.choice(PREDICATES)}. {rng.choice(TAILS)}".strip()
    return text


def _load_organisation(cursor, rng, now, ids, org_id, members, channels, n_conversations) -> None:
    admin, agents = members[0], members[1:]
    # Tags.
    tag_ids = []
    rows = []
    for name in TAG_NAMES:
        tag_id = _take(ids, "inbox_tag")
        tag_ids.append(tag_id)
        rows.append((tag_id, org_id, name))
    _copy(cursor, "inbox_tag", ["id", "organisation_id", "name"], rows)

    # Contacts: about 0.7 per conversation, each on one platform.
    contacts: dict[str, list[int]] = {p: [] for p in PLATFORMS}
    rows = []
    for n in range(max(len(PLATFORMS), int(n_conversations * 0.7))):
        platform_name = PLATFORMS[n % len(PLATFORMS)]
        contact_id = _take(ids, "inbox_contact")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        seen = now - timedelta(days=rng.randint(0, 400))
        rows.append((contact_id, org_id, platform_name, f"u{contact_id}", f"@{first.lower()}{last.lower()}{n}",
                     f"{first} {last}", "", seen, seen))
        contacts[platform_name].append(contact_id)
    _copy(cursor, "inbox_contact", CONTACT_COLUMNS, rows)

    # Conversations, their tags and messages, in chunks.
    chunk = 5000
    for start in range(0, n_conversations, chunk):
        conversations, messages, tagged = [], [], []
        for n in range(start, min(start + chunk, n_conversations)):
            platform_name = rng.choices(PLATFORMS, PLATFORM_WEIGHT)[0]
            channel_id, department_id = channels[platform_name]
            contact_id = rng.choice(contacts[platform_name])
            conversation_id = _take(ids, "inbox_conversation")
            # 1, 3, 5, 7 or 9 messages: five on average.
            count = 1 + 2 * (n % 5)
            # The gaps between its messages first, so the last one is still in the past: a data set with messages
            # "from the future" would make the list's live-update check read them on every request.
            gaps = [rng.randint(1, 600) for _ in range(count - 1)]
            created = now - timedelta(minutes=sum(gaps) + rng.randint(60, 90 * 24 * 60))
            roll = rng.random()
            status = "open" if roll < 0.55 else "pending" if roll < 0.7 else "closed"
            flagged = rng.random() < 0.05
            kind = "private" if rng.random() < 0.2 else "public"
            assignee = None
            if status == "closed" or rng.random() < 0.45:
                assignee = rng.choice(agents) if department_id and platform_name in ("x", "facebook", "instagram") \
                    else admin
            name = "Resident"
            at = created
            last_inbound = created
            last_text = ""
            sentiment = None
            for m in range(count):
                outbound = m % 3 == 2
                message_id = _take(ids, "inbox_message")
                if outbound:
                    text = rng.choice(OURS).format(name=name, team=rng.choice(TEAMS), n=rng.randint(10000, 99999))
                    score = 0.5
                else:
                    text = _inbound_text(rng)
                    score = round(rng.uniform(-0.9, 0.8), 3)
                    last_inbound = at
                    sentiment = score if sentiment is None else min(sentiment, score)
                last_text = text
                messages.append((
                    message_id, org_id, channel_id, conversation_id, f"m{message_id}",
                    "out" if outbound else "in", "reply" if outbound else ("dm" if kind == "private" else "mention"),
                    text, None if outbound else contact_id, (assignee or admin) if outbound else None,
                    "", "", at, at, score, flagged and not outbound and m == 0,
                ))
                if m < count - 1:
                    at = at + timedelta(minutes=gaps[m])
            last_at = at
            waiting = last_inbound if status != "closed" and count % 3 != 0 else None
            due = (waiting + timedelta(hours=1)) if waiting else None
            conversations.append((
                conversation_id, org_id, channel_id, department_id, platform_name, kind, f"t{conversation_id}",
                contact_id, status, assignee, rng.choices([0, 1, 2, 3], [10, 70, 15, 5])[0], flagged, sentiment,
                '["urgent"]' if flagged else "[]", waiting, waiting or last_at, last_at, last_inbound,
                last_text[:280], count, due, None if waiting else created + timedelta(minutes=30),
                (waiting + timedelta(hours=8)) if waiting else None, last_at if status == "closed" else None, None,
                created, last_at,
            ))
            if rng.random() < 0.4:
                for tag_id in rng.sample(tag_ids, 1 if rng.random() < 0.75 else 2):
                    tagged.append((conversation_id, tag_id))
        _copy(cursor, "inbox_conversation", CONVERSATION_COLUMNS, conversations)
        _copy(cursor, "inbox_conversation_tags", ["conversation_id", "tag_id"], tagged)
        _copy(cursor, "inbox_message", MESSAGE_COLUMNS, messages)
