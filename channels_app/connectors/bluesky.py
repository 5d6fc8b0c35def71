"""Bluesky over XRPC with plain `requests`, against the channel's PDS/service URL.

Credentials are the handle (or DID) and an app password plus the current session (did, handle, accessJwt,
refreshJwt). A session is created on first use; when the PDS answers ExpiredToken the session is refreshed
(refresh tokens are single use) and the call is retried once. If the refresh token is refused too (it was
spent by another worker, or it expired) a new session is created from the app password, so only a revoked app
password makes the channel need reconnecting. After any of that, `updated_credentials` holds what the caller
must store.

Inbound: mentions, replies and quotes from app.bsky.notification.listNotifications, direct messages from
chat.bsky.convo (through the PDS with the atproto-proxy header, as the reference client does). The
notification API pages backwards from the newest, so each stream's cursor is a watermark: the (time, id) of
the newest item already taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import regex
import requests
from requests.structures import CaseInsensitiveDict

from channels_app.connectors.base import (
    Account,
    AccountStats,
    AuthExpired,
    Connector,
    ConnectorError,
    DuplicatePost,
    InboundBatch,
    InboundItem,
    MediaItem,
    PermanentError,
    PostMetrics,
    Published,
    RateLimited,
    TransientError,
    for_write,
    request_failure,
    reset_from_epoch,
    same_text,
)
from channels_app.text import FACET_MENTION, bluesky_facets, validate_text

POST = "app.bsky.feed.post"
MESSAGE_VIEW = "chat.bsky.convo.defs#messageView"
# Chat lives on a separate service; the PDS forwards calls that name it in this header.
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
INBOUND_REASONS = ("mention", "reply", "quote")
AUTH_ERRORS = {"AuthenticationRequired", "InvalidToken", "ExpiredToken", "AccountTakedown", "AccountDeactivated",
               "AccountSuspended"}
PAGE_SIZE = 100
# Pages read per stream in one poll; the first poll of a channel takes only the newest page.
MAX_PAGES = 10
FIRST_POLL_CONVOS = 25
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000
MAX_DM_GRAPHEMES = 1000
_GRAPHEME = regex.compile(r"\X")


class TokenExpired(AuthExpired):
    """The access (or refresh) token is past its time: renewable, unlike the other AuthExpired causes."""


# ------------------------------------------------------------------------------------------ connector
class BlueskyConnector(Connector):
    platform = "bluesky"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.credentials = dict(self.credentials or {})
        # Set whenever a session is created or refreshed: the caller stores these in place of the old ones.
        self.updated_credentials: dict | None = None
        self._http = requests.Session()
        self._quota_remaining: int | None = None
        self._quota_reset: datetime | None = None

    @property
    def did(self) -> str:
        return self.credentials.get("did") or self.account_id

    # ---------------------------------------------------------------------------------- reads
    def whoami(self) -> Account:
        session = self._call("GET", "com.atproto.server.getSession")
        did, handle = session.get("did", ""), session.get("handle", "")
        if not did or not handle:
            raise PermanentError("Bluesky did not say which account this session belongs to.")
        if handle != self.credentials.get("handle"):
            self._adopt({**self.credentials, "did": did, "handle": handle})
        profile = self._call("GET", "app.bsky.actor.getProfile", params={"actor": did})
        return Account(account_id=did, handle=handle, display_name=profile.get("displayName") or "",
                       avatar_url=profile.get("avatar") or "")

    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch:
        cursor = dict(cursor or {})
        mentions, cursor["notifications"] = self._notifications_since(cursor.get("notifications", ""))
        dms, cursor["dms"] = self._messages_since(cursor.get("dms", ""))
        items = sorted(mentions + dms, key=lambda item: item.created_at)
        return InboundBatch(items=items, cursor={stream: mark for stream, mark in cursor.items() if mark})

    def post_metrics(self, platform_id: str) -> PostMetrics:
        return parse_post_metrics(self._post_view(platform_id))

    def account_stats(self) -> AccountStats:
        self._ensure_session()
        return parse_account_stats(self._call("GET", "app.bsky.actor.getProfile", params={"actor": self.did}))

    # --------------------------------------------------------------------------------- writes
    def reply(self, *, in_reply_to: str, text: str) -> Published:
        parent = self._post_view(in_reply_to)
        parent_ref = {"uri": parent["uri"], "cid": parent["cid"]}
        root = ((parent.get("record") or {}).get("reply") or {}).get("root") or parent_ref
        return self._create_post(text, reply={"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent_ref})

    def publish(self, *, text: str, media: Sequence[MediaItem] = (), link: str = "",
                idempotency_key: str | None = None) -> Published:
        # Bluesky has no idempotency key: an ambiguous failure is settled by find_post before any retry.
        media = list(media)
        if len(media) > MAX_IMAGES:
            raise PermanentError(f"A Bluesky post can carry at most {MAX_IMAGES} images.")
        for item in media:
            if not item.mime_type.startswith("image/"):
                raise PermanentError(f"Bluesky posts take images only, not {item.mime_type}.")
            if len(item.content) > MAX_IMAGE_BYTES:
                raise PermanentError(f"Each image on Bluesky must be under {MAX_IMAGE_BYTES // 1_000_000} MB.")
        # A post has one embed: with images the link stays in the text (as a link facet), without them it is a card.
        if media and link and link not in text:
            text = f"{text}\n\n{link}" if text.strip() else link
        _check_text(text, has_image=bool(media))
        if media:
            embed = {"$type": "app.bsky.embed.images",
                     "images": [{"alt": item.alt_text or "", "image": self._upload_blob(item)} for item in media]}
        elif link:
            embed = {"$type": "app.bsky.embed.external", "external": {"uri": link, "title": _link_title(link), "description": ""}}
        else:
            embed = None
        return self._create_post(text, embed=embed, has_image=bool(media))

    def delete(self, platform_id: str) -> None:
        repo, collection, rkey = parse_at_uri(platform_id)
        self._ensure_session()
        if repo != self.did:
            raise PermanentError("That Bluesky post belongs to another account, so this channel cannot delete it.")
        self._call("POST", "com.atproto.repo.deleteRecord", json={"repo": self.did, "collection": collection, "rkey": rkey})

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published:
        if not text.strip():
            raise PermanentError("Write something: a Bluesky message can't be empty.")
        if len(_GRAPHEME.findall(text)) > MAX_DM_GRAPHEMES:
            raise PermanentError(f"A Bluesky message can be at most {MAX_DM_GRAPHEMES:,} characters.")
        convo_id = conversation_key
        if not convo_id:
            if not recipient_id:
                raise PermanentError("A direct message needs a conversation or a recipient.")
            convo = self._call("GET", "chat.bsky.convo.getConvoForMembers", params={"members": [recipient_id]}, chat=True)
            convo_id = (convo.get("convo") or {}).get("id", "")
        message: dict[str, Any] = {"text": text}
        facets = self._resolve_facets(bluesky_facets(text))
        if facets:
            message["facets"] = facets
        sent = self._call("POST", "chat.bsky.convo.sendMessage", json={"convoId": convo_id, "message": message}, chat=True)
        return Published(platform_id=sent.get("id", ""), url=f"https://bsky.app/messages/{convo_id}")

    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        self._ensure_session()
        thread = self._call("GET", "app.bsky.feed.getPostThread", params={"uri": in_reply_to, "depth": 1}).get("thread") or {}
        for node in thread.get("replies") or []:
            post = node.get("post") or {}
            if (post.get("author") or {}).get("did") == self.did and same_text(text, (post.get("record") or {}).get("text", "")):
                return Published(platform_id=post["uri"], url=post_url(self.credentials.get("handle") or self.did, post["uri"]))
        return None

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        self._ensure_session()
        body = self._call("GET", "app.bsky.feed.getAuthorFeed",
                          params={"actor": self.did, "limit": PAGE_SIZE, "filter": "posts_no_replies"})
        for item in body.get("feed") or []:
            post = item.get("post") or {}
            record = post.get("record") or {}
            # A repost of someone else's post carries a reason; a reply is not a post of ours.
            if item.get("reason") or record.get("reply") or (post.get("author") or {}).get("did") != self.did:
                continue
            # createdAt is the client's clock, indexedAt the server's: too old only if both say so.
            times = [t for t in (_parse_time(record.get("createdAt")), _parse_time(post.get("indexedAt"))) if t]
            if since is not None and times and max(times) < since:
                continue
            if same_text(text, record.get("text", "")):
                return Published(platform_id=post["uri"], url=post_url(self.credentials.get("handle") or self.did, post["uri"]))
        return None

    def find_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published | None:
        self._ensure_session()
        if not conversation_key and recipient_id:
            # A message to someone from a public conversation went into the conversation with that member.
            convo = self._call("GET", "chat.bsky.convo.getConvoForMembers", params={"members": [recipient_id]}, chat=True)
            conversation_key = (convo.get("convo") or {}).get("id", "")
        if not conversation_key:
            return None
        body = self._call("GET", "chat.bsky.convo.getMessages", params={"convoId": conversation_key, "limit": PAGE_SIZE},
                          chat=True)
        for message in body.get("messages") or []:
            if (message.get("sender") or {}).get("did") == self.did and same_text(text, message.get("text", "")):
                return Published(platform_id=message.get("id", ""), url=f"https://bsky.app/messages/{conversation_key}")
        return None

    def revoke(self) -> bool:
        """Ends the session at the PDS (on disconnect). The app password itself can only be revoked by its owner."""
        refresh = self.credentials.get("refreshJwt")
        if refresh:
            try:
                self._send("POST", "com.atproto.server.deleteSession", token=refresh, track_quota=False)
            except AuthExpired:
                pass  # already over
        return bool(refresh)

    # ------------------------------------------------------------------------------- inbound
    def _notifications_since(self, mark: str) -> tuple[list[InboundItem], str]:
        after = _parse_mark(mark)
        found: dict[str, InboundItem] = {}
        newest = after
        page_cursor = ""
        for _ in range(MAX_PAGES if after else 1):
            params: dict[str, Any] = {"limit": PAGE_SIZE, "reasons": list(INBOUND_REASONS)}
            if page_cursor:
                params["cursor"] = page_cursor
            body = self._call("GET", "app.bsky.notification.listNotifications", params=params)
            notifications = body.get("notifications") or []
            reached = False
            for notification in notifications:
                key = _mark_key(notification.get("indexedAt"), notification.get("cid"))
                if key is None:
                    continue
                if after and key <= after:
                    reached = True
                    break
                newest = max(newest, key) if newest else key
                item = parse_notification(notification, own_did=self.did)
                if item is not None:
                    found.setdefault(item.platform_id, item)
            page_cursor = body.get("cursor") or ""
            if reached or not page_cursor or not notifications:
                break
        return list(found.values()), _format_mark(newest)

    def _messages_since(self, mark: str) -> tuple[list[InboundItem], str]:
        after = _parse_mark(mark)
        found: list[InboundItem] = []
        newest = after
        page_cursor = ""
        for _ in range(MAX_PAGES if after else 1):
            params: dict[str, Any] = {"limit": PAGE_SIZE if after else FIRST_POLL_CONVOS}
            if page_cursor:
                params["cursor"] = page_cursor
            body = self._call("GET", "chat.bsky.convo.listConvos", params=params, chat=True)
            convos = body.get("convos") or []
            any_new = False
            # Conversations come most recently active first; a page with nothing new ends the search.
            for convo in convos:
                last = convo.get("lastMessage") or {}
                last_key = _mark_key(last.get("sentAt"), last.get("id"))
                if last_key is None or (after and last_key <= after):
                    continue
                any_new = True
                items, convo_newest = self._convo_messages_since(convo, after)
                found += items
                if convo_newest and (newest is None or convo_newest > newest):
                    newest = convo_newest
            page_cursor = body.get("cursor") or ""
            if not any_new or not page_cursor:
                break
        return found, _format_mark(newest)

    def _convo_messages_since(self, convo: dict, after: tuple[datetime, str] | None):
        found: list[InboundItem] = []
        newest = None
        page_cursor = ""
        for _ in range(MAX_PAGES if after else 1):
            params: dict[str, Any] = {"convoId": convo["id"], "limit": PAGE_SIZE}
            if page_cursor:
                params["cursor"] = page_cursor
            body = self._call("GET", "chat.bsky.convo.getMessages", params=params, chat=True)
            messages = body.get("messages") or []
            reached = False
            for message in messages:
                key = _mark_key(message.get("sentAt"), message.get("id"))
                if key is None:
                    continue
                if after and key <= after:
                    reached = True
                    break
                newest = max(newest, key) if newest else key
                item = parse_message(message, convo, own_did=self.did)
                if item is not None:
                    found.append(item)
            page_cursor = body.get("cursor") or ""
            if reached or not page_cursor or not messages:
                break
        return found, newest

    # ------------------------------------------------------------------------------- posting
    def _post_view(self, uri: str) -> dict:
        parse_at_uri(uri)
        posts = self._call("GET", "app.bsky.feed.getPosts", params={"uris": [uri]}).get("posts") or []
        if not posts:
            raise PermanentError("That Bluesky post no longer exists.", status=400, platform_code="NotFound")
        return posts[0]

    def _create_post(self, text: str, *, reply: dict | None = None, embed: dict | None = None,
                     has_image: bool = False) -> Published:
        check = _check_text(text, has_image=has_image)
        self._ensure_session()
        record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": _now_iso()}
        facets = self._resolve_facets(check.facets)
        if facets:
            record["facets"] = facets
        if reply:
            record["reply"] = reply
        if embed:
            record["embed"] = embed
        created = self._call("POST", "com.atproto.repo.createRecord",
                             json={"repo": self.did, "collection": POST, "record": record})
        uri = created.get("uri", "")
        return Published(platform_id=uri, url=post_url(self.credentials.get("handle") or self.did, uri))

    def _resolve_facets(self, facets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mention facets carry a DID on the wire; a handle that resolves to nobody is left as plain text."""
        dids: dict[str, str | None] = {}
        resolved = []
        for facet in facets:
            features = []
            for feature in facet["features"]:
                if feature.get("$type") != FACET_MENTION:
                    features.append(feature)
                    continue
                handle = feature.get("handle", "")
                if handle not in dids:
                    dids[handle] = feature.get("did") or self._resolve_handle(handle)
                if dids[handle]:
                    features.append({"$type": FACET_MENTION, "did": dids[handle]})
            if features:
                resolved.append({"index": dict(facet["index"]), "features": features})
        return resolved

    def _resolve_handle(self, handle: str) -> str | None:
        try:
            return self._call("GET", "com.atproto.identity.resolveHandle", params={"handle": handle}).get("did")
        except PermanentError:  # HandleNotFound, or not a valid handle
            return None

    def _upload_blob(self, item: MediaItem) -> dict:
        body = self._call("POST", "com.atproto.repo.uploadBlob", data=item.content, content_type=item.mime_type)
        blob = body.get("blob")
        if not isinstance(blob, dict):
            raise TransientError("Bluesky did not return the uploaded image.")
        return blob

    # -------------------------------------------------------------------------- session, HTTP
    def _ensure_session(self) -> None:
        if not self.credentials.get("accessJwt"):
            self._create_session()
        if not self.credentials.get("did"):
            session = self._call("GET", "com.atproto.server.getSession")
            self._adopt({**self.credentials, "did": session.get("did", ""), "handle": session.get("handle", "")})

    def _create_session(self) -> None:
        identifier, password = self.credentials.get("identifier", ""), self.credentials.get("app_password", "")
        if not identifier or not password:
            raise AuthExpired("This Bluesky channel has no app password stored; reconnect it.")
        try:
            body = self._send("POST", "com.atproto.server.createSession",
                              json={"identifier": identifier, "password": password}, track_quota=False)
        except AuthExpired as exc:
            if exc.platform_code == "ExpiredToken":
                raise AuthExpired("The Bluesky session has expired and could not be renewed; reconnect the channel.",
                                  status=exc.status, platform_code=exc.platform_code)
            if exc.platform_code == "AccountTakedown":
                raise AuthExpired("Bluesky has taken this account down.", status=exc.status, platform_code=exc.platform_code)
            raise AuthExpired(
                "Bluesky did not accept this handle and app password. Check the handle, and create an app password "
                "in Bluesky under Settings → Privacy and security → App passwords.",
                status=exc.status, platform_code=exc.platform_code,
            )
        except PermanentError as exc:
            if exc.platform_code == "AuthFactorTokenRequired":
                raise PermanentError("Bluesky asked for an email sign-in code, so this is the account's main password. "
                                     "Use an app password instead.", status=exc.status, platform_code=exc.platform_code)
            raise
        self._adopt({**self.credentials, **parse_session(body)})

    def _renew_session(self) -> None:
        refresh = self.credentials.get("refreshJwt")
        if refresh:
            try:
                body = self._send("POST", "com.atproto.server.refreshSession", token=refresh, track_quota=False)
            except AuthExpired:
                pass  # spent by another worker, expired or revoked: sign in again with the app password
            else:
                self._adopt({**self.credentials, **parse_session(body)})
                return
        self._create_session()

    def _adopt(self, credentials: dict) -> None:
        self.credentials = credentials
        self.updated_credentials = dict(credentials)

    def _call(self, method: str, nsid: str, *, chat: bool = False, **kwargs: Any) -> dict:
        """An authenticated XRPC call: renews an expired session once and retries."""
        if not self.credentials.get("accessJwt"):
            self._create_session()
        try:
            try:
                return self._send(method, nsid, token=self.credentials["accessJwt"], chat=chat, **kwargs)
            except TokenExpired:
                self._renew_session()
            return self._send(method, nsid, token=self.credentials["accessJwt"], chat=chat, **kwargs)
        except AuthExpired as exc:
            if chat and exc.platform_code == "InvalidToken":
                raise AuthExpired("Bluesky refused access to direct messages: reconnect the channel with an app "
                                  "password that allows direct messages.", status=exc.status, platform_code=exc.platform_code)
            raise

    def _send(self, method: str, nsid: str, *, token: str = "", params: Mapping[str, Any] | None = None,
              json: dict | None = None, data: bytes | None = None, content_type: str = "", chat: bool = False,
              track_quota: bool = True) -> dict:
        if track_quota:
            self._check_quota()
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if chat:
            headers["atproto-proxy"] = CHAT_PROXY
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self._http.request(method, f"{self.base_url}/xrpc/{nsid}", params=params, json=json, data=data,
                                          headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise request_failure(exc, method=method, label=f"Bluesky ({nsid})", timeout=self.timeout) from None
        if track_quota:
            self._note_quota(response.headers)
        body = _json_body(response)
        if response.status_code >= 400:
            raise for_write(method, error_from_response(response.status_code, body, response.headers, nsid=nsid,
                                                        secrets=self._secrets()))
        return body if isinstance(body, dict) else {}

    def _check_quota(self) -> None:
        # The PDS said nothing is left in this window: wait for the reset instead of spending a 429.
        if self._quota_remaining is not None and self._quota_remaining <= 0 and self._quota_reset:
            if self._quota_reset > datetime.now(UTC):
                raise RateLimited(_rate_message(self._quota_reset), reset_at=self._quota_reset, status=429)
            self._quota_remaining = None

    def _note_quota(self, headers: Mapping[str, str]) -> None:
        remaining, reset = headers.get("RateLimit-Remaining"), reset_from_epoch(headers.get("RateLimit-Reset"))
        if remaining is not None and reset is not None:
            try:
                self._quota_remaining, self._quota_reset = int(remaining), reset
            except ValueError:
                pass

    def _secrets(self) -> list[str]:
        return [self.credentials.get(key, "") for key in ("accessJwt", "refreshJwt", "app_password")]


def create_session(*, service_url: str, identifier: str, app_password: str, timeout: float = 20) -> dict:
    """Signs in with a handle (or DID) and an app password, for the connect view: the credentials to store
    (identifier, app_password, did, handle, accessJwt, refreshJwt). Raises AuthExpired or PermanentError with a
    message that can be shown as it is."""
    identifier = identifier.strip().lstrip("@")
    if not identifier or not app_password:
        raise PermanentError("Enter the account's handle and an app password.")
    connector = BlueskyConnector(base_url=service_url, credentials={"identifier": identifier, "app_password": app_password},
                                 timeout=timeout)
    connector._create_session()
    return dict(connector.credentials)


# ---------------------------------------------------------------------------------- parsing (pure)
def parse_session(body: Mapping[str, Any]) -> dict[str, str]:
    """The parts of a createSession/refreshSession answer a channel keeps."""
    session = {key: body.get(key) for key in ("did", "handle", "accessJwt", "refreshJwt")}
    if not all(isinstance(value, str) and value for value in session.values()):
        raise TransientError("Bluesky returned an incomplete session.")
    return session


def parse_notification(notification: Mapping[str, Any], *, own_did: str = "") -> InboundItem | None:
    """A mention, reply or quote notification as an InboundItem; None for likes, reposts, follows and our own."""
    reason = notification.get("reason")
    if reason not in INBOUND_REASONS:
        return None
    author = notification.get("author") or {}
    if own_did and author.get("did") == own_did:
        return None
    record = notification.get("record") or {}
    uri = notification.get("uri", "")
    reply = record.get("reply") or {}
    return InboundItem(
        platform_id=uri,
        kind="reply" if reason == "reply" else "mention",
        text=record.get("text", ""),
        # indexedAt is the server's time; createdAt is whatever the author's client claimed.
        created_at=_parse_time(notification.get("indexedAt")) or _parse_time(record.get("createdAt")) or datetime.now(UTC),
        author_id=author.get("did", ""),
        author_handle=author.get("handle", ""),
        author_name=author.get("displayName") or "",
        author_avatar_url=author.get("avatar") or "",
        conversation_key=(reply.get("root") or {}).get("uri") or uri,
        in_reply_to_id=(reply.get("parent") or {}).get("uri", ""),
        url=post_url(author.get("handle") or author.get("did", ""), uri),
        raw=dict(notification),
    )


def parse_notifications(body: Mapping[str, Any], *, own_did: str = "") -> list[InboundItem]:
    items = (parse_notification(n, own_did=own_did) for n in body.get("notifications") or [])
    return [item for item in items if item is not None]


def parse_message(message: Mapping[str, Any], convo: Mapping[str, Any], *, own_did: str = "") -> InboundItem | None:
    """A chat message someone else sent as an InboundItem; None for ours, deleted and system messages."""
    if message.get("$type", MESSAGE_VIEW) != MESSAGE_VIEW or not isinstance(message.get("text"), str):
        return None
    sender = (message.get("sender") or {}).get("did", "")
    if own_did and sender == own_did:
        return None
    member = next((m for m in convo.get("members") or [] if m.get("did") == sender), {})
    convo_id = convo.get("id", "")
    return InboundItem(
        platform_id=message.get("id", ""),
        kind="dm",
        text=message["text"],
        created_at=_parse_time(message.get("sentAt")) or datetime.now(UTC),
        author_id=sender,
        author_handle=member.get("handle", ""),
        author_name=member.get("displayName") or "",
        author_avatar_url=member.get("avatar") or "",
        conversation_key=convo_id,
        url=f"https://bsky.app/messages/{convo_id}",
        raw=dict(message),
    )


def parse_messages(body: Mapping[str, Any], convo: Mapping[str, Any], *, own_did: str = "") -> list[InboundItem]:
    items = (parse_message(m, convo, own_did=own_did) for m in body.get("messages") or [])
    return [item for item in items if item is not None]


def parse_post_metrics(post: Mapping[str, Any]) -> PostMetrics:
    return PostMetrics(likes=post.get("likeCount") or 0, replies=post.get("replyCount") or 0,
                       reposts=post.get("repostCount") or 0, quotes=post.get("quoteCount") or 0)


def parse_account_stats(profile: Mapping[str, Any]) -> AccountStats:
    return AccountStats(followers=profile.get("followersCount") or 0, following=profile.get("followsCount"),
                        posts=profile.get("postsCount"))


def parse_at_uri(uri: str) -> tuple[str, str, str]:
    """at://<repo>/<collection>/<rkey> → (repo, collection, rkey)."""
    parts = uri[len("at://"):].split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise PermanentError(f"{uri!r} is not a Bluesky post address (at://…).")
    return parts[0], parts[1], parts[2]


def post_url(handle: str, uri: str) -> str:
    """The bsky.app page of a post."""
    return f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}"


