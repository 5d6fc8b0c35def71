"""Inbox routes of this area for tests/routes.py (see tests/routes.py for Route): the /api/v1/ inbox resources."""

from accounts.roles import Capability as C
from tests.routes import Route


def _conversation(p):
    from tests.inbox_factories import make_channel, make_conversation

    channel = make_channel(p.a, "Communications")
    return {"pk": make_conversation(p.a, channel=channel).pk}


def _saved_reply(p):
    from inbox.models import SavedReply

    saved = SavedReply.objects.create(
        organisation=p.a.organisation,
        department=p.a.departments["Communications"],
        title="Bins",
        body="Hello {contact_name}, thank you for telling us.",
    )
    return {"pk": saved.pk}


WORK = C.WORK_INBOX

ROUTES: dict = {
    "api:conversation-list": Route(methods={"GET": None}),
    "api:conversation-detail": Route(methods={"GET": None}, target=_conversation),
    "api:conversation-messages": Route(methods={"GET": None}, target=_conversation),
    "api:conversation-replies": Route(methods={"GET": None, "POST": WORK}, target=_conversation),
    "api:conversation-notes": Route(methods={"GET": None, "POST": WORK}, target=_conversation),
    "api:conversation-assign": Route(methods={"POST": WORK}, target=_conversation),
    "api:conversation-status": Route(methods={"POST": WORK}, target=_conversation),
    "api:conversation-tags": Route(methods={"POST": WORK}, target=_conversation),
    "api:conversation-priority": Route(methods={"POST": WORK}, target=_conversation),
    "api:saved-reply-list": Route(methods={"GET": None, "POST": C.MANAGE_INBOX}),
    "api:saved-reply-detail": Route(
        methods={"GET": None, "PATCH": C.MANAGE_INBOX, "DELETE": C.MANAGE_INBOX}, target=_saved_reply
    ),
}
