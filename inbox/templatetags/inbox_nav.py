"""The navigation's "Inbox" link: how many in-app notifications the member has not read (one query)."""

from __future__ import annotations

from django import template

from accounts.models import Notification

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notification_count(context) -> int:
    request = context.get("request")
    membership = getattr(request, "membership", None) if request is not None else None
    if membership is None:
        return 0
    # notification_user_unread_idx (user, read_at) serves this count. By user id: `membership.user` is not
    # loaded with the membership and would be read again just for its id.
    return Notification.objects.visible_to(membership).for_user(membership.user_id).unread().order_by().count()
