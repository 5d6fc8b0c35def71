"""The parts of X API v2 every endpoint shares: problem bodies, the endpoint decorator, fields and expansions,
query checks and newest-first pagination with opaque tokens."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from twitter_text import parse_tweet
from werkzeug.wrappers import Request, Response

WINDOW = 900  # every X v2 limit here is per 15 minutes
PAGE_PREFIX = "7140dibdnow9c7btw4"
INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
FIELDS = {
    "tweet.fields": {
        "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations", "conversation_id",
        "created_at", "display_text_range", "edit_controls", "edit_history_tweet_ids", "entities", "geo", "id",
        "in_reply_to_user_id", "lang", "media_metadata", "non_public_metrics", "note_tweet", "organic_metrics",
        "possibly_sensitive", "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
        "source", "suggested_source_links", "suggested_source_links_with_counts", "text", "withheld",
    },
    "user.fields": {
        "affiliation", "confirmed_email", "connection_status", "created_at", "description", "entities", "id",
        "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id",
        "profile_banner_url", "profile_image_url", "protected", "public_metrics", "receives_your_dm", "subscription",
        "subscription_type", "url", "username", "verified", "verified_followers_count", "verified_type", "withheld",
    },
    "dm_event.fields": {
        "attachments", "created_at", "dm_conversation_id", "entities", "event_type", "id", "participant_ids",
        "referenced_tweets", "sender_id", "text",
    },
    "media.fields": {
        "alt_text", "duration_ms", "height", "media_key", "non_public_metrics", "organic_metrics",
        "preview_image_url", "promoted_metrics", "public_metrics", "type", "url", "variants", "width",
    },
    "place.fields": {"contained_within", "country", "country_code", "full_name", "geo", "id", "name", "place_type"},
    "poll.fields": {"duration_minutes", "end_datetime", "id", "options", "voting_status"},
}
TWEET_EXPANSIONS = {
    "article.cover_media", "article.media_entities", "attachments.media_keys", "attachments.media_source_tweet",
    "attachments.poll_ids", "author_id", "edit_history_tweet_ids", "entities.mentions.username", "geo.place_id",
    "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id",
}
USER_EXPANSIONS = {"affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"}
DM_EXPANSIONS = {"attachments.media_keys", "participant_ids", "referenced_tweets.id", "sender_id"}
TWEET_QUERY = {"tweet.fields", "user.fields", "media.fields", "place.fields", "poll.fields", "expansions"}
TIMELINE_QUERY = TWEET_QUERY | {"since_id", "until_id", "max_results", "pagination_token", "start_time", "end_time"}
DM_QUERY = {"dm_event.fields", "event_types", "expansions", "max_results", "media.fields", "pagination_token",
            "tweet.fields", "user.fields"}


class XError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body.get("detail", ""))
        self.status, self.body = status, body


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> XError:
    return XError(status, {"title": title, "detail": detail, "type": type_, "status": status})


def unauthorized() -> XError:
    return problem(401, "Unauthorized", "Unauthorized")


def forbidden(detail: str) -> XError:
    return problem(403, "Forbidden", detail)


def invalid(parameter: str, value: Any, message: str) -> XError:
    """X's 400: the parameter, its value and what is wrong, under "Invalid Request"."""
    return XError(400, {
        "errors": [{"parameters": {parameter: [str(value)]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID_REQUEST,
    })


def not_found_error(kind: str, value: str, parameter: str = "id") -> dict:
    return {"value": value, "detail": f"Could not find {kind} with {parameter}: [{value}].", "title": "Not Found Error",
            "resource_type": kind, "parameter": parameter, "resource_id": value, "type": NOT_FOUND}


@dataclass
class ApiCall:
    request: Request
    user_id: str = ""

    @property
    def base(self) -> str:
        return self.request.host_url.rstrip("/") + "/x"


def endpoint(*, limit: int, auth: str = "user") -> Callable:
    """Marks a handler as an API endpoint allowing `limit` requests per 15 minutes per token (the recorded
    x-rate-limit-limit values), authenticated ("user": a bearer access token; "client": the OAuth client,
    checked by the handler), with errors written as X writes them."""

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def serve(self, request: Request, **values: str) -> Response:
            return self._serve(handler, limit, auth, request, values)

        return serve

    return decorate


def iso_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str, parameter: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid(parameter, value, f"The `{parameter}` query parameter value [{value}] is not a valid RFC3339 date-time") from None


def weighted_length(text: str) -> int:
    return parse_tweet(text).weightedLength


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(max(remaining, 0)), "x-rate-limit-reset": str(int(reset))}


def id_order(item: dict) -> int:
    return int(item["id"])


def unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = item["id"] if isinstance(item, dict) else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _page_token(direction: str, item_id: str) -> str:
    """Opaque to clients, like X's: a fixed stem, the direction and the boundary id in base 36."""
    return PAGE_PREFIX + ("n" if direction == "next" else "p") + _base36(int(item_id))


def _decode_page_token(token: str) -> tuple[str, int] | None:
    body = token[len(PAGE_PREFIX):] if token.startswith(PAGE_PREFIX) else ""
    if len(body) < 2 or body[0] not in "np":
        return None
    try:
        return ("next" if body[0] == "n" else "previous"), int(body[1:], 36)
    except ValueError:
        return None


def check_query(call: ApiCall, allowed: set[str]) -> None:
    for name in call.request.args:
        if name not in allowed:
            raise invalid(name, call.request.args[name],
                          f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]")


def requested_fields(call: ApiCall, parameter: str) -> set[str]:
    requested = set(filter(None, call.request.args.get(parameter, "").split(",")))
    for value in requested - FIELDS[parameter]:
        raise invalid(parameter, value, f"The `{parameter}` query parameter value [{value}] is not one of "
                                        f"[{','.join(sorted(FIELDS[parameter]))}]")
    return requested


def requested_expansions(call: ApiCall, allowed: set[str]) -> set[str]:
    requested = set(filter(None, call.request.args.get("expansions", "").split(",")))
    for value in requested - allowed:
        raise invalid("expansions", value, f"The `expansions` query parameter value [{value}] is not one of "
                                           f"[{','.join(sorted(allowed))}]")
    return requested


def paginate(call: ApiCall, items: list[dict], *, low: int, high: int, default: int,
             newest_oldest: bool) -> tuple[list[dict], dict]:
    """Newest first. next_token continues below the page's oldest id, previous_token above its newest."""
    args = call.request.args
    raw = args.get("max_results", str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise invalid("max_results", raw, f"The `max_results` query parameter value [{raw}] is not between {low} and {high}")
    size = int(raw)
    items = sorted(items, key=id_order, reverse=True)
    token = args.get("pagination_token", "")
    if token:
        decoded = _decode_page_token(token)
        if decoded is None:
            raise invalid("pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid")
        direction, boundary = decoded
        if direction == "next":
            items = [i for i in items if int(i["id"]) < boundary]
        else:
            # The page just above the boundary: the `size` oldest of the newer items, still newest first.
            newer = [i for i in items if int(i["id"]) > boundary]
            items = newer[-size:] + [i for i in items if int(i["id"]) <= boundary]
    page = items[:size]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page and newest_oldest:
        meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
    if len(items) > len(page):
        meta["next_token"] = _page_token("next", page[-1]["id"])
    if page and (token or not newest_oldest):
        meta["previous_token"] = _page_token("previous", page[0]["id"])
    return page, meta
