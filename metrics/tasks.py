"""Thin beat tasks for the KPI data (issue 7 §1-2). The work is in metrics.collection and metrics.rollups.

Snapshots, metric samples and rollups are observed or derived data and write no audit event; the only audited
writes on these paths are the channel-health changes a connector failure causes (rate limited, needs
reconnecting), recorded by channels_app.services with the actor "system: <task>".
"""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from audit.context import ActionContext, acting

__all__ = ["collect_channel_snapshots", "collect_due_post_metrics", "refresh_rollups", "send_weekly_summaries"]

# A sweep's collections stop being started after this many seconds (the rest go back for the next sweep), well
# inside its soft time limit and inside metrics.collection.CLAIM_LEASE.
SWEEP_BUDGET = 90


@shared_task(ignore_result=True, soft_time_limit=1500, time_limit=1800)
def collect_channel_snapshots() -> dict:
    """Beat, hourly: each channel without a snapshot for its organisation's local today gets one."""
    from metrics.collection import collect_snapshots

    with acting(ActionContext(system_actor="system: collect_channel_snapshots")):
        return asdict(collect_snapshots())


@shared_task(ignore_result=True, soft_time_limit=150, time_limit=180)
def collect_due_post_metrics() -> dict:
    """Beat, every two minutes: start tracking newly published posts, then collect a bounded batch of due ones."""
    from metrics.collection import collect_due, track_published_targets

    with acting(ActionContext(system_actor="system: collect_due_post_metrics")):
        tracked = track_published_targets()
        return {"tracked": tracked, **asdict(collect_due(budget=SWEEP_BUDGET))}


# A first run (or one after rebuild_kpis) rebuilds a large organisation from its messages: minutes, not seconds.
# Runs overlapping meanwhile skip that organisation (its cursor row is locked) and do the others.
@shared_task(ignore_result=True, soft_time_limit=540, time_limit=600)
def refresh_rollups() -> dict:
    """Beat, every minute: every organisation's rollups brought up to date, one organisation failing alone."""
    from metrics.collection import refresh_rollups_each

    with acting(ActionContext(system_actor="system: refresh_rollups")):
        return refresh_rollups_each()


# Registered by Celery's autodiscovery (which imports only <app>.tasks): the weekly summary task lives beside.
from metrics.tasks_email import send_weekly_summaries  # noqa: E402, F401
