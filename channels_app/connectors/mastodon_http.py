"""How the Mastodon connector talks HTTP: one requests session under Mastodon.py that never follows redirects,
connects only to public addresses (checked on the connected socket, so a name cannot be re-pointed at an internal
host after the connect form accepted it; the configured simulator is the one exception) and keeps each rate-limit
family's X-RateLimit-* headers so a call whose quota is used up is refused before it is sent; and the mapping of
Mastodon.py's failures to the connector error classes."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from channels_app.address_guard import is_public_address
from channels_app.connectors.base import (
    Ambiguous,
    AuthExpired,
    ConnectorError,
    DuplicatePost,
    PermanentError,
    RateLimited,
    TransientError,
    for_write,
    not_sent,
    reset_from_iso,
)

# When a 429 carries no readable reset time.
FALLBACK_WAIT = timedelta(minutes=5)


# ---------------------------------------------------------------------------------------- errors
def error_from(exc: BaseException, response: requests.Response | None = None, *, write: bool = False) -> ConnectorError:
    """One Mastodon.py failure (and the HTTP answer behind it, when there was one) as our error class. For a
    `write`, a failure after the request may have arrived (read timeout, dropped connection, 5xx) is Ambiguous."""
    error = _error_from(exc, response)
    if write:
        if isinstance(exc, MastodonNetworkError) and response is None and type(error) is TransientError and not not_sent(exc):
            return Ambiguous("The connection to the Mastodon server broke or timed out after the request was sent; "
                             "it may have been carried out.")
        return for_write("POST", error)
    return error


def _error_from(exc: BaseException, response: requests.Response | None = None) -> ConnectorError:
    # log_in() wraps the real failure in MastodonIllegalArgumentError.
    while isinstance(exc, MastodonIllegalArgumentError) and isinstance(exc.__context__, MastodonError):
        exc = exc.__context__
    if _refused_address(exc):
        return PermanentError(
            "This Mastodon server's address is not a public one, so Civic Desk will not connect to it."
        )
    if isinstance(exc, MastodonNetworkError) and response is None:
        return TransientError("Could not reach the Mastodon server (the connection failed or timed out).")
    status, detail = _status_and_detail(exc, response)
    if status == 429:
        reset_at = reset_from_iso(response.headers.get("X-RateLimit-Reset") if response is not None else None)
        reset_at = reset_at or datetime.now(UTC) + FALLBACK_WAIT
        return RateLimited(
            f"Mastodon's rate limit for this account is used up until {reset_at:%H:%M} UTC.",
            reset_at=reset_at,
            status=429,
        )
    if isinstance(exc, MastodonRatelimitError):
        # Mastodon.py raises this on a successful answer whose X-RateLimit-Reset it cannot parse.
        return TransientError("Mastodon sent rate-limit headers that could not be read.", status=status)
    if status == 401 or isinstance(exc, MastodonUnauthorizedError):
        return AuthExpired(
            "Mastodon no longer accepts this channel's authorisation (it expired or was revoked): reconnect it.",
            status=401,
            platform_code=detail or None,
        )
    if status == 403 and "scope" in detail.lower():
        return AuthExpired(
            "The Mastodon authorisation lacks a permission Civic Desk needs: reconnect the channel.", status=403
        )
    if status == 422 and "duplicate" in detail.lower():
        return DuplicatePost(f"Mastodon says this post already exists: {detail}", status=422)
    if status == 422 and "processing" in detail.lower():
        return TransientError("Mastodon is still processing an attached image.", status=422)
    if isinstance(exc, MastodonServerError) or (status is not None and (status >= 500 or status == 408)):
        return TransientError(f"The Mastodon server had a problem (HTTP {status}).", status=status)
    if status is not None and 300 <= status < 400:
        return PermanentError(
            f"The Mastodon server answered with a redirect (HTTP {status}), which is not followed.", status=status
        )
    if status is not None:
        reason = f": {detail}" if detail else ""
        return PermanentError(
            f"Mastodon refused the request (HTTP {status}){reason}", status=status, platform_code=detail or None
        )
    return PermanentError("Mastodon gave an answer Civic Desk could not read.")


def _status_and_detail(exc: BaseException, response: requests.Response | None) -> tuple[int | None, str]:
    status, detail = None, ""
    if isinstance(exc, MastodonAPIError) and len(exc.args) >= 4 and isinstance(exc.args[1], int):
        status, detail = exc.args[1], str(exc.args[3] or "")
    elif response is not None and not (200 <= response.status_code < 300):
        status = response.status_code
        try:
            body = response.json()
            detail = str(body.get("error_description") or body.get("error") or "") if isinstance(body, dict) else ""
        except ValueError:
            detail = ""
    return status, detail[:300]


def _refused_address(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, _NotPublic):
            return True
        inner = getattr(exc, "reason", None) or (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        )
        exc = inner or exc.__cause__ or exc.__context__
        seen += 1
    return False


# ---------------------------------------------------------------------------------------- session
class _NotPublic(NewConnectionError):
    pass


class _PublicOnly:
    """A urllib3 connection that, once connected, refuses a peer that is not a public address."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
        if not is_public_address(peer):
            sock.close()
            raise _NotPublic(self, "Refused: the server's address is not a public one.")
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def _family(method: str, path: str) -> str:
    """Mastodon's rate-limit families: each has its own X-RateLimit-* counters."""
    path = path.rstrip("/")
    if method == "POST" and path.endswith("/api/v1/statuses"):
        return "statuses"
    if (method == "DELETE" and "/api/v1/statuses/" in path) or (method == "POST" and path.endswith("/unreblog")):
        return "deletes"
    if method == "POST" and (path.endswith("/api/v2/media") or path.endswith("/api/v1/media")):
        return "media"
    return "api"


class MastodonSession(requests.Session):
    """The HTTP session under Mastodon.py: no redirects, public peers only (except the configured simulator),
    and the last X-RateLimit-* headers of each family."""

    def __init__(self):
        super().__init__()
        self.mount("https://", _PublicOnlyAdapter())
        self.mount("http://", _PublicOnlyAdapter())
        if settings.SIM_URL:
            self.mount(f"{settings.SIM_URL.rstrip('/')}/", HTTPAdapter())
        self.quota: dict[str, tuple[int, datetime | None]] = {}
        self.last_response: requests.Response | None = None

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        self.last_response = None
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        if remaining.isdigit():
            family = _family(method.upper(), urlsplit(url).path)
            self.quota[family] = (int(remaining), reset_from_iso(response.headers.get("X-RateLimit-Reset")))
        return response

    def check_quota(self, family: str) -> None:
        now = datetime.now(UTC)
        for name in dict.fromkeys(("api", family)):
            remaining, reset_at = self.quota.get(name, (1, None))
            if remaining <= 0 and reset_at is not None and reset_at > now:
                raise RateLimited(
                    f"Mastodon's rate limit for this account is used up until {reset_at:%H:%M} UTC; not calling before then.",
                    reset_at=reset_at,
                    status=429,
                )
