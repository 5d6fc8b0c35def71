"""The simulated Mastodon's app registration and Doorkeeper OAuth: POST /api/v1/apps, the authorisation page (one
"Authorize" button per organisation account), the token and revoke endpoints and the server metadata."""

from __future__ import annotations

import html
import secrets
from urllib.parse import urlencode, urlsplit

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import json_response
from simulator.platforms.mastodon_http import endpoint, error, listed, oauth_error, params_of, split_scopes

CODE_SECONDS = 600
OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = {
    "read", "write", "follow", "push", "profile",
    "read:accounts", "read:blocks", "read:bookmarks", "read:favourites", "read:filters", "read:follows",
    "read:lists", "read:mutes", "read:notifications", "read:search", "read:statuses", "read:conversations",
    "write:accounts", "write:blocks", "write:bookmarks", "write:conversations", "write:favourites",
    "write:filters", "write:follows", "write:lists", "write:media", "write:mutes", "write:notifications",
    "write:reports", "write:statuses",
}  # fmt: skip

INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
    "used in the authorization request, or was issued to another client."
)


class OAuthMixin:
    """OAuth for the Sim class (which provides `state`, `store`, `organisation_accounts()`)."""

    def _grant(self, token: str, client_id: str, account_id: str | None, scopes: list[str]) -> dict:
        grant = {
            "token": token,
            "client_id": client_id,
            "account_id": account_id,
            "scopes": scopes,
            "created_at": int(self.store.now()),
            "revoked": False,
        }
        self.state["tokens"][token] = grant
        return grant

    @endpoint(bearer=False)
    def oauth_metadata(self, request: Request, grant: dict | None) -> Response:
        base = self._base(request)
        return json_response(
            {
                "issuer": f"{base}/",
                "service_documentation": "https://docs.joinmastodon.org/",
                "authorization_endpoint": f"{base}/oauth/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "app_registration_endpoint": f"{base}/api/v1/apps",
                "revocation_endpoint": f"{base}/oauth/revoke",
                "scopes_supported": sorted(SCOPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            }
        )

    def oauth_authorize(self, request: Request) -> Response:
        params = params_of(request)
        app = self.state["apps"].get(params.get("client_id", ""))
        if app is None:
            return self._oauth_page("Authorisation failed", f"<p>{html.escape(INVALID_CLIENT)}</p>", 401)
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app["redirect_uris"]:
            return self._oauth_page("Authorisation failed", "<p>The redirect uri included is not valid.</p>", 400)
        state = params.get("state", "")
        if params.get("response_type") != "code":
            return self._oauth_redirect(redirect_uri, state, error="unsupported_response_type")
        scopes = split_scopes(params.get("scope", "")) or ["read"]
        if not set(scopes) <= set(app["scopes"]):
            return self._oauth_redirect(redirect_uri, state, error="invalid_scope")
        if request.method == "GET":
            return self._authorize_page(request, app, redirect_uri, scopes, state)
        if params.get("decision") != "approve":
            return self._oauth_redirect(redirect_uri, state, error="access_denied")
        account_id = params.get("account_id", "")
        if account_id not in {a["id"] for a in self.organisation_accounts()}:
            return self._oauth_page("Authorisation failed", "<p>Choose one of the accounts.</p>", 400)
        code = secrets.token_urlsafe(24)
        self.state["codes"][code] = {
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            "account_id": account_id,
            "scopes": scopes,
            "expires_at": self.store.now() + CODE_SECONDS,
        }
        if redirect_uri == OOB:
            return self._oauth_page(
                "Authorisation code", f"<p>Copy this code into the application: <code>{code}</code></p>"
            )
        return self._oauth_redirect(redirect_uri, state, code=code)

    def _oauth_redirect(self, redirect_uri: str, state: str, **values: str) -> Response:
        query = {**values, **({"state": state} if state else {})}
        separator = "&" if "?" in redirect_uri else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})

    def _authorize_page(
        self, request: Request, app: dict, redirect_uri: str, scopes: list[str], state: str
    ) -> Response:
        e = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
            for k, v in [
                ("client_id", app["client_id"]),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("scope", " ".join(scopes)),
                ("state", state),
            ]
        )
        action = e(request.path)
        accounts = []
        for choice in self.organisation_accounts():
            account = self.state["accounts"][choice["id"]]
            account_id, username, display_name = account["id"], account["username"], account["display_name"]
            label = f"{display_name} (@{username})"
            accounts.append(
                f'<li><form method="post" action="{action}">{hidden}'
                f'<input type="hidden" name="account_id" value="{e(account_id)}">'
                f"<p><strong>{e(display_name)}</strong> @{e(username)}</p>"
                f'<button type="submit" name="decision" value="approve" aria-label="Authorize as {e(label)}">Authorize</button>'
                f"</form></li>"
            )
        body = (
            f"<p><strong>{e(app['name'])}</strong> would like to use your account with these permissions: "
            f"{e(', '.join(scopes))}.</p><h2>Choose the account</h2><ul>{''.join(accounts)}</ul>"
            f'<form method="post" action="{action}">{hidden}'
            f'<button type="submit" name="decision" value="deny">Deny</button></form>'
        )
        return self._oauth_page(f"Authorize {app['name']}", body)

    def _oauth_page(self, title: str, body: str, status: int = 200) -> Response:
        page = f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} – Mastodon (simulator)</title></head>
