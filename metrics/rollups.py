"""Keep the KPI rollups up to date: rebuild what changed, never add deltas.

`refresh(organisation_id)` (beat, every minute, metrics.tasks.refresh_rollups) finds the conversations
changed since the organisation's cursor minus an overlap (Conversation.updated_at, bumped by ingest,
replies and every inbox service), then

1. rebuilds the ResponseFact rows (one per conversation: first response and resolution times in clock
   and office hours, with the due times of the department's service levels) whose inputs changed, reading
   only the messages received since the cursor;
2. rebuilds every ContactDaily and AgentDaily row of the organisation-local days of those new messages (all
   the days of a conversation moved to another department), and recounts the conversations opened and
   closed on the days a changed fact counted on before or counts on now (a reopened conversation is no
   longer counted as closed on its old day) without rescanning those days' messages.

A day is rebuilt from its messages and facts as a whole, so running twice, overlapping or after a crash
gives the same rows: the overlap window (like the inbox poll's) only costs a little repeated work, and a
transaction that committed late is picked up by the next run. Dashboards read only the rollups.

Rollups are derived data, rebuilt from audited sources: they write no audit event (docs/kpis.md).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, models, transaction
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Organisation
from inbox.models import Conversation, ConversationStatus, Message, MessageDirection
from inbox.sla import calendars_for
from metrics.models import AgentDaily, ContactDaily, ResponseFact, RollupCursor

# Changes committed up to this long after their updated_at are still picked up by the next run.
OVERLAP = timedelta(minutes=10)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # a cursor that has never run: rebuild everything
CHUNK = 2000


@dataclass(frozen=True)
class RefreshResult:
    organisation_id: int
    conversations: int
    days: int
    skipped: bool = False


def zone_of(organisation_id: int) -> ZoneInfo:
    name = Organisation.objects.filter(pk=organisation_id).values_list("timezone", flat=True).first()
    try:
        return ZoneInfo(name or "Europe/London")
    except (ValueError, KeyError):
        return ZoneInfo("Europe/London")


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days first..last (clock changes included)."""
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for index in range(0, len(values), size):
        yield values[index:index + size]


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


# ------------------------------------------------------------------------------------------ refresh
def refresh(organisation_id: int, *, now: datetime | None = None) -> RefreshResult:
    """Bring one organisation's rollups up to `now`. A run already going for it makes this one skip."""
    now = now or timezone.now()
    # Created outside the run's transaction: two first runs at once then wait only for this INSERT, not for
    # each other's whole run, and the second one skips below instead of failing or repeating the work.
    RollupCursor.objects.get_or_create(organisation_id=organisation_id, defaults={"refreshed_to": NEVER})
    with transaction.atomic():
        cursor = (RollupCursor.objects.select_for_update(skip_locked=True)
                  .filter(organisation_id=organisation_id).first())
        if cursor is None:
            return RefreshResult(organisation_id, 0, 0, skipped=True)
        since = None if cursor.refreshed_to == NEVER else cursor.refreshed_to - OVERLAP
        zone = zone_of(organisation_id)
        conversations = Conversation.objects.for_organisation(organisation_id)
        if since is not None:
            conversations = conversations.filter(updated_at__gte=since)
        run = _refresh_facts(organisation_id, conversations, zone=zone, now=now, since=since)
        # Opened/closed counts change only on the days of facts that changed (new, reopened, closed, moved);
        # a reply or a follow-up leaves them alone, so a busy day does not rebuild the whole quarter.
        fact_days: set[date] = set()
        moved: list[int] = []
        for pk, (old, new) in run.changes.items():
            for key in (old, new):
                if key is not None:
                    fact_days.update(day for day in (key[0], key[1]) if day is not None)
            if old is not None and new is not None and old[2] != new[2]:
                moved.append(pk)
        # A conversation moved to another department takes all its messages with it: all their days. So does
        # one with no inbound message (no fact): we cannot tell whether it moved.
        everything = sorted(set(moved) | run.factless)
        message_days = run.message_days | (_message_days(organisation_id, everything, None, zone) if everything else set())
        changed = run.conversations
        rebuild_days(organisation_id, message_days, zone=zone, fact_days=fact_days - message_days)
        cursor.refreshed_to = now
        cursor.version += 1
        cursor.save(update_fields=["refreshed_to", "version"])
    return RefreshResult(organisation_id, changed, len(message_days | fact_days))


