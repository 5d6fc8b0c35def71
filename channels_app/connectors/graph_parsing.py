"""Reading Graph API answers: comments, tagged posts, Instagram comments and mentions, messages, metrics, the
usage headers, and the one mapping from Graph error bodies to the connector errors. Pure functions over the
decoded JSON, tested against the recorded python-facebook bodies in ../shared/platform-fixtures/facebook.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from requests.structures import CaseInsensitiveDict

from channels_app.connectors.base import (
    AuthExpired,
    ConnectorError,
    DuplicatePost,
    InboundItem,
    PermanentError,
    PostMetrics,
    RateLimited,
    TransientError,
)

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
AUTH_CODES = frozenset({190, 102, 463, 467})
AUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467, 492})
TRANSIENT_CODES = frozenset({1, 2})
DUPLICATE_CODE = 506
OUTSIDE_WINDOW_SUBCODE = 2018278
PUBLISH_LIMIT_SUBCODE = 2207042
FALLBACK_WAIT = timedelta(hours=1)
_TOKEN_LIKE = re.compile(r"\bEAA[A-Za-z0-9]{16,}")


def parse_time(value: str | None) -> datetime | None:
    """Graph times: 2021-08-10T18:45:03+0000 (also accepts ISO 8601 with a colon or Z)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Watermark:
    """A stream's cursor: the time of the newest item taken and the ids taken in that second, "<time>|<id>,<id>".

    Graph times have one-second resolution and ids are not ordered (m_... message ids are random), so an item in the
    watermark's own second is new exactly when its id is not listed. `since` is the mark read in; `take` moves the
    mark that `str()` writes out.
    """

    def __init__(self, value: str = ""):
        self.since: datetime | None = None
        self.since_ids: frozenset[str] = frozenset()
        if value and "|" in value:
            when, ids = value.split("|", 1)
            self.since = parse_time(when)
            if self.since is not None:
                self.since_ids = frozenset(i for i in ids.split(",") if i)
        self.newest, self.newest_ids = self.since, set(self.since_ids)

    @property
    def started(self) -> bool:
        return self.since is not None

    def is_new(self, created: datetime, item_id: str) -> bool:
        if self.since is None:
            return True
        return created > self.since or (created == self.since and item_id not in self.since_ids)

    def is_before(self, moment: datetime | None) -> bool:
        """Strictly older than the mark: everything from then was taken already."""
        return self.since is not None and moment is not None and moment < self.since

    def take(self, created: datetime, item_id: str) -> None:
        if self.newest is None or created > self.newest:
            self.newest, self.newest_ids = created, {item_id}
        elif created == self.newest:
            self.newest_ids.add(item_id)

    def __str__(self) -> str:
        if self.newest is None:
            return ""
        return f"{self.newest.strftime('%Y-%m-%dT%H:%M:%S+0000')}|{','.join(sorted(self.newest_ids))}"


def _comment_ids_from_permalink(permalink: str) -> tuple[str, str, str]:
    """(post key "<owner>_<post>", comment number, reply number) from a comment's permalink_url."""
    parsed = urlparse(permalink or "")
    parts = [p for p in parsed.path.split("/") if p]
    query = parse_qs(parsed.query)
    post_key = f"{parts[0]}_{parts[2]}" if len(parts) >= 3 and parts[1] == "posts" else ""
    return post_key, (query.get("comment_id") or [""])[0], (query.get("reply_comment_id") or [""])[0]


def parse_facebook_comment(raw: Mapping[str, Any], *, own_id: str = "", conversation_key: str = "") -> InboundItem | None:
    """A comment (or reply) on one of our posts, as comments_p1.json shows them (id and from are present only when
    asked for and allowed; the permalink names the post, the comment and the reply)."""
    created = parse_time(raw.get("created_time"))
    author = raw.get("from") or {}
    if created is None or (own_id and author.get("id") == own_id):
        return None
    post_key, comment_number, reply_number = _comment_ids_from_permalink(raw.get("permalink_url", ""))
    post_number = post_key.split("_")[-1] if post_key else ""
    platform_id = raw.get("id") or (f"{post_number}_{reply_number or comment_number}" if post_number else "")
    parent = (raw.get("parent") or {}).get("id", "")
    if not parent and reply_number and post_number:
        parent = f"{post_number}_{comment_number}"
    return InboundItem(
        platform_id=platform_id, kind="comment", text=raw.get("message", ""), created_at=created,
        author_id=author.get("id", ""), author_handle=author.get("name", ""), author_name=author.get("name", ""),
        author_avatar_url=((author.get("picture") or {}).get("data") or {}).get("url", ""),
        conversation_key=conversation_key or post_key, in_reply_to_id=parent, url=raw.get("permalink_url", ""),
        raw=dict(raw),
    )  # fmt: skip


def parse_facebook_comments(body: Mapping[str, Any], **kwargs: Any) -> list[InboundItem]:
    return [item for raw in body.get("data") or [] if (item := parse_facebook_comment(raw, **kwargs))]


