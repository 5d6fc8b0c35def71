"""The nightly retention run (issue 6 §6). Thin: inbox.retention does the work and audits it per organisation.

Beat entry (smm/settings.py CELERY_BEAT_SCHEDULE), once a night at a quiet hour:
    "inbox-retention": {"task": "inbox.tasks.retention.run_retention", "schedule": crontab(hour=2, minute=30),
                        "options": {"expires": 6 * 3600}},
"""

from __future__ import annotations

from celery import shared_task

from audit.context import ActionContext, acting

__all__ = ["run_retention"]


@shared_task(name="inbox.tasks.retention.run_retention", ignore_result=True)
def run_retention() -> dict:
    from inbox import retention

    with acting(ActionContext(system_actor=retention.SYSTEM_ACTOR)):
        results = retention.run_retention()
    # JSON-friendly for the result log: organisation ids as strings.
    return {str(organisation_id): counts for organisation_id, counts in results.items()}
