"""Collection through the connectors against the simulator (issue 7 §1): daily snapshots, per-post metrics on the
decaying schedule, the engagement method per platform, rate limits, deleted posts, concurrent collectors.

The clock is passed as `now=` (no clock-faking library is installed); the platforms are the simulator over HTTP.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from approvals.models import PublishTarget, TargetState
from audit.models import AuditEvent
from channels_app.connectors import get_connector
from channels_app.connectors.base import MediaItem
from channels_app.models import Channel, ChannelStatus
from metrics import collection, tasks
from metrics.collection import SCHEDULE
from metrics.models import ChannelSnapshot, PostMetricSample, PostPerformance
from simulator.platforms import bluesky as bsky_sim
from simulator.platforms import graph as graph_sim
from simulator.platforms import graph_api as graph_people
from simulator.platforms import x as x_sim
from tests.approvals_factories import demo_channel, make_post
from tests.inbox.test_reconcile_platforms import MASTODON_CITIZEN_ID

pytestmark = pytest.mark.django_db

# Simulator page module and the public account that reacts, per platform.
PUBLIC = {
    "x": ("x", x_sim.CITIZEN_ID),
    "facebook": ("graph", graph_people.CITIZEN_ID),
    "instagram": ("graph", graph_people.CITIZEN_ID),
    "mastodon": ("mastodon", MASTODON_CITIZEN_ID),
    "bluesky": ("bsky", bsky_sim.CITIZEN_DID),
}
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def react(sim, platform: str, post_id: str, action: str = "like", text: str = "") -> None:
    module, author = PUBLIC[platform]
    form = {"platform": module, "action": action, "author": author, "post": post_id}
    if action == "comment":
        form.update(text=text, target=post_id)
    response = requests.post(f"{sim.url}/", data=form, timeout=5)
    response.raise_for_status()
    assert "Could not" not in response.text and "Choose" not in response.text, response.text[-400:]


def on_platform(sim, channel: Channel, text: str) -> str:
    """Publishes `text` on the simulator's account of the channel; returns the platform id."""
    if channel.platform == "instagram":
        # The simulator's seeded council media (Instagram publishing needs a hosted picture).
        return next(m["id"] for m in sim.state()["graph"]["ig_media"].values()
                    if m["ig_id"] == graph_sim.COUNCIL_IG_ID and not m.get("carousel_parent"))
    media = [MediaItem(TINY_PNG, "image/png", "A bin.")] if channel.platform == "instagram" else []
    return get_connector(channel).publish(text=text, media=media).platform_id


def sent_target(org, channel: Channel, platform_id: str, published_at: datetime, title: str = "Bins") -> PublishTarget:
    """A post published on `channel` at `published_at` as approvals.publishing leaves it (test setup via the ORM)."""
    post = make_post(org, [channel], title=title, body=f"{title} are collected on Monday.")
    return PublishTarget.objects.create(organisation=org.organisation, post=post, channel=channel,
                                        state=TargetState.SENT, platform_id=platform_id, published_at=published_at)


def metric_reads(sim, platform: str) -> int:
    paths = {"x": "/2/tweets/", "mastodon": "/api/v1/statuses/", "bluesky": "/xrpc/app.bsky.feed.getPosts",
             "facebook": "/", "instagram": "/"}
    module = {"facebook": "graph", "instagram": "graph", "bluesky": "bsky"}.get(platform, platform)
    return len([c for c in sim.calls(module, "") if c["method"] == "GET" and paths[platform] in c["path"]])


# ------------------------------------------------------------------------------------------ snapshots
def test_snapshot_is_one_row_per_channel_and_local_day_and_a_rerun_refreshes_it(sim, personas):
    org = personas.a
    channel = demo_channel(org, "mastodon")
    day = datetime(2026, 6, 1, tzinfo=UTC).date()
    first = collection.snapshot_channel(channel, day)
    stats = get_connector(channel).account_stats()
    assert (first.followers, first.following, first.posts) == (stats.followers, stats.following, stats.posts)
    assert first.followers > 0 and first.impressions is None and first.reach is None  # Mastodon gives neither

    requests.post(f"{sim.url}/mastodon/api/v1/accounts/{channel.account_id}/unfollow",
                  headers={"Authorization": "Bearer sim-citizen-token"}, timeout=5).raise_for_status()
    again = collection.snapshot_channel(channel, day)
    assert ChannelSnapshot.objects.filter(channel=channel).count() == 1
    assert again.pk == first.pk and again.followers == first.followers - 1


