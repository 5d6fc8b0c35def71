"""Publishing exactly once (issue 5 §3) against the platform simulator: the sweeper claims due posts and queues one
task per channel; each channel keeps the platform's id and URL; a failure after the platform accepted is reconciled
by reading the account, not resent; transient failures retry, permanent ones fail that channel only; two sweepers at
once publish once; the late-post rule; pauses. Tasks are called as functions (the worker runs the same code); the
clock is faked by passing `now`."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Notification
from approvals import publishing, services
from approvals.models import Post, PostStatus, PublishingSettings, PublishTarget, TargetState
from approvals.tasks import publish_target, reconcile_target, sweep_due_posts, sweep_stuck_targets
from audit.context import ActionContext, acting
from audit.models import AuditEvent, EventType
from channels_app import services as channel_services
from channels_app.connectors.mastodon import _idempotency_key
from channels_app.models import ChannelStatus
from simulator.platforms import graph as graph_sim
from simulator.platforms import mastodon as mastodon_sim
from simulator.platforms import x as x_sim
from tests.approvals_factories import demo_channel, make_post

SIM_NAMES = {"x": "x", "facebook": "graph", "mastodon": "mastodon"}
WRITE_PATHS = {"x": "/2/tweets", "mastodon": "/api/v1/statuses", "facebook": f"/v21.0/{graph_sim.COUNCIL_PAGE_ID}/feed"}


# ------------------------------------------------------------------------------------------- set-up
def channel(org, sim, platform: str):
    if platform == "mastodon":
        # The demo Mastodon account lives on the simulator's instance, which the channel must name.
        demo = mastodon_sim.DEMO_ACCOUNTS[0]
        return channel_services.channel_connect(
            actor=None, department=org.departments["Communications"], platform="mastodon",
            account_id=demo["account_id"], handle=demo["handle"], credentials=dict(demo["credentials"]),
            instance_url=f"{sim.url}/mastodon",
        )
    return demo_channel(org, platform)


def scheduled(org, channels, *, body: str, when=None, **draft) -> Post:
    """A post written by the editor and approved by the approver: scheduled at `when` (None: now)."""
    post = make_post(org, channels, body=body, **draft)
    services.post_submit(actor=org.members["editor"], post_id=post.pk)
    services.post_approve(actor=org.members["approver"], post_id=post.pk, scheduled_at=when)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    return post


def targets(post) -> dict[str, PublishTarget]:
    return {t.channel.platform: t for t in PublishTarget.objects.filter(post=post).select_related("channel")}


def copies(sim, platform: str, text: str) -> list[str]:
    """Platform ids of the council's posts on the simulator whose text is `text`."""
    state = sim.state()
    if platform == "x":
        return [t["id"] for t in state["x"]["tweets"].values() if t["author_id"] == x_sim.COUNCIL_ID and t["text"] == text]
    if platform == "mastodon":
        council = mastodon_sim.DEMO_ACCOUNTS[0]["account_id"]
        return [s["id"] for s in state["mastodon"]["statuses"].values() if s["account_id"] == council and s["text"] == text]
    return [p["id"] for p in state["graph"]["posts"].values()
            if p["author_id"] == graph_sim.COUNCIL_PAGE_ID and not p["deleted"] and p["message"] == text]


def publish_all(post) -> dict[str, str]:
    """What the worker does after a sweep: each of the post's pending targets published."""
    return {platform: publish_target(t.pk) for platform, t in targets(post).items() if t.state == TargetState.PENDING}


def events(post) -> list[str]:
    return list(AuditEvent.objects.filter(target_type="approvals.post", target_id=str(post.pk))
                .order_by("id").values_list("event_type", flat=True))


def finishing(post) -> AuditEvent:
    """The one event that finished the post: the last channel's own event, carrying the post's new status."""
    return AuditEvent.objects.for_target("approvals.post", post.pk).get(changes__has_key="post_status")


def sweep(now=None) -> int:
    with acting(ActionContext(system_actor="system: tests")):
        return publishing.sweep_due(now)


