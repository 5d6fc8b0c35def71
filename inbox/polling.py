"""Polling a channel: one poll per channel at a time, nothing lost, nothing stored twice (issue 4 §1).

- The lease. `Channel.poll_lease_until` is taken by compare-and-set (only when empty or expired) and released at
  the end. It outlives the task's hard time limit, so two polls never overlap while a worker lives; a worker
  killed mid-poll leaves the lease to expire and the next poll simply starts again.
- The cursor. Each stream's cursor is saved only after the batch read with it is committed, and only by the
  holder of the lease. A worker killed between the commit and the save re-reads that batch next time, and the
  unique (channel, platform message id) makes the re-read a no-op.
- The overlap window. A since-id cursor skips an item that the platform shows late with an id older than the
  newest one already seen (search indexing lag, eventual consistency). Each save therefore also keeps a short
  history of cursors (`cursors["_overlap"]`, [[saved at, {stream: cursor}], ...]); after the normal read, a
  second read starts from the cursor as it was OVERLAP ago and is ingested through the same dedupe, its cursor
  thrown away. Working from the connectors' own earlier cursors (not from a time we compute) makes this the same
  for all five platforms whatever their cursors mean: X and Mastodon ids, Graph's "<time>|<ids>" watermarks,
  Bluesky's "<time>|<cid>" marks. The second read is skipped when there is nothing to re-read (the old cursor is
  the current one), so a quiet channel costs one read per poll; during bursts the normal read alone decides how
  far the cursor moves, so the overlap never makes a burst lose more than the connector's page limit would.
- Rate limits. A RateLimited answer (or a channel still inside its reset time) moves the next poll to the
  reset time; the channel's state is recorded by channels_app.services.connector_session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import EventType
from audit.services import record
from channels_app.connectors.base import ConnectorError, RateLimited
from channels_app.models import Channel, ChannelStatus, Platform
from channels_app.services import connector_session, x_refresh_if_needed
from inbox.ingest import ingest

logger = logging.getLogger(__name__)

# Longer than poll_channel's hard time limit (inbox.tasks.polling): a live worker always finishes first.
POLL_LEASE = timedelta(minutes=5)
OVERLAP = timedelta(minutes=5)
# A channel handed to a worker is not handed out again for this long, even if its task is lost.
DISPATCH_GRACE = timedelta(minutes=2)
HISTORY_KEY = "_overlap"
HISTORY_MAX = 60
DUE_BATCH = 500


@dataclass
class PollResult:
    status: str  # polled | busy | gone | failed
    fetched: int = 0
    created: int = 0
    duplicates: int = 0
    quarantined: int = 0
    recovered: int = 0  # items only the overlap re-read found
    conversation_ids: list[int] = field(default_factory=list)
    error: str = ""


def channels_due(now: datetime | None = None, limit: int = DUE_BATCH) -> list[int]:
    """Channels whose next poll is due, handed out once: their next_poll_at moves DISPATCH_GRACE on."""
    now = now or timezone.now()
    due = (
        Channel.objects.connected()
        .filter(status__in=[ChannelStatus.ACTIVE, ChannelStatus.RATE_LIMITED])
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lte=now))
        .exclude(status=ChannelStatus.RATE_LIMITED, rate_limit_reset_at__gt=now)
        .order_by(F("next_poll_at").asc(nulls_first=True), "pk")
    )
    ids = list(due.values_list("pk", flat=True)[:limit])
    if ids:
        Channel.objects.filter(pk__in=ids).update(next_poll_at=now + DISPATCH_GRACE)
    return ids


def _streams(cursors: dict) -> dict[str, str]:
    return {k: v for k, v in (cursors or {}).items() if not k.startswith("_") and isinstance(v, str)}


def _history(cursors: dict) -> list[tuple[datetime, dict[str, str]]]:
    entries = []
    for entry in (cursors or {}).get(HISTORY_KEY) or []:
        try:
            saved_at = datetime.fromisoformat(entry[0])
            entries.append((saved_at, {k: v for k, v in dict(entry[1]).items() if isinstance(v, str)}))
        except (TypeError, ValueError, IndexError):
            continue
    return sorted(entries, key=lambda e: e[0])


def overlap_base(history: list[tuple[datetime, dict[str, str]]], now: datetime) -> dict[str, str] | None:
    """The cursor as it stood OVERLAP ago: the newest one saved at or before then; for a channel younger than
    that, the oldest one known (the empty cursor of its first poll)."""
    if not history:
        return None
    cutoff = now - OVERLAP
    older = [streams for saved_at, streams in history if saved_at <= cutoff]
    return older[-1] if older else history[0][1]


def _remember(history: list, now: datetime, before: dict[str, str], after: dict[str, str]) -> list:
    if not history:
        # The cursor this channel started from: a channel younger than OVERLAP re-reads from there.
        history = [(now, before)]
    history = [*history, (now, after)]
    cutoff = now - OVERLAP
    older = [e for e in history if e[0] <= cutoff]
    kept = ([older[-1]] if older else []) + [e for e in history if e[0] > cutoff]
    return [[saved_at.isoformat(), streams] for saved_at, streams in kept[-HISTORY_MAX:]]


def channel_poll(channel_id: int, *, now: datetime | None = None) -> PollResult:
    """Reads a channel's new inbound items and ingests them; see the module docstring."""
    now = now or timezone.now()
    lease = now + POLL_LEASE
    taken = (
        Channel.objects.connected()
        .filter(pk=channel_id)
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lte=now))
        .update(poll_lease_until=lease)
    )
    if not taken:
        gone = not Channel.objects.connected().filter(pk=channel_id).exists()
        return PollResult(status="gone" if gone else "busy")
    mine = Channel.objects.filter(pk=channel_id, poll_lease_until=lease)
    channel = Channel.objects.get(pk=channel_id)
    next_poll = now + timedelta(seconds=channel.poll_interval_seconds)
    result = PollResult(status="polled")
    try:
        if channel.platform == Platform.X:
            channel = x_refresh_if_needed(channel)
        streams = _streams(channel.cursors)
        history = _history(channel.cursors)
        with connector_session(channel) as connector:
            batch = connector.fetch_inbound(dict(streams))
        _add(result, ingest(channel, batch.items, source="poll"), len(batch.items))
        # Only now that the batch is committed does the cursor move, and only while the lease is ours.
        remembered = _remember(history, now, streams, dict(batch.cursor))
        if not mine.update(cursors={**batch.cursor, HISTORY_KEY: remembered}, last_polled_at=now):
            logger.warning("Poll of channel %s outlived its lease; its cursor was not saved.", channel_id)
            return result
        if channel.status == ChannelStatus.RATE_LIMITED:
            # The limit has reset and the platform answered: healthy again.
            with transaction.atomic():
                if Channel.objects.filter(pk=channel_id, status=ChannelStatus.RATE_LIMITED).update(
                    status=ChannelStatus.ACTIVE, rate_limit_reset_at=None, last_error=""
                ):
                    record(
                        organisation=channel.organisation_id,
                        department=channel.department_id,
                        event_type=EventType.CHANNEL_RECOVERED,
                        target=channel,
                        changes={"status": {"from": ChannelStatus.RATE_LIMITED, "to": ChannelStatus.ACTIVE}},
                    )
        base = overlap_base(_history({HISTORY_KEY: remembered}), now)
        if base is not None and base != streams and base != dict(batch.cursor):
            with connector_session(channel) as connector:
                again = connector.fetch_inbound(dict(base))
            before = result.created
            _add(result, ingest(channel, again.items, source="poll"), len(again.items))
            result.recovered = result.created - before
    except RateLimited as exc:
        next_poll = max(next_poll, exc.reset_at)
        result.status, result.error = "failed", exc.message
    except ConnectorError as exc:
        logger.info("Poll of channel %s failed: %s", channel_id, exc.message)
        result.status, result.error = "failed", exc.message
    finally:
        mine.update(poll_lease_until=None, next_poll_at=next_poll)
    return result


def _add(result: PollResult, ingested, fetched: int) -> None:
    result.fetched += fetched
    result.created += ingested.created
    result.duplicates += ingested.duplicates
    result.quarantined += ingested.quarantined
    result.conversation_ids = sorted({*result.conversation_ids, *ingested.conversation_ids})
