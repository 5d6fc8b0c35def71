"""Issue 6's routes for tests/routes.py (see there for Route), gathered from one file per area: the audit viewer
(this file: the audit pages, the audit-events API and the History tabs of objects), the export and
retention/erasure/records."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route, _channel, _member
from tests.routes_audit_export import ROUTES as EXPORT
from tests.routes_audit_retention import ROUTES as RETENTION
from tests.routes_inbox_conversation import _conversation
from tests.routes_posts_page import _post


def _event(p):
    """An event in Communications (where the role test puts every member), written by a real service."""
    from audit.models import AuditEvent, EventType
    from tests.approvals_factories import make_post
    from tests.inbox_factories import make_channel

    channel = make_channel(p.a, department="Communications", platform="mastodon")
    post = make_post(p.a, [channel])
    return {"pk": AuditEvent.objects.get(event_type=EventType.POST_CREATED, target_id=str(post.pk)).pk}


VIEWER: dict = {
    "audit:list": Route(methods={"GET": C.VIEW_AUDIT}),
    "audit:detail": Route(methods={"GET": C.VIEW_AUDIT}, target=_event),
    "api:audit-event-list": Route(methods={"GET": C.VIEW_AUDIT}),
    "api:audit-event-detail": Route(methods={"GET": C.VIEW_AUDIT}, target=_event),
}

# The History tab of a post, conversation, channel and member (audit/history.py): reading the trail, so the
# audit viewer's capability, whatever the object's own page needs.
HISTORY: dict = {
    "approvals:post_history": Route(methods={"GET": C.VIEW_AUDIT}, target=_post),
    "inbox:conversation_history": Route(methods={"GET": C.VIEW_AUDIT}, target=_conversation),
    "channels_app:channel_history": Route(methods={"GET": C.VIEW_AUDIT}, target=_channel),
    "accounts:member_history": Route(methods={"GET": C.VIEW_AUDIT}, target=_member),
}

ROUTES: dict = {**VIEWER, **HISTORY, **EXPORT, **RETENTION}
