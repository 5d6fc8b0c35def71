"""Retention of message content and legal holds (issue 6 §6; docs/retention.md).

- `run_retention()` (nightly, inbox.tasks.retention): for each organisation, message, reply and note text older
  than its RetentionPolicy.message_retention_days is replaced by a marker and stamped `redacted_at`; message
  links and conversation previews are emptied; a contact's profile (name, handle, picture) goes once all their
  messages are redacted. Ids, times, direction, channel, kind, sentiment, flags, counts, reply states and
  reply times stay, so the KPIs (issue 7) count the same before and after. A legal hold on a conversation or a
  contact suspends all of it. Work is done by set-based UPDATEs in batches (never row by row) and recorded as
  one RETENTION_RUN audit event per organisation, in the same transaction. Running it twice changes nothing.
- Audit events are never deleted here: the audit table is append-only (a trigger rejects DELETE). Each run
  counts the events past audit_retention_days so an operator can archive and drop them (docs/retention.md).
- Retention settings and legal holds are admin (MANAGE_ORGANISATION) writes, audited.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Membership, Organisation
from accounts.roles import Capability
from audit.models import AuditEvent, EventType
from audit.services import diff, record
from inbox.models import (
    AUDIT_RETENTION_DAYS_MAX,
    AUDIT_RETENTION_DAYS_MIN,
    MESSAGE_RETENTION_DAYS_MAX,
    MESSAGE_RETENTION_DAYS_MIN,
    Contact,
    Conversation,
    Message,
    Note,
    Reply,
    ReplyState,
    RetentionPolicy,
)

SYSTEM_ACTOR = "system: run_retention"
REDACTED_TEXT = "[removed after the retention period]"
# Rows per UPDATE, and UPDATEs per kind per organisation per run: a large backlog is worked off over several
# nights (the audit event says more_remaining) instead of in one transaction that runs for hours.
BATCH_SIZE = 1000
MAX_BATCHES = 200
# Replies still on their way (or whose outcome is being reconciled against their text) keep their text.
SETTLED_REPLY_STATES = [ReplyState.SENT, ReplyState.FAILED, ReplyState.REJECTED]
REASON_MIN, REASON_MAX = 10, 500


# ------------------------------------------------------------------------------------------- access
def _require_admin(actor: Membership | None) -> None:
    if actor is None or not actor.can(Capability.MANAGE_ORGANISATION):
        raise PermissionDenied("Only admins change retention settings, legal holds and erasure.")


def clean_reason(reason: object, field: str = "reason") -> str:
    text = " ".join(str(reason or "").split())
    if len(text) < REASON_MIN:
        raise ValidationError({field: f"Give a reason of at least {REASON_MIN} characters (a case reference helps)."})
    if len(text) > REASON_MAX:
        raise ValidationError({field: f"Keep the reason to {REASON_MAX} characters or fewer."})
    return text


# ------------------------------------------------------------------------------------------- policy
def policy_for(organisation_id: int) -> RetentionPolicy:
    """The organisation's policy, or an unsaved one holding the defaults."""
    policy = RetentionPolicy.objects.for_organisation(organisation_id).first()
    return policy or RetentionPolicy(organisation_id=organisation_id)


