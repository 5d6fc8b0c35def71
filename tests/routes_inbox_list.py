"""Inbox routes of this area for tests/routes.py (see tests/routes.py for Route)."""

from accounts.roles import Capability as C
from tests.routes import Route


def _conversation(p):
    from tests.inbox_factories import make_channel, make_conversation

    conversation = make_conversation(p.a, channel=make_channel(p.a, "Communications"))
    return {"pk": conversation.pk}


ROUTES: dict = {
    "inbox:list": Route(methods={"GET": C.VIEW}),
    "inbox:list_updates": Route(methods={"GET": C.VIEW}),
    "inbox:bulk": Route(methods={"POST": C.WORK_INBOX}),
    "inbox:presence": Route(methods={"POST": C.VIEW}, target=_conversation),
}
