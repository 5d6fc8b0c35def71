"""Webhook receivers for platforms that push: Facebook and Instagram (one Meta app webhook) and X Account Activity.

Both feed inbox.ingest.ingest, the path polling uses, so a pushed item and the same item polled later are stored
once. Every delivery is authenticated before its body is read: Meta signs the raw body with the app secret
(X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256), X with the consumer secret (x-twitter-webhooks-signature:
"sha256=" + base64 HMAC-SHA256). A bad signature is a 403 and a log line; it writes nothing (no audit row for
unauthenticated noise). An authenticated event we cannot read is quarantined for the channel's admins; a body
we cannot read at all is a 400. Nothing here answers 500 to a platform's (or anyone's) garbage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app.connectors.base import InboundItem
from channels_app.connectors.graph_parsing import parse_facebook_comment, parse_instagram_comment
from channels_app.models import Channel, Platform
from inbox.ingest import Malformed, ingest
from inbox.models import Conversation, ConversationKind
from smm.middleware import client_ip

logger = logging.getLogger(__name__)

# Exceptions a malformed (but authenticated) event can raise while we read it.
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


# ------------------------------------------------------------------------------------------- helpers
def _refuse(request: HttpRequest, platform: str, reason: str, status: int = 403) -> JsonResponse:
    logger.warning("%s webhook refused from %s: %s", platform, client_ip(request) or "unknown address", reason)
    return JsonResponse({"error": reason}, status=status)


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def x_signature(secret: str, payload: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def _signed(given: str, expected: Callable[[], str], secret: str) -> bool:
    # No secret configured: nothing can be authenticated (an empty HMAC key is everyone's key).
    return bool(secret) and bool(given) and constant_time_compare(given.strip(), expected())


def _body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _epoch(value: Any) -> datetime:
    number = float(value)
    # Meta and X give milliseconds in some places and seconds in others.
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)


def _graph_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _deliver(platform: str, by_account: dict[str, list], *, dm_keys: Callable | None = None) -> dict[str, int]:
    """Ingests each account's items into every live channel of that account (several organisations may have
    connected one account); items for accounts no channel holds are dropped."""
    totals = {"created": 0, "duplicates": 0, "quarantined": 0}
    if not by_account:
        return totals
    channels = Channel.objects.connected().filter(platform=platform, account_id__in=list(by_account))
    for channel in channels:
        items = by_account[channel.account_id]
        if dm_keys is not None:
            items = dm_keys(channel, items)
        result = ingest(channel, items, source="webhook")
        totals["created"] += result.created
        totals["duplicates"] += result.duplicates
        totals["quarantined"] += result.quarantined
    return totals


# -------------------------------------------------------------------------------------- Meta (Graph)
def _facebook_change(change: dict, page_id: str, entry_time: Any) -> InboundItem | None:
    if change.get("field") != "feed":
        return None
    value = change["value"]
    if value.get("verb") != "add" or value.get("item") not in ("comment", "post"):
        return None
    created = _epoch(value.get("created_time") or entry_time)
    if value["item"] == "post":
        author = value.get("from") or {}
        if not value.get("post_id") or author.get("id") == page_id:
            return None
        return InboundItem(
            platform_id=str(value["post_id"]), kind="mention", text=value.get("message", ""), created_at=created,
            author_id=str(author.get("id", "")), author_handle=author.get("name", ""), author_name=author.get("name", ""),
            conversation_key=str(value["post_id"]), url=value.get("permalink_url", ""), raw=value,
        )  # fmt: skip
    parent = value.get("parent_id") or ""
    raw = {
        "id": value["comment_id"], "message": value.get("message", ""), "created_time": _graph_time(created),
        "from": value.get("from") or {}, "permalink_url": value.get("permalink_url", ""),
        **({"parent": {"id": parent}} if parent and parent != value.get("post_id") else {}),
    }  # fmt: skip
    item = parse_facebook_comment(raw, own_id=page_id, conversation_key=str(value.get("post_id") or ""))
    return None if item is None else _with_raw(item, value)


def _instagram_change(change: dict, account_id: str, entry_time: Any) -> InboundItem | None:
    if change.get("field") != "comments":
        # "mentions" carries only ids; polling reads the mentioning media.
        return None
    value = change["value"]
    raw = {
        "id": value["id"], "text": value.get("text", ""), "timestamp": _graph_time(_epoch(entry_time)),
        "from": value.get("from") or {}, "parent_id": value.get("parent_id", ""),
    }  # fmt: skip
    item = parse_instagram_comment(raw, media_id=str((value.get("media") or {}).get("id", "")), own_id=account_id)
    return None if item is None else _with_raw(item, value)


def _with_raw(item: InboundItem, raw: dict) -> InboundItem:
    from dataclasses import replace

    return replace(item, raw=raw)


def _messaging(event: dict, account_id: str) -> InboundItem | None:
    message = event.get("message")
    if not isinstance(message, dict) or message.get("is_echo"):
        return None
    sender = str((event.get("sender") or {})["id"])
    if sender == account_id:
        return None
    return InboundItem(
        platform_id=str(message["mid"]), kind="dm", text=message.get("text", ""), created_at=_epoch(event["timestamp"]),
        author_id=sender, author_handle="", conversation_key="", raw=event,
    )  # fmt: skip


def _meta_dm_keys(channel: Channel, items: list) -> list:
    """Messenger and Instagram deliveries name the sender, not the conversation: a DM joins the sender's latest
    direct conversation on this channel (the one polling made, keyed by the Graph conversation id), or starts one
    keyed "user:<sender id>"."""
    from dataclasses import replace

    senders = {i.author_id for i in items if isinstance(i, InboundItem) and i.kind == "dm" and not i.conversation_key}
    if not senders:
        return items
    keys: dict[str, str] = {}
    latest = (
        Conversation.objects.filter(channel=channel, kind=ConversationKind.PRIVATE, contact__platform_user_id__in=senders)
        .order_by("last_message_at")
        .values_list("contact__platform_user_id", "key")
    )
    for sender, key in latest:
        keys[sender] = key
    return [
        replace(i, conversation_key=keys.get(i.author_id, f"user:{i.author_id}"))
        if isinstance(i, InboundItem) and i.kind == "dm" and not i.conversation_key
        else i
        for i in items
    ]


@csrf_exempt
@require_http_methods(["GET", "POST"])
def facebook(request: HttpRequest) -> HttpResponse:
    """Meta's webhook for Pages (object "page") and Instagram (object "instagram")."""
    if request.method == "GET":
        token = settings.FACEBOOK_WEBHOOK_VERIFY_TOKEN
        given = request.GET.get("hub.verify_token", "")
        challenge = request.GET.get("hub.challenge", "")
        if request.GET.get("hub.mode") != "subscribe" or not token or not constant_time_compare(given, token):
            return _refuse(request, "Facebook", "The verify token does not match.")
        if not challenge or len(challenge) > 200:
            return _refuse(request, "Facebook", "hub.challenge is missing.", status=400)
        return HttpResponse(challenge, content_type="text/plain")

    secret = settings.FACEBOOK_APP_SECRET
    given = request.headers.get("X-Hub-Signature-256", "")
    if not _signed(given, lambda: hub_signature(secret, request.body), secret):
        return _refuse(request, "Facebook", "The X-Hub-Signature-256 signature does not match.")
    payload = _body(request)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "The body is not a JSON object."}, status=400)
    platform = {"page": Platform.FACEBOOK, "instagram": Platform.INSTAGRAM}.get(payload.get("object"))
    if platform is None:
        # Other objects (user, permissions) are not ours to read; acknowledged so Meta does not retry them.
        return JsonResponse({"received": 0, "ignored": str(payload.get("object"))[:40]})
    read_change = _facebook_change if platform == Platform.FACEBOOK else _instagram_change
    by_account: dict[str, list] = defaultdict(list)
    for entry in _list(payload.get("entry")):
        if not isinstance(entry, dict) or not entry.get("id"):
            logger.warning("Facebook webhook entry without an account id dropped.")
            continue
        account_id = str(entry["id"])
        events = [("change", c) for c in _list(entry.get("changes"))] + [("message", m) for m in _list(entry.get("messaging"))]
        for kind, event in events:
            try:
                item = read_change(event, account_id, entry.get("time")) if kind == "change" else _messaging(event, account_id)
            except UNREADABLE as exc:
                # The exception may quote the payload: it stays on the quarantined row, the audit event gets only
                # the summary and the exception's class.
                by_account[account_id].append(Malformed(
                    raw=event, error=f"Unreadable {platform} {kind}: {exc!r}"[:500],
                    summary=f"Unreadable {platform} {kind}", error_class=type(exc).__name__,
                ))
                continue
            if item is not None:
                by_account[account_id].append(item)
    return JsonResponse(_deliver(platform, by_account, dm_keys=_meta_dm_keys))