def test_hourly_sweep_takes_each_usable_channel_once_per_local_day(sim, personas):
    org = personas.a
    x, instagram = demo_channel(org, "x"), demo_channel(org, "instagram")
    paused = demo_channel(org, "mastodon")
    Channel.objects.filter(pk=paused.pk).update(status=ChannelStatus.PAUSED)
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (summer time): the organisation's day is 1 July.
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    run = collection.collect_snapshots(now=late)
    assert sorted(run.taken) == sorted([x.pk, instagram.pk]) and not run.failed
    assert set(ChannelSnapshot.objects.values_list("day", flat=True)) == {datetime(2026, 7, 1).date()}
    snap = ChannelSnapshot.objects.get(channel=instagram)
    assert snap.impressions is not None and snap.reach is not None  # Instagram's account insights

    calls = len(sim.calls())
    assert collection.collect_snapshots(now=late + timedelta(hours=1)).taken == []
    assert len(sim.calls()) == calls  # already taken today: the platforms are not asked again
    collection.collect_snapshots(now=late + timedelta(days=1))
    assert ChannelSnapshot.objects.filter(channel=x).count() == 2
    assert not ChannelSnapshot.objects.filter(channel=paused).exists()


def test_snapshot_failure_is_retried_by_the_next_sweep(sim, personas):
    channel = demo_channel(personas.a, "bluesky")
    sim.fault("bsky", "server_error", path="/xrpc/app.bsky.actor.getProfile")
    now = timezone.now()
    run = collection.collect_snapshots(now=now)
    assert list(run.failed) == [channel.pk] and not ChannelSnapshot.objects.exists()
    assert collection.collect_snapshots(now=now + timedelta(hours=1)).taken == [channel.pk]


# ------------------------------------------------------------------------------------- post metrics
def test_published_post_is_tracked_and_collected_on_the_decaying_schedule_for_30_days(sim, personas):
    org = personas.a
    channel = demo_channel(org, "x")
    published = datetime(2026, 3, 27, 17, 15, tzinfo=UTC)  # a Friday; London is still on GMT
    target = sent_target(org, channel, on_platform(sim, channel, "Library hours change"), published)
    pending = sent_target(org, demo_channel(org, "mastodon"), "", published, title="Not sent")
    PublishTarget.objects.filter(pk=pending.pk).update(state=TargetState.PENDING)

    assert collection.track_published_targets(now=published + timedelta(minutes=2)) == 1
    assert collection.track_published_targets(now=published + timedelta(minutes=4)) == 0
    row = PostPerformance.objects.get(target=target)
    assert (row.published_hour, row.published_weekday, row.next_collect_at) == (17, 4, published + timedelta(hours=1))
    assert row.department_id == target.post.department_id and row.platform_id == target.platform_id

    assert collection.collect_due(now=published + timedelta(minutes=59)).collected == 0
    react(sim, "x", target.platform_id)
    seen = []
    for age in SCHEDULE:
        run = collection.collect_due(now=published + age)
        assert run.collected == 1, age
        row.refresh_from_db()
        seen.append(row.next_collect_at)
    assert seen == [published + age for age in SCHEDULE[1:]] + [None]
    assert row.collections == len(SCHEDULE) == PostMetricSample.objects.filter(target=target).count() == 12
    assert row.likes == 1 and row.rate_method == "impressions"
    assert collection.collect_due(now=published + timedelta(days=60)).collected == 0
    samples = list(PostMetricSample.objects.filter(target=target).order_by("collected_at")
                   .values_list("collected_at", flat=True))
    assert samples == [published + age for age in SCHEDULE]


def test_a_post_found_late_is_collected_at_once_then_follows_the_schedule(sim, personas):
    org = personas.a
    channel = demo_channel(org, "mastodon")
    published = timezone.now() - timedelta(hours=2)
    target = sent_target(org, channel, on_platform(sim, channel, "Found late"), published)
    now = timezone.now()
    collection.track_published_targets(now=now)
    assert PostPerformance.objects.get(target=target).next_collect_at == now
    assert collection.collect_due(now=now).collected == 1
    assert PostPerformance.objects.get(target=target).next_collect_at == published + timedelta(hours=3)


