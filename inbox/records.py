"""Records requests (FOI, subject access; issue 6 §6): one conversation as a downloadable ZIP bundle.

The bundle holds conversation.html (human readable, self-contained: no scripts, no external files),
conversation.json (every message, reply with its delivery state, note, the assignment history, and the audit
events with their hash-chain fields, so each event's hash can be recomputed with audit/chain.py or
scripts/verify_audit_export.py) and SHA256SUMS. Exporting one is an admin's act (MANAGE_ORGANISATION): a
bundle discloses everything about a person, the same as erasure and legal holds.

Order (export_audited): the bundle is built first, in a read-only transaction that sees one moment and locks
nothing; then ONE RECORDS_REQUEST_EXPORTED event carrying the ZIP's SHA-256 is written in a short transaction of
its own; only then are the bytes handed to the view to send. So building a large bundle never holds the
organisation's audit chain head (record() locks it until commit), and the trail names exactly the bytes served.
The event is therefore not in the bundle it describes (it is in the next one).

The ZIP helpers and `audit_event_record` are shared with approvals.records.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connection, models, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Capability
from audit.chain import HASHED_FIELDS, format_time
from audit.models import AuditEvent, EventType
from audit.services import record
from inbox.models import Conversation, Message, Note, Reply

BUNDLE_FORMAT = "civic-desk-records-bundle"
BUNDLE_VERSION = 1


# ------------------------------------------------------------------------------------ shared helpers
def require_records_officer(membership: Membership | None) -> None:
    if membership is None or not membership.can(Capability.MANAGE_ORGANISATION):
        raise PermissionDenied("Only admins export records requests.")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def user_label(user) -> str | None:
    return user.label if user is not None else None


def audit_event_record(event: AuditEvent) -> dict[str, Any]:
    """An audit event as the chain hashes it (audit.chain.HASHED_FIELDS) plus its id and hash."""
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["occurred_at"] = format_time(event.occurred_at)
    if fields["ip"] is not None:
        fields["ip"] = str(fields["ip"])
    return {"id": event.pk, **fields, "hash": event.hash, "event_label": event.get_event_type_display()}


def audit_events_for(membership: Membership, targets: list[tuple[str, list[Any]]]) -> list[AuditEvent]:
    condition = Q(pk__in=[])
    for target_type, ids in targets:
        if ids:
            condition |= Q(target_type=target_type, target_id__in=[str(pk) for pk in ids])
    return list(AuditEvent.objects.visible_to(membership).filter(condition).order_by("occurred_at", "id"))


def label_of(model: type[models.Model]) -> str:
    return model._meta.label_lower


def zip_bundle(stem: str, html: str, data: dict[str, Any]) -> bytes:
    """A ZIP of <stem>.html, <stem>.json and SHA256SUMS (sha256sum -c checks the two files)."""
    files = {
        f"{stem}.html": html.encode(),
        f"{stem}.json": json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False, default=str).encode(),
    }
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items()).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


@contextmanager
def read_snapshot() -> Iterator[None]:
    """A transaction for building a bundle: on PostgreSQL read-only and REPEATABLE READ, so every query of the
    bundle sees the same moment and nothing is locked or written. (Inside an outer transaction, e.g. a test's,
    the level can no longer be chosen: then it is that transaction's.)"""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def export_audited(build: Callable[[], tuple[models.Model, bytes]], *, membership: Membership, bundle: str,
                   files: list[str], target_repr: Callable[[Any], str]) -> bytes:
    """Builds a bundle (read-only), then records the one export event with the bytes' SHA-256, then returns them."""
    with read_snapshot():
        target, body = build()
    with transaction.atomic():
        record(
            organisation=target.organisation_id,
            department=target.department_id,
            event_type=EventType.RECORDS_REQUEST_EXPORTED,
            actor=membership.user,
            target=target,
            target_repr=target_repr(target),
            changes={"bundle": bundle, "files": files, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)},
        )
    return body


def header(membership: Membership, kind: str, now: datetime) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "kind": kind,
        "generated_at": iso(now),
        "generated_by": membership.user.label,
        "organisation": {"id": membership.organisation_id, "name": membership.organisation.name},
    }


# -------------------------------------------------------------------------------------- conversation
def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "platform_message_id": message.platform_message_id,
        "direction": message.direction,
        "kind": message.kind,
        "author_contact_id": message.author_id,
        "sent_by": user_label(message.sent_by),
        "text": message.text,
        "url": message.url,
        "in_reply_to_id": message.in_reply_to_id,
        "created_at": iso(message.created_at),
        "received_at": iso(message.received_at),
        "sentiment": message.sentiment,
        "flagged": message.flagged,
        "redacted_at": iso(message.redacted_at),
    }


