"""Mastodon, through Mastodon.py (ratelimit_method="throw"), on the instance the channel was connected to.

Inbound: public mentions and replies come from the notifications (types[]=mention), each keyed to its thread's
root status; direct messages come from the conversations, keyed to the conversation id. Cursors are the last
notification id and the last direct status id seen ("0" once a first poll found nothing). HTTP goes through
mastodon_http.MastodonSession: no redirects, public addresses only, and the quota respected before calling.

The parsing functions (status_text, item_from_status, mention_items, dm_items, metrics_from_status, ...) take
plain JSON as the server sends it, or Mastodon.py's objects, and are tested against the recorded cassettes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import regex
from django.conf import settings
from mastodon import Mastodon
from mastodon.errors import MastodonError

from channels_app.connectors.base import (
    Account,
    AccountStats,
    Connector,
    ConnectorError,
    InboundBatch,
    InboundItem,
    MediaItem,
    PermanentError,
    PostMetrics,
    Published,
    TransientError,
    same_text,
)
from channels_app.connectors.mastodon_http import MastodonSession, error_from
from channels_app.text import MASTODON, TextCheck, validate_text

APP_NAME = "Civic Desk"
# The least the product needs: who the account is, its notifications and statuses (conversations are read
# with read:statuses), and writing statuses and media.
SCOPES = ["read:accounts", "read:notifications", "read:statuses", "write:statuses", "write:media"]
PAGE_SIZE = 40
# At most this many pages of new notifications or conversations per fetch; the cursor carries on next time.
MAX_PAGES = 5
MEDIA_PROCESSING_CHECKS = 5


# ----------------------------------------------------------------------------------------- parsing
class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """A status's HTML as plain text: paragraphs and line breaks kept, links as their full URL."""
    parser = _Text()
    parser.feed(content or "")
    parser.close()
    return "".join(parser.parts).strip()


def status_text(status: Mapping) -> str:
    """The readable text of a status, with its content warning first when it has one."""
    text = html_to_text(status.get("content") or "") if status.get("content") is not None else status.get("text") or ""
    warning = status.get("spoiler_text") or ""
    return f"Content warning: {warning}\n\n{text}" if warning else text


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def handle_of(account: Mapping) -> str:
    """@user@domain: a local account's acct has no domain, so it comes from the account's URL."""
    acct = str(account.get("acct") or account.get("username") or "")
    if "@" not in acct:
        domain = urlsplit(str(account.get("url") or "")).netloc
        if domain:
            acct = f"{acct}@{domain}"
    return f"@{acct}"


def item_from_status(status: Mapping, *, kind: str, conversation_key: str) -> InboundItem:
    account = status.get("account") or {}
    return InboundItem(
        platform_id=str(status["id"]),
        kind=kind,
        text=status_text(status),
        created_at=parse_time(status["created_at"]),
        author_id=str(account.get("id", "")),
        author_handle=handle_of(account),
        author_name=str(account.get("display_name") or account.get("username") or ""),
        author_avatar_url=str(account.get("avatar") or ""),
        conversation_key=str(conversation_key),
        in_reply_to_id=str(status.get("in_reply_to_id") or ""),
        url=str(status.get("url") or status.get("uri") or ""),
        raw=plain(status),
    )


def mention_items(
    notifications: Iterable[Mapping], *, own_account_id: str, root_of: Callable[[Mapping], str] | None = None
) -> list[InboundItem]:
    """Public mentions of us and replies to us in a page of notifications, oldest first. Direct messages are
    skipped here (they come from the conversations, with their conversation id). `root_of` gives a status's
    thread root; without it a reply is keyed to the status it answers."""
    root_of = root_of or (lambda s: str(s.get("in_reply_to_id") or s["id"]))
    items = []
    for notification in sorted(notifications, key=lambda n: _id_key(n["id"])):
        status = notification.get("status")
        if notification.get("type") != "mention" or not status or status.get("visibility") == "direct":
            continue
        if str((status.get("account") or {}).get("id")) == str(own_account_id):
            continue
        kind = "reply" if status.get("in_reply_to_id") else "mention"
        items.append(item_from_status(status, kind=kind, conversation_key=root_of(status)))
    return items