def test_tracking_takes_a_constant_number_of_queries(sim, personas, django_assert_num_queries):
    org = personas.a
    channel = demo_channel(org, "bluesky")
    at = timezone.now() - timedelta(minutes=5)
    for n in range(4):
        sent_target(org, channel, f"at://{channel.account_id}/app.bsky.feed.post/{n}", at, title=f"Post {n}")
    with django_assert_num_queries(3):  # targets, followers per zone, insert
        assert collection.track_published_targets() == 4


@pytest.mark.parametrize(("platform", "method"), [
    ("x", "impressions"), ("facebook", "impressions"), ("instagram", "impressions"),
    ("mastodon", "followers"), ("bluesky", "followers"),
])
def test_engagement_rate_uses_impressions_where_the_platform_gives_them_otherwise_followers(
        platform, method, sim, personas):
    org = personas.a
    channel = demo_channel(org, platform)
    now = timezone.now()
    snapshot = collection.snapshot_channel(channel, now.date() - timedelta(days=1))
    target = sent_target(org, channel, on_platform(sim, channel, f"Park reopens ({platform})"), now - timedelta(hours=1))
    react(sim, platform, target.platform_id)
    collection.track_published_targets(now=now)
    assert collection.collect_due(now=now).collected == 1

    row = PostPerformance.objects.get(target=target)
    sample = PostMetricSample.objects.get(target=target)
    assert row.likes == sample.likes >= 1
    assert row.engagements == row.likes + row.replies + row.reposts + row.quotes + (row.link_clicks or 0)
    assert row.followers == snapshot.followers > 0
    assert row.rate_method == method
    if method == "impressions":
        assert row.impressions == sample.impressions > 0
        assert row.engagement_rate == pytest.approx(100 * row.engagements / row.impressions)
    else:
        assert row.impressions is None
        assert row.engagement_rate == pytest.approx(100 * row.engagements / snapshot.followers)


def test_without_impressions_or_a_snapshot_there_is_no_rate(sim, personas):
    org = personas.a
    channel = demo_channel(org, "bluesky")
    now = timezone.now()
    target = sent_target(org, channel, on_platform(sim, channel, "No snapshot yet"), now - timedelta(hours=1))
    collection.track_published_targets(now=now)
    collection.collect_due(now=now)
    row = PostPerformance.objects.get(target=target)
    assert (row.collections, row.followers, row.engagement_rate, row.rate_method) == (1, None, None, "")


# -------------------------------------------------------------------------------------------- errors
def test_rate_limited_channel_is_deferred_to_its_reset_and_other_channels_go_on(sim, personas):
    org = personas.a
    x, mastodon = demo_channel(org, "x"), demo_channel(org, "mastodon")
    now = timezone.now()
    limited = [sent_target(org, x, on_platform(sim, x, f"X post {n}"), now - timedelta(hours=2), title=f"X {n}")
               for n in range(2)]
    other = sent_target(org, mastodon, on_platform(sim, mastodon, "Mastodon post"), now - timedelta(hours=2),
                        title="Toot")
    collection.track_published_targets(now=now)
    sim.fault("x", "rate_limit", path="/2/tweets/", reset_in=2)

    run = tasks.collect_due_post_metrics()  # the beat task, as a function
    assert run["collected"] == 1 and run["deferred_channels"] == [x.pk]
    assert PostPerformance.objects.get(target=other).collections == 1
    x.refresh_from_db()
    assert x.status == ChannelStatus.RATE_LIMITED and x.rate_limit_reset_at > now
    # Like polling: the channel's state changes, audited with the task as the actor.
    event = AuditEvent.objects.get(event_type="channel.rate_limited")
    assert event.actor_label == "system: collect_due_post_metrics" and event.target_id == str(x.pk)
    rows = PostPerformance.objects.filter(target__in=limited)
    assert {r.next_collect_at for r in rows} == {x.rate_limit_reset_at}
    assert {r.collections for r in rows} == {0}
    calls = metric_reads(sim, "x")
    # Before the reset nothing of that channel is asked for, not even by a sweep whose clock says the rows are due.
    assert collection.collect_due(now=x.rate_limit_reset_at + timedelta(seconds=-1)).collected == 0
    assert metric_reads(sim, "x") == calls

    while timezone.now() <= x.rate_limit_reset_at:
        time.sleep(0.2)
    run = collection.collect_due(now=timezone.now())
    assert run.collected == 2 and not run.deferred_channels
    assert {r.collections for r in PostPerformance.objects.filter(target__in=limited)} == {1}


