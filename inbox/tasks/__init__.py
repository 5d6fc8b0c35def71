"""Thin Celery tasks of the inbox, one module per flow; imported here so Celery's autodiscovery finds them."""

from inbox.tasks.notifications import send_mention_emails  # noqa: F401
from inbox.tasks.polling import *  # noqa: F401,F403
from inbox.tasks.replies import *  # noqa: F401,F403
from inbox.tasks.retention import run_retention  # noqa: F401
