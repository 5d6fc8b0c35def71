"""Thin Celery tasks for posts: notification e-mail, and (approvals.publishing) the sweeper and publish tasks."""

from __future__ import annotations

from celery import shared_task

from approvals.emails import send_post_emails_now


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_post_emails(post_id: int, organisation_id: int, user_ids: list[int], kind: str, text: str) -> int:
    return send_post_emails_now(post_id, organisation_id, user_ids, kind, text)