def rebuild(organisation_id: int) -> RefreshResult:
    """Everything again from the messages (a new deployment, or after changing how a KPI is counted)."""
    RollupCursor.objects.get_or_create(organisation_id=organisation_id, defaults={"refreshed_to": NEVER})
    with transaction.atomic():
        # The UPDATE waits for a run in progress rather than skipping: a rebuild asked for must happen.
        RollupCursor.objects.filter(organisation_id=organisation_id).update(refreshed_to=NEVER)
        # Rows of days that no longer have any source rows (erased, moved) would otherwise survive.
        ContactDaily.objects.filter(organisation_id=organisation_id).delete()
        AgentDaily.objects.filter(organisation_id=organisation_id).delete()
        return refresh(organisation_id)


def _message_days(organisation_id: int, conversation_ids: list[int], since: datetime | None,
                  zone: ZoneInfo) -> set[date]:
    """The local days of these conversations' messages received since `since` (all of them when None)."""
    messages = Message.objects.filter(organisation_id=organisation_id)
    days: set[date] = set()
    for chunk in _chunks(conversation_ids):
        selected = messages.filter(conversation_id__in=chunk)
        if since is not None:
            selected = selected.filter(received_at__gte=since)
        days.update(selected.annotate(day=TruncDate("created_at", tzinfo=zone)).values_list("day", flat=True).distinct())
    return days


# ---------------------------------------------------------------------------------- response facts
FACT_FIELDS = [field for field in ResponseFact._meta.concrete_fields]


@dataclass
class _FactRun:
    # {conversation: (key before, key after)} for each fact written or removed; key = _key(fact)
    changes: dict[int, tuple[tuple | None, tuple | None]] = field(default_factory=dict)
    message_days: set[date] = field(default_factory=set)  # local days of the messages received since
    factless: set[int] = field(default_factory=set)  # changed conversations without an inbound message
    conversations: int = 0  # how many were looked at


def _key(fact) -> tuple:
    """What the daily rows count of a fact: (opened_day, closed_day, department, channel, platform)."""
    if isinstance(fact, dict):
        return fact["opened_day"], fact["closed_day"], fact["department_id"], fact["channel_id"], fact["platform"]
    return fact.opened_day, fact.closed_day, fact.department_id, fact.channel_id, fact.platform


def refresh_facts(organisation_id: int, conversation_ids: list[int], *, zone: ZoneInfo,
                  now: datetime | None = None) -> set[date]:
    """Rebuild the ResponseFact of each conversation from all its messages; returns their opening and closing days."""
    days: set[date] = set()
    for chunk in _chunks(conversation_ids):
        selection = Conversation.objects.filter(organisation_id=organisation_id, pk__in=chunk)
        run = _refresh_facts(organisation_id, selection, zone=zone, now=now, since=None)
        days |= {day for _, new in run.changes.values() if new for day in new[:2] if day is not None}
    return days


def _refresh_facts(organisation_id: int, selection, *, zone: ZoneInfo, now: datetime | None,
                   since: datetime | None) -> _FactRun:
    """Bring the ResponseFact of each conversation of `selection` (a Conversation queryset) up to date.

    With `since`, only the messages received since then are read: the first inbound time is the earlier of
    the stored fact's and the new messages' (messages are never deleted, only redacted), and the first
    responder is looked up only for facts that have none. A fact whose inputs did not change is left alone
    (no office-hours arithmetic, no write). Without `since` (a rebuild), everything is read and rewritten.
    The queries select by `selection` as a subquery, never by long lists of ids; a conversation changed
    between two of them is ignored here and taken by the next run (its updated_at is after this run's cursor).
    """
    now = now or timezone.now()
    run = _FactRun()
    ids = selection.values("pk")
    rows = list(selection.values_list("pk", "channel_id", "department_id", "platform", "status",
                                      "first_responded_at", "closed_at"))
    existing = {} if since is None else {
        fact["conversation_id"]: fact for fact in ResponseFact.objects.filter(
            organisation_id=organisation_id, conversation_id__in=ids).values(
            "conversation_id", "first_inbound_at", "first_response_at", "responder_id", "closed_at",
            "opened_day", "closed_day", "department_id", "channel_id", "platform")}
    messages = Message.objects.filter(organisation_id=organisation_id, conversation_id__in=ids)
    if since is not None:
        messages = messages.filter(received_at__gte=since)
    firsts: dict[int, datetime] = {}
    answered: set[int] = set()
    for pk, day, first_in, first_out in (
            messages.annotate(day=TruncDate("created_at", tzinfo=zone)).values("conversation_id", "day")
            .annotate(first_in=Min("created_at", filter=Q(direction=MessageDirection.INBOUND)),
                      first_out=Min("created_at", filter=Q(direction=MessageDirection.OUTBOUND,
                                                           sent_by__isnull=False)))
            .values_list("conversation_id", "day", "first_in", "first_out")):
        run.message_days.add(day)
        if first_in is not None and (pk not in firsts or first_in < firsts[pk]):
            firsts[pk] = first_in
        if first_out is not None:
            answered.add(pk)
    if since is None:
        responders = _first_responders(organisation_id, ids)
    else:
        need = [pk for pk in answered if not (existing.get(pk) or {}).get("responder_id")]
        responders = {}
        for chunk in _chunks(need):
            responders.update(_first_responders(organisation_id, chunk))
    run.conversations = len(rows)
    calendars = calendars_for(organisation_id, {row[2] for row in rows})
    facts: list[dict] = []
    for pk, channel_id, department_id, platform, status, responded, closed_at in rows:
        old = existing.get(pk)
        first_inbound = min((t for t in (firsts.get(pk), old and old["first_inbound_at"]) if t is not None),
                            default=None)
        if first_inbound is None:
            run.factless.add(pk)  # we started it (no inbound yet): not a contact
            continue
        responder = (old and old["responder_id"]) or responders.get(pk)
        if responded is not None and responded < first_inbound:
            responded = first_inbound
        closed = closed_at if status == ConversationStatus.CLOSED else None
        if closed is not None and closed < first_inbound:
            closed = first_inbound
        if old is not None and (old["first_inbound_at"], old["first_response_at"], old["responder_id"],
                                old["closed_at"], old["department_id"], old["channel_id"], old["platform"]) == (
                first_inbound, responded, responder, closed, department_id, channel_id, platform):
            continue  # nothing it depends on changed
        calendar, policy = calendars[department_id]
        fact = {
            "conversation_id": pk, "organisation_id": organisation_id, "channel_id": channel_id,
            "department_id": department_id, "platform": platform, "opened_day": local_day(first_inbound, zone),
            "first_inbound_at": first_inbound, "first_response_at": responded, "responder_id": responder,
            "first_response_seconds": None, "first_response_office_seconds": None,
            "first_response_due_at": calendar.due(first_inbound, policy.first_response_minutes),
            "closed_at": closed, "closed_day": local_day(closed, zone) if closed else None,
            "resolution_seconds": None, "resolution_office_seconds": None,
            "resolution_due_at": calendar.due(first_inbound, policy.resolution_minutes), "refreshed_at": now,
        }
        if responded is not None:
            fact["first_response_seconds"] = int((responded - first_inbound).total_seconds())
            fact["first_response_office_seconds"] = calendar.working_seconds(first_inbound, responded)
        if closed is not None:
            fact["resolution_seconds"] = int((closed - first_inbound).total_seconds())
            fact["resolution_office_seconds"] = calendar.working_seconds(first_inbound, closed)
        facts.append(fact)
        run.changes[pk] = (_key(old) if old else None, _key(fact))
    if since is None:
        # A rebuild replaces every fact of the selection (those of conversations without inbound included).
        ResponseFact.objects.filter(organisation_id=organisation_id, conversation_id__in=ids).delete()
    else:
        for chunk in _chunks([fact["conversation_id"] for fact in facts], CHUNK * 5):
            ResponseFact.objects.filter(conversation_id__in=chunk).delete()
    _insert_facts(facts)
    return run


