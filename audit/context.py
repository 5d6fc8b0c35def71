"""Who is acting and from where, for the audit trail, without passing the request through services.

RequestContextMiddleware fills this for each HTTP request; a Celery task fills it with the actor
"system" and its own name (issue 6). Services never read the request themselves.
"""

from __future__ import annotations

import contextlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    # Label used when no user acts: "system" and the task's name for background work.
    system_actor: str = ""


_current: ContextVar[ActionContext] = ContextVar("audit_action_context", default=ActionContext())  # noqa: B039 (frozen, immutable)


def current() -> ActionContext:
    return _current.get()


@contextlib.contextmanager
def acting(context: ActionContext):
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
