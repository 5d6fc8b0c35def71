"""record(): the one way to write an audit event. Services call it inside their own transaction.

Each event is a link of its organisation's hash chain (audit/chain.py). record() locks the chain's
head row (AuditChainHead) until the caller's transaction ends, so concurrent writers in one
organisation queue there and the chain never forks; other organisations are not held up.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from audit import chain, context
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, EventType


class AuditOutsideTransaction(RuntimeError):
    """An audit event must commit or roll back with the change it describes."""


def record(
    *,
    organisation: Any,
    event_type: EventType,
    actor: Any = None,
    target: models.Model | None = None,
    target_repr: str | None = None,
    department: Any = None,
    changes: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction(f"{event_type} must be recorded inside the transaction that makes the change")
    ctx = context.current()
    if actor_label is None:
        if actor is not None and getattr(actor, "pk", None):
            actor_label = actor.label
        elif ctx.system_actor:
            actor_label = ctx.system_actor
        else:
            actor_label = "anonymous"
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    fields: dict[str, Any] = {
        # Instances or primary keys: services holding only an id need not load the row.
        "organisation_id": getattr(organisation, "pk", organisation),
        "department_id": getattr(department, "pk", department),
        "actor_id": actor_id,
        "actor_label": actor_label[:300],
        "event_type": EventType(event_type).value,
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "target_repr": (target_repr if target_repr is not None else str(target) if target is not None else "")[:300],
        "request_id": ctx.request_id,
        "user_agent": ctx.user_agent[:300],
    }
    if connection.vendor == "postgresql":
        event = _record_postgresql(fields, ctx.ip, changes or {})
    else:
        event = _record_elsewhere(fields, ctx.ip, changes or {})
    if actor_id is not None:
        event.actor = actor
    return event


def _record_postgresql(fields: dict[str, Any], ip: str | None, changes: dict[str, Any]) -> AuditEvent:
    """Lock the head, link, hash, insert and move the head in ONE statement (_RECORD), then the caller commits.

    The head lock is held from that statement until the commit, and every writer of the organisation waits
    for it, so everything that can be done before it is: the stored forms of ip and changes, and the
    canonical JSON of every hashed field but the three that depend on the head (chain.canonical_around_link).
    PostgreSQL fills those in after the lock and hashes the same bytes chain.event_hash() would."""
    fields["ip"], fields["changes"], changes_json = _as_stored(ip, changes)
    p0, p1, p2, p3 = chain.canonical_around_link(fields)
    params = {
        **{column: fields[column] for column in _VALUE_COLUMNS},
        "changes": changes_json,
        "genesis": chain.GENESIS,
        "p0": p0,
        "p1": p1,
        "p2": p2,
        "p3": p3,
    }
    statement = _RECORD_NO_ORGANISATION if fields["organisation_id"] is None else _RECORD
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
        if row is None:
            # First event of this chain: make the head; a concurrent first writer may win, then lock theirs.
            AuditChainHead.objects.bulk_create(
                [AuditChainHead(organisation_id=fields["organisation_id"])], ignore_conflicts=True
            )
            cursor.execute(statement, params)
            row = cursor.fetchone()
    event_id, fields["occurred_at"], fields["sequence"], fields["prev_hash"], fields["hash"] = row
    event = AuditEvent(pk=event_id, **fields)
    event._state.adding, event._state.db = False, connection.alias
    return event


# Columns whose values record() knows before the lock (changes and ip are cast to jsonb and inet).
_VALUE_COLUMNS = (
    "organisation_id",
    "department_id",
    "actor_id",
    "actor_label",
    "event_type",
    "target_type",
    "target_id",
    "target_repr",
    "request_id",
    "ip",
    "user_agent",
)
# head: the chain head, locked (writers of one organisation queue here until the holder commits).
# link: the new event's place, and its time taken AFTER the lock, from the database's clock, so that the
#   chain's order is also the order of time, whichever web or worker host wrote the event.
# hashed: sha256 of canonical() (chain.canonical_around_link pieces plus the link fields, formatted as
#   chain.format_time() does), then the event is inserted and the head moved to it.
_RECORD = """
WITH head AS (
    SELECT id, sequence, head_hash FROM audit_auditchainhead WHERE {where} FOR UPDATE
), link AS (
    SELECT id AS head_id, sequence + 1 AS sequence, COALESCE(NULLIF(head_hash, ''), %(genesis)s) AS prev_hash,
        clock_timestamp() AS occurred_at
    FROM head
), hashed AS (
    SELECT link.*, encode(sha256(
        %(p0)s || convert_to(to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), 'UTF8')
        || %(p1)s || convert_to(prev_hash, 'UTF8') || %(p2)s || convert_to(sequence::text, 'UTF8') || %(p3)s
    ), 'hex') AS hash
    FROM link
), moved AS (
    UPDATE audit_auditchainhead SET sequence = (SELECT sequence FROM hashed), head_hash = (SELECT hash FROM hashed)
    WHERE id = (SELECT head_id FROM hashed)
)
INSERT INTO audit_auditevent (
    organisation_id, department_id, actor_id, actor_label, event_type, target_type, target_id, target_repr,
    request_id, ip, user_agent, changes, occurred_at, sequence, prev_hash, hash
)
SELECT %(organisation_id)s, %(department_id)s, %(actor_id)s, %(actor_label)s, %(event_type)s, %(target_type)s,
    %(target_id)s, %(target_repr)s, %(request_id)s, %(ip)s::inet, %(user_agent)s, %(changes)s::jsonb,
    occurred_at, sequence, prev_hash, hash