def _days(value: object, field: str, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError({field: f"Enter a whole number of days from {low:,} to {high:,}."})
    text = str(value).strip()
    # str.isdigit() accepts "²"; only ASCII digits, and few enough of them that nothing overflows.
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or not low <= int(text) <= high:
        raise ValidationError({field: f"Keep {what} for {low:,} to {high:,} days."})
    return int(text)


def retention_policy_update(*, actor: Membership, message_retention_days: object, audit_retention_days: object) -> RetentionPolicy:
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    values: dict[str, int] = {}
    for field, value, low, high, what in (
        ("message_retention_days", message_retention_days, MESSAGE_RETENTION_DAYS_MIN, MESSAGE_RETENTION_DAYS_MAX,
         "message content"),
        ("audit_retention_days", audit_retention_days, AUDIT_RETENTION_DAYS_MIN, AUDIT_RETENTION_DAYS_MAX,
         "audit events"),
    ):  # fmt: skip
        try:
            values[field] = _days(value, field, low, high, what)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(organisation_id=actor.organisation_id)
        before = {"message_retention_days": policy.message_retention_days, "audit_retention_days": policy.audit_retention_days}
        changes = diff(before, values)
        if changes:
            for field, value in values.items():
                setattr(policy, field, value)
            policy.updated_at = timezone.now()
            policy.save(update_fields=[*values, "updated_at"])
            record(
                organisation=actor.organisation_id,
                event_type=EventType.RETENTION_SETTINGS_CHANGED,
                actor=actor.user,
                target=policy,
                target_repr="Retention settings",
                changes=changes,
            )
    return policy


# --------------------------------------------------------------------------------------- legal holds
def _hold_change(*, actor: Membership, model: type[models.Model], obj_id: int, hold: bool, reason: object) -> Any:
    _require_admin(actor)
    reason = clean_reason(reason)
    with transaction.atomic():
        obj = model.objects.visible_to(actor).select_for_update(of=("self",)).filter(pk=obj_id).first()
        if obj is None:
            raise model.DoesNotExist("Not found.")
        if obj.legal_hold == hold:
            raise ValidationError({"reason": "It is already under a legal hold." if hold else "It is not under a legal hold."})
        obj.legal_hold = hold
        obj.legal_hold_reason = reason if hold else ""
        fields = ["legal_hold", "legal_hold_reason"]
        if isinstance(obj, Conversation):
            obj.updated_at = timezone.now()
            fields.append("updated_at")
        obj.save(update_fields=fields)
        label = "Conversation" if isinstance(obj, Conversation) else "Contact"
        record(
            organisation=obj.organisation_id,
            department=getattr(obj, "department_id", None),
            event_type=EventType.LEGAL_HOLD_SET if hold else EventType.LEGAL_HOLD_RELEASED,
            actor=actor.user,
            target=obj,
            # Never the contact's name: the audit trail outlives erasure.
            target_repr=f"{label} {obj.pk}",
            changes={"legal_hold": {"from": not hold, "to": hold}, "reason": reason},
        )
    return obj


def conversation_legal_hold(*, actor: Membership, conversation_id: int, hold: bool, reason: object) -> Conversation:
    return _hold_change(actor=actor, model=Conversation, obj_id=conversation_id, hold=hold, reason=reason)


def contact_legal_hold(*, actor: Membership, contact_id: int, hold: bool, reason: object) -> Contact:
    return _hold_change(actor=actor, model=Contact, obj_id=contact_id, hold=hold, reason=reason)


# ----------------------------------------------------------------------------------------- the run
def _update_in_batches(queryset: models.QuerySet, values: dict, batch_size: int, max_batches: int) -> tuple[int, bool]:
    """UPDATE ... WHERE id IN (SELECT id ... LIMIT n), repeated: one statement per batch. Returns (rows, more)."""
    total = 0
    for _ in range(max_batches):
        ids = queryset.order_by().values("pk")[:batch_size]
        done = queryset.model._base_manager.filter(pk__in=ids).update(**values)
        total += done
        if done < batch_size:
            return total, False
    return total, True


def _try_lock(organisation_id: int) -> bool:
    """One retention run per organisation at a time (a transaction-scoped advisory lock)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [zlib.crc32(b"inbox.retention"), organisation_id])
        return bool(cursor.fetchone()[0])


def redact_organisation(
    organisation_id: int, *, now: datetime, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES
) -> dict[str, Any] | None:
    """One organisation's run, in one transaction with its audit event. None when another run holds the lock."""
    with transaction.atomic():
        if not _try_lock(organisation_id):
            return None
        policy = policy_for(organisation_id)
        cutoff = now - timedelta(days=policy.message_retention_days)
        audit_cutoff = now - timedelta(days=policy.audit_retention_days)

        messages = (
            Message.objects.for_organisation(organisation_id)
            .filter(created_at__lt=cutoff, redacted_at__isnull=True)
            .filter(conversation__legal_hold=False, conversation__contact__legal_hold=False)
            .filter(Q(author__isnull=True) | Q(author__legal_hold=False))
        )
        n_messages, more_messages = _update_in_batches(
            messages, {"text": REDACTED_TEXT, "url": "", "redacted_at": now}, batch_size, max_batches
        )
        unheld = {"conversation__legal_hold": False, "conversation__contact__legal_hold": False}
        replies = Reply.objects.for_organisation(organisation_id).filter(
            created_at__lt=cutoff, redacted_at__isnull=True, state__in=SETTLED_REPLY_STATES, **unheld
        )
        n_replies, more_replies = _update_in_batches(
            replies, {"text": REDACTED_TEXT, "redacted_at": now}, batch_size, max_batches
        )
        notes = Note.objects.for_organisation(organisation_id).filter(created_at__lt=cutoff, redacted_at__isnull=True, **unheld)
        n_notes, more_notes = _update_in_batches(notes, {"text": REDACTED_TEXT, "redacted_at": now}, batch_size, max_batches)
        # The list's preview is a copy of the last message's text. Not bumping updated_at: the live list
        # would otherwise reload every old conversation of the organisation.
        previews = (
            Conversation.objects.for_organisation(organisation_id)
            .filter(last_message_at__lt=cutoff, legal_hold=False, contact__legal_hold=False)
            .exclude(last_message_preview="")
        )
        n_previews, more_previews = _update_in_batches(previews, {"last_message_preview": ""}, batch_size, max_batches)
        contacts = (
            Contact.objects.for_organisation(organisation_id)
            .filter(last_seen_at__lt=cutoff, legal_hold=False, redacted_at__isnull=True, erased_at__isnull=True)
            .exclude(Exists(Message.objects.filter(author=OuterRef("pk"), redacted_at__isnull=True)))
            .exclude(Exists(Conversation.objects.filter(contact=OuterRef("pk"), legal_hold=True)))
        )
        n_contacts, more_contacts = _update_in_batches(
            contacts, {"name": "", "handle": "", "avatar_url": "", "redacted_at": now}, batch_size, max_batches
        )
        counts = {
            "message_retention_days": policy.message_retention_days,
            "cutoff": cutoff.isoformat(),
            "messages_redacted": n_messages,
            "replies_redacted": n_replies,
            "notes_redacted": n_notes,
            "previews_cleared": n_previews,
            "contacts_redacted": n_contacts,
            "more_remaining": any((more_messages, more_replies, more_notes, more_previews, more_contacts)),
            "conversations_on_hold": Conversation.objects.for_organisation(organisation_id).filter(legal_hold=True).count(),
            "contacts_on_hold": Contact.objects.for_organisation(organisation_id).filter(legal_hold=True).count(),
            "audit_retention_days": policy.audit_retention_days,
            # Not deleted (append-only): an operator archives and drops them (docs/retention.md).
            "audit_events_past_retention": AuditEvent.objects.for_organisation(organisation_id)
            .filter(occurred_at__lt=audit_cutoff)
            .count(),
        }
        record(
            organisation=organisation_id,
            event_type=EventType.RETENTION_RUN,
            actor_label=SYSTEM_ACTOR,
            target_repr="Retention run",
            changes=counts,
        )
    return counts


def run_retention(now: datetime | None = None, *, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES) -> dict:
    """Every organisation's run; {organisation id: counts} (None for one skipped because a run was in progress)."""
    now = now or timezone.now()
    return {
        organisation_id: redact_organisation(organisation_id, now=now, batch_size=batch_size, max_batches=max_batches)
        for organisation_id in Organisation.objects.order_by("pk").values_list("pk", flat=True)
    }
