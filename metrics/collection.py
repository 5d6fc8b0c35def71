"""Collecting what the platforms report, through the connectors (issue 7 §1): a daily snapshot per channel and
each published post's metrics on a decaying schedule for 30 days.

- Snapshots. `snapshot_channel(channel, day)` upserts the channel's one row for that organisation-local day
  (ON CONFLICT (channel, day) DO UPDATE), so a rerun refreshes the figures and never adds a row.
  `collect_snapshots()` (beat, hourly) snapshots every usable channel that has no row for its local today yet:
  one platform call per channel per day, and a channel that failed (rate limit, outage) is tried again the next
  hour instead of losing its day.
- Posts. `track_published_targets()` starts a PostPerformance for every PublishTarget that reached the platform
  (state sent, platform id known) and has none. `collect_due()` claims due rows (SELECT ... FOR UPDATE SKIP
  LOCKED, next_collect_at moved to a lease), so two sweepers never take the same row; `collect_post()` stores a
  PostMetricSample and the latest figures only while its claim still holds (compare-and-set on next_collect_at),
  then moves next_collect_at to the next point of SCHEDULE, or clears it 30 days after publishing.
- Errors. A rate limit defers every collection of that channel to the platform's reset time (and, like polling,
  connector_session marks the channel rate limited, so nothing else calls it before then); a token that no longer
  works marks the channel for reconnecting and its rows wait, untouched, until it is reconnected; a permanent
  answer about one post (deleted, not visible) is kept in last_error and ends that post's schedule; anything
  transient is tried again at the next sweep.

Snapshots, samples and rollups are observed or derived data: they write no audit event (docs/kpis.md). The
channel-health changes a failure causes are audited by channels_app.services.channel_record_failure.
"""

from __future__ import annotations

import logging
import time as _time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from approvals.models import PublishTarget, TargetState
from channels_app.connectors.base import AuthExpired, ConnectorError, PostMetrics, RateLimited, TransientError
from channels_app.models import Channel, ChannelStatus, Platform
from metrics.models import ChannelSnapshot, PostMetricSample, PostPerformance

logger = logging.getLogger(__name__)

# After publishing: collected at each of these ages, then never again (issue 7: "for 30 days after publishing").
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(hours=1), timedelta(hours=3), timedelta(hours=6), timedelta(hours=12),
    timedelta(days=1), timedelta(days=2), timedelta(days=3), timedelta(days=5), timedelta(days=7),
    timedelta(days=14), timedelta(days=21), timedelta(days=30),
)
# A claimed row is not handed out again for this long (longer than the sweep task's hard time limit), so a
# worker killed mid-batch only delays its rows.
CLAIM_LEASE = timedelta(minutes=10)
DUE_BATCH = 200
TRACK_BATCH = 1000
# Channels whose platform may be called: like polling (inbox.polling.channels_due), a paused channel, one that
# needs reconnecting or is in error is skipped; a rate-limited one waits for its reset time.
USABLE = (ChannelStatus.ACTIVE, ChannelStatus.RATE_LIMITED)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "Europe/London")
    except (ValueError, KeyError):
        return ZoneInfo("Europe/London")


def usable_channels(now: datetime):
    return (Channel.objects.connected().filter(status__in=USABLE)
            .exclude(status=ChannelStatus.RATE_LIMITED, rate_limit_reset_at__gt=now))


def next_collection(published_at: datetime, now: datetime) -> datetime | None:
    """The first point of SCHEDULE after `now`, or None once the last one has passed."""
    for age in SCHEDULE:
        if published_at + age > now:
            return published_at + age
    return None


def engagement(metrics: PostMetrics | PostMetricSample | PostPerformance, followers: int | None
               ) -> tuple[int, float | None, str]:
    """(engagements, rate in percent, method) as metrics/definitions.py defines them: engagements ÷ impressions
    where the platform gave impressions, otherwise ÷ the channel's followers when the post was published."""
    engagements = (metrics.likes + metrics.replies + metrics.reposts + metrics.quotes + (metrics.link_clicks or 0))
    if metrics.impressions:
        return engagements, 100 * engagements / metrics.impressions, "impressions"
    if followers:
        return engagements, 100 * engagements / followers, "followers"
    return engagements, None, ""


