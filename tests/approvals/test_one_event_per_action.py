"""Issue 6 §1: an action writes exactly ONE audit event that carries everything it changed (approve-and-schedule,
break glass, the API's image upload, a composer save with a time or a removed image), and the post page's audit
history still tells the story from those events."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from approvals import media, services
from approvals.models import Post, PostMedia, PostStatus, PublishTarget
from audit.models import AuditEvent, EventType
from tests.approvals.test_compose import TINY_PNG
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel


def _new(post, since: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.for_target("approvals.post", post.pk).filter(pk__gt=since).order_by("pk"))


def _last() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_the_approval_that_schedules_is_one_event_saying_so(personas):
    a = personas.a
    channel = make_channel(a, "Communications", platform="mastodon")
    post = make_post(a, [channel])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    when = timezone.now() + timedelta(days=1)
    since = _last()

    services.post_approve(actor=a.members["approver"], post_id=post.pk, scheduled_at=when)

    [event] = _new(post, since)
    assert event.event_type == EventType.POST_APPROVED and event.actor_id == a.user("approver").pk
    assert event.changes["approvals"] == "1 of 1"
    assert event.changes["status"] == {"from": "in_review", "to": "scheduled"}
    assert event.changes["scheduled_at"] == {"from": None, "to": when.isoformat()}
    assert event.changes["channels"] == [channel.pk]
    assert PublishTarget.objects.filter(post=post).count() == 1


def test_an_approval_whose_time_passed_is_one_event_with_needs_new_time(personas):
    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    Post.objects.filter(pk=post.pk).update(scheduled_at=timezone.now() - timedelta(minutes=10))
    since = _last()

    services.post_approve(actor=a.members["approver"], post_id=post.pk)

    [event] = _new(post, since)
    assert event.event_type == EventType.POST_APPROVED
    assert event.changes["status"] == {"from": "in_review", "to": "approved"} and event.changes["needs_new_time"] is True


def test_a_first_of_two_approvals_is_one_event_without_a_status(personas):
    from approvals.models import ApprovalPolicy

    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    ApprovalPolicy.objects.update_or_create(department=a.departments["Communications"],
                                            defaults={"organisation": a.organisation, "approvals_required": 2})
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    since = _last()
    services.post_approve(actor=a.members["approver"], post_id=post.pk)
    [event] = _new(post, since)
    assert event.changes["approvals"] == "1 of 2" and "status" not in event.changes


def test_break_glass_is_one_event_with_reason_and_resulting_status(personas):
    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    since = _last()

    services.post_break_glass(actor=a.members["admin"], post_id=post.pk, reason="Flood warning: the A38 is closed now")

    [event] = _new(post, since)
    assert event.event_type == EventType.POST_BREAK_GLASS
    assert event.changes["reason"] == "Flood warning: the A38 is closed now"
    assert event.changes["status"] == {"from": "draft", "to": "scheduled"}
    assert event.changes["scheduled_at"]["to"] is not None
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED


def test_api_image_upload_is_one_event_with_the_image_and_the_revision(personas, api_for):
    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    since = _last()

    response = api_for(a.members["editor"]).post(
        f"/api/v1/posts/{post.pk}/media/", {"file": SimpleUploadedFile("a.png", TINY_PNG), "alt_text": "Bins"},
        format="multipart",
    )

    assert response.status_code == 201, response.content
    [event] = _new(post, since)
    stored = PostMedia.objects.get(post=post)
    assert event.event_type == EventType.POST_EDITED
    assert event.changes["image_uploaded"]["id"] == stored.pk and event.changes["image_uploaded"]["sha256"] == stored.sha256
    assert event.changes["revision"] == 2 == response.json()["revision"]


def test_a_refused_api_upload_stores_nothing_and_writes_nothing(personas, api_for):
    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    for _ in range(media.MAX_IMAGES):
        media.media_upload(actor=a.members["editor"], post_id=post.pk, content=TINY_PNG)
    since = _last()
    response = api_for(a.members["editor"]).post(
        f"/api/v1/posts/{post.pk}/media/", {"file": SimpleUploadedFile("a.png", TINY_PNG)}, format="multipart")
    assert response.status_code == 400 and "at most" in response.content.decode()
    assert _new(post, since) == [] and PostMedia.objects.filter(post=post).count() == media.MAX_IMAGES


def test_composer_save_with_a_removed_image_is_one_event(personas, login):
    a = personas.a
    channel = make_channel(a, "Communications", platform="mastodon")
    post = make_post(a, [channel])
    image = media.media_upload(actor=a.members["editor"], post_id=post.pk, content=TINY_PNG, filename="a.png")
    since = _last()
    response = login(a.members["editor"]).post(reverse("approvals:post_edit", kwargs={"pk": post.pk}), {
        "title": "Bin collections", "body": "Bins go out on Tuesday.", "channels": [channel.pk], "schedule": "approved",
        "media": [str(image.pk)], f"remove_{image.pk}": "1",
    })
    assert response.status_code == 302
    [event] = _new(post, since)
    assert event.changes["images_discarded"] == [image.pk] and event.changes["revision"] == 2
    assert not PostMedia.objects.filter(pk=image.pk).exists()


def test_the_post_history_shows_the_approval_and_where_it_left_the_post(personas, login):
    a = personas.a
    post = make_post(a, [make_channel(a, "Communications", platform="mastodon")])
    services.post_submit(actor=a.members["editor"], post_id=post.pk)
    services.post_approve(actor=a.members["approver"], post_id=post.pk)

    response = login(a.members["admin"]).get(reverse("approvals:post_history", kwargs={"pk": post.pk}))

    assert response.status_code == 200
    history = response.content.decode()
    assert "Post approved" in history and "in_review" in history and "scheduled" in history