# ---------------------------------------------------------------------------------------- the good path
def test_due_post_goes_out_once_on_x_mastodon_and_facebook_with_ids_and_links(personas, sim):
    a = personas.a
    chans = [channel(a, sim, p) for p in ("x", "mastodon", "facebook")]
    text = "The Elm Street bridge reopens on Saturday morning."
    post = scheduled(a, chans, body=text)

    assert sweep_due_posts() == 1
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHING
    assert publish_all(post) == {"x": "sent", "mastodon": "sent", "facebook": "sent"}

    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED and post.published_at is not None
    for platform, target in targets(post).items():
        assert copies(sim, platform, text) == [target.platform_id], platform
        assert target.state == TargetState.SENT and target.platform_url.startswith("http")
        assert target.attempts == 1 and target.published_at is not None
    assert targets(post)["x"].platform_url.endswith(f"/status/{targets(post)['x'].platform_id}")
    # Nothing goes twice: a second sweep finds nothing; the same task again is not claimed.
    assert sweep() == 0
    assert publish_target(targets(post)["x"].pk) == "not claimed"
    assert len(copies(sim, "x", text)) == 1
    # One event per step: the last channel's post.target_published also says the post is now published.
    assert events(post)[-4:] == [EventType.POST_PUBLISHING, EventType.TARGET_PUBLISHED, EventType.TARGET_PUBLISHED,
                                 EventType.TARGET_PUBLISHED]
    assert EventType.POST_FINISHED not in events(post)
    finished = finishing(post)
    assert finished.event_type == EventType.TARGET_PUBLISHED
    assert finished.changes["post_status"] == {"from": "publishing", "to": "published"}
    assert set(finished.changes["post_channels"]) == {f"{t.channel.platform} {t.channel.handle}" for t in targets(post).values()}
    assert all(c["state"] == "sent" and c["url"].startswith("http") for c in finished.changes["post_channels"].values())
    assert finished.actor_label == "system: publish_target"
    note = Notification.objects.filter(user=a.user("editor")).order_by("-id").first()
    assert "was published on" in note.text and note.link == f"/posts/{post.pk}/"


def test_post_with_an_image_and_a_link_goes_to_x_instagram_and_bluesky_with_its_alt_text(personas, sim):
    from approvals.models import PostMedia

    a = personas.a
    chans = [channel(a, sim, p) for p in ("x", "instagram", "bluesky")]
    body = "Our new recycling bins arrive next week."
    post = make_post(a, chans, body=body)
    image = PostMedia.objects.create(organisation=a.organisation, post=post, content=graph_sim.PLACEHOLDER_PNG,
                                     mime_type="image/png", sha256="0" * 64, uploaded_by=a.user("editor"))
    services.post_update(actor=a.members["editor"], post_id=post.pk, draft=services.Draft(
        title="Bins", body=body, link="https://council.example/bins", channel_ids=[c.pk for c in chans],
        media=[{"id": image.pk, "alt_text": "A green recycling bin"}]))
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)

    assert sweep() == 1
    assert publish_all(post) == {"x": "sent", "instagram": "sent", "bluesky": "sent"}
    text = f"{body}\nhttps://council.example/bins"
    state, sent = sim.state(), targets(post)
    tweet = state["x"]["tweets"][sent["x"].platform_id]
    assert tweet["text"] == text
    media = {m["media_key"]: m for m in state["x"]["media"].values()}
    assert [media[key]["alt_text"] for key in tweet["media_keys"]] == ["A green recycling bin"]
    instagram = state["graph"]["ig_media"][sent["instagram"].platform_id]
    assert instagram["caption"] == text and instagram["alt_text"] == "A green recycling bin"
    record = state["bsky"]["records"][sent["bluesky"].platform_id]["value"]
    assert record["text"] == text and [i["alt"] for i in record["embed"]["images"]] == ["A green recycling bin"]
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED


def test_a_post_is_not_claimed_before_its_time(personas, sim):
    a = personas.a
    when = timezone.now() + timedelta(minutes=30)
    post = scheduled(a, [channel(a, sim, "x")], body="Consultation closes at midnight.", when=when)
    assert sweep() == 0
    assert sweep(when - timedelta(seconds=1)) == 0
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    # A task for it (queued by mistake) cannot claim a target of a post that is not publishing.
    assert publish_target(targets(post)["x"].pk) == "not claimed"
    assert sweep(when) == 1


