"""record(): the one way to write an audit event. Services call it inside their own transaction."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from audit import context
from audit.models import AuditEvent, EventType


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
    return AuditEvent.objects.create(
        # Instances or primary keys: services holding only an id need not load the row.
        organisation_id=getattr(organisation, "pk", organisation),
        department_id=getattr(department, "pk", department),
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        actor_label=actor_label[:300],
        event_type=EventType(event_type),
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=(target_repr if target_repr is not None else str(target) if target is not None else "")[:300],
        changes=changes or {},
        request_id=ctx.request_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent[:300],
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields that changed, as {"field": {"from": old, "to": new}}."""
    return {key: {"from": before.get(key), "to": after[key]} for key in after if before.get(key) != after[key]}