def _reply(reply: Reply) -> dict[str, Any]:
    return {
        "id": reply.pk,
        "author": user_label(reply.author) if reply.author_id else ("automatic" if reply.automatic else None),
        "mode": reply.mode,
        "text": reply.text,
        "in_reply_to_id": reply.in_reply_to_id,
        "automatic": reply.automatic,
        "delivery": {
            "state": reply.state,
            "state_label": reply.get_state_display(),
            "attempts": reply.attempts,
            "last_error": reply.last_error,
            "platform_id": reply.platform_id,
            "platform_url": reply.platform_url,
            "sent_at": iso(reply.sent_at),
        },
        "approved_by": user_label(reply.approved_by),
        "decided_at": iso(reply.decided_at),
        "created_at": iso(reply.created_at),
        "redacted_at": iso(reply.redacted_at),
    }


def _note(note: Note) -> dict[str, Any]:
    return {
        "id": note.pk,
        "author": user_label(note.author),
        "text": note.text,
        "mentions": [user.label for user in note.mentions.all()],
        "created_at": iso(note.created_at),
        "redacted_at": iso(note.redacted_at),
    }


def _assignments(events: list[AuditEvent]) -> list[dict[str, Any]]:
    return [
        {
            "at": format_time(event.occurred_at),
            "by": event.actor_label,
            "changes": event.changes,
            "audit_event_id": event.pk,
        }
        for event in events
        if event.event_type == EventType.CONVERSATION_ASSIGNED
    ]


def conversation_data(membership: Membership, conversation: Conversation, now: datetime) -> dict[str, Any]:
    contact = conversation.contact
    messages = list(conversation.messages.select_related("sent_by").order_by("created_at", "id"))
    replies = list(conversation.replies.select_related("author", "approved_by").order_by("created_at", "id"))
    notes = list(conversation.notes.select_related("author").prefetch_related("mentions").order_by("created_at", "id"))
    events = audit_events_for(
        membership,
        [
            (label_of(Conversation), [conversation.pk]),
            (label_of(Reply), [reply.pk for reply in replies]),
            (label_of(type(contact)), [contact.pk]),
        ],
    )
    return {
        **header(membership, "conversation", now),
        "conversation": {
            "id": conversation.pk,
            "channel": {"id": conversation.channel_id, "platform": conversation.platform, "handle": conversation.channel.handle},
            "department": conversation.department.name,
            "kind": conversation.kind,
            "key": conversation.key,
            "status": conversation.status,
            "priority": conversation.get_priority_display(),
            "assignee": user_label(conversation.assignee),
            "tags": sorted(tag.name for tag in conversation.tags.all()),
            "flagged": conversation.flagged,
            "sentiment": conversation.sentiment,
            "risk_terms": conversation.risk_terms,
            "message_count": conversation.message_count,
            "created_at": iso(conversation.created_at),
            "first_responded_at": iso(conversation.first_responded_at),
            "closed_at": iso(conversation.closed_at),
            "legal_hold": conversation.legal_hold,
            "legal_hold_reason": conversation.legal_hold_reason,
        },
        "contact": {
            "id": contact.pk,
            "platform": contact.platform,
            "platform_user_id": contact.platform_user_id,
            "name": contact.name,
            "handle": contact.handle,
            "avatar_url": contact.avatar_url,
            "first_seen_at": iso(contact.first_seen_at),
            "last_seen_at": iso(contact.last_seen_at),
            "legal_hold": contact.legal_hold,
            "redacted_at": iso(contact.redacted_at),
            "erased_at": iso(contact.erased_at),
        },
        "messages": [_message(message) for message in messages],
        "replies": [_reply(reply) for reply in replies],
        "notes": [_note(note) for note in notes],
        "assignments": _assignments(events),
        "audit_events": [audit_event_record(event) for event in events],
    }


def _timeline(data: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [{"at": m["created_at"], "what": "message", **m} for m in data["messages"]]
    entries += [{"at": r["created_at"], "what": "reply", **r} for r in data["replies"]]
    entries += [{"at": n["created_at"], "what": "note", **n} for n in data["notes"]]
    return sorted(entries, key=lambda entry: (entry["at"] or "", entry["id"]))


def conversation_bundle(membership: Membership, conversation_id: int) -> bytes:
    """The conversation's records bundle (ZIP bytes), audited with its SHA-256 after it is built.
    Conversation.DoesNotExist when not visible to the member."""
    require_records_officer(membership)

    def build() -> tuple[Conversation, bytes]:
        now = timezone.now()
        conversation = (
            Conversation.objects.visible_to(membership)
            .select_related("contact", "channel", "department", "assignee")
            .filter(pk=conversation_id)
            .first()
        )
        if conversation is None:
            raise Conversation.DoesNotExist("Not found.")
        data = conversation_data(membership, conversation, now)
        html = render_to_string("inbox/records/conversation.html", {"data": data, "timeline": _timeline(data)})
        return conversation, zip_bundle("conversation", html, data)

    return export_audited(build, membership=membership, bundle="conversation",
                          files=["conversation.html", "conversation.json", "SHA256SUMS"],
                          target_repr=lambda conversation: f"Conversation {conversation.pk}")
