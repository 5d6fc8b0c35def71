"""Bluesky as a PDS serves it: XRPC under /bsky/xrpc/<nsid>, so the service URL is SIM_URL + "/bsky".

The shapes follow the lexicons and recorded bodies in shared/platform-fixtures/bluesky. This module holds the
accounts, the XRPC dispatch (authentication, the PDS's RateLimit-* headers, {"error", "message"} errors,
injected faults), sessions with JWT-shaped access (2 hours) and single-use refresh tokens, and the public
page. Records and the reads built from them are in bluesky_records.py, direct messages in bluesky_chat.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import regex
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import PlatformSim, bearer_token, json_response, request_json
from simulator.platforms.bluesky_chat import ChatMixin
from simulator.platforms.bluesky_records import (
    FACET_MENTION,
    FOLLOW,
    LIKE,
    POST,
    REPOST,
    RecordsMixin,
    XrpcCall,
    XrpcError,
    iso_time,
    strong_ref,
)

ACCESS_TTL = 2 * 3600  # the PDS's access token lifetime
REFRESH_TTL = 90 * 86400
# (limit, window seconds): the PDS's global per-account limit and its createSession limit.
GLOBAL_LIMIT = (3000, 300)
SESSION_LIMIT = (30, 300)

CITIZEN_TOKEN = "sim-citizen-token"
COUNCIL_DID = "did:plc:demo4counci7xqz2bsky5sim"
POLICE_DID = "did:plc:demo4po7icexqz2bsky5simu"
CITIZEN_DID = "did:plc:citizen2bsky5simxqz4pub7"
NEIGHBOUR_DID = "did:plc:neighbour2bsky5simxqz4pb"

SEED_ACCOUNTS = [
    {"did": COUNCIL_DID, "handle": "democouncil.bsky.social", "displayName": "Demo Council",
     "description": "Official account of Demo Council. Report problems at council.example.",
     "app_password": "dcnl-sim2-bsky-demo", "base_followers": 1240, "base_follows": 85, "organisation": True},
    {"did": POLICE_DID, "handle": "demopolice.bsky.social", "displayName": "Demo Police",
     "description": "Demo Police. In an emergency call 999. Not monitored 24/7.",
     "app_password": "dplc-sim2-bsky-demo", "base_followers": 3410, "base_follows": 40, "organisation": True},
    {"did": CITIZEN_DID, "handle": "citizen.bsky.social", "displayName": "Casey Citizen",
     "description": "A member of the public.", "app_password": "sim-citizen-password",
     "base_followers": 57, "base_follows": 210, "organisation": False},
    {"did": NEIGHBOUR_DID, "handle": "neighbour.bsky.social", "displayName": "Nia Neighbour",
     "description": "Lives down the road.", "app_password": "sim-neighbour-password",
     "base_followers": 12, "base_follows": 30, "organisation": False},
]

# What seed_demo needs to connect the demo channels without a browser: the connector creates a session.
DEMO_ACCOUNTS = [
    {
        "handle": account["handle"],
        "account_id": account["did"],
        "display_name": account["displayName"],
        "credentials": {"identifier": account["handle"], "app_password": account["app_password"]},
    }
    for account in SEED_ACCOUNTS
    if account["organisation"]
]


# nsid -> (HTTP method, authentication: access | refresh | optional | none, handler)
METHODS: dict[str, tuple[str, str, str]] = {
    "com.atproto.server.createSession": ("POST", "none", "create_session"),
    "com.atproto.server.refreshSession": ("POST", "refresh", "refresh_session"),
    "com.atproto.server.deleteSession": ("POST", "refresh", "delete_session"),
    "com.atproto.server.getSession": ("GET", "access", "get_session"),
    "com.atproto.identity.resolveHandle": ("GET", "none", "resolve_handle"),
    "com.atproto.repo.createRecord": ("POST", "access", "create_record"),
    "com.atproto.repo.deleteRecord": ("POST", "access", "delete_record"),
    "com.atproto.repo.getRecord": ("GET", "none", "get_record"),
    "com.atproto.repo.uploadBlob": ("POST", "access", "upload_blob"),
    "com.atproto.sync.getBlob": ("GET", "none", "get_blob"),
    "app.bsky.notification.listNotifications": ("GET", "access", "list_notifications"),
    "app.bsky.notification.getUnreadCount": ("GET", "access", "get_unread_count"),
    "app.bsky.notification.updateSeen": ("POST", "access", "update_seen"),
    "app.bsky.feed.getPosts": ("GET", "optional", "get_posts"),
    "app.bsky.feed.getPostThread": ("GET", "optional", "get_post_thread"),
    "app.bsky.feed.getAuthorFeed": ("GET", "optional", "get_author_feed"),
    "app.bsky.actor.getProfile": ("GET", "optional", "get_profile"),
    "chat.bsky.convo.listConvos": ("GET", "access", "list_convos"),
    "chat.bsky.convo.getConvoForMembers": ("GET", "access", "get_convo_for_members"),
    "chat.bsky.convo.getMessages": ("GET", "access", "get_messages"),
    "chat.bsky.convo.sendMessage": ("POST", "access", "send_message"),
}


class Sim(RecordsMixin, ChatMixin, PlatformSim):
    name = "bsky"
    prefix = "/bsky"

    def rules(self) -> list[Rule]:
        return [
            Rule("/xrpc/<nsid>", endpoint="xrpc", methods=["GET", "POST"]),
            Rule("/img/avatar/<did>", endpoint="avatar_image", methods=["GET"]),
        ]

    # ------------------------------------------------------------------------------------ seed
    def seed(self) -> None:
        state = self.state
        state.clear()
        state.update(accounts={}, records={}, blobs={}, sessions={}, convos={}, seen={}, ratelimits={}, last_tid=0)
        for spec in SEED_ACCOUNTS:
            account = {key: value for key, value in spec.items() if key != "organisation"}
            account.update(email=f"{spec['handle'].split('.')[0]}@example.org", createdAt=iso_time(self.store.now() - 400 * 86400),
                           organisation=spec["organisation"])
            state["accounts"][spec["did"]] = account
        now = self.store.now()
        bins = self._put_record(COUNCIL_DID, POST, _post_text(
            "Garden waste collections restart on Monday. Check your day at https://council.example/bins", now))
        self._put_record(CITIZEN_DID, POST, {**_post_text("Will the brown bins be collected on the bank holiday?", now),
                                             "reply": {"root": strong_ref(bins), "parent": strong_ref(bins)}})
        self._put_record(POLICE_DID, POST, _post_text("Road closed on the High Street this morning after a collision.", now))
        self._put_record(CITIZEN_DID, POST, _mention_post(
            "@demopolice.bsky.social the streetlight on Mill Lane has been out for a week, is that you or the council?",
            self.state["accounts"][POLICE_DID], now))
        self._put_record(CITIZEN_DID, FOLLOW, {"subject": COUNCIL_DID, "createdAt": iso_time(now)})
        self._put_record(NEIGHBOUR_DID, LIKE, {"subject": strong_ref(bins), "createdAt": iso_time(now)})
        convo = self._convo_for([CITIZEN_DID, COUNCIL_DID], started_by=CITIZEN_DID)
        self._add_message(convo, CITIZEN_DID, "Hello, who do I ask about a missed bin collection at 4 Elm Road?")

    # ------------------------------------------------------------------------------------ XRPC
    def xrpc(self, request: Request, nsid: str) -> Response:
        spec = METHODS.get(nsid)
        if spec is None:
            return _error(501, "MethodNotImplemented", "Method Not Implemented")
        method, auth, handler = spec
        call = XrpcCall(request=request, viewer=None, base=request.host_url.rstrip("/") + self.prefix)
        try:
            if request.method not in (method, "HEAD" if method == "GET" else method):
                raise XrpcError(400, "InvalidRequest", f"Incorrect HTTP method ({request.method}) expected {method}")
            if auth in ("access", "refresh") or (auth == "optional" and bearer_token(request)):
                call.viewer = self._authenticate(request, "refresh" if auth == "refresh" else "access")
            call.headers = self._count_rate(nsid, call)
            try:
                result = getattr(self, handler)(call)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                # Input of the wrong shape (a facet that is not an object, say): the PDS answers 400, not 500.
                raise XrpcError(400, "InvalidRequest", f"Invalid input: {type(exc).__name__}") from None
        except XrpcError as exc:
            return _error(exc.status, exc.error, exc.message, {**call.headers, **exc.headers})
        if isinstance(result, Response):
            result.headers.extend(call.headers)
            return result
        if result is None:
            return Response(b"", status=200, headers=call.headers)
        return json_response(result, 200, call.headers)

    def _authenticate(self, request: Request, kind: str) -> str:
        token = bearer_token(request)
        if not token:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        if kind == "access" and token == CITIZEN_TOKEN:
            return CITIZEN_DID
        session = self.state["sessions"].get(token)
        if session is None:
            raise XrpcError(401, "InvalidToken", "Token could not be verified")
        if session["kind"] != kind:
            raise XrpcError(400, "InvalidToken", "Bad token scope")
        if session.get("revoked"):
            raise XrpcError(400, "ExpiredToken", "Token has been revoked")
        if session["exp"] <= self.store.now():
            raise XrpcError(400, "ExpiredToken", "Token has expired")
        return session["did"]

    def _count_rate(self, nsid: str, call: XrpcCall) -> dict[str, str]:
        """Counts the request in its window and returns the RateLimit-* headers, or raises 429 when exhausted."""
        if nsid == "com.atproto.server.createSession":
            identifier = str(request_json(call.request).get("identifier", "")).lower()
            key, (limit, window) = f"session:{identifier}", SESSION_LIMIT
        else:
            key, (limit, window) = f"global:{call.viewer or call.request.remote_addr}", GLOBAL_LIMIT
        now = self.store.now()
        bucket = self.state["ratelimits"].get(key)
        if bucket is None or bucket["reset"] <= now:
            bucket = self.state["ratelimits"][key] = {"reset": int(now) + window, "count": 0}
        headers = _rate_headers(limit, max(limit - bucket["count"] - 1, 0), bucket["reset"], window)
        if bucket["count"] >= limit:
            raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        bucket["count"] += 1
        return headers

    def fault_response(self, kind: str, *, reset_at: int) -> Response:
        if kind == "rate_limit":
            limit, window = GLOBAL_LIMIT
            return _error(429, "RateLimitExceeded", "Rate Limit Exceeded", _rate_headers(limit, 0, reset_at, window))
        if kind == "expired_token":
            return _error(400, "ExpiredToken", "Token has expired")
        if kind == "duplicate":
            return _error(400, "InvalidRequest", "Duplicate post: this record already exists")
        return _error(500, "InternalServerError", "Internal Server Error")

    # -------------------------------------------------------------------------------- sessions
    def create_session(self, call: XrpcCall) -> dict:
        body = request_json(call.request)
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str) or not identifier or not password:
            raise XrpcError(400, "InvalidRequest", 'Input must have the properties "identifier", "password"')
        account = self._account(identifier.strip().lstrip("@"), by_email=True)
        if account is None or not secrets.compare_digest(password.encode(), account["app_password"].encode()):
            raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        if account.get("status") == "takendown":
            raise XrpcError(401, "AccountTakedown", "Account has been taken down")
        return self._new_session(account, call.base)

    def refresh_session(self, call: XrpcCall) -> dict:
        old = self.state["sessions"][bearer_token(call.request)]
        # Single use: the old refresh token is revoked by this refresh.
        old["revoked"] = True
        account = self.state["accounts"][call.viewer]
        session = self._new_session(account, call.base)
        for key in ("email", "emailConfirmed", "emailAuthFactor"):
            del session[key]
        return session

    def delete_session(self, call: XrpcCall) -> None:
        token = bearer_token(call.request)
        session = self.state["sessions"].get(token, {})
        for revoked in (token, session.get("partner", "")):
            if revoked in self.state["sessions"]:
                self.state["sessions"][revoked]["revoked"] = True

    def get_session(self, call: XrpcCall) -> dict:
        account = self.state["accounts"][call.viewer]
        return {"did": account["did"], "handle": account["handle"], "email": account["email"], "emailConfirmed": True,
                "emailAuthFactor": False, "didDoc": _did_doc(account, call.base), "active": True}

    def _new_session(self, account: dict, base: str) -> dict:
        now = self.store.now()
        sessions = self.state["sessions"]
        for token in [t for t, s in sessions.items() if s["exp"] < now - 86400]:
            del sessions[token]
        access = _jwt(account["did"], "com.atproto.appPassPrivileged", "at+jwt", now, now + ACCESS_TTL)
        refresh = _jwt(account["did"], "com.atproto.refresh", "refresh+jwt", now, now + REFRESH_TTL)
        sessions[access] = {"did": account["did"], "kind": "access", "exp": now + ACCESS_TTL, "partner": refresh}
        sessions[refresh] = {"did": account["did"], "kind": "refresh", "exp": now + REFRESH_TTL, "partner": access}
        return {"did": account["did"], "didDoc": _did_doc(account, base), "handle": account["handle"],
                "email": account["email"], "emailConfirmed": True, "emailAuthFactor": False,
                "accessJwt": access, "refreshJwt": refresh, "active": True}

    def resolve_handle(self, call: XrpcCall) -> dict:
        handle = call.request.args.get("handle", "").strip().lower()
        if not handle:
            raise XrpcError(400, "InvalidRequest", 'Error: Params must have the property "handle"')
        account = self._account(handle)
        if account is None or account["did"] == handle:
            raise XrpcError(400, "HandleNotFound", "Unable to resolve handle")
        return {"did": account["did"]}

    # ---------------------------------------------------------------------------- public page
    def public_accounts(self) -> list[dict[str, str]]:
        return [{"id": a["did"], "handle": a["handle"]} for a in self.state["accounts"].values() if not a["organisation"]]

    def organisation_accounts(self) -> list[dict[str, str]]:
        return [{"id": a["did"], "handle": a["handle"]} for a in self.state["accounts"].values() if a["organisation"]]

    def public_write(self, *, kind: str, author_id: str, target_account_id: str, text: str, in_reply_to: str = "") -> str:
        accounts = self.state["accounts"]
        if author_id not in accounts or target_account_id not in accounts:
            raise KeyError("choose an account to write as and one to write to")
        target = accounts[target_account_id]
        if kind == "dm":
            return self._add_message(self._convo_for([author_id, target_account_id], started_by=author_id), author_id, text)["id"]
        if kind == "mention":
            if f"@{target['handle']}" not in text:
                text = f"@{target['handle']} {text}"
            value = _mention_post(text, target, self.store.now())
        elif kind == "comment":
            if in_reply_to:
                parent = self._find_post(in_reply_to)
            else:
                own = sorted((r for r in self.state["records"].values() if r["collection"] == POST and r["did"] == target_account_id),
                             key=lambda r: r["ms"])
                if not own:
                    raise ValueError(f"{target['handle']} has not posted anything yet")
                parent = own[-1]
            root = (parent["value"].get("reply") or {}).get("root") or strong_ref(parent)
            value = {**_post_text(text, self.store.now()), "reply": {"root": root, "parent": strong_ref(parent)}}
        else:
            raise ValueError(f"unknown kind {kind!r}")
        if len(regex.findall(r"\X", value["text"])) > 300:
            raise ValueError("a Bluesky post is at most 300 characters")
        return self._put_record(author_id, POST, value)["uri"]

    def public_react(self, *, kind: str, author_id: str, post_id: str) -> None:
        if author_id not in self.state["accounts"]:
            raise KeyError("choose an account to act as")
        if kind not in ("like", "repost"):
            raise ValueError(f"unknown reaction {kind!r}")
        post = self._find_post(post_id)
        self._put_record(author_id, LIKE if kind == "like" else REPOST, {"subject": strong_ref(post), "createdAt": iso_time(self.store.now())})

    def recent_activity(self, target_account_id: str, limit: int = 20) -> list[dict[str, str]]:
        items = [
            {"id": r["uri"], "text": r["value"].get("text", ""), "kind": "reply" if r["value"].get("reply") else "post",
             "created_at": r["indexedAt"]}
            for r in self.state["records"].values()
            if r["collection"] == POST and r["did"] == target_account_id
        ]
        items += [
            {"id": m["id"], "text": m["text"], "kind": "dm", "created_at": m["sentAt"]}
            for convo in self.state["convos"].values() if target_account_id in convo["members"]
            for m in convo["messages"] if m["sender"]["did"] == target_account_id
        ]
        items.sort(key=lambda item: item["created_at"], reverse=True)
        return items[:limit]


# ------------------------------------------------------------------------------------ module helpers
def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error, "message": message}, status, headers)


def _rate_headers(limit: int, remaining: int, reset: int, window: int) -> dict[str, str]:
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(int(reset)),
            "RateLimit-Policy": f"{limit};w={window}"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(did: str, scope: str, typ: str, issued: float, expires: float) -> str:
    """Shaped like the PDS's tokens (header.payload.signature); the simulator looks them up, it does not verify them."""
    header = _b64url(json.dumps({"typ": typ, "alg": "ES256K"}).encode())
    payload = _b64url(json.dumps({"scope": scope, "sub": did, "aud": "did:web:bsky.sim", "iat": int(issued),
                                  "exp": int(expires), "jti": secrets.token_hex(16)}).encode())
    return f"{header}.{payload}.{_b64url(secrets.token_bytes(64))}"


def _did_doc(account: dict, base: str) -> dict:
    did = account["did"]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1",
                     "https://w3id.org/security/suites/secp256k1-2019/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{account['handle']}"],
        "verificationMethod": [{"id": f"{did}#atproto", "type": "Multikey", "controller": did,
                                "publicKeyMultibase": "zQ3sh" + hashlib.sha256(did.encode()).hexdigest()[:44]}],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": base}],
    }


def _post_text(text: str, created: float) -> dict:
    return {"$type": POST, "text": text, "createdAt": iso_time(created), "langs": ["en"]}


def _mention_post(text: str, target: dict, created: float) -> dict:
    mention = f"@{target['handle']}"
    start = len(text[: text.index(mention)].encode("utf-8"))
    facet = {"$type": "app.bsky.richtext.facet", "index": {"byteStart": start, "byteEnd": start + len(mention.encode("utf-8"))},
             "features": [{"$type": FACET_MENTION, "did": target["did"]}]}
    return {**_post_text(text, created), "facets": [facet]}