<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"""
        return Response(page, status=status, mimetype="text/html")

    def _client(self, request: Request, params: MultiDict) -> dict | None:
        client_id, client_secret = params.get("client_id", ""), params.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id, client_secret = request.authorization.username or "", request.authorization.password or ""
        app = self.state["apps"].get(client_id)
        if app is None or not secrets.compare_digest(app["client_secret"], client_secret):
            return None
        return app

    @endpoint(bearer=False)
    def oauth_token(self, request: Request, grant: dict | None) -> Response:
        params = params_of(request)
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client", INVALID_CLIENT, 401)
        grant_type = params.get("grant_type", "")
        if grant_type == "authorization_code":
            code = self.state["codes"].pop(params.get("code", ""), None)
            if (
                code is None
                or code["client_id"] != app["client_id"]
                or code["redirect_uri"] != params.get("redirect_uri", "")
                or code["expires_at"] < self.store.now()
            ):
                return oauth_error("invalid_grant", INVALID_GRANT, 400)
            account_id, scopes = code["account_id"], code["scopes"]
        elif grant_type == "client_credentials":
            account_id, scopes = None, split_scopes(params.get("scope", "")) or ["read"]
            if not set(scopes) <= set(app["scopes"]):
                return oauth_error("invalid_scope", "The requested scope is invalid, unknown, or malformed.", 400)
        else:
            return oauth_error(
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                400,
            )
        issued = self._grant(secrets.token_urlsafe(32), app["client_id"], account_id, scopes)
        return json_response(
            {
                "access_token": issued["token"],
                "token_type": "Bearer",
                "scope": " ".join(scopes),
                "created_at": issued["created_at"],
            }
        )

    @endpoint(bearer=False)
    def oauth_revoke(self, request: Request, grant: dict | None) -> Response:
        params = params_of(request)
        app = self._client(request, params)
        if app is None:
            return oauth_error("invalid_client", INVALID_CLIENT, 401)
        target = self.state["tokens"].get(params.get("token", ""))
        if target is not None:
            if target["client_id"] != app["client_id"]:
                return oauth_error("unauthorized_client", "You are not authorized to revoke this token", 403)
            target["revoked"] = True
        return json_response({})

    @endpoint()
    def apps_create(self, request: Request, grant: dict | None) -> Response:
        params = params_of(request)
        name = (params.get("client_name") or "").strip()
        if not name:
            return error("Validation failed: Application name can't be blank", 422)
        raw = (
            listed(params, "redirect_uris")
            if params.getlist("redirect_uris[]")
            else [params.get("redirect_uris") or ""]
        )
        redirect_uris = [u.strip() for value in raw for u in str(value).splitlines() if u.strip()]
        if not redirect_uris:
            return error("Validation failed: Redirect URI can't be blank", 422)
        for uri in redirect_uris:
            parts = urlsplit(uri)
            if uri != OOB and not (parts.scheme and parts.netloc) or parts.fragment:
                return error("Validation failed: Redirect URI must be an absolute URI.", 422)
        scopes = split_scopes(params.get("scopes", "")) or ["read"]
        if not set(scopes) <= SCOPES:
            return error("Validation failed: Scopes must be a valid OAuth scope", 422)
        app = {
            "id": str(len(self.state["apps"]) + 1),
            "name": name,
            "website": params.get("website") or None,
            "scopes": scopes,
            "redirect_uris": redirect_uris,
            "client_id": secrets.token_urlsafe(32),
            "client_secret": secrets.token_urlsafe(32),
        }
        self.state["apps"][app["client_id"]] = app
        body = self._app_json(app)
        body.update(client_id=app["client_id"], client_secret=app["client_secret"], client_secret_expires_at=0)
        return json_response(body)

    @endpoint("read", user=False)
    def apps_verify(self, request: Request, grant: dict) -> Response:
        return json_response(self._app_json(self.state["apps"][grant["client_id"]]))
