"""E-mail for post notifications (submitted, approved, changes requested, published, failed, break glass)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mass_mail

from accounts.models import Membership
from approvals.models import Post

SUBJECTS = {
    "submitted": "Waiting for your approval",
    "approved": "Approved",
    "changes_requested": "Changes requested",
    "published": "Published",
    "failed": "Publishing failed",
    "break_glass": "Published without approval",
    "mention": "You were mentioned",
    "held_late": "Held: it was due while publishing was down",
}


def send_post_emails_now(post_id: int, organisation_id: int, user_ids: list[int], kind: str, text: str) -> int:
    post = Post.objects.for_organisation(organisation_id).filter(pk=post_id).first()
    if post is None:
        return 0
    # Only people still active in the post's organisation.
    members = Membership.objects.active().filter(organisation_id=organisation_id, user_id__in=user_ids).select_related("user")
    url = f"{settings.SITE_URL.rstrip('/')}/posts/{post.pk}/"
    subject = f"{SUBJECTS.get(kind, 'Update')}: {post.title}"[:150]
    messages = [
        (subject, f"{text}\n\nOpen the post: {url}\n", settings.DEFAULT_FROM_EMAIL, [m.user.email]) for m in members
    ]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
