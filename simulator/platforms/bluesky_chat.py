"""chat.bsky.convo for the simulator's Sim: direct conversations between two accounts, newest message first."""

from __future__ import annotations

from typing import Any

import regex

from simulator.platforms.base import request_json
from simulator.platforms.bluesky_records import XrpcCall, XrpcError, iso_time, page_limit


class ChatMixin:
    """Conversations and messages. Needs `state`, `store` (PlatformSim), `_tid` and `_profile` (RecordsMixin)."""

    def list_convos(self, call: XrpcCall) -> dict:
        args = call.request.args
        limit = page_limit(args)
        status, read_state = args.get("status"), args.get("readState")
        convos = [c for c in self.state["convos"].values() if call.viewer in c["members"] and c["messages"]]
        convos = [c for c in convos if (not status or _convo_status(c, call.viewer) == status)
                  and (read_state != "unread" or _unread(c, call.viewer))]
        convos.sort(key=lambda c: c["rev"], reverse=True)
        if args.get("cursor"):
            convos = [c for c in convos if c["rev"] < args["cursor"]]
        page = convos[:limit]
        body: dict[str, Any] = {"convos": [self._convo_view(c, call) for c in page]}
        if len(convos) > limit:
            body["cursor"] = page[-1]["rev"]
        return body

    def get_convo_for_members(self, call: XrpcCall) -> dict:
        members = set(call.request.args.getlist("members")) | {call.viewer}
        if len(members) != 2 or any(member not in self.state["accounts"] for member in members):
            raise XrpcError(400, "InvalidRequest", "A direct conversation needs exactly one other existing account")
        return {"convo": self._convo_view(self._convo_for(sorted(members), started_by=call.viewer), call)}

    def get_messages(self, call: XrpcCall) -> dict:
        args = call.request.args
        convo = self._member_convo(args.get("convoId", ""), call.viewer)
        limit = page_limit(args)
        messages = sorted(convo["messages"], key=lambda m: m["rev"], reverse=True)
        if args.get("cursor"):
            messages = [m for m in messages if m["rev"] < args["cursor"]]
        page = messages[:limit]
        body: dict[str, Any] = {"messages": [_message_view(m) for m in page]}
        if len(messages) > limit:
            body["cursor"] = page[-1]["rev"]
        return body

    def send_message(self, call: XrpcCall) -> dict:
        body = request_json(call.request)
        convo = self._member_convo(str(body.get("convoId", "")), call.viewer)
        message = body.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            raise XrpcError(400, "InvalidRequest", 'Input must have the property "message"')
        if not message["text"].strip():
            raise XrpcError(400, "InvalidRequest", "Message text cannot be empty")
        if len(regex.findall(r"\X", message["text"])) > 1000:
            raise XrpcError(400, "InvalidRequest", "Input/message/text must not be longer than 1000 graphemes")
        return _message_view(self._add_message(convo, call.viewer, message["text"], message.get("facets")))

    def _member_convo(self, convo_id: str, viewer: str) -> dict:
        convo = self.state["convos"].get(convo_id)
        if convo is None or viewer not in convo["members"]:
            raise XrpcError(400, "InvalidConvo", "Convo not found")
        return convo

    def _convo_for(self, members: list[str], *, started_by: str) -> dict:
        for convo in self.state["convos"].values():
            if sorted(convo["members"]) == sorted(members):
                return convo
        convo_id = self._tid()
        convo = {"id": convo_id, "rev": convo_id, "members": list(members), "messages": [], "read": {}, "started_by": started_by}
        self.state["convos"][convo_id] = convo
        return convo

    def _add_message(self, convo: dict, sender: str, text: str, facets: list | None = None) -> dict:
        rev = self._tid()
        message = {"id": rev, "rev": rev, "text": text, "sender": {"did": sender}, "sentAt": iso_time(self.store.now())}
        if facets:
            message["facets"] = facets
        convo["messages"].append(message)
        convo["rev"] = rev
        convo["read"][sender] = rev
        return message

    def _convo_view(self, convo: dict, call: XrpcCall) -> dict:
        view = {"id": convo["id"], "rev": convo["rev"],
                "members": [self._profile(member, call.base, "chat") for member in convo["members"]]}
        if convo["messages"]:
            view["lastMessage"] = _message_view(convo["messages"][-1])
        view.update(muted=False, status=_convo_status(convo, call.viewer), unreadCount=_unread(convo, call.viewer))
        return view


def _message_view(message: dict) -> dict:
    return {"$type": "chat.bsky.convo.defs#messageView", **message}


def _unread(convo: dict, viewer: str) -> int:
    seen = convo["read"].get(viewer, "")
    return sum(1 for m in convo["messages"] if m["sender"]["did"] != viewer and m["rev"] > seen)


def _convo_status(convo: dict, viewer: str) -> str:
    # A conversation someone else started is a request until the viewer writes in it.
    if convo["started_by"] == viewer or any(m["sender"]["did"] == viewer for m in convo["messages"]):
        return "accepted"
    return "request"