def parse_tagged_post(raw: Mapping[str, Any], *, own_id: str = "") -> InboundItem | None:
    """A post that tags the Page (/{page-id}/tagged, fields like feed_fields_p1.json)."""
    created = parse_time(raw.get("created_time"))
    author = raw.get("from") or {}
    if created is None or not raw.get("id") or (own_id and author.get("id") == own_id):
        return None
    return InboundItem(
        platform_id=raw["id"], kind="mention", text=raw.get("message", ""), created_at=created,
        author_id=author.get("id", ""), author_handle=author.get("name", ""), author_name=author.get("name", ""),
        author_avatar_url=((author.get("picture") or {}).get("data") or {}).get("url", ""),
        conversation_key=raw["id"], url=raw.get("permalink_url", ""), raw=dict(raw),
    )  # fmt: skip


def parse_instagram_comment(raw: Mapping[str, Any], *, media_id: str = "", parent_id: str = "", own_id: str = "",
                            url: str = "") -> InboundItem | None:
    """An Instagram comment or reply (medias/comments_p1.json, comments/comment_fields.json)."""
    created = parse_time(raw.get("timestamp"))
    author = raw.get("from") or {}
    username = author.get("username") or raw.get("username", "")
    if created is None or not raw.get("id") or (own_id and author.get("id") == own_id):
        return None
    return InboundItem(
        platform_id=raw["id"], kind="comment", text=raw.get("text", ""), created_at=created,
        author_id=author.get("id") or username, author_handle=username, author_name=username,
        conversation_key=media_id or (raw.get("media") or {}).get("id", ""),
        in_reply_to_id=parent_id or raw.get("parent_id", ""), url=url, raw=dict(raw),
    )  # fmt: skip


def parse_instagram_comments(body: Mapping[str, Any], *, media_id: str = "", own_id: str = "", url: str = "") -> list[InboundItem]:
    """Top-level comments and the replies nested under each (replies{...}), in the order given."""
    items = []
    for raw in body.get("data") or []:
        item = parse_instagram_comment(raw, media_id=media_id, own_id=own_id, url=url)
        if item:
            items.append(item)
        for reply in (raw.get("replies") or {}).get("data") or []:
            nested = parse_instagram_comment(reply, media_id=media_id, parent_id=raw.get("id", ""), own_id=own_id, url=url)
            if nested:
                items.append(nested)
    return items


def parse_instagram_mention(raw: Mapping[str, Any], *, own_username: str = "") -> InboundItem | None:
    """Media that mention the account (/{ig-user-id}/tags, mentioned_media.json)."""
    created = parse_time(raw.get("timestamp"))
    username = raw.get("username", "")
    if created is None or not raw.get("id") or (own_username and username == own_username):
        return None
    return InboundItem(platform_id=raw["id"], kind="mention", text=raw.get("caption", ""), created_at=created,
                       author_id=username, author_handle=username, author_name=username, conversation_key=raw["id"],
                       url=raw.get("permalink", ""), raw=dict(raw))


def parse_message(raw: Mapping[str, Any], *, conversation_id: str, own_id: str = "") -> InboundItem | None:
    """A Messenger or Instagram message (message_info.json): from {name, email, id} or {username, id}."""
    created = parse_time(raw.get("created_time"))
    author = raw.get("from") or {}
    if created is None or not raw.get("id") or (own_id and author.get("id") == own_id):
        return None
    handle = author.get("username") or author.get("name", "")
    return InboundItem(platform_id=raw["id"], kind="dm", text=raw.get("message", ""), created_at=created,
                       author_id=author.get("id", ""), author_handle=handle, author_name=author.get("name") or handle,
                       conversation_key=conversation_id, raw=dict(raw))


def parse_messages(body: Mapping[str, Any], *, conversation_id: str, own_id: str = "") -> list[InboundItem]:
    return [i for raw in body.get("data") or [] if (i := parse_message(raw, conversation_id=conversation_id, own_id=own_id))]


def _summary_count(body: Mapping[str, Any], name: str) -> int | None:
    edge = body.get(name)
    if not isinstance(edge, Mapping):
        return None
    count = (edge.get("summary") or {}).get("total_count")
    return int(count) if count is not None else None


def insight_values(body: Mapping[str, Any] | None) -> dict[str, int]:
    """{metric name: value} from an insights body (insights.json): the latest value, or total_value."""
    values: dict[str, int] = {}
    for metric in (body or {}).get("data") or []:
        if metric.get("total_value", {}).get("value") is not None:
            values[metric["name"]] = int(metric["total_value"]["value"])
        elif metric.get("values"):
            values[metric["name"]] = int(metric["values"][-1].get("value") or 0)
    return values


def parse_post_metrics(post: Mapping[str, Any], insights: Mapping[str, Any] | None = None) -> PostMetrics:
    """A Facebook post with likes/reactions/comments summaries and shares (single_post_data.json) plus insights, or a
    comment with like_count and comment_count (comment_info.json)."""
    likes = _summary_count(post, "reactions")
    if likes is None:
        likes = _summary_count(post, "likes")
    replies = _summary_count(post, "comments")
    values = insight_values(insights)
    return PostMetrics(likes=int(likes if likes is not None else post.get("like_count") or 0),
                       replies=int(replies if replies is not None else post.get("comment_count") or 0),
                       reposts=int((post.get("shares") or {}).get("count") or 0),
                       impressions=values.get("post_impressions"), link_clicks=values.get("post_clicks"))


