"""Purging an organisation's audit events past their retention period (issue 6), for `manage.py purge_audit`.

The application never deletes audit events; an operator does, as the database owner, after exporting and
archiving them (docs/retention.md). `audit_purge()` does it in ONE transaction:

1. locks the chain head (no event is written in the organisation meanwhile) and verifies the chain;
2. takes N, the newest event older than the cut-off, and refuses unless every event up to N is past the
   organisation's audit retention period;
3. disables the append-only trigger (only the table owner or a superuser may), deletes the organisation's events
   with sequence <= N, enables the trigger again (ALTER TABLE holds its lock until commit: no other session ever
   sees the table without its trigger);
4. writes a signed AuditAnchor (sequence N, the hash of event N) and one audit.purged event into the chain.

Verification then starts after the anchor (audit/chain.py). The retention period lives in inbox's RetentionPolicy;
audit reads it by name (apps.get_model), so audit still imports no other app (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from audit import chain
from audit.context import ActionContext, acting
from audit.models import AuditAnchor, AuditChainHead, AuditEvent, EventType
from audit.services import record
from audit.verification import verify_chain

ACTOR = "system: purge_audit"
# inbox.RetentionPolicy.audit_retention_days's default, when the organisation never set a policy.
DEFAULT_AUDIT_RETENTION_DAYS = 2555
ARCHIVE_REFERENCE_MAX = 300


class PurgeRefused(Exception):
    """Nothing was deleted: the reason, in a sentence for the operator."""


@dataclass(frozen=True)
class PurgePlan:
    organisation_id: int
    cutoff: datetime
    retention_days: int
    retention_cutoff: datetime
    # Events 1 (or the previous anchor + 1) to up_to_sequence go; None when no event is older than the cut-off.
    first_sequence: int
    up_to_sequence: int | None
    events: int


def retention_days(organisation_id: int) -> int:
    policy_model = apps.get_model("inbox", "RetentionPolicy")
    days = policy_model.objects.filter(organisation_id=organisation_id).values_list("audit_retention_days", flat=True)
    return days.first() or DEFAULT_AUDIT_RETENTION_DAYS


def cutoff_for(organisation, before: date) -> datetime:
    """Midnight at the start of `before` in the organisation's time zone: events before it go."""
    try:
        zone = ZoneInfo(organisation.timezone)
    except (ZoneInfoNotFoundError, ValueError, AttributeError):
        zone = ZoneInfo("UTC")
    return datetime.combine(before, time.min, tzinfo=zone)


def clean_reference(value: object) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise PurgeRefused("Give --archive-reference: where the exported events are archived.")
    if len(text) > ARCHIVE_REFERENCE_MAX:
        raise PurgeRefused(f"Keep --archive-reference to {ARCHIVE_REFERENCE_MAX} characters or fewer.")
    return text


def plan(organisation, before: date, *, now: datetime | None = None) -> PurgePlan:
    """What a purge would remove, refusing a cut-off inside the retention period. Reads only."""
    now = now or timezone.now()
    days = retention_days(organisation.pk)
    retention_cutoff = now - timedelta(days=days)
    cutoff = cutoff_for(organisation, before)
    if cutoff > retention_cutoff:
        raise PurgeRefused(
            f"Events before {before.isoformat()} are not all past the audit retention period of {days} days:"
            f" the latest cut-off allowed now is {timezone.localtime(retention_cutoff, cutoff.tzinfo).date().isoformat()}."
        )
    events = AuditEvent.objects.filter(organisation_id=organisation.pk)
    up_to = events.filter(occurred_at__lt=cutoff).aggregate(n=Max("sequence"))["n"]
    latest_anchor = AuditAnchor.objects.filter(organisation_id=organisation.pk).first()
    first = latest_anchor.up_to_sequence + 1 if latest_anchor else 1
    if up_to is None:
        return PurgePlan(organisation.pk, cutoff, days, retention_cutoff, first, None, 0)
    # Chain order is time order (record() stamps after the head lock), so this finds nothing unless a clock
    # went backwards; then an event inside the period would go with the older ones, and that is refused.
    if events.filter(sequence__lte=up_to, occurred_at__gte=retention_cutoff).exists():
        raise PurgeRefused(
            f"Event sequence {up_to} comes after an event still inside the retention period; nothing was deleted."
        )
    return PurgePlan(organisation.pk, cutoff, days, retention_cutoff, first, up_to, up_to - first + 1)


def audit_purge(*, organisation, before: date, archive_reference: str, now: datetime | None = None) -> tuple[
    AuditAnchor, AuditEvent
]:
    """Delete the organisation's events before `before` (all past retention), leave a signed anchor and one
    audit.purged event. Raises PurgeRefused, deleting nothing, when the chain does not verify, nothing is old
    enough, or the database role may not disable the trigger."""
    reference = clean_reference(archive_reference)
    with transaction.atomic():
        # The head lock first: no event of this organisation is written until this commits.
        head = AuditChainHead.objects.select_for_update().filter(organisation_id=organisation.pk).first()
        if head is None:
            raise PurgeRefused(f"{organisation.slug} has no audit events.")
        report = verify_chain(organisation.pk)
        if not report.ok:
            raise PurgeRefused(f"The chain of {organisation.slug} does not verify, so nothing was deleted: {report.problem}")
        the_plan = plan(organisation, before, now=now)
        n = the_plan.up_to_sequence
        if n is None:
            raise PurgeRefused(f"{organisation.slug} has no audit events before {before.isoformat()} (after any anchor).")
        anchor_hash = AuditEvent.objects.filter(organisation_id=organisation.pk, sequence=n).values_list(
            "hash", flat=True
        ).get()
        removed = _delete_up_to(organisation.pk, n)
        if removed != the_plan.events:
            # The chain verified, so this cannot happen short of a concurrent owner; roll everything back.
            raise PurgeRefused(f"Expected to delete {the_plan.events} events but found {removed}; nothing was deleted.")
        created_at = timezone.now()
        fields = {
            "organisation_id": organisation.pk,
            "up_to_sequence": n,
            "anchor_hash": anchor_hash,
            "events_removed": removed,
            "archive_reference": reference,
            "created_at": created_at,
        }
        signature = chain.anchor_signature(chain.Anchor(**fields, signature=""))
        anchor = AuditAnchor.objects.create(**fields, signature=signature)
        with acting(ActionContext(system_actor=ACTOR)):
            event = record(
                organisation=organisation.pk,
                event_type=EventType.AUDIT_PURGED,
                actor_label=ACTOR,
                target=anchor,
                target_repr=f"Audit events up to sequence {n}",
                changes={
                    "before": before.isoformat(),
                    "retention_days": the_plan.retention_days,
                    "from_sequence": the_plan.first_sequence,
                    "up_to_sequence": n,
                    "events_removed": removed,
                    "anchor_hash": anchor_hash,
                    "archive_reference": reference,
                },
            )
    return anchor, event


def _delete_up_to(organisation_id: int, sequence: int) -> int:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(
                "DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence <= %s", [organisation_id, sequence]
            )
            return cursor.rowcount
        # ALTER TABLE refuses while foreign-key checks of this transaction are still pending: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            with transaction.atomic():
                cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        except DatabaseError as exc:
            raise PurgeRefused(
                "Only the owner of the audit tables (the role that runs migrations) may purge audit events;"
                f" connect with the owner's DATABASE_URL. The database said: {str(exc).strip()}"
            ) from None
        cursor.execute(
            "DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence <= %s", [organisation_id, sequence]
        )
        removed = cursor.rowcount
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return removed
