"""Mastodon, answering as a real server does: the same paths, JSON shapes, Link-header pagination,
X-RateLimit-* headers and error bodies as the Mastodon.py cassettes in
../shared/platform-fixtures/mastodon (recorded from Mastodon 4.6.4), plus Doorkeeper's OAuth pages.

The instance's base URL is SIM_URL + "/mastodon". Seeded: the organisation accounts `democouncil`
and `demopolice` (with fixed tokens, DEMO_ACCOUNTS, so seed_demo connects them without a browser)
and the public account `citizen`, whose access token is `sim-citizen-token`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import regex
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import PlatformSim, json_response
from simulator.platforms.mastodon_entities import (
    DESCRIPTION_LIMIT,
    IDEMPOTENCY_SECONDS,
    IMAGE_SIZE_LIMIT,
    IMAGE_TYPES,
    MAX_CHARACTERS,
    MAX_MEDIA_ATTACHMENTS,
    MENTION,
    EntitiesMixin,
    image_size,
    mastodon_length,
)
from simulator.platforms.mastodon_http import (
    DUPLICATE,
    NOT_ALLOWED,
    NOT_FOUND,
    STATUS_NOT_FOUND,
    THROTTLES,
    ApiMixin,
    endpoint,
    error,
    iso_time,
    listed,
    params_of,
    truthy,
)
from simulator.platforms.mastodon_oauth import OOB, OAuthMixin

DEMO_CLIENT_ID = "sim-mastodon-demo-client"
DEMO_CLIENT_SECRET = "sim-mastodon-demo-secret"
CITIZEN_TOKEN = "sim-citizen-token"

# id, username, display name, note, synthetic followers beyond the seeded accounts
_ORGANISATIONS = [
    ("110000000000000001", "democouncil", "Demo Council", "Official account of Demo Council. Monitored 9am to 5pm.", 2480),
    ("110000000000000002", "demopolice", "Demo Police", "Demo Police. Do not report crime here: in an emergency call 999.", 5120),
]  # fmt: skip
_CITIZEN = ("110000000000000101", "citizen", "A Citizen", "Lives locally.", 12)

# What seed_demo needs to connect each organisation's demo channel without a browser. The handle has no
# domain: the caller appends "@" + the simulator's host (the connector's whoami() gives the full handle).
DEMO_ACCOUNTS = [
    {
        "handle": f"@{username}",
        "username": username,
        "account_id": account_id,
        "display_name": display_name,
        "credentials": {
            "access_token": f"sim-mastodon-{username}-token",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        },
    }
    for account_id, username, display_name, _note, _extra in _ORGANISATIONS
]

_SEED_POSTS = {
    "democouncil": [
        "Bin collections move to Tuesday next week because of the bank holiday. Check your street: https://democouncil.example/bins",
        "The library on Station Road reopens on Monday with longer opening hours. #libraries",
    ],
    "demopolice": [
        "Thank you to everyone who came to the community meeting in the park last night.",
        "Please lock your bikes: we have had reports of thefts near the station this week.",
    ],
}


class Sim(OAuthMixin, EntitiesMixin, ApiMixin, PlatformSim):
    name = "mastodon"
    prefix = "/mastodon"

    def seed(self) -> None:
        now = self.store.now()
        state = self.state
        state.update(
            accounts={}, tokens={}, apps={}, codes={}, statuses={}, media={}, notifications={},
            conversations={}, idempotency={}, ratelimits={}, seq=0,
        )  # fmt: skip
        for account_id, username, display_name, note, extra in [*_ORGANISATIONS, _CITIZEN]:
            state["accounts"][account_id] = {
                "id": account_id,
                "username": username,
                "display_name": display_name,
                "note": note,
                "created_at": now - 400 * 86400,
                "followers": [],
                "following": [],
                "extra_followers": extra,
                "bot": False,
            }
        state["apps"][DEMO_CLIENT_ID] = {
            "id": "1",
            "name": "Civic Desk",
            "website": None,
            "scopes": ["read", "write"],
            "redirect_uris": [OOB],
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        }
        for demo in DEMO_ACCOUNTS:
            self._grant(demo["credentials"]["access_token"], DEMO_CLIENT_ID, demo["account_id"], ["read", "write"])
        state["apps"]["sim-citizen-client"] = {
            "id": "2",
            "name": "Web",
            "website": None,
            "scopes": ["read", "write", "follow", "push"],
            "redirect_uris": [OOB],
            "client_id": "sim-citizen-client",
            "client_secret": secrets.token_urlsafe(24),
        }
        self._grant(CITIZEN_TOKEN, "sim-citizen-client", _CITIZEN[0], ["read", "write", "follow", "push"])
        for account_id, *_ in _ORGANISATIONS:
            self._follow(_CITIZEN[0], account_id, notify=False)
        for hours, (account_id, username, *_rest) in enumerate(_ORGANISATIONS):
            for index, text in enumerate(_SEED_POSTS[username]):
                self._create_status(
                    account_id, text, visibility="public", at=now - 3600 * (48 - 6 * index - hours), app="Civic Desk"
                )

    def _next_seq(self) -> str:
        self.state["seq"] += 1
        return str(self.state["seq"])

    def rules(self) -> list[Rule]:
        r = Rule
        return [
            r("/.well-known/oauth-authorization-server", endpoint="oauth_metadata", methods=["GET"]),
            r("/oauth/authorize", endpoint="oauth_authorize", methods=["GET", "POST"]),
            r("/oauth/token", endpoint="oauth_token", methods=["POST"]),
            r("/oauth/revoke", endpoint="oauth_revoke", methods=["POST"]),
            r("/api/v1/apps", endpoint="apps_create", methods=["POST"]),
            r("/api/v1/apps/verify_credentials", endpoint="apps_verify", methods=["GET"]),
            r("/api/v1/instance", endpoint="instance_v1", methods=["GET"]),
            r("/api/v2/instance", endpoint="instance_v2", methods=["GET"]),
            r("/api/v1/accounts/verify_credentials", endpoint="accounts_verify", methods=["GET"]),
            r("/api/v1/accounts/<account_id>", endpoint="accounts_show", methods=["GET"]),
            r("/api/v1/accounts/<account_id>/statuses", endpoint="accounts_statuses", methods=["GET"]),
            r("/api/v1/accounts/<account_id>/follow", endpoint="accounts_follow", methods=["POST"]),
            r("/api/v1/accounts/<account_id>/unfollow", endpoint="accounts_unfollow", methods=["POST"]),
            r("/api/v1/notifications", endpoint="notifications_index", methods=["GET"]),
            r("/api/v1/notifications/<notification_id>", endpoint="notifications_show", methods=["GET"]),
            r("/api/v1/statuses", endpoint="statuses_create", methods=["POST"]),
            r("/api/v1/statuses/<status_id>", endpoint="statuses_show", methods=["GET"]),
            r("/api/v1/statuses/<status_id>", endpoint="statuses_delete", methods=["DELETE"]),
            r("/api/v1/statuses/<status_id>/context", endpoint="statuses_context", methods=["GET"]),
            r("/api/v1/statuses/<status_id>/favourite", endpoint="statuses_favourite", methods=["POST"]),
            r("/api/v1/statuses/<status_id>/unfavourite", endpoint="statuses_unfavourite", methods=["POST"]),
            r("/api/v1/statuses/<status_id>/reblog", endpoint="statuses_reblog", methods=["POST"]),
            r("/api/v1/statuses/<status_id>/unreblog", endpoint="statuses_unreblog", methods=["POST"]),
            r("/api/v2/media", endpoint="media_create", methods=["POST"]),
            r("/api/v1/media", endpoint="media_create", methods=["POST"]),
            r("/api/v1/media/<media_id>", endpoint="media_show", methods=["GET"]),
            r("/system/media_attachments/files/<media_id>/original/<filename>", endpoint="media_file", methods=["GET"]),
            r("/api/v1/conversations", endpoint="conversations_index", methods=["GET"]),
            r("/api/v1/conversations/<conversation_id>/read", endpoint="conversations_read", methods=["POST"]),
        ]

    def fault_response(self, kind: str, *, reset_at: int) -> Response:
        if kind == "rate_limit":
            return self._too_many(THROTTLES["api"][0], reset_at)
        if kind == "expired_token":
            return self._unauthorized()
        if kind == "duplicate":
            return error(DUPLICATE, 422)
        return error("simulated server error", 503)

    def _viewer(self, grant: dict | None) -> str | None:
        return grant.get("account_id") if grant else None

    def _find_status(self, status_id: str, viewer_id: str | None, message: str = NOT_FOUND) -> dict | Response:
        status = self.state["statuses"].get(status_id)
        if status is None or not self._visible(status, viewer_id):
            return error(message, 404)
        return status

    def _create_status(
        self,
        account_id: str,
        text: str,
        *,
        visibility: str = "public",
        in_reply_to_id: str | None = None,
        media_ids: list[str] = (),
        language: str | None = "en",
        sensitive: bool = False,
        spoiler_text: str = "",
        app: str | None = None,
        at: float | None = None,
    ) -> dict:
        accounts = self.state["accounts"]
        usernames = {a["username"].lower(): a["id"] for a in accounts.values()}
        mentions = []
        for match in MENTION.finditer(text):
            mentioned = usernames.get(match.group(1).lower())
            if mentioned and mentioned not in mentions:
                mentions.append(mentioned)
        parent = self.state["statuses"].get(in_reply_to_id or "")
        status = {
            "id": self.store.next_id(),
            "account_id": account_id,
            "text": text,
            "visibility": visibility,
            "in_reply_to_id": parent["id"] if parent else None,
            "in_reply_to_account_id": parent["account_id"] if parent else None,
            "language": language,
            "sensitive": sensitive,
            "spoiler_text": spoiler_text,
            "media_ids": list(media_ids),
            "mentions": mentions,
            "favourited_by": [],
            "reblog_of_id": None,
            "application": {"name": app, "website": None} if app else None,
            "created_at": self.store.now() if at is None else at,
            "conversation_id": None,
        }
        self.state["statuses"][status["id"]] = status
        for media_id in media_ids:
            self.state["media"][media_id]["status_id"] = status["id"]
        if visibility == "direct":
            self._add_to_conversation(status, parent)
        for mentioned in mentions:
            if mentioned != account_id:
                self._notify(mentioned, "mention", account_id, status["id"])
        return status

    def _add_to_conversation(self, status: dict, parent: dict | None) -> None:
        conversations = self.state["conversations"]
        conversation = conversations.get((parent or {}).get("conversation_id") or "")
        if conversation is None:
            conversation = {"id": self._next_seq(), "participants": [], "status_ids": [], "unread_for": []}
            conversations[conversation["id"]] = conversation
        for participant in [status["account_id"], *status["mentions"]]:
            if participant not in conversation["participants"]:
                conversation["participants"].append(participant)
        conversation["status_ids"].append(status["id"])
        conversation["unread_for"] = [p for p in conversation["participants"] if p != status["account_id"]]
        status["conversation_id"] = conversation["id"]

    def _notify(self, account_id: str, kind: str, from_account_id: str, status_id: str | None) -> None:
        notification_id = self._next_seq()
        self.state["notifications"][notification_id] = {
            "id": notification_id,
            "account_id": account_id,
            "type": kind,
            "from_account_id": from_account_id,
            "status_id": status_id,
            "created_at": self.store.now(),
        }

    def _delete_status(self, status: dict) -> None:
        statuses = self.state["statuses"]
        gone = {status["id"]} | {s["id"] for s in statuses.values() if s.get("reblog_of_id") == status["id"]}
        for status_id in gone:
            statuses.pop(status_id, None)
        self.state["notifications"] = {
            k: n for k, n in self.state["notifications"].items() if n.get("status_id") not in gone
        }
        for conversation in self.state["conversations"].values():
            conversation["status_ids"] = [i for i in conversation["status_ids"] if i not in gone]

    def _favourite(self, account_id: str, status: dict) -> None:
        if account_id not in status["favourited_by"]:
            status["favourited_by"].append(account_id)
            if status["account_id"] != account_id:
                self._notify(status["account_id"], "favourite", account_id, status["id"])

    def _reblog(self, account_id: str, status: dict) -> dict:
        existing = [
            s
            for s in self.state["statuses"].values()
            if s.get("reblog_of_id") == status["id"] and s["account_id"] == account_id
        ]
        if existing:
            return existing[0]
        wrapper = self._create_status(account_id, "", visibility=status["visibility"], language=None)
        wrapper.update(reblog_of_id=status["id"], mentions=[])
        if status["account_id"] != account_id:
            self._notify(status["account_id"], "reblog", account_id, status["id"])
        return wrapper

    def _follow(self, follower_id: str, target_id: str, *, notify: bool = True) -> None:
        target = self.state["accounts"][target_id]
        if follower_id not in target["followers"]:
            target["followers"].append(follower_id)
            self.state["accounts"][follower_id]["following"].append(target_id)
            if notify:
                self._notify(target_id, "follow", follower_id, None)

    @endpoint()
    def instance_v2(self, request: Request, grant: dict | None) -> Response:
        return json_response(self._instance_v2_json(self._base(request), request.host))

    @endpoint()
    def instance_v1(self, request: Request, grant: dict | None) -> Response:
        return json_response(self._instance_v1_json(self._base(request), request.host))

    @endpoint("read:accounts")
    def accounts_verify(self, request: Request, grant: dict) -> Response:
        account = self.state["accounts"][grant["account_id"]]
        return json_response(self._credential_account_json(account, self._base(request)))

    @endpoint()
    def accounts_show(self, request: Request, grant: dict | None, account_id: str) -> Response:
        account = self.state["accounts"].get(account_id)
        if account is None:
            return error(NOT_FOUND, 404)
        return json_response(self._account_json(account, self._base(request)))

    @endpoint()
    def accounts_statuses(self, request: Request, grant: dict | None, account_id: str) -> Response:
        if account_id not in self.state["accounts"]:
            return error(NOT_FOUND, 404)
        viewer = self._viewer(grant)
        items = [
            s
            for s in self.state["statuses"].values()
            if s["account_id"] == account_id
            and self._visible(s, viewer)
            and not (truthy(request.args.get("exclude_replies")) and s["in_reply_to_id"])
            and not (truthy(request.args.get("exclude_reblogs")) and s.get("reblog_of_id"))
        ]
        page, headers = self._paginate(
            request, items, lambda s: s["id"], default=20, maximum=40, next_only_when_full=True
        )
        base = self._base(request)
        return json_response([self._status_json(s, base, viewer) for s in page], headers=headers)

    @endpoint("write:follows")
    def accounts_follow(self, request: Request, grant: dict, account_id: str) -> Response:
        if account_id not in self.state["accounts"]:
            return error(NOT_FOUND, 404)
        if account_id == grant["account_id"]:
            return error(NOT_ALLOWED, 403)
        self._follow(grant["account_id"], account_id)
        return json_response(self._relationship(grant["account_id"], account_id))

    @endpoint("write:follows")
    def accounts_unfollow(self, request: Request, grant: dict, account_id: str) -> Response:
        target = self.state["accounts"].get(account_id)
        if target is None:
            return error(NOT_FOUND, 404)
        viewer = grant["account_id"]
        if viewer in target["followers"]:
            target["followers"].remove(viewer)
            self.state["accounts"][viewer]["following"].remove(account_id)
        return json_response(self._relationship(viewer, account_id))

    def _notifications_for(self, viewer: str) -> list[dict]:
        return [n for n in self.state["notifications"].values() if n["account_id"] == viewer]

    @endpoint("read:notifications")
    def notifications_index(self, request: Request, grant: dict) -> Response:
        viewer = grant["account_id"]
        params = params_of(request)
        types, excluded = set(listed(params, "types")), set(listed(params, "exclude_types"))
        items = [
            n
            for n in self._notifications_for(viewer)
            if (not types or n["type"] in types)
            and n["type"] not in excluded
            and (not params.get("account_id") or n["from_account_id"] == params.get("account_id"))
        ]
        page, headers = self._paginate(request, items, lambda n: n["id"], default=40, maximum=80)
        base = self._base(request)
        return json_response([self._notification_json(n, base, viewer) for n in page], headers=headers)

    @endpoint("read:notifications")
    def notifications_show(self, request: Request, grant: dict, notification_id: str) -> Response:
        notification = self.state["notifications"].get(notification_id)
        if notification is None or notification["account_id"] != grant["account_id"]:
            return error(NOT_FOUND, 404)
        return json_response(self._notification_json(notification, self._base(request), grant["account_id"]))

    @endpoint("write:statuses", family="statuses")
    def statuses_create(self, request: Request, grant: dict) -> Response:
        viewer = grant["account_id"]
        params = params_of(request)
        key = request.headers.get("Idempotency-Key", "")
        remembered_key = f"{viewer}:{key}"
        if key:
            remembered = self.state["idempotency"].get(remembered_key)
            if remembered and remembered["at"] > self.store.now() - IDEMPOTENCY_SECONDS:
                status = self.state["statuses"].get(remembered["status_id"])
                if status is not None:
                    return json_response(self._status_json(status, self._base(request), viewer))
        text = params.get("status") or ""
        media_ids = listed(params, "media_ids")
        visibility = params.get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            return error("Validation failed: Visibility is not included in the list", 422)
        if not text.strip() and not media_ids:
            return error("Validation failed: Text can't be blank", 422)
        if mastodon_length(text) > MAX_CHARACTERS:
            return error(f"Validation failed: Text character limit of {MAX_CHARACTERS} exceeded", 422)
        if len(media_ids) > MAX_MEDIA_ATTACHMENTS:
            return error(f"Cannot attach more than {MAX_MEDIA_ATTACHMENTS} files", 422)
        for media_id in media_ids:
            media = self.state["media"].get(media_id)
            if media is None or media["account_id"] != viewer or media.get("status_id"):
                return error(f"Media {media_id} not found", 422)
        in_reply_to_id = params.get("in_reply_to_id") or None
        if in_reply_to_id:
            parent = self._find_status(in_reply_to_id, viewer)
            if isinstance(parent, Response):
                return parent
        app = self.state["apps"].get(grant["client_id"], {}).get("name")
        status = self._create_status(
            viewer,
            text,
            visibility=visibility,
            in_reply_to_id=in_reply_to_id,
            media_ids=media_ids,
            language=params.get("language") or "en",
            sensitive=truthy(params.get("sensitive", "")),
            spoiler_text=params.get("spoiler_text") or "",
            app=app,
        )
        if key:
            self.state["idempotency"][remembered_key] = {"status_id": status["id"], "at": self.store.now()}
        return json_response(self._status_json(status, self._base(request), viewer))

    @endpoint()
    def statuses_show(self, request: Request, grant: dict | None, status_id: str) -> Response:
        viewer = self._viewer(grant)
        status = self._find_status(status_id, viewer, STATUS_NOT_FOUND)
        if isinstance(status, Response):
            return status
        return json_response(self._status_json(status, self._base(request), viewer))

    @endpoint("write:statuses", family="deletes")
    def statuses_delete(self, request: Request, grant: dict, status_id: str) -> Response:
        viewer = grant["account_id"]
        status = self._find_status(status_id, viewer)
        if isinstance(status, Response):
            return status
        if status["account_id"] != viewer:
            return error(NOT_ALLOWED, 403)
        # The answer is the deleted status with its source `text` (for "delete and redraft"), not `content`.
        body = self._status_json(status, self._base(request), viewer, source=True)
        self._delete_status(status)
        return json_response(body)

    @endpoint()
    def statuses_context(self, request: Request, grant: dict | None, status_id: str) -> Response:
        viewer = self._viewer(grant)
        status = self._find_status(status_id, viewer)
        if isinstance(status, Response):
            return status
        statuses = self.state["statuses"]
        ancestors, parent = [], statuses.get(status["in_reply_to_id"] or "")
        while parent is not None and len(ancestors) < 40:
            if self._visible(parent, viewer):
                ancestors.insert(0, parent)
            parent = statuses.get(parent["in_reply_to_id"] or "")
        children: dict[str, list[dict]] = {}
        for s in statuses.values():
            if s["in_reply_to_id"]:
                children.setdefault(s["in_reply_to_id"], []).append(s)
        descendants: list[dict] = []

        def walk(parent_id: str) -> None:
            for child in sorted(children.get(parent_id, []), key=lambda s: int(s["id"])):
                if self._visible(child, viewer):
                    descendants.append(child)
                walk(child["id"])

        walk(status["id"])
        base = self._base(request)
        return json_response(
            {
                "ancestors": [self._status_json(s, base, viewer) for s in ancestors],
                "descendants": [self._status_json(s, base, viewer) for s in descendants],
            }
        )

    @endpoint("write:favourites")
    def statuses_favourite(self, request: Request, grant: dict, status_id: str) -> Response:
        status = self._find_status(status_id, grant["account_id"])
        if isinstance(status, Response):
            return status
        self._favourite(grant["account_id"], status)
        return json_response(self._status_json(status, self._base(request), grant["account_id"]))

    @endpoint("write:favourites")
    def statuses_unfavourite(self, request: Request, grant: dict, status_id: str) -> Response:
        status = self._find_status(status_id, grant["account_id"])
        if isinstance(status, Response):
            return status
        if grant["account_id"] in status["favourited_by"]:
            status["favourited_by"].remove(grant["account_id"])
        return json_response(self._status_json(status, self._base(request), grant["account_id"]))

    @endpoint("write:statuses")
    def statuses_reblog(self, request: Request, grant: dict, status_id: str) -> Response:
        status = self._find_status(status_id, grant["account_id"])
        if isinstance(status, Response):
            return status
        if status["visibility"] not in ("public", "unlisted") or status.get("reblog_of_id"):
            return error(NOT_ALLOWED, 403)
        wrapper = self._reblog(grant["account_id"], status)
        return json_response(self._status_json(wrapper, self._base(request), grant["account_id"]))

    @endpoint("write:statuses", family="deletes")
    def statuses_unreblog(self, request: Request, grant: dict, status_id: str) -> Response:
        status = self._find_status(status_id, grant["account_id"])
        if isinstance(status, Response):
            return status
        for wrapper in [s for s in self.state["statuses"].values() if s.get("reblog_of_id") == status_id]:
            if wrapper["account_id"] == grant["account_id"]:
                self.state["statuses"].pop(wrapper["id"])
        return json_response(self._status_json(status, self._base(request), grant["account_id"]))

    @endpoint("write:media", family="media")
    def media_create(self, request: Request, grant: dict) -> Response:
        upload = request.files.get("file")
        if upload is None:
            return error("Validation failed: File can't be blank", 422)
        data = upload.read()
        mime = upload.mimetype or ""
        if mime not in IMAGE_TYPES:
            return error("Validation failed: File content type is invalid, File is invalid", 422)
        if len(data) > IMAGE_SIZE_LIMIT:
            return error("Validation failed: File file size must be less than 16 MB", 422)
        description = params_of(request).get("description") or ""
        if len(description) > DESCRIPTION_LIMIT:
            return error(f"Validation failed: Description is too long (maximum is {DESCRIPTION_LIMIT} characters)", 422)
        media_id = self.store.next_id()
        extension = mime.split("/")[1].replace("jpeg", "jpg")
        size = image_size(data)
        self.state["media"][media_id] = {
            "id": media_id,
            "account_id": grant["account_id"],
            "mime_type": mime,
            "filename": f"{hashlib.sha256(data).hexdigest()[:16]}.{extension}",
            "description": description or None,
            "size": len(data),
            "width": size[0] if size else None,
            "height": size[1] if size else None,
            "content": base64.b64encode(data).decode(),
            "status_id": None,
            "created_at": self.store.now(),
        }
        return json_response(self._media_json(self.state["media"][media_id], self._base(request)))

    @endpoint("read:statuses")
    def media_show(self, request: Request, grant: dict, media_id: str) -> Response:
        media = self.state["media"].get(media_id)
        if media is None or media["account_id"] != grant["account_id"]:
            return error(NOT_FOUND, 404)
        return json_response(self._media_json(media, self._base(request)))

    def media_file(self, request: Request, media_id: str, filename: str) -> Response:
        media = self.state["media"].get(media_id)
        if media is None or media["filename"] != filename:
            return Response("Not found", status=404, mimetype="text/plain")
        return Response(base64.b64decode(media["content"]), mimetype=media["mime_type"])

    @endpoint("read:statuses")
    def conversations_index(self, request: Request, grant: dict) -> Response:
        viewer, base = grant["account_id"], self._base(request)
        bodies = []
        for conversation in self.state["conversations"].values():
            if viewer in conversation["participants"]:
                body = self._conversation_json(conversation, viewer, base)
                if body is not None:
                    bodies.append(body)
        # Mastodon pages conversations by the id of their last status.
        page, headers = self._paginate(
            request, bodies, lambda c: c["last_status"]["id"], default=20, maximum=40, next_only_when_full=True
        )
        return json_response(page, headers=headers)

    @endpoint("write:conversations")
    def conversations_read(self, request: Request, grant: dict, conversation_id: str) -> Response:
        viewer = grant["account_id"]
        conversation = self.state["conversations"].get(conversation_id)
        if conversation is None or viewer not in conversation["participants"]:
            return error(NOT_FOUND, 404)
        conversation["unread_for"] = [p for p in conversation["unread_for"] if p != viewer]
        body = self._conversation_json(conversation, viewer, self._base(request))
        return json_response(body) if body else error(NOT_FOUND, 404)

    def public_accounts(self) -> list[dict[str, str]]:
        return [{"id": _CITIZEN[0], "handle": f"@{_CITIZEN[1]}"}]

    def organisation_accounts(self) -> list[dict[str, str]]:
        return [{"id": a[0], "handle": f"@{a[1]}"} for a in _ORGANISATIONS]

    def public_write(
        self, *, kind: str, author_id: str, target_account_id: str, text: str, in_reply_to: str = ""
    ) -> str:
        accounts = self.state["accounts"]
        if author_id not in {a["id"] for a in self.public_accounts()}:
            raise ValueError("choose a member of the public to write as")
        target = accounts.get(target_account_id)
        if target is None or target_account_id not in {a[0] for a in _ORGANISATIONS}:
            raise ValueError("choose an organisation's account")
        if not regex.search(rf"(?<![\w])@{regex.escape(target['username'])}\b", text, regex.I):
            text = f"@{target['username']} {text}"
        if kind == "mention":
            return self._create_status(author_id, text, app="Web")["id"]
        if kind == "comment":
            own = [
                s
                for s in self.state["statuses"].values()
                if s["account_id"] == target_account_id and s["visibility"] == "public"
            ]
            if in_reply_to:
                parent = self.state["statuses"].get(in_reply_to.strip())
                if parent is None or parent["account_id"] != target_account_id:
                    raise ValueError(f"post {in_reply_to} is not one of {target['username']}'s posts")
            elif own:
                parent = max(own, key=lambda s: int(s["id"]))
            else:
                raise ValueError(f"{target['username']} has not posted anything to comment on yet")
            return self._create_status(
                author_id, text, in_reply_to_id=parent["id"], visibility=parent["visibility"], app="Web"
            )["id"]
        if kind == "dm":
            # Carry on the latest private conversation between the two, as a person replying in the thread would.
            shared = [
                c for c in self.state["conversations"].values()
                if set(c["participants"]) == {author_id, target_account_id} and c["status_ids"]
            ]  # fmt: skip
            parent_id = max(shared, key=lambda c: int(c["status_ids"][-1]))["status_ids"][-1] if shared else None
            return self._create_status(author_id, text, visibility="direct", in_reply_to_id=parent_id, app="Web")["id"]
        raise ValueError(f"unknown action {kind!r}")

    def public_react(self, *, kind: str, author_id: str, post_id: str) -> None:
        if author_id not in {a["id"] for a in self.public_accounts()}:
            raise ValueError("choose a member of the public")
        status = self.state["statuses"].get(post_id.strip())
        if status is None or not self._visible(status, author_id):
            raise ValueError(f"there is no post {post_id}")
        if kind == "like":
            self._favourite(author_id, status)
        elif kind == "repost":
            if status["visibility"] not in ("public", "unlisted"):
                raise ValueError("only public posts can be boosted")
            self._reblog(author_id, status)
        else:
            raise ValueError(f"unknown reaction {kind!r}")

    def recent_activity(self, target_account_id: str, limit: int = 20) -> list[dict[str, str]]:
        own = [
            s for s in self.state["statuses"].values()
            if s["account_id"] == target_account_id and not s.get("reblog_of_id")
        ]  # fmt: skip
        own.sort(key=lambda s: int(s["id"]), reverse=True)
        return [
            {
                "id": s["id"],
                "text": s["text"],
                "kind": "dm" if s["visibility"] == "direct" else ("reply" if s["in_reply_to_id"] else "post"),
                "created_at": iso_time(s["created_at"]),
            }
            for s in own[:limit]
        ]