def test_beat_sweeps_due_posts_every_two_seconds_and_stuck_targets_every_minute():
    from django.conf import settings

    from smm.celery import app

    due = settings.CELERY_BEAT_SCHEDULE["approvals-sweep-due-posts"]
    stuck = settings.CELERY_BEAT_SCHEDULE["approvals-sweep-stuck-targets"]
    # Out within 15 s of its time: a sweep at most every 2 s, each stale one dropped.
    assert due["task"] in app.tasks and due["schedule"] <= 2 and due["options"]["expires"] <= 2
    assert stuck["task"] in app.tasks and stuck["schedule"] <= 60


# ------------------------------------------------------------------------------------ failures per channel
def test_permanent_failure_on_one_channel_fails_it_with_the_platforms_reason_while_the_other_publishes(personas, sim):
    a = personas.a
    x, mastodon = channel(a, sim, "x"), channel(a, sim, "mastodon")
    text = "Swimming pool closed for repairs until Friday."
    post = scheduled(a, [x, mastodon], body=text)
    # X no longer accepts the channel's token.
    sim.fault("x", "expired_token", path="/2/tweets", method="POST")

    assert sweep() == 1
    assert publish_all(post) == {"x": "failed", "mastodon": "sent"}
    post.refresh_from_db()
    assert post.status == PostStatus.PARTLY_PUBLISHED
    failed = targets(post)["x"]
    assert failed.state == TargetState.FAILED and failed.platform_id == ""
    assert "reconnect" in failed.last_error.lower()
    x.refresh_from_db()
    assert x.status == ChannelStatus.NEEDS_REAUTH
    assert copies(sim, "x", text) == [] and len(copies(sim, "mastodon", text)) == 1
    finished = finishing(post)
    assert finished.changes["post_status"] == {"from": "publishing", "to": "partly_published"}
    assert EventType.TARGET_FAILED in events(post) and EventType.POST_FINISHED not in events(post)
    note = Notification.objects.filter(user=a.user("editor")).order_by("-id").first()
    assert "failed on X" in note.text


def test_every_channel_failing_fails_the_post(personas, sim):
    a = personas.a
    post = scheduled(a, [channel(a, sim, "x")], body="Parking charges change in April.")
    sim.fault("x", "expired_token", path="/2/tweets", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"x": "failed"}
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED and post.published_at is None
    assert events(post)[-2:] == [EventType.POST_PUBLISHING, EventType.TARGET_FAILED]
    assert finishing(post).changes["post_status"] == {"from": "publishing", "to": "failed"}


def test_platform_refusing_a_duplicate_is_checked_then_fails_that_channel(personas, sim):
    a = personas.a
    text = "Leisure centre timetable for the holidays."
    post = scheduled(a, [channel(a, sim, "mastodon"), channel(a, sim, "x")], body=text)
    sim.fault("x", "duplicate", path="/2/tweets", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"mastodon": "sent", "x": "unknown"}
    # Not on the account: the refusal stands, and nothing is sent again.
    assert reconcile_target(targets(post)["x"].pk) == "failed"
    post.refresh_from_db()
    assert post.status == PostStatus.PARTLY_PUBLISHED
    assert "duplicate" in targets(post)["x"].last_error.lower()
    assert copies(sim, "x", text) == []
    # The reconciling step is one event: it failed the channel and finished the post.
    assert events(post)[-1] == EventType.TARGET_RECONCILED and EventType.TARGET_FAILED not in events(post)
    reconciled = finishing(post)
    assert reconciled.event_type == EventType.TARGET_RECONCILED
    assert reconciled.changes["outcome"] == "not found, failed"
    assert reconciled.changes["state"] == {"from": "unknown", "to": "failed"}
    assert reconciled.changes["post_status"] == {"from": "publishing", "to": "partly_published"}


def test_transient_failure_before_sending_waits_its_backoff_then_goes_once(personas, sim, settings):
    a = personas.a
    text = "Free parking in the town centre this Saturday."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    sim_url = settings.X_API_URL
    # Nothing listens there: the connection is refused before any byte is sent, so sending again is safe.
    settings.X_API_URL = "http://127.0.0.1:9/x"
    assert sweep() == 1
    assert publish_all(post) == {"x": "retrying"}
    target = targets(post)["x"]
    assert target.state == TargetState.PENDING and target.attempts == 1 and "Could not reach X" in target.last_error
    retry_at = target.next_attempt_at
    assert retry_at > timezone.now() + timedelta(seconds=5)

    settings.X_API_URL = sim_url
    # Not before its time; then queued once, under a lease.
    assert publishing.requeue_due_targets(retry_at - timedelta(seconds=1)) == 0
    assert publishing.requeue_due_targets(retry_at) == 1
    assert publishing.requeue_due_targets(retry_at + timedelta(seconds=1)) == 0
    assert publish_target(target.pk) == "sent"
    target.refresh_from_db()
    assert target.attempts == 2 and target.last_error == ""
    assert len(copies(sim, "x", text)) == 1
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert EventType.TARGET_RETRIED in events(post)


