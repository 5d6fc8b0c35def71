"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route): the post page and its actions.

Comments need only VIEW: anyone who can see a post may comment on it (approvals.services.comment_add asks no
role), so a viewer in the department can raise a concern before it goes out.
"""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route


def _post(p):
    """A draft in Communications on a channel not connected to anything (no request reaches a platform)."""
    from tests.approvals_factories import make_post
    from tests.inbox_factories import make_channel

    channel = make_channel(p.a, department="Communications", platform="mastodon")
    return {"pk": make_post(p.a, [channel]).pk}


ROUTES: dict = {
    "approvals:post_detail": Route(methods={"GET": C.VIEW}, target=_post),
    "approvals:post_submit": Route(methods={"POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_approve": Route(methods={"POST": C.APPROVE_POSTS}, target=_post),
    "approvals:post_request_changes": Route(methods={"POST": C.APPROVE_POSTS}, target=_post),
    "approvals:post_withdraw": Route(methods={"POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_cancel": Route(methods={"POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_schedule": Route(methods={"POST": C.APPROVE_POSTS}, target=_post),
    "approvals:post_break_glass": Route(methods={"POST": C.BREAK_GLASS}, target=_post),
    "approvals:post_comment": Route(methods={"POST": C.VIEW}, target=_post),
}
