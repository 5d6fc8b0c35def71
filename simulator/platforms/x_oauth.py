"""X's OAuth 2.0 authorisation code flow with PKCE, as x.com and api.x.com run it.

- GET /x/i/oauth2/authorize: a small page listing the organisation accounts, an "Authorize app" button for each,
  and a way to cancel. Choosing an account redirects to redirect_uri?state=...&code=...
- POST /x/2/oauth2/token: authorization_code (the code_verifier must match the S256 or plain challenge) and
  refresh_token grants; the client authenticates with HTTP Basic (confidential client). Access tokens live
  two hours by the simulator's clock; refresh tokens are single use, as on X.
- POST /x/2/oauth2/revoke: revokes the token's whole grant (its access and refresh tokens).
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
from urllib.parse import urlencode, urlsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import json_response

ACCESS_TTL = 7200
CODE_TTL = 60
KNOWN_SCOPES = {
    "tweet.read", "tweet.write", "tweet.moderate.write", "users.read", "follows.read", "follows.write",
    "offline.access", "space.read", "mute.read", "mute.write", "like.read", "like.write", "list.read",
    "list.write", "block.read", "block.write", "bookmark.read", "bookmark.write", "dm.read", "dm.write",
    "media.write",
}
SCOPE_WORDS = {
    "tweet.read": "Read posts you can see",
    "tweet.write": "Post and repost for you",
    "users.read": "See your profile and other accounts",
    "dm.read": "Read your direct messages",
    "dm.write": "Send direct messages for you",
    "offline.access": "Stay connected until you revoke access",
    "media.write": "Upload media for you",
}
INVALID_CODE = "Value passed for the authorization code was invalid."
INVALID_TOKEN = "Value passed for the token was invalid."


def client_credentials() -> tuple[str, str]:
    """The one registered app; the product reads the same variables with the same defaults."""
    return os.environ.get("X_CLIENT_ID", "sim-x-client"), os.environ.get("X_CLIENT_SECRET", "sim-x-secret")


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")


class OAuthError(Exception):
    """An OAuth endpoint's answer: {"error", "error_description"}."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class OAuthMixin:
    """Needs `self.state` (users, tokens, codes), `self.store` and `self.organisation_accounts()`."""

    # ------------------------------------------------------------------------------ authorise page
    def authorize(self, request: Request) -> Response:
        params = request.values
        problem = _authorize_problem(params)
        if problem:
            return _page("Something went wrong", f"<p>You weren't able to give access to the app: {html.escape(problem)}</p>", 400)
        account_id = params.get("account", "")
        if request.method == "POST" or account_id:
            if params.get("decision") == "cancel":
                return redirect(_with_query(params["redirect_uri"], error="access_denied", state=params["state"]), 302)
            user = self.state["users"].get(account_id)
            if user is None or not user["organisation"]:
                return _page("Something went wrong", "<p>Choose one of the accounts listed.</p>", 400)
            code = secrets.token_urlsafe(40)
            self.state["codes"][code] = {
                "user_id": account_id, "client_id": params["client_id"], "redirect_uri": params["redirect_uri"],
                "scope": " ".join(params["scope"].split()), "challenge": params["code_challenge"],
                "method": params.get("code_challenge_method", "plain"), "expires_at": self.store.now() + CODE_TTL,
            }
            return redirect(_with_query(params["redirect_uri"], state=params["state"], code=code), 302)
        return _page("Authorize app", self._authorize_body(params))

    def _authorize_body(self, params) -> str:
        e = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{e(name)}" value="{e(params.get(name, ""))}">'
            for name in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
        )
        scopes = "".join(f"<li>{e(SCOPE_WORDS.get(s, s))}</li>" for s in params["scope"].split())
        accounts = []
        for account in self.organisation_accounts():
            user = self.state["users"][account["id"]]
            heading_id = f"account-{e(user['id'])}"
            accounts.append(
                f'<li><h3 id="{heading_id}">{e(user["name"])} (@{e(user["username"])})</h3>'
                f'<form method="post">{hidden}<input type="hidden" name="account" value="{e(user["id"])}">'
                f'<button type="submit" name="decision" value="allow" aria-describedby="{heading_id}">Authorize app</button>'
                "</form></li>"
            )
        return (
            f"<p>An app (client <code>{e(params['client_id'])}</code>) wants to access your X account.</p>"
            f"<h2>It will be able to</h2><ul>{scopes}</ul>"
            f'<h2>Choose the account</h2><ul class="accounts">{"".join(accounts)}</ul>'
            f'<form method="post">{hidden}<button type="submit" name="decision" value="cancel">Cancel</button></form>'
        )

    # --------------------------------------------------------------------------------- token
    def token(self, request: Request) -> Response:
        try:
            self._check_client(request)
            form = request.form
            grant = form.get("grant_type", "")
            if grant == "authorization_code":
                return json_response(self._exchange_code(form))
            if grant == "refresh_token":
                return json_response(self._refresh(form))
            raise OAuthError(400, "invalid_request", "Value passed for the grant type was invalid.")
        except OAuthError as exc:
            return json_response({"error": exc.error, "error_description": exc.description}, exc.status)

    def revoke(self, request: Request) -> Response:
        try:
            self._check_client(request)
        except OAuthError as exc:
            return json_response({"error": exc.error, "error_description": exc.description}, exc.status)
        record = self.state["tokens"].get(request.form.get("token", ""))
        if record is not None:
            for other in self.state["tokens"].values():
                if other["grant"] == record["grant"]:
                    other["revoked"] = True
        # X answers the same whether or not it knew the token (RFC 7009).
        return json_response({"revoked": True})

    def _check_client(self, request: Request) -> None:
        client_id, client_secret = client_credentials()
        auth = request.authorization
        if auth is None or auth.type != "basic":
            raise OAuthError(401, "unauthorized_client", "Missing valid authorization header")
        if not (secrets.compare_digest(auth.username or "", client_id) and secrets.compare_digest(auth.password or "", client_secret)):
            raise OAuthError(401, "unauthorized_client", "Missing valid authorization header")

    def _exchange_code(self, form) -> dict:
        code = self.state["codes"].pop(form.get("code", ""), None)
        if code is None or code["expires_at"] <= self.store.now() or code["redirect_uri"] != form.get("redirect_uri", ""):
            raise OAuthError(400, "invalid_request", INVALID_CODE)
        verifier = form.get("code_verifier", "")
        expected = s256(verifier) if code["method"] == "S256" else verifier
        if not verifier or not secrets.compare_digest(expected, code["challenge"]):
            raise OAuthError(400, "invalid_request", INVALID_CODE)
        return self._issue(code["user_id"], code["scope"], grant=secrets.token_hex(8))

    def _refresh(self, form) -> dict:
        record = self.state["tokens"].get(form.get("refresh_token", ""))
        if record is None or record["kind"] != "refresh" or record["used"] or record["revoked"]:
            raise OAuthError(400, "invalid_request", INVALID_TOKEN)
        # Single use: this refresh token is spent whether or not the caller keeps the answer.
        record["used"] = True
        return self._issue(record["user_id"], record["scope"], grant=record["grant"])

    def _issue(self, user_id: str, scope: str, *, grant: str) -> dict:
        now = self.store.now()
        tokens = self.state["tokens"]
        for stale in [t for t, r in tokens.items() if r["kind"] == "access" and r["expires_at"] and r["expires_at"] < now - 86400]:
            del tokens[stale]
        access = _token_string()
        tokens[access] = token_record("access", user_id, scope, grant, now + ACCESS_TTL)
        body = {"token_type": "bearer", "expires_in": ACCESS_TTL, "access_token": access, "scope": scope}
        if "offline.access" in scope.split():
            refresh = _token_string()
            tokens[refresh] = token_record("refresh", user_id, scope, grant, None)
            body["refresh_token"] = refresh
        return body


