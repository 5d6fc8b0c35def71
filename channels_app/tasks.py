"""Thin Celery tasks for channels."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from accounts.models import Membership
from accounts.roles import Role
from channels_app.models import Channel, ChannelStatus


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_needs_reauth_email(channel_id: int, organisation_id: int) -> None:
    """Tells the channel department's admins and managers that it must be reconnected."""
    channel = (
        Channel.objects.select_related("department", "organisation")
        .filter(pk=channel_id, organisation_id=organisation_id)
        .first()
    )
    if channel is None or channel.status != ChannelStatus.NEEDS_REAUTH:
        return
    people = Membership.objects.active().filter(organisation_id=organisation_id).select_related("user")
    recipients = sorted(
        {
            m.user.email
            for m in people.prefetch_related("departments")
            if m.role == Role.ADMIN or (m.role == Role.MANAGER and channel.department_id in m.department_ids)
        }
    )
    if not recipients:
        return
    send_mail(
        subject=f"Reconnect {channel} in Civic Desk",
        message=render_to_string(
            "channels_app/email/needs_reauth.txt", {"channel": channel, "site_url": settings.SITE_URL}
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
