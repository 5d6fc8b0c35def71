"""The post page and its actions through the views: who may do what, separation of duties, two approvers,
edits clearing approvals, threaded comments with mentions, the late-approval choice, break glass, and
per-channel publishing status."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from approvals import services
from approvals.models import (
    ApprovalPolicy,
    ChannelApprovalRule,
    Comment,
    Post,
    PostMedia,
    PostStatus,
    PublishTarget,
    TargetState,
)
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db


def _url(name: str, post: Post) -> str:
    return reverse(f"approvals:{name}", kwargs={"pk": post.pk})


def _page(client, post: Post) -> str:
    response = client.get(_url("post_detail", post))
    assert response.status_code == 200
    return response.content.decode()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _follow(client, url: str, data: dict | None = None):
    response = client.post(url, data or {}, follow=True)
    assert response.status_code == 200, response.status_code
    return response


@pytest.fixture
def channel(personas):
    return make_channel(personas.a, department="Communications", platform="mastodon")


@pytest.fixture
def submitted(personas, channel) -> Post:
    post = make_post(personas.a, [channel])
    services.post_submit(actor=personas.a.members["editor"], post_id=post.pk)
    return post


def _status(post: Post) -> str:
    post.refresh_from_db()
    return post.status


# ------------------------------------------------------------------------------------------- actions
def test_editor_submits_and_the_page_says_who_wrote_it_and_where_it_goes(personas, login, channel):
    a = personas.a
    post = make_post(a, [channel], body="Bins are collected on Monday.")
    client = login(a.members["editor"])
    page = _page(client, post)
    assert "Submit for approval" in page and "Bins are collected on Monday." in page
    assert str(channel) in page and "As soon as approved" in page and "Communications" in page
    response = _follow(client, _url("post_submit", post))
    assert _status(post) == PostStatus.IN_REVIEW
    assert any("Submitted for approval" in m for m in _messages(response))
    assert Notification.objects.filter(user=a.user("approver"), link=f"/posts/{post.pk}/").exists()
    # Submitting twice is a message, not an error page.
    response = _follow(client, _url("post_submit", post))
    assert any("not possible" in m for m in _messages(response))


def test_submission_refused_by_content_checks_is_a_message(personas, login, channel):
    from approvals.models import BlockedWord

    a = personas.a
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    post = make_post(a, [channel], body="Results guaranteed")
    response = _follow(login(a.members["editor"]), _url("post_submit", post))
    assert any("guaranteed" in m for m in _messages(response))
    assert _status(post) == PostStatus.DRAFT


def test_approver_sees_the_decision_buttons_and_approves(personas, login, submitted):
    a = personas.a
    client = login(a.members["approver"])
    page = _page(client, submitted)
    assert "Approve revision 1" in page and "Request changes" in page
    assert "0 of 1 approval" in page
    response = _follow(client, _url("post_approve", submitted), {"comment": "Looks right"})
    assert any("Approved and scheduled" in m for m in _messages(response))
    assert _status(submitted) == PostStatus.SCHEDULED
    page = response.content.decode()
    assert "1 of 1 approval" in page and "Approved by" in page and "Looks right" in page
    assert submitted.current_revision.content_hash[:12] in page
    event = AuditEvent.objects.get(event_type=EventType.POST_APPROVED, target_id=str(submitted.pk))
    assert event.changes["hash"] == submitted.current_revision.content_hash


def test_editor_sees_no_decision_buttons(personas, login, submitted):
    page = _page(login(personas.a.members["editor"]), submitted)
    assert "Approve revision" not in page and "Request changes" not in page
    assert "Withdraw to draft" in page and "Cancel this post" in page


def test_request_changes_needs_a_comment_and_tells_the_author(personas, login, submitted):
    a = personas.a
    client = login(a.members["approver"])
    response = _follow(client, _url("post_request_changes", submitted), {"comment": "   "})
    assert any("Say what needs to change" in m for m in _messages(response))
    assert _status(submitted) == PostStatus.IN_REVIEW
    response = _follow(client, _url("post_request_changes", submitted), {"comment": "Say which Monday."})
    assert _status(submitted) == PostStatus.CHANGES_REQUESTED
    page = response.content.decode()
    assert "Say which Monday." in page and "On revision 1" in page
    assert Notification.objects.filter(user=a.user("editor"), text__contains="asked for changes").exists()


def test_editor_withdraws_then_cancels(personas, login, submitted):
    client = login(personas.a.members["editor"])
    _follow(client, _url("post_withdraw", submitted))
    assert _status(submitted) == PostStatus.DRAFT
    assert AuditEvent.objects.filter(event_type=EventType.POST_WITHDRAWN, target_id=str(submitted.pk)).exists()
    _follow(client, _url("post_cancel", submitted))
    assert _status(submitted) == PostStatus.CANCELLED
    page = _page(client, submitted)
    assert "There is nothing your role can do" in page


def test_admin_who_wrote_the_post_cannot_approve_it(personas, login, channel):
    a = personas.a
    post = make_post(a, [channel], author_role="admin")
    services.post_submit(actor=a.members["admin"], post_id=post.pk)
    client = login(a.members["admin"])
    page = _page(client, post)
    assert "Approve revision" not in page and "Request changes" not in page
    assert client.post(_url("post_approve", post)).status_code == 403
    assert client.post(_url("post_request_changes", post), {"comment": "Mine"}).status_code == 403
    assert _status(post) == PostStatus.IN_REVIEW
    # Someone else may.
    _follow(login(a.members["approver"]), _url("post_approve", post))
    assert _status(post) == PostStatus.SCHEDULED


@pytest.mark.parametrize("role", ["agent", "viewer"])
def test_agent_and_viewer_cannot_act_on_posts(personas, login, submitted, role):
    member = personas.a.members[role]
    member.departments.add(personas.a.departments["Communications"])
    client = login(member)
    assert client.get(_url("post_detail", submitted)).status_code == 200
    for name, data in [("post_submit", {}), ("post_approve", {}), ("post_request_changes", {"comment": "No"}),
                       ("post_withdraw", {}), ("post_cancel", {}), ("post_schedule", {"publish_now": "1"}),
                       ("post_break_glass", {"reason": "An emergency right now"})]:
        assert client.post(_url(name, submitted), data).status_code == 403, name
    assert _status(submitted) == PostStatus.IN_REVIEW


def test_agent_of_another_department_and_outsider_get_404(personas, login, submitted):
    agent = login(personas.a.members["agent"])
    assert agent.get(_url("post_detail", submitted)).status_code == 404
    outsider = login(personas.outsider)
    assert outsider.get(_url("post_detail", submitted)).status_code == 404
    assert outsider.post(_url("post_approve", submitted)).status_code == 404
    assert outsider.post(_url("post_comment", submitted), {"text": "hello"}).status_code == 404
    assert not Comment.objects.filter(post=submitted).exists()


# ---------------------------------------------------------------------------------- two approvers
def test_two_approver_policy_needs_two_different_people(personas, login, channel):
    a = personas.a
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approvals_required=2)
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    approver = login(a.members["approver"])
    response = _follow(approver, _url("post_approve", post))
    assert any("1 of 2" in m for m in _messages(response))
    assert _status(post) == PostStatus.IN_REVIEW
    page = response.content.decode()
    assert "1 of 2 approvals" in page and "Approve revision" not in page
    # The same person again is refused with a message, and still counts once.
    response = _follow(approver, _url("post_approve", post))
    assert any("already approved" in m for m in _messages(response))
    _follow(login(a.members["admin"]), _url("post_approve", post))
    assert _status(post) == PostStatus.SCHEDULED


def test_channel_rule_raises_the_number_of_approvals(personas, login, channel):
    a = personas.a
    ChannelApprovalRule.objects.create(organisation=a.organisation, channel=channel, approvals_required=2)
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    _follow(login(a.members["approver"]), _url("post_approve", post))
    assert _status(post) == PostStatus.IN_REVIEW
    assert "1 of 2 approvals" in _page(login(a.members["editor"]), post)


def test_edit_after_approval_clears_the_approvals(personas, login, channel):
    a = personas.a
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approvals_required=2)
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    _follow(login(a.members["approver"]), _url("post_approve", post))
    services.post_update(actor=a.members["editor"], post_id=post.pk,
                         draft=services.Draft(title="Bin collections", body="Bins go on Tuesday.",
                                              channel_ids=[channel.pk]))
    page = _page(login(a.members["approver"]), post)
    assert "0 of 2 approvals" in page and "for revision 2" in page
    assert "cleared by a later edit" in page
    # The approver may approve the new revision.
    assert "Approve revision 2" in page


# -------------------------------------------------------------------------------------------- comments
def test_comments_are_threaded_by_revision_and_mentions_notify(personas, login, channel):
    a = personas.a
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    editor = login(a.members["editor"])
    _follow(editor, _url("post_comment", post), {"text": "@approver can you check the date?"})
    first = Comment.objects.get(post=post)
    assert list(first.mentions.all()) == [a.user("approver")]
    assert Notification.objects.filter(user=a.user("approver"), text__contains="mentioned you").exists()
    approver = login(a.members["approver"])
    _follow(approver, _url("post_comment", post), {"text": "Monday is right.", "parent": str(first.pk)})
    reply = Comment.objects.get(post=post, parent=first)
    services.post_update(actor=a.members["editor"], post_id=post.pk,
                         draft=services.Draft(title="Bin collections", body="Bins go on Monday 3 June.",
                                              channel_ids=[channel.pk]))
    _follow(approver, _url("post_comment", post), {"text": "Better."})
    page = _page(approver, post)
    # Newest revision first; the thread begun on revision 1 stays beside revision 1, its reply nested in it.
    order = [page.index(marker) for marker in (
        "On revision 2 (the current one)", "Better.", "On revision 1", f'id="comment-{first.pk}"',
        "comment-list--replies", f'id="comment-{reply.pk}"', "Monday is right.",
    )]
    assert order == sorted(order)
    assert '<span class="mention">@approver</span>' in page


def test_bad_comments_are_refused_with_a_message(personas, login, submitted):
    client = login(personas.a.members["editor"])
    response = client.post(_url("post_comment", submitted), {"text": "  "})
    assert response.status_code == 400 and "Write the comment first" in response.content.decode()
    for parent in ["²", "abc", "999999999"]:
        response = _follow(client, _url("post_comment", submitted), {"text": "Hello", "parent": parent})
        assert any("Reply to a comment on this post" in m for m in _messages(response)), parent
    assert not Comment.objects.filter(post=submitted).exists()


# ------------------------------------------------------------------------------------ the time passed
def _submitted_with_time(personas, channel, when: datetime) -> Post:
    a = personas.a
    post = make_post(a, [channel])
    services.post_update(actor=a.members["editor"], post_id=post.pk, scheduled_at=when,
                         draft=services.Draft(title="Bin collections", body="Bins are collected on Monday.",
                                              channel_ids=[channel.pk]))
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    return post


def _time_passes(post: Post) -> None:
    # The clock: the post's time is now in the past, as if review took too long.
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(minutes=30))


def test_approval_after_the_time_passed_waits_for_publish_now(personas, login, channel):
    a = personas.a
    post = _submitted_with_time(personas, channel, timezone.now() + timedelta(hours=1))
    _time_passes(post)
    approver = login(a.members["approver"])
    page = _page(approver, post)
    assert "the time has passed" in page
    response = _follow(approver, _url("post_approve", post))
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED and post.needs_new_time
    assert not PublishTarget.objects.filter(post=post).exists()
    page = response.content.decode()
    assert "Its scheduled time passed while it was in review" in page
    assert 'name="publish_now"' in page and 'id="choice-time"' in page
    # The author sees the situation but cannot choose for the approver.
    editor_page = _page(login(a.members["editor"], Client()), post)
    assert 'id="needs-new-time"' not in editor_page
    before = timezone.now()
    _follow(approver, _url("post_schedule", post), {"publish_now": "1"})
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and not post.needs_new_time
    assert before <= post.scheduled_at <= timezone.now()
    assert PublishTarget.objects.filter(post=post, channel=channel, state=TargetState.PENDING).exists()


def test_approval_after_the_time_passed_takes_a_new_time_in_the_organisations_zone(personas, login, channel):
    a = personas.a
    a.organisation.timezone = "America/New_York"
    a.organisation.save(update_fields=["timezone"])
    post = _submitted_with_time(personas, channel, timezone.now() + timedelta(hours=1))
    _time_passes(post)
    approver = login(a.members["approver"])
    _follow(approver, _url("post_approve", post))
    year = timezone.now().year + 1
    # Unreadable and past times are refused with a message; the post keeps waiting.
    for bad in ["", "next tuesday", "２０３０-01-01T09:00", f"{year - 3}-01-01T09:00"]:
        response = _follow(approver, _url("post_schedule", post), {"scheduled_at": bad})
        assert _messages(response), bad
        post.refresh_from_db()
        assert post.status == PostStatus.APPROVED and post.needs_new_time, bad
    _follow(approver, _url("post_schedule", post), {"scheduled_at": f"{year}-07-01T09:30"})
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    # 09:30 in New York in July is 13:30 UTC.
    assert post.scheduled_at == datetime(year, 7, 1, 13, 30, tzinfo=UTC)
    page = _page(approver, post)
    assert "1 Jul " in page and "09:30" in page and "America/New_York" in page


@pytest.mark.parametrize(("zone", "typed"), [
    # Behind UTC: the last evening of year 9999 in New York would be stored as year 10000, which nothing reads back.
    ("America/New_York", "9999-12-31T23:59"),
    # Ahead of UTC: midnight on 1 January of year 1 in Berlin is before year 1 in UTC.
    ("Europe/Berlin", "0001-01-01T00:00"),
    ("Europe/Berlin", "_six_years"),
])
def test_a_new_time_outside_the_next_five_years_is_refused_and_the_pages_keep_working(personas, login, channel,
                                                                                       zone, typed):
    a = personas.a
    a.organisation.timezone = zone
    a.organisation.save(update_fields=["timezone"])
    post = _submitted_with_time(personas, channel, timezone.now() + timedelta(hours=1))
    _time_passes(post)
    approver = login(a.members["approver"])
    _follow(approver, _url("post_approve", post))
    post.refresh_from_db()
    stored = post.scheduled_at
    if typed == "_six_years":
        typed = f"{timezone.now().year + 6}-06-01T09:30"
    response = _follow(approver, _url("post_schedule", post), {"scheduled_at": typed})
    assert any("Choose a date within the next five years." in m for m in _messages(response)), _messages(response)
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED and post.needs_new_time and post.scheduled_at == stored
    assert not PublishTarget.objects.filter(post=post).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.POST_SCHEDULED, target_id=str(post.pk)).exists()
    assert _page(approver, post)
    assert approver.get(reverse("approvals:post_list")).status_code == 200


# ----------------------------------------------------------------------------------------- break glass
def test_break_glass_needs_a_reason_is_audited_and_tells_the_approvers(personas, login, submitted):
    a = personas.a
    assert login(a.members["approver"]).post(_url("post_break_glass", submitted),
                                             {"reason": "A flood warning now"}).status_code == 403
    admin = login(a.members["admin"])
    assert "Emergency: publish without approval" in _page(admin, submitted)
    response = _follow(admin, _url("post_break_glass", submitted), {"reason": "now"})
    assert any("at least 10 characters" in m for m in _messages(response))
    assert _status(submitted) == PostStatus.IN_REVIEW
    assert not AuditEvent.objects.filter(event_type=EventType.POST_BREAK_GLASS).exists()
    reason = "Flood warning for the river area: must go out now"
    response = _follow(admin, _url("post_break_glass", submitted), {"reason": reason})
    assert _status(submitted) == PostStatus.SCHEDULED
    event = AuditEvent.objects.get(event_type=EventType.POST_BREAK_GLASS, target_id=str(submitted.pk))
    assert event.changes["reason"] == reason and event.actor == a.user("admin")
    assert Notification.objects.filter(user=a.user("approver"), text__contains="without approval").exists()
    page = response.content.decode()
    assert 'id="break-glass-banner"' in page and reason in page and str(a.user("admin")) in page


# -------------------------------------------------------------------------------------- publishing status
def test_page_shows_each_channels_publishing_state_with_links_and_reasons(personas, login, channel):
    a = personas.a
    second = make_channel(a, department="Communications", platform="x")
    post = make_post(a, [channel, second])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    # What the publisher leaves behind: one channel sent, the other failed with the platform's reason.
    PublishTarget.objects.filter(post=post, channel=channel).update(
        state=TargetState.SENT, platform_id="111", platform_url="https://social.example/@alpha/111",
        published_at=timezone.now())
    PublishTarget.objects.filter(post=post, channel=second).update(
        state=TargetState.FAILED, last_error="Status is a duplicate.")
    Post.objects.filter(pk=post.pk).update(status=PostStatus.PARTLY_PUBLISHED)
    page = _page(login(a.members["viewer"]), post)
    assert 'href="https://social.example/@alpha/111"' in page and "Published" in page
    assert "said: Status is a duplicate." in page and "Partly published" in page


def test_images_show_with_their_alt_text(personas, login, channel):
    a = personas.a
    post = make_post(a, [channel])
    content = b"\x89PNG\r\n\x1a\n not really"
    media = PostMedia.objects.create(organisation=a.organisation, post=post, content=content, mime_type="image/png",
                                     sha256=hashlib.sha256(content).hexdigest())
    services.post_update(actor=a.members["editor"], post_id=post.pk, draft=services.Draft(
        title="Bin collections", body="New bins", channel_ids=[channel.pk],
        media=[{"id": media.pk, "alt_text": "A green wheelie bin"}]))
    page = _page(login(a.members["editor"]), post)
    assert f'src="/posts/media/{media.pk}/"' in page and 'alt="A green wheelie bin"' in page


def test_pause_banner_shows_on_the_post_page(personas, login, submitted):
    a = personas.a
    services.pause_start(actor=a.members["manager"], reason="Pre-election period",
                         department=a.departments["Communications"])
    page = _page(login(a.members["editor"]), submitted)
    assert 'id="pause-banner"' in page and "Pre-election period" in page


def test_page_queries_do_not_grow_with_comments_decisions_or_channels(personas, login, channel):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a = personas.a
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.comment_add(actor=a.members["editor"], post_id=post.pk, text="@approver first")
    client = login(a.members["approver"])
    client.get(_url("post_detail", post))  # warm the session and the organisation's caches
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url("post_detail", post)).status_code == 200
    second = make_channel(a, department="Communications", platform="x")
    services.post_update(actor=a.members["editor"], post_id=post.pk, draft=services.Draft(
        title="Bin collections", body="Bins go on Monday.", channel_ids=[channel.pk, second.pk]))
    parent = Comment.objects.filter(post=post).first()
    for n in range(6):
        services.comment_add(actor=a.members["approver"], post_id=post.pk, text=f"@editor reply {n}",
                             parent_id=parent.pk if n % 2 else None)
    services.post_request_changes(actor=a.members["approver"], post_id=post.pk, comment="Again")
    with CaptureQueriesContext(connection) as large:
        assert client.get(_url("post_detail", post)).status_code == 200
    assert len(large) <= len(small), [q["sql"] for q in large.captured_queries]