def token_record(kind: str, user_id: str, scope: str, grant: str, expires_at: float | None) -> dict:
    return {"kind": kind, "user_id": user_id, "scope": scope, "grant": grant, "expires_at": expires_at,
            "used": False, "revoked": False}


def _token_string() -> str:
    # Shaped like X's: base64 text with a ":1:<ms>:1:<kind>" tail, here simply random.
    return base64.b64encode(secrets.token_bytes(60)).decode().rstrip("=").replace("+", "-").replace("/", "_")


def _authorize_problem(params) -> str:
    client_id, _ = client_credentials()
    if params.get("client_id") != client_id:
        return "the app is not known (client_id)."
    if params.get("response_type") != "code":
        return "response_type must be code."
    redirect_uri = params.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return "redirect_uri must be an http or https address."
    if not params.get("state"):
        return "state is missing."
    if not params.get("code_challenge") or params.get("code_challenge_method", "plain") not in ("S256", "plain"):
        return "a code_challenge with code_challenge_method S256 or plain is required."
    scopes = params.get("scope", "").split()
    if not scopes or not set(scopes) <= KNOWN_SCOPES:
        return "scope must list known scopes."
    return ""


def _with_query(url: str, **params: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _page(title: str, body: str, status: int = 200) -> Response:
    e = html.escape
    page = f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)} / X (simulator)</title></head>
<body><main><h1>{e(title)}</h1>{body}</main></body></html>"""
    return Response(page, status=status, mimetype="text/html")
