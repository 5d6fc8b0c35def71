"""What every Graph API answer shares: error bodies, the `fields` grammar, cursor and time paging, times, the
usage headers and request parameters. The reference is the python-facebook bodies in
../shared/platform-fixtures/facebook (recorded from the Graph API v10-v18).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from simulator.platforms.base import json_response, request_json

VERSION = re.compile(r"^v\d{1,2}\.\d$")
# A field a node leaves out of its answer (an empty message, `from` the viewer may not see).
MISSING = object()

# The seeded people and the permissions Facebook Login can grant.
MANAGER_ID = "100000000000900"
CITIZEN_ID = "100000000000101"
CITIZEN_IG_ID = "17841400000000101"
ALL_SCOPES = (
    "public_profile", "email", "pages_show_list", "pages_manage_posts", "pages_read_engagement",
    "pages_manage_engagement", "pages_messaging", "pages_read_user_content", "read_insights",
    "instagram_basic", "instagram_content_publish", "instagram_manage_comments", "instagram_manage_messages",
    "instagram_manage_insights", "business_management",
)  # fmt: skip
# The picture seeded posts carry and every account's avatar, served at /graph/media/placeholder.png.
PLACEHOLDER = "placeholder.png"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


# ------------------------------------------------------------------------------------------------ errors
def fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(22))


class GraphError(Exception):
    """An error the Graph API answers with: {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}."""

    def __init__(self, code: int, message: str, *, status: int = 400, subcode: int | None = None,
                 type: str = "OAuthException", headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.status, self.subcode, self.type = code, message, status, subcode, type
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


def unsupported(method: str, object_id: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33, type="GraphMethodException",
    )


def missing_permission(permission: str) -> GraphError:
    return GraphError(200, f"(#200) The user hasn't authorized the application to perform this action. "
                           f"This endpoint requires the '{permission}' permission.", status=403)


def invalid_parameter(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(100, f"(#100) {message}", subcode=subcode)


def expired_token_error(expired_at: float, now: float) -> GraphError:
    message = (f"Error validating access token: Session has expired on {_fb_day(expired_at)}. "
               f"The current time is {_fb_day(now)}.")
    return GraphError(190, message, subcode=463, headers=_www_authenticate(message))


def invalid_token_error(token: str) -> GraphError:
    # The real API echoes a malformed token back in the message; connectors must scrub it.
    if not token.startswith(("EAA", "sim-")):
        message = f"Malformed access token {token}"
    else:
        message = "Invalid OAuth access token - Cannot parse access token"
    return GraphError(190, message, headers=_www_authenticate(message))


def revoked_token_error() -> GraphError:
    message = "Error validating access token: The user has not authorized application."
    return GraphError(190, message, subcode=458, headers=_www_authenticate(message))


def duplicate_error() -> GraphError:
    return GraphError(506, "Duplicate status message", subcode=1455006, is_transient=False,
                      error_user_title="Duplicate Post",
                      error_user_msg="This status update is identical to the last one you posted. Try posting "
                                     "something different, or delete your previous update.")


def _www_authenticate(message: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" "{message}"'}


def _fb_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


# ------------------------------------------------------------------------------------------------ times
def fb_time(ts: float) -> str:
    """Graph API times: 2021-08-10T18:45:03+0000."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time_param(value: str | None) -> float | None:
    """`since` / `until`: a Unix time or an ISO 8601 / strtotime-like date."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        raise invalid_parameter(f"The parameter since/until must be a Unix time or a date, not {value!r}.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


# ----------------------------------------------------------------------------------------------- params
def params_of(request: Request) -> dict[str, Any]:
    """Query, form and JSON body parameters together, as the Graph API merges them."""
    merged: dict[str, Any] = dict(request.args.items())
    if request.mimetype == "application/json":
        merged.update(request_json(request))
    else:
        merged.update(request.form.items())
    return merged


def json_param(params: dict[str, Any], name: str) -> dict[str, Any]:
    """Objects such as `recipient` and `message` arrive as JSON bodies or as JSON text in form fields."""
    value = params.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise invalid_parameter(f"Param {name} must be a JSON object") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_parameter(f"Param {name} must be a JSON object")
    return value


def truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def limit_of(value: Any, default: int = DEFAULT_LIMIT) -> int:
    if value in (None, ""):
        return default
    try:
        return max(1, min(MAX_LIMIT, int(value)))
    except (TypeError, ValueError):
        raise invalid_parameter("Param limit must be an integer") from None


# ----------------------------------------------------------------------------------------------- fields
@dataclass
class Field:
    """One entry of `fields=`: name, .modifier(value) calls and an optional {sub,fields} block."""

    name: str
    modifiers: dict[str, str] = field(default_factory=dict)
    children: list[Field] | None = None


_NAME = re.compile(r"[A-Za-z0-9_]+")


def parse_fields(text: str) -> list[Field]:
    """Parse `a,b.summary(true).limit(0),c{d,e{f}}` into Fields; raises GraphError on a syntax error."""
    fields, end = _parse_field_list(text or "", 0, top=True)
    if end != len(text or ""):
        raise invalid_parameter(f"Syntax error \"Expected end of string instead of \"{text[end]}\".\" at character {end}: {text}")
    return fields


def _parse_field_list(text: str, pos: int, *, top: bool) -> tuple[list[Field], int]:
    fields: list[Field] = []
    while pos < len(text):
        while pos < len(text) and text[pos] in ", ":
            pos += 1
        if pos >= len(text) or text[pos] == "}":
            break
        match = _NAME.match(text, pos)
        if not match:
            raise invalid_parameter(f"Syntax error \"Field name expected.\" at character {pos}: {text}")
        current = Field(match.group())
        pos = match.end()
        while pos < len(text) and text[pos] == ".":
            modifier = _NAME.match(text, pos + 1)
            if not modifier or text[modifier.end():modifier.end() + 1] != "(":
                raise invalid_parameter(f"Syntax error \"Expected modifier.\" at character {pos}: {text}")
            close = text.find(")", modifier.end())
            if close < 0:
                raise invalid_parameter(f"Syntax error \"Expected \")\".\" at character {modifier.end()}: {text}")
            current.modifiers[modifier.group()] = text[modifier.end() + 1:close]
            pos = close + 1
        if pos < len(text) and text[pos] == "{":
            current.children, pos = _parse_field_list(text, pos + 1, top=False)
            if pos >= len(text) or text[pos] != "}":
                raise invalid_parameter(f"Syntax error \"Expected \"}}\".\" at character {pos}: {text}")
            pos += 1
        fields.append(current)
    if not top and pos >= len(text):
        raise invalid_parameter(f"Syntax error \"Expected \"}}\".\" at character {pos}: {text}")
    return fields, pos


def field_names(text: str) -> list[Field]:
    return parse_fields(text) if text else []


# ----------------------------------------------------------------------------------------------- paging
def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(f"c:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter("The after/before cursor is not valid.") from None
    if not raw.startswith("c:"):
        raise invalid_parameter("The after/before cursor is not valid.")
    return raw[2:]


@dataclass
class Page:
    """One page of an edge: the items plus the paging object, as the Graph API writes it."""

    items: list[Any]
    paging: dict[str, Any]


def cursor_page(items: Sequence[Any], key: Callable[[Any], str], *, limit: int, after: str = "",
                before: str = "", next_url: Callable[[dict[str, str]], str] | None = None) -> Page:
    """Cursor paging (paging.cursors.before/after, paging.next/previous) over items already in edge order."""
    ids = [key(item) for item in items]
    if after:
        mark = decode_cursor(after)
        start = ids.index(mark) + 1 if mark in ids else len(ids)
        end = start + limit
    elif before:
        mark = decode_cursor(before)
        end = ids.index(mark) if mark in ids else 0
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    chosen = list(items[start:end])
    paging: dict[str, Any] = {}
    if chosen:
        first, last = key(chosen[0]), key(chosen[-1])
        paging["cursors"] = {"before": encode_cursor(first), "after": encode_cursor(last)}
        if next_url is not None:
            if start > 0:
                paging["previous"] = next_url({"before": encode_cursor(first)})
            if start + len(chosen) < len(items):
                paging["next"] = next_url({"after": encode_cursor(last)})
    return Page(chosen, paging)


def time_page(items: Sequence[Any], key: Callable[[Any], str], created: Callable[[Any], float], *, limit: int,
              since: float | None, until: float | None, paging_token: str = "", previous: bool = False,
              next_url: Callable[[dict[str, str]], str] | None = None) -> Page:
    """Time paging as /feed and /posts use it (feed_fields_p1.json): newest first, paging.previous with
    since=…&__previous=1 and paging.next with until=…, each with an opaque __paging_token."""
    ordered = list(items)
    ids = [key(item) for item in ordered]
    mark = ""
    if paging_token:
        try:
            mark = decode_cursor(paging_token)
        except GraphError:
            mark = ""
    if mark in ids:
        position = ids.index(mark)
        window = ordered[:position] if previous else ordered[position + 1:]
    else:
        window = [i for i in ordered if (since is None or created(i) >= since) and (until is None or created(i) <= until)]
    chosen = window[-limit:] if previous and mark else window[:limit]
    paging: dict[str, Any] = {}
    if chosen and next_url is not None:
        first, last = chosen[0], chosen[-1]
        paging["previous"] = next_url({"since": str(int(created(first))), "__previous": "1",
                                       "__paging_token": encode_cursor(key(first))})
        if ordered.index(last) + 1 < len(ordered):
            paging["next"] = next_url({"until": str(int(created(last))), "__paging_token": encode_cursor(key(last))})
    return Page(chosen, paging)


def paging_url(request: Request, params: dict[str, Any], *, path: str, replace: dict[str, str]) -> str:
    """The next/previous URL: the same call with the cursor replaced (and the token only if it came in the query)."""
    query = {k: v for k, v in request.args.items() if k not in ("after", "before", "since", "until", "__paging_token",
                                                                   "__previous")}
    query.update(replace)
    return f"{request.host_url.rstrip('/')}{path}?{urlencode(query)}"


# ------------------------------------------------------------------------------------------------ usage
def usage_entry(kind: str, percent: int, regain_minutes: int) -> dict[str, Any]:
    return {"type": kind, "call_count": percent, "total_cputime": max(0, percent // 2),
            "total_time": max(0, percent // 2), "estimated_time_to_regain_access": regain_minutes}


def compact_json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
