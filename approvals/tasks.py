"""Thin Celery tasks for posts: notification e-mail, and (approvals.publishing) the sweeper and publish tasks.

Publishing retries are not Celery's autoretry: a failed attempt goes back to pending in the database first (audited)
with the time of its next attempt, and the sweeper queues it then, so the row, not the broker, says what is owed.
"""

from __future__ import annotations

from celery import shared_task

from approvals.emails import send_post_emails_now
from audit.context import ActionContext, acting
from channels_app.connectors.base import TransientError

__all__ = ["publish_target", "reconcile_target", "send_post_emails", "sweep_due_posts", "sweep_stuck_targets"]


@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def send_post_emails(post_id: int, organisation_id: int, user_ids: list[int], kind: str, text: str) -> int:
    return send_post_emails_now(post_id, organisation_id, user_ids, kind, text)


@shared_task(ignore_result=True)
def sweep_due_posts() -> int:
    from approvals.publishing import sweep_due

    with acting(ActionContext(system_actor="system: sweep_due_posts")):
        return sweep_due()


@shared_task(ignore_result=True)
def publish_target(target_id: int) -> str:
    from approvals.publishing import publish

    with acting(ActionContext(system_actor="system: publish_target")):
        return publish(target_id)


@shared_task(bind=True, ignore_result=True, max_retries=8)
def reconcile_target(self, target_id: int) -> str:
    from approvals.publishing import reconcile
    from channels_app.backoff import backoff

    with acting(ActionContext(system_actor="system: reconcile_target")):
        try:
            return reconcile(target_id)
        except TransientError as exc:
            # Reading is safe to repeat; the target stays unknown meanwhile (the stuck sweeper picks it up later).
            if self.request.called_directly:
                return "still unknown"
            raise self.retry(exc=exc, countdown=backoff(self.request.retries + 1)) from None


@shared_task(ignore_result=True)
def sweep_stuck_targets() -> dict:
    from approvals.publishing import sweep_stuck

    with acting(ActionContext(system_actor="system: sweep_stuck_targets")):
        return sweep_stuck()
