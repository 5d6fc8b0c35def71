"""record() on PostgreSQL links, hashes and inserts in one statement under the chain head lock (issue 6,
performance): the hash is still chain.event_hash() of what is stored, the time is taken after the lock, and
only values that inet or jsonb might change cost a round trip before it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from audit import chain
from audit.context import ActionContext, acting
from audit.models import AuditEvent, EventType
from audit.services import _kept_by_inet, _kept_by_jsonb, record

ROW_FIELDS = ("id", "hash", *chain.HASHED_FIELDS)


def stored_row(event):
    return AuditEvent.objects.filter(pk=event.pk).values(*ROW_FIELDS).get()


@pytest.mark.parametrize(
    "fields",
    [
        {"organisation_id": 3, "actor_label": "Zoë", "changes": {"sequence": 5, "prev_hash": "x"}},
        # Field values that look like the pieces' edges must not move the cuts.
        {"target_repr": '"occurred_at":"', "changes": {"occurred_at": '"sequence":', "n": [1, None]}},
        {"organisation_id": None, "user_agent": "\u2028 😀", "ip": "2001:db8::1"},
    ],
)
def test_canonical_around_link_joins_back_into_canonical(fields):
    when = datetime(2026, 11, 27, 13, 6, 0, 5, tzinfo=UTC)
    p0, p1, p2, p3 = chain.canonical_around_link(fields)
    joined = p0 + chain.format_time(when).encode() + p1 + b"a" * 64 + p2 + b"12345" + p3
    assert joined == chain.canonical({**fields, "occurred_at": when, "prev_hash": "a" * 64, "sequence": 12345})


@pytest.mark.parametrize(
    ("changes", "ip"),
    [
        ({"name": {"from": "Zoë \u2028 😀", "to": 'quote " and \\ backslash'}}, "192.0.2.7"),
        ({"big": 2**70, "negative": -3, "flags": [True, False, None], "nested": {"b": {"a": []}}}, None),
        ({"ratio": 0.1, "huge": 1e300, "zero": -0.0}, "192.0.2.7"),
        ({7: "integer key"}, None),
        ({"name": "plain"}, "::ffff:192.0.2.7"),
        ({}, "2001:DB8::1"),
    ],
)
def test_record_stores_what_it_hashed(personas, changes, ip):
    with acting(ActionContext(request_id="r" * 32, ip=ip, user_agent="agent")), transaction.atomic():
        first = record(organisation=personas.a.organisation, event_type=EventType.SIGN_IN, changes=changes)
        second = record(organisation=personas.a.organisation, event_type=EventType.SIGN_IN, changes=changes)
    for event in (first, second):
        stored = stored_row(event)
        assert (stored["ip"], stored["changes"], stored["occurred_at"]) == (event.ip, event.changes, event.occurred_at)
        assert chain.event_hash(stored) == stored["hash"] == event.hash
    assert (second.sequence, second.prev_hash) == (first.sequence + 1, first.hash)


@pytest.mark.parametrize(
    "value",
    ["text ü 😀 \u2028", 2**70, -1, True, None, [1, "a", None], {"a": {"b": [False]}}, 0.5, 1e300, -0.0, {1: "x"}],
)
def test_values_kept_by_jsonb_come_back_unchanged(db, value):
    import json

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb", [json.dumps(value)])
        stored = cursor.fetchone()[0]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    if _kept_by_jsonb(value):
        assert stored == json.loads(json.dumps(value)) and json.dumps(stored) == json.dumps(value)
    else:
        # Only what jsonb may really change costs the round trip: floats and non-string keys here.
        assert isinstance(value, (float, dict))


@pytest.mark.parametrize("ip", ["192.0.2.7", "10.0.0.1", "2001:DB8::1", "::ffff:192.0.2.7", "2001:db8::1"])
def test_ips_kept_by_inet_come_back_unchanged(db, ip):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::inet", [ip])
        stored = cursor.fetchone()[0]
    assert _kept_by_inet(ip) == (ip.count(".") == 3 and ":" not in ip)
    if _kept_by_inet(ip):
        assert stored == ip


def test_record_is_one_query_unless_a_value_needs_the_database(personas, django_assert_num_queries):
    org = personas.a.organisation
    with acting(ActionContext(ip="192.0.2.7")), transaction.atomic():
        record(organisation=org, event_type=EventType.SIGN_IN)  # the head exists from here on
        with django_assert_num_queries(1):
            record(organisation=org, event_type=EventType.SIGN_IN, changes={"name": {"from": "a", "to": "b"}})
        # A float: jsonb may spell it differently, so its stored form is asked for first (before the lock).
        with django_assert_num_queries(2):
            record(organisation=org, event_type=EventType.SIGN_IN, changes={"ratio": 0.25})


def test_a_waiting_writer_takes_its_time_after_the_lock_and_links_to_the_holder(transactional_db, personas):
    org_id = personas.a.organisation.pk
    out = {}
    held = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                out["held"] = record(organisation=org_id, event_type=EventType.SIGN_IN, changes={"who": "holder"})
                held.set()
                time.sleep(0.6)
        finally:
            held.set()
            connection.close()

    def waiter():
        try:
            held.wait(timeout=10)
            out["asked"] = datetime.now(UTC)
            with transaction.atomic():
                out["waited"] = record(organisation=org_id, event_type=EventType.SIGN_IN, changes={"who": "waiter"})
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    held_event, waited = out["held"], out["waited"]
    assert (waited.sequence, waited.prev_hash) == (held_event.sequence + 1, held_event.hash)
    # The waiter asked 0.6 s before the holder committed; its time is when it got the lock, not when it asked.
    assert (waited.occurred_at - out["asked"]).total_seconds() > 0.4
    assert chain.event_hash(stored_row(waited)) == waited.hash
