"""Inbox routes of this area for tests/routes.py (see tests/routes.py for Route): the conversation page and its actions."""

from __future__ import annotations

from accounts.roles import Capability as C
from tests.routes import Route


def _conversation(p):
    from tests.inbox_factories import make_channel, make_conversation

    channel = make_channel(p.a, department="Communications")
    return {"pk": make_conversation(p.a, channel=channel).pk}


def _reply(state: str):
    def target(p):
        from inbox.models import Conversation, Reply

        conversation = Conversation.objects.get(pk=_conversation(p)["pk"])
        reply = Reply.objects.create(
            organisation=conversation.organisation, conversation=conversation, channel=conversation.channel,
            author=p.a.members["agent"].user, text="Thanks, we are on it.", state=state,
            last_error="Status is a duplicate." if state == "failed" else "",
        )
        return {"pk": reply.pk}

    return target


ROUTES: dict = {
    "inbox:conversation": Route(methods={"GET": C.VIEW}, target=_conversation),
    "inbox:reply": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:assign": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:status": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:tags": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:priority": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:note": Route(methods={"POST": C.WORK_INBOX}, target=_conversation),
    "inbox:reply_retry": Route(methods={"POST": C.WORK_INBOX}, target=_reply("failed")),
    "inbox:reply_approve": Route(methods={"POST": C.APPROVE_REPLIES}, target=_reply("awaiting_approval")),
    "inbox:reply_reject": Route(methods={"POST": C.APPROVE_REPLIES}, target=_reply("awaiting_approval")),
    "inbox:notifications": Route(methods={"GET": C.VIEW}),
    "inbox:notifications_read": Route(methods={"POST": C.VIEW}),
}
