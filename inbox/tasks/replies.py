"""Reply tasks: send exactly once, reconcile unknown outcomes (issue 4 §3). Thin: inbox.replies does the work.

Retries are not Celery's autoretry: a failed send goes back to pending in the database first (audited), and a
fresh task is queued after commit with its countdown, so the row, not the broker, says what is owed.
"""

from __future__ import annotations

from celery import shared_task

from audit.context import ActionContext, acting
from channels_app.connectors.base import TransientError

__all__ = ["reconcile_reply", "send_reply", "sweep_stuck_replies"]


@shared_task(ignore_result=True)
def send_reply(reply_id: int) -> str:
    from inbox.replies import deliver

    with acting(ActionContext(system_actor="system: send_reply")):
        return deliver(reply_id)


@shared_task(bind=True, ignore_result=True, max_retries=8)
def reconcile_reply(self, reply_id: int) -> str:
    from channels_app.backoff import backoff
    from inbox.replies import reconcile

    with acting(ActionContext(system_actor="system: reconcile_reply")):
        try:
            return reconcile(reply_id)
        except TransientError as exc:
            # Reading is safe to repeat; the reply stays unknown meanwhile (the sweeper picks it up if we give up).
            if self.request.called_directly:
                return "still unknown"
            raise self.retry(exc=exc, countdown=backoff(self.request.retries + 1)) from None


@shared_task(ignore_result=True)
def sweep_stuck_replies() -> dict:
    from inbox.replies import sweep_stuck

    with acting(ActionContext(system_actor="system: sweep_stuck_replies")):
        return sweep_stuck()