class _session:
    """connector_session for a batch, with X's token renewed first (as polling and publishing do)."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self._inner = None

    def __enter__(self):
        from channels_app.services import channel_record_failure, connector_session, x_refresh_if_needed

        if self.channel.platform == Platform.X:
            try:
                self.channel = x_refresh_if_needed(self.channel)
            except ConnectorError as exc:
                channel_record_failure(channel_id=self.channel.pk, error=exc)
                raise
        self._inner = connector_session(self.channel)
        return self._inner.__enter__()

    def __exit__(self, *exc_info):
        return self._inner.__exit__(*exc_info)


# -------------------------------------------------------------------------------------- snapshots
def snapshot_channel(channel: Channel, day: date, *, now: datetime | None = None) -> ChannelSnapshot:
    """The channel's account figures for `day` (its organisation's local date), inserted or refreshed.
    Raises the connector's error when the platform did not answer (the caller decides what to do)."""
    now = now or timezone.now()
    with _session(channel) as connector:
        stats = connector.account_stats()
    row = ChannelSnapshot(organisation_id=channel.organisation_id, channel=channel, department_id=channel.department_id,
                          platform=channel.platform, day=day, followers=max(0, stats.followers),
                          following=stats.following, posts=stats.posts, impressions=stats.impressions,
                          reach=stats.reach, collected_at=now)
    ChannelSnapshot.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["channel", "day"],
        update_fields=["followers", "following", "posts", "impressions", "reach", "collected_at", "department",
                       "platform"])
    return ChannelSnapshot.objects.get(channel=channel, day=day)


@dataclass
class SnapshotRun:
    taken: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def collect_snapshots(*, now: datetime | None = None) -> SnapshotRun:
    """Every usable channel without a snapshot for its organisation's local today gets one."""
    now = now or timezone.now()
    run = SnapshotRun()
    channels = list(usable_channels(now).select_related("organisation").order_by("pk"))
    today = {c.pk: now.astimezone(_zone(c.organisation.timezone)).date() for c in channels}
    have = set(ChannelSnapshot.objects.filter(channel_id__in=list(today), day__in=set(today.values()))
               .values_list("channel_id", "day"))
    for channel in channels:
        if (channel.pk, today[channel.pk]) in have:
            continue
        try:
            snapshot_channel(channel, today[channel.pk], now=now)
        except ConnectorError as exc:
            # Recorded on the channel where it concerns the channel (connector_session); retried next hour.
            logger.info("Snapshot of channel %s failed: %s", channel.pk, exc.message)
            run.failed[channel.pk] = exc.message
            continue
        run.taken.append(channel.pk)
    return run


