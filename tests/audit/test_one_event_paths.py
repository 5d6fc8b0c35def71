"""Issue 6 §1: one action (a request, a task's step, a command) writes exactly ONE audit event carrying everything it
changed. These are the paths that used to write two: a member's role with departments (and the API's PATCH with the
active state), an invitation replacing earlier ones, an organisation created with departments, a reconcile that
fails a duplicate (replies and posts), the last channel of a post finishing the post, a claim that finishes the post
at once. And the webhook quarantine event, which is append-only, says no value of the payload.

Each test counts the events one step wrote (everything after the last event before the step)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import Invitation
from approvals import publishing
from approvals.models import PostStatus, PublishTarget, TargetState
from approvals.tasks import publish_target, reconcile_target
from audit.context import ActionContext, acting
from audit.models import AuditEvent, EventType
from channels_app.connectors.base import InboundItem
from inbox.ingest import ingest
from inbox.models import QuarantinedItem, ReplyState
from inbox.replies import reply_create
from inbox.tasks.replies import reconcile_reply, send_reply
from inbox.views.webhooks import hub_signature
from tests.approvals.test_publishing import channel as sim_channel
from tests.approvals.test_publishing import publish_all, scheduled, sweep, targets
from tests.inbox.test_replies import x_conversation

# Words only a payload holds: they must never reach the append-only trail.
PERSONAL = "Jane Doe 07700 900123"


def _last() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _since(since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))


# ------------------------------------------------------------------------------------------- members
def test_role_and_departments_saved_together_are_one_event(personas):
    a = personas.a
    agent = a.members["agent"]
    since = _last()

    account_services.member_update(actor=a.members["admin"], membership=agent, role="editor",
                                   departments=[a.departments["Communications"]])

    [event] = _since(since)
    assert event.event_type == EventType.MEMBER_ROLE_CHANGED and event.target_id == str(agent.pk)
    assert event.changes == {"role": {"from": "agent", "to": "editor"},
                             "departments": {"from": ["Customer Services"], "to": ["Communications"]}}


def test_departments_alone_are_one_departments_changed_event(personas):
    a = personas.a
    since = _last()
    account_services.member_update(actor=a.members["admin"], membership=a.members["viewer"], role="viewer",
                                   departments=[a.departments["Customer Services"]])
    [event] = _since(since)
    assert event.event_type == EventType.MEMBER_DEPARTMENTS_CHANGED and "role" not in event.changes


def test_one_api_patch_of_role_and_active_state_is_one_event(personas, api_for):
    a = personas.a
    editor = a.members["editor"]
    api = api_for(a.members["admin"])
    since = _last()

    response = api.patch(f"/api/v1/members/{editor.pk}/", {"role": "viewer", "is_active": False}, format="json")

    assert response.status_code == 200, response.content
    [event] = _since(since)
    assert event.event_type == EventType.MEMBER_DEACTIVATED and event.target_id == str(editor.pk)
    assert event.changes["role"] == {"from": "editor", "to": "viewer"}
    assert event.changes["active"] == {"from": True, "to": False} and "sessions_ended" in event.changes
    editor.refresh_from_db()
    assert (editor.role, editor.is_active) == ("viewer", False)


def test_a_refused_deactivation_in_a_patch_leaves_the_role_and_writes_nothing(personas, api_for):
    a = personas.a
    admin = a.members["admin"]
    # A second admin, so that the role change alone would be allowed.
    account_services.member_update(actor=admin, membership=a.members["manager"], role="admin")
    api = api_for(admin)
    since = _last()
    response = api.patch(f"/api/v1/members/{admin.pk}/", {"role": "manager", "is_active": False}, format="json")
    assert response.status_code == 400 and "deactivate yourself" in response.content.decode()
    assert _since(since) == []
    admin.refresh_from_db()
    assert (admin.role, admin.is_active) == ("admin", True)


def test_an_invitation_replacing_open_ones_is_one_event_naming_them(personas):
    a = personas.a
    admin = a.members["admin"]
    first, _ = account_services.invitation_create(actor=admin, email="new.person@alpha.example", role="viewer",
                                                  departments=[])
    since = _last()

    newest, _ = account_services.invitation_create(actor=admin, email="New.Person@alpha.example", role="editor",
                                                   departments=[a.departments["Communications"]])

    [event] = _since(since)
    assert event.event_type == EventType.INVITATION_SENT and event.target_id == str(newest.pk)
    assert event.changes["replaced_invitations"] == [first.pk]
    assert Invitation.objects.get(pk=first.pk).revoked_at is not None


def test_creating_an_organisation_with_departments_is_one_event(db):
    since = _last()
    with acting(ActionContext(system_actor="system: tests")):
        organisation = account_services.organisation_create(name="Charlie Borough", slug="charlie",
                                                            department_names=["Housing", "Parks"])
    [event] = _since(since)
    assert event.event_type == EventType.ORGANISATION_CREATED and event.organisation_id == organisation.pk
    assert [d["name"] for d in event.changes["departments"]] == ["Housing", "Parks"]
    assert {d["id"] for d in event.changes["departments"]} == set(organisation.departments.values_list("pk", flat=True))


# ------------------------------------------------------------------------------------------- replies
def test_reconciling_a_reply_refused_as_a_duplicate_is_one_event(personas, sim):
    a = personas.a
    conversation = x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="Same words as before.")
    sim.fault("x", "duplicate", path="/2/tweets", method="POST")
    assert send_reply(reply.pk) == "unknown"
    since = _last()

    assert reconcile_reply(reply.pk) == "failed"

    [event] = _since(since)
    assert event.event_type == EventType.REPLY_RECONCILED and event.target_id == str(reply.pk)
    assert event.changes["outcome"] == "not found, failed"
    assert event.changes["state"] == {"from": ReplyState.UNKNOWN, "to": ReplyState.FAILED}
    assert "duplicate" in event.changes["reason"].lower() and event.changes["attempts"] == 1


# ------------------------------------------------------------------------------------------ publishing
def test_each_publishing_step_is_one_event_and_the_last_channel_carries_the_posts_status(personas, sim):
    a = personas.a
    post = scheduled(a, [sim_channel(a, sim, "x"), sim_channel(a, sim, "mastodon")], body="Town hall open late.")
    since = _last()
    assert sweep() == 1
    [claimed] = _since(since)
    assert claimed.event_type == EventType.POST_PUBLISHING and "post_status" not in claimed.changes

    steps = []
    for target in targets(post).values():
        since = _last()
        assert publish_target(target.pk) == "sent"
        steps.append(_since(since))

    assert [len(step) for step in steps] == [1, 1]
    first, last = steps[0][0], steps[1][0]
    assert first.event_type == last.event_type == EventType.TARGET_PUBLISHED
    assert "post_status" not in first.changes
    assert last.changes["post_status"] == {"from": PostStatus.PUBLISHING, "to": PostStatus.PUBLISHED}
    assert {c["state"] for c in last.changes["post_channels"].values()} == {TargetState.SENT}
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED


def test_the_last_channel_failing_is_one_event_that_fails_the_post(personas, sim):
    a = personas.a
    post = scheduled(a, [sim_channel(a, sim, "x")], body="Parking charges change in April.")
    sim.fault("x", "expired_token", path="/2/tweets", method="POST")
    assert sweep() == 1
    since = _last()

    assert publish_all(post) == {"x": "failed"}

    # The channel's own health change (needs reconnecting) is the channel's event; the post gets exactly one.
    on_post = [e for e in _since(since) if e.target_type == "approvals.post"]
    assert [e.event_type for e in on_post] == [EventType.TARGET_FAILED]
    assert on_post[0].changes["post_status"] == {"from": PostStatus.PUBLISHING, "to": PostStatus.FAILED}
    assert on_post[0].changes["post_channels"][f"x {targets(post)['x'].channel.handle}"]["state"] == TargetState.FAILED


def test_reconciling_a_post_refused_as_a_duplicate_is_one_event_that_finishes_the_post(personas, sim):
    a = personas.a
    post = scheduled(a, [sim_channel(a, sim, "x")], body="Leisure centre timetable for the holidays.")
    sim.fault("x", "duplicate", path="/2/tweets", method="POST")
    assert sweep() == 1
    assert publish_all(post) == {"x": "unknown"}
    since = _last()

    assert reconcile_target(targets(post)["x"].pk) == "failed"

    [event] = _since(since)
    assert event.event_type == EventType.TARGET_RECONCILED
    assert event.changes["outcome"] == "not found, failed"
    assert event.changes["state"] == {"from": TargetState.UNKNOWN, "to": TargetState.FAILED}
    assert event.changes["post_status"] == {"from": PostStatus.PUBLISHING, "to": PostStatus.FAILED}


def test_a_claim_with_nothing_left_to_publish_is_one_event(personas, sim):
    a = personas.a
    post = scheduled(a, [sim_channel(a, sim, "x")], body="Nothing to send after all.")
    PublishTarget.objects.filter(post=post).delete()
    since = _last()

    assert sweep() == 1

    [event] = _since(since)
    assert event.event_type == EventType.POST_PUBLISHING
    assert event.changes["status"] == {"from": PostStatus.SCHEDULED, "to": PostStatus.PUBLISHING}
    assert event.changes["post_status"] == {"from": PostStatus.PUBLISHING, "to": PostStatus.FAILED}
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED


def test_the_stuck_sweeper_finishing_a_post_on_its_own_writes_one_post_finished(personas, sim):
    a = personas.a
    post = scheduled(a, [sim_channel(a, sim, "x")], body="Finished while nobody looked.")
    assert sweep() == 1
    # The target's own step committed, but the post was never finished (as after a lost worker).
    PublishTarget.objects.filter(post=post).update(state=TargetState.SENT, platform_id="123", platform_url="https://x.com/i/123")
    since = _last()

    with acting(ActionContext(system_actor="system: sweep_stuck_targets")):
        assert publishing.sweep_stuck()["finished"] == 1

    [event] = _since(since)
    assert event.event_type == EventType.POST_FINISHED
    assert event.changes["status"] == {"from": PostStatus.PUBLISHING, "to": PostStatus.PUBLISHED}


# ------------------------------------------------------------------------------------------ quarantine
@pytest.fixture
def facebook_channel(personas, settings):
    from channels_app import services as channel_services

    settings.FACEBOOK_APP_SECRET = "test-app-secret"
    return channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform="facebook",
        account_id="1029384756", handle="@facebook-account", credentials={"page_access_token": "t"},
    )  # fmt: skip


def test_a_webhook_parse_error_quoting_the_payload_stays_on_the_quarantined_row_not_in_the_event(client, facebook_channel):
    # created_time is not a number: float() quotes the value in its error.
    broken = {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "c1", "post_id": "1_2",
                                         "message": "hello", "created_time": PERSONAL}}
    body = json.dumps({"object": "page", "entry": [{"id": "1029384756", "changes": [broken]}]}).encode()
    since = _last()

    response = client.post(reverse("inbox:webhook_facebook"), body, content_type="application/json",
                           headers={"X-Hub-Signature-256": hub_signature("test-app-secret", body)})

    assert response.status_code == 200 and response.json()["quarantined"] == 1
    item = QuarantinedItem.objects.get(channel=facebook_channel)
    assert PERSONAL in item.error
    [event] = _since(since)
    assert event.event_type == EventType.INBOUND_QUARANTINED
    assert event.changes["items"] == [{"id": "", "error": "Unreadable facebook change", "error_class": "ValueError"}]
    assert PERSONAL not in json.dumps(event.changes)


def test_an_ingest_check_quoting_a_value_keeps_it_out_of_the_event(facebook_channel):
    from datetime import UTC, datetime

    odd = InboundItem(platform_id="m9", kind=PERSONAL, text="x", created_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
                      author_id="u9", author_handle="@u9")
    since = _last()

    assert ingest(facebook_channel, [odd]).quarantined == 1

    assert PERSONAL in QuarantinedItem.objects.get(channel=facebook_channel).error
    [event] = _since(since)
    assert event.changes["items"] == [{"id": "m9", "error": "unknown kind"}]
    assert PERSONAL not in json.dumps(event.changes)
