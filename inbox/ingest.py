"""Ingestion: a batch of inbound items (one poll or one webhook call) into contacts, conversations and messages.

One transaction per batch and a fixed number of queries whatever its size (issue 4 §1, "written for bursts"):
the channel row is locked first, so two ingests of one channel (a poll and a webhook) run one after the other
and the "which messages are new" answer read up front stays true until the insert. Then:

1. every item is checked; a malformed one goes to QuarantinedItem with its raw payload and the error, the rest
   carries on;
2. messages already stored (unique channel + platform message id) are counted as duplicates and dropped: the
   same batch twice, an overlap re-read or a webhook racing a poll changes nothing;
3. contacts are upserted per platform user (name, handle and avatar kept up to date, last seen moved on);
4. items are threaded into conversations: public items by their thread (the root post, or the thread of the
   message they answer), direct messages by the platform's conversation id; missing conversations are created;
5. tone and risk are assessed per new message (inbox.tone with the organisation's keywords);
6. conversation aggregates (count, last message, preview, waiting since, queue position, tone, SLA due
   times) are updated in one bulk UPDATE; a closed conversation with new inbound reopens, audited;
7. after the commit, conversations with new inbound get their out-of-hours reply (inbox.replies).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import context as audit_context
from audit.models import EventType
from audit.services import record
from channels_app.connectors.base import InboundItem
from channels_app.models import Channel
from inbox.models import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Message,
    MessageDirection,
    OutOfHoursReply,
    QuarantinedItem,
    RiskKeyword,
)
from inbox.sla import apply_due_times
from inbox.tone import assess, keyword_pattern

logger = logging.getLogger(__name__)

KINDS = frozenset({"mention", "comment", "reply", "dm"})
ID_MAX = 255
TEXT_MAX = 100_000
PREVIEW_MAX = 280
INSERT_BATCH = 1000
# Fields of an existing conversation that one ingest may change (one bulk UPDATE).
AGGREGATE_FIELDS = [
    "status", "closed_at", "message_count", "last_message_at", "last_inbound_at", "last_message_preview",
    "waiting_since", "queue_at", "flagged", "sentiment", "risk_terms", "first_response_due_at",
    "resolution_due_at", "updated_at",
]  # fmt: skip


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reopened: int = 0
    # Conversations that received new inbound messages.
    conversation_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Malformed:
    """An item a caller could not even turn into an InboundItem (a webhook event it could not parse).

    `error` is the whole story for the admins' quarantine list and may quote the payload (it stays on the
    QuarantinedItem row, which erasure redacts). `summary` and `error_class` are all the append-only
    inbox.quarantined event says of it: they must hold no value taken from the payload."""

    raw: Any
    error: str
    platform_id: str = ""
    summary: str = "unreadable platform event"
    error_class: str = ""


class _Invalid(ValueError):
    """A failed check. `summary` is the message without any value of the item in it (the audit event's words)."""

    def __init__(self, message: str, *, summary: str | None = None, error_class: str = "") -> None:
        super().__init__(message)
        self.summary = message if summary is None else summary
        self.error_class = error_class


@dataclass
class _Item:
    platform_id: str
    kind: str
    text: str
    created_at: datetime
    author_id: str
    author_handle: str
    author_name: str
    author_avatar_url: str
    conversation_kind: str
    conversation_key: str
    in_reply_to_id: str
    url: str


# ------------------------------------------------------------------------------------------ checking
def _identifier(value: Any, what: str, *, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise _Invalid(f"{what} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Invalid(f"{what} must be text, not {type(value).__name__}")
    value = str(value).strip()
    if required and not value:
        raise _Invalid(f"{what} is missing")
    if len(value) > ID_MAX:
        raise _Invalid(f"{what} is longer than {ID_MAX} characters")
    if "\x00" in value:
        raise _Invalid(f"{what} contains a NUL character")
    return value


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"text must be text, not {type(value).__name__}")
    # PostgreSQL text cannot hold NUL; nothing a person wrote needs it.
    return value.replace("\x00", "")[:limit]


def _link(value: Any) -> str:
    # A bad avatar or permalink is not worth losing the message over: it is left out.
    if not isinstance(value, str) or len(value) > 1000 or not value.startswith(("https://", "http://")):
        return ""
    return value


def _check(item: Any) -> _Item:
    if isinstance(item, Malformed):
        raise _Invalid(item.error, summary=item.summary, error_class=item.error_class)
    if not isinstance(item, InboundItem):
        raise _Invalid(f"not an inbound item ({type(item).__name__})")
    platform_id = _identifier(item.platform_id, "platform id")
    if item.kind not in KINDS:
        raise _Invalid(f"unknown kind {item.kind!r}: expected one of {', '.join(sorted(KINDS))}", summary="unknown kind")
    created_at = item.created_at
    if not isinstance(created_at, datetime):
        raise _Invalid("created_at is missing or not a date and time")
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise _Invalid("created_at has no time zone")
    author_id = _identifier(item.author_id, "author id")
    private = item.kind == "dm"
    key = _identifier(item.conversation_key, "conversation key", required=private)
    return _Item(
        platform_id=platform_id,
        kind=item.kind,
        text=_text(item.text, TEXT_MAX),
        created_at=created_at,
        author_id=author_id,
        author_handle=_text(item.author_handle, ID_MAX),
        author_name=_text(item.author_name, ID_MAX),
        author_avatar_url=_link(item.author_avatar_url),
        conversation_kind=ConversationKind.PRIVATE if private else ConversationKind.PUBLIC,
        conversation_key=key,
        in_reply_to_id=_identifier(item.in_reply_to_id, "in-reply-to id", required=False),
        url=_link(item.url),
    )


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return {"repr": repr(value)[:10_000]}


def _raw_of(item: Any) -> Any:
    if isinstance(item, Malformed):
        return _jsonable(item.raw)
    if isinstance(item, InboundItem):
        if item.raw:
            return _jsonable(item.raw)
        return _jsonable({f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.name != "raw"})
    return _jsonable(item)


def _claimed_id(item: Any) -> str:
    value = getattr(item, "platform_id", "")
    return str(value)[:ID_MAX] if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


# ------------------------------------------------------------------------------------------- ingest
def ingest(channel: Channel, items: list, *, source: str = "poll") -> IngestResult:
    """Store a batch of inbound items for one channel; see the module docstring for the steps."""
    result = IngestResult()
    if not items:
        return result
    ctx = audit_context.current()
    label = ctx.system_actor or f"system: ingest ({source})"
    with audit_context.acting(dataclasses.replace(ctx, system_actor=label)), transaction.atomic():
        # Serialises ingests of one channel: the duplicate check below stays true until the insert.
        locked = Channel.objects.select_for_update().filter(pk=channel.pk).values_list("department_id", flat=True)
        department_id = next(iter(locked), None)
        if department_id is None:
            return result
        now = timezone.now()

        valid: dict[str, _Item] = {}
        # (item, error for the quarantine row, summary and error class for the audit event)
        broken: list[tuple[Any, str, str, str]] = []
        for item in items:
            try:
                checked = _check(item)
            except _Invalid as exc:
                broken.append((item, str(exc), exc.summary, exc.error_class))
                continue
            except (TypeError, ValueError, AttributeError) as exc:
                broken.append((item, f"unreadable item: {exc}", "unreadable item", type(exc).__name__))
                continue
            if checked.platform_id in valid:
                result.duplicates += 1
                continue
            valid[checked.platform_id] = checked
        result.quarantined = _quarantine(channel, department_id, broken, source, now)

        stored = set(
            Message.objects.filter(channel_id=channel.pk, platform_message_id__in=list(valid))
            .values_list("platform_message_id", flat=True)
        )
        result.duplicates += len(stored)
        fresh = sorted((i for i in valid.values() if i.platform_id not in stored), key=lambda i: (i.created_at, i.platform_id))
        if not fresh:
            return result

        contacts = _upsert_contacts(channel, fresh)
        _thread(channel, fresh)
        conversations, created = _conversations(channel, department_id, fresh, contacts, now)
        pattern = keyword_pattern(RiskKeyword.objects.filter(organisation_id=channel.organisation_id).values_list("phrase", flat=True))
        tones = _tones(fresh, pattern)

        by_thread: dict[tuple[str, str], list[_Item]] = defaultdict(list)
        for item in fresh:
            by_thread[(item.conversation_kind, item.conversation_key)].append(item)
        started_waiting: list[Conversation] = []
        reopened: list[Conversation] = []
        for thread, thread_items in by_thread.items():
            conversation = conversations[thread]
            if _absorb(conversation, thread_items, tones, now, is_new=thread in created):
                started_waiting.append(conversation)
            if conversation.status == ConversationStatus.CLOSED:
                conversation.status = ConversationStatus.OPEN
                reopened.append(conversation)
        # Before closed_at is cleared: a reopened conversation starts a new resolution clock (inbox.sla).
        apply_due_times(started_waiting)
        for conversation in reopened:
            conversation.closed_at = None

        _insert_conversations(channel, [conversations[t] for t in by_thread if t in created])
        _insert_messages(channel, fresh, conversations, contacts, tones, now)
        existing = [conversations[t] for t in by_thread if t not in created]
        if existing:
            _update_conversations(existing)
        for conversation in reopened:
            record(
                organisation=channel.organisation_id,
                department=conversation.department_id,
                event_type=EventType.CONVERSATION_REOPENED,
                target=conversation.as_model(),
                target_repr=f"Conversation {conversation.pk}",
                changes={"status": {"from": ConversationStatus.CLOSED, "to": ConversationStatus.OPEN},
                         "source": source},
            )
        result.created = len(fresh)
        result.reopened = len(reopened)
        result.conversation_ids = sorted(c.pk for c in conversations.values() if c.pk)
        ids = list(result.conversation_ids)
        transaction.on_commit(lambda: _after_commit(channel.pk, ids), robust=True)
    return result


def _after_commit(channel_id: int, conversation_ids: list[int]) -> None:
    """The out-of-hours reply (issue 4 §2), at most once per closed period: inbox.replies decides. A channel
    without an enabled out-of-hours reply (most of them) costs one indexed lookup instead of reading the whole
    batch's conversations back."""
    try:
        from inbox.replies import auto_reply_if_closed
    except ModuleNotFoundError as exc:
        # inbox.replies not installed (yet); any other import failure inside it is a real error.
        if exc.name != "inbox.replies":
            raise
        return
    if not OutOfHoursReply.objects.filter(channel_id=channel_id, enabled=True).exists():
        return
    auto_reply_if_closed(conversation_ids)


# ------------------------------------------------------------------------------------------- steps
def _quarantine(
    channel: Channel, department_id: int, broken: list[tuple[Any, str, str, str]], source: str, now: datetime
) -> int:
    """Malformed items kept whole for admins; an item already waiting in quarantine is not added again (the
    overlap window re-reads the same malformed item every poll).

    The error, which may quote the payload (a parse error's message), stays on the QuarantinedItem row, where
    erasure can redact it; the append-only audit event names each item's error only by its summary and class."""
    if not broken:
        return 0
    # (row, what the audit event may say of its error)
    rows = [
        (QuarantinedItem(organisation_id=channel.organisation_id, channel_id=channel.pk, source=source,
                         platform_message_id=_claimed_id(item), raw=_raw_of(item), error=error[:1000], created_at=now),
         {"error": summary[:200], **({"error_class": error_class[:100]} if error_class else {})})
        for item, error, summary, error_class in broken
    ]  # fmt: skip
    waiting = QuarantinedItem.objects.unresolved().filter(channel_id=channel.pk)
    with_ids = {r.platform_message_id for r, _said in rows if r.platform_message_id}
    known_ids = set(waiting.filter(platform_message_id__in=with_ids).values_list("platform_message_id", flat=True))
    known_raw: list = []
    if any(not r.platform_message_id for r, _said in rows):
        known_raw = list(waiting.filter(platform_message_id="").order_by("-id").values_list("raw", flat=True)[:500])
    keep, seen = [], set()
    for row, said in rows:
        key = row.platform_message_id or json.dumps(row.raw, sort_keys=True)
        if key in seen or row.platform_message_id in known_ids or (not row.platform_message_id and row.raw in known_raw):
            continue
        seen.add(key)
        keep.append((row, said))
    if not keep:
        return 0
    QuarantinedItem.objects.bulk_create([row for row, _said in keep])
    logger.warning("Quarantined %d inbound item(s) from channel %s: %s", len(keep), channel.pk, keep[0][1]["error"])
    record(
        organisation=channel.organisation_id,
        department=department_id,
        event_type=EventType.INBOUND_QUARANTINED,
        target=channel,
        changes={"count": len(keep), "source": source,
                 "items": [{"id": row.platform_message_id, **said} for row, said in keep[:20]]},
    )
    return len(keep)


def _upsert_contacts(channel: Channel, items: list[_Item]) -> dict[str, int]:
    """platform user id -> contact id for every author in the batch. On PostgreSQL one INSERT ... ON CONFLICT
    DO UPDATE (name, handle and avatar kept up to date, last seen moved on) whose RETURNING gives the ids, plus
    one SELECT for the few contacts it had nothing to change; elsewhere the ORM."""
    latest: dict[str, _Item] = {}
    first: dict[str, datetime] = {}
    for item in items:  # sorted oldest first: the last one seen carries the current name and avatar
        latest[item.author_id] = item
        first.setdefault(item.author_id, item.created_at)
    if connection.vendor != "postgresql":
        return _upsert_contacts_orm(channel, latest, first)
    # Sorted, so two ingests meeting the same people (two channels of one organisation) lock them in one order.
    rows = [
        (channel.organisation_id, channel.platform, user_id, item.author_handle, item.author_name,
         item.author_avatar_url, first[user_id], item.created_at)
        for user_id, item in sorted(latest.items())
    ]  # fmt: skip
    kept = "COALESCE(NULLIF(EXCLUDED.{0}, ''), c.{0})"
    sql = (
        f'INSERT INTO "{Contact._meta.db_table}" AS c (organisation_id, platform, platform_user_id, handle, name, '
        "avatar_url, first_seen_at, last_seen_at) VALUES %s "
        "ON CONFLICT (organisation_id, platform, platform_user_id) DO UPDATE SET "
        f"handle = {kept.format('handle')}, name = {kept.format('name')}, avatar_url = {kept.format('avatar_url')}, "
        "last_seen_at = GREATEST(c.last_seen_at, EXCLUDED.last_seen_at), "
        # A profile retention removed is shown again when the person writes again: it is then recent data,
        # and the nightly run must be able to remove it again later.
        "redacted_at = CASE WHEN c.redacted_at IS NOT NULL AND COALESCE(NULLIF(EXCLUDED.handle, ''), "
        "NULLIF(EXCLUDED.name, ''), NULLIF(EXCLUDED.avatar_url, '')) IS NOT NULL THEN NULL ELSE c.redacted_at END "
        "WHERE (c.handle, c.name, c.avatar_url, c.last_seen_at) IS DISTINCT FROM "
        f"({kept.format('handle')}, {kept.format('name')}, {kept.format('avatar_url')}, "
        "GREATEST(c.last_seen_at, EXCLUDED.last_seen_at)) "
        "RETURNING platform_user_id, id"
    )
    ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            cursor.execute(sql.replace("%s", _values(cursor, rows[start : start + INSERT_BATCH]), 1))
            ids.update(cursor.fetchall())
    unchanged = [user_id for user_id in latest if user_id not in ids]
    if unchanged:
        ids.update(
            Contact.objects.filter(
                organisation_id=channel.organisation_id, platform=channel.platform, platform_user_id__in=unchanged
            ).values_list("platform_user_id", "id")
        )
    return ids


def _upsert_contacts_orm(channel: Channel, latest: dict[str, _Item], first: dict[str, datetime]) -> dict[str, int]:
    known = {
        c.platform_user_id: c
        for c in Contact.objects.filter(
            organisation_id=channel.organisation_id, platform=channel.platform, platform_user_id__in=list(latest)
        )
    }
    changed = []
    for user_id, contact in known.items():
        item = latest[user_id]
        before = (contact.handle, contact.name, contact.avatar_url, contact.last_seen_at)
        contact.handle = item.author_handle or contact.handle
        contact.name = item.author_name or contact.name
        contact.avatar_url = item.author_avatar_url or contact.avatar_url
        contact.last_seen_at = max(contact.last_seen_at, item.created_at)
        if contact.redacted_at is not None and (item.author_handle or item.author_name or item.author_avatar_url):
            contact.redacted_at = None  # shown again: recent data, for the nightly run to remove again later
        if (contact.handle, contact.name, contact.avatar_url, contact.last_seen_at) != before:
            changed.append(contact)
    if changed:
        Contact.objects.bulk_update(
            changed, ["handle", "name", "avatar_url", "last_seen_at", "redacted_at"], batch_size=INSERT_BATCH
        )
    missing = [
        Contact(organisation_id=channel.organisation_id, platform=channel.platform, platform_user_id=user_id,
                handle=item.author_handle, name=item.author_name, avatar_url=item.author_avatar_url,
                first_seen_at=first[user_id], last_seen_at=item.created_at)
        for user_id, item in latest.items()
        if user_id not in known
    ]  # fmt: skip
    if missing:
        # Another channel of the same organisation and platform may add the same person at the same moment.
        Contact.objects.bulk_create(
            missing, batch_size=INSERT_BATCH, update_conflicts=True,
            unique_fields=["organisation", "platform", "platform_user_id"], update_fields=["last_seen_at"],
        )  # fmt: skip
        known.update({c.platform_user_id: c for c in missing})
    return {user_id: contact.pk for user_id, contact in known.items()}


def _thread(channel: Channel, items: list[_Item]) -> None:
    """Public items without a thread key join the thread of the message they answer (in this batch or stored),
    else the thread of the post they answer (our post: the conversation under it), else their own."""
    orphans = [i for i in items if i.conversation_kind == ConversationKind.PUBLIC and not i.conversation_key]
    if not orphans:
        return
    in_batch = {i.platform_id: i for i in items}
    parents = {i.in_reply_to_id for i in orphans if i.in_reply_to_id and i.in_reply_to_id not in in_batch}
    stored = {}
    if parents:
        stored = dict(
            Message.objects.filter(
                channel_id=channel.pk, platform_message_id__in=parents, conversation__kind=ConversationKind.PUBLIC
            ).values_list("platform_message_id", "conversation__key")
        )
    for item in orphans:  # oldest first, so a parent in the batch has its key already
        parent = in_batch.get(item.in_reply_to_id) if item.in_reply_to_id else None
        if parent is not None and parent.conversation_kind == ConversationKind.PUBLIC and parent.conversation_key:
            item.conversation_key = parent.conversation_key
        else:
            item.conversation_key = stored.get(item.in_reply_to_id) or item.in_reply_to_id or item.platform_id


# What one ingest reads of an existing conversation and may change (AGGREGATE_FIELDS), plus what the SLA needs.
CONVERSATION_READ = ["id", "kind", "key", "organisation_id", "department_id", "contact_id", "created_at", *AGGREGATE_FIELDS]


class _Conversation:
    """A conversation as ingest works on it: plain attributes, no model instance (building tens of thousands of
    those per burst cost more than the SQL). inbox.sla.apply_due_times reads and sets the same attribute names
    as on Conversation."""

    __slots__ = ("pk", "channel_id", "platform", *CONVERSATION_READ[1:])

    def __init__(self, **values):
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    @property
    def id(self):
        return self.pk

    def as_model(self) -> Conversation:
        """An unsaved-looking instance carrying the same values (audit targets, the non-PostgreSQL path)."""
        fields = {name: getattr(self, name) for name in self.__slots__ if name not in ("pk", "id")}
        return Conversation(pk=self.pk, **fields)


def _conversations(
    channel: Channel, department_id: int, items: list[_Item], contacts: dict[str, int], now: datetime
) -> tuple[dict[tuple[str, str], _Conversation], set[tuple[str, str]]]:
    """(kind, key) -> conversation for every thread in the batch (new ones without pk), and the set of new threads."""
    threads = {(i.conversation_kind, i.conversation_key): i for i in reversed(items)}  # the oldest item of each
    rows = Conversation.objects.filter(channel_id=channel.pk, key__in={key for _, key in threads}).values_list(
        *CONVERSATION_READ
    )
    found = {}
    for row in rows:
        values = dict(zip(CONVERSATION_READ, row, strict=True))
        if (values["kind"], values["key"]) in threads:
            values["pk"] = values.pop("id")
            found[(values["kind"], values["key"])] = _Conversation(
                channel_id=channel.pk, platform=channel.platform, **values
            )
    created = set()
    for thread, first in threads.items():
        if thread in found:
            continue
        created.add(thread)
        found[thread] = _Conversation(
            pk=None, organisation_id=channel.organisation_id, channel_id=channel.pk, department_id=department_id,
            platform=channel.platform, kind=thread[0], key=thread[1], contact_id=contacts[first.author_id],
            status=ConversationStatus.OPEN, message_count=0, last_message_at=first.created_at, created_at=now,
            risk_terms=[], flagged=False, last_message_preview="", queue_at=now, updated_at=now,
        )  # fmt: skip
    return found, created


def _tones(items: list[_Item], pattern) -> dict[str, Any]:
    """platform id -> Tone; VADER runs once per distinct text in the batch (retweets, copied complaints)."""
    by_text: dict[str, Any] = {}
    tones = {}
    for item in items:
        tone = by_text.get(item.text)
        if tone is None:
            tone = by_text[item.text] = assess(item.text, pattern)
        tones[item.platform_id] = tone
    return tones


def _absorb(conversation: Conversation, items: list[_Item], tones: dict, now: datetime, *, is_new: bool) -> bool:
    """Folds new inbound messages (oldest first) into the conversation's aggregates; True if it starts waiting."""
    newest = items[-1]
    conversation.message_count += len(items)
    if is_new or newest.created_at >= conversation.last_message_at:
        conversation.last_message_at = newest.created_at
        conversation.last_message_preview = newest.text[:PREVIEW_MAX]
    if conversation.last_inbound_at is None or newest.created_at > conversation.last_inbound_at:
        conversation.last_inbound_at = newest.created_at
    starts_waiting = conversation.waiting_since is None
    if starts_waiting:
        conversation.waiting_since = items[0].created_at
    conversation.queue_at = conversation.waiting_since
    batch_tones = [tones[i.platform_id] for i in items]
    lowest = min(t.sentiment for t in batch_tones)
    conversation.sentiment = lowest if conversation.sentiment is None else min(conversation.sentiment, lowest)
    terms = set(conversation.risk_terms or [])
    for tone in batch_tones:
        terms.update(tone.risk_terms)
    conversation.risk_terms = sorted(terms)
    conversation.flagged = conversation.flagged or any(t.flagged for t in batch_tones)
    conversation.updated_at = now
    return starts_waiting


def _values(cursor, rows: list[tuple], template: str | None = None) -> str:
    """rows as one VALUES list, quoted by psycopg2 itself (executed through Django's cursor so query counts see
    it)."""
    template = template or "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    return b", ".join(cursor.cursor.mogrify(template, row) for row in rows).decode()


NEW_CONVERSATION_COLUMNS = [
    "organisation_id", "channel_id", "department_id", "platform", "kind", "key", "contact_id", "priority",
    "created_at", *AGGREGATE_FIELDS,
]  # fmt: skip


def _insert_conversations(channel: Channel, conversations: list[_Conversation]) -> None:
    """New conversations; their ids come back from RETURNING (matched by thread, not by position)."""
    if not conversations:
        return
    if connection.vendor != "postgresql":
        models = [c.as_model() for c in conversations]
        Conversation.objects.bulk_create(models, batch_size=INSERT_BATCH)
        for conversation, model in zip(conversations, models, strict=True):
            conversation.pk = model.pk
        return
    from psycopg2.extras import Json

    priority = Conversation._meta.get_field("priority").get_default()
    by_thread = {(c.kind, c.key): c for c in conversations}
    rows = [
        tuple(priority if name == "priority" else Json(c.risk_terms) if name == "risk_terms" else getattr(c, name)
              for name in NEW_CONVERSATION_COLUMNS)
        for c in conversations
    ]  # fmt: skip
    sql = (f'INSERT INTO "{Conversation._meta.db_table}" ({", ".join(NEW_CONVERSATION_COLUMNS)}) VALUES %s '
           "RETURNING kind, key, id")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            cursor.execute(sql.replace("%s", _values(cursor, rows[start : start + INSERT_BATCH]), 1))
            for kind, key, pk in cursor.fetchall():
                by_thread[(kind, key)].pk = pk


def _update_conversations(conversations: list[_Conversation]) -> None:
    """The aggregates of existing conversations: one UPDATE ... FROM (VALUES ...) per INSERT_BATCH rows on
    PostgreSQL (Django's bulk_update writes a CASE per row and field, whose compiling alone took most of an
    ingest's time); the ORM elsewhere."""
    if connection.vendor != "postgresql":
        Conversation.objects.bulk_update([c.as_model() for c in conversations], AGGREGATE_FIELDS, batch_size=INSERT_BATCH)
        return
    from psycopg2.extras import Json

    meta = Conversation._meta
    fields = [meta.pk, *(meta.get_field(name) for name in AGGREGATE_FIELDS)]
    template = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in fields) + ")"
    assignments = ", ".join(f'"{f.column}" = v."{f.column}"' for f in fields[1:])
    names = ", ".join(f'"{f.column}"' for f in fields)
    sql = (f'UPDATE "{meta.db_table}" AS t SET {assignments} FROM (VALUES %s) AS v ({names}) '
           f'WHERE t."{meta.pk.column}" = v."{meta.pk.column}"')
    rows = [
        (c.pk, *(Json(c.risk_terms) if name == "risk_terms" else getattr(c, name) for name in AGGREGATE_FIELDS))
        for c in sorted(conversations, key=lambda c: c.pk)  # one lock order for concurrent ingests
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            cursor.execute(sql.replace("%s", _values(cursor, rows[start : start + INSERT_BATCH], template), 1))


MESSAGE_COLUMNS = [
    "organisation_id", "channel_id", "conversation_id", "platform_message_id", "direction", "kind", "text", "author_id",
    "in_reply_to_id", "url", "created_at", "received_at", "sentiment", "flagged",
]  # fmt: skip


def _insert_messages(channel, items: list[_Item], conversations: dict, contacts: dict, tones: dict, now: datetime) -> None:
    """The new messages, ON CONFLICT DO NOTHING on (channel, platform message id). On PostgreSQL one plain INSERT
    per INSERT_BATCH rows built from tuples (no model instances: half of the insert's time in bench/ingest.py)."""
    rows = [
        (channel.organisation_id, channel.pk, conversations[(i.conversation_kind, i.conversation_key)].pk, i.platform_id,
         MessageDirection.INBOUND.value, i.kind, i.text, contacts[i.author_id], i.in_reply_to_id, i.url, i.created_at,
         now, tones[i.platform_id].sentiment, tones[i.platform_id].flagged)
        for i in items
    ]  # fmt: skip
    if connection.vendor != "postgresql":
        Message.objects.bulk_create(
            [Message(**dict(zip(MESSAGE_COLUMNS, row, strict=True))) for row in rows],
            batch_size=INSERT_BATCH, ignore_conflicts=True,
        )  # fmt: skip
        return
    sql = (f'INSERT INTO "{Message._meta.db_table}" ({", ".join(MESSAGE_COLUMNS)}) VALUES %s '
           "ON CONFLICT (channel_id, platform_message_id) DO NOTHING")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_BATCH):
            cursor.execute(sql.replace("%s", _values(cursor, rows[start : start + INSERT_BATCH]), 1))
