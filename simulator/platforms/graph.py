"""The Graph API for Facebook Pages and Instagram professional accounts, answering as graph.facebook.com does:
versioned paths (/graph/v21.0/...), node and edge URLs, the `fields` grammar with nested fields and modifiers,
cursor and time paging, OAuthException error bodies, X-App-Usage and X-Business-Use-Case-Usage headers, and
Facebook Login (dialog, code, short- and long-lived user tokens, Page tokens). The recorded python-facebook
bodies in ../shared/platform-fixtures/facebook are the reference for shapes.

Seeded: the Pages `Demo Council` and `Demo Police`, each linked to an Instagram professional account, managed
by the Facebook user `Demo Admin` (who logs in through the dialog), plus the public user `citizen` (token
`sim-citizen-token`), who can comment, like, share, tag a Page, post on Instagram mentioning an account and
message Pages and Instagram accounts. DEMO_ACCOUNTS holds the fixed long-lived Page tokens for seed_demo.

Beyond the real API, for the public: the citizen may like (POST /{id}/likes) and comment on Instagram media,
and send messages to a Page or Instagram account with POST /me/messages {recipient: {id}}.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import PlatformSim, bearer_token, json_response
from simulator.platforms.graph_api import (
    ALL_SCOPES,
    CITIZEN_ID,
    CITIZEN_IG_ID,
    MANAGER_ID,
    MISSING,
    PLACEHOLDER,
    VERSION,
    Field,
    GraphError,
    compact_json,
    cursor_page,
    duplicate_error,
    expired_token_error,
    fb_time,
    field_names,
    invalid_token_error,
    limit_of,
    paging_url,
    params_of,
    parse_time_param,
    revoked_token_error,
    time_page,
    truthy,
    unsupported,
    usage_entry,
)
from simulator.platforms.graph_instagram import InstagramMixin
from simulator.platforms.graph_login import LoginMixin
from simulator.platforms.graph_messenger import MessengerMixin
from simulator.platforms.graph_pages import PagesMixin

APP_ID = os.environ.get("FACEBOOK_APP_ID", "sim-facebook-app")
APP_SECRET = os.environ.get("FACEBOOK_APP_SECRET", "sim-facebook-secret")
# The numeric id the app has at Meta; rate-limit headers for injected faults are keyed by it.
APP_NUMERIC_ID = "1000000000000042"
CITIZEN_TOKEN = "sim-citizen-token"

COUNCIL_PAGE_ID = "102000000000001"
POLICE_PAGE_ID = "102000000000002"
COUNCIL_IG_ID = "17841400000000001"
POLICE_IG_ID = "17841400000000002"

# Calls per hour before the usage headers say 100%: per Page or Instagram account, and for the whole app.
BUSINESS_CALLS_PER_HOUR = 4800
APP_CALLS_PER_HOUR = 20000

# id, name, username, category, about, fans, followers, Instagram (id, username, followers, follows, bio)
_PAGES = [
    (COUNCIL_PAGE_ID, "Demo Council", "democouncil", "Government organisation",
     "Official Page of Demo Council. Monitored 9am to 5pm, Monday to Friday.", 2480, 2613,
     (COUNCIL_IG_ID, "democouncil", 1830, 120, "News and services from Demo Council.")),
    (POLICE_PAGE_ID, "Demo Police", "demopolice", "Police station",
     "Demo Police. Do not report crime here: in an emergency call 999.", 5120, 5377,
     (POLICE_IG_ID, "demopolice", 4210, 85, "Demo Police. Emergencies: call 999.")),
]
_SEED_POSTS = {
    COUNCIL_PAGE_ID: [
        ("Bin collections move to Tuesday next week because of the bank holiday.", "https://democouncil.example/bins"),
        ("The library on Station Road reopens on Monday with longer opening hours.", ""),
    ],
    POLICE_PAGE_ID: [
        ("Thank you to everyone who came to the community meeting in the park last night.", ""),
        ("Please lock your bikes: we have had reports of thefts near the station this week.", ""),
    ],
}
_SEED_MEDIA = {
    COUNCIL_IG_ID: ["Spring flowers in Victoria Park, planted by our volunteers. #community"],
    POLICE_IG_ID: ["Meet our new community support officers for the town centre."],
}


def page_token(username: str) -> str:
    return f"sim-graph-{username}-page-token"


def _demo_accounts() -> list[dict[str, Any]]:
    accounts = []
    for page_id, name, username, _category, _about, _fans, _followers, (ig_id, ig_username, *_rest) in _PAGES:
        token = page_token(username)
        accounts.append({"platform": "facebook", "handle": username, "account_id": page_id, "display_name": name,
                         "credentials": {"page_access_token": token}})
        accounts.append({"platform": "instagram", "handle": ig_username, "account_id": ig_id, "display_name": name,
                         "credentials": {"page_access_token": token, "ig_user_id": ig_id, "page_id": page_id}})
    return accounts


# What seed_demo needs to connect each demo Page and Instagram account without a browser: fixed Page tokens.
DEMO_ACCOUNTS = _demo_accounts()

# A 1x1 PNG: the placeholder picture.
PLACEHOLDER_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201aa2f8c8d0000000049454e44ae426082"
)

TYPE_NAMES = {
    "user": "User", "page": "Page", "post": "PagePost", "photo": "Photo", "comment": "Comment",
    "ig_user": "IGUser", "ig_media": "IGMedia", "ig_container": "ShadowIGMediaBuilder", "ig_comment": "IGComment",
    "conversation": "UnifiedThread", "message": "Message", "app": "Application", "reaction": "Profile",
}  # fmt: skip
# Where each node type lives in the state.
COLLECTIONS = {
    "user": "users", "page": "pages", "post": "posts", "photo": "photos", "comment": "comments",
    "ig_user": "ig_users", "ig_media": "ig_media", "ig_container": "ig_containers", "ig_comment": "ig_comments",
    "conversation": "conversations", "message": "messages",
}  # fmt: skip


@dataclass
class Viewer:
    """Who is calling: the token's kind (user, page or app), its user and Page, and its granted permissions."""

    token: str
    kind: str
    user_id: str = ""
    page_id: str = ""
    scopes: tuple[str, ...] = ()
    in_query: bool = False
    pages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def actor_id(self) -> str:
        return self.page_id or self.user_id


