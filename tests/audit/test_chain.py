"""The audit hash chain (issue 6 §2, §3): record() links every event, concurrent writers never fork a
chain, the database refuses to edit or delete events, and checkpoints sign each chain's head."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from audit import chain
from audit.context import ActionContext, acting
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, EventType
from audit.services import checkpoints_write, record
from audit.tasks import write_checkpoints

ROW_FIELDS = ("id", "hash", *chain.HASHED_FIELDS)


def chain_rows(organisation_id):
    return list(AuditEvent.objects.filter(organisation_id=organisation_id).order_by("sequence").values(*ROW_FIELDS))


def record_many(organisation, count, **kwargs):
    events = []
    for i in range(count):
        with transaction.atomic():
            events.append(
                record(
                    organisation=organisation,
                    event_type=EventType.ORGANISATION_SETTINGS_CHANGED,
                    changes={"i": i},
                    **kwargs,
                )
            )
    return events


def assert_linked(rows, organisation_id):
    assert [row["sequence"] for row in rows] == list(range(1, len(rows) + 1))
    previous = chain.GENESIS
    for row in rows:
        assert row["prev_hash"] == previous
        assert row["hash"] == chain.event_hash(row)
        previous = row["hash"]
    head = AuditChainHead.objects.get(organisation_id=organisation_id)
    assert (head.sequence, head.head_hash) == (len(rows), previous)


# ------------------------------------------------------------------------------------------ the chain
def test_every_event_links_to_the_previous_one_in_its_organisation(personas):
    org = personas.a.organisation
    record_many(org, 40)
    rows = chain_rows(org.pk)
    assert len(rows) > 40
    assert_linked(rows, org.pk)
    result = chain.verify(org.pk, rows)
    assert (result.ok, result.count, result.head_hash) == (True, len(rows), rows[-1]["hash"])


def test_each_organisation_has_its_own_chain(personas):
    a, b = personas.a.organisation, personas.b.organisation
    before_b = AuditChainHead.objects.get(organisation=b).sequence
    record_many(a, 5)
    assert AuditChainHead.objects.get(organisation=b).sequence == before_b
    [event] = record_many(b, 1)
    assert event.sequence == before_b + 1
    assert_linked(chain_rows(a.pk), a.pk)
    assert_linked(chain_rows(b.pk), b.pk)


def test_events_without_an_organisation_form_their_own_chain(personas):
    first, second = record_many(None, 2)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == chain.GENESIS and second.prev_hash == first.hash
    assert_linked(chain_rows(None), None)
    assert AuditChainHead.objects.filter(organisation__isnull=True).count() == 1


def test_the_hash_covers_what_the_database_stores_and_gives_back(personas):
    # inet and jsonb normalise: upper-case IPv6, integer keys, 1e300, -0.0; the hash must be of the stored form.
    changes = {
        "big": 1e300,
        "zero": -0.0,
        7: "integer key",
        "text": "é \u2028 😀",
        "nested": {"b": [None, True], "a": 1.5},
    }
    with acting(ActionContext(request_id="r" * 32, ip="2001:DB8:0:0:0:0:0:1", user_agent="ü" * 400)):
        [event] = record_many(personas.a.organisation, 1, target_repr="x" * 500)
        with transaction.atomic():
            event = record(organisation=personas.a.organisation, event_type=EventType.SIGN_IN, changes=changes)
    stored = AuditEvent.objects.filter(pk=event.pk).values(*ROW_FIELDS).get()
    assert stored["ip"] == "2001:db8::1" == event.ip
    assert stored["changes"] == event.changes
    assert chain.event_hash(stored) == stored["hash"] == event.hash
    assert chain.verify(personas.a.organisation.pk, chain_rows(personas.a.organisation.pk)).ok


def test_canonical_form_is_sorted_compact_utf8_with_utc_microseconds():
    from datetime import UTC, datetime, timedelta, timezone

    when = datetime(2026, 11, 27, 14, 6, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    text = chain.canonical({"occurred_at": when, "actor_label": "Zoë", "sequence": 1}).decode()
    assert text.startswith('{"actor_id":null,"actor_label":"Zoë","changes":null,"department_id":null,')
    assert '"occurred_at":"2026-11-27T13:06:00.000005Z"' in text
    assert chain.format_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000Z"
    with pytest.raises(ValueError):
        chain.format_time(datetime(2026, 1, 1))


def test_the_chain_order_is_also_the_order_of_time(personas):
    record_many(personas.a.organisation, 10)
    times = list(
        AuditEvent.objects.filter(organisation=personas.a.organisation)
        .order_by("sequence")
        .values_list("occurred_at", flat=True)
    )
    assert times == sorted(times)


# ----------------------------------------------------------------------------------------- concurrency
WRITERS = 6
EACH = 15


def _race(organisation_id):
    barrier = threading.Barrier(WRITERS)
    errors = []

    def write():
        try:
            barrier.wait(timeout=10)
            for i in range(EACH):
                with transaction.atomic():
                    record(organisation=organisation_id, event_type=EventType.SIGN_IN, changes={"i": i})
                    # Hold the transaction open a moment, so writers really overlap.
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_sleep(0.001)")
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors


def test_concurrent_writers_in_one_organisation_never_fork_the_chain(transactional_db, personas):
    org = personas.a.organisation
    before = AuditEvent.objects.filter(organisation=org).count()
    _race(org.pk)
    rows = chain_rows(org.pk)
    assert len(rows) == before + WRITERS * EACH
    assert_linked(rows, org.pk)


def test_concurrent_first_writers_of_a_chain_make_one_head(transactional_db):
    # No head yet for the no-organisation chain: every writer races to make it.
    assert not AuditChainHead.objects.filter(organisation__isnull=True).exists()
    _race(None)
    assert AuditChainHead.objects.filter(organisation__isnull=True).count() == 1
    rows = chain_rows(None)
    assert len(rows) == WRITERS * EACH
    assert_linked(rows, None)


# ------------------------------------------------------------------------------------------ append-only
def test_the_database_refuses_to_update_an_event_through_the_orm(personas):
    event = AuditEvent.objects.filter(organisation=personas.a.organisation).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="someone else")
    event.target_repr = "rewritten"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).target_repr != "rewritten"


def test_the_database_refuses_to_delete_an_event_through_the_orm(personas):
    count = AuditEvent.objects.count()
    event = AuditEvent.objects.filter(organisation=personas.a.organisation).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == count


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET actor_label = 'someone else'",
        "UPDATE audit_auditevent SET sequence = sequence WHERE id = (SELECT min(id) FROM audit_auditevent)",
        "DELETE FROM audit_auditevent WHERE id = (SELECT max(id) FROM audit_auditevent)",
        "UPDATE audit_auditcheckpoint SET sequence = 1",
        "DELETE FROM audit_auditcheckpoint",
    ],
)
def test_the_database_refuses_raw_sql_edits_of_events_and_checkpoints(personas, sql):
    checkpoints_write()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_new_events_can_still_be_written(personas):
    # The trigger guards UPDATE and DELETE only.
    [event] = record_many(personas.a.organisation, 1)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# ------------------------------------------------------------------------------------------ checkpoints
def test_checkpoints_sign_each_moved_head_once(personas):
    a, b = personas.a.organisation, personas.b.organisation
    events_before = AuditEvent.objects.count()

    assert write_checkpoints() == 2
    assert write_checkpoints() == 0  # nothing moved
    record_many(a, 3)
    [checkpoint] = checkpoints_write()

    head = AuditChainHead.objects.get(organisation=a)
    assert (checkpoint.organisation_id, checkpoint.sequence, checkpoint.head_hash) == (
        a.pk,
        head.sequence,
        head.head_hash,
    )
    assert checkpoint.signature == chain.checkpoint_signature(
        a.pk, head.sequence, head.head_hash, checkpoint.created_at
    )
    assert AuditCheckpoint.objects.filter(organisation=b).count() == 1
    # Checkpoints are not chained events: writing one would move the head it signs.
    assert AuditEvent.objects.count() == events_before + 3


def test_checkpoint_signature_depends_on_the_key_and_every_field(settings):
    from datetime import UTC, datetime

    when = datetime(2026, 11, 27, 13, 6, tzinfo=UTC)
    signature = chain.checkpoint_signature(1, 5, "a" * 64, when)
    assert len(signature) == 64
    assert signature != chain.checkpoint_signature(None, 5, "a" * 64, when)
    assert signature != chain.checkpoint_signature(1, 4, "a" * 64, when)
    assert signature != chain.checkpoint_signature(1, 5, "b" * 64, when)
    settings.AUDIT_CHECKPOINT_KEY = "another key of at least thirty-two characters"
    assert signature != chain.checkpoint_signature(1, 5, "a" * 64, when)
