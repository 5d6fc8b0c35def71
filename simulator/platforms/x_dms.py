"""Direct messages on the simulated X: one-to-one conversations named "<smaller id>-<larger id>", MessageCreate
events listed newest first (GET /2/dm_events has no since_id, as on X), and sending by participant or conversation.

Needs from the Sim: `state`, `store` and `_render_users()`.
"""

from __future__ import annotations

from typing import Any

from simulator.platforms.base import request_json
from simulator.platforms.x_protocol import (
    DM_EXPANSIONS,
    DM_QUERY,
    ApiCall,
    check_query,
    endpoint,
    forbidden,
    invalid,
    iso_time,
    paginate,
    requested_expansions,
    requested_fields,
)

MAX_DM_CHARACTERS = 10000


class DirectMessagesMixin:
    @endpoint(limit=300)
    def get_dm_events(self, call: ApiCall) -> dict:
        check_query(call, DM_QUERY)
        conversations = {c["id"] for c in self.state["dm_conversations"].values() if call.user_id in c["participant_ids"]}
        return self._dm_page(call, conversations)

    @endpoint(limit=300)
    def get_participant_dm_events(self, call: ApiCall, participant_id: str) -> dict:
        check_query(call, DM_QUERY)
        return self._dm_page(call, {one_to_one_id(call.user_id, participant_id)})

    @endpoint(limit=300)
    def get_conversation_dm_events(self, call: ApiCall, conversation_id: str) -> dict:
        check_query(call, DM_QUERY)
        conversation = self.state["dm_conversations"].get(conversation_id)
        if conversation is None or call.user_id not in conversation["participant_ids"]:
            return {"meta": {"result_count": 0}}
        return self._dm_page(call, {conversation_id})

    @endpoint(limit=200)
    def send_dm_to_participant(self, call: ApiCall, participant_id: str) -> tuple[dict, int]:
        if participant_id not in self.state["users"] or participant_id == call.user_id:
            raise invalid("participant_id", participant_id, f"The `participant_id` [{participant_id}] is not a user you can message")
        return self._send_dm(call, self._conversation_with(call.user_id, participant_id))

    @endpoint(limit=200)
    def send_dm_to_conversation(self, call: ApiCall, conversation_id: str) -> tuple[dict, int]:
        conversation = self.state["dm_conversations"].get(conversation_id)
        if conversation is None:
            users = conversation_id.split("-")
            if len(users) == 2 and call.user_id in users and all(u in self.state["users"] for u in users) and users[0] != users[1]:
                conversation = self._conversation_with(*users)
        if conversation is None or call.user_id not in conversation["participant_ids"]:
            raise forbidden("You are not a participant in this conversation.")
        return self._send_dm(call, conversation)

    def _send_dm(self, call: ApiCall, conversation: dict) -> tuple[dict, int]:
        body = request_json(call.request)
        text = body.get("text", "")
        attachments = body.get("attachments") or []
        if not isinstance(text, str) or (not text.strip() and not attachments):
            raise invalid("text", text, "A Direct Message must have text or an attachment.")
        if len(text) > MAX_DM_CHARACTERS:
            raise invalid("text", len(text), f"The length of the `text` field in the request body [{len(text)}] is not between 1 and 10000")
        event = self._add_dm(call.user_id, conversation, text)
        return {"data": {"dm_conversation_id": conversation["id"], "dm_event_id": event["id"]}}, 201

    def _dm_page(self, call: ApiCall, conversation_ids: set[str]) -> dict:
        args = call.request.args
        types = set(filter(None, args.get("event_types", "").split(","))) or {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}
        events = [e for e in self.state["dm_events"].values() if e["dm_conversation_id"] in conversation_ids and e["event_type"] in types]
        page, meta = paginate(call, events, low=1, high=100, default=100, newest_oldest=False)
        fields = requested_fields(call, "dm_event.fields")
        expansions = requested_expansions(call, DM_EXPANSIONS)
        body: dict[str, Any] = {}
        if page:
            body["data"] = [_render_dm(event, fields) for event in page]
            user_ids = []
            if "sender_id" in expansions:
                user_ids += [e["sender_id"] for e in page]
            if "participant_ids" in expansions:
                user_ids += [u for e in page for u in e.get("participant_ids", [])]
            users = self._render_users(call, user_ids)
            if users:
                body["includes"] = {"users": users}
        body["meta"] = meta
        return body

    def _conversation_with(self, one: str, other: str) -> dict:
        conversation_id = one_to_one_id(one, other)
        conversations = self.state["dm_conversations"]
        if conversation_id not in conversations:
            conversations[conversation_id] = {"id": conversation_id, "type": "OneToOne",
                                              "participant_ids": sorted([one, other], key=int)}
        return conversations[conversation_id]

    def _add_dm(self, sender_id: str, conversation: dict, text: str, at: float | None = None) -> dict:
        event_id = self.store.next_id()
        event = {"id": event_id, "event_type": "MessageCreate", "text": text, "sender_id": sender_id,
                 "dm_conversation_id": conversation["id"], "created_at": self.store.now() if at is None else at}
        self.state["dm_events"][event_id] = event
        return event


def one_to_one_id(one: str, other: str) -> str:
    """X names a one-to-one conversation by its two user ids, smaller first."""
    return "-".join(sorted([one, other], key=lambda u: int(u) if u.isdigit() else 0))


def _render_dm(event: dict, fields: set[str]) -> dict:
    out = {"id": event["id"], "event_type": event["event_type"], "text": event["text"]}
    for name in ("dm_conversation_id", "sender_id"):
        if name in fields:
            out[name] = event[name]
    if "created_at" in fields:
        out["created_at"] = iso_time(event["created_at"])
    return out
