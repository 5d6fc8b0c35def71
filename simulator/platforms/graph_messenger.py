"""Page inbox on the simulated Graph API: Messenger and Instagram conversations (/{page-id}/conversations with
platform=instagram), their messages, and the Send API (POST /{page-id}/messages) with its 24-hour window.
Shapes follow cvs_info.json and message_info.json. The citizen writes to a Page or Instagram account with
POST /me/messages {recipient: {id}} (or POST /{page-id}/messages with the citizen's own token).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from simulator.platforms.graph_api import (
    MISSING,
    GraphError,
    fb_time,
    invalid_parameter,
    json_param,
    unsupported,
)

if TYPE_CHECKING:
    from simulator.platforms.graph import Viewer

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
STANDARD_WINDOW = 24 * 3600
HUMAN_AGENT_WINDOW = 7 * 24 * 3600
MESSENGER_TEXT_LIMIT = 2000
INSTAGRAM_TEXT_BYTES = 1000


class MessengerMixin:
    ROUTES = {
        ("page", "conversations", "GET"): "list_conversations",
        ("page", "messages", "POST"): "send_message",
        ("user", "messages", "POST"): "send_message",
        ("conversation", "messages", "GET"): "list_messages",
    }
    DEFAULT_FIELDS = {"conversation": ("id", "updated_time"), "message": ("id", "created_time")}
    EDGE_FIELDS = {"conversation": ("participants", "senders")}

    # ------------------------------------------------------------------------------------- delivery
    def conversation_for(self, page: dict[str, Any], platform: str, user_id: str) -> dict[str, Any]:
        for conversation in self.state["conversations"].values():
            if (conversation["page_id"], conversation["platform"], conversation["user_id"]) == (page["id"], platform, user_id):
                return conversation
        now = self.store.now()
        number = self.new_id()
        conversation = {"id": f"t_{number}", "page_id": page["id"], "platform": platform, "user_id": user_id,
                        "account_id": page["ig_id"] if platform == "instagram" else page["id"], "number": number,
                        "created": now, "updated": now}
        self.state["conversations"][conversation["id"]] = conversation
        return conversation

    def deliver_message(self, *, sender_id: str, page: dict[str, Any], platform: str, text: str,
                        recipient_id: str = "") -> dict[str, Any]:
        """A message between a person and a Page (or its Instagram account), in their one conversation."""
        account_id = page["ig_id"] if platform == "instagram" else page["id"]
        from_page = sender_id == account_id
        user_id = recipient_id if from_page else sender_id
        conversation = self.conversation_for(page, platform, user_id)
        now = self.store.now()
        message = {"id": "m_" + secrets.token_urlsafe(40), "conversation_id": conversation["id"], "from_id": sender_id,
                   "to_id": user_id if from_page else account_id, "text": text, "created": now, "order": int(self.new_id())}
        self.state["messages"][message["id"]] = message
        conversation["updated"] = now
        return message

    def messages_in(self, conversation: dict[str, Any]) -> list[dict[str, Any]]:
        messages = [m for m in self.state["messages"].values() if m["conversation_id"] == conversation["id"]]
        return sorted(messages, key=lambda m: (m["created"], m["order"]), reverse=True)

    # --------------------------------------------------------------------------------------- fields
    def person(self, conversation: dict[str, Any], actor_id: str, viewer: Viewer) -> dict[str, Any]:
        if conversation["platform"] == "instagram":
            account = self.state["ig_users"].get(actor_id, {"username": ""})
            return {"username": account["username"], "id": actor_id}
        named = self.state["pages"].get(actor_id) or self.state["users"].get(actor_id) or {"name": ""}
        return {"name": named["name"], "email": f"{actor_id}@facebook.com", "id": actor_id}

    def fields_conversation(self, conversation: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        messages = self.messages_in(conversation)
        people = [conversation["user_id"], conversation["account_id"]]
        unread = 0
        for message in messages:
            if message["from_id"] == conversation["account_id"]:
                break
            unread += 1
        return {
            "id": lambda f: conversation["id"],
            "link": lambda f: f"/{conversation['page_id']}/inbox/{conversation['number']}/",
            "updated_time": lambda f: fb_time(conversation["updated"]),
            "message_count": lambda f: len(messages),
            "unread_count": lambda f: unread,
            "snippet": lambda f: messages[0]["text"][:100] if messages else "",
            "can_reply": lambda f: True,
            "participants": lambda f: {"data": [self.person(conversation, p, viewer) for p in people]},
            "senders": lambda f: {"data": [self.person(conversation, p, viewer) for p in people]},
            "messages": lambda f: self.edge_field("message", messages, f, viewer),
        }

    def fields_message(self, message: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        conversation = self.state["conversations"][message["conversation_id"]]
        return {
            "id": lambda f: message["id"],
            "created_time": lambda f: fb_time(message["created"]),
            "message": lambda f: message["text"],
            "from": lambda f: self.person(conversation, message["from_id"], viewer),
            "to": lambda f: {"data": [self.person(conversation, message["to_id"], viewer)]},
            "tags": lambda f: {"data": [{"name": "inbox"}, {"name": "source:web"}]}
            if conversation["platform"] == "messenger" else MISSING,
        }

    # ---------------------------------------------------------------------------------------- reads
    def list_conversations(self, kind: str, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        platform = str(params.get("platform", "messenger")).lower()
        if platform not in ("messenger", "instagram"):
            raise invalid_parameter("platform must be one of the following values: messenger, instagram")
        self.require_page(viewer, page["id"], "instagram_manage_messages" if platform == "instagram" else "pages_messaging")
        conversations = [c for c in self.state["conversations"].values() if c["page_id"] == page["id"]
                         and c["platform"] == platform and (not params.get("user_id") or c["user_id"] == params["user_id"])]
        conversations.sort(key=lambda c: (c["updated"], c["number"]), reverse=True)
        return self.edge_response(request, params, "conversation", conversations, viewer)

    def list_messages(self, kind: str, conversation: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.require_page(viewer, conversation["page_id"])
        return self.edge_response(request, params, "message", self.messages_in(conversation), viewer)

    # --------------------------------------------------------------------------------------- writes
    def send_message(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        recipient = json_param(params, "recipient")
        text = str(json_param(params, "message").get("text", ""))
        if not text.strip():
            raise invalid_parameter("param message must be non-empty.")
        if viewer.kind == "page":
            if kind != "page":
                raise unsupported_send(obj["id"])
            return self.page_sends(obj, viewer, params, recipient, text)
        if viewer.kind != "user" or (kind == "user" and obj["id"] != viewer.user_id):
            raise unsupported_send(obj["id"])
        # A member of the public writes to a Page or to the Instagram account linked to it.
        target_id = str(recipient.get("id", "")) or (obj["id"] if kind == "page" else "")
        user = self.state["users"][viewer.user_id]
        if target_id in self.state["pages"]:
            page, platform, sender = self.state["pages"][target_id], "messenger", user["id"]
        else:
            account = self.state["ig_users"].get(target_id, {})
            if not account.get("page_id") or not user.get("ig_id"):
                raise GraphError(100, "(#100) No matching user found", subcode=2018001)
            page, platform, sender = self.state["pages"][account["page_id"]], "instagram", user["ig_id"]
        message = self.deliver_message(sender_id=sender, page=page, platform=platform, text=text)
        return {"recipient_id": target_id, "message_id": message["id"]}

    def page_sends(self, page: dict[str, Any], viewer: Viewer, params: dict[str, Any], recipient: dict[str, Any], text: str) -> Any:
        recipient_id = str(recipient.get("id", ""))
        if not recipient_id:
            raise invalid_parameter("param recipient must be non-empty.")
        if recipient_id in self.state["ig_users"] and not self.state["ig_users"][recipient_id]["page_id"]:
            platform = "instagram"
            self.require_page(viewer, page["id"], "instagram_manage_messages")
            if not page.get("ig_id"):
                raise GraphError(100, "(#100) No matching user found", subcode=2018001)
            if len(text.encode()) > INSTAGRAM_TEXT_BYTES:
                raise invalid_parameter(f"Length of param message[text] must be less than or equal to {INSTAGRAM_TEXT_BYTES} bytes")
        elif recipient_id in self.state["users"]:
            platform = "messenger"
            self.require_page(viewer, page["id"], "pages_messaging")
            if len(text) > MESSENGER_TEXT_LIMIT:
                raise invalid_parameter(f"Length of param message[text] must be less than or equal to {MESSENGER_TEXT_LIMIT}")
        else:
            raise GraphError(100, "(#100) No matching user found", subcode=2018001)
        messaging_type = str(params.get("messaging_type", "")).upper()
        if messaging_type not in MESSAGING_TYPES:
            raise invalid_parameter("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
        window = HUMAN_AGENT_WINDOW if messaging_type == "MESSAGE_TAG" and str(params.get("tag", "")).upper() == "HUMAN_AGENT" else STANDARD_WINDOW
        conversation = self.conversation_for(page, platform, recipient_id)
        last_from_person = next((m["created"] for m in self.messages_in(conversation) if m["from_id"] == recipient_id), None)
        if last_from_person is None or self.store.now() - last_from_person > window:
            raise GraphError(10, "(#10) This message is sent outside of allowed window. Learn more about the new policy "
                                 "here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
                             subcode=2018278)
        account_id = page["ig_id"] if platform == "instagram" else page["id"]
        message = self.deliver_message(sender_id=account_id, page=page, platform=platform, text=text, recipient_id=recipient_id)
        return {"recipient_id": recipient_id, "message_id": message["id"]}


def unsupported_send(object_id: str) -> GraphError:
    return unsupported("POST", object_id)