# ------------------------------------------------------------------------------------------------ X
def _x_time(value: Any) -> datetime:
    """v1.1 created_at ("Wed Oct 10 20:19:24 +0000 2018") or epoch milliseconds."""
    if isinstance(value, str) and not value.isdigit():
        return parsedate_to_datetime(value).astimezone(UTC)
    return _epoch(value)


def _x_tweet(tweet: dict, for_user: str) -> InboundItem | None:
    user = tweet.get("user") or {}
    author = str(user["id_str"])
    if author == for_user or tweet.get("retweeted_status"):
        return None
    tweet_id = str(tweet["id_str"])
    text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("full_text") or tweet.get("text", "")
    parent = str(tweet.get("in_reply_to_status_id_str") or "")
    handle = user.get("screen_name", "")
    return InboundItem(
        platform_id=tweet_id, kind="reply" if parent else "mention", text=text, created_at=_x_time(tweet["created_at"]),
        author_id=author, author_handle=handle, author_name=user.get("name", ""),
        author_avatar_url=user.get("profile_image_url_https", ""),
        # The thread: the stored message it answers (ingest looks it up), else the post it answers.
        conversation_key="", in_reply_to_id=parent,
        url=f"https://x.com/{handle}/status/{tweet_id}" if handle else f"https://x.com/i/web/status/{tweet_id}",
        raw=tweet,
    )  # fmt: skip


