"""The HTTP side of the simulated Mastodon: parameters as Rails reads them, error bodies, the bearer token and its
scopes, rack-attack's rate limits with their X-RateLimit-* headers, and id pagination with Link headers."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import bearer_token, json_response, request_json

# (limit, period in seconds), as Mastodon's rack-attack and RateLimiter set them; windows are aligned
# to the period, so X-RateLimit-Reset falls on a round time (13:55:00, 14:00:00, 15:00:00 in the cassettes).
THROTTLES = {
    "api": (300, 300),  # every authenticated API call, per token
    "anonymous": (300, 300),  # unauthenticated calls, per address
    "statuses": (300, 10800),  # POST /api/v1/statuses
    "deletes": (30, 1800),  # DELETE /api/v1/statuses/:id and unreblog
    "media": (30, 1800),  # POST /api/v1|v2/media
}

INVALID_TOKEN = "The access token is invalid"
NOT_FOUND = "Record not found"
# GET /api/v1/statuses/:id answers this for a missing status (test_status_missing.yaml).
STATUS_NOT_FOUND = "Not Found"
OUT_OF_SCOPE = "This action is outside the authorized scopes"
NOT_ALLOWED = "This action is not allowed"
NEEDS_USER = "This method requires an authenticated user"
DUPLICATE = "Validation failed: Text is a duplicate of a status you posted moments ago"


def iso_time(ts: float) -> str:
    """Mastodon's times: milliseconds and Z, "2026-08-01T13:51:42.823Z"."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_reset(ts: float) -> str:
    """X-RateLimit-Reset: microseconds and Z, "2026-08-01T13:55:00.940463Z"."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def oauth_error(error: str, description: str, status: int) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def params_of(request: Request) -> MultiDict:
    """Query and body parameters together, as Rails merges them; JSON bodies too (lists as key[])."""
    if request.mimetype == "application/json":
        items = []
        for key, value in request_json(request).items():
            values = value if isinstance(value, list) else [value]
            name = f"{key}[]" if isinstance(value, list) else key
            items += [(name, str(v).lower() if isinstance(v, bool) else v) for v in values]
        return CombinedMultiDict([MultiDict(items), request.args])
    return CombinedMultiDict([request.form, request.args])


def listed(params: MultiDict, key: str) -> list[str]:
    return [v for v in params.getlist(f"{key}[]") + params.getlist(key) if v not in ("", None)]


def truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "on", "yes")


def split_scopes(value: str) -> list[str]:
    return [s for s in (value or "").replace("+", " ").split() if s]


def scope_covers(granted: list[str], needed: str) -> bool:
    return needed in granted or needed.split(":")[0] in granted


def endpoint(scope: str | None = None, *, family: str = "", user: bool = True, bearer: bool = True):
    """Wrap a handler with what every Mastodon API call does: the bearer token, its scopes, the rate limits
    and the X-RateLimit-* headers on the answer. `scope` None: the call works without a token. `bearer`
    False: the OAuth endpoints, which authenticate the client from the body and ignore a bearer token."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, request: Request, **values) -> Response:
            token = bearer_token(request) if bearer else ""
            grant = self.state["tokens"].get(token) if token else None
            if token and (grant is None or grant.get("revoked")):
                return self._throttled(request, None, family, self._unauthorized)
            if grant is None and scope is not None:
                return self._throttled(request, None, family, self._unauthorized)

            def run() -> Response:
                if grant is not None and scope is not None:
                    if not scope_covers(grant["scopes"], scope):
                        return error(OUT_OF_SCOPE, 403)
                    if user and not grant.get("account_id"):
                        return error(NEEDS_USER, 422)
                return handler(self, request, grant, **values)

            return self._throttled(request, grant, family, run)

        return wrapper

    return decorate


class ApiMixin:
    """Throttling, the 401 answer and pagination, for the Sim class (which provides `state`, `store`, `prefix`)."""

    def _throttled(self, request: Request, grant: dict | None, family: str, run) -> Response:
        if grant is not None:
            key, general = f"token:{grant['token']}", "api"
        else:
            key, general = f"ip:{request.remote_addr}", "anonymous"
        names = [general] + ([family] if family else [])
        now = self.store.now()
        reported = None
        for name in names:
            limit, period = THROTTLES[name]
            window = math.floor(now / period) * period
            bucket = self.state["ratelimits"].setdefault(f"{key}:{name}", {"window": window, "count": 0})
            if bucket["window"] != window:
                bucket.update(window=window, count=0)
            if bucket["count"] >= limit:
                return self._too_many(limit, window + period)
            bucket["count"] += 1
            reported = (limit, limit - bucket["count"], window + period)
        response = run()
        limit, remaining, reset = reported
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = iso_reset(reset)
        return response

    def _too_many(self, limit: int, reset_at: float) -> Response:
        # Mastodon's rack-attack throttled_responder.
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": iso_reset(reset_at),
            "Retry-After": str(max(0, math.ceil(reset_at - self.store.now()))),
        }
        return error("Too many requests", 429, headers)

    def _unauthorized(self) -> Response:
        header = f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{INVALID_TOKEN}"'
        return error(INVALID_TOKEN, 401, {"WWW-Authenticate": header})

    def _base(self, request: Request | None) -> str:
        if request is None:
            return self.prefix
        return request.host_url.rstrip("/") + self.prefix

    def _paginate(
        self, request: Request, items: list, key, *, default: int, maximum: int, next_only_when_full: bool = False
    ) -> tuple[list, dict[str, str]]:
        """Mastodon's id pagination: newest first; max_id, since_id and min_id bound the page; Link: next/prev."""
        params = request.args
        items = sorted(items, key=lambda item: int(key(item)), reverse=True)
        try:
            limit = min(max(int(params.get("limit", default)), 1), maximum)
        except ValueError:
            limit = default
        if params.get("max_id", "").isdigit():
            items = [i for i in items if int(key(i)) < int(params["max_id"])]
        if params.get("since_id", "").isdigit():
            items = [i for i in items if int(key(i)) > int(params["since_id"])]
        if params.get("min_id", "").isdigit():
            # The page just above min_id: the oldest `limit` of the newer items, still newest first.
            items = [i for i in items if int(key(i)) > int(params["min_id"])][-limit:]
        page = items[:limit]
        if not page:
            return page, {}
        kept = [(k, v) for k, v in params.items(multi=True) if k not in ("max_id", "min_id", "since_id")]
        base_url = request.base_url.rstrip("/")

        def link(extra: tuple[str, str]) -> str:
            return f"{base_url}?{urlencode(sorted([*kept, extra]))}"

        links = []
        if not next_only_when_full or len(page) == limit:
            links.append(f'<{link(("max_id", key(page[-1])))}>; rel="next"')
        links.append(f'<{link(("min_id", key(page[0])))}>; rel="prev"')
        return page, {"Link": ", ".join(links)}
