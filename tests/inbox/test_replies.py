"""Replies sent exactly once (issue 4 §3) against the platform simulator: sending, the platform failing after it
accepted (unknown → reconcile), transient and permanent failures, rate limits, a lost worker, two workers at
once, approval, and tenancy. Tasks are called as functions (the worker runs the same code)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Notification
from audit.context import ActionContext, acting
from audit.models import AuditEvent, EventType
from channels_app import services as channel_services
from channels_app.models import ChannelStatus
from inbox.models import (
    Contact,
    Conversation,
    ConversationKind,
    InboxPolicy,
    Message,
    MessageDirection,
    Reply,
    ReplyState,
)
from inbox.replies import MAX_ATTEMPTS, reply_approve, reply_create, reply_reject, reply_retry
from inbox.tasks.replies import reconcile_reply, send_reply, sweep_stuck_replies
from simulator.platforms.x import CITIZEN_ID, COUNCIL_ID, DEMO_ACCOUNTS
from tests.conftest import PASSWORD
from tests.inbox_factories import make_channel, make_conversation

COUNCIL = DEMO_ACCOUNTS[0]
CITIZEN = {"Authorization": "Bearer sim-citizen-token"}


# ------------------------------------------------------------------------------------------- set-up
def x_channel(org, department: str = "Customer Services"):
    """The council's X account on the simulator, connected to the department."""
    return channel_services.channel_connect(
        actor=None, department=org.departments[department], platform="x", account_id=COUNCIL_ID,
        handle=COUNCIL["handle"], credentials=dict(COUNCIL["credentials"]),
    )


