"""Thin Celery tasks for the audit trail: the periodic signed checkpoints of each chain's head."""

from __future__ import annotations

from celery import shared_task

from audit.context import ActionContext, acting

__all__ = ["write_checkpoints"]


@shared_task(ignore_result=True)
def write_checkpoints() -> int:
    from audit.services import checkpoints_write

    with acting(ActionContext(system_actor="system: write_checkpoints")):
        return len(checkpoints_write())