def test_transient_failures_give_up_after_the_last_attempt(personas, sim, settings):
    a = personas.a
    post = scheduled(a, [channel(a, sim, "x")], body="Bin day moves to Thursday.")
    settings.X_API_URL = "http://127.0.0.1:9/x"
    assert sweep() == 1
    target = targets(post)["x"]
    outcomes = [publish_target(target.pk) for _ in range(publishing.MAX_ATTEMPTS)]
    assert outcomes == ["retrying"] * (publishing.MAX_ATTEMPTS - 1) + ["failed"]
    target.refresh_from_db()
    assert target.state == TargetState.FAILED and target.last_error.startswith("Gave up after")


def test_rate_limited_channel_waits_for_the_reset_without_using_an_attempt(personas, sim):
    a = personas.a
    text = "Roadworks on the ring road overnight."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    sim.fault("x", "rate_limit", path="/2/tweets", method="POST", reset_in=120)
    assert sweep() == 1
    assert publish_all(post) == {"x": "rate limited"}
    target = targets(post)["x"]
    assert target.state == TargetState.PENDING and target.attempts == 0
    assert target.next_attempt_at > timezone.now() + timedelta(seconds=100)
    assert publishing.requeue_due_targets(timezone.now()) == 0


# ---------------------------------------------------------------- ambiguous: accepted, then the answer lost
@pytest.mark.parametrize("platform", ["x", "mastodon", "facebook"])
@pytest.mark.parametrize("fault", ["accept_then_error", "accept_then_slow"])
def test_failure_after_the_platform_accepted_is_reconciled_not_resent(personas, sim, settings, platform, fault):
    a = personas.a
    text = f"Polling stations open 7am to 10pm ({platform}, {fault})."
    post = scheduled(a, [channel(a, sim, platform)], body=text)
    settings.PLATFORM_TIMEOUT_SECONDS = 1
    sim.fault(SIM_NAMES[platform], fault, path=WRITE_PATHS[platform], method="POST", delay=1.5)

    assert sweep() == 1
    assert publish_all(post) == {platform: "unknown"}
    target = targets(post)[platform]
    assert target.state == TargetState.UNKNOWN and target.platform_id == ""
    assert len(copies(sim, platform, text)) == 1
    # Nothing may send it again before the platform has been read.
    assert publish_target(target.pk) == "not claimed"

    assert reconcile_target(target.pk) == "sent"
    target.refresh_from_db()
    assert copies(sim, platform, text) == [target.platform_id]
    assert target.state == TargetState.SENT
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert events(post)[-3:] == [EventType.POST_PUBLISHING, EventType.TARGET_UNKNOWN, EventType.TARGET_RECONCILED]
    assert finishing(post).changes["post_status"] == {"from": "publishing", "to": "published"}


def test_unknown_outcome_not_found_on_the_platform_is_published_again_once(personas, sim):
    a = personas.a
    text = "Library closed on Monday for training."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    # A 5xx to a write might have been stored: unknown, although this one was not.
    sim.fault("x", "server_error", path="/2/tweets", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"x": "unknown"}
    assert copies(sim, "x", text) == []
    target = targets(post)["x"]
    assert reconcile_target(target.pk) == "resent"
    target.refresh_from_db()
    assert target.state == TargetState.PENDING
    assert publish_target(target.pk) == "sent"
    assert len(copies(sim, "x", text)) == 1
    reconciled = AuditEvent.objects.get(event_type=EventType.TARGET_RECONCILED, target_id=str(post.pk))
    assert reconciled.changes["outcome"] == "not found, publishing again"


def test_mastodon_gets_the_targets_idempotency_key_on_every_attempt(personas, sim):
    a = personas.a
    text = "Council tax bills go out this week."
    post = scheduled(a, [channel(a, sim, "mastodon")], body=text)
    sim.fault("mastodon", "server_error", path="/api/v1/statuses", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"mastodon": "unknown"}
    target = targets(post)["mastodon"]
    assert reconcile_target(target.pk) == "resent"
    assert publish_target(target.pk) == "sent"
    target.refresh_from_db()
    council = mastodon_sim.DEMO_ACCOUNTS[0]["account_id"]
    remembered = sim.state()["mastodon"]["idempotency"][f"{council}:{_idempotency_key(str(target.idempotency_key))}"]
    assert remembered["status_id"] == target.platform_id


