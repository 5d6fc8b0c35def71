"""The rules of approvals.services: separation of duties, approval policies, revisions, content checks,
late approvals, break glass, pauses, comments and notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.signals import before_task_publish
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import Membership, Notification
from approvals import services
from approvals.emails import send_post_emails_now
from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    BlockedWord,
    ChannelApprovalRule,
    Comment,
    Post,
    PostMedia,
    PostStatus,
    PublishingPause,
    PublishingSettings,
    PublishTarget,
)
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.conftest import add_member
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def events(post, event_type=None):
    found = AuditEvent.objects.for_target("approvals.post", post.pk).order_by("id")
    return list(found.filter(event_type=event_type) if event_type else found)


def extra_member(org, role: str, email: str, departments: list[str]) -> Membership:
    """Another member with `role`, leaving org.members[role] as it was."""
    keep = org.members[role]
    member = add_member(org, role, email, departments)
    org.members[role] = keep
    return member


def status_of(post) -> str:
    return Post.objects.get(pk=post.pk).status


@pytest.fixture
def a(personas):
    return personas.a


@pytest.fixture
def channel(a):
    return make_channel(a, department="Communications", platform="mastodon")


def submitted(a, channels, **kwargs) -> Post:
    post = make_post(a, channels, **kwargs)
    return services.post_submit(actor=a.members[kwargs.get("author_role", "editor")], post_id=post.pk)


def edit(member, post, body, channels, **draft) -> Post:
    return services.post_update(
        actor=member, post_id=post.pk,
        draft=services.Draft(title=post.title, body=body, channel_ids=[c.pk for c in channels], **draft),
    )


# ------------------------------------------------------------------------------ separation of duties
def test_an_admin_author_never_approves_their_own_post(a, channel):
    post = submitted(a, [channel], author_role="admin")
    admin = a.members["admin"]
    with pytest.raises(PermissionDenied):
        services.post_approve(actor=admin, post_id=post.pk)
    with pytest.raises(PermissionDenied):
        services.post_request_changes(actor=admin, post_id=post.pk, comment="Looks fine to me")
    assert status_of(post) == PostStatus.IN_REVIEW
    assert not ApprovalDecision.objects.filter(post=post).exists()
    # The author is never among the approvers told about it, nor counted as one.
    assert admin.user not in services.approvers_for(post)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    assert status_of(post) == PostStatus.SCHEDULED


def test_an_editor_cannot_approve_and_an_approver_cannot_write(a, channel):
    post = submitted(a, [channel])
    with pytest.raises(PermissionDenied):
        services.post_approve(actor=a.members["editor"], post_id=post.pk)
    with pytest.raises(PermissionDenied):
        make_post(a, [channel], author_role="approver")


# ----------------------------------------------------------------------------------- approval policy
def test_two_approver_policy_needs_two_distinct_people(a, channel):
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approvals_required=2)
    post = submitted(a, [channel])
    approver = a.members["approver"]
    services.post_approve(actor=approver, post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and services.approval_count(post) == 1
    with pytest.raises(ValidationError, match="already approved"):
        services.post_approve(actor=approver, post_id=post.pk)
    assert services.approval_count(post) == 1
    services.post_approve(actor=a.members["admin"], post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and services.approval_count(post) == 2
    assert [e.changes["approvals"] for e in events(post, EventType.POST_APPROVED)] == ["1 of 2", "2 of 2"]


def test_a_channel_rule_raises_the_count_for_that_channel_only(a, channel):
    corporate = make_channel(a, department="Communications", platform="x")
    ChannelApprovalRule.objects.create(organisation=a.organisation, channel=corporate, approvals_required=2)
    main = submitted(a, [channel, corporate])
    other = submitted(a, [channel], title="Library hours")
    assert services.approvals_required(main, main.current_revision) == 2
    assert services.approvals_required(other, other.current_revision) == 1
    services.post_approve(actor=a.members["approver"], post_id=main.pk)
    services.post_approve(actor=a.members["approver"], post_id=other.pk)
    assert status_of(main) == PostStatus.IN_REVIEW
    assert status_of(other) == PostStatus.SCHEDULED
    services.post_approve(actor=a.members["admin"], post_id=main.pk)
    assert status_of(main) == PostStatus.SCHEDULED


def test_approver_roles_restrict_who_approves(a, channel):
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approver_roles=["admin"])
    post = submitted(a, [channel])
    assert [u.email for u in services.approvers_for(post)] == ["admin@alpha.example"]
    with pytest.raises(PermissionDenied, match="approval policy"):
        services.post_approve(actor=a.members["approver"], post_id=post.pk)
    assert not ApprovalDecision.objects.filter(post=post).exists()
    services.post_approve(actor=a.members["admin"], post_id=post.pk)
    assert status_of(post) == PostStatus.SCHEDULED


def test_an_approver_of_another_department_cannot_approve(a):
    services_channel = make_channel(a, department="Customer Services", platform="mastodon")
    editor = extra_member(a, "editor", "cs.editor@alpha.example", ["Customer Services"])
    post = services.post_create(actor=editor, department=a.departments["Customer Services"],
                                draft=services.Draft(title="Opening hours", body="Open 9 to 5.",
                                                     channel_ids=[services_channel.pk]))
    services.post_submit(actor=editor, post_id=post.pk)
    # The Communications approver cannot see the post at all.
    with pytest.raises(Post.DoesNotExist):
        services.post_approve(actor=a.members["approver"], post_id=post.pk)


# ------------------------------------------------------------------------------------------ revisions
def test_edit_after_approval_makes_a_new_revision_and_clears_approvals(a, channel):
    ApprovalPolicy.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                  approvals_required=2)
    editor, approver, admin = a.members["editor"], a.members["approver"], a.members["admin"]
    post = submitted(a, [channel])
    first = post.current_revision
    services.post_approve(actor=approver, post_id=post.pk)
    edit(editor, post, "Bins are collected on Tuesday.", [channel])
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW
    assert post.current_revision.number == 2 and post.current_revision.content_hash != first.content_hash
    # The old approval is still on record, bound to revision 1's hash: it no longer counts.
    old = ApprovalDecision.objects.get(post=post)
    assert old.revision_id == first.pk and old.revision_hash == first.content_hash
    assert services.approval_count(post) == 0
    [edited] = events(post, EventType.POST_EDITED)
    assert edited.changes["approvals_cleared"] is True and edited.changes["hash"] == post.current_revision.content_hash
    services.post_approve(actor=admin, post_id=post.pk)
    assert status_of(post) == PostStatus.IN_REVIEW  # 1 of 2: the earlier approval was of other words
    services.post_approve(actor=approver, post_id=post.pk)  # the same person may approve the new revision
    assert status_of(post) == PostStatus.SCHEDULED


def test_editing_a_scheduled_post_sends_it_back_to_review(a, channel):
    post = submitted(a, [channel])
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    edit(a.members["editor"], post, "Bins are collected on Wednesday.", [channel])
    post.refresh_from_db()
    assert post.status == PostStatus.IN_REVIEW and post.approved_at is None
    assert services.approval_count(post) == 0
    # Saving the same content again changes nothing: no revision, no audit event.
    count = len(events(post))
    edit(a.members["editor"], post, "Bins are collected on Wednesday.", [channel])
    post.refresh_from_db()
    assert post.current_revision.number == 2 and len(events(post)) == count


def test_decisions_record_the_revision_hash_in_audit(a, channel):
    post = submitted(a, [channel])
    services.post_request_changes(actor=a.members["approver"], post_id=post.pk, comment="Say which Monday.")
    [changes] = events(post, EventType.POST_CHANGES_REQUESTED)
    assert changes.changes["hash"] == post.current_revision.content_hash and changes.changes["revision"] == 1
    assert Comment.objects.get(post=post).text == "Say which Monday."
    with pytest.raises(ValidationError):
        services.post_request_changes(actor=a.members["approver"], post_id=post.pk, comment="  ")
    edit(a.members["editor"], post, "Bins are collected on Monday 3 March.", [channel])
    assert status_of(post) == PostStatus.DRAFT
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    [approved] = events(post, EventType.POST_APPROVED)
    assert approved.changes["hash"] == post.current_revision.content_hash and approved.changes["revision"] == 2
    decision = ApprovalDecision.objects.get(post=post, decision="approved")
    assert decision.revision_hash == post.current_revision.content_hash
    assert services.content_hash({
        "title": decision.revision.title, "body": decision.revision.body, "link": decision.revision.link,
        "channel_ids": decision.revision.channel_ids, "variants": decision.revision.variants,
        "media": decision.revision.media,
    }) == decision.revision_hash


# ----------------------------------------------------------------------------------- content checks
def test_blocked_words_block_or_force_review(a, channel):
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    BlockedWord.objects.create(organisation=a.organisation, phrase="free parking", action="review")
    blocked = make_post(a, [channel], body="Collection GUARANTEED on Monday")
    with pytest.raises(ValidationError) as error:
        services.post_submit(actor=a.members["editor"], post_id=blocked.pk)
    assert "guaranteed" in error.value.message_dict["body"][0]
    assert status_of(blocked) == PostStatus.DRAFT and not events(blocked, EventType.POST_SUBMITTED)
    # Whole words only: "freedom" is not "free".
    fine = make_post(a, [channel], body="Freedom parking is closed.", title="Car parks")
    services.post_submit(actor=a.members["editor"], post_id=fine.pk)
    assert events(fine, EventType.POST_SUBMITTED)[0].changes["review_terms"] == []

    review = make_post(a, [channel], body="Free\n parking this weekend!", title="Weekend")
    services.post_submit(actor=a.members["editor"], post_id=review.pk)
    assert status_of(review) == PostStatus.IN_REVIEW
    assert events(review, EventType.POST_SUBMITTED)[0].changes["review_terms"] == ["free parking"]
    notice = Notification.objects.for_user(a.user("approver")).filter(link=f"/posts/{review.pk}/").get()
    assert "(contains: free parking)" in notice.text


def test_alt_text_is_required_unless_the_organisation_turns_it_off(a, channel):
    post = make_post(a, [channel])
    image = PostMedia.objects.create(organisation=a.organisation, post=post, content=PNG, mime_type="image/png",
                                     sha256="0" * 64, uploaded_by=a.user("editor"))
    edit(a.members["editor"], post, "Bins are collected on Monday.", [channel], media=[{"id": image.pk, "alt_text": " "}])
    with pytest.raises(ValidationError) as error:
        services.post_submit(actor=a.members["editor"], post_id=post.pk)
    assert "alt text" in error.value.message_dict["media"][0]
    PublishingSettings.objects.create(organisation=a.organisation, alt_text_required=False)
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    assert status_of(post) == PostStatus.IN_REVIEW


def test_per_platform_errors_name_the_channel(a, channel):
    x = make_channel(a, department="Communications", platform="x")
    instagram = make_channel(a, department="Communications", platform="instagram")
    post = make_post(a, [channel, x, instagram], body="Road works on the High Street this week. " * 8)
    with pytest.raises(ValidationError) as error:
        services.post_submit(actor=a.members["editor"], post_id=post.pk)
    errors = error.value.message_dict
    assert set(errors) == {f"channel:{x.pk}", f"channel:{instagram.pk}"}  # Mastodon's 500 is fine
    assert "image" in errors[f"channel:{instagram.pk}"][0]
    assert str(x) in errors[f"channel:{x.pk}"][0]
    # A shorter X variant and an image (with alt text) make it submittable.
    image = PostMedia.objects.create(organisation=a.organisation, post=post, content=PNG, mime_type="image/png",
                                     sha256="1" * 64, uploaded_by=a.user("editor"))
    edit(a.members["editor"], post, post.current_revision.body, [channel, x, instagram],
         variants={"x": "Road works on the High Street this week."},
         media=[{"id": image.pk, "alt_text": "A digger on the High Street"}])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    assert status_of(post) == PostStatus.IN_REVIEW


# ---------------------------------------------------------------------------------- late approvals
def test_time_passed_in_review_means_approved_waiting_for_a_new_time(a, channel):
    post = submitted(a, [channel])
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(minutes=10))
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    post.refresh_from_db()
    assert post.status == PostStatus.APPROVED and post.needs_new_time
    assert not PublishTarget.objects.filter(post=post).exists()
    with pytest.raises(ValidationError):
        services.post_schedule(actor=a.members["approver"], post_id=post.pk,
                               scheduled_at=timezone.now() - timedelta(minutes=1))
    later = timezone.now() + timedelta(hours=3)
    services.post_schedule(actor=a.members["approver"], post_id=post.pk, scheduled_at=later)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and post.scheduled_at == later and not post.needs_new_time
    assert PublishTarget.objects.filter(post=post).count() == 1


def test_approving_a_late_post_with_publish_now_schedules_it_now(a, channel):
    post = submitted(a, [channel])
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(minutes=10))
    before = timezone.now()
    services.post_approve(actor=a.members["approver"], post_id=post.pk, publish_now=True)
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and post.scheduled_at >= before and not post.needs_new_time


# ---------------------------------------------------------------------------------------- break glass
def test_break_glass_is_admin_only_needs_a_reason_and_is_audited(a, channel):
    post = make_post(a, [channel])
    for role in ("approver", "editor", "manager"):
        with pytest.raises(PermissionDenied):
            services.post_break_glass(actor=a.members[role], post_id=post.pk, reason="The road is closed now.")
    admin = a.members["admin"]
    with pytest.raises(ValidationError):
        services.post_break_glass(actor=admin, post_id=post.pk, reason="  urgent   ")
    assert status_of(post) == PostStatus.DRAFT and not events(post, EventType.POST_BREAK_GLASS)

    before = timezone.now()
    services.post_break_glass(actor=admin, post_id=post.pk, reason="Flood warning: the A38 is closed now")
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED and before <= post.scheduled_at <= timezone.now()
    assert post.break_glass_by_id == admin.user_id and post.break_glass_reason == "Flood warning: the A38 is closed now"
    assert PublishTarget.objects.filter(post=post, state="pending").count() == 1
    [event] = events(post, EventType.POST_BREAK_GLASS)
    assert event.actor_id == admin.user_id and event.changes["reason"] == "Flood warning: the A38 is closed now"
    assert event.changes["hash"] == post.current_revision.content_hash
    # The department's approvers hear about it (not the admin who did it).
    notified = set(Notification.objects.filter(link=f"/posts/{post.pk}/").values_list("user__email", flat=True))
    assert notified == {"approver@alpha.example"}
    assert "without approval" in Notification.objects.get(user=a.user("approver")).text


def test_break_glass_still_refuses_blocked_words(a, channel):
    BlockedWord.objects.create(organisation=a.organisation, phrase="guaranteed", action="block")
    post = make_post(a, [channel], body="Guaranteed collection")
    with pytest.raises(ValidationError):
        services.post_break_glass(actor=a.members["admin"], post_id=post.pk, reason="It must go out right now")
    assert status_of(post) == PostStatus.DRAFT


# -------------------------------------------------------------------------------------------- pauses
def test_pauses_org_wide_by_admin_and_own_department_by_manager(a, channel):
    manager, admin = a.members["manager"], a.members["admin"]
    comms, cs = a.departments["Communications"], a.departments["Customer Services"]
    post = make_post(a, [channel])
    assert services.paused(post) is None
    with pytest.raises(PermissionDenied):
        services.pause_start(actor=manager, reason="Election period")
    with pytest.raises(PermissionDenied):
        services.pause_start(actor=manager, reason="Incident", department=cs)
    with pytest.raises(PermissionDenied):
        services.pause_start(actor=a.members["editor"], reason="Incident", department=comms)
    with pytest.raises(ValidationError):
        services.pause_start(actor=manager, reason="   ", department=comms)
    with pytest.raises(ValidationError):
        services.pause_start(actor=manager, reason="Incident", department=comms,
                             ends_at=timezone.now() - timedelta(minutes=1))

    mine = services.pause_start(actor=manager, reason="Major incident", department=comms,
                                ends_at=timezone.now() + timedelta(hours=2))
    assert services.paused(post) == mine
    assert services.paused(post, at=timezone.now() + timedelta(hours=3)) is None
    [paused_event] = AuditEvent.objects.filter(event_type=EventType.PUBLISHING_PAUSED, target_id=str(mine.pk))
    assert paused_event.changes["reason"] == "Major incident" and paused_event.department_id == comms.pk

    everywhere = services.pause_start(actor=admin, reason="Pre-election period")
    with pytest.raises(PermissionDenied):
        services.pause_lift(actor=manager, pause_id=everywhere.pk)
    services.pause_lift(actor=manager, pause_id=mine.pk)
    assert services.paused(post) == everywhere
    services.pause_lift(actor=admin, pause_id=everywhere.pk)
    assert services.paused(post) is None
    lifted = AuditEvent.objects.filter(event_type=EventType.PUBLISHING_RESUMED).order_by("id")
    assert [(e.actor_id, e.target_id) for e in lifted] == [
        (manager.user_id, str(mine.pk)), (admin.user_id, str(everywhere.pk))
    ]
    # Lifting twice changes nothing and writes nothing.
    services.pause_lift(actor=admin, pause_id=everywhere.pk)
    assert lifted.count() == 2
    assert PublishingPause.objects.get(pk=mine.pk).lifted_by_id == manager.user_id


def test_a_pause_of_another_organisation_is_not_found(personas):
    theirs = services.pause_start(actor=personas.outsider, reason="Their incident")
    with pytest.raises(PublishingPause.DoesNotExist):
        services.pause_lift(actor=personas.a.members["admin"], pause_id=theirs.pk)


# ------------------------------------------------------------------------------------------ comments
def test_comments_thread_and_mentions_notify_only_people_who_see_the_post(a, channel):
    post = make_post(a, [channel])
    editor = a.members["editor"]
    first = services.comment_add(actor=a.members["approver"], post_id=post.pk,
                                 text="@editor can we add the date? @agent FYI @approver")
    assert first.revision_id == post.current_revision_id
    # The agent works in Customer Services and cannot see the post; the commenter is not told about themself.
    assert [u.email for u in first.mentions.all()] == ["approver@alpha.example", "editor@alpha.example"]
    assert list(Notification.objects.filter(link=f"/posts/{post.pk}/").values_list("user__email", flat=True)) == [
        "editor@alpha.example"
    ]
    edit(editor, post, "Bins are collected on Monday 3 March.", [channel])
    reply = services.comment_add(actor=editor, post_id=post.pk, text="Added it.", parent_id=first.pk)
    post.refresh_from_db()
    assert reply.parent_id == first.pk and reply.revision_id == post.current_revision_id != first.revision_id
    assert list(first.replies.all()) == [reply]
    other = make_post(a, [channel], title="Other")
    with pytest.raises(ValidationError):
        services.comment_add(actor=editor, post_id=other.pk, text="Wrong thread", parent_id=first.pk)
    with pytest.raises(ValidationError):
        services.comment_add(actor=editor, post_id=post.pk, text="   ")
    assert [e.changes["comment"] for e in events(post, EventType.POST_COMMENTED)] == [first.pk, reply.pk]


# ------------------------------------------------------------------------------------- notifications
def test_submit_notifies_approvers_in_app_and_queues_the_email_after_commit(
    a, channel, django_capture_on_commit_callbacks
):
    published = []

    def remember(sender=None, body=None, **kwargs):
        published.append((sender, list(body[0])))

    post = make_post(a, [channel])
    before_task_publish.connect(remember, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.post_submit(actor=a.members["editor"], post_id=post.pk)
    finally:
        before_task_publish.disconnect(remember)
    approvers = sorted([a.user("admin").pk, a.user("approver").pk])
    text = f"{a.user('editor')} submitted “{post.title}” for approval"
    assert published == [("approvals.tasks.send_post_emails", [post.pk, a.organisation.pk, approvers, "submitted", text])]
    assert mail.outbox == []
    notices = Notification.objects.filter(link=f"/posts/{post.pk}/").order_by("user_id")
    assert [(n.user_id, n.text) for n in notices] == [(uid, text) for uid in approvers]

    # The task's work: one e-mail per recipient still active in the post's organisation.
    Membership.objects.filter(pk=a.members["admin"].pk).update(is_active=False)
    assert send_post_emails_now(post.pk, a.organisation.pk + 1000, approvers, "submitted", text) == 0
    assert send_post_emails_now(post.pk, a.organisation.pk, approvers, "submitted", text) == 1
    [message] = mail.outbox
    assert message.to == ["approver@alpha.example"]
    assert message.subject == f"Waiting for your approval: {post.title}"
    assert f"http://testserver/posts/{post.pk}/" in message.body and text in message.body


def test_author_is_told_of_decisions(a, channel):
    post = submitted(a, [channel])
    services.post_request_changes(actor=a.members["approver"], post_id=post.pk, comment="Add the date")
    edit(a.members["editor"], post, "Bins are collected on Monday 3 March.", [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    texts = list(Notification.objects.for_user(a.user("editor")).order_by("id").values_list("text", flat=True))
    assert texts == [f"{a.user('approver')} asked for changes to “{post.title}”", f"“{post.title}” was approved"]
