"""X (API v2) through tweepy's Client, sent to the configured base URL (settings.X_API_URL).

tweepy hard-codes https://api.twitter.com and logs request headers at debug level, so `_Client` replaces its one
`request` method: every call goes to our base URL with the channel's OAuth 2.0 user access token, a timeout, and
X's answers mapped to the connector errors. Everything else of tweepy (endpoints, parameter names, list joining)
is used as it is. The v2 media upload, which tweepy lacks, goes through the same sender.

Credentials: {"access_token", "refresh_token", "expires_at" (epoch seconds), "scope"}. This connector never
refreshes on its own: X refresh tokens are single use, so refreshes are serialised by the caller with the
module-level `refresh()`. An access token past its expiry raises `TokenExpired` without calling X.

Inbound: mentions (which include replies to our posts, as X prefixes them with our @username) from
GET /2/users/:id/mentions with since_id, and direct messages from GET /2/dm_events, which has no since_id: it
pages back from the newest until it reaches the cursor. Cursors are watermarks (the newest id seen per stream);
items are keyed by X's ids, so a repeated or overlapping poll yields the same records, never new ones.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import requests
import tweepy
from django.conf import settings

from channels_app.connectors.base import (
    Account,
    AccountStats,
    Ambiguous,
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
    same_post_text,
    same_text,
)

# media.write: real X requires it for v2 media upload (images with alt text).
SCOPES = "tweet.read tweet.write users.read dm.read dm.write media.write offline.access"
TWEET_FIELDS = ["created_at", "author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets", "public_metrics"]
USER_FIELDS = ["username", "name", "profile_image_url"]
DM_EVENT_FIELDS = ["id", "text", "event_type", "dm_conversation_id", "created_at", "sender_id"]
PAGE_SIZE = 100
# Pages read per stream in one poll; the first poll of a channel takes only the newest page, not its history.
MAX_PAGES = 10
FIRST_POLL_PAGES = 1
MAX_IMAGES = 4
MAX_ALT_TEXT = 1000
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
# X ids are snowflakes: milliseconds since this moment, shifted left 22 bits.
SNOWFLAKE_EPOCH_MS = 1288834974657
DUPLICATE_HINT = "duplicate content"
# 403 problem types that mean the token cannot be used at all (not that this one request is refused).
AUTH_PROBLEM_TYPES = {
    "https://api.twitter.com/2/problems/unsupported-authentication",
    "https://api.twitter.com/2/problems/client-forbidden",
    "https://api.twitter.com/2/problems/oauth1-permissions",
}
DEFAULT_RATE_WAIT = timedelta(minutes=15)
_ID_SEGMENT = re.compile(r"\d[\d-]*")


class TokenExpired(AuthExpired):
    """The access token is past its expiry: renewable with `refresh()`, unlike a revoked one."""


# ------------------------------------------------------------------------------------------ connector
class XConnector(Connector):
    platform = "x"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.credentials = dict(self.credentials or {})
        self._http = requests.Session()
        self._client = _Client(self)
        # Per endpoint ("GET /2/users/:id/mentions"): (remaining, reset epoch) from the last answer's headers.
        self.rate_limits: dict[str, tuple[int, int]] = {}
        self._me: Account | None = None

    # ---------------------------------------------------------------------------------- reads
    def revoke(self) -> bool:
        revoke(self.credentials)
        return True

    def whoami(self) -> Account:
        body = self._client.get_me(user_fields=["profile_image_url"])
        if not body.get("data"):
            raise PermanentError("X did not say which account this token belongs to.")
        self._me = parse_user(body["data"])
        return self._me

    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch:
        cursor = dict(cursor or {})
        mentions, cursor["mentions"] = self._mentions_since(cursor.get("mentions", ""))
        dms, cursor["dms"] = self._dms_since(cursor.get("dms", ""))
        items = sorted(mentions + dms, key=lambda item: (item.created_at, int_id(item.platform_id)))
        return InboundBatch(items=items, cursor={stream: mark for stream, mark in cursor.items() if mark})

    def post_metrics(self, platform_id: str) -> PostMetrics:
        body = self._client.get_tweet(platform_id, tweet_fields=["public_metrics"])
        if not body.get("data"):
            raise PermanentError(f"X has no post {platform_id}: it was deleted or is not visible.", status=404)
        return parse_metrics(body["data"].get("public_metrics") or {})

    def account_stats(self) -> AccountStats:
        body = self._client.get_user(id=self._account_id(), user_fields=["public_metrics"])
        if not body.get("data"):
            raise PermanentError("X has no such account any more.", status=404)
        return parse_account_stats(body["data"])

    # --------------------------------------------------------------------------------- writes
    def reply(self, *, in_reply_to: str, text: str) -> Published:
        self._check_text(text)
        body = self._client.create_tweet(text=text, in_reply_to_tweet_id=in_reply_to)
        return self._published(body)

    def publish(self, *, text: str, media: Sequence[MediaItem] = (), link: str = "",
                idempotency_key: str | None = None) -> Published:
        # X has no idempotency key: an ambiguous failure is settled by find_post before any retry.
        media = list(media)
        if link and link not in text:
            text = f"{text.rstrip()}\n\n{link}" if text.strip() else link
        if len(media) > MAX_IMAGES:
            raise PermanentError(f"An X post can carry at most {MAX_IMAGES} images.")
        self._check_text(text, has_image=bool(media))
        media_ids = [self._upload(item) for item in media]
        body = self._client.create_tweet(text=text or None, media_ids=media_ids or None)
        return self._published(body)

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published:
        if not text.strip():
            raise PermanentError("A direct message needs some text.")
        if conversation_key:
            body = self._client.create_direct_message(dm_conversation_id=conversation_key, text=text)
        elif recipient_id:
            body = self._client.create_direct_message(participant_id=recipient_id, text=text)
        else:
            raise PermanentError("A direct message needs a conversation or a recipient.")
        data = body.get("data") or {}
        if not data.get("dm_event_id"):
            # Accepted (2xx) but no id: it may well exist. Whoever sent must read it back, not resend.
            raise Ambiguous("X accepted the direct message but did not say its id.")
        return Published(platform_id=str(data["dm_event_id"]), url=f"https://x.com/messages/{data.get('dm_conversation_id', '')}")

    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        body = self._client.get_users_tweets(self._account_id(), max_results=PAGE_SIZE,
                                             tweet_fields=["referenced_tweets", "created_at"])
        for tweet in body.get("data") or []:
            replied_to = {str(r.get("id")) for r in tweet.get("referenced_tweets") or [] if r.get("type") == "replied_to"}
            if in_reply_to in replied_to and same_text(text, tweet.get("text", "")):
                return Published(platform_id=str(tweet["id"]), url=post_url(self._handle(), str(tweet["id"])))
        return None

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        params: dict[str, Any] = {"max_results": PAGE_SIZE, "exclude": ["replies", "retweets"],
                                  "tweet_fields": ["created_at", "entities"]}
        if since is not None:
            params["start_time"] = since
        body = self._client.get_users_tweets(self._account_id(), **params)
        for tweet in body.get("data") or []:
            if same_post_text(text, expanded_text(tweet)):
                return Published(platform_id=str(tweet["id"]), url=post_url(self._handle(), str(tweet["id"])))
        return None

    def find_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published | None:
        params = {"dm_event_fields": DM_EVENT_FIELDS, "event_types": ["MessageCreate"], "max_results": PAGE_SIZE}
        if conversation_key:
            body = self._client.get_direct_message_events(dm_conversation_id=conversation_key, **params)
        elif recipient_id:
            body = self._client.get_direct_message_events(participant_id=recipient_id, **params)
        else:
            return None
        own = self._account_id()
        for event in body.get("data") or []:
            if str(event.get("sender_id", "")) == own and same_text(text, event.get("text", "")):
                conversation = str(event.get("dm_conversation_id") or conversation_key)
                return Published(platform_id=str(event["id"]), url=f"https://x.com/messages/{conversation}")
        return None

    def delete(self, platform_id: str) -> None:
        try:
            self._client.delete_tweet(platform_id)
        except PermanentError as exc:
            # Already gone is what we wanted.
            if exc.status != 404:
                raise

    # ------------------------------------------------------------------------------ inbound
    def _mentions_since(self, since: str) -> tuple[list[InboundItem], str]:
        account_id = self._account_id()
        items: list[InboundItem] = []
        newest, token = since, None
        for _ in range(MAX_PAGES if since else FIRST_POLL_PAGES):
            params: dict[str, Any] = {"max_results": PAGE_SIZE, "tweet_fields": TWEET_FIELDS, "expansions": ["author_id"],
                                      "user_fields": USER_FIELDS}
            if since:
                params["since_id"] = since
            if token:
                params["pagination_token"] = token
            body = self._client.get_users_mentions(account_id, **params)
            items += [item for item in parse_mentions(body, account_id) if int_id(item.platform_id) > int_id(since)]
            newest = newer_id(newest, (body.get("meta") or {}).get("newest_id", ""))
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        return _unique(items), newest

    def _dms_since(self, since: str) -> tuple[list[InboundItem], str]:
        account_id = self._account_id()
        items: list[InboundItem] = []
        newest, token = since, None
        for _ in range(MAX_PAGES if since else FIRST_POLL_PAGES):
            params: dict[str, Any] = {"dm_event_fields": DM_EVENT_FIELDS, "expansions": ["sender_id"], "user_fields": USER_FIELDS,
                                      "event_types": ["MessageCreate"], "max_results": PAGE_SIZE}
            if token:
                params["pagination_token"] = token
            body = self._client.get_direct_message_events(**params)
            events = body.get("data") or []
            for event in events:
                newest = newer_id(newest, str(event.get("id", "")))
            fresh = [e for e in events if int_id(str(e.get("id", ""))) > int_id(since)]
            items += parse_dm_events({**body, "data": fresh}, account_id)
            token = (body.get("meta") or {}).get("next_token")
            # Newest first: once a page reaches the watermark, everything after it was taken before.
            if not token or len(fresh) < len(events):
                break
        return _unique(items), newest

    # -------------------------------------------------------------------------------- helpers
    def _account_id(self) -> str:
        if self.account_id:
            return self.account_id
        self.account_id = (self._me or self.whoami()).account_id
        return self.account_id

    def _handle(self) -> str:
        return (self._me or self.whoami()).handle

    def _published(self, body: Mapping[str, Any]) -> Published:
        data = body.get("data") or {}
        if not data.get("id"):
            raise Ambiguous("X accepted the post but did not say its id.")
        post_id = str(data["id"])
        try:
            handle = self._handle()
        except ConnectorError:
            # The post exists: failing to learn our handle for its address must not make it look unsent.
            handle = ""
        return Published(platform_id=post_id, url=post_url(handle, post_id))

    def _check_text(self, text: str, *, has_image: bool = False) -> None:
        check = self.validate_text(text, has_image=has_image)
        if not check.valid:
            raise PermanentError(" ".join(check.errors))

    def _upload(self, item: MediaItem) -> str:
        if item.mime_type not in IMAGE_TYPES:
            raise PermanentError(f"X does not accept {item.mime_type or 'this kind of file'} as an image.")
        extension = item.mime_type.split("/")[-1]
        response = self.send(
            "POST", "/2/media/upload",
            files={"media": (f"image.{extension}", item.content, item.mime_type)},
            data={"media_category": "tweet_image", "media_type": item.mime_type},
        )
        media_id = str((response.json().get("data") or {}).get("id", ""))
        if not media_id:
            raise PermanentError("X did not confirm the image upload.")
        if item.alt_text.strip():
            self.send("POST", "/2/media/metadata",
                      json={"id": media_id, "metadata": {"alt_text": {"text": item.alt_text[:MAX_ALT_TEXT]}}})
        return media_id

    # --------------------------------------------------------------------------------- sending
    def send(self, method: str, route: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
             files: Any = None, data: Any = None) -> requests.Response:
        """One API call: refuses early when the token is past its time or the endpoint's quota is spent."""
        access_token = self.credentials.get("access_token", "")
        if not access_token:
            raise AuthExpired("This X channel has no access token: reconnect it.")
        expires_at = self.credentials.get("expires_at")
        if expires_at and float(expires_at) <= time.time():
            raise TokenExpired("The X access token has expired: it must be refreshed.")
        key = endpoint_key(method, route)
        remaining, reset = self.rate_limits.get(key, (1, 0))
        if remaining <= 0 and reset > time.time():
            reset_at = datetime.fromtimestamp(reset, tz=UTC)
            raise RateLimited(f"X's limit for {key} is used up until {reset_at:%H:%M:%S} UTC; not calling before then.",
                              reset_at=reset_at, status=429)
        try:
            response = self._http.request(
                method, f"{self.base_url}{route}", params=params, json=json, files=files, data=data,
                headers={"Authorization": f"Bearer {access_token}"}, timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise request_failure(exc, method=method, label="X", timeout=self.timeout) from None
        self._note_quota(key, response)
        if not 200 <= response.status_code < 300:
            raise for_write(method, error_from_response(response, secrets_of(self.credentials)))
        try:
            response.json()
        except ValueError:
            raise for_write(method, TransientError(f"X answered {response.status_code} with a body that is not JSON.",
                                                   status=502)) from None
        return response

    def _note_quota(self, key: str, response: requests.Response) -> None:
        try:
            remaining = int(response.headers["x-rate-limit-remaining"])
            reset = int(response.headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return
        self.rate_limits[key] = (remaining, reset)


class _Client(tweepy.Client):
    """tweepy's endpoints with our sender: the configured base URL, the user token, a timeout, our errors."""

    def __init__(self, connector: XConnector):
        super().__init__(return_type=dict)
        self._connector = connector

    def request(self, method, route, params=None, json=None, user_auth=False):
        # user_auth is ignored: every call carries the OAuth 2.0 user access token.
        return self._connector.send(method, route, params=params, json=json)


# ------------------------------------------------------------------------------------------ errors
def error_from_response(response: requests.Response, secret_values: Sequence[str] = ()) -> ConnectorError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = scrub(describe_problem(body) or response.reason or "", secret_values)
    if status == 429:
        reset_at = reset_from_epoch(response.headers.get("x-rate-limit-reset")) or datetime.now(UTC) + DEFAULT_RATE_WAIT
        return RateLimited(f"X's rate limit is reached until {reset_at:%H:%M:%S} UTC.", reset_at=reset_at, status=429)
    if status == 401:
        return AuthExpired("X no longer accepts this channel's access token (expired or revoked): reconnect the channel.",
                           status=401)
    if status == 403:
        if DUPLICATE_HINT in detail.lower():
            return DuplicatePost(f"X refused the post as a duplicate: {detail}", status=403, platform_code="duplicate")
        if body.get("type") in AUTH_PROBLEM_TYPES:
            return AuthExpired(f"X does not allow this channel's token here: {detail} Reconnect the channel.", status=403)
        return PermanentError(f"X refused the request: {detail}", status=403)
    if status >= 500 or status == 408:
        return TransientError(f"X had a problem answering ({status}).", status=status)
    return PermanentError(f"X rejected the request ({status}): {detail}", status=status)


def describe_problem(body: Mapping[str, Any]) -> str:
    """The most specific message in an X error body: an invalid request's own messages before its generic
    detail, then a problem's detail, then an OAuth error's description."""
    errors = body.get("errors") or []
    messages = [str(e.get("message") or e.get("detail") or "") for e in errors if isinstance(e, dict)]
    for text in ("; ".join(m for m in messages if m), body.get("detail"), body.get("error_description"), body.get("title"),
                 body.get("error")):
        if text:
            return str(text)
    return ""


def scrub(message: str, secret_values: Sequence[str]) -> str:
    for value in secret_values:
        if value and len(value) >= 6:
            message = message.replace(value, "[redacted]")
    return message


def secrets_of(credentials: Mapping[str, Any]) -> list[str]:
    return [str(credentials[k]) for k in ("access_token", "refresh_token") if credentials.get(k)]


# ----------------------------------------------------------------------------------------- parsing
def parse_mentions(body: Mapping[str, Any], account_id: str = "") -> list[InboundItem]:
    """Tweets from a mention timeline (or any tweet list) with includes.users, as InboundItems."""
    users = {u.get("id"): u for u in (body.get("includes") or {}).get("users") or []}
    items = []
    for tweet in body.get("data") or []:
        if account_id and tweet.get("author_id") == account_id:
            continue
        author = users.get(tweet.get("author_id"), {})
        replied_to = next((str(r.get("id")) for r in tweet.get("referenced_tweets") or [] if r.get("type") == "replied_to"), "")
        tweet_id = str(tweet["id"])
        username = author.get("username", "")
        items.append(InboundItem(
            platform_id=tweet_id,
            kind="reply" if replied_to else "mention",
            text=tweet.get("text", ""),
            created_at=parse_created(tweet.get("created_at"), tweet_id),
            author_id=str(tweet.get("author_id", "")),
            author_handle=username,
            author_name=author.get("name", ""),
            author_avatar_url=author.get("profile_image_url", ""),
            conversation_key=str(tweet.get("conversation_id") or tweet_id),
            in_reply_to_id=replied_to,
            url=post_url(username, tweet_id),
            raw=dict(tweet),
        ))
    return items


def parse_dm_events(body: Mapping[str, Any], account_id: str = "") -> list[InboundItem]:
    """MessageCreate events from GET /2/dm_events (with includes.users), our own messages left out."""
    users = {u.get("id"): u for u in (body.get("includes") or {}).get("users") or []}
    items = []
    for event in body.get("data") or []:
        if event.get("event_type", "MessageCreate") != "MessageCreate":
            continue
        sender_id = str(event.get("sender_id", ""))
        if account_id and sender_id == account_id:
            continue
        sender = users.get(sender_id, {})
        event_id = str(event["id"])
        conversation = str(event.get("dm_conversation_id", ""))
        items.append(InboundItem(
            platform_id=event_id,
            kind="dm",
            text=event.get("text", ""),
            created_at=parse_created(event.get("created_at"), event_id),
            author_id=sender_id,
            author_handle=sender.get("username", ""),
            author_name=sender.get("name", ""),
            author_avatar_url=sender.get("profile_image_url", ""),
            conversation_key=conversation,
            url=f"https://x.com/messages/{conversation}" if conversation else "",
            raw=dict(event),
        ))
    return items


def parse_metrics(public_metrics: Mapping[str, Any]) -> PostMetrics:
    """Tweet public_metrics; X has spelt reposts both `retweet_count` and `repost_count`."""
    reposts = public_metrics.get("retweet_count", public_metrics.get("repost_count", 0))
    impressions = public_metrics.get("impression_count")
    return PostMetrics(
        likes=int(public_metrics.get("like_count") or 0),
        replies=int(public_metrics.get("reply_count") or 0),
        reposts=int(reposts or 0),
        quotes=int(public_metrics.get("quote_count") or 0),
        impressions=int(impressions) if impressions is not None else None,
    )


def parse_account_stats(user: Mapping[str, Any]) -> AccountStats:
    metrics = user.get("public_metrics") or {}
    posts = metrics.get("tweet_count", metrics.get("post_count"))
    following = metrics.get("following_count")
    return AccountStats(
        followers=int(metrics.get("followers_count") or 0),
        following=int(following) if following is not None else None,
        posts=int(posts) if posts is not None else None,
    )


def parse_user(user: Mapping[str, Any]) -> Account:
    return Account(account_id=str(user["id"]), handle=user.get("username", ""), display_name=user.get("name", ""),
                   avatar_url=user.get("profile_image_url", ""))


def parse_created(value: str | None, item_id: str = "") -> datetime:
    """created_at when X sent it; otherwise the time inside the snowflake id."""
    if value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    if item_id.isdigit():
        return datetime.fromtimestamp(((int(item_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=UTC)
    return datetime.now(UTC)


def expanded_text(tweet: Mapping[str, Any]) -> str:
    """A post's text as written: X's t.co links put back to the addresses they stand for, and the link X appends
    for attached images left out."""
    text = str(tweet.get("text") or "")
    urls = ((tweet.get("entities") or {}).get("urls") or [])
    for entity in sorted(urls, key=lambda u: int(u.get("start") or 0), reverse=True):
        short = str(entity.get("url") or "")
        if not short or short not in text:
            continue
        is_media = bool(entity.get("media_key")) or str(entity.get("display_url") or "").startswith(("pic.x.com", "pic.twitter.com"))
        text = text.replace(short, "" if is_media else str(entity.get("expanded_url") or short), 1)
    return text.strip()


def post_url(handle: str, post_id: str) -> str:
    return f"https://x.com/{handle}/status/{post_id}" if handle else f"https://x.com/i/web/status/{post_id}"


def endpoint_key(method: str, route: str) -> str:
    """X limits per endpoint: "GET /2/users/:id/mentions" whatever the id."""
    segments = route.split("?")[0].split("/")
    # segments[1] is the API version ("2"), not an id.
    segments[2:] = [":id" if _ID_SEGMENT.fullmatch(segment) else segment for segment in segments[2:]]
    return f"{method.upper()} {'/'.join(segments)}"


def int_id(value: str) -> int:
    return int(value) if value and value.isdigit() else 0


def newer_id(current: str, candidate: str) -> str:
    return candidate if int_id(candidate) > int_id(current) else current


def _unique(items: list[InboundItem]) -> list[InboundItem]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.platform_id not in seen:
            seen.add(item.platform_id)
            out.append(item)
    return out


# ------------------------------------------------------------------------------------------- OAuth
def new_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) for one authorisation."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(*, state: str, code_challenge: str, redirect_uri: str) -> str:
    query = urlencode(
        {"response_type": "code", "client_id": settings.X_CLIENT_ID, "redirect_uri": redirect_uri, "scope": SCOPES,
         "state": state, "code_challenge": code_challenge, "code_challenge_method": "S256"},
        quote_via=quote,
    )
    return f"{settings.X_AUTHORIZE_URL}?{query}"


def exchange_code(*, code: str, code_verifier: str, redirect_uri: str) -> dict:
    body = _token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                           "code_verifier": code_verifier, "client_id": settings.X_CLIENT_ID}, refusing="code")
    return _credentials(body)


def refresh(credentials: Mapping[str, Any]) -> dict:
    """New credentials from the refresh token. The old refresh token is spent, whatever happens next."""
    token = credentials.get("refresh_token")
    if not token:
        raise AuthExpired("This X channel has no refresh token: reconnect it.")
    body = _token_request({"grant_type": "refresh_token", "refresh_token": token, "client_id": settings.X_CLIENT_ID},
                          refusing="refresh", secret_values=secrets_of(credentials))
    return _credentials(body)


def revoke(credentials: Mapping[str, Any]) -> None:
    """Revokes the grant at X (both tokens), so a disconnected channel's tokens stop working there too."""
    for kind in ("refresh_token", "access_token"):
        if credentials.get(kind):
            _oauth_post("/2/oauth2/revoke", {"token": credentials[kind], "token_type_hint": kind,
                                              "client_id": settings.X_CLIENT_ID}, secrets_of(credentials))


def _token_request(form: dict, *, refusing: str, secret_values: Sequence[str] = ()) -> dict:
    try:
        return _oauth_post("/2/oauth2/token", form, [*secret_values, form.get("code", ""), form.get("code_verifier", "")])
    except PermanentError as exc:
        if exc.status == 400 and refusing == "refresh":
            raise AuthExpired("X refused the refresh token (already used or revoked): reconnect the channel.",
                              status=400, platform_code="invalid_request") from None
        if exc.status == 400:
            raise PermanentError("X did not accept the authorisation code (expired, used or not matching): "
                                 "start connecting again.", status=400, platform_code="invalid_request") from None
        raise


def _oauth_post(route: str, form: dict, secret_values: Sequence[str]) -> dict:
    try:
        response = requests.post(f"{settings.X_API_URL}{route}", data=form, auth=(settings.X_CLIENT_ID, settings.X_CLIENT_SECRET),
                                 timeout=settings.PLATFORM_TIMEOUT_SECONDS)
    except requests.Timeout:
        raise TransientError("X's OAuth service did not answer in time.") from None
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach X's OAuth service ({type(exc).__name__}).") from None
    if response.status_code == 401:
        raise PermanentError("X rejected this app's client credentials (X_CLIENT_ID / X_CLIENT_SECRET).", status=401)
    if not 200 <= response.status_code < 300:
        raise error_from_response(response, [*secret_values, settings.X_CLIENT_SECRET])
    try:
        body = response.json()
    except ValueError:
        raise TransientError("X's OAuth service answered with a body that is not JSON.") from None
    return body if isinstance(body, dict) else {}


def _credentials(body: Mapping[str, Any]) -> dict:
    if not body.get("access_token"):
        raise PermanentError("X's token answer had no access token.")
    return {
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token", ""),
        "expires_at": int(time.time()) + int(body.get("expires_in") or 7200),
        "scope": body.get("scope", ""),
    }