class Sim(LoginMixin, PagesMixin, InstagramMixin, MessengerMixin, PlatformSim):
    name = "graph"
    prefix = "/graph"

    def __init__(self, store):
        super().__init__(store)
        # Uploaded picture bytes by name, served at /graph/media/<name>; kept in memory, not in the saved state.
        self.blobs: dict[str, tuple[bytes, str]] = {PLACEHOLDER: (PLACEHOLDER_PNG, "image/png")}
        self.host_url = "http://127.0.0.1:8001/"
        self.routes: dict[tuple[str, str, str], str] = {}
        self.default_fields: dict[str, tuple[str, ...]] = {}
        self.edge_fields: dict[str, tuple[str, ...]] = {}
        for mixin in (LoginMixin, PagesMixin, InstagramMixin, MessengerMixin):
            self.routes.update(mixin.ROUTES)
            self.default_fields.update(mixin.DEFAULT_FIELDS)
            self.edge_fields.update(mixin.EDGE_FIELDS)

    # ------------------------------------------------------------------------------------------- seed
    def seed(self) -> None:
        state = self.state
        state.clear()
        self.blobs = {PLACEHOLDER: (PLACEHOLDER_PNG, "image/png")}
        now = self.store.now()
        state.update({
            "app": {"id": APP_ID, "secret": APP_SECRET, "numeric_id": APP_NUMERIC_ID, "name": "Civic Desk"},
            "users": {}, "pages": {}, "ig_users": {}, "posts": {}, "photos": {}, "comments": {}, "ig_media": {},
            "ig_containers": {}, "ig_comments": {}, "conversations": {}, "messages": {}, "tokens": {},
            "codes": {}, "usage": {},
        })  # fmt: skip
        state["users"][MANAGER_ID] = {"id": MANAGER_ID, "name": "Demo Admin", "first_name": "Demo",
                                      "last_name": "Admin", "ig_id": ""}
        state["users"][CITIZEN_ID] = {"id": CITIZEN_ID, "name": "A Citizen", "first_name": "A", "last_name": "Citizen",
                                      "ig_id": CITIZEN_IG_ID}
        state["ig_users"][CITIZEN_IG_ID] = {
            "id": CITIZEN_IG_ID, "username": "citizen", "name": "A Citizen", "biography": "Lives locally.",
            "followers_count": 12, "follows_count": 40, "page_id": "", "user_id": CITIZEN_ID, "publish_log": [],
        }  # fmt: skip
        state["tokens"][CITIZEN_TOKEN] = {"kind": "user", "user_id": CITIZEN_ID, "scopes": ["public_profile"],
                                          "expires_at": None, "pages": []}
        for page_id, name, username, category, about, fans, followers, ig in _PAGES:
            ig_id, ig_username, ig_followers, ig_follows, bio = ig
            state["pages"][page_id] = {
                "id": page_id, "name": name, "username": username, "category": category, "about": about,
                "fan_count": fans, "followers_count": followers, "ig_id": ig_id, "managers": [MANAGER_ID],
            }
            state["ig_users"][ig_id] = {
                "id": ig_id, "username": ig_username, "name": name, "biography": bio, "followers_count": ig_followers,
                "follows_count": ig_follows, "page_id": page_id, "user_id": "", "publish_log": [],
            }
            state["tokens"][page_token(username)] = {"kind": "page", "user_id": MANAGER_ID, "page_id": page_id,
                                                     "scopes": list(ALL_SCOPES), "expires_at": None}
            for age, (message, link) in zip((3, 1), _SEED_POSTS[page_id], strict=True):
                post = self.new_post(author_id=page_id, target_id=page_id, message=message, link=link,
                                     created=now - age * 86400)
                post["impressions"], post["clicks"] = 140 * age + 37, 9 * age
            for caption in _SEED_MEDIA[ig_id]:
                media = self.new_media(ig_id=ig_id, caption=caption, image={"blob": PLACEHOLDER},
                                       alt_text="A placeholder picture.", created=now - 2 * 86400)
                media["impressions"], media["reach"] = 320, 260

    # ------------------------------------------------------------------------------------------ routes
    def rules(self) -> list[Rule]:
        any_method = ["GET", "POST", "DELETE"]
        return [
            Rule("/dialog/oauth", endpoint="dialog", methods=["GET", "POST"]),
            Rule("/<version>/dialog/oauth", endpoint="dialog", methods=["GET", "POST"]),
            Rule("/media/<name>", endpoint="media_file", methods=["GET"]),
            Rule("/<version>/oauth/access_token", endpoint="access_token", methods=["GET", "POST"]),
            Rule("/<version>", endpoint="graph", methods=any_method),
            Rule("/<version>/<node>", endpoint="graph", methods=any_method),
            Rule("/<version>/<node>/<edge>", endpoint="graph", methods=any_method),
        ]

    def media_file(self, request: Request, name: str) -> Response:
        blob = self.blobs.get(name)
        if blob is None:
            return Response("Not found", status=404, mimetype="text/plain")
        return Response(blob[0], mimetype=blob[1])

    def graph(self, request: Request, version: str, node: str = "", edge: str | None = None) -> Response:
        """Every /vX/{node} and /vX/{node}/{edge} call: authenticate, find the node, route, count usage."""
        self.host_url = request.host_url
        if not node:
            version, node = "", version
        elif not VERSION.match(version):
            # Unversioned calls (/me/accounts) go to the oldest version still served, as on the real host.
            if edge is not None:
                return GraphError(2500, f"Unknown path components: /{edge}").response()
            version, node, edge = "", version, node
        if node == "oauth" and edge == "access_token":
            return self.access_token(request, version or "v21.0")
        method = request.method.upper()
        params = params_of(request)
        if method == "GET" and params.get("method", "").upper() in ("POST", "DELETE"):
            method = params["method"].upper()
        usage_keys: list[tuple[str, str]] = []
        try:
            viewer = self.authenticate(request, params, node=node)
            kind, obj = self.resolve(node, viewer, method)
            usage_keys = self.usage_keys(viewer, kind, obj)
            self.count_usage(usage_keys)
            handler = self.routes.get((kind, edge or "", method))
            if handler is None and not edge and method == "GET":
                handler = "get_node"
            if handler is None:
                field_edges = self.edge_fields.get(kind, ())
                if edge and method == "GET" and edge in field_edges:
                    return self.finish(self.edge_as_call(request, kind, obj, edge, params, viewer), usage_keys)
                if edge and edge not in field_edges and not any(k == kind and e == edge for k, e, _m in self.routes):
                    raise GraphError(2500, f"Unknown path components: /{edge}")
                raise unsupported(method, node)
            result = getattr(self, handler)(kind, obj, viewer, params, request)
        except GraphError as error:
            return self.finish(error.response(), usage_keys)
        if isinstance(result, Response):
            return self.finish(result, usage_keys)
        return self.finish(json_response(result), usage_keys)

    def finish(self, response: Response, usage_keys: list[tuple[str, str]]) -> Response:
        response.headers["X-App-Usage"] = self.app_usage_header()
        if usage_keys:
            response.headers["X-Business-Use-Case-Usage"] = self.business_usage_header(usage_keys)
        response.headers["facebook-api-version"] = "v21.0"
        return response

    # ---------------------------------------------------------------------------------------- tokens
    def authenticate(self, request: Request, params: dict[str, Any], *, node: str) -> Viewer:
        in_query = "access_token" in request.args
        token = str(params.get("access_token") or "") or bearer_token(request)
        if not token:
            header = request.headers.get("Authorization", "")
            token = header[6:].strip() if header.lower().startswith("oauth ") else ""
        if not token:
            if node == "me":
                raise GraphError(2500, "An active access token must be used to query information about the current user.")
            raise GraphError(104, "An access token is required to request this resource.")
        app = self.state["app"]
        if token == f"{app['id']}|{app['secret']}":
            return Viewer(token=token, kind="app", in_query=in_query, scopes=ALL_SCOPES)
        grant = self.state["tokens"].get(token)
        if grant is None:
            raise invalid_token_error(token)
        if grant.get("revoked"):
            raise revoked_token_error()
        expires_at = grant.get("expires_at")
        now = self.store.now()
        if expires_at is not None and now >= expires_at:
            raise expired_token_error(expires_at, now)
        return Viewer(token=token, kind=grant["kind"], user_id=grant.get("user_id", ""),
                      page_id=grant.get("page_id", ""), scopes=tuple(grant.get("scopes", ())), in_query=in_query,
                      pages=tuple(grant.get("pages", ())))

    def issue_token(self, grant: dict[str, Any]) -> str:
        token = "EAAS" + secrets.token_hex(28)
        self.state["tokens"][token] = grant
        return token

    def require_scope(self, viewer: Viewer, *permissions: str) -> None:
        if viewer.kind == "app":
            return
        for permission in permissions:
            if permission not in viewer.scopes:
                raise GraphError(10, f"(#10) This endpoint requires the '{permission}' permission to manage the object.",
                                 status=403)

    def require_page(self, viewer: Viewer, page_id: str, *permissions: str) -> None:
        """Page-only operations need that Page's own token."""
        if viewer.kind != "page":
            raise GraphError(190, "(#190) This method must be called with a Page Access Token")
        if viewer.page_id != page_id:
            raise GraphError(200, "(#200) The user hasn't authorized the application to perform this action: this Page "
                                  "access token belongs to another Page.", status=403)
        self.require_scope(viewer, *permissions)

    # ----------------------------------------------------------------------------------------- nodes
    def resolve(self, node: str, viewer: Viewer, method: str) -> tuple[str, dict[str, Any]]:
        if node == "me":
            if viewer.kind == "page":
                return "page", self.state["pages"][viewer.page_id]
            if viewer.kind == "user":
                return "user", self.state["users"][viewer.user_id]
            raise GraphError(2500, "An active access token must be used to query information about the current user.")
        if node == "debug_token":
            return "app", self.state["app"]
        found = self.find(node)
        if found is None:
            page = next((p for p in self.state["pages"].values() if p["username"] == node.lower()), None)
            if page is None:
                raise unsupported(method, node)
            return "page", page
        return found

    def find(self, object_id: str) -> tuple[str, dict[str, Any]] | None:
        for kind, collection in COLLECTIONS.items():
            obj = self.state[collection].get(object_id)
            if obj is not None and not obj.get("deleted"):
                return kind, obj
        return None

    def owner_page_of(self, kind: str, obj: dict[str, Any]) -> str:
        """The Page an object belongs to (for Instagram objects, the Page its account is linked to)."""
        if kind == "page":
            return obj["id"]
        if kind in ("post", "photo"):
            return obj.get("target_id", "") if obj.get("target_id") in self.state["pages"] else ""
        if kind == "comment":
            return self.owner_page_of("post", self.state["posts"].get(obj["post_id"], {}))
        if kind == "ig_user":
            return obj.get("page_id", "")
        if kind in ("ig_media", "ig_container"):
            return self.state["ig_users"].get(obj.get("ig_id", ""), {}).get("page_id", "")
        if kind == "ig_comment":
            media = self.state["ig_media"].get(obj["media_id"], {})
            return self.owner_page_of("ig_media", media) if media else ""
        if kind in ("conversation",):
            return obj["page_id"]
        if kind == "message":
            return self.state["conversations"][obj["conversation_id"]]["page_id"]
        return ""

    # ------------------------------------------------------------------------------------ rendering
    def get_node(self, kind: str, obj: dict[str, Any], viewer: Viewer, params: dict[str, Any], request: Request) -> Any:
        self.check_readable(kind, obj, viewer)
        return self.render(kind, obj, field_names(params.get("fields", "")), viewer)

    def check_readable(self, kind: str, obj: dict[str, Any], viewer: Viewer) -> None:
        """Conversations, messages and unpublished containers are private to their Page; the rest is public."""
        if kind in ("conversation", "message"):
            self.require_page(viewer, self.owner_page_of(kind, obj))
        elif kind == "ig_container":
            self.require_ig_owner(viewer, self.state["ig_users"][obj["ig_id"]])

    def render(self, kind: str, obj: dict[str, Any], fields: list[Field] | None, viewer: Viewer) -> dict[str, Any]:
        table = getattr(self, f"fields_{kind}")(obj, viewer)
        wanted = fields or [Field(name) for name in self.default_fields[kind]]
        out: dict[str, Any] = {}
        for wanted_field in wanted:
            getter = table.get(wanted_field.name)
            if getter is None:
                raise GraphError(100, f"(#100) Tried accessing nonexisting field ({wanted_field.name}) on node type "
                                      f"({TYPE_NAMES[kind]})")
            value = getter(wanted_field)
            if value is not MISSING:
                out[wanted_field.modifiers.get("as", wanted_field.name)] = value
        if "id" in table and "id" not in out:
            out["id"] = obj["id"]
        return out

    def ref(self, actor_id: str, fields: list[Field] | None, viewer: Viewer, *, instagram: bool = False) -> dict[str, Any]:
        """`from`, `participants` and the like: a user, Page or Instagram account in brief."""
        if instagram:
            account = self.state["ig_users"].get(actor_id, {"id": actor_id, "username": ""})
            return self.render("ig_user", account, fields or [Field("username"), Field("id")], viewer)
        page = self.state["pages"].get(actor_id)
        if page is not None:
            return self.render("page", page, fields or [Field("name"), Field("id")], viewer)
        user = self.state["users"].get(actor_id, {"id": actor_id, "name": "", "first_name": "", "last_name": "", "ig_id": ""})
        return self.render("user", user, fields or [Field("name"), Field("id")], viewer)

    def edge_field(self, kind: str, items: list[dict[str, Any]], wanted: Field, viewer: Viewer,
                   summary: dict[str, Any] | None = None) -> dict[str, Any]:
        """An edge asked for inside `fields` (comments.summary(true).limit(0){message}): data, paging, summary."""
        limit_text = wanted.modifiers.get("limit")
        limit = 0 if limit_text == "0" else limit_of(limit_text)
        page = cursor_page(items, key=lambda item: item["id"], limit=limit, after=wanted.modifiers.get("after", ""))
        body: dict[str, Any] = {"data": [self.render(kind, item, wanted.children, viewer) for item in page.items]}
        if page.paging:
            body["paging"] = page.paging
        chosen = _summary(summary, wanted.modifiers.get("summary", ""))
        if chosen is not None:
            body["summary"] = chosen
        return body

    def edge_response(self, request: Request, params: dict[str, Any], kind: str, items: list[dict[str, Any]],
                      viewer: Viewer, *, summary: dict[str, Any] | None = None, timed: bool = False) -> dict[str, Any]:
        """GET /{id}/{edge}: the items in edge order, paged by cursors (or by time for feeds)."""
        fields = field_names(params.get("fields", ""))
        limit = limit_of(params.get("limit"))
        path = request.path

        def next_url(replace: dict[str, str]) -> str:
            return paging_url(request, params, path=path, replace=replace)

        if timed:
            since, until = parse_time_param(params.get("since")), parse_time_param(params.get("until"))
            page = time_page(items, key=lambda item: item["id"], created=lambda item: item["created"], limit=limit,
                             since=since, until=until, paging_token=params.get("__paging_token", ""),
                             previous=truthy(params.get("__previous")), next_url=next_url)
        else:
            since, until = parse_time_param(params.get("since")), parse_time_param(params.get("until"))
            if since is not None or until is not None:
                items = [i for i in items if (since is None or i["created"] >= since) and (until is None or i["created"] <= until)]
            page = cursor_page(items, key=lambda item: item["id"], limit=limit, after=params.get("after", ""),
                               before=params.get("before", ""), next_url=next_url)
        body: dict[str, Any] = {"data": [self.render(kind, item, fields, viewer) for item in page.items]}
        if page.paging:
            body["paging"] = page.paging
        chosen = _summary(summary, str(params.get("summary", "")))
        if chosen is not None:
            body["summary"] = chosen
        return body

    def edge_as_call(self, request: Request, kind: str, obj: dict[str, Any], edge: str, params: dict[str, Any],
                     viewer: Viewer) -> Response:
        """Edges that are only fields on a node (e.g. /{conversation}/participants) answered as a call."""
        value = self.render(kind, obj, [Field(edge, children=field_names(params.get("fields", "")) or None)], viewer)
        return json_response(value.get(edge, {"data": []}))

    # ----------------------------------------------------------------------------------------- usage
    def usage_keys(self, viewer: Viewer, kind: str, obj: dict[str, Any]) -> list[tuple[str, str]]:
        """The business objects a call counts against: the Page of a Page token, or the Instagram account."""
        if viewer.kind != "page":
            return []
        if kind.startswith("ig_"):
            ig_id = obj["id"] if kind == "ig_user" else obj.get("ig_id") or self.ig_of_object(kind, obj)
            return [(ig_id, "instagram")] if ig_id else []
        return [(viewer.page_id, "pages")]

    def ig_of_object(self, kind: str, obj: dict[str, Any]) -> str:
        if kind == "ig_comment":
            return self.state["ig_media"].get(obj["media_id"], {}).get("ig_id", "")
        return ""

    def _window(self, key: str) -> dict[str, Any]:
        now = self.store.now()
        usage = self.state["usage"].setdefault(key, {"window_start": now, "calls": 0})
        if now - usage["window_start"] >= 3600:
            usage.update(window_start=now, calls=0)
        return usage

    def count_usage(self, keys: list[tuple[str, str]]) -> None:
        self._window("app")["calls"] += 1
        for key, kind in keys:
            usage = self._window(key)
            usage["calls"] += 1
            if usage["calls"] > BUSINESS_CALLS_PER_HOUR:
                code = 80002 if kind == "instagram" else 80001
                account = "Instagram account" if kind == "instagram" else "Page account"
                raise GraphError(code, f"(#{code}) There have been too many calls to this {account}. Wait a bit and try "
                                       "again. For more info, please refer to "
                                       "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
                                 is_transient=True)

    def _regain_minutes(self, key: str) -> int:
        usage = self._window(key)
        if usage["calls"] < BUSINESS_CALLS_PER_HOUR:
            return 0
        return max(1, math.ceil((usage["window_start"] + 3600 - self.store.now()) / 60))

    def app_usage_header(self) -> str:
        percent = min(100, self._window("app")["calls"] * 100 // APP_CALLS_PER_HOUR)
        return compact_json({"call_count": percent, "total_time": percent // 2, "total_cputime": percent // 2})

    def business_usage_header(self, keys: list[tuple[str, str]]) -> str:
        body = {}
        for key, kind in keys:
            percent = min(100, self._window(key)["calls"] * 100 // BUSINESS_CALLS_PER_HOUR)
            body[key] = [usage_entry(kind, percent, self._regain_minutes(key))]
        return compact_json(body)

    # ---------------------------------------------------------------------------------------- faults
    def fault_response(self, kind: str, *, reset_at: int) -> Response:
        now = self.store.now()
        if kind == "rate_limit":
            minutes = max(1, math.ceil((reset_at - now) / 60))
            error = GraphError(32, "(#32) Page request limit reached", is_transient=True)
            # The simulator's fault hook does not see the request, so the usage is keyed by the app's id.
            usage = {APP_NUMERIC_ID: [usage_entry("pages", 100, minutes)]}
            error.headers = {"X-Business-Use-Case-Usage": compact_json(usage), "X-App-Usage": self.app_usage_header()}
            return error.response()
        if kind == "expired_token":
            return expired_token_error(now - 3600, now).response()
        if kind == "duplicate":
            return duplicate_error().response()
        return json_response({"error": {"message": "An unexpected error has occurred. Please retry your request later.",
                                        "type": "OAuthException", "is_transient": True, "code": 2}}, 500)

    # ------------------------------------------------------------------------------ the public page
    def public_accounts(self) -> list[dict[str, str]]:
        citizen = self.state["users"][CITIZEN_ID]
        return [{"id": citizen["id"], "handle": "citizen"}]

    def organisation_accounts(self) -> list[dict[str, str]]:
        accounts = []
        for page in self.state["pages"].values():
            accounts.append({"id": page["id"], "handle": f"{page['name']} (Facebook Page)"})
            if page.get("ig_id"):
                accounts.append({"id": page["ig_id"], "handle": f"@{self.state['ig_users'][page['ig_id']]['username']} (Instagram)"})
        return accounts

    def public_write(self, *, kind: str, author_id: str, target_account_id: str, text: str, in_reply_to: str = "") -> str:
        user = self.state["users"].get(author_id)
        if user is None or author_id == MANAGER_ID:
            raise ValueError("Choose a public account to write as.")
        if target_account_id in self.state["pages"]:
            return self.public_write_facebook(kind, user, self.state["pages"][target_account_id], text, in_reply_to)
        account = self.state["ig_users"].get(target_account_id)
        if account is None or not account.get("page_id"):
            raise ValueError("Choose a Page or Instagram account to write to.")
        return self.public_write_instagram(kind, user, account, text, in_reply_to)

    def public_react(self, *, kind: str, author_id: str, post_id: str) -> None:
        if author_id not in self.state["users"] or author_id == MANAGER_ID:
            raise ValueError("Choose a public account.")
        found = self.find(post_id.strip())
        if found is None:
            raise ValueError(f"There is no post {post_id!r}.")
        object_kind, obj = found
        if kind == "like":
            if object_kind in ("ig_media", "ig_comment"):
                self.add_like(obj, self.state["users"][author_id]["ig_id"])
            elif object_kind in ("post", "comment", "photo"):
                self.add_like(obj, author_id)
            else:
                raise ValueError("Only posts and comments can be liked.")
        elif kind == "repost":
            if object_kind != "post":
                raise ValueError("Only Facebook posts can be shared; Instagram has no reposts.")
            self.share_post(obj, author_id)
        else:
            raise ValueError(f"Unknown reaction {kind!r}.")

    def recent_activity(self, target_account_id: str, limit: int = 20) -> list[dict[str, str]]:
        items: list[tuple[float, dict[str, str]]] = []
        if target_account_id in self.state["pages"]:
            for post in self.state["posts"].values():
                if post["author_id"] == target_account_id and not post.get("deleted"):
                    items.append((post["created"], {"id": post["id"], "text": post["message"] or post.get("link", ""),
                                                    "kind": "post"}))
            for comment in self.state["comments"].values():
                if comment["author_id"] == target_account_id and not comment.get("deleted"):
                    items.append((comment["created"], {"id": comment["id"], "text": comment["message"], "kind": "reply"}))
        elif target_account_id in self.state["ig_users"]:
            for media in self.state["ig_media"].values():
                if media["ig_id"] == target_account_id and not media.get("deleted"):
                    items.append((media["created"], {"id": media["id"], "text": media["caption"], "kind": "post"}))
            for comment in self.state["ig_comments"].values():
                if comment["author_id"] == target_account_id and not comment.get("deleted"):
                    items.append((comment["created"], {"id": comment["id"], "text": comment["text"], "kind": "reply"}))
        for message in self.state["messages"].values():
            if message["from_id"] == target_account_id:
                items.append((message["created"], {"id": message["id"], "text": message["text"], "kind": "dm"}))
        items.sort(key=lambda pair: pair[0], reverse=True)
        return [{**item, "created_at": fb_time(created)} for created, item in items[:limit]]

    # ------------------------------------------------------------------------------------- helpers
    def new_id(self) -> str:
        return self.store.next_id()

    def store_blob(self, content: bytes, mime_type: str) -> str:
        digest = hashlib.sha256(content).hexdigest()[:24]
        extension = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}.get(mime_type, "bin")
        name = f"{digest}.{extension}"
        self.blobs[name] = (content, mime_type)
        return name

    def image_url(self, image: dict[str, Any]) -> str:
        if image.get("blob"):
            return f"{self.host_url.rstrip('/')}{self.prefix}/media/{image['blob']}"
        return image.get("url", "")

    def blob_for_url(self, url: str) -> str:
        """The name of a picture this simulator serves at `url`, or "" for a picture somewhere else."""
        marker = f"{self.prefix}/media/"
        if marker in url:
            name = url.split(marker, 1)[1].split("?", 1)[0]
            return name if name in self.blobs else ""
        return ""


def _summary(summary: dict[str, Any] | None, asked: str) -> dict[str, Any] | None:
    """summary=true gives the whole summary; summary=total_count (or a list of names) only those keys."""
    if summary is None or not asked or asked.lower() in ("false", "0"):
        return None
    if asked.lower() in ("true", "1"):
        return summary
    names = {name.strip() for name in asked.split(",")}
    return {key: value for key, value in summary.items() if key in names}
