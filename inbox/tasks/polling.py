"""Ingestion tasks: beat's sweep of due channels and one poll per channel (issue 4 §1). The work is in
inbox.polling and inbox.ingest; these only set the audit actor and hand over ids."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from audit.context import ActionContext, acting

__all__ = ["poll_channel", "poll_due_channels"]


@shared_task(ignore_result=True)
def poll_due_channels() -> int:
    """Beat, every few seconds: hands each channel whose poll is due to a worker, once."""
    from inbox.polling import channels_due

    ids = channels_due()
    for channel_id in ids:
        poll_channel.delay(channel_id)
    return len(ids)


# The hard limit stays under inbox.polling.POLL_LEASE, so a live worker never outlasts its lease.
@shared_task(ignore_result=True, soft_time_limit=200, time_limit=240)
def poll_channel(channel_id: int) -> dict:
    from inbox.polling import channel_poll

    with acting(ActionContext(system_actor="system: poll_channel")):
        return asdict(channel_poll(channel_id))