def test_an_outcome_the_platform_cannot_confirm_for_a_day_fails_with_an_instruction(personas, sim):
    a = personas.a
    post = scheduled(a, [channel(a, sim, "x")], body="Park run cancelled this week.")
    sim.fault("x", "server_error", path="/2/tweets", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"x": "unknown"}
    sim.fault("x", "server_error", method="GET", times=100)
    target = targets(post)["x"]
    assert reconcile_target(target.pk) == "still unknown"
    PublishTarget.objects.filter(pk=target.pk).update(claimed_at=timezone.now() - timedelta(hours=25))
    assert reconcile_target(target.pk) == "failed"
    target.refresh_from_db()
    assert target.state == TargetState.FAILED and "before you publish it again" in target.last_error
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED


def test_worker_lost_while_sending_is_swept_to_unknown_and_reconciled(personas, sim):
    a = personas.a
    text = "Flood warning lifted for the riverside."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    assert sweep() == 1
    target = targets(post)["x"]
    # A worker claimed it and died before calling X.
    assert publishing.target_claim(target.pk)
    assert sweep_stuck_targets() == {"stuck": 0, "reconcile": 0, "finished": 0}
    PublishTarget.objects.filter(pk=target.pk).update(claimed_at=timezone.now() - timedelta(minutes=10))
    assert sweep_stuck_targets()["stuck"] == 1
    target.refresh_from_db()
    assert target.state == TargetState.UNKNOWN
    assert reconcile_target(target.pk) == "resent"
    assert publish_target(target.pk) == "sent"
    assert len(copies(sim, "x", text)) == 1


