"""Routes of issue 6 §6 (retention settings, legal holds, erasure, records bundles) for tests/routes.py."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route


def _conversation(p):
    from tests.inbox_factories import make_channel, make_conversation

    channel = make_channel(p.a, department="Communications")
    return {"pk": make_conversation(p.a, channel=channel).pk}


def _contact(p):
    from inbox.models import Conversation

    return {"pk": Conversation.objects.get(pk=_conversation(p)["pk"]).contact_id}


def _post(p):
    from tests.approvals_factories import make_post
    from tests.inbox_factories import make_channel

    channel = make_channel(p.a, department="Communications", platform="mastodon")
    return {"pk": make_post(p.a, [channel]).pk}


ROUTES: dict = {
    "inbox:settings_retention": Route(methods={"GET": C.MANAGE_ORGANISATION, "POST": C.MANAGE_ORGANISATION}),
    "inbox:conversation_legal_hold": Route(
        methods={"GET": C.MANAGE_ORGANISATION, "POST": C.MANAGE_ORGANISATION}, target=_conversation
    ),
    "inbox:conversation_records": Route(methods={"GET": C.MANAGE_ORGANISATION}, target=_conversation),
    "inbox:contact_legal_hold": Route(methods={"GET": C.MANAGE_ORGANISATION, "POST": C.MANAGE_ORGANISATION}, target=_contact),
    "inbox:contact_erase": Route(methods={"GET": C.MANAGE_ORGANISATION, "POST": C.MANAGE_ORGANISATION}, target=_contact),
    "approvals:post_records": Route(methods={"GET": C.MANAGE_ORGANISATION}, target=_post),
}
