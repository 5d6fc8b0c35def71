"""Thin Celery tasks for accounts: take ids, load rows, do one thing."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from accounts.models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_invitation_email(invitation_id: int, accept_url: str) -> None:
    invitation = Invitation.objects.select_related("organisation", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != "pending":
        return
    context = {"invitation": invitation, "accept_url": accept_url}
    send_mail(
        subject=f"You are invited to join {invitation.organisation.name} on Civic Desk",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
