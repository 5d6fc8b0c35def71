"""What every simulated platform provides to the simulator app."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.store import Store


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def request_json(request: Request) -> dict[str, Any]:
    """The JSON body, or {} when there is none or it is not an object."""
    try:
        body = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def bearer_token(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


class PlatformSim:
    """One platform. Subclasses set `name` and `prefix`, list their routes and answer faults.

    Handlers are methods named by each Rule's endpoint; they take (request, **url_values) and
    return a werkzeug Response. They run under the store's lock.
    """

    name: str = ""
    prefix: str = ""

    def __init__(self, store: Store):
        self.store = store

    @property
    def state(self) -> dict[str, Any]:
        return self.store.platform(self.name)

    def seed(self) -> None:
        """Put the platform's seeded accounts (organisation demo accounts and `citizen`) into the state."""
        raise NotImplementedError

    def rules(self) -> list[Rule]:
        """Routes relative to `prefix`; each Rule's endpoint is the name of a handler method."""
        raise NotImplementedError

    def fault_response(self, kind: str, *, reset_at: int) -> Response:
        """The platform's own answer for an injected fault: rate_limit, server_error, expired_token or duplicate."""
        raise NotImplementedError

    # The public page uses these to act as a member of the public.
    def public_accounts(self) -> list[dict[str, str]]:
        """Accounts a person can write as, [{"id", "handle"}], `citizen` first."""
        raise NotImplementedError

    def organisation_accounts(self) -> list[dict[str, str]]:
        """The organisations' accounts on this platform, [{"id", "handle"}]."""
        raise NotImplementedError

    def public_write(self, *, kind: str, author_id: str, target_account_id: str, text: str, in_reply_to: str = "") -> str:
        """kind is "mention", "comment" (a reply to one of the target's posts, in_reply_to) or "dm"; returns the new id."""
        raise NotImplementedError

    def public_react(self, *, kind: str, author_id: str, post_id: str) -> None:
        """kind is "like" or "repost"."""
        raise NotImplementedError

    def recent_activity(self, target_account_id: str, limit: int = 20) -> list[dict[str, str]]:
        """What the organisation published or replied, newest first: [{"id", "text", "kind", "created_at"}]."""
        raise NotImplementedError
