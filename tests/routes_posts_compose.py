"""Posts routes of this area for tests/routes.py (see tests/routes.py for Route): the composer, its checks,
autosave, images and revision history."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route

# The smallest valid PNG (1×1): what an upload must look like.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def _post(p):
    from tests.approvals_factories import make_post
    from tests.inbox_factories import make_channel

    channel = make_channel(p.a, department="Communications", platform="mastodon")
    return {"pk": make_post(p.a, [channel]).pk}


def _media(p):
    from approvals.media import media_upload

    post_id = _post(p)["pk"]
    media = media_upload(actor=p.a.members["editor"], post_id=post_id, content=TINY_PNG, filename="pixel.png")
    return {"pk": media.pk}


ROUTES: dict = {
    "approvals:post_new": Route(methods={"GET": C.EDIT_POSTS, "POST": C.EDIT_POSTS}),
    "approvals:post_check": Route(methods={"POST": C.EDIT_POSTS}),
    "approvals:post_edit": Route(methods={"GET": C.EDIT_POSTS, "POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_autosave": Route(methods={"POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_media_upload": Route(methods={"POST": C.EDIT_POSTS}, target=_post),
    "approvals:post_media": Route(methods={"GET": C.VIEW}, target=_media),
    "approvals:post_revisions": Route(methods={"GET": C.VIEW}, target=_post),
}