def citizen_mentions(sim, text: str = "The bins on Elm Street were not collected") -> str:
    response = requests.post(f"{sim.url}/x/2/tweets", json={"text": f"@democouncil {text}"}, headers=CITIZEN, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["id"]


def citizen_writes_dm(sim, text: str = "Can I ask about my council tax?") -> str:
    response = requests.post(f"{sim.url}/x/2/dm_conversations/with/{COUNCIL_ID}/messages", json={"text": text},
                             headers=CITIZEN, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["dm_conversation_id"]


def x_conversation(org, sim, *, channel=None, kind: str = ConversationKind.PUBLIC) -> Conversation:
    """A conversation holding the citizen's real mention (or DM) on the simulator, as ingestion would store it."""
    channel = channel or x_channel(org)
    contact, _ = Contact.objects.get_or_create(
        organisation=org.organisation, platform="x", platform_user_id=CITIZEN_ID,
        defaults={"handle": "@citizen", "name": "Casey Citizen"},
    )
    conversation = make_conversation(org, channel=channel, contact=contact, kind=kind, messages=0)
    if kind == ConversationKind.PRIVATE:
        key, platform_id = citizen_writes_dm(sim), f"dm-{timezone.now().timestamp()}"
    else:
        platform_id = citizen_mentions(sim)
        key = platform_id
    Conversation.objects.filter(pk=conversation.pk).update(key=key)
    Message.objects.create(
        organisation=org.organisation, channel=channel, conversation=conversation, platform_message_id=platform_id,
        kind="dm" if kind == ConversationKind.PRIVATE else "mention", text="The bins", author=contact,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    conversation.refresh_from_db()
    return conversation


def council_replies(sim) -> list[dict]:
    # Replies only: the simulator seeds the council with posts of its own.
    return [t for t in sim.state()["x"]["tweets"].values() if t["author_id"] == COUNCIL_ID and t.get("referenced_tweets")]


def council_dms(sim) -> list[dict]:
    return [e for e in sim.state()["x"]["dm_events"].values() if e["sender_id"] == COUNCIL_ID]


def events(reply: Reply) -> list[str]:
    return list(AuditEvent.objects.for_target("inbox.reply", reply.pk).order_by("id").values_list("event_type", flat=True))


def add_person(org, role: str, email: str, departments: list[str]):
    from accounts.models import User

    user = User.objects.create_user(email, PASSWORD, full_name=email.split("@")[0].title())
    with acting(ActionContext(system_actor="system: tests")):
        return account_services.member_add(
            organisation=org.organisation, user=user, role=role, departments=[org.departments[n] for n in departments]
        )


# --------------------------------------------------------------------------------------- sent once
def test_reply_is_sent_once_and_appears_on_the_simulator(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    agent = a.members["agent"]

    reply = reply_create(actor=agent, conversation_id=conversation.pk, text="Sorry about that, a crew is on its way.")
    assert reply.state == ReplyState.PENDING
    assert reply.in_reply_to_id == conversation.key
    assert council_replies(sim) == []

    assert send_reply(reply.pk) == "sent"
    assert send_reply(reply.pk) == "not claimed"

    reply.refresh_from_db()
    posted = council_replies(sim)
    assert len(posted) == 1
    assert posted[0]["text"].endswith("Sorry about that, a crew is on its way.")
    assert posted[0]["referenced_tweets"] == [{"type": "replied_to", "id": conversation.key}]
    assert reply.state == ReplyState.SENT and reply.platform_id == posted[0]["id"] and reply.attempts == 1
    assert reply.platform_url.endswith(f"/status/{reply.platform_id}")

    outbound = Message.objects.get(conversation=conversation, direction=MessageDirection.OUTBOUND)
    assert (outbound.platform_message_id, outbound.sent_by, outbound.kind) == (reply.platform_id, agent.user, "reply")
    conversation.refresh_from_db()
    assert conversation.waiting_since is None and conversation.first_responded_at is not None
    assert conversation.message_count == 1 and conversation.last_message_preview.startswith("Sorry about that")

    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_SENT]
    sent = AuditEvent.objects.for_target("inbox.reply", reply.pk).get(event_type=EventType.REPLY_SENT)
    assert sent.changes["author"] == agent.user.label
    assert sent.changes["platform_id"] == reply.platform_id and sent.changes["channel"] == "democouncil"


def test_reply_by_direct_message_goes_into_the_conversation(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim, kind=ConversationKind.PRIVATE)
    # A direct-message conversation is answered by direct message whatever the form said.
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Yes, ask away.", mode="public")
    assert reply.mode == "dm"
    assert send_reply(reply.pk) == "sent"
    dms = council_dms(sim)
    assert [d["text"] for d in dms] == ["Yes, ask away."]
    assert dms[0]["dm_conversation_id"] == conversation.key
    assert Message.objects.get(conversation=conversation, direction=MessageDirection.OUTBOUND).kind == "dm"


def test_the_job_claimed_twice_at_once_calls_the_platform_once(personas, sim, transactional_db):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="On it, thanks for telling us.")
    # A slow answer widens the window in which a second worker could slip in.
    sim.fault("x", "slow", path="/2/tweets", method="POST", delay=1.0)
    requests.delete(f"{sim.url}/_sim/calls", timeout=5).raise_for_status()
    barrier = threading.Barrier(2)
    results: list[str] = []

    def worker():
        try:
            barrier.wait()
            results.append(send_reply(reply.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["not claimed", "sent"]
    assert len([c for c in sim.calls("x", "/2/tweets") if c["method"] == "POST"]) == 1
    assert len(council_replies(sim)) == 1


# ---------------------------------------------------------------------------- the platform fails after accepting
@pytest.mark.parametrize("fault", ["accept_then_error", "accept_then_slow"])
def test_failure_after_the_platform_accepted_is_reconciled_not_resent(personas, sim, settings, fault):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="We have logged it: ref 4471.")
    settings.PLATFORM_TIMEOUT_SECONDS = 1
    sim.fault("x", fault, path="/2/tweets", method="POST", delay=2.5)

    assert send_reply(reply.pk) == "unknown"
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN and reply.platform_id == ""
    assert "may have been carried out" in reply.last_error
    # The platform holds it already; nothing may send it again before we know.
    assert len(council_replies(sim)) == 1
    assert send_reply(reply.pk) == "not claimed"

    assert reconcile_reply(reply.pk) == "sent"
    reply.refresh_from_db()
    posted = council_replies(sim)
    assert len(posted) == 1
    assert reply.state == ReplyState.SENT and reply.platform_id == posted[0]["id"]
    assert Message.objects.filter(conversation=conversation, direction=MessageDirection.OUTBOUND).count() == 1
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_UNKNOWN, EventType.REPLY_RECONCILED]
    outcome = AuditEvent.objects.get(event_type=EventType.REPLY_RECONCILED, target_type="inbox.reply", target_id=str(reply.pk)).changes["outcome"]
    assert outcome == "found on the platform: sent"


def test_unknown_reply_not_found_on_the_platform_is_sent_again_once(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Thanks, passed to the team.")
    # A 5xx to a write might have been stored: unknown, even though this one was not.
    sim.fault("x", "server_error", path="/2/tweets", method="POST")

    assert send_reply(reply.pk) == "unknown"
    assert council_replies(sim) == []
    assert reconcile_reply(reply.pk) == "resent"
    reply.refresh_from_db()
    assert reply.state == ReplyState.PENDING
    assert send_reply(reply.pk) == "sent"
    assert len(council_replies(sim)) == 1
    reconciled = AuditEvent.objects.get(event_type=EventType.REPLY_RECONCILED, target_type="inbox.reply", target_id=str(reply.pk))
    assert reconciled.changes["outcome"] == "not found, resent"
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_UNKNOWN, EventType.REPLY_RECONCILED,
                             EventType.REPLY_SENT]


def test_an_outcome_the_platform_cannot_confirm_for_a_day_fails_with_an_instruction(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="We are on it.")
    sim.fault("x", "server_error", path="/2/tweets", method="POST")
    assert send_reply(reply.pk) == "unknown"
    # Reading the platform keeps failing, and the question has been open for more than a day.
    sim.fault("x", "server_error", method="GET", times=100)
    Reply.objects.filter(pk=reply.pk).update(claimed_at=timezone.now() - timedelta(hours=25))
    assert reconcile_reply(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED
    assert "could not confirm with the platform" in reply.last_error
    assert "before you retry" in reply.last_error
    assert events(reply)[-1] == EventType.REPLY_FAILED
    assert council_replies(sim) == []


def test_worker_lost_while_sending_is_swept_to_unknown_and_reconciled(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Looking into it now.")
    # A worker claimed it and died: still "sending" long after.
    Reply.objects.filter(pk=reply.pk).update(state=ReplyState.SENDING, attempts=1,
                                             claimed_at=timezone.now() - timedelta(minutes=10))
    assert sweep_stuck_replies()["stuck"] == 1
    reply.refresh_from_db()
    assert reply.state == ReplyState.UNKNOWN
    assert reconcile_reply(reply.pk) == "resent"
    assert send_reply(reply.pk) == "sent"
    assert len(council_replies(sim)) == 1


# ------------------------------------------------------------------------------- transient and permanent
def test_transient_failure_before_sending_is_retried(personas, sim, settings):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="We will call you back.")
    sim_url = settings.X_API_URL
    # Nothing listens there: the connection is refused before any byte is sent, so sending again is safe.
    settings.X_API_URL = "http://127.0.0.1:9/x"
    assert send_reply(reply.pk) == "retrying"
    reply.refresh_from_db()
    assert reply.state == ReplyState.PENDING and reply.attempts == 1 and "Could not reach X" in reply.last_error

    settings.X_API_URL = sim_url
    assert send_reply(reply.pk) == "sent"
    reply.refresh_from_db()
    assert reply.attempts == 2 and reply.last_error == ""
    assert len(council_replies(sim)) == 1
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_RETRIED, EventType.REPLY_SENT]


def test_transient_failures_give_up_after_the_last_attempt(personas, sim, settings):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Noted, thank you.")
    settings.X_API_URL = "http://127.0.0.1:9/x"
    outcomes = [send_reply(reply.pk) for _ in range(MAX_ATTEMPTS)]
    assert outcomes == ["retrying"] * (MAX_ATTEMPTS - 1) + ["failed"]
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED and reply.last_error.startswith(f"Gave up after {MAX_ATTEMPTS} attempts")


def test_permanent_failure_shows_the_platforms_reason(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Sorry to hear that.")
    requests.delete(f"{sim.url}/x/2/tweets/{conversation.key}", headers=CITIZEN, timeout=5).raise_for_status()

    assert send_reply(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED
    assert "deleted or not visible" in reply.last_error
    failed = AuditEvent.objects.get(event_type=EventType.REPLY_FAILED, target_type="inbox.reply", target_id=str(reply.pk))
    assert "deleted or not visible" in failed.changes["reason"]
    assert council_replies(sim) == []


def test_expired_token_fails_with_reconnect_and_retry_after_reconnecting_sends(personas, sim):
    a = personas.a
    channel = x_channel(a)
    conversation = x_conversation(a, sim, channel=channel)
    agent = a.members["agent"]
    reply = reply_create(actor=agent, conversation_id=conversation.pk, text="A crew will come on Monday.")
    sim.fault("x", "expired_token", path="/2/tweets", method="POST")

    assert send_reply(reply.pk) == "failed"
    reply.refresh_from_db()
    channel.refresh_from_db()
    assert reply.state == ReplyState.FAILED and "Reconnect the channel" in reply.last_error
    assert channel.status == ChannelStatus.NEEDS_REAUTH
    with pytest.raises(ValidationError):
        reply_create(actor=agent, conversation_id=conversation.pk, text="Another one")

    x_channel(a)  # reconnected
    reply = reply_retry(actor=agent, reply_id=reply.pk)
    assert reply.state == ReplyState.PENDING and reply.attempts == 0
    assert send_reply(reply.pk) == "sent"
    assert len(council_replies(sim)) == 1
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_FAILED, EventType.REPLY_RETRIED,
                             EventType.REPLY_SENT]


def test_only_a_failed_reply_can_be_retried(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Done.")
    with pytest.raises(ValidationError):
        reply_retry(actor=a.members["agent"], reply_id=reply.pk)
    with pytest.raises(PermissionDenied):
        reply_retry(actor=a.members["viewer"], reply_id=reply.pk)


def test_rate_limited_reply_waits_for_the_reset_without_using_an_attempt(personas, sim):
    a = personas.a
    channel = x_channel(a)
    conversation = x_conversation(a, sim, channel=channel)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Thanks for your patience.")
    sim.fault("x", "rate_limit", path="/2/tweets", method="POST", reset_in=120)

    assert send_reply(reply.pk) == "rate limited"
    reply.refresh_from_db()
    channel.refresh_from_db()
    assert reply.state == ReplyState.PENDING and reply.attempts == 0
    assert channel.status == ChannelStatus.RATE_LIMITED
    retried = AuditEvent.objects.get(event_type=EventType.REPLY_RETRIED, target_type="inbox.reply", target_id=str(reply.pk))
    assert 100 <= retried.changes["retry_in_seconds"] <= 125
    # Until the reset, the channel is not called at all.
    calls_before = len(sim.calls("x"))
    assert send_reply(reply.pk) == "rate limited"
    assert len(sim.calls("x")) == calls_before
    assert council_replies(sim) == []


def test_duplicate_refusal_is_checked_on_the_platform_not_resent(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Same words as before.")
    sim.fault("x", "duplicate", path="/2/tweets", method="POST")
    assert send_reply(reply.pk) == "unknown"
    # Not there after all: the duplicate is of something else, so sending again cannot help.
    assert reconcile_reply(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED and "duplicate" in reply.last_error.lower()
    assert council_replies(sim) == []
    # One step, one event: the reconciliation says it failed the reply (no separate reply.failed).
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_UNKNOWN, EventType.REPLY_RECONCILED]
    reconciled = AuditEvent.objects.get(event_type=EventType.REPLY_RECONCILED, target_type="inbox.reply",
                                        target_id=str(reply.pk))
    assert reconciled.changes["outcome"] == "not found, failed"
    assert reconciled.changes["state"] == {"from": "unknown", "to": "failed"}


# --------------------------------------------------------------------------------------- validation
def test_text_is_checked_with_the_platforms_rules(personas):
    a = personas.a
    agent = a.members["agent"]
    x = make_conversation(a, channel=make_channel(a, platform="x"))
    mastodon = make_conversation(a, channel=make_channel(a, platform="mastodon"))
    facebook = make_conversation(a, channel=make_channel(a, platform="facebook"))
    with pytest.raises(ValidationError, match="as X counts them"):
        # Emoji weigh 2 on X: 141 of them are 282.
        reply_create(actor=agent, conversation_id=x.pk, text="🙂" * 141)
    reply_create(actor=agent, conversation_id=x.pk, text="🙂" * 140)
    with pytest.raises(ValidationError, match="500"):
        reply_create(actor=agent, conversation_id=mastodon.pk, text="a" * 501)
    with pytest.raises(ValidationError, match="Write the reply"):
        reply_create(actor=agent, conversation_id=mastodon.pk, text="   ")
    with pytest.raises(ValidationError, match="reply in public"):
        reply_create(actor=agent, conversation_id=facebook.pk, text="Hello", mode="dm")
    with pytest.raises(ValidationError):
        reply_create(actor=agent, conversation_id=x.pk, text="Hello", mode="carrier pigeon")
    assert reply_create(actor=agent, conversation_id=x.pk, text="Hello", mode="dm").mode == "dm"
    assert Reply.objects.count() == 2


# ------------------------------------------------------------------------------------------- approval
@pytest.fixture
def approval(personas):
    """A trainee whose replies need approval in Customer Services, and a manager of that department."""
    a = personas.a
    trainee = add_person(a, "agent", "trainee@alpha.example", ["Customer Services"])
    approver = add_person(a, "manager", "cs-manager@alpha.example", ["Customer Services"])
    policy = InboxPolicy.objects.create(organisation=a.organisation, department=a.departments["Customer Services"])
    policy.reply_approval_for.add(trainee.user)
    return trainee, approver


def test_trainees_reply_waits_for_approval_then_is_sent(personas, sim, approval):
    a = personas.a
    trainee, approver = approval
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=trainee, conversation_id=conversation.pk, text="I have asked the depot to check.")
    assert reply.state == ReplyState.AWAITING_APPROVAL
    assert send_reply(reply.pk) == "not claimed"
    assert council_replies(sim) == []
    assert Notification.objects.filter(user=approver.user, link=f"/inbox/{conversation.pk}/").exists()
    assert Notification.objects.filter(user=a.members["admin"].user, link=f"/inbox/{conversation.pk}/").exists()

    with pytest.raises(PermissionDenied):
        reply_approve(actor=a.members["agent"], reply_id=reply.pk)
    with pytest.raises(Reply.DoesNotExist):
        # The Communications manager cannot see Customer Services' conversations.
        reply_approve(actor=a.members["manager"], reply_id=reply.pk)

    reply = reply_approve(actor=approver, reply_id=reply.pk)
    assert (reply.state, reply.approved_by) == (ReplyState.PENDING, approver.user)
    with pytest.raises(ValidationError):
        reply_approve(actor=approver, reply_id=reply.pk)
    assert send_reply(reply.pk) == "sent"
    assert len(council_replies(sim)) == 1
    assert events(reply) == [EventType.REPLY_CREATED, EventType.REPLY_APPROVED, EventType.REPLY_SENT]
    # The agent without approval needed sends straight away.
    other = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Thanks again.")
    assert other.state == ReplyState.PENDING


def test_rejected_reply_is_never_sent_and_the_author_is_told(personas, sim, approval):
    a = personas.a
    trainee, approver = approval
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=trainee, conversation_id=conversation.pk, text="lol no")
    reply = reply_reject(actor=approver, reply_id=reply.pk, reason="Not our tone; see the style guide.")
    assert reply.state == ReplyState.REJECTED
    assert send_reply(reply.pk) == "not claimed"
    assert council_replies(sim) == []
    notice = Notification.objects.get(user=trainee.user)
    assert "did not approve" in notice.text and "style guide" in notice.text
    rejected = AuditEvent.objects.get(event_type=EventType.REPLY_REJECTED, target_type="inbox.reply", target_id=str(reply.pk))
    assert rejected.changes["reason"] == "Not our tone; see the style guide."
    with pytest.raises(ValidationError):
        reply_approve(actor=approver, reply_id=reply.pk)


def test_an_author_cannot_approve_their_own_reply_even_as_admin(personas, sim):
    a = personas.a
    admin = a.members["admin"]
    policy = InboxPolicy.objects.create(organisation=a.organisation, department=a.departments["Customer Services"])
    policy.reply_approval_for.add(admin.user)
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=admin, conversation_id=conversation.pk, text="Approved by me? No.")
    assert reply.state == ReplyState.AWAITING_APPROVAL
    with pytest.raises(PermissionDenied):
        reply_approve(actor=admin, reply_id=reply.pk)


# ---------------------------------------------------------------------------------------------- access
def test_another_organisations_conversation_and_reply_do_not_exist_for_an_outsider(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Hello there.")
    Reply.objects.filter(pk=reply.pk).update(state=ReplyState.AWAITING_APPROVAL)
    outsider = personas.outsider
    with pytest.raises(Conversation.DoesNotExist):
        reply_create(actor=outsider, conversation_id=conversation.pk, text="Not mine to answer")
    with pytest.raises(Reply.DoesNotExist):
        reply_approve(actor=outsider, reply_id=reply.pk)
    with pytest.raises(Reply.DoesNotExist):
        reply_reject(actor=outsider, reply_id=reply.pk)
    assert Reply.objects.count() == 1


def test_roles_without_the_inbox_cannot_reply(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    for role in ("viewer", "editor", "approver", "manager"):
        with pytest.raises(PermissionDenied):
            reply_create(actor=a.members[role], conversation_id=conversation.pk, text="Hello")
    # An agent of another department does not see it at all.
    comms = make_conversation(a, channel=make_channel(a, department="Communications"))
    with pytest.raises(Conversation.DoesNotExist):
        reply_create(actor=a.members["agent"], conversation_id=comms.pk, text="Hello")
    assert Reply.objects.count() == 0


def test_beat_sweeps_stuck_replies_every_minute():
    from django.conf import settings

    from smm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["inbox-sweep-stuck-replies"]
    assert entry["task"] in app.tasks and entry["schedule"] <= 60


def test_an_expired_x_token_is_renewed_before_the_reply_is_sent(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    channel = conversation.channel
    expired = {**channel.credentials, "expires_at": 0}
    channel.credentials = expired
    channel.save(update_fields=["credentials_encrypted"])
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Renewed and sent.")
    assert send_reply(reply.pk) == "sent"
    channel.refresh_from_db()
    assert channel.credentials["access_token"] != expired["access_token"]
    assert float(channel.credentials["expires_at"]) > 0
    assert len(sim.calls("x", "/2/oauth2/token")) == 1
    assert len(council_replies(sim)) == 1