def _x_dm(event: dict, for_user: str, users: dict) -> InboundItem | None:
    if event.get("type") != "message_create":
        return None
    create = event["message_create"]
    sender = str(create["sender_id"])
    if sender == for_user:
        return None
    recipient = str((create.get("target") or {}).get("recipient_id") or for_user)
    profile = users.get(sender) or {}
    # X names a one-to-one conversation "<lower id>-<higher id>", as GET /2/dm_events does.
    pair = sorted([sender, recipient], key=lambda v: (len(v), v))
    return InboundItem(
        platform_id=str(event["id"]), kind="dm", text=(create.get("message_data") or {}).get("text", ""),
        created_at=_x_time(event["created_timestamp"]), author_id=sender, author_handle=profile.get("screen_name", ""),
        author_name=profile.get("name", ""), author_avatar_url=profile.get("profile_image_url_https", ""),
        conversation_key="-".join(pair), url=f"https://x.com/messages/{'-'.join(pair)}", raw=event,
    )  # fmt: skip


@csrf_exempt
@require_http_methods(["GET", "POST"])
def x(request: HttpRequest) -> HttpResponse:
    """X Account Activity API: the CRC check (GET) and deliveries (POST)."""
    secret = settings.X_CONSUMER_SECRET
    if request.method == "GET":
        crc = request.GET.get("crc_token", "")
        if not secret:
            return _refuse(request, "X", "The webhook is not configured (X_CONSUMER_SECRET).")
        if not crc or len(crc) > 500:
            return _refuse(request, "X", "crc_token is missing.", status=400)
        return JsonResponse({"response_token": x_signature(secret, crc.encode())})

    given = request.headers.get("x-twitter-webhooks-signature", "")
    if not _signed(given, lambda: x_signature(secret, request.body), secret):
        return _refuse(request, "X", "The x-twitter-webhooks-signature does not match.")
    payload = _body(request)
    if not isinstance(payload, dict):
        return JsonResponse({"error": "The body is not a JSON object."}, status=400)
    for_user = str(payload.get("for_user_id") or "")
    if not for_user:
        return JsonResponse({"received": 0})
    users = payload.get("users") if isinstance(payload.get("users"), dict) else {}
    items: list = []
    events = [("tweet", t) for t in _list(payload.get("tweet_create_events"))]
    events += [("dm", d) for d in _list(payload.get("direct_message_events"))]
    for kind, event in events:
        try:
            item = _x_tweet(event, for_user) if kind == "tweet" else _x_dm(event, for_user, users)
        except UNREADABLE as exc:
            items.append(Malformed(raw=event, error=f"Unreadable X {kind} event: {exc!r}"[:500],
                                   summary=f"Unreadable X {kind} event", error_class=type(exc).__name__))
            continue
        if item is not None:
            items.append(item)
    return JsonResponse(_deliver(Platform.X, {for_user: items} if items else {}))


urls = [
    path("inbox/webhooks/facebook/", facebook, name="webhook_facebook"),
    path("inbox/webhooks/x/", x, name="webhook_x"),
]
