"""The weekly e-mail summary task (beat: Mondays 07:00 UTC). Thin: metrics.emails does the work.

Imported by metrics.tasks so Celery's autodiscovery registers it.
"""

from __future__ import annotations

from celery import shared_task

from audit.context import ActionContext, acting
from metrics.emails import send_weekly_summaries_now

__all__ = ["send_weekly_summaries"]


# SMTP outages are OSError; a retry sends only to members whose e-mail did not go (metrics.emails claims).
@shared_task(autoretry_for=(OSError,), retry_backoff=60, retry_jitter=True, max_retries=5, ignore_result=True)
def send_weekly_summaries() -> int:
    # Writes no audit event (it reads figures and sends e-mail); named as the system all the same.
    with acting(ActionContext(system_actor="system: send_weekly_summaries")):
        return send_weekly_summaries_now()