def error_from_response(status: int, body: Any, headers: Mapping[str, str] | None = None, *, nsid: str = "",
                        secrets: Sequence[str] = ()) -> ConnectorError:
    """The connector error for an XRPC error answer ({"error", "message"}). The message never holds a credential."""
    headers = CaseInsensitiveDict(headers or {})
    code = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
    detail = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else ""
    detail = _scrub(detail, secrets)
    where = f" ({nsid})" if nsid else ""
    if status == 429:
        reset_at = reset_from_epoch(headers.get("RateLimit-Reset")) or datetime.now(UTC) + timedelta(minutes=5)
        return RateLimited(_rate_message(reset_at), reset_at=reset_at, status=status, platform_code=code)
    if code == "ExpiredToken":
        return TokenExpired(f"The Bluesky session has expired{where}.", status=status, platform_code=code)
    if status == 401 or code in AUTH_ERRORS:
        return AuthExpired(f"Bluesky no longer accepts this channel's sign-in ({code or status}): reconnect it.",
                           status=status, platform_code=code)
    if status >= 500 or status == 408:
        return TransientError(f"Bluesky had a problem ({status}{', ' + code if code else ''}){where}; trying again later.",
                              status=status, platform_code=code)
    if "duplicate" in detail.lower() or "already exists" in detail.lower():
        return DuplicatePost(f"Bluesky says this already exists: {detail}", status=status, platform_code=code)
    return PermanentError(f"Bluesky refused the request{where}: {detail or code or status}.", status=status,
                          platform_code=code)


# ------------------------------------------------------------------------------------------ helpers
def _check_text(text: str, *, has_image: bool):
    check = validate_text("bluesky", text, has_image=has_image)
    if not check.valid:
        raise PermanentError(" ".join(check.errors))
    return check


def _json_body(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _rate_message(reset_at: datetime) -> str:
    return f"Bluesky's rate limit for this account is used up until {reset_at:%H:%M:%S} UTC."


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mark_key(moment: Any, tiebreak: Any) -> tuple[datetime, str] | None:
    parsed = _parse_time(moment)
    return (parsed, str(tiebreak or "")) if parsed else None


def _parse_mark(mark: str) -> tuple[datetime, str] | None:
    moment, _, tiebreak = (mark or "").partition("|")
    return _mark_key(moment, tiebreak)


def _format_mark(key: tuple[datetime, str] | None) -> str:
    return f"{key[0].isoformat()}|{key[1]}" if key else ""


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _link_title(link: str) -> str:
    # Cards normally carry the page's title; fetching arbitrary pages from the server is not something we do.
    parsed = urlparse(link)
    return (parsed.netloc + parsed.path).rstrip("/") or link
