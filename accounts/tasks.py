"""Thin Celery tasks for accounts: take ids, load rows, call a service."""

from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_invitation_email(invitation_id: int, organisation_id: int) -> None:
    if not isinstance(organisation_id, int):
        # A message queued by an older release, which passed the whole link; it is not trusted or sent.
        return
    # Only ids travel through the broker: the link's secret token is decrypted from the row here.
    services.invitation_email_send(invitation_id=invitation_id, organisation_id=organisation_id)
