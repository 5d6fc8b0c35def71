"""/api/v1/posts/: compose, review, schedule and follow posts over the API, scoped and role-checked like the pages.

Everything goes through the real services and the real database; no platform is called (channels are not
connected to anything: approval makes publishing targets, the publisher is tested elsewhere).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Notification
from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ChannelApprovalRule,
    Comment,
    Post,
    PostMedia,
    PostStatus,
    PublishingPause,
    PublishTarget,
)
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

LIST = "/api/v1/posts/"
CALENDAR = "/api/v1/posts/calendar/"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x80\x00\x00\x01\xe0\x08\x06\x00\x00\x00" + b"\x00" * 64


def url(post, action: str = "") -> str:
    pk = getattr(post, "pk", post)
    return f"{LIST}{pk}/{action + '/' if action else ''}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def events(post, event_type) -> list[AuditEvent]:
    return list(AuditEvent.objects.for_target("approvals.post", post.pk).filter(event_type=event_type))


def _json_400(response, field: str | None = None) -> dict:
    assert response.status_code == 400, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "detail" in body
    if field:
        assert field in body.get("errors", {}), body
    return body


def later(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.fixture
def chan(personas):
    return make_channel(personas.a, "Communications", platform="mastodon")


@pytest.fixture
def chan2(personas):
    return make_channel(personas.a, "Communications", platform="x")


@pytest.fixture
def apis(personas, api_for):
    """apis("editor") is an API client for that member of organisation A (made once per role)."""
    made = {}

    def _api(role: str):
        if role not in made:
            made[role] = api_for(personas.a.members[role])
        return made[role]

    return _api


def create(api, personas, channels, **fields):
    body = {
        "department": personas.a.departments["Communications"].pk,
        "title": "Bin collections",
        "body": "Bins are collected on Monday.",
        "channel_ids": [c.pk for c in channels],
        **fields,
    }
    return api.post(LIST, body, format="json")


# ------------------------------------------------------------------------------------------- the flow
def test_whole_flow_create_submit_approve_by_another_member_schedules_with_targets(personas, apis, chan, chan2):
    when = timezone.now() + timedelta(days=2)

    created = create(apis("editor"), personas, [chan, chan2], scheduled_at=when.isoformat(), notes="Check the date")
    assert created.status_code == 201, created.content
    body = created.json()
    post = Post.objects.get(pk=body["id"])
    assert body["status"] == "draft"
    assert body["current_revision"]["number"] == 1
    assert body["current_revision"]["content"]["notes"] == "Check the date"
    assert body["current_revision"]["hash"] == post.current_revision.content_hash
    assert [c["id"] for c in body["channels"]] == sorted([chan.pk, chan2.pk])
    assert body["scheduled_at"] is not None and post.scheduled_at == when
    assert body["allowed_actions"] == ["edit", "submit", "cancel"]
    assert events(post, EventType.POST_CREATED)

    submitted = apis("editor").post(url(post, "submit"))
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "in_review"
    assert submitted.json()["approvals"]["count"] == 0 and submitted.json()["approvals"]["required"] == 1
    assert Notification.objects.filter(user=personas.a.user("approver"), link=f"/posts/{post.pk}/").exists()

    detail = apis("approver").get(url(post)).json()
    assert "approve" in detail["allowed_actions"] and "request_changes" in detail["allowed_actions"]

    approved = apis("approver").post(url(post, "approve"), {"comment": "Good to go"}, format="json")
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == "scheduled"
    assert body["approvals"]["count"] == 1
    assert body["approvals"]["decisions"][0]["approver"]["email"] == "approver@alpha.example"
    assert body["approvals"]["decisions"][0]["comment"] == "Good to go"
    assert sorted(t["channel"]["id"] for t in body["targets"]) == sorted([chan.pk, chan2.pk])
    assert {t["state"] for t in body["targets"]} == {"pending"}
    assert all(t["platform_url"] == "" for t in body["targets"])
    assert PublishTarget.objects.filter(post=post).count() == 2
    post.refresh_from_db()
    assert post.scheduled_at == when
    approval = events(post, EventType.POST_APPROVED)[0]
    assert approval.changes["hash"] == post.current_revision.content_hash


def test_detail_shows_the_live_posts_url_once_a_channel_confirmed(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    apis("approver").post(url(post, "approve"), {}, format="json")
    PublishTarget.objects.filter(post=post).update(
        state="sent", platform_id="111", platform_url="https://social.example/@alpha/111", published_at=timezone.now()
    )

    target = apis("viewer").get(url(post)).json()["targets"][0]

    assert (target["state"], target["state_label"]) == ("sent", "Published")
    assert target["platform_url"] == "https://social.example/@alpha/111"
    assert target["channel"]["platform"] == "mastodon"


def test_no_time_means_scheduled_for_now_on_approval(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))

    body = apis("approver").post(url(post, "approve"), {}, format="json").json()

    assert body["status"] == "scheduled"
    assert abs(timezone.now() - Post.objects.get(pk=post.pk).scheduled_at) < timedelta(minutes=1)


def test_a_time_that_passed_in_review_waits_for_a_choice_then_schedule_sets_it(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(hours=1))

    body = apis("approver").post(url(post, "approve"), {}, format="json").json()
    assert (body["status"], body["needs_new_time"]) == ("approved", True)
    assert "schedule" in body["allowed_actions"]

    new_time = timezone.now() + timedelta(hours=3)
    scheduled = apis("approver").post(url(post, "schedule"), {"scheduled_at": new_time.isoformat()}, format="json")
    assert scheduled.status_code == 200, scheduled.content
    assert (scheduled.json()["status"], scheduled.json()["needs_new_time"]) == ("scheduled", False)
    assert Post.objects.get(pk=post.pk).scheduled_at == new_time


def test_approve_with_publish_now_when_the_time_passed(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(hours=1))

    body = apis("approver").post(url(post, "approve"), {"publish_now": True}, format="json").json()

    assert body["status"] == "scheduled"
    assert Post.objects.get(pk=post.pk).scheduled_at > timezone.now() - timedelta(minutes=1)


# ------------------------------------------------------------------------------ separation of duties
def test_the_author_cannot_approve_their_own_post_whatever_their_role(personas, apis, chan):
    created = create(apis("admin"), personas, [chan]).json()
    apis("admin").post(url(created["id"], "submit"))
    assert "approve" not in apis("admin").get(url(created["id"])).json()["allowed_actions"]

    response = apis("admin").post(url(created["id"], "approve"), {}, format="json")

    assert response.status_code == 403
    assert "someone else" in response.json()["detail"]
    assert not ApprovalDecision.objects.filter(post_id=created["id"]).exists()
    assert Post.objects.get(pk=created["id"]).status == PostStatus.IN_REVIEW


def test_the_author_cannot_request_changes_on_their_own_post(personas, apis, chan):
    created = create(apis("admin"), personas, [chan]).json()
    apis("admin").post(url(created["id"], "submit"))

    response = apis("admin").post(url(created["id"], "request-changes"), {"comment": "Hmm"}, format="json")

    assert response.status_code == 403


def test_two_approver_policy_needs_two_different_people(personas, apis, chan):
    ApprovalPolicy.objects.create(
        organisation=personas.a.organisation, department=personas.a.departments["Communications"], approvals_required=2
    )
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))

    first = apis("approver").post(url(post, "approve"), {}, format="json").json()
    assert (first["status"], first["approvals"]["count"], first["approvals"]["required"]) == ("in_review", 1, 2)
    assert "approve" not in first["allowed_actions"]

    again = apis("approver").post(url(post, "approve"), {}, format="json")
    _json_400(again, "decision")

    second = apis("admin").post(url(post, "approve"), {}, format="json").json()
    assert (second["status"], second["approvals"]["count"]) == ("scheduled", 2)
    assert PublishTarget.objects.filter(post=post).count() == 1


def test_a_channel_rule_raises_the_approvals_needed(personas, apis, chan, chan2):
    ChannelApprovalRule.objects.create(organisation=personas.a.organisation, channel=chan2, approvals_required=2)
    post = make_post(personas.a, [chan, chan2])
    apis("editor").post(url(post, "submit"))

    body = apis("approver").post(url(post, "approve"), {}, format="json").json()

    assert (body["status"], body["approvals"]["required"]) == ("in_review", 2)


@pytest.mark.parametrize("start", ["in_review", "scheduled"])
def test_edit_after_approval_goes_back_to_review_and_clears_approvals(personas, apis, chan, start):
    if start == "in_review":
        ApprovalPolicy.objects.create(
            organisation=personas.a.organisation, department=personas.a.departments["Communications"],
            approvals_required=2,
        )
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    apis("approver").post(url(post, "approve"), {"scheduled_at": later(days=1)}, format="json")
    assert Post.objects.get(pk=post.pk).status == start

    edited = apis("editor").patch(url(post), {"body": "Bins are collected on Tuesday."}, format="json")

    assert edited.status_code == 200, edited.content
    body = edited.json()
    assert body["status"] == "in_review"
    assert body["current_revision"]["number"] == 2
    assert body["current_revision"]["content"]["body"] == "Bins are collected on Tuesday."
    assert body["current_revision"]["content"]["title"] == "Bin collections"
    assert body["approvals"]["count"] == 0 and body["approvals"]["decisions"] == []
    assert "approve" in apis("approver").get(url(post)).json()["allowed_actions"]
    event = events(post, EventType.POST_EDITED)[0]  # the newest
    assert event.changes["approvals_cleared"] is True


def test_patch_keeps_what_it_does_not_name_and_an_unchanged_patch_makes_no_revision(personas, apis, chan):
    post = make_post(personas.a, [chan], link="https://alpha.example/bins", variants={"mastodon": "Bins: Monday"})

    same = apis("editor").patch(url(post), {}, format="json").json()
    assert same["current_revision"]["number"] == 1

    body = apis("editor").patch(url(post), {"title": "Bins (new)"}, format="json").json()
    content = body["current_revision"]["content"]
    assert (body["title"], body["current_revision"]["number"]) == ("Bins (new)", 2)
    assert content["link"] == "https://alpha.example/bins"
    assert content["variants"] == {"mastodon": "Bins: Monday"}
    assert content["channel_ids"] == [chan.pk]


def test_patch_sets_and_clears_the_time(personas, apis, chan):
    post = make_post(personas.a, [chan])
    when = timezone.now() + timedelta(days=3)

    assert apis("editor").patch(url(post), {"scheduled_at": when.isoformat()}, format="json").status_code == 200
    assert Post.objects.get(pk=post.pk).scheduled_at == when
    assert apis("editor").patch(url(post), {"scheduled_at": None}, format="json").json()["scheduled_at"] is None


# -------------------------------------------------------------------------------------- other actions
def test_request_changes_needs_a_comment_then_the_author_edits_and_resubmits(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))

    _json_400(apis("approver").post(url(post, "request-changes"), {}, format="json"), "comment")
    _json_400(apis("approver").post(url(post, "request-changes"), {"comment": "   "}, format="json"), "comment")
    asked = apis("approver").post(url(post, "request-changes"), {"comment": "Say which bins"}, format="json")

    assert asked.status_code == 200, asked.content
    assert asked.json()["status"] == "changes_requested"
    assert asked.json()["approvals"]["decisions"][0]["decision"] == "changes_requested"
    comments = apis("editor").get(url(post, "comments")).json()["results"]
    assert [(c["text"], c["revision"]) for c in comments] == [("Say which bins", 1)]
    edited = apis("editor").patch(url(post), {"body": "Green bins are collected on Monday."}, format="json").json()
    assert (edited["status"], edited["current_revision"]["number"]) == ("draft", 2)
    assert apis("editor").post(url(post, "submit")).json()["status"] == "in_review"


def test_withdraw_returns_to_draft_and_removes_pending_targets(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    apis("approver").post(url(post, "approve"), {"scheduled_at": later(days=1)}, format="json")

    body = apis("editor").post(url(post, "withdraw")).json()

    assert body["status"] == "draft" and body["targets"] == []
    assert events(post, EventType.POST_WITHDRAWN)


def test_cancel(personas, apis, chan):
    post = make_post(personas.a, [chan])

    body = apis("editor").post(url(post, "cancel")).json()

    assert body["status"] == "cancelled" and body["allowed_actions"] == []
    assert events(post, EventType.POST_CANCELLED)


def test_schedule_null_means_now_and_a_past_time_is_400(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(hours=1))
    apis("approver").post(url(post, "approve"), {}, format="json")

    _json_400(apis("approver").post(url(post, "schedule"), {}, format="json"), "scheduled_at")
    _json_400(apis("approver").post(url(post, "schedule"), {"scheduled_at": later(hours=-2)}, format="json"),
              "scheduled_at")
    body = apis("approver").post(url(post, "schedule"), {"scheduled_at": None}, format="json").json()

    assert body["status"] == "scheduled"
    assert Post.objects.get(pk=post.pk).scheduled_at <= timezone.now()


def test_break_glass_by_an_admin_with_a_reason(personas, apis, chan):
    post = make_post(personas.a, [chan])

    _json_400(apis("admin").post(url(post, "break-glass"), {"reason": "now"}, format="json"), "reason")
    response = apis("admin").post(
        url(post, "break-glass"), {"reason": "Flood warning: roads closed now"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["break_glass_reason"] == "Flood warning: roads closed now"
    assert body["break_glass_by"]["email"] == "admin@alpha.example"
    assert events(post, EventType.POST_BREAK_GLASS)[0].changes["reason"] == "Flood warning: roads closed now"
    assert Notification.objects.filter(user=personas.a.user("approver"), link=f"/posts/{post.pk}/").exists()


def test_actions_the_status_does_not_allow_are_409_with_the_state_machines_message(personas, apis, chan):
    post = make_post(personas.a, [chan])

    approve = apis("approver").post(url(post, "approve"), {}, format="json")
    assert approve.status_code == 409
    assert approve.json() == {"detail": "Approve is not possible while the post is draft."}
    assert apis("editor").post(url(post, "withdraw")).status_code == 409
    apis("editor").post(url(post, "cancel"))
    assert apis("editor").post(url(post, "submit")).status_code == 409
    edit = apis("editor").patch(url(post), {"body": "Too late"}, format="json")
    assert edit.status_code == 409 and "cancelled" in edit.json()["detail"]


def test_submit_that_fails_the_content_checks_is_400_with_the_reasons(personas, apis, chan):
    from approvals.models import BlockedWord

    BlockedWord.objects.create(organisation=personas.a.organisation, phrase="guaranteed", action="block")
    post = make_post(personas.a, [chan], body="Results guaranteed")

    body = _json_400(apis("editor").post(url(post, "submit")), "body")

    assert "guaranteed" in str(body["errors"]["body"])
    assert Post.objects.get(pk=post.pk).status == PostStatus.DRAFT


def test_a_paused_department_shows_on_the_post(personas, apis, chan):
    post = make_post(personas.a, [chan])
    PublishingPause.objects.create(organisation=personas.a.organisation, reason="Pre-election period")

    assert apis("viewer").get(url(post)).json()["paused"]["reason"] == "Pre-election period"


# -------------------------------------------------------------------------------------------- roles
@pytest.mark.parametrize("role", ["viewer", "agent", "approver", "manager"])
def test_roles_without_edit_posts_cannot_create(personas, apis, chan, role):
    personas.a.members[role].departments.add(personas.a.departments["Communications"])

    response = create(apis(role), personas, [chan])

    assert response.status_code == 403
    assert not Post.objects.exists()


@pytest.mark.parametrize("role", ["editor", "viewer", "manager"])
def test_roles_without_approve_posts_cannot_approve(personas, apis, chan, role):
    post = make_post(personas.a, [chan], author_role="admin")
    apis("admin").post(url(post, "submit"))

    response = apis(role).post(url(post, "approve"), {}, format="json")

    assert response.status_code == 403
    assert Post.objects.get(pk=post.pk).status == PostStatus.IN_REVIEW


@pytest.mark.parametrize(
    ("role", "action", "body"),
    [
        ("viewer", "submit", {}),
        ("viewer", "withdraw", {}),
        ("approver", "cancel", {}),
        ("editor", "schedule", {"scheduled_at": None}),
        ("editor", "break-glass", {"reason": "Flood warning: roads closed"}),
        ("approver", "break-glass", {"reason": "Flood warning: roads closed"}),
        ("viewer", "media", {}),
    ],
)
def test_role_refusals_on_actions(personas, apis, chan, role, action, body):
    post = make_post(personas.a, [chan])

    response = apis(role).post(url(post, action), body, format="json")

    assert response.status_code == 403
    assert Post.objects.get(pk=post.pk).status == PostStatus.DRAFT


def test_editor_cannot_write_for_another_department(personas, apis):
    other = make_channel(personas.a, "Customer Services")
    body = {"department": personas.a.departments["Customer Services"].pk, "title": "X", "channel_ids": [other.pk]}

    response = apis("editor").post(LIST, body, format="json")

    assert response.status_code == 403
    assert not Post.objects.exists()


# -------------------------------------------------------------------------------------------- scope
def test_list_shows_only_the_members_organisation_and_departments(personas, api_for, apis, chan):
    mine = make_post(personas.a, [chan])
    cs = make_post(personas.a, [make_channel(personas.a, "Customer Services")], author_role="admin",
                   department="Customer Services")
    other_org = make_post(personas.b, [make_channel(personas.b, "Digital Desk")], author_role="admin",
                          department="Digital Desk")

    assert ids(apis("viewer").get(LIST)) == [mine.pk]
    assert ids(apis("agent").get(LIST)) == [cs.pk]
    assert sorted(ids(apis("admin").get(LIST))) == sorted([mine.pk, cs.pk])
    assert ids(api_for(personas.outsider).get(LIST)) == [other_org.pk]


def _other_post(personas):
    return make_post(personas.b, [make_channel(personas.b, "Digital Desk")], author_role="admin",
                     department="Digital Desk")


ACTIONS = [
    ("get", ""), ("patch", ""), ("get", "revisions"), ("post", "submit"), ("post", "approve"),
    ("post", "request-changes"), ("post", "withdraw"), ("post", "schedule"), ("post", "cancel"),
    ("post", "break-glass"), ("get", "comments"), ("post", "comments"), ("post", "media"), ("options", ""),
]
BODIES = {
    "": {"title": "Hijacked"}, "approve": {}, "request-changes": {"comment": "x"}, "schedule": {"scheduled_at": None},
    "break-glass": {"reason": "A reason that is long enough"}, "comments": {"text": "hello"},
}


@pytest.mark.parametrize(("method", "action"), ACTIONS)
def test_another_organisations_post_is_404_on_every_route_and_changes_nothing(personas, apis, method, action):
    other = _other_post(personas)
    before = other.current_revision_id

    call = getattr(apis("admin"), method)
    response = call(url(other, action), BODIES.get(action, {}), format="json") if method in ("post", "patch") \
        else call(url(other, action))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    other.refresh_from_db()
    assert (other.status, other.current_revision_id, other.break_glass_reason) == ("draft", before, "")
    assert not Comment.objects.filter(post=other).exists()


def test_another_organisations_image_upload_is_404(personas, apis):
    other = _other_post(personas)

    response = apis("admin").post(url(other, "media"), {"file": SimpleUploadedFile("a.png", PNG)}, format="multipart")

    assert response.status_code == 404
    assert not PostMedia.objects.exists()


@pytest.mark.parametrize(("method", "action"), [("get", ""), ("post", "submit"), ("get", "comments")])
def test_another_departments_post_is_404(personas, apis, method, action):
    cs = make_post(personas.a, [make_channel(personas.a, "Customer Services")], author_role="admin",
                   department="Customer Services")

    assert getattr(apis("editor"), method)(url(cs, action)).status_code == 404


@pytest.mark.parametrize("pk", ["abc", "-1", "0", "²", "99999999999999999999999", "1.5"])
@pytest.mark.parametrize("action", ["", "revisions", "comments", "submit"])
def test_bad_post_ids_are_404_json(apis, pk, action):
    method = apis("admin").post if action == "submit" else apis("admin").get

    response = method(f"{LIST}{pk}/{action + '/' if action else ''}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"channel_ids": ["²"]}, "channel_ids"),
        ({"channel_ids": [99999999999999999999]}, "channel_ids"),
        ({"channel_ids": "7"}, "channel_ids"),
        ({"channel_ids": [987654]}, "channels"),
        ({"department": "²"}, "department"),
        ({"department": 987654}, "department"),
        ({"scheduled_at": "2025-06-01T09:30:00"}, "scheduled_at"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": "2025-13-45T09:30:00+01:00"}, "scheduled_at"),
        ({"scheduled_at": "2020-01-01T09:30:00+00:00"}, "scheduled_at"),
        ({"scheduled_at": "9999-12-31T23:59:59-12:00"}, "scheduled_at"),
        ({"link": "not a link"}, "link"),
        ({"variants": {"myspace": "hello"}}, "variants"),
        ({"variants": ["x"]}, "variants"),
        ({"media": [{"id": 12345, "alt_text": "A bin"}]}, "media"),
        ({"media": [{"id": "²"}]}, "media"),
    ],
)
def test_bad_create_input_is_400_naming_the_field(personas, apis, chan, fields, field):
    response = create(apis("editor"), personas, [chan], **fields)

    _json_400(response, field)
    assert not Post.objects.exists()


def test_another_organisations_channel_is_refused(personas, apis):
    theirs = make_channel(personas.b, "Digital Desk")

    _json_400(create(apis("editor"), personas, [theirs]), "channels")


def test_another_organisations_department_is_refused(personas, apis, chan):
    response = create(apis("admin"), personas, [chan], department=personas.b.departments["Digital Desk"].pk)

    _json_400(response, "department")


@pytest.mark.parametrize("path", ["", "approve", "request-changes", "comments"])
def test_malformed_json_is_400(personas, apis, chan, path):
    post = make_post(personas.a, [chan])
    target = LIST if path == "" else url(post, path)

    response = apis("admin").generic("POST", target, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_bad_approve_and_comment_input_is_400(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))

    _json_400(apis("approver").post(url(post, "approve"), {"scheduled_at": "soon"}, format="json"), "scheduled_at")
    _json_400(apis("approver").post(url(post, "approve"), {"publish_now": "perhaps"}, format="json"), "publish_now")
    _json_400(apis("editor").post(url(post, "comments"), {"text": ""}, format="json"), "text")
    _json_400(apis("editor").post(url(post, "comments"), {"text": "Hi", "parent": "²"}, format="json"), "parent")
    _json_400(apis("editor").post(url(post, "comments"), {"text": "Hi", "parent": 999999}, format="json"), "parent")
    assert Post.objects.get(pk=post.pk).status == PostStatus.IN_REVIEW


# ---------------------------------------------------------------------------------- list and paging
def test_list_filters_by_status_department_and_channel(personas, apis, chan, chan2):
    draft = make_post(personas.a, [chan])
    in_review = make_post(personas.a, [chan2])
    apis("editor").post(url(in_review, "submit"))
    cs = make_post(personas.a, [make_channel(personas.a, "Customer Services")], author_role="admin",
                   department="Customer Services")
    admin = apis("admin")

    assert ids(admin.get(LIST, {"status": "in_review"})) == [in_review.pk]
    assert sorted(ids(admin.get(LIST, {"status": "draft,in_review"}))) == sorted([draft.pk, in_review.pk, cs.pk])
    assert ids(admin.get(LIST, {"department": personas.a.departments["Customer Services"].pk})) == [cs.pk]
    assert ids(admin.get(LIST, {"channel": chan.pk})) == [draft.pk]
    assert sorted(ids(admin.get(f"{LIST}?channel={chan.pk}&channel={chan2.pk}"))) == sorted([draft.pk, in_review.pk])


def test_list_is_newest_change_first(personas, apis, chan):
    first, second = make_post(personas.a, [chan]), make_post(personas.a, [chan])
    assert ids(apis("editor").get(LIST)) == [second.pk, first.pk]

    apis("editor").patch(url(first), {"body": "Changed"}, format="json")

    assert ids(apis("editor").get(LIST)) == [first.pk, second.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "sent"}, "status"),
        ({"department": "²"}, "department"),
        ({"department": "abc"}, "department"),
        ({"channel": "99999999999999999999999"}, "channel"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "x"}, "page_size"),
    ],
)
def test_bad_list_parameters_are_400(apis, params, field):
    _json_400(apis("admin").get(LIST, params), field)


def test_walking_next_links_lists_every_post_once(personas, apis, chan):
    made = [make_post(personas.a, [chan], title=f"Post {i}") for i in range(7)]
    seen, next_url = [], f"{LIST}?page_size=3&status=draft"

    while next_url:
        page = apis("editor").get(next_url).json()
        seen += [row["id"] for row in page["results"]]
        next_url = page["next"]
        if next_url:
            assert parse_qs(urlsplit(next_url).query)["status"] == ["draft"]

    assert seen == [p.pk for p in reversed(made)]


def test_list_row_shape(personas, apis, chan):
    post = make_post(personas.a, [chan])

    row = apis("viewer").get(LIST).json()["results"][0]

    assert row["id"] == post.pk and row["status"] == "draft" and row["status_label"] == "Draft"
    assert row["department"] == {"id": personas.a.departments["Communications"].pk, "name": "Communications"}
    assert row["author"]["email"] == "editor@alpha.example"
    assert row["revision"] == 1
    assert row["channels"] == [{"id": chan.pk, "platform": "mastodon", "handle": chan.handle,
                                "display_name": chan.display_name}]


# ---------------------------------------------------------------------------------------- revisions
def test_revisions_are_newest_first_with_number_hash_author_and_content(personas, apis, chan):
    post = make_post(personas.a, [chan], notes="first")
    apis("admin").patch(url(post), {"body": "Second version", "notes": "second"}, format="json")

    rows = apis("viewer").get(url(post, "revisions")).json()["results"]

    assert [r["number"] for r in rows] == [2, 1]
    assert rows[0]["author"]["email"] == "admin@alpha.example"
    assert rows[1]["author"]["email"] == "editor@alpha.example"
    assert rows[0]["content"]["body"] == "Second version" and rows[0]["content"]["notes"] == "second"
    assert rows[1]["content"]["body"] == "Bins are collected on Monday."
    assert rows[0]["hash"] != rows[1]["hash"] and len(rows[0]["hash"]) == 64
    assert rows[0]["created_at"]


# ----------------------------------------------------------------------------------------- comments
def test_comments_are_threaded_with_the_revision_they_were_made_on(personas, apis, chan):
    post = make_post(personas.a, [chan])
    first = apis("viewer").post(url(post, "comments"), {"text": "Is Monday right? @approver"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["mentions"][0]["email"] == "approver@alpha.example"
    reply = apis("editor").post(url(post, "comments"), {"text": "Yes", "parent": first.json()["id"]}, format="json")
    assert (reply.json()["depth"], reply.json()["parent"]) == (1, first.json()["id"])
    apis("editor").patch(url(post), {"body": "Bins are collected on Tuesday."}, format="json")
    second = apis("approver").post(url(post, "comments"), {"text": "Better"}, format="json").json()
    deeper = apis("viewer").post(url(post, "comments"), {"text": "Thanks", "parent": reply.json()["id"]},
                                 format="json").json()

    rows = apis("viewer").get(url(post, "comments")).json()["results"]

    assert [(r["id"], r["depth"], r["revision"]) for r in rows] == [
        (first.json()["id"], 0, 1), (reply.json()["id"], 1, 1), (deeper["id"], 2, 2), (second["id"], 0, 2),
    ]
    assert Notification.objects.filter(user=personas.a.user("approver"), link=f"/posts/{post.pk}/").exists()
    assert events(post, EventType.POST_COMMENTED)


def test_comment_threads_page_by_their_first_comment(personas, apis, chan):
    post = make_post(personas.a, [chan])
    roots = [apis("editor").post(url(post, "comments"), {"text": f"Thread {i}"}, format="json").json()
             for i in range(3)]
    apis("viewer").post(url(post, "comments"), {"text": "Reply", "parent": roots[0]["id"]}, format="json")

    page = apis("editor").get(url(post, "comments"), {"page_size": 2}).json()
    rest = apis("editor").get(page["next"]).json()

    assert [r["text"] for r in page["results"]] == ["Thread 0", "Reply", "Thread 1"]
    assert [r["text"] for r in rest["results"]] == ["Thread 2"] and rest["next"] is None


def test_replying_to_another_posts_comment_is_400(personas, apis, chan):
    post, other = make_post(personas.a, [chan]), make_post(personas.a, [chan])
    theirs = apis("editor").post(url(other, "comments"), {"text": "Here"}, format="json").json()

    _json_400(apis("editor").post(url(post, "comments"), {"text": "Hi", "parent": theirs["id"]}, format="json"),
              "parent")


# -------------------------------------------------------------------------------------------- images
def _image(kind: str) -> bytes:
    return {
        "png": PNG,
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64,
        "gif": b"GIF89a\x20\x00\x10\x00" + b"\x00" * 64,
        "webp": b"RIFF\x40\x00\x00\x00WEBPVP8 " + b"\x00" * 64,
    }[kind]


@pytest.mark.parametrize(("kind", "mime"), [("png", "image/png"), ("jpeg", "image/jpeg"), ("gif", "image/gif"),
                                            ("webp", "image/webp")])
def test_upload_an_image_with_alt_text_joins_the_post_in_a_new_revision(personas, apis, chan, kind, mime):
    post = make_post(personas.a, [chan])

    response = apis("editor").post(
        url(post, "media"),
        # The client's name and content type are ignored: the bytes say what it is.
        {"file": SimpleUploadedFile(f"../../photo.{kind}", _image(kind), content_type="text/plain"),
         "alt_text": "A  green bin at the kerb"},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["mime_type"], body["alt_text"], body["revision"], body["status"]) == (
        mime, "A green bin at the kerb", 2, "draft")
    assert "/" not in body["filename"]
    assert PostMedia.objects.get(pk=body["id"]).content.tobytes() == _image(kind)
    media = apis("editor").get(url(post)).json()["current_revision"]["content"]["media"]
    assert [(m["id"], m["alt_text"]) for m in media] == [(body["id"], "A green bin at the kerb")]
    if kind == "png":
        assert (body["width"], body["height"]) == (640, 480)


def test_uploading_to_a_post_in_review_puts_it_back_in_review_with_approvals_cleared(personas, apis, chan):
    ApprovalPolicy.objects.create(
        organisation=personas.a.organisation, department=personas.a.departments["Communications"], approvals_required=2
    )
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    apis("approver").post(url(post, "approve"), {}, format="json")

    apis("editor").post(url(post, "media"), {"file": SimpleUploadedFile("a.png", PNG), "alt_text": "Bin"},
                        format="multipart")

    body = apis("editor").get(url(post)).json()
    assert (body["status"], body["approvals"]["count"], body["current_revision"]["number"]) == ("in_review", 0, 2)


@pytest.mark.parametrize(
    "content",
    [b"<script>alert(1)</script>", b"%PDF-1.4 not an image", b"\x89PN", b"\x00" * (5 * 1024 * 1024 + 1)],
)
def test_a_file_that_is_not_an_image_or_too_big_is_400(personas, apis, chan, content):
    post = make_post(personas.a, [chan])

    response = apis("editor").post(url(post, "media"), {"file": SimpleUploadedFile("evil.png", content)},
                                   format="multipart")

    _json_400(response, "file")
    assert not PostMedia.objects.exists()
    assert Post.objects.get(pk=post.pk).current_revision.number == 1


def test_an_image_just_under_five_megabytes_is_taken(personas, apis, chan):
    post = make_post(personas.a, [chan])
    content = PNG + b"\x00" * (5 * 1024 * 1024 - len(PNG))

    response = apis("editor").post(url(post, "media"), {"file": SimpleUploadedFile("big.png", content)},
                                   format="multipart")

    assert response.status_code == 201, response.content


def test_upload_without_a_file_or_as_json_is_a_clear_error(personas, apis, chan):
    post = make_post(personas.a, [chan])

    _json_400(apis("editor").post(url(post, "media"), {"alt_text": "x"}, format="multipart"), "file")
    assert apis("editor").post(url(post, "media"), {"file": "x"}, format="json").status_code == 415


def test_upload_to_a_cancelled_post_is_409(personas, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "cancel"))

    response = apis("editor").post(url(post, "media"), {"file": SimpleUploadedFile("a.png", PNG)}, format="multipart")

    assert response.status_code == 409
    assert not PostMedia.objects.exists()


def test_media_uploaded_then_referenced_by_patch_with_alt_text(personas, apis, chan):
    post = make_post(personas.a, [chan])
    uploaded = apis("editor").post(url(post, "media"), {"file": SimpleUploadedFile("a.png", PNG)},
                                   format="multipart").json()

    body = apis("editor").patch(url(post), {"media": [{"id": uploaded["id"], "alt_text": "Bins in a row"}]},
                                format="json").json()

    assert body["current_revision"]["content"]["media"][0]["alt_text"] == "Bins in a row"
    assert body["current_revision"]["number"] == 3


# ------------------------------------------------------------------------------------------ calendar
def test_calendar_feed_lists_scheduled_posts_in_range_and_pauses(personas, api_for, apis, chan):
    post = make_post(personas.a, [chan])
    apis("editor").post(url(post, "submit"))
    when = timezone.now() + timedelta(days=2)
    apis("approver").post(url(post, "approve"), {"scheduled_at": when.isoformat()}, format="json")
    PublishingPause.objects.create(organisation=personas.a.organisation, reason="Election")
    start = timezone.now().date().isoformat()
    end = (timezone.now() + timedelta(days=10)).date().isoformat()

    body = apis("viewer").get(CALENDAR, {"start": start, "end": end}).json()

    assert [e["id"] for e in body["events"]] == [post.pk]
    assert body["events"][0]["status"] == "scheduled"
    assert [p["reason"] for p in body["pauses"]] == ["Election"]
    assert body["timezone"] == personas.a.organisation.timezone
    assert api_for(personas.outsider).get(CALENDAR, {"start": start, "end": end}).json()["events"] == []
    assert apis("viewer").get(CALENDAR, {"start": end, "end": (timezone.now() + timedelta(days=20)).date().isoformat()}
                              ).json()["events"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2025-01-01", "end": "2025-06-01"}, "end"),
        ({"start": "2025-02-01", "end": "2025-01-01"}, "end"),
        ({"start": "2025-13-01", "end": "2025-12-01"}, "start"),
        ({"start": "²", "end": "2025-01-01"}, "start"),
        ({"end": "2025-01-01"}, "start"),
        ({"start": "2025-01-01", "end": "2025-01-31", "department": "²"}, "department"),
    ],
)
def test_bad_calendar_parameters_are_400(apis, params, field):
    _json_400(apis("admin").get(CALENDAR, params), field)


# -------------------------------------------------------------------------------------- query counts
def _many_posts(personas, apis, n: int, channels) -> list[Post]:
    made = []
    for i in range(n):
        post = make_post(personas.a, channels[: 1 + i % len(channels)], author_role="admin" if i % 2 else "editor",
                         title=f"Post {i}")
        if i % 3 == 0:
            apis("editor" if i % 2 == 0 else "admin").post(url(post, "submit"))
        made.append(post)
    return made


# Token and membership (2), the member's departments (1), then the endpoint's own. List: the page (posts with
# department, author and current revision joined) and the channels of the page's revisions. Detail: the post
# (joined as the list, plus the revision's author) with its targets, the current revision's decisions, the
# policy and channel rules (approvals needed), the policy again and the approvers (may the caller approve?
# approvals.services.approvers_for), the pause, the channels.
LIST_QUERIES = 5
DETAIL_QUERIES = 12


@pytest.mark.parametrize("n", [5, 40])
def test_list_queries_do_not_grow_with_posts(personas, apis, django_assert_max_num_queries, n):
    channels = [make_channel(personas.a, "Communications", platform=p) for p in ("x", "mastodon", "bluesky")]
    _many_posts(personas, apis, n, channels)
    api = apis("viewer")
    api.get(LIST)  # the token's last-used touch happens once

    with django_assert_max_num_queries(LIST_QUERIES):
        response = api.get(LIST, {"page_size": 200})

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [5, 40])
def test_detail_queries_do_not_grow(personas, apis, django_assert_max_num_queries, n):
    channels = [make_channel(personas.a, "Communications", platform="mastodon") for _ in range(2 + n // 10)]
    _many_posts(personas, apis, n, channels)
    ApprovalPolicy.objects.create(
        organisation=personas.a.organisation, department=personas.a.departments["Communications"], approvals_required=2
    )
    post = make_post(personas.a, channels)
    apis("editor").post(url(post, "submit"))
    apis("admin").post(url(post, "approve"), {}, format="json")
    for i in range(n // 5):
        apis("viewer").post(url(post, "comments"), {"text": f"Comment {i}"}, format="json")
    api = apis("approver")
    api.get(url(post))

    with django_assert_max_num_queries(DETAIL_QUERIES):
        body = api.get(url(post)).json()

    assert body["approvals"]["count"] == 1 and "approve" in body["allowed_actions"]
    assert len(body["channels"]) == len(channels) and len(body["targets"]) == 0


# -------------------------------------------------------------------------------------------- schema
def test_schema_documents_the_posts_endpoints(db, client):
    document = yaml.safe_load(client.get("/api/schema/").content)

    paths = document["paths"]
    for path, methods in {
        "/api/v1/posts/": {"get", "post"},
        "/api/v1/posts/{id}/": {"get", "patch"},
        "/api/v1/posts/{id}/revisions/": {"get"},
        "/api/v1/posts/{id}/submit/": {"post"},
        "/api/v1/posts/{id}/approve/": {"post"},
        "/api/v1/posts/{id}/request-changes/": {"post"},
        "/api/v1/posts/{id}/withdraw/": {"post"},
        "/api/v1/posts/{id}/schedule/": {"post"},
        "/api/v1/posts/{id}/cancel/": {"post"},
        "/api/v1/posts/{id}/break-glass/": {"post"},
        "/api/v1/posts/{id}/comments/": {"get", "post"},
        "/api/v1/posts/{id}/media/": {"post"},
        "/api/v1/posts/calendar/": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "multipart/form-data" in paths["/api/v1/posts/{id}/media/"]["post"]["requestBody"]["content"]
    assert {"409", "403", "404"} <= set(paths["/api/v1/posts/{id}/approve/"]["post"]["responses"])
    names = {p["name"] for p in paths["/api/v1/posts/"]["get"]["parameters"]}
    assert {"status", "department", "channel", "cursor", "page_size"} <= names
