"""Facebook Login for the simulated Graph API: the OAuth dialog page, code → short-lived user token →
long-lived user token (fb_exchange_token), /me/accounts with Page tokens and linked Instagram accounts,
/me/permissions (and revoking them), and /debug_token (token_info.json's shape).
"""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from simulator.platforms.base import json_response
from simulator.platforms.graph_api import (
    ALL_SCOPES,
    MANAGER_ID,
    MISSING,
    PLACEHOLDER,
    GraphError,
    expired_token_error,
    params_of,
)

if TYPE_CHECKING:
    from simulator.platforms.graph import Viewer

CODE_SECONDS = 600
SHORT_LIVED_SECONDS = 3600
# 60 days, as base/long_term_token.json records it.
LONG_LIVED_SECONDS = 5184000
DATA_ACCESS_SECONDS = 90 * 86400
PAGE_TASKS = ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"]


class LoginMixin:
    ROUTES = {
        ("user", "accounts", "GET"): "get_accounts",
        ("user", "permissions", "GET"): "get_permissions",
        ("user", "permissions", "DELETE"): "revoke_permissions",
        ("app", "", "GET"): "debug_token",
    }
    DEFAULT_FIELDS = {"user": ("name", "id")}
    EDGE_FIELDS: dict[str, tuple[str, ...]] = {}

    # --------------------------------------------------------------------------------------- dialog
    def dialog(self, request: Request, version: str = "") -> Response:
        self.host_url = request.host_url
        params = params_of(request)
        app = self.state["app"]
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        state = params.get("state", "")
        scopes = [s for s in params.get("scope", "").replace(" ", ",").split(",") if s]
        if client_id != app["id"]:
            return _dialog_error("Invalid App ID", "The provided app ID does not look like a valid app ID.")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return _dialog_error("URL blocked", "This redirect failed because the redirect URI is not whitelisted in "
                                                "the app's client OAuth settings.")
        unknown = [s for s in scopes if s not in ALL_SCOPES]
        if unknown:
            return _dialog_error("Invalid Scopes", f"Invalid Scopes: {', '.join(unknown)}. This message is only shown "
                                                   "to developers.")
        if params.get("response_type", "code") != "code":
            return _dialog_error("Unsupported response type", "This simulator supports response_type=code only.")
        manager = self.state["users"][MANAGER_ID]
        pages = [p for p in self.state["pages"].values() if MANAGER_ID in p["managers"]]
        if request.method == "GET":
            return Response(_dialog_page(app["name"], manager["name"], scopes, pages, params), mimetype="text/html")
        separator = "&" if "?" in redirect_uri else "?"
        if request.form.get("decision") != "allow":
            query = urlencode({"error": "access_denied", "error_code": "200", "error_description": "Permissions error",
                               "error_reason": "user_denied", "state": state})
            return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{query}#_=_"})
        chosen = [p["id"] for p in pages if p["id"] in request.form.getlist("page")]
        code = "AQ" + secrets.token_urlsafe(48)
        self.state["codes"][code] = {
            "user_id": MANAGER_ID, "client_id": client_id, "redirect_uri": redirect_uri, "scopes": scopes or ["public_profile"],
            "pages": chosen, "expires_at": self.store.now() + CODE_SECONDS, "used": False,
        }  # fmt: skip
        return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode({'code': code, 'state': state})}#_=_"})

    # ---------------------------------------------------------------------------------- token calls
    def access_token(self, request: Request, version: str) -> Response:
        self.host_url = request.host_url
        params = params_of(request)
        try:
            self.count_usage([])
            body = self._access_token(params)
        except GraphError as error:
            return self.finish(error.response(), [])
        return self.finish(json_response(body), [])

    def _access_token(self, params: dict[str, Any]) -> dict[str, Any]:
        app = self.state["app"]
        if not params.get("client_id"):
            raise GraphError(101, "Missing client_id parameter.")
        if params["client_id"] != app["id"]:
            raise GraphError(101, "Error validating application. Invalid application ID.")
        if params.get("client_secret") != app["secret"]:
            raise GraphError(1, "Error validating client secret.")
        now = self.store.now()
        grant_type = params.get("grant_type", "")
        if grant_type == "client_credentials":
            return {"access_token": f"{app['id']}|{app['secret']}", "token_type": "bearer"}
        if grant_type == "fb_exchange_token":
            old = self.state["tokens"].get(params.get("fb_exchange_token", ""))
            if old is None or old.get("revoked") or old["kind"] != "user":
                raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
            if old.get("expires_at") is not None and now >= old["expires_at"]:
                raise expired_token_error(old["expires_at"], now)
            token = self.issue_token({"kind": "user", "user_id": old["user_id"], "scopes": list(old["scopes"]),
                                      "pages": list(old.get("pages", [])), "expires_at": now + LONG_LIVED_SECONDS,
                                      "page_tokens": {}})
            return {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
        if grant_type not in ("", "authorization_code"):
            raise GraphError(100, f"Unsupported grant_type {grant_type!r}.")
        if not params.get("redirect_uri"):
            raise GraphError(191, "Missing redirect_uri parameter.")
        code = self.state["codes"].get(params.get("code", ""))
        if code is None:
            raise GraphError(100, "Invalid verification code format.", subcode=36007)
        if code["used"]:
            raise GraphError(100, "This authorization code has been used.", subcode=36009)
        if now >= code["expires_at"]:
            raise GraphError(100, "This authorization code has expired.", subcode=36007)
        if code["redirect_uri"] != params["redirect_uri"] or code["client_id"] != params["client_id"]:
            raise GraphError(100, "Error validating verification code. Please make sure your redirect_uri is identical "
                                  "to the one you used in the OAuth dialog request", subcode=36008)
        code["used"] = True
        token = self.issue_token({"kind": "user", "user_id": code["user_id"], "scopes": list(code["scopes"]),
                                  "pages": list(code["pages"]), "expires_at": now + SHORT_LIVED_SECONDS, "page_tokens": {}})
        return {"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_SECONDS}

    # --------------------------------------------------------------------------------------- users
    def fields_user(self, obj: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        return {
            "id": lambda f: obj["id"],
            "name": lambda f: obj["name"],
            "first_name": lambda f: obj.get("first_name", ""),
            "last_name": lambda f: obj.get("last_name", ""),
            "short_name": lambda f: obj.get("first_name", ""),
            "name_format": lambda f: "{first} {last}",
            "email": lambda f: f"{obj['id']}@facebook.com" if viewer.user_id == obj["id"] or viewer.page_id else MISSING,
            "picture": lambda f: {"data": {"height": 50, "is_silhouette": False, "width": 50,
                                           "url": self.image_url({"blob": PLACEHOLDER})}},
        }

    def get_accounts(self, kind: str, user: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        """GET /me/accounts: the Pages this user manages and granted to the app, each with a Page token."""
        if viewer.kind != "user" or viewer.user_id != user["id"]:
            raise GraphError(100, "(#100) Tried accessing nonexisting field (accounts) on node type (User)")
        self.require_scope(viewer, "pages_show_list")
        pages = [p for p in self.state["pages"].values() if user["id"] in p["managers"] and p["id"] in viewer.pages]
        if not params.get("fields"):
            params = {**params, "fields": "access_token,category,category_list,name,id,tasks"}
        return self.edge_response(request, params, "page", pages, viewer, summary={"total_count": len(pages)})

    def page_token_for(self, viewer: Viewer, page_id: str) -> str:
        """Page tokens come from a user token; from a long-lived one they do not expire."""
        grant = self.state["tokens"][viewer.token]
        tokens = grant.setdefault("page_tokens", {})
        if page_id not in tokens:
            lifetime_left = (grant["expires_at"] or 0) - self.store.now()
            expires_at = None if lifetime_left > SHORT_LIVED_SECONDS * 24 else grant["expires_at"]
            tokens[page_id] = self.issue_token({"kind": "page", "user_id": grant["user_id"], "page_id": page_id,
                                                "scopes": list(grant["scopes"]), "expires_at": expires_at})
        return tokens[page_id]

    def get_permissions(self, kind: str, user: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        if viewer.user_id != user["id"]:
            raise GraphError(200, "(#200) Requires a user access token of this user.", status=403)
        return {"data": [{"permission": scope, "status": "granted"} for scope in viewer.scopes]}

    def revoke_permissions(self, kind: str, user: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        """DELETE /me/permissions removes the app: every token of this user for it (Page tokens too) stops working."""
        if viewer.kind != "user" or viewer.user_id != user["id"]:
            raise GraphError(200, "(#200) Requires a user access token of this user.", status=403)
        for grant in self.state["tokens"].values():
            if grant.get("user_id") == user["id"]:
                grant["revoked"] = True
        return {"success": True}

    def debug_token(self, kind: str, app: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        token = params.get("input_token", "")
        grant = self.state["tokens"].get(token)
        if grant is None or grant.get("revoked"):
            return {"data": {"error": {"code": 190, "message": "Invalid OAuth access token."}, "is_valid": False,
                             "scopes": []}}
        now = self.store.now()
        expires_at = grant.get("expires_at")
        data = {
            "app_id": app["id"], "type": grant["kind"].upper(), "application": app["name"],
            "data_access_expires_at": int(now + DATA_ACCESS_SECONDS), "expires_at": int(expires_at or 0),
            "is_valid": expires_at is None or now < expires_at, "scopes": list(grant.get("scopes", [])),
            "granular_scopes": [{"scope": s} for s in grant.get("scopes", [])], "user_id": grant.get("user_id", ""),
        }  # fmt: skip
        if grant.get("page_id"):
            data["profile_id"] = grant["page_id"]
        return {"data": data}

    def fields_app(self, obj: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        return {"id": lambda f: obj["id"], "name": lambda f: obj["name"]}


def _dialog_error(title: str, message: str) -> Response:
    e = html.escape
    return Response(f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>{e(title)}</title></head>
<body><main><h1>{e(title)}</h1><p role="alert">{e(message)}</p></main></body></html>""", status=400, mimetype="text/html")


def _dialog_page(app_name: str, user_name: str, scopes: list[str], pages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    e = html.escape
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(str(params.get(k, "")))}">'
                     for k in ("client_id", "redirect_uri", "state", "scope", "response_type"))
    permissions = "".join(f"<li>{e(scope)}</li>" for scope in scopes) or "<li>public_profile</li>"
    page_boxes = "".join(
        f'<li><input type="checkbox" id="page-{e(p["id"])}" name="page" value="{e(p["id"])}" checked> '
        f'<label for="page-{e(p["id"])}">{e(p["name"])}</label></li>'
        for p in pages
    )
    return f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Log in with Facebook</title></head>
<body><main><h1>{e(app_name)} would like to access your Facebook Pages</h1>
<p>You are logged in as <strong>{e(user_name)}</strong> (simulated Facebook).</p>
<form method="post">{hidden}
<h2 id="permissions">What {e(app_name)} is asking for</h2><ul aria-labelledby="permissions">{permissions}</ul>
<fieldset><legend>Which Pages should {e(app_name)} be able to use?</legend><ul>{page_boxes}</ul></fieldset>
<p><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button></p>
</form></main></body></html>"""
