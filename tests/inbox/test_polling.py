"""Polling against the simulator: end to end, the lease, a worker killed before the cursor save, the overlap window,
rate limits and beat's hand-out of due channels."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent, EventType
from channels_app import services as channel_services
from channels_app.models import Channel, ChannelStatus
from channels_app.services import connector_session
from inbox.ingest import ingest
from inbox.models import Conversation, Message
from inbox.polling import HISTORY_KEY, POLL_LEASE, channel_poll, channels_due
from simulator.platforms.x import CITIZEN_ID, COUNCIL_ID, DEMO_ACCOUNTS

COUNCIL = DEMO_ACCOUNTS[0]
CITIZEN = {"Authorization": "Bearer sim-citizen-token"}
MENTIONS = f"/2/users/{COUNCIL_ID}/mentions"


def citizen_post(sim, text: str) -> str:
    response = requests.post(f"{sim.url}/x/2/tweets", json={"text": text}, headers=CITIZEN, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def index_delay(sim, seconds: float) -> None:
    requests.post(f"{sim.url}/x/_sim/index_delay", json={"seconds": seconds}, timeout=5).raise_for_status()


@pytest.fixture
def channel(sim, personas):
    return channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform="x", account_id=COUNCIL_ID,
        handle=COUNCIL["handle"], credentials=dict(COUNCIL["credentials"]),
    )  # fmt: skip


def stored(channel) -> list[str]:
    return sorted(Message.objects.filter(channel=channel).values_list("platform_message_id", flat=True))


def test_a_mention_posted_on_the_simulator_becomes_a_conversation(sim, channel):
    first = channel_poll(channel.pk)
    assert first.status == "polled" and first.created >= 2  # the simulator's seeded mention and DM
    mention = citizen_post(sim, "@democouncil the streetlights on Elm Road are out")
    result = channel_poll(channel.pk)
    assert result.status == "polled" and result.created == 1
    message = Message.objects.get(channel=channel, platform_message_id=mention)
    conversation = message.conversation
    assert (conversation.kind, conversation.key, conversation.status) == ("public", mention, "open")
    assert conversation.contact.platform_user_id == CITIZEN_ID and conversation.contact.handle == "citizen"
    assert conversation.department_id == channel.department_id
    channel.refresh_from_db()
    assert channel.cursors["mentions"] == mention and channel.poll_lease_until is None
    assert channel.last_polled_at is not None
    assert channel.next_poll_at >= timezone.now() + timedelta(seconds=channel.poll_interval_seconds - 5)


def test_a_worker_killed_after_ingesting_loses_nothing_and_duplicates_nothing(sim, channel):
    channel_poll(channel.pk)
    channel.refresh_from_db()
    cursor_before = dict(channel.cursors)
    first = citizen_post(sim, "@democouncil pothole on Station Road")
    # The dying worker: takes the lease, reads, commits the batch, and is killed before saving the cursor.
    lease = timezone.now() + POLL_LEASE
    Channel.objects.filter(pk=channel.pk).update(poll_lease_until=lease)
    with connector_session(channel) as connector:
        batch = connector.fetch_inbound({k: v for k, v in channel.cursors.items() if not k.startswith("_")})
    assert ingest(channel, batch.items).created == 1
    channel.refresh_from_db()
    assert channel.cursors == cursor_before  # never saved

    # While its lease lasts nobody else polls (and the platform is not called).
    calls = len(sim.calls("x", MENTIONS))
    assert channel_poll(channel.pk).status == "busy"
    assert len(sim.calls("x", MENTIONS)) == calls

    second = citizen_post(sim, "@democouncil and another one on Mill Lane")
    # The lease runs out (the worker is gone); the next poll re-reads from the old cursor.
    result = channel_poll(channel.pk, now=lease + timedelta(seconds=1))
    assert result.status == "polled"
    assert Message.objects.filter(channel=channel, platform_message_id=first).count() == 1
    assert Message.objects.filter(channel=channel, platform_message_id=second).count() == 1
    assert result.created == 1 and result.duplicates >= 1
    channel.refresh_from_db()
    assert channel.cursors["mentions"] == second


def test_the_overlap_window_recovers_a_post_the_since_id_cursor_skipped(sim, channel):
    start = timezone.now()
    channel_poll(channel.pk, now=start)
    channel_poll(channel.pk, now=start + timedelta(minutes=4))
    # X indexes the first post late: it shows in the mention timeline after a newer post has been read.
    index_delay(sim, 30)
    late = citizen_post(sim, "@democouncil flooding on the underpass, it's getting worse")
    index_delay(sim, 0)
    on_time = citizen_post(sim, "@democouncil also the bins")
    assert int(late) < int(on_time)
    channel_poll(channel.pk, now=start + timedelta(minutes=5))
    assert on_time in stored(channel) and late not in stored(channel)

    sim.advance_clock(31)
    channel.refresh_from_db()
    with connector_session(channel) as connector:
        since_cursor = connector.fetch_inbound({"mentions": channel.cursors["mentions"]})
    assert late not in [i.platform_id for i in since_cursor.items]  # the cursor alone would never see it

    # Within OVERLAP of the cursor that preceded the late post, the re-read starts from that cursor.
    result = channel_poll(channel.pk, now=start + timedelta(minutes=9))
    assert late in stored(channel) and result.recovered == 1
    assert Message.objects.filter(channel=channel, platform_message_id=on_time).count() == 1
    channel.refresh_from_db()
    assert channel.cursors["mentions"] == on_time  # the re-read never moves the cursor back
    assert len(channel.cursors[HISTORY_KEY]) <= 4


def test_a_quiet_channel_reads_once_per_poll(sim, channel):
    start = timezone.now()
    channel_poll(channel.pk, now=start)
    calls = len(sim.calls("x", MENTIONS))
    channel_poll(channel.pk, now=start + timedelta(minutes=10))
    channel_poll(channel.pk, now=start + timedelta(minutes=20))
    assert len(sim.calls("x", MENTIONS)) == calls + 2


@pytest.mark.django_db(transaction=True)
def test_two_polls_at_once_fetch_once(sim, personas):
    channel = channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform="x", account_id=COUNCIL_ID,
        handle=COUNCIL["handle"], credentials=dict(COUNCIL["credentials"]),
    )  # fmt: skip
    sim.fault("x", "slow", path=MENTIONS, delay=1.0, times=1)
    results = []

    def poll():
        try:
            results.append(channel_poll(channel.pk).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["busy", "polled"]
    assert len(sim.calls("x", MENTIONS)) == 1
    assert Message.objects.filter(channel=channel).count() == len(set(stored(channel)))


def test_a_rate_limited_channel_waits_for_its_reset_then_recovers(sim, channel):
    sim.fault("x", "rate_limit", path=MENTIONS, reset_in=600)
    result = channel_poll(channel.pk)
    channel.refresh_from_db()
    assert result.status == "failed" and channel.status == ChannelStatus.RATE_LIMITED
    assert channel.next_poll_at >= channel.rate_limit_reset_at - timedelta(seconds=1)
    assert channel.next_poll_at > timezone.now() + timedelta(minutes=5)
    assert channel.poll_lease_until is None
    assert channel.pk not in channels_due(timezone.now() + timedelta(minutes=2))

    Channel.objects.filter(pk=channel.pk).update(rate_limit_reset_at=timezone.now() - timedelta(seconds=1),
                                                 next_poll_at=timezone.now() - timedelta(seconds=1))
    assert channels_due() == [channel.pk]
    assert channel_poll(channel.pk).status == "polled"
    channel.refresh_from_db()
    assert channel.status == ChannelStatus.ACTIVE and Conversation.objects.filter(channel=channel).exists()
    [recovered] = AuditEvent.objects.for_target("channels_app.channel", channel.pk).filter(
        event_type=EventType.CHANNEL_RECOVERED
    )
    assert recovered.changes == {"status": {"from": "rate_limited", "to": "active"}}


def test_due_channels_are_handed_out_once_and_paused_or_disconnected_ones_never(sim, channel, personas):
    assert channels_due() == [channel.pk]
    assert channels_due() == []  # handed out: not again until the poll is done or the grace runs out
    Channel.objects.filter(pk=channel.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.NEEDS_REAUTH)
    assert channels_due() == []
    Channel.objects.filter(pk=channel.pk).update(status=ChannelStatus.ACTIVE, disconnected_at=timezone.now())
    assert channels_due() == []
    assert channel_poll(channel.pk).status == "gone"


def test_beat_schedules_the_sweep_every_few_seconds():
    from smm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["inbox-poll-due-channels"]
    assert entry["task"] in app.tasks and entry["schedule"] <= 5
    assert "inbox.tasks.polling.poll_channel" in app.tasks


def test_poll_channel_runs_on_a_real_worker(sim, personas, celery_worker):
    from inbox.tasks.polling import poll_channel

    channel = channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform="x", account_id=COUNCIL_ID,
        handle=COUNCIL["handle"], credentials=dict(COUNCIL["credentials"]),
    )  # fmt: skip
    mention = citizen_post(sim, "@democouncil is the tip open on Sunday?")
    poll_channel.delay(channel.pk)
    deadline = timezone.now() + timedelta(seconds=20)
    while timezone.now() < deadline and not Message.objects.filter(platform_message_id=mention).exists():
        threading.Event().wait(0.2)
    assert Message.objects.filter(channel=channel, platform_message_id=mention).exists()