FROM hashed
RETURNING id, occurred_at, sequence, prev_hash, hash
"""
_RECORD_NO_ORGANISATION = _RECORD.replace("{where}", "organisation_id IS NULL")
_RECORD = _RECORD.replace("{where}", "organisation_id = %(organisation_id)s")


def _as_stored(ip: str | None, changes: dict[str, Any]) -> tuple[str | None, dict[str, Any], str]:
    """(ip, changes, changes as JSON) with ip and changes as the database will store and give them back:
    inet and jsonb normalise (IPv6 spelling, float digits, -0.0), and verification hashes what is stored.
    Asking PostgreSQL costs a round trip, so only values that might change are sent, and never under the lock."""
    changes_json = json.dumps(changes)
    if _kept_by_inet(ip) and _kept_by_jsonb(changes):
        return ip, json.loads(changes_json), changes_json
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::inet, %s::jsonb", [ip, changes_json])
        stored_ip, stored_changes = cursor.fetchone()
    if isinstance(stored_changes, str):
        stored_changes = json.loads(stored_changes)
    return stored_ip, stored_changes, changes_json


def _kept_by_inet(ip: str | None) -> bool:
    """None, or an IPv4 address in the one spelling inet gives back ("192.0.2.7"; IPv6 has several)."""
    if ip is None:
        return True
    try:
        return str(ipaddress.IPv4Address(ip)) == ip
    except ValueError:
        return False


def _kept_by_jsonb(value: Any) -> bool:
    """True when jsonb gives `value` back as json.loads(json.dumps(value)) does: strings, integers (jsonb's
    numeric keeps every digit), booleans, null, lists, objects with string keys. Floats are not (1e300 comes
    back as an integer, -0.0 as 0); NUL is refused by jsonb, so let PostgreSQL say so."""
    if value is None or isinstance(value, int):
        return True
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(_kept_by_jsonb(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and "\x00" not in key and _kept_by_jsonb(item) for key, item in value.items())
    return False


def _record_elsewhere(fields: dict[str, Any], ip: str | None, changes: dict[str, Any]) -> AuditEvent:
    """Other databases (the embedded SQLite mode): lock the head, hash in Python, then two writes."""
    head_id, sequence, head_hash = _lock_head(fields["organisation_id"])
    fields["ip"], fields["changes"] = ip, json.loads(json.dumps(changes))
    # After the lock: the chain's order is also the order of the clock.
    fields["occurred_at"] = timezone.now()
    fields["sequence"] = sequence + 1
    fields["prev_hash"] = head_hash or chain.GENESIS
    fields["hash"] = chain.event_hash(fields)
    event = AuditEvent(**fields)
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=head_id).update(sequence=fields["sequence"], head_hash=fields["hash"])
    return event


def _lock_head(organisation_id: int | None) -> tuple[int, int, str]:
    """Lock the chain head (made on first use) and return (id, sequence, head_hash)."""
    heads = AuditChainHead.objects.filter(organisation_id=organisation_id)
    if connection.features.has_select_for_update:
        heads = heads.select_for_update()
    row = heads.values_list("id", "sequence", "head_hash").first()
    if row is None:
        # First event of this chain: make the head; a concurrent first writer may win, then lock theirs.
        AuditChainHead.objects.bulk_create([AuditChainHead(organisation_id=organisation_id)], ignore_conflicts=True)
        row = heads.values_list("id", "sequence", "head_hash").first()
    return row


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields that changed, as {"field": {"from": old, "to": new}}."""
    return {key: {"from": before.get(key), "to": after[key]} for key in after if before.get(key) != after[key]}


def checkpoints_write() -> list[AuditCheckpoint]:
    """Sign every chain head that moved since its last checkpoint (beat, every 10 minutes).

    Not itself audited: an event in the chain would move the head it signs, so every run would find
    work and no checkpoint would name the true head. The checkpoint table is append-only like the trail.
    """
    written = []
    latest = {}
    for checkpoint in AuditCheckpoint.objects.order_by("organisation_id", "-sequence").distinct("organisation_id"):
        latest[checkpoint.organisation_id] = checkpoint.sequence
    for head in AuditChainHead.objects.filter(sequence__gt=0).order_by("id"):
        if latest.get(head.organisation_id, 0) >= head.sequence:
            continue
        created_at = timezone.now()
        written.append(
            AuditCheckpoint.objects.create(
                organisation_id=head.organisation_id,
                sequence=head.sequence,
                head_hash=head.head_hash,
                created_at=created_at,
                signature=chain.checkpoint_signature(head.organisation_id, head.sequence, head.head_hash, created_at),
            )
        )
    return written