def dm_items(conversations: Iterable[Mapping], *, own_account_id: str, after_id: str = "") -> list[InboundItem]:
    """Each conversation's last status, when someone else sent it after `after_id`, as a direct message."""
    items = []
    for conversation in conversations:
        status = conversation.get("last_status")
        if status and _is_inbound_dm(status, own_account_id, after_id):
            items.append(item_from_status(status, kind="dm", conversation_key=str(conversation["id"])))
    return sorted(items, key=lambda i: _id_key(i.platform_id))


def metrics_from_status(status: Mapping) -> PostMetrics:
    return PostMetrics(
        likes=int(status.get("favourites_count") or 0),
        replies=int(status.get("replies_count") or 0),
        reposts=int(status.get("reblogs_count") or 0),
        quotes=int(status.get("quotes_count") or 0),
    )


def stats_from_account(account: Mapping) -> AccountStats:
    return AccountStats(
        followers=int(account.get("followers_count") or 0),
        following=int(account.get("following_count") or 0),
        posts=int(account.get("statuses_count") or 0),
    )


def account_from(account: Mapping) -> Account:
    return Account(
        account_id=str(account["id"]),
        handle=handle_of(account),
        display_name=str(account.get("display_name") or account.get("username") or ""),
        avatar_url=str(account.get("avatar") or ""),
    )


def published_from(status: Mapping) -> Published:
    return Published(platform_id=str(status["id"]), url=str(status.get("url") or status.get("uri") or ""))


def text_limits(instance: Mapping) -> dict[str, int]:
    """configuration.statuses of /api/v2/instance (or v1): max_characters and characters_reserved_per_url."""
    statuses = ((instance or {}).get("configuration") or {}).get("statuses") or {}
    return {
        key: statuses[key]
        for key in ("max_characters", "characters_reserved_per_url")
        if isinstance(statuses.get(key), int) and not isinstance(statuses.get(key), bool) and statuses[key] > 0
    }


def plain(value: Any) -> Any:
    """JSON-safe copy of an API object (Mastodon.py turns times into datetimes and ids into str subclasses)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value


def _is_inbound_dm(status: Mapping, own_account_id: str, after_id: str) -> bool:
    return (
        status.get("visibility") == "direct"
        and str((status.get("account") or {}).get("id")) != str(own_account_id)
        and (not after_id or _id_key(status["id"]) > _id_key(after_id))
    )


def _id_key(value: Any) -> tuple[int, str]:
    # Mastodon ids are decimal strings of growing length; other servers use fixed-length sortable strings.
    text = str(value)
    return len(text), text


def _allow_http(instance_url: str) -> bool:
    # Mastodon.py refuses http OAuth endpoints unless told; the address guard lets http through only for the
    # configured simulator, so an http instance URL here is that one.
    return urlsplit(instance_url).scheme == "http"


def _client(instance_url: str, session: MastodonSession, timeout: float, **credentials) -> Mastodon:
    return Mastodon(
        api_base_url=instance_url.rstrip("/"),
        ratelimit_method="throw",
        version_check_mode="none",
        request_timeout=timeout,
        session=session,
        user_agent=f"{APP_NAME} (Mastodon.py)",
        **credentials,
    )


def _idempotency_key(key: str | None) -> str | None:
    # Mastodon remembers a key per account for an hour; hashing keeps it short and free of our ids' format.
    return f"civicdesk-{hashlib.sha256(key.encode()).hexdigest()[:40]}" if key else None


def _with_mentions(text: str, accts: Iterable[str]) -> str:
    """Mention each account at the start unless the text already does, as Mastodon clients do: without the
    mention a direct message reaches no one and a reply does not notify its author."""
    missing = []
    for acct in accts:
        local, _, domain = acct.partition("@")
        pattern = rf"(?<![\w@])@{regex.escape(local)}" + (rf"@{regex.escape(domain)}" if domain else "") + r"(?![\w@])"
        if local and not regex.search(pattern, text, regex.I) and f"@{acct}" not in missing:
            missing.append(f"@{acct}")
    return " ".join([*missing, text]) if missing else text


# -------------------------------------------------------------------------------------- connector
class MastodonConnector(Connector):
    platform = "mastodon"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.session = MastodonSession()
        self.api = _client(self.base_url, self.session, self.timeout, access_token=self.credentials.get("access_token"))
        self._limits: dict[str, int] | None = None

    def _call(self, family: str, function: Callable, *args, **kwargs):
        self.session.check_quota(family)
        try:
            return function(*args, **kwargs)
        except MastodonError as exc:
            # Every family but "api" (reads and the odd harmless call) writes: a lost answer there is ambiguous.
            raise error_from(exc, self.session.last_response, write=family != "api") from exc

    def _own_id(self) -> str:
        if not self.account_id:
            self.account_id = str(self._call("api", self.api.account_verify_credentials)["id"])
        return self.account_id

    # ------------------------------------------------------------------------------------ identity
    def revoke(self) -> bool:
        revoke(instance_url=self.base_url, credentials=self.credentials, timeout=self.timeout)
        return True

    def whoami(self) -> Account:
        account = self._call("api", self.api.account_verify_credentials)
        self.account_id = str(account["id"])
        return account_from(account)

    def account_stats(self) -> AccountStats:
        if self.account_id:
            return stats_from_account(self._call("api", self.api.account, self.account_id))
        return stats_from_account(self._call("api", self.api.account_verify_credentials))

    # ------------------------------------------------------------------------------------- inbound
    def fetch_inbound(self, cursor: dict[str, str]) -> InboundBatch:
        own_id = self._own_id()
        new_cursor = dict(cursor)
        roots: dict[str, str] = {}

        notifications = self._new_since(self.api.notifications, cursor.get("notifications", ""), types=["mention"])
        items = mention_items(notifications, own_account_id=own_id, root_of=lambda s: self._thread_root(s, roots))
        # "0" after a first poll that found nothing: next time everything counts, from the beginning.
        new_cursor["notifications"] = max(
            [cursor.get("notifications") or "0", *(str(n["id"]) for n in notifications)], key=_id_key
        )

        after = cursor.get("conversations", "")
        new_cursor["conversations"] = after or "0"
        for conversation in self._new_since(self.api.conversations, after):
            last = conversation.get("last_status")
            if not last or (after and _id_key(last["id"]) <= _id_key(after)):
                continue
            thread = self._direct_thread(last) if after else [last]
            items += [
                item_from_status(status, kind="dm", conversation_key=str(conversation["id"]))
                for status in thread
                if _is_inbound_dm(status, own_id, after)
            ]
            if _id_key(last["id"]) > _id_key(new_cursor.get("conversations", "")):
                new_cursor["conversations"] = str(last["id"])
        items.sort(key=lambda i: (i.created_at, _id_key(i.platform_id)))
        return InboundBatch(items=items, cursor=new_cursor)

    def _new_since(self, function: Callable, since: str, **params) -> list:
        """Everything newer than `since`, oldest first and without gaps (min_id pages); the newest page on the first run."""
        if not since:
            return list(reversed(self._call("api", function, limit=PAGE_SIZE, **params)))
        collected, min_id = [], since
        for _ in range(MAX_PAGES):
            page = self._call("api", function, min_id=min_id, limit=PAGE_SIZE, **params)
            if not page:
                break
            page = sorted(page, key=lambda x: _id_key(_page_id(x)))
            collected += page
            min_id = _page_id(page[-1])
            if len(page) < PAGE_SIZE:
                break
        return collected

    def _direct_thread(self, last: Mapping) -> list[Mapping]:
        """Every status we can see in a direct conversation. Several may have arrived since the last poll and the
        conversation shows only the newest, so the thread is read from its root (siblings are not ancestors)."""
        if not last.get("in_reply_to_id"):
            return [last]
        ancestors = self._call("api", self.api.status_context, last["id"])["ancestors"]
        if not ancestors:
            return [last]
        root = ancestors[0]
        return [root, *self._call("api", self.api.status_context, root["id"])["descendants"]]

    def _thread_root(self, status: Mapping, roots: dict[str, str]) -> str:
        parent = str(status.get("in_reply_to_id") or "")
        if not parent:
            return str(status["id"])
        if parent not in roots:
            try:
                ancestors = self._call("api", self.api.status_context, status["id"])["ancestors"]
            except PermanentError:
                # The thread was deleted or hidden meanwhile: key the item to its parent.
                ancestors = []
            root = str(ancestors[0]["id"]) if ancestors else parent
            roots.update({str(a["id"]): root for a in ancestors})
            roots[parent] = root
        return roots[parent]

    # ------------------------------------------------------------------------------------ outbound
    def publish(
        self, *, text: str, media: list[MediaItem] = (), link: str = "", idempotency_key: str | None = None
    ) -> Published:
        # The same Idempotency-Key on every attempt: Mastodon answers a repeat (within an hour) with the first status.
        body = text if not link or link in text else f"{text.rstrip()}\n\n{link}".strip()
        media_ids = [self._upload(item) for item in media]
        status = self._call(
            "statuses",
            self.api.status_post,
            body,
            media_ids=media_ids or None,
            visibility="public",
            idempotency_key=_idempotency_key(idempotency_key),
        )
        return published_from(status)

    def _upload(self, item: MediaItem) -> str:
        attachment = self._call(
            "media", self.api.media_post, item.content, mime_type=item.mime_type, description=item.alt_text or None
        )
        # /api/v2/media answers before a large file is processed (url null); a status cannot attach it until then.
        for _ in range(MEDIA_PROCESSING_CHECKS):
            if attachment.get("url"):
                return str(attachment["id"])
            time.sleep(1)
            attachment = self._call("api", self.api.media, attachment["id"])
        if attachment.get("url"):
            return str(attachment["id"])
        raise TransientError("Mastodon is still processing an attached image.")

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str = "") -> Published:
        parent = self._call("api", self.api.status, in_reply_to)
        author = parent.get("account") or {}
        accts = [author["acct"]] if str(author.get("id")) != self._own_id() else []
        status = self._call(
            "statuses",
            self.api.status_post,
            _with_mentions(text, accts),
            in_reply_to_id=str(parent["id"]),
            # Never wider than the status answered: a reply to a direct message stays direct.
            visibility=parent.get("visibility") or "public",
            idempotency_key=_idempotency_key(idempotency_key),
        )
        return published_from(status)

    def send_dm(self, *, conversation_key: str, recipient_id: str, text: str, idempotency_key: str = "") -> Published:
        in_reply_to, accts = None, []
        conversation = self._find_conversation(conversation_key) if conversation_key else None
        if conversation is not None:
            in_reply_to = str(conversation["last_status"]["id"]) if conversation.get("last_status") else None
            accts = [a["acct"] for a in conversation.get("accounts") or []]
        if not accts:
            if not recipient_id:
                raise PermanentError("There is no one to send this direct message to.")
            accts = [self._call("api", self.api.account, recipient_id)["acct"]]
        status = self._call(
            "statuses",
            self.api.status_post,
            _with_mentions(text, accts),
            in_reply_to_id=in_reply_to,
            visibility="direct",
            idempotency_key=_idempotency_key(idempotency_key),
        )
        return published_from(status)

    def find_reply(self, *, in_reply_to: str, text: str) -> Published | None:
        for status in self._call("api", self.api.account_statuses, self._own_id(), limit=40):
            if str(status.get("in_reply_to_id") or "") == str(in_reply_to) and same_text(text, status_text(status)):
                return published_from(status)
        return None

    def find_post(self, *, text: str, since: datetime | None) -> Published | None:
        statuses = self._call("api", self.api.account_statuses, self._own_id(), exclude_replies=True,
                              exclude_reblogs=True, limit=PAGE_SIZE)
        for status in statuses:
            if status.get("visibility") == "direct" or status.get("in_reply_to_id"):
                continue
            if since is not None and parse_time(status["created_at"]) < since.replace(microsecond=0):
                continue
            if same_text(text, status_text(status)):
                return published_from(status)
        return None

    def find_dm(self, *, conversation_key: str, recipient_id: str, text: str) -> Published | None:
        # Only a message to this person counts: the same words (an out-of-hours reply) go to others too.
        people = {str(recipient_id)} if recipient_id else set()
        if not people and conversation_key:
            conversation = self._find_conversation(conversation_key) or {}
            people = {str(a.get("id")) for a in conversation.get("accounts") or []}
        if not people:
            return None
        # The author sees their own direct statuses in their account's statuses.
        for status in self._call("api", self.api.account_statuses, self._own_id(), limit=40):
            mentioned = {str(m.get("id")) for m in status.get("mentions") or []}
            if status.get("visibility") == "direct" and people & mentioned and same_text(text, status_text(status)):
                return published_from(status)
        return None

    def _find_conversation(self, conversation_id: str) -> Mapping | None:
        max_id = None
        for _ in range(3):
            page = self._call("api", self.api.conversations, max_id=max_id, limit=PAGE_SIZE)
            for conversation in page:
                if str(conversation["id"]) == str(conversation_id):
                    return conversation
            if len(page) < PAGE_SIZE:
                return None
            max_id = min((_page_id(c) for c in page), key=_id_key)
        return None

    def delete(self, platform_id: str) -> None:
        try:
            self._call("deletes", self.api.status_delete, platform_id)
        except PermanentError as exc:
            if exc.status != 404:
                raise
            # Already gone: deleting is done either way.

    def post_metrics(self, platform_id: str) -> PostMetrics:
        return metrics_from_status(self._call("api", self.api.status, platform_id))

    # --------------------------------------------------------------------------------------- text
    def validate_text(self, text: str, *, has_image: bool = False) -> TextCheck:
        return validate_text(MASTODON, text, has_image=has_image, limits=self.text_limits())

    def text_limits(self) -> dict[str, int]:
        """The instance's own status limits; the defaults (500, URLs 23) if it cannot be asked."""
        if self._limits is None:
            try:
                instance = self._call("api", self.api.instance_v2)
            except PermanentError:
                instance = None
            except ConnectorError:
                return {}
            if instance is None:
                try:
                    instance = self._call("api", self.api.instance_v1)
                except ConnectorError:
                    return {}
            self._limits = text_limits(instance)
        return self._limits


def _page_id(item: Mapping) -> str:
    # Conversations page by the id of their last status; everything else by its own id.
    last = item.get("last_status") if "accounts" in item else None
    return str(last["id"]) if last else str(item["id"])


# ------------------------------------------------------------------------------ connect flow helpers
def register_app(*, instance_url: str, redirect_uri: str, timeout: float = 20) -> dict[str, str]:
    """Register Civic Desk as an OAuth app on the instance (POST /api/v1/apps): {client_id, client_secret}."""
    session = MastodonSession()
    try:
        client_id, client_secret = Mastodon.create_app(
            APP_NAME,
            scopes=SCOPES,
            redirect_uris=redirect_uri,
            website=getattr(settings, "SITE_URL", None) or None,
            api_base_url=instance_url.rstrip("/"),
            request_timeout=timeout,
            session=session,
            user_agent=f"{APP_NAME} (Mastodon.py)",
        )
    except (MastodonError, KeyError, TypeError) as exc:
        raise error_from(exc, session.last_response) from exc
    return {"client_id": client_id, "client_secret": client_secret}


def authorize_url(*, instance_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the person to approve the app (GET /oauth/authorize); no request is made."""
    api = _client(instance_url, MastodonSession(), 20)
    # force_login: staff are often signed in with their own account; they must pick the organisation's.
    return api.auth_request_url(
        client_id=client_id,
        redirect_uris=redirect_uri,
        scopes=SCOPES,
        state=state,
        force_login=True,
        lang="en-GB",
        skip_server_info=True,
    )


def exchange_code(
    *, instance_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str, timeout: float = 20
) -> dict[str, str]:
    """The authorisation code for an access token (POST /oauth/token). The credentials keep the app's client
    id and secret, which revoking the token needs."""
    session = MastodonSession()
    api = _client(instance_url, session, timeout, client_id=client_id, client_secret=client_secret)
    try:
        token = api.log_in(code=code, redirect_uri=redirect_uri, scopes=SCOPES, allow_http=_allow_http(instance_url))
    except MastodonError as exc:
        if "Granted scopes" in str(exc):
            raise PermanentError(
                "Mastodon granted fewer permissions than Civic Desk needs: approve all of them."
            ) from exc
        raise error_from(exc, session.last_response) from exc
    return {"access_token": token, "client_id": client_id, "client_secret": client_secret, "scope": " ".join(SCOPES)}


def revoke(*, instance_url: str, credentials: dict, timeout: float = 20) -> None:
    """Revoke the channel's token at the instance (POST /oauth/revoke), when the credentials allow it."""
    if not (credentials.get("access_token") and credentials.get("client_id") and credentials.get("client_secret")):
        return
    session = MastodonSession()
    api = _client(
        instance_url,
        session,
        timeout,
        access_token=credentials["access_token"],
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
    )
    try:
        api.revoke_access_token(allow_http=_allow_http(instance_url))
    except MastodonError as exc:
        raise error_from(exc, session.last_response) from exc
