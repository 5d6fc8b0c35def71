"""The connector interface: one module per platform implements it; everything else uses only this.

Every connector takes its base URL from settings (never asks whether it talks to the simulator),
returns the normalised records below, and raises only the errors below, so tasks can decide to
retry, wait or stop without knowing the platform (healthchecks' TransportError(permanent=...)).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels_app.text import TextCheck, validate_text


# ------------------------------------------------------------------------------------------- errors
class ConnectorError(Exception):
    """Base of every connector failure. `message` is safe to show and store: it never holds a credential."""

    permanent = False

    def __init__(self, message: str, *, status: int | None = None, platform_code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.platform_code = platform_code


class RateLimited(ConnectorError):
    """Wait until `reset_at` (read from the platform's headers or error body) before calling again."""

    def __init__(self, message: str, *, reset_at: datetime, **kwargs):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class AuthExpired(ConnectorError):
    """The token expired or was revoked: the channel needs reconnecting; nothing retries until then."""

    permanent = True


class PermanentError(ConnectorError):
    """The platform refused the request as it is (bad request, too long, not allowed): never retried."""

    permanent = True


class DuplicatePost(PermanentError):
    """The platform says this exact post already exists (a retry after an ambiguous failure)."""


class TransientError(ConnectorError):
    """5xx, timeouts, connection failures: retried with backoff."""


class Ambiguous(TransientError):
    """A write may have been carried out although no confirmation came back: the answer timed out, the connection
    dropped after the request was sent, or the platform answered 5xx to it. Whoever wrote must read the platform
    (find_reply / find_dm) before sending again, never resend blindly."""


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def request_failure(exc: BaseException, *, method: str, label: str, timeout: float) -> TransientError:
    """A requests failure as TransientError when the request surely did not reach the platform or only read,
    as Ambiguous when a write may have arrived (read timeout, connection dropped after sending)."""
    import requests

    if method.upper() in SAFE_METHODS or not_sent(exc):
        if isinstance(exc, requests.Timeout):
            return TransientError(f"{label} did not answer within {timeout:g} seconds.")
        return TransientError(f"Could not reach {label} ({type(exc).__name__}).")
    if isinstance(exc, requests.Timeout):
        return Ambiguous(f"{label} did not answer within {timeout:g} seconds after the request was sent; "
                         "it may have been carried out.")
    return Ambiguous(f"The connection to {label} broke after the request was sent ({type(exc).__name__}); "
                     "it may have been carried out.")


def not_sent(exc: BaseException | None) -> bool:
    """Whether a requests/urllib3 failure happened before any byte of the request reached the platform
    (no connection: refused, unresolvable, connect timeout)."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (requests.ConnectTimeout, NewConnectionError, ConnectTimeoutError)):
            return True
        exc = getattr(exc, "reason", None) or (
            exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        ) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def for_write(method: str, error: ConnectorError) -> ConnectorError:
    """A 5xx answer to a write is ambiguous: the platform may have stored the post before failing."""
    if method.upper() not in SAFE_METHODS and type(error) is TransientError and (error.status or 0) >= 500:
        return Ambiguous(f"{error.message} The request may have been carried out.", status=error.status,
                         platform_code=error.platform_code)
    return error


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class InboundItem:
    platform_id: str
    # "mention", "comment" (on our post), "reply" (in a thread of ours) or "dm".
    kind: str
    text: str
    created_at: datetime
    author_id: str
    author_handle: str
    author_name: str = ""
    author_avatar_url: str = ""
    # The thread this item belongs to: the root post id for public items, the DM conversation id for DMs.
    conversation_key: str = ""
    in_reply_to_id: str = ""
    url: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class InboundBatch:
    items: list[InboundItem]
    # Opaque per-stream cursors to pass back next time, e.g. {"mentions": "1590...", "dms": "..."}.
    cursor: dict[str, str]


@dataclass(frozen=True)
class Published:
    platform_id: str
    url: str


@dataclass(frozen=True)
class MediaItem:
    content: bytes
    mime_type: str
    alt_text: str


@dataclass(frozen=True)
class PostMetrics:
    likes: int = 0
    replies: int = 0
    reposts: int = 0
    quotes: int = 0
    impressions: int | None = None
    link_clicks: int | None = None


@dataclass(frozen=True)
class AccountStats:
    followers: int
    following: int | None = None
    posts: int | None = None
    impressions: int | None = None
    reach: int | None = None


@dataclass(frozen=True)
class Account:
    """Who a set of credentials belongs to, as a connect flow learns it."""

    account_id: str
    handle: str
    display_name: str = ""
    avatar_url: str = ""


# --------------------------------------------------------------------------------------- interface
class Connector(ABC):
    platform: str

    def __init__(self, *, base_url: str, credentials: dict, account_id: str = "", timeout: float = 20):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.account_id = account_id
        self.timeout = timeout

    def __repr__(self) -> str:
        # Never the credentials.
        return f"<{type(self).__name__} {self.base_url} account={self.account_id}>"

    @abstractmethod
    def whoami(self) -> Account: ...

    @abstractmethod
    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch: ...

    @abstractmethod
    def reply(self, *, in_reply_to: str, text: str) -> Published: ...

    @abstractmethod
    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published: ...

    @abstractmethod
    def publish(
        self, *, text: str, media: list[MediaItem] = (), link: str = "", idempotency_key: str | None = None
    ) -> Published:
        """A new post on the account. `idempotency_key` (the same on every attempt of one post) is sent where the
        platform honours it (Mastodon's Idempotency-Key) and ignored elsewhere."""

    @abstractmethod
    def delete(self, platform_id: str) -> None: ...

    @abstractmethod
    def post_metrics(self, platform_id: str) -> PostMetrics: ...

    @abstractmethod
    def account_stats(self) -> AccountStats: ...

    def revoke(self) -> bool:
        """Revokes the credentials at the platform where it allows it; False where it does not."""
        return False

    def validate_text(self, text: str, *, has_image: bool = False) -> TextCheck:
        return validate_text(self.platform, text, has_image=has_image)

    # Reading back our own writes, to settle an ambiguous failure without sending twice.
    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        """Our public reply to `in_reply_to` whose text is `text` (the platform may have put mentions in front),
        among our recent posts; None when it is not there."""
        raise PermanentError(f"Civic Desk cannot look up replies on {self.platform}.")

    def find_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published | None:
        """Our direct message with this text in the conversation (or to the recipient); None when it is not there."""
        raise PermanentError(f"Civic Desk cannot look up direct messages on {self.platform}.")

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        """Our own post (not a reply) made at or after `since` whose text is `text`, among the account's recent
        posts; None when it is not there."""
        raise PermanentError(f"Civic Desk cannot look up posts on {self.platform}.")


def same_text(sent: str, found: str) -> bool:
    """Whether a post read back is the one we sent: platforms may put @mentions in front or trim whitespace."""
    sent, found = " ".join(sent.split()), " ".join(found.split())
    if not sent:
        return False
    if found == sent:
        return True
    if found.endswith(sent):
        prefix = found[: -len(sent)].split()
        return all(word.startswith("@") for word in prefix)
    return False


_LINK = re.compile(r"https?://\S+")


def same_post_text(sent: str, found: str) -> bool:
    """same_text for a post read back, allowing for what platforms do to links: X shortens them (t.co) and adds
    one for attached images; a link card may replace the address. Only the words outside links must match then."""
    if same_text(sent, found):
        return True
    words = " ".join(_LINK.sub(" ", sent).split())
    return bool(words) and same_text(words, _LINK.sub(" ", found))


# ------------------------------------------------------------------------------- header helpers
def reset_from_epoch(value: str | None) -> datetime | None:
    """X `x-rate-limit-reset` and Bluesky `RateLimit-Reset`: seconds since the epoch."""
    from datetime import UTC

    try:
        return datetime.fromtimestamp(int(float(value)), tz=UTC) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def reset_from_iso(value: str | None) -> datetime | None:
    """Mastodon `X-RateLimit-Reset`: an ISO 8601 time."""
    from datetime import UTC

    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
