"""The approval queue: what each approver is shown, and bulk approve through the view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals import services
from approvals.models import ApprovalPolicy, Post, PostStatus
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

QUEUE = reverse("approvals:queue")
APPROVE = reverse("approvals:queue_approve")


@pytest.fixture
def channel(personas):
    return make_channel(personas.a, department="Communications", platform="mastodon")


def _submitted(personas, channels, *, title: str, author_role: str = "editor", department: str = "Communications"):
    post = make_post(personas.a, channels, title=title, author_role=author_role, department=department)
    services.post_submit(actor=personas.a.members[author_role], post_id=post.pk)
    return post


def _status(post: Post) -> str:
    post.refresh_from_db()
    return post.status


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_queue_lists_posts_in_review_oldest_first_with_channels_and_approvals(personas, login, channel):
    a = personas.a
    draft = make_post(a, [channel], title="Still a draft")
    first = _submitted(personas, [channel], title="Older post")
    second = _submitted(personas, [channel], title="Newer post")
    Post.objects.filter(pk=first.pk).update(submitted_at=timezone.now() - timedelta(hours=2))
    page = login(a.members["approver"]).get(QUEUE).content.decode()
    assert page.index("Older post") < page.index("Newer post")
    assert draft.title not in page
    assert str(channel) in page and "0 of 1" in page and "As soon as approved" in page
    assert f'value="{second.pk}"' in page


def test_queue_marks_posts_whose_time_has_passed(personas, login, channel):
    post = _submitted(personas, [channel], title="Late post")
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    page = login(personas.a.members["approver"]).get(QUEUE).content.decode()
    assert "Overdue: the time has passed" in page


def test_queue_leaves_out_own_posts_and_posts_already_approved_by_me(personas, login, channel):
    a = personas.a
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approvals_required=2)
    _submitted(personas, [channel], title="Written by the admin", author_role="admin")
    shared = _submitted(personas, [channel], title="Needs two")
    services.post_approve(actor=a.members["approver"], post_id=shared.pk)
    approver_page = login(a.members["approver"]).get(QUEUE).content.decode()
    assert "Written by the admin" in approver_page and "Needs two" not in approver_page
    admin_page = login(a.members["admin"], Client()).get(QUEUE).content.decode()
    assert "Written by the admin" not in admin_page
    assert "Needs two" in admin_page and "1 of 2" in admin_page


def test_queue_keeps_to_the_approvers_departments_and_policy(personas, login, channel):
    a = personas.a
    other = make_channel(a, department="Customer Services", platform="mastodon")
    a.members["admin"].departments.add(a.departments["Customer Services"])
    _submitted(personas, [other], title="Customer services post", author_role="admin", department="Customer Services")
    page = login(a.members["approver"]).get(QUEUE).content.decode()
    assert "Customer services post" not in page
    # A policy that names only admins as approvers takes the department off an approver's queue.
    _submitted(personas, [channel], title="Comms post")
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approver_roles=["admin"])
    page = login(a.members["approver"]).get(QUEUE).content.decode()
    assert "Comms post" not in page and "Nothing is waiting for your approval" in page


@pytest.mark.parametrize("role", ["editor", "manager", "agent", "viewer"])
def test_only_approvers_and_admins_use_the_queue(personas, login, channel, role):
    post = _submitted(personas, [channel], title="Waiting")
    client = login(personas.a.members[role])
    assert client.get(QUEUE).status_code == 403
    assert client.post(APPROVE, {"post": [post.pk]}).status_code == 403
    assert _status(post) == PostStatus.IN_REVIEW


def test_bulk_approve_approves_each_and_reports_the_failures(personas, login, channel):
    a = personas.a
    one = _submitted(personas, [channel], title="First")
    two = _submitted(personas, [channel], title="Second")
    gone = _submitted(personas, [channel], title="Withdrawn meanwhile")
    services.post_withdraw(actor=a.members["editor"], post_id=gone.pk)
    foreign_channel = make_channel(personas.b, department="Digital Desk", platform="mastodon")
    foreign = services.post_create(actor=personas.outsider, department=personas.b.departments["Digital Desk"],
                                   draft=services.Draft(title="Bravo post", body="Hello", channel_ids=[foreign_channel.pk]))
    services.post_submit(actor=personas.outsider, post_id=foreign.pk)
    response = login(a.members["approver"]).post(
        APPROVE, {"post": [str(one.pk), str(two.pk), str(gone.pk), str(foreign.pk), "²", "abc"]}, follow=True)
    assert response.status_code == 200
    text = " ".join(_messages(response))
    assert "Approved 2 posts." in text
    assert "2 could not be approved" in text and "Withdrawn meanwhile" in text and "not possible" in text
    assert f"post {foreign.pk}: not found" in text and "Bravo post" not in text
    assert _status(one) == PostStatus.SCHEDULED and _status(two) == PostStatus.SCHEDULED
    assert _status(foreign) == PostStatus.IN_REVIEW and _status(gone) == PostStatus.DRAFT
    assert AuditEvent.objects.filter(event_type=EventType.POST_APPROVED).count() == 2


def test_bulk_approve_of_own_post_is_refused_but_the_others_go_through(personas, login, channel):
    a = personas.a
    own = _submitted(personas, [channel], title="Admin's own", author_role="admin")
    other = _submitted(personas, [channel], title="Editor's")
    response = login(a.members["admin"]).post(APPROVE, {"post": [own.pk, other.pk]}, follow=True)
    text = " ".join(_messages(response))
    assert "Approved 1 post." in text and "Admin's own" in text and "someone else must approve it" in text
    assert _status(own) == PostStatus.IN_REVIEW and _status(other) == PostStatus.SCHEDULED


def test_bulk_approve_reports_posts_waiting_for_a_second_approver_and_late_ones(personas, login, channel):
    a = personas.a
    second_channel = make_channel(a, department="Communications", platform="x")
    from approvals.models import ChannelApprovalRule

    ChannelApprovalRule.objects.create(organisation=a.organisation, channel=second_channel, approvals_required=2)
    needs_two = _submitted(personas, [second_channel], title="Main account")
    late = _submitted(personas, [channel], title="Late one")
    Post.objects.filter(pk=late.pk).update(scheduled_at=timezone.now() - timedelta(minutes=1))
    response = login(a.members["approver"]).post(APPROVE, {"post": [needs_two.pk, late.pk]}, follow=True)
    text = " ".join(_messages(response))
    assert "Approved 2 posts." in text and "Still waiting for another approver: “Main account”" in text
    assert "need a new time or publish now: “Late one”" in text
    late.refresh_from_db()
    assert late.status == PostStatus.APPROVED and late.needs_new_time
    assert _status(needs_two) == PostStatus.IN_REVIEW


def test_bulk_approve_with_nothing_chosen_says_so(personas, login):
    response = login(personas.a.members["approver"]).post(APPROVE, {}, follow=True)
    assert "Choose at least one post to approve." in " ".join(_messages(response))


def test_queue_shows_a_pause_banner(personas, login, channel):
    a = personas.a
    _submitted(personas, [channel], title="Waiting")
    services.pause_start(actor=a.members["admin"], reason="Major incident")
    page = login(a.members["approver"]).get(QUEUE).content.decode()
    assert "Publishing is paused for the whole organisation: Major incident" in page
    assert "Paused" in page