# ---------------------------------------------------------------------------------------- two sweepers
def test_two_sweepers_and_two_workers_at_once_publish_each_post_once(personas, sim, transactional_db):
    a = personas.a
    chans = [channel(a, sim, "x"), channel(a, sim, "mastodon")]
    posts = [scheduled(a, chans, body=f"Community grant round {n} is open.") for n in range(4)]
    barrier = threading.Barrier(2)
    claimed: list[int] = []
    outcomes: list[str] = []

    def sweeper():
        try:
            barrier.wait()
            claimed.append(sweep())
        finally:
            connection.close()

    def worker(ids):
        try:
            barrier.wait()
            for pk in ids:
                try:
                    outcomes.append(publish_target(pk))
                except Exception as exc:  # noqa: BLE001 (shown in the assertion)
                    outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(claimed) == len(posts)
    for post in posts:
        assert AuditEvent.objects.filter(event_type=EventType.POST_PUBLISHING, target_id=str(post.pk)).count() == 1

    ids = list(PublishTarget.objects.filter(post__in=posts).values_list("pk", flat=True))
    # Three workers get every task, two of them in the same order: they meet on the same target again and again.
    barrier = threading.Barrier(3)
    threads = [threading.Thread(target=worker, args=(order,)) for order in (ids, ids, ids[::-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["not claimed"] * 2 * len(ids) + ["sent"] * len(ids), outcomes
    for n, post in enumerate(posts):
        post.refresh_from_db()
        assert post.status == PostStatus.PUBLISHED
        # Finished once: exactly one event of the post carries its new status, and no separate post.finished.
        finished = AuditEvent.objects.for_target("approvals.post", post.pk).filter(changes__has_key="post_status")
        assert [e.changes["post_status"]["to"] for e in finished] == ["published"]
        assert not AuditEvent.objects.filter(event_type=EventType.POST_FINISHED, target_id=str(post.pk)).exists()
        for platform in ("x", "mastodon"):
            assert len(copies(sim, platform, f"Community grant round {n} is open.")) == 1


def test_many_workers_claiming_one_target_at_the_same_moment_give_it_to_one(personas, sim, transactional_db):
    a = personas.a
    post = scheduled(a, [channel(a, sim, "x")], body="Claim race.")
    assert sweep() == 1
    target = targets(post)["x"]
    winners: list[bool] = []

    def claim(barrier: threading.Barrier, won: list[bool]) -> None:
        try:
            barrier.wait()
            won.append(publishing.target_claim(target.pk))
        finally:
            connection.close()

    for _round in range(15):
        # Back to pending, as after a transient failure: the next claim is open again.
        PublishTarget.objects.filter(pk=target.pk).update(state=TargetState.PENDING)
        barrier, won = threading.Barrier(4), []
        threads = [threading.Thread(target=claim, args=(barrier, won)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        winners.append(won.count(True))
    assert winners == [1] * 15


# ------------------------------------------------------------------------------------------ late posts
def test_post_found_later_than_the_limit_is_held_for_a_person(personas, sim):
    a = personas.a
    PublishingSettings.objects.create(organisation=a.organisation, hold_late_posts_after_minutes=30)
    text = "Street party road closure starts at noon."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    due = post.scheduled_at

    # The workers were down for 45 minutes.
    assert sweep(due + timedelta(minutes=45)) == 0
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and post.held_late
    held = AuditEvent.objects.get(event_type=EventType.POST_HELD_LATE, target_id=str(post.pk))
    assert held.changes["late_minutes"] == 45 and held.changes["hold_after_minutes"] == 30
    told = set(Notification.objects.filter(link=f"/posts/{post.pk}/", text__contains="was not published")
               .values_list("user__email", flat=True))
    assert {"editor@alpha.example", "approver@alpha.example"} <= told
    assert sweep(due + timedelta(minutes=46)) == 0
    assert AuditEvent.objects.filter(event_type=EventType.POST_HELD_LATE, target_id=str(post.pk)).count() == 1
    assert copies(sim, "x", text) == []

    # A person decides: publish now.
    services.post_schedule(actor=a.members["approver"], post_id=post.pk, scheduled_at=None)
    post.refresh_from_db()
    assert not post.held_late
    assert sweep() == 1
    assert publish_all(post) == {"x": "sent"}


def test_post_late_within_the_limit_or_without_a_limit_is_published(personas, sim):
    a = personas.a
    x = channel(a, sim, "x")
    first = scheduled(a, [x], body="Museum free entry on Sunday.")
    assert sweep(first.scheduled_at + timedelta(minutes=50)) == 1  # no limit set: published late
    PublishingSettings.objects.create(organisation=a.organisation, hold_late_posts_after_minutes=30)
    second = scheduled(a, [x], body="Museum late opening on Thursday.")
    assert sweep(second.scheduled_at + timedelta(minutes=29)) == 1
    second.refresh_from_db()
    assert second.status == PostStatus.PUBLISHING and not second.held_late


# ---------------------------------------------------------------------------------------------- pauses
def test_organisation_wide_pause_keeps_posts_queued_until_lifted(personas, sim):
    a = personas.a
    text = "Bonfire night safety advice."
    post = scheduled(a, [channel(a, sim, "x")], body=text)
    pause = services.pause_start(actor=a.members["admin"], reason="Major incident in the town centre")

    assert sweep() == 0
    # Not even a direct claim takes a paused post.
    assert publishing.post_claim(post.pk) is False
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and not post.held_late
    assert copies(sim, "x", text) == []

    services.pause_lift(actor=a.members["admin"], pause_id=pause.pk)
    assert sweep() == 1
    assert publish_all(post) == {"x": "sent"}


def test_department_pause_holds_only_that_departments_posts_and_ends_on_time(personas, sim):
    a = personas.a
    x = channel(a, sim, "x")
    post = scheduled(a, [x], body="Pre-election period begins.")
    services.pause_start(actor=a.members["admin"], reason="Another department's incident",
                         department=a.departments["Customer Services"])
    assert sweep() == 1  # Communications is not paused

    PublishingSettings.objects.create(organisation=a.organisation, hold_late_posts_after_minutes=30)
    held = scheduled(a, [x], body="Election results tonight.")
    ends = timezone.now() + timedelta(hours=2)
    services.pause_start(actor=a.members["manager"], reason="Pre-election period",
                         department=a.departments["Communications"], ends_at=ends)
    assert sweep() == 0
    assert sweep(ends - timedelta(minutes=1)) == 0
    # The pause is over: it goes, and the two hours it waited do not count as late.
    assert sweep(ends + timedelta(seconds=5)) == 1
    held.refresh_from_db()
    assert held.status == PostStatus.PUBLISHING and not held.held_late
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHING
