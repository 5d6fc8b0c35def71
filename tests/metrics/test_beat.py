"""Beat schedules every KPI task, and each name resolves to a registered Celery task."""

import pytest
from django.conf import settings

from smm.celery import app


@pytest.mark.parametrize("entry", ["metrics-collect-channel-snapshots", "metrics-collect-due-post-metrics",
                                   "metrics-refresh-rollups", "metrics-weekly-summaries"])
def test_beat_entry_names_a_registered_task(entry):
    import metrics.tasks  # noqa: F401  (registers the tasks, as the worker's autodiscovery does)

    task = settings.CELERY_BEAT_SCHEDULE[entry]["task"]
    assert task in app.tasks, f"{entry} names {task}, which no module registers"
