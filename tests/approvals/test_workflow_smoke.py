"""The approval path through the services: draft → in review → approved → scheduled, with separation of duties."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from approvals import services
from approvals.models import PostStatus, PublishTarget
from approvals.workflow import TransitionNotAllowed
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db


def test_draft_to_scheduled_by_someone_else(personas):
    a = personas.a
    channel = make_channel(a, department="Communications", platform="mastodon")
    post = make_post(a, [channel])
    assert post.status == PostStatus.DRAFT and post.current_revision.number == 1
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    with pytest.raises(PermissionDenied):
        services.post_approve(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert list(PublishTarget.objects.filter(post=post).values_list("channel_id", flat=True)) == [channel.pk]
    approved = AuditEvent.objects.get(event_type=EventType.POST_APPROVED, target_id=str(post.pk))
    assert approved.changes["hash"] == post.current_revision.content_hash
    with pytest.raises(TransitionNotAllowed):
        services.post_submit(actor=a.members["editor"], post_id=post.pk)


def test_blocked_words_and_alt_text_stop_submission(personas):
    from approvals.models import BlockedWord

    a = personas.a
    channel = make_channel(a, department="Communications", platform="mastodon")
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    post = make_post(a, [channel], body="Results guaranteed by Friday")
    with pytest.raises(ValidationError) as error:
        services.post_submit(actor=a.members["editor"], post_id=post.pk)
    assert "guaranteed" in str(error.value)
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT


def test_an_editor_cannot_move_an_approved_posts_time_without_an_approver(personas):
    from datetime import timedelta

    from django.utils import timezone

    a = personas.a
    channel = make_channel(a, department="Communications", platform="mastodon")
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk, scheduled_at=timezone.now() + timedelta(days=1))
    post.refresh_from_db()
    later = post.scheduled_at + timedelta(days=1)
    revision = post.current_revision
    draft = services.Draft(title=revision.title, body=revision.body, channel_ids=revision.channel_ids)
    with pytest.raises(PermissionDenied):
        services.post_update(actor=a.members["editor"], post_id=post.pk, draft=draft, scheduled_at=later)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and post.scheduled_at == later - timedelta(days=1)
    services.post_schedule(actor=a.members["approver"], post_id=post.pk, scheduled_at=later)
    post.refresh_from_db()
    assert post.scheduled_at == later


def test_editing_a_scheduled_post_takes_it_off_the_publishing_queue(personas):
    a = personas.a
    channel = make_channel(a, department="Communications", platform="mastodon")
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    assert PublishTarget.objects.filter(post=post).count() == 1
    revision = post.current_revision
    draft = services.Draft(title=revision.title, body="Bins are collected on Tuesday.", channel_ids=revision.channel_ids)
    services.post_update(actor=a.members["editor"], post_id=post.pk, draft=draft)
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    assert not PublishTarget.objects.filter(post=post).exists()


def _submitted(a, platform="mastodon"):
    channel = make_channel(a, department="Communications", platform=platform)
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    return post, channel


def test_an_admin_who_rewrote_a_post_cannot_approve_their_own_words(personas):
    a = personas.a
    post, channel = _submitted(a)
    draft = services.Draft(title="Bin collections", body="Bins are collected on Tuesday.", channel_ids=[channel.pk])
    services.post_update(actor=a.members["admin"], post_id=post.pk, draft=draft)
    with pytest.raises(PermissionDenied):
        services.post_approve(actor=a.members["admin"], post_id=post.pk)
    with pytest.raises(PermissionDenied):
        services.post_request_changes(actor=a.members["admin"], post_id=post.pk, comment="Looks wrong")
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    assert a.user("admin") not in services.approvers_for(post)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED


def test_request_changes_and_schedule_follow_the_policys_approver_roles(personas):
    from approvals.models import ApprovalPolicy

    a = personas.a
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approver_roles=["admin"])
    post, _ = _submitted(a)
    with pytest.raises(PermissionDenied):
        services.post_request_changes(actor=a.members["approver"], post_id=post.pk, comment="Shorter please")
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    services.post_approve(actor=a.members["admin"], post_id=post.pk)
    with pytest.raises(PermissionDenied):
        services.post_schedule(actor=a.members["approver"], post_id=post.pk, scheduled_at=None)


def test_changing_only_internal_notes_keeps_the_approval(personas):
    a = personas.a
    post, channel = _submitted(a)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    revision = post.current_revision
    draft = services.Draft(title=revision.title, body=revision.body, channel_ids=revision.channel_ids,
                           notes="Checked with the depot")
    services.post_update(actor=a.members["editor"], post_id=post.pk, draft=draft)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and post.current_revision_id == revision.pk
    assert post.current_revision.notes == "Checked with the depot"
    assert PublishTarget.objects.filter(post=post).count() == 1
    edited = AuditEvent.objects.filter(event_type=EventType.POST_EDITED, target_id=str(post.pk)).last()
    assert edited.changes == {"notes": "changed"}


def test_publishable_channels_costs_the_same_queries_for_many_channels(personas, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from channels_app import services as channel_services

    a = personas.a
    editor = a.members["editor"]
    make_channel(a, department="Communications")
    with CaptureQueriesContext(connection) as few:
        assert len(services.publishable_channels(editor)) == 1
    for _ in range(8):
        make_channel(a, department="Communications")
    elsewhere = make_channel(a, department="Customer Services")
    for grant in ("view_channel", "publish_channel"):
        channel_services.channel_grant_set(actor=a.members["admin"], channel=elsewhere, member=editor, grant=grant,
                                           allowed=True)
    with django_assert_max_num_queries(len(few)):
        found = services.publishable_channels(editor)
    assert len(found) == 10 and elsewhere in found


def test_services_refuse_times_beyond_five_years(personas):
    from datetime import timedelta

    from django.utils import timezone

    a = personas.a
    post, _ = _submitted(a)
    far = timezone.now() + timedelta(days=6 * 365)
    with pytest.raises(ValidationError):
        services.post_approve(actor=a.members["approver"], post_id=post.pk, scheduled_at=far)
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    with pytest.raises(ValidationError):
        services.pause_start(actor=a.members["admin"], reason="Pre-election period", ends_at=far)


def test_review_words_force_approval_even_in_an_emergency(personas):
    from approvals.models import BlockedWord

    a = personas.a
    channel = make_channel(a, department="Communications", platform="mastodon")
    BlockedWord.objects.create(organisation=a.organisation, phrase="evacuate", action="review")
    post = make_post(a, [channel], body="Residents must evacuate Mill Lane now")
    with pytest.raises(ValidationError) as error:
        services.post_break_glass(actor=a.members["admin"], post_id=post.pk, reason="Flooding on Mill Lane tonight")
    assert "evacuate" in str(error.value)
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT
    # Through approval it goes, and the approvers are told which words to look at.
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    submitted = AuditEvent.objects.get(event_type=EventType.POST_SUBMITTED, target_id=str(post.pk))
    assert submitted.changes["review_terms"] == ["evacuate"]


def test_offered_actions_are_what_the_services_allow(personas, login, client):
    """The page and the API offer exactly services.actions_for; here the policy leaves the approver role out."""
    from approvals.models import ApprovalPolicy

    a = personas.a
    post, _ = _submitted(a)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)  # scheduled now
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approver_roles=["admin"])
    post.refresh_from_db()
    offered = services.actions_for(a.members["approver"], post)
    assert "schedule" not in offered
    with pytest.raises(PermissionDenied):
        services.post_schedule(actor=a.members["approver"], post_id=post.pk, scheduled_at=None)
    assert "schedule" in services.actions_for(a.members["admin"], post)
    page = login(a.members["approver"], client).get(f"/posts/{post.pk}/").content.decode()
    assert f'action="/posts/{post.pk}/schedule/"' not in page
