"""The crash-point test (issue 5, Tests): the publish of each (post, channel) is cut off at a random point, across
200 runs against the simulator, and after recovery every (post, channel) exists exactly once on the platform, with
its platform id stored.

Python cannot kill a thread, so a killed worker is reproduced honestly, without hooks in the product code:
- before the claim: the task never ran (its message was lost); the sweeper queues it again;
- after the claim, before the platform is called: the test claims the target as the task does
  (publishing.target_claim) and stops; later the stuck sweep finds it "sending" too long;
- during the call: the simulator stores the post and then answers 500 (accept_then_error) or answers too late for
  the client (accept_then_slow), or fails it with a 5xx before storing (server_error): the outcome is unknown;
- after the platform accepted, before the id is stored: the test takes the worker's own steps (claim, the same
  content, the connector's publish with the target's idempotency key) and stops before storing anything;
- after it finished: the message is delivered again (late acknowledgement after a crash).
Faults combine at random: the platform read that settles an unknown outcome may fail once, and the resend after
"not found" may itself be cut off again. Recovery is what beat and the workers do: the stuck sweep (its clock moved
on), reconcile of unknown targets, and the publish task for pending ones, until every target is sent or failed.
The tasks are called as functions, which is what a worker runs.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from approvals import publishing
from approvals.models import PostStatus, PublishTarget, TargetState
from approvals.tasks import publish_target, reconcile_target
from audit.context import ActionContext, acting
from channels_app.connectors import get_connector
from tests.approvals.test_publishing import SIM_NAMES, WRITE_PATHS, channel, copies, scheduled

pytestmark = pytest.mark.django_db

RUNS = 200
SEED = 20260505
PLATFORMS = ["x", "mastodon", "facebook"]
CRASH_POINTS = [
    "before_claim",
    "after_claim",
    "during_call_accepted",
    "during_call_timed_out",
    "during_call_refused",
    "accepted_not_stored",
    "delivered_again",
]
TIMEOUT = 0.4
SLOW = 0.6


def cut_off(sim, rng: random.Random, target: PublishTarget, point: str) -> None:
    """The first attempt at publishing `target`, interrupted at `point`."""
    sim_name, path = SIM_NAMES[target.channel.platform], WRITE_PATHS[target.channel.platform]
    if point == "before_claim":
        return
    if point == "after_claim":
        assert publishing.target_claim(target.pk)
        return
    if point == "accepted_not_stored":
        assert publishing.target_claim(target.pk)
        target = PublishTarget.objects.select_related("post", "channel", "revision").get(pk=target.pk)
        text, media, link = publishing.content_for(target)
        get_connector(target.channel).publish(text=text, media=media, link=link,
                                              idempotency_key=str(target.idempotency_key))
        return
    if point == "delivered_again":
        assert publish_target(target.pk) == "sent"
        assert publish_target(target.pk) == "not claimed"
        return
    kind = {"during_call_accepted": "accept_then_error", "during_call_timed_out": "accept_then_slow",
            "during_call_refused": "server_error"}[point]
    sim.fault(sim_name, kind, path=path, method="POST", delay=SLOW)
    assert publish_target(target.pk) == "unknown"
    # Combinations: the read that settles it fails once; the resend (if one is needed) is cut off again.
    if rng.random() < 0.3:
        sim.fault(sim_name, "server_error", method="GET")
    if kind == "server_error" and rng.random() < 0.3:
        sim.fault(sim_name, rng.choice(["accept_then_error", "server_error"]), path=path, method="POST")


def recover(post, clock) -> int:
    """Beat and the workers, round by round, until every target is sent or failed; returns the rounds taken."""
    for round_ in range(1, 25):
        clock += timedelta(minutes=6)
        publishing.sweep_stuck(now=clock)
        for target in PublishTarget.objects.filter(post=post):
            if target.state == TargetState.UNKNOWN:
                reconcile_target(target.pk)
            elif target.state == TargetState.PENDING:
                publish_target(target.pk)
        if not PublishTarget.objects.filter(post=post).exclude(state__in=publishing.TERMINAL).exists():
            return round_
    raise AssertionError(f"post {post.pk} still not settled: {list(PublishTarget.objects.filter(post=post).values())}")


def test_publish_cut_off_at_random_points_never_posts_twice(personas, sim, settings):
    a = personas.a
    settings.PLATFORM_TIMEOUT_SECONDS = TIMEOUT
    channels = {p: channel(a, sim, p) for p in PLATFORMS}
    rng = random.Random(SEED)
    seen_points: dict[str, int] = dict.fromkeys(CRASH_POINTS, 0)
    started = time.monotonic()
    with acting(ActionContext(system_actor="system: crash test")):
        for run in range(RUNS):
            # Each run is a post at another time: the platforms' 15-minute rate-limit windows start afresh, as they
            # would for posts spread over a day (the crash test is not about quotas; the publishing tests are).
            sim.advance_clock(16 * 60)
            chosen = rng.sample(PLATFORMS, rng.choice([1, 2]))
            text = f"Service update {run}: the {rng.choice(['library', 'pool', 'tip', 'museum'])} opens late today."
            post = scheduled(a, [channels[p] for p in chosen], body=text)
            clock = timezone.now()
            assert publishing.sweep_due(clock) == 1
            for target in PublishTarget.objects.filter(post=post).select_related("channel"):
                point = rng.choice(CRASH_POINTS)
                seen_points[point] += 1
                cut_off(sim, rng, target, point)
            recover(post, clock)
            # A fault this run did not use up must not cut off the next one.
            requests.delete(f"{sim.url}/_sim/faults", timeout=5).raise_for_status()

            post.refresh_from_db()
            for target in PublishTarget.objects.filter(post=post).select_related("channel"):
                platform = target.channel.platform
                found = copies(sim, platform, text)
                assert target.state == TargetState.SENT, (run, platform, target.last_error)
                assert found == [target.platform_id], (run, platform, found, target.platform_id)
            assert post.status == PostStatus.PUBLISHED, run
    elapsed = time.monotonic() - started
    assert all(seen_points.values()), seen_points
    print(f"{RUNS} runs in {elapsed:.1f} s; crash points: {seen_points}")
