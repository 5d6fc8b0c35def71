"""Keep the KPI rollups up to date: rebuild what changed, never add deltas.

`refresh(organisation_id)` (beat, every minute, metrics.tasks.refresh_rollups) finds the conversations
changed since the organisation's cursor minus an overlap (Conversation.updated_at, bumped by ingest,
replies and every inbox service), then

1. rebuilds their ResponseFact rows (one per conversation: first response and resolution times in clock
   and office hours, with the due times of the department's service levels);
2. rebuilds every ContactDaily and AgentDaily row of the organisation-local days those changes touched: the
   days of the new messages, and the opening and closing days before and after the change (a reopened
   conversation is no longer counted as closed on its old day).

A day is rebuilt from its messages and facts as a whole, so running twice, overlapping or after a crash
gives the same rows: the overlap window (like the inbox poll's) only costs a little repeated work, and a
transaction that committed late is picked up by the next run. Dashboards read only the rollups.

Rollups are derived data, rebuilt from audited sources: they write no audit event (docs/kpis.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
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
    with transaction.atomic():
        RollupCursor.objects.get_or_create(organisation_id=organisation_id, defaults={"refreshed_to": NEVER})
        cursor = (RollupCursor.objects.select_for_update(skip_locked=True)
                  .filter(organisation_id=organisation_id).first())
        if cursor is None:
            return RefreshResult(organisation_id, 0, 0, skipped=True)
        since = None if cursor.refreshed_to == NEVER else cursor.refreshed_to - OVERLAP
        zone = zone_of(organisation_id)
        conversations = Conversation.objects.for_organisation(organisation_id)
        if since is not None:
            conversations = conversations.filter(updated_at__gte=since)
        changed = list(conversations.values_list("pk", flat=True))
        days, departments_before = _facts_before(changed)
        days |= refresh_facts(organisation_id, changed, zone=zone, now=now)
        # A conversation moved to another department takes all its messages with it: all their days.
        moved = [pk for pk, department_id in ResponseFact.objects.filter(conversation_id__in=list(departments_before))
                 .values_list("conversation_id", "department_id") if departments_before[pk] != department_id]
        days |= _message_days(organisation_id, [pk for pk in changed if pk not in set(moved)], since, zone)
        days |= _message_days(organisation_id, moved, None, zone) if moved else set()
        rebuild_days(organisation_id, days, zone=zone)
        cursor.refreshed_to = now
        cursor.save(update_fields=["refreshed_to"])
    return RefreshResult(organisation_id, len(changed), len(days))


def rebuild(organisation_id: int) -> RefreshResult:
    """Everything again from the messages (a new deployment, or after changing how a KPI is counted)."""
    RollupCursor.objects.filter(organisation_id=organisation_id).update(
        refreshed_to=NEVER)
    return refresh(organisation_id)


def _facts_before(conversation_ids: list[int]) -> tuple[set[date], dict[int, int]]:
    """The opening and closing days the facts had before this run, and each conversation's department then."""
    days: set[date] = set()
    departments: dict[int, int] = {}
    for chunk in _chunks(conversation_ids):
        for pk, opened, closed, department_id in ResponseFact.objects.filter(conversation_id__in=chunk).values_list(
                "conversation_id", "opened_day", "closed_day", "department_id"):
            days.add(opened)
            departments[pk] = department_id
            if closed is not None:
                days.add(closed)
    return days, departments


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
def refresh_facts(organisation_id: int, conversation_ids: list[int], *, zone: ZoneInfo,
                  now: datetime | None = None) -> set[date]:
    """Rebuild the ResponseFact of each conversation; returns the opening and closing days they now have."""
    now = now or timezone.now()
    days: set[date] = set()
    for chunk in _chunks(conversation_ids):
        rows = list(Conversation.objects.filter(organisation_id=organisation_id, pk__in=chunk).values(
            "pk", "channel_id", "department_id", "platform", "status", "first_responded_at", "closed_at"))
        firsts = dict(Message.objects.filter(conversation_id__in=chunk, direction=MessageDirection.INBOUND)
                      .values("conversation_id").annotate(first=Min("created_at"))
                      .values_list("conversation_id", "first"))
        responders = _first_responders(chunk)
        calendars = calendars_for(organisation_id, {row["department_id"] for row in rows})
        facts = []
        for row in rows:
            first_inbound = firsts.get(row["pk"])
            if first_inbound is None:
                continue  # we started it (no inbound yet): not a contact
            calendar, policy = calendars[row["department_id"]]
            responded = row["first_responded_at"]
            if responded is not None and responded < first_inbound:
                responded = first_inbound
            closed = row["closed_at"] if row["status"] == ConversationStatus.CLOSED else None
            if closed is not None and closed < first_inbound:
                closed = first_inbound
            fact = ResponseFact(
                conversation_id=row["pk"], organisation_id=organisation_id, channel_id=row["channel_id"],
                department_id=row["department_id"], platform=row["platform"],
                opened_day=local_day(first_inbound, zone), first_inbound_at=first_inbound,
                first_response_at=responded, responder_id=responders.get(row["pk"]),
                first_response_due_at=calendar.due(first_inbound, policy.first_response_minutes),
                resolution_due_at=calendar.due(first_inbound, policy.resolution_minutes),
                closed_at=closed, closed_day=local_day(closed, zone) if closed else None, refreshed_at=now,
            )
            if responded is not None:
                fact.first_response_seconds = int((responded - first_inbound).total_seconds())
                fact.first_response_office_seconds = calendar.working_seconds(first_inbound, responded)
            if closed is not None:
                fact.resolution_seconds = int((closed - first_inbound).total_seconds())
                fact.resolution_office_seconds = calendar.working_seconds(first_inbound, closed)
            facts.append(fact)
            days.add(fact.opened_day)
            if fact.closed_day:
                days.add(fact.closed_day)
        ResponseFact.objects.filter(conversation_id__in=chunk).delete()
        ResponseFact.objects.bulk_create(facts, batch_size=1000)
    return days


def _first_responders(conversation_ids: list[int]) -> dict[int, int]:
    """The person who sent each conversation's first reply (automatic replies have no sender)."""
    first: dict[int, int] = {}
    rows = (Message.objects.filter(conversation_id__in=conversation_ids, direction=MessageDirection.OUTBOUND,
                                   sent_by__isnull=False)
            .order_by("conversation_id", "created_at", "id").values_list("conversation_id", "sent_by_id"))
    for conversation_id, user_id in rows:
        first.setdefault(conversation_id, user_id)
    return first


# -------------------------------------------------------------------------------------- daily rows
def rebuild_days(organisation_id: int, days: Iterable[date], *, zone: ZoneInfo | None = None) -> None:
    """Replace the ContactDaily and AgentDaily rows of these local days with counts from the source rows."""
    zone = zone or zone_of(organisation_id)
    for first, last in _runs(days):
        start, end = day_bounds(first, last, zone)
        contact: dict[tuple, dict] = {}

        def row(day, channel_id, department_id, platform, contact=contact):
            return _contact_row(contact, (day, channel_id, department_id), platform)

        messages = (Message.objects.filter(organisation_id=organisation_id, created_at__gte=start, created_at__lt=end)
                    .annotate(day=TruncDate("created_at", tzinfo=zone))
                    .values("day", "channel_id", "conversation__department_id", "conversation__platform")
                    .annotate(inbound=Count("pk", filter=Q(direction=MessageDirection.INBOUND)),
                              outbound=Count("pk", filter=Q(direction=MessageDirection.OUTBOUND)),
                              automatic=Count("pk", filter=Q(direction=MessageDirection.OUTBOUND,
                                                             sent_by__isnull=True))))
        for m in messages:
            r = row(m["day"], m["channel_id"], m["conversation__department_id"], m["conversation__platform"])
            r["inbound_messages"] += m["inbound"]
            r["outbound_messages"] += m["outbound"]
            r["automatic_replies"] += m["automatic"]
        facts = ResponseFact.objects.filter(organisation_id=organisation_id)
        for f in (facts.filter(opened_day__gte=first, opened_day__lte=last)
                  .values("opened_day", "channel_id", "department_id", "platform").annotate(n=Count("pk"))):
            row(f["opened_day"], f["channel_id"], f["department_id"], f["platform"])["conversations_opened"] += f["n"]
        for f in (facts.filter(closed_day__gte=first, closed_day__lte=last)
                  .values("closed_day", "channel_id", "department_id", "platform").annotate(n=Count("pk"))):
            row(f["closed_day"], f["channel_id"], f["department_id"], f["platform"])["conversations_closed"] += f["n"]
        agents = (Message.objects.filter(organisation_id=organisation_id, created_at__gte=start, created_at__lt=end,
                                         direction=MessageDirection.OUTBOUND, sent_by__isnull=False)
                  .annotate(day=TruncDate("created_at", tzinfo=zone))
                  .values("day", "conversation__department_id", "sent_by_id")
                  .annotate(replies=Count("pk"), conversations=Count("conversation_id", distinct=True)))
        ContactDaily.objects.filter(organisation_id=organisation_id, day__gte=first, day__lte=last).delete()
        AgentDaily.objects.filter(organisation_id=organisation_id, day__gte=first, day__lte=last).delete()
        ContactDaily.objects.bulk_create(
            [ContactDaily(organisation_id=organisation_id, day=day, channel_id=channel_id, department_id=department_id,
                          **values) for (day, channel_id, department_id), values in contact.items()],
            batch_size=1000)
        AgentDaily.objects.bulk_create(
            [AgentDaily(organisation_id=organisation_id, day=a["day"], department_id=a["conversation__department_id"],
                        agent_id=a["sent_by_id"], replies_sent=a["replies"], conversations_replied=a["conversations"])
             for a in agents],
            batch_size=1000)


def _contact_row(rows: dict[tuple, dict], key: tuple, platform: str) -> dict:
    if key not in rows:
        rows[key] = {"platform": platform, "inbound_messages": 0, "outbound_messages": 0, "automatic_replies": 0,
                     "conversations_opened": 0, "conversations_closed": 0}
    return rows[key]


def refresh_all(*, now: datetime | None = None) -> list[RefreshResult]:
    """Every organisation, one transaction each (the beat task)."""
    return [refresh(pk, now=now) for pk in Organisation.objects.order_by("pk").values_list("pk", flat=True)]