def _insert_facts(facts: list[dict]) -> None:
    """Insert fact rows (COPY on PostgreSQL, bulk_create elsewhere)."""
    if not facts:
        return
    if connection.vendor != "postgresql":
        ResponseFact.objects.bulk_create([ResponseFact(**fact) for fact in facts], batch_size=500)
        return
    # COPY: model instances, bulk_create or even INSERT … VALUES cost more time than PostgreSQL spends storing
    # the rows (bench/kpis.py); these are plain numbers, dates, short codes and UTC instants.
    # str() of an int, a date or a UTC datetime is a literal PostgreSQL reads; only the text columns (platform
    # codes) could hold a tab or a backslash. One comprehension per row, no call per cell: a day's 30,000 facts
    # take a tenth of a second here instead of half a second.
    names = [field.attname for field in FACT_FIELDS]
    texts = [field.attname for field in FACT_FIELDS if isinstance(field, models.CharField)]
    lines = []
    for fact in facts:
        for name in texts:
            fact[name] = _copy_text(fact[name])
        lines.append("\t".join(["\\N" if value is None else str(value) for value in map(fact.__getitem__, names)]))
    buffer = io.StringIO("\n".join(lines) + "\n")
    columns = ", ".join(f'"{field.column}"' for field in FACT_FIELDS)
    # wrap_database_errors: the same django.db errors (DataError, IntegrityError) as any ORM write.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(f'COPY "{ResponseFact._meta.db_table}" ({columns}) FROM STDIN', buffer)


def _copy_text(value: str | None) -> str | None:
    return None if value is None else value.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _first_responders(organisation_id: int, conversations) -> dict[int, int]:
    """The person who sent each conversation's first reply (automatic replies have no sender).

    `conversations`: ids or a subquery of them."""
    first: dict[int, int] = {}
    rows = (Message.objects.filter(organisation_id=organisation_id, conversation_id__in=conversations,
                                   direction=MessageDirection.OUTBOUND, sent_by__isnull=False)
            .order_by("conversation_id", "created_at", "id").values_list("conversation_id", "sent_by_id"))
    for conversation_id, user_id in rows:
        first.setdefault(conversation_id, user_id)
    return first