# ------------------------------------------------------------------------------------------ posts
def track_published_targets(*, now: datetime | None = None, limit: int = TRACK_BATCH) -> int:
    """A PostPerformance for each PublishTarget that reached the platform and has none yet; returns how many."""
    now = now or timezone.now()
    targets = (PublishTarget.objects.filter(state=TargetState.SENT, published_at__isnull=False, performance__isnull=True)
               .exclude(platform_id="")
               .values("pk", "organisation_id", "organisation__timezone", "post_id", "post__department_id",
                       "channel_id", "channel__platform", "platform_id", "published_at")
               .order_by("published_at", "pk")[:limit])
    by_zone: dict[str, list[dict]] = defaultdict(list)
    for target in targets:
        by_zone[target["organisation__timezone"] or "Europe/London"].append(target)
    rows = []
    for zone_name, group in by_zone.items():
        zone = _zone(zone_name)
        # The channel's followers on the latest snapshot at or before the local publishing day, in one query.
        followers = dict(
            PublishTarget.objects.filter(pk__in=[t["pk"] for t in group])
            .annotate(local_day=TruncDate("published_at", tzinfo=zone))
            .annotate(followers=Subquery(ChannelSnapshot.objects.filter(channel_id=OuterRef("channel_id"),
                                                                        day__lte=OuterRef("local_day"))
                                         .order_by("-day").values("followers")[:1]))
            .values_list("pk", "followers"))
        for t in group:
            local = t["published_at"].astimezone(zone)
            first = t["published_at"] + SCHEDULE[0]
            rows.append(PostPerformance(
                target_id=t["pk"], organisation_id=t["organisation_id"], post_id=t["post_id"],
                channel_id=t["channel_id"], department_id=t["post__department_id"], platform=t["channel__platform"],
                platform_id=t["platform_id"], published_at=t["published_at"], published_hour=local.hour,
                published_weekday=local.weekday(), followers=followers.get(t["pk"]),
                # Found late (or older than the schedule): collected once now, then from the schedule.
                next_collect_at=first if first > now else now,
            ))
    # Two sweepers at once: the primary key (the target) keeps one row each.
    PostPerformance.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def claim_due(*, now: datetime | None = None, limit: int = DUE_BATCH) -> list[PostPerformance]:
    """Due rows of usable channels, taken by this caller only: locked rows are skipped, taken ones get a lease."""
    now = now or timezone.now()
    lease = now + CLAIM_LEASE
    with transaction.atomic():
        ids = list(PostPerformance.objects.select_for_update(skip_locked=True, of=("self",))
                   .filter(next_collect_at__lte=now, channel__in=usable_channels(now))
                   .order_by("next_collect_at", "pk").values_list("pk", flat=True)[:limit])
        PostPerformance.objects.filter(pk__in=ids).update(next_collect_at=lease)
    return list(PostPerformance.objects.filter(pk__in=ids, next_collect_at=lease)
                .select_related("channel__organisation").order_by("channel_id", "published_at"))


@dataclass
class CollectRun:
    collected: int = 0
    stopped: int = 0  # permanent error: schedule ended
    retry: int = 0  # transient error or released unprocessed: next sweep
    deferred_channels: list[int] = field(default_factory=list)  # rate limited
    lost: int = 0  # someone else's claim took over meanwhile


def collect_due(*, now: datetime | None = None, limit: int = DUE_BATCH, budget: float | None = None) -> CollectRun:
    """Claims a batch of due rows and collects them channel by channel. `budget` (seconds): rows not started
    by then are handed back for the next sweep."""
    now = now or timezone.now()
    started = _time.monotonic()
    run = CollectRun()
    by_channel: dict[int, list[PostPerformance]] = defaultdict(list)
    for row in claim_due(now=now, limit=limit):
        by_channel[row.channel_id].append(row)
    for rows in by_channel.values():
        if budget is not None and _time.monotonic() - started > budget:
            _release(rows, now)
            run.retry += len(rows)
            continue
        collect_channel_posts(rows[0].channel, rows, now=now, run=run)
    return run


def collect_post(performance: PostPerformance, *, now: datetime | None = None) -> str:
    """Collects one post now (claimed by collect_due, or called directly); returns what happened."""
    run = collect_channel_posts(performance.channel, [performance], now=now)
    for outcome in ("collected", "stopped", "lost", "retry"):
        if getattr(run, outcome):
            return outcome
    return "deferred" if run.deferred_channels else "retry"


def collect_channel_posts(channel: Channel, rows: list[PostPerformance], *, now: datetime | None = None,
                          run: CollectRun | None = None) -> CollectRun:
    """One connector session for the channel, one platform call per post."""
    now = now or timezone.now()
    run = run or CollectRun()
    pending = list(rows)
    try:
        with _session(channel) as connector:
            while pending:
                row = pending[0]
                try:
                    metrics = connector.post_metrics(row.platform_id)
                except (RateLimited, AuthExpired):
                    raise  # about the channel: connector_session records it
                except TransientError as exc:
                    # The platform is struggling: this channel's remaining posts wait for the next sweep.
                    _note_error(pending, exc.message, now)
                    run.retry += len(pending)
                    pending = []
                    break
                except ConnectorError as exc:
                    # Permanent and about this post (deleted, no longer visible): its schedule ends.
                    pending.pop(0)
                    if _finish(row, exc.message):
                        run.stopped += 1
                    else:
                        run.lost += 1
                    continue
                pending.pop(0)
                if _store(row, metrics, now):
                    run.collected += 1
                else:
                    run.lost += 1
    except RateLimited as exc:
        for row in pending:
            _claim(row).update(next_collect_at=exc.reset_at)
        deferred = PostPerformance.objects.filter(channel_id=channel.pk, next_collect_at__lt=exc.reset_at).update(
            next_collect_at=exc.reset_at)
        logger.info("Metrics of channel %s deferred to %s (%s rows).", channel.pk, exc.reset_at, deferred)
        run.deferred_channels.append(channel.pk)
    except ConnectorError as exc:
        # AuthExpired (the channel now needs reconnecting and is skipped until then) or a failed token renewal.
        _note_error(pending, exc.message, now)
        run.retry += len(pending)
    return run


