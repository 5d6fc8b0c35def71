"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route): /api/v1/posts/.

Comments need only VIEW, as on the post page: anyone who can see a post may comment on it
(approvals.services.comment_add asks no role).
"""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route


def _post(p):
    """A draft in Communications by the editor, on a channel not connected to anything (no platform is called)."""
    from tests.approvals_factories import make_post
    from tests.inbox_factories import make_channel

    channel = make_channel(p.a, department="Communications", platform="mastodon")
    return {"pk": make_post(p.a, [channel]).pk}


EDIT, APPROVE = C.EDIT_POSTS, C.APPROVE_POSTS

ROUTES: dict = {
    "api:post-list": Route(methods={"GET": None, "POST": EDIT}),
    "api:post-calendar": Route(methods={"GET": None}),
    "api:post-detail": Route(methods={"GET": None, "PATCH": EDIT}, target=_post),
    "api:post-revisions": Route(methods={"GET": None}, target=_post),
    "api:post-submit": Route(methods={"POST": EDIT}, target=_post),
    "api:post-approve": Route(methods={"POST": APPROVE}, target=_post),
    "api:post-request-changes": Route(methods={"POST": APPROVE}, target=_post),
    "api:post-withdraw": Route(methods={"POST": EDIT}, target=_post),
    "api:post-schedule": Route(methods={"POST": APPROVE}, target=_post),
    "api:post-cancel": Route(methods={"POST": EDIT}, target=_post),
    "api:post-break-glass": Route(methods={"POST": C.BREAK_GLASS}, target=_post),
    "api:post-comments": Route(methods={"GET": None, "POST": None}, target=_post),
    "api:post-media": Route(methods={"POST": EDIT}, target=_post),
}