# -------------------------------------------------------------------------------------- daily rows
def rebuild_days(organisation_id: int, days: Iterable[date], *, zone: ZoneInfo | None = None,
                 fact_days: Iterable[date] = ()) -> None:
    """Replace the ContactDaily and AgentDaily rows of these local days with counts from the source rows.

    `fact_days`: days whose messages did not change, only which conversations opened or closed on them; their
    conversation counts are recounted from the facts and their message counts kept (no scan of messages).
    """
    zone = zone or zone_of(organisation_id)
    for first, last in _runs(days):
        start, end = day_bounds(first, last, zone)
        contact: dict[tuple, dict] = {}
        agents: dict[tuple, list[int]] = {}
        # One pass over the days' messages for both tables: grouped by sender too, so the agents' rows are
        # sums of these groups (a conversation has one channel, so distinct conversations add up).
        messages = (Message.objects.filter(organisation_id=organisation_id, created_at__gte=start, created_at__lt=end)
                    .annotate(day=TruncDate("created_at", tzinfo=zone))
                    .values("day", "channel_id", "conversation__department_id", "conversation__platform", "sent_by_id")
                    .annotate(inbound=Count("pk", filter=Q(direction=MessageDirection.INBOUND)),
                              outbound=Count("pk", filter=Q(direction=MessageDirection.OUTBOUND)),
                              conversations=Count("conversation_id", distinct=True,
                                                  filter=Q(direction=MessageDirection.OUTBOUND)))
                    .values_list("day", "channel_id", "conversation__department_id", "conversation__platform",
                                 "sent_by_id", "inbound", "outbound", "conversations"))
        for day, channel_id, department_id, platform, sent_by_id, inbound, outbound, conversations in messages:
            r = _contact_row(contact, (day, channel_id, department_id), platform)
            r["inbound_messages"] += inbound
            r["outbound_messages"] += outbound
            if sent_by_id is None:
                r["automatic_replies"] += outbound
            elif outbound:
                agent = agents.setdefault((day, department_id, sent_by_id), [0, 0])
                agent[0] += outbound
                agent[1] += conversations
        _count_conversations(organisation_id, first, last, contact)
        _replace_contact_rows(organisation_id, first, last, contact)
        AgentDaily.objects.filter(organisation_id=organisation_id, day__gte=first, day__lte=last).delete()
        AgentDaily.objects.bulk_create(
            [AgentDaily(organisation_id=organisation_id, day=day, department_id=department_id, agent_id=agent_id,
                        replies_sent=replies, conversations_replied=conversations)
             for (day, department_id, agent_id), (replies, conversations) in agents.items()],
            batch_size=1000)
    for first, last in _runs(fact_days):
        # Keep the message counts of these days as they are; only the conversation counts are recounted.
        contact = {}
        for r in ContactDaily.objects.filter(organisation_id=organisation_id, day__gte=first, day__lte=last).values(
                "day", "channel_id", "department_id", "platform", "inbound_messages", "outbound_messages",
                "automatic_replies"):
            row = _contact_row(contact, (r["day"], r["channel_id"], r["department_id"]), r["platform"])
            for name in ("inbound_messages", "outbound_messages", "automatic_replies"):
                row[name] = r[name]
        _count_conversations(organisation_id, first, last, contact)
        _replace_contact_rows(organisation_id, first, last, contact)


def _count_conversations(organisation_id: int, first: date, last: date, contact: dict[tuple, dict]) -> None:
    """Add the conversations opened and closed on the days first..last (from the facts) to `contact`."""
    facts = ResponseFact.objects.filter(organisation_id=organisation_id)
    for f in (facts.filter(opened_day__gte=first, opened_day__lte=last)
              .values("opened_day", "channel_id", "department_id", "platform").annotate(n=Count("pk"))):
        _contact_row(contact, (f["opened_day"], f["channel_id"], f["department_id"]),
                     f["platform"])["conversations_opened"] += f["n"]
    for f in (facts.filter(closed_day__gte=first, closed_day__lte=last)
              .values("closed_day", "channel_id", "department_id", "platform").annotate(n=Count("pk"))):
        _contact_row(contact, (f["closed_day"], f["channel_id"], f["department_id"]),
                     f["platform"])["conversations_closed"] += f["n"]


def _replace_contact_rows(organisation_id: int, first: date, last: date, contact: dict[tuple, dict]) -> None:
    ContactDaily.objects.filter(organisation_id=organisation_id, day__gte=first, day__lte=last).delete()
    ContactDaily.objects.bulk_create(
        # A key whose counts all fell to zero (a reopened conversation's old closing day) gets no row, as in a
        # rebuild from scratch.
        [ContactDaily(organisation_id=organisation_id, day=day, channel_id=channel_id, department_id=department_id,
                      **values) for (day, channel_id, department_id), values in contact.items()
         if any(values[name] for name in values if name != "platform")],
        batch_size=1000)


def _contact_row(rows: dict[tuple, dict], key: tuple, platform: str) -> dict:
    if key not in rows:
        rows[key] = {"platform": platform, "inbound_messages": 0, "outbound_messages": 0, "automatic_replies": 0,
                     "conversations_opened": 0, "conversations_closed": 0}
    return rows[key]


def refresh_all(*, now: datetime | None = None) -> list[RefreshResult]:
    """Every organisation, one transaction each (the beat task)."""
    return [refresh(pk, now=now) for pk in Organisation.objects.order_by("pk").values_list("pk", flat=True)]