def _claim(row: PostPerformance):
    """The row as long as this caller's claim holds (next_collect_at unchanged since it was read)."""
    return PostPerformance.objects.filter(pk=row.pk, next_collect_at=row.next_collect_at)


def _release(rows: list[PostPerformance], now: datetime) -> None:
    for row in rows:
        _claim(row).update(next_collect_at=now)


def _note_error(rows: list[PostPerformance], message: str, now: datetime) -> None:
    for row in rows:
        _claim(row).update(next_collect_at=now, last_error=message[:500])


def _finish(row: PostPerformance, message: str) -> bool:
    return bool(_claim(row).update(next_collect_at=None, last_error=message[:500]))


def _store(row: PostPerformance, metrics: PostMetrics, now: datetime) -> bool:
    """The sample and the latest figures, only while the claim holds; False if another collector took over."""
    followers = row.followers
    if followers is None:
        # The publishing day's snapshot may have been taken after the row was started.
        local_day = row.published_at.astimezone(_zone(row.channel.organisation.timezone)).date()
        followers = (ChannelSnapshot.objects.filter(channel_id=row.channel_id, day__lte=local_day)
                     .order_by("-day").values_list("followers", flat=True).first())
    engagements, rate, method = engagement(metrics, followers)
    figures = {"likes": max(0, metrics.likes), "replies": max(0, metrics.replies), "reposts": max(0, metrics.reposts),
               "quotes": max(0, metrics.quotes), "impressions": metrics.impressions, "link_clicks": metrics.link_clicks}
    with transaction.atomic():
        if not _claim(row).update(
            **figures, engagements=engagements, followers=followers, engagement_rate=rate, rate_method=method,
            collections=F("collections") + 1, last_collected_at=now, last_error="",
            next_collect_at=next_collection(row.published_at, now),
        ):
            return False
        PostMetricSample.objects.create(organisation_id=row.organisation_id, target_id=row.target_id,
                                        collected_at=now, **figures)
    return True


# ---------------------------------------------------------------------------------------- rollups
def refresh_rollups_each(*, organisation_ids: list[int] | None = None, now: datetime | None = None) -> dict:
    """metrics.rollups.refresh for every organisation, each on its own: one failing is logged and the others go on."""
    from celery.exceptions import SoftTimeLimitExceeded

    from accounts.models import Organisation
    from metrics import rollups

    if organisation_ids is None:
        organisation_ids = list(Organisation.objects.order_by("pk").values_list("pk", flat=True))
    result: dict = {"refreshed": [], "skipped": [], "failed": {}}
    for organisation_id in organisation_ids:
        try:
            outcome = rollups.refresh(organisation_id, now=now)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: the rest wait for the next run
        except Exception as exc:  # noqa: BLE001 - one organisation's bad data must not stop everyone's dashboards
            logger.exception("Rollup refresh of organisation %s failed.", organisation_id)
            result["failed"][organisation_id] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        result["skipped" if outcome.skipped else "refreshed"].append(organisation_id)
    return result


__all__ = [
    "SCHEDULE", "claim_due", "collect_due", "collect_post", "collect_snapshots", "engagement", "next_collection",
    "refresh_rollups_each", "snapshot_channel", "track_published_targets",
]