def test_deleted_post_is_a_permanent_error_that_ends_its_schedule(sim, personas):
    org = personas.a
    channel = demo_channel(org, "mastodon")
    now = timezone.now()
    gone = sent_target(org, channel, on_platform(sim, channel, "Wrong date, deleted"), now - timedelta(hours=1))
    kept = sent_target(org, channel, on_platform(sim, channel, "Right date"), now - timedelta(hours=1), title="Kept")
    get_connector(channel).delete(gone.platform_id)
    collection.track_published_targets(now=now)

    run = collection.collect_due(now=now)
    assert (run.collected, run.stopped) == (1, 1)
    row = PostPerformance.objects.get(target=gone)
    assert row.next_collect_at is None and row.last_error and row.collections == 0
    assert not PostMetricSample.objects.filter(target=gone).exists()
    assert PostPerformance.objects.get(target=kept).next_collect_at == kept.published_at + timedelta(hours=3)
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ACTIVE  # one post's fate is not the channel's
    assert collection.collect_due(now=now + timedelta(days=40)).stopped == 0


def test_transient_error_is_retried_at_the_next_sweep(sim, personas):
    org = personas.a
    channel = demo_channel(org, "bluesky")
    now = timezone.now()
    target = sent_target(org, channel, on_platform(sim, channel, "Flaky"), now - timedelta(hours=1))
    collection.track_published_targets(now=now)
    sim.fault("bsky", "server_error", path="/xrpc/app.bsky.feed.getPosts")
    assert collection.collect_due(now=now).retry == 1
    row = PostPerformance.objects.get(target=target)
    assert row.next_collect_at == now and row.last_error and row.collections == 0
    later = now + timedelta(minutes=2)
    assert collection.collect_due(now=later).collected == 1
    row.refresh_from_db()
    assert row.last_error == "" and row.collections == 1


def test_channel_that_needs_reconnecting_or_is_paused_is_skipped_until_it_is_usable(sim, personas):
    org = personas.a
    channel = demo_channel(org, "x")
    now = timezone.now()
    target = sent_target(org, channel, on_platform(sim, channel, "Skipped for now"), now - timedelta(hours=1))
    collection.track_published_targets(now=now)
    sim.fault("x", "expired_token", path="/2/tweets/")
    assert collection.collect_due(now=now).retry == 1
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.NEEDS_REAUTH
    row = PostPerformance.objects.get(target=target)
    assert row.next_collect_at == now and row.collections == 0  # waiting, not given up

    for status in (ChannelStatus.NEEDS_REAUTH, ChannelStatus.PAUSED):
        Channel.objects.filter(pk=channel.pk).update(status=status)
        assert collection.claim_due(now=now + timedelta(minutes=5)) == []
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.ACTIVE)
    assert collection.collect_due(now=now + timedelta(minutes=5)).collected == 1


def test_a_stale_collector_does_not_store_over_a_newer_claim(sim, personas):
    org = personas.a
    channel = demo_channel(org, "mastodon")
    now = timezone.now()
    sent_target(org, channel, on_platform(sim, channel, "Claimed twice"), now - timedelta(hours=1))
    collection.track_published_targets(now=now)
    [stale] = collection.claim_due(now=now)
    # The first worker died; its lease ran out and another claimed the row.
    [fresh] = collection.claim_due(now=now + collection.CLAIM_LEASE)
    assert collection.collect_post(stale, now=now) == "lost"
    assert collection.collect_post(fresh, now=now + collection.CLAIM_LEASE) == "collected"
    assert PostMetricSample.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_collectors_at_once_collect_a_due_row_once(sim, personas):
    org = personas.a
    channel = demo_channel(org, "mastodon")
    now = timezone.now()
    for n in range(6):
        sent_target(org, channel, on_platform(sim, channel, f"Race {n}"), now - timedelta(hours=1), title=f"Race {n}")
    collection.track_published_targets(now=now)
    reads_before = metric_reads(sim, "mastodon")
    start = threading.Barrier(2)
    runs: list = []

    def sweep():
        try:
            start.wait()
            runs.append(collection.collect_due(now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(runs) == 2
    assert sum(run.collected for run in runs) == 6 and sum(run.lost for run in runs) == 0
    assert PostMetricSample.objects.count() == 6
    assert set(PostPerformance.objects.values_list("collections", flat=True)) == {1}
    assert metric_reads(sim, "mastodon") - reads_before == 6