def parse_media_metrics(media: Mapping[str, Any], insights: Mapping[str, Any] | None = None) -> PostMetrics:
    """Instagram media (media_default.json) plus media insights (insights.json)."""
    values = insight_values(insights)
    return PostMetrics(likes=int(media.get("like_count") or 0), replies=int(media.get("comments_count") or 0),
                       impressions=values.get("impressions", values.get("views")))


def parse_business_usage(header: str | None) -> list[dict[str, Any]]:
    """X-Business-Use-Case-Usage: {"<object id>": [{"type", "call_count", "total_cputime", "total_time",
    "estimated_time_to_regain_access"}]} → the entries, flattened."""
    try:
        body = json.loads(header) if header else {}
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    return [entry for entries in body.values() if isinstance(entries, list) for entry in entries if isinstance(entry, dict)]


def usage_wait(headers: Mapping[str, str]) -> timedelta | None:
    """How long the usage headers tell us to stop calling, or None when there is room left."""
    headers = CaseInsensitiveDict(headers)
    wait: timedelta | None = None
    for entry in parse_business_usage(headers.get("X-Business-Use-Case-Usage")):
        minutes = _number(entry.get("estimated_time_to_regain_access"))
        if minutes > 0:
            wait = max(wait or timedelta(0), timedelta(minutes=minutes))
        elif max(_number(entry.get(k)) for k in ("call_count", "total_cputime", "total_time")) >= 100:
            wait = max(wait or timedelta(0), FALLBACK_WAIT)
    try:
        app = json.loads(headers.get("X-App-Usage") or "{}")
    except ValueError:
        app = {}
    if isinstance(app, dict) and max((_number(app.get(k)) for k in ("call_count", "total_cputime", "total_time")),
                                     default=0) >= 100:
        wait = max(wait or timedelta(0), FALLBACK_WAIT)
    return wait


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def scrub(message: str, secrets: Sequence[str] = ()) -> str:
    """The platform's message without credentials: Graph echoes malformed tokens back ("Malformed access token …")."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            message = message.replace(secret, "[redacted]")
    message = re.sub(r"(Malformed access token)\s+\S.*", r"\1", message)
    message = re.sub(r"(access_token|client_secret|code|fb_exchange_token)=[^&\s]+", r"\1=[redacted]", message)
    return _TOKEN_LIKE.sub("[redacted]", message)


def error_from_response(status: int, body: Any, headers: Mapping[str, str] | None = None, *, label: str = "Facebook",
                        secrets: Sequence[str] = (), now: datetime | None = None) -> ConnectorError:
    """The one mapping from a Graph API error answer to the connector errors."""
    headers = headers or {}
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        if status == 429:
            return RateLimited(f"{label} is limiting requests; trying again later.", status=status,
                               reset_at=(now or datetime.now(UTC)) + FALLBACK_WAIT)
        if status >= 500:
            return TransientError(f"{label} is having trouble (HTTP {status}); we will try again.", status=status)
        return PermanentError(f"{label} refused the request (HTTP {status}).", status=status)
    code = int(_number(error.get("code")))
    subcode = int(_number(error.get("error_subcode"))) or None
    platform_code = f"{code}/{subcode}" if subcode else str(code)
    message = scrub(str(error.get("error_user_msg") or error.get("message") or "no reason given"), secrets)
    kwargs = {"status": status, "platform_code": platform_code}
    if code in RATE_LIMIT_CODES or (code == 9 and subcode == PUBLISH_LIMIT_SUBCODE):
        reset_at = (now or datetime.now(UTC)) + (usage_wait(headers) or FALLBACK_WAIT)
        return RateLimited(f"{label} rate limit reached: {message}", reset_at=reset_at, **kwargs)
    if code in AUTH_CODES or subcode in AUTH_SUBCODES:
        return AuthExpired(f"{label} no longer accepts this channel's access ({message}). Reconnect the channel.", **kwargs)
    if code == DUPLICATE_CODE:
        return DuplicatePost(f"{label} refused this post as a duplicate of the last one.", **kwargs)
    if subcode == OUTSIDE_WINDOW_SUBCODE:
        return PermanentError(f"{label} only lets you answer a message within 24 hours of the person's last message; "
                              "this conversation is outside that window.", **kwargs)
    if code in TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
        return TransientError(f"{label} is having trouble: {message}", **kwargs)
    return PermanentError(f"{label} refused the request: {message}", **kwargs)


def parse_page_accounts(body: Mapping[str, Any]) -> list[dict[str, str]]:
    """/me/accounts (user_accounts_p1.json): each Page with its token and linked Instagram account."""
    pages = []
    for page in body.get("data") or []:
        instagram = page.get("instagram_business_account") or {}
        pages.append({"id": str(page["id"]), "name": page.get("name", ""), "page_access_token": page.get("access_token", ""),
                      "instagram_id": instagram.get("id", ""), "instagram_username": instagram.get("username", "")})
    return pages
