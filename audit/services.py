"""record(): the one way to write an audit event. Services call it inside their own transaction.

Each event is a link of its organisation's hash chain (audit/chain.py). record() locks the chain's
head row (AuditChainHead) until the caller's transaction ends, so concurrent writers in one
organisation queue there and the chain never forks; other organisations are not held up.
"""

from __future__ import annotations

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
    head_id, sequence, head_hash, fields["ip"], fields["changes"] = _lock_head(
        fields["organisation_id"], ctx.ip, changes or {}
    )
    # After the lock: the chain's order is also the order of the clock. PostgreSQL keeps microseconds.
    fields["occurred_at"] = timezone.now()
    fields["sequence"] = sequence + 1
    fields["prev_hash"] = head_hash or chain.GENESIS
    fields["hash"] = chain.event_hash(fields)
    event = AuditEvent(**fields)
    if actor_id is not None:
        event.actor = actor
    if connection.vendor == "postgresql":
        # One round trip for both writes: the head lock is held until commit, so every one counts.
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_AND_MOVE_HEAD, [fields["sequence"], fields["hash"], head_id, *_insert_values(fields)]
            )
            event.pk = cursor.fetchone()[0]
        event._state.adding, event._state.db = False, connection.alias
    else:
        event.save(force_insert=True)
        AuditChainHead.objects.filter(pk=head_id).update(sequence=fields["sequence"], head_hash=fields["hash"])
    return event


_INSERT_COLUMNS = (
    "organisation_id",
    "department_id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "event_type",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "request_id",
    "ip",
    "user_agent",
    "sequence",
    "prev_hash",
    "hash",
)
_INSERT_AND_MOVE_HEAD = (
    "WITH moved AS (UPDATE audit_auditchainhead SET sequence = %s, head_hash = %s WHERE id = %s) "
    f"INSERT INTO audit_auditevent ({', '.join(_INSERT_COLUMNS)}) VALUES ("
    + ", ".join("%s::jsonb" if c == "changes" else "%s::inet" if c == "ip" else "%s" for c in _INSERT_COLUMNS)
    + ") RETURNING id"
)


def _insert_values(fields: dict[str, Any]) -> list[Any]:
    return [json.dumps(fields[c]) if c == "changes" else fields[c] for c in _INSERT_COLUMNS]


def _lock_head(organisation_id: int | None, ip: str | None, changes: dict[str, Any]) -> tuple:
    """Lock the chain head (made on first use) and return (id, sequence, head_hash, ip, changes), with ip
    and changes as the database will store and give them back (inet and jsonb normalise), since that is
    what verification hashes. One round trip in the usual case."""
    changes_json = json.dumps(changes)
    if connection.vendor == "postgresql":
        select = "SELECT id, sequence, head_hash, %s::inet, %s::jsonb FROM audit_auditchainhead WHERE "
        params: list[Any] = [ip, changes_json]
    else:
        select = "SELECT id, sequence, head_hash, %s, %s FROM audit_auditchainhead WHERE "
        params = [ip, changes_json]
    if organisation_id is None:
        select += "organisation_id IS NULL"
    else:
        select += "organisation_id = %s"
        params.append(organisation_id)
    if connection.features.has_select_for_update:
        select += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(select, params)
        row = cursor.fetchone()
        if row is None:
            # First event of this chain: make the head; a concurrent first writer may win, then lock theirs.
            AuditChainHead.objects.bulk_create([AuditChainHead(organisation_id=organisation_id)], ignore_conflicts=True)
            cursor.execute(select, params)
            row = cursor.fetchone()
    head_id, sequence, head_hash, stored_ip, stored_changes = row
    if isinstance(stored_changes, str):
        stored_changes = json.loads(stored_changes)
    return head_id, sequence, head_hash, stored_ip, stored_changes


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
