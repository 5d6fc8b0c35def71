"""X API v2 as api.x.com serves it, under /x (so X_API_URL = SIM_URL + "/x").

Shapes follow the tweepy cassettes and python-twitter bodies in shared/platform-fixtures/x: default fields
(id, text, edit_history_tweet_ids), opt-in `tweet.fields` / `user.fields` / `dm_event.fields`, `expansions`
into `includes`, `meta` {newest_id, oldest_id, result_count, next_token}, 404s as partial `errors` on
lookups, problem bodies for failures. Every API answer carries x-rate-limit-limit / -remaining / -reset (epoch
seconds) for its token and endpoint; a window counts down and answers 429 when spent.

This module holds the accounts, the dispatch (rate limits, authentication, faults), users and the public page;
tweets are in x_tweets.py, direct messages in x_dms.py, OAuth 2.0 in x_oauth.py, shared pieces in x_protocol.py.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.platforms.base import PlatformSim, bearer_token, json_response, request_json
from simulator.platforms.x_dms import DirectMessagesMixin
from simulator.platforms.x_oauth import OAuthMixin, token_record
from simulator.platforms.x_protocol import (
    WINDOW,
    ApiCall,
    XError,
    check_query,
    endpoint,
    forbidden,
    id_order,
    iso_time,
    not_found_error,
    problem,
    rate_headers,
    requested_fields,
    unauthorized,
    unique,
    weighted_length,
)
from simulator.platforms.x_tweets import DUPLICATE_DETAIL, MAX_TWEET_WEIGHT, TweetsMixin

CITIZEN_TOKEN = "sim-citizen-token"
COUNCIL_ID = "1496010482915196929"
POLICE_ID = "1496010482915196930"
CITIZEN_ID = "1501384926170447873"
NEIGHBOUR_ID = "1501384926170447874"
# Fixed demo credentials, valid until 2100 by any clock a test can reach.
DEMO_EXPIRES_AT = 4102444800
ALL_SCOPES = "tweet.read tweet.write users.read dm.read dm.write offline.access media.write like.write"

SEED_USERS = [
    {"id": COUNCIL_ID, "username": "democouncil", "name": "Demo Council", "organisation": True,
     "description": "Official account of Demo Council. Report problems at council.example.",
     "followers": 1240, "following": 85, "tweets": 3120, "listed": 41},
    {"id": POLICE_ID, "username": "demopolice", "name": "Demo Police", "organisation": True,
     "description": "Demo Police. In an emergency call 999. Not monitored 24/7.",
     "followers": 3410, "following": 40, "tweets": 5230, "listed": 97},
    {"id": CITIZEN_ID, "username": "citizen", "name": "Casey Citizen", "organisation": False,
     "description": "A member of the public.", "followers": 57, "following": 210, "tweets": 880, "listed": 0},
    {"id": NEIGHBOUR_ID, "username": "neighbour", "name": "Nia Neighbour", "organisation": False,
     "description": "Lives down the road.", "followers": 12, "following": 30, "tweets": 95, "listed": 0},
]

# What seed_demo needs to connect the demo channels without a browser.
DEMO_ACCOUNTS = [
    {
        "handle": user["username"],
        "account_id": user["id"],
        "display_name": user["name"],
        "credentials": {
            "access_token": f"sim-x-{user['username']}-access-token",
            "refresh_token": f"sim-x-{user['username']}-refresh-token",
            "expires_at": DEMO_EXPIRES_AT,
        },
    }
    for user in SEED_USERS
    if user["organisation"]
]


class Sim(TweetsMixin, DirectMessagesMixin, OAuthMixin, PlatformSim):
    name = "x"
    prefix = "/x"

    def rules(self) -> list[Rule]:
        return [
            Rule("/2/users/me", endpoint="get_me", methods=["GET"]),
            Rule("/2/users/by/username/<username>", endpoint="get_user_by_username", methods=["GET"]),
            Rule("/2/users/<user_id>", endpoint="get_user", methods=["GET"]),
            Rule("/2/users/<user_id>/mentions", endpoint="get_mentions", methods=["GET"]),
            Rule("/2/users/<user_id>/tweets", endpoint="get_user_tweets", methods=["GET"]),
            Rule("/2/users/<user_id>/likes", endpoint="like", methods=["POST"]),
            Rule("/2/users/<user_id>/likes/<tweet_id>", endpoint="unlike", methods=["DELETE"]),
            Rule("/2/users/<user_id>/retweets", endpoint="retweet", methods=["POST"]),
            Rule("/2/users/<user_id>/retweets/<tweet_id>", endpoint="unretweet", methods=["DELETE"]),
            Rule("/2/tweets", endpoint="get_tweets", methods=["GET"]),
            Rule("/2/tweets", endpoint="create_tweet", methods=["POST"]),
            Rule("/2/tweets/<tweet_id>", endpoint="get_tweet", methods=["GET"]),
            Rule("/2/tweets/<tweet_id>", endpoint="delete_tweet", methods=["DELETE"]),
            Rule("/2/dm_events", endpoint="get_dm_events", methods=["GET"]),
            Rule("/2/dm_conversations/with/<participant_id>/dm_events", endpoint="get_participant_dm_events", methods=["GET"]),
            Rule("/2/dm_conversations/with/<participant_id>/messages", endpoint="send_dm_to_participant", methods=["POST"]),
            Rule("/2/dm_conversations/<conversation_id>/dm_events", endpoint="get_conversation_dm_events", methods=["GET"]),
            Rule("/2/dm_conversations/<conversation_id>/messages", endpoint="send_dm_to_conversation", methods=["POST"]),
            Rule("/2/media/upload", endpoint="media_upload", methods=["POST"]),
            Rule("/2/media/metadata", endpoint="media_metadata", methods=["POST"]),
            Rule("/2/oauth2/token", endpoint="oauth_token", methods=["POST"]),
            Rule("/2/oauth2/revoke", endpoint="oauth_revoke", methods=["POST"]),
            Rule("/i/oauth2/authorize", endpoint="authorize", methods=["GET", "POST"]),
            Rule("/img/avatar/<user_id>", endpoint="avatar_image", methods=["GET"]),
            # Simulator control, not X: how late new posts show in mention timelines (see set_index_delay).
            Rule("/_sim/index_delay", endpoint="set_index_delay", methods=["POST"]),
        ]

    # ------------------------------------------------------------------------------------ seed
    def seed(self) -> None:
        state = self.state
        state.clear()
        state.update(users={}, tweets={}, dm_conversations={}, dm_events={}, media={}, tokens={}, codes={}, ratelimits={})
        now = self.store.now()
        for spec in SEED_USERS:
            state["users"][spec["id"]] = {**spec, "created_at": now - 900 * 86400, "follower_ids": []}
        state["tokens"][CITIZEN_TOKEN] = token_record("access", CITIZEN_ID, ALL_SCOPES, "citizen", None)
        for demo in DEMO_ACCOUNTS:
            credentials, grant = demo["credentials"], f"demo-{demo['handle']}"
            state["tokens"][credentials["access_token"]] = token_record("access", demo["account_id"], ALL_SCOPES, grant, DEMO_EXPIRES_AT)
            state["tokens"][credentials["refresh_token"]] = token_record("refresh", demo["account_id"], ALL_SCOPES, grant, None)
        bins = self._add_tweet(COUNCIL_ID, "Garden waste collections restart on Monday. Check your day at https://council.example/bins",
                               at=now - 3600)
        self._add_tweet(CITIZEN_ID, "Will the brown bins be collected on the bank holiday?", reply_to=bins, at=now - 3000)
        self._add_tweet(POLICE_ID, "Road closed on the High Street this morning after a collision.", at=now - 2400)
        self._add_tweet(CITIZEN_ID, "@demopolice the streetlight on Mill Lane has been out for a week, is that you or the council?",
                        at=now - 1800)
        bins["likes"].append(NEIGHBOUR_ID)
        state["users"][COUNCIL_ID]["follower_ids"].append(CITIZEN_ID)
        self._add_dm(CITIZEN_ID, self._conversation_with(CITIZEN_ID, COUNCIL_ID),
                     "Hello, who do I ask about a missed bin collection at 4 Elm Road?", at=now - 1200)

    # ------------------------------------------------------------------------------- dispatch
    def _serve(self, handler: Callable, limit: int, auth: str, request: Request, values: dict) -> Response:
        call = ApiCall(request)
        name = handler.__name__
        token = bearer_token(request)
        caller = token or (request.authorization.username if request.authorization else "") or request.remote_addr or "-"
        headers, spent = self._count(f"{name}:{caller}", limit)
        try:
            if spent:
                raise problem(429, "Too Many Requests", "Too Many Requests")
            if auth == "user":
                call.user_id = self._authenticate(token)
            result = handler(self, call, **values)
        except XError as exc:
            return json_response(exc.body, exc.status, headers)
        if isinstance(result, Response):
            result.headers.extend(headers)
            return result
        body, status = result if isinstance(result, tuple) else (result, 200)
        return json_response(body, status, headers)

    def _count(self, key: str, limit: int) -> tuple[dict[str, str], bool]:
        """Counts one request in the key's window; returns the headers and whether the window was already spent."""
        now = self.store.now()
        bucket = self.state["ratelimits"].get(key)
        if bucket is None or bucket["reset"] <= now:
            bucket = self.state["ratelimits"][key] = {"reset": int(now) + WINDOW, "used": 0}
        spent = bucket["used"] >= limit
        if not spent:
            bucket["used"] += 1
        return rate_headers(limit, limit - bucket["used"], bucket["reset"]), spent

    def _authenticate(self, token: str) -> str:
        record = self.state["tokens"].get(token) if token else None
        if record is None or record["kind"] != "access" or record["revoked"]:
            raise unauthorized()
        if record["expires_at"] is not None and record["expires_at"] <= self.store.now():
            raise unauthorized()
        return record["user_id"]

    def fault_response(self, kind: str, *, reset_at: int) -> Response:
        if kind == "rate_limit":
            error = problem(429, "Too Many Requests", "Too Many Requests")
            return json_response(error.body, 429, rate_headers(300, 0, reset_at))
        if kind == "expired_token":
            error = unauthorized()
        elif kind == "duplicate":
            error = forbidden(DUPLICATE_DETAIL)
        elif kind == "server_error":
            error = problem(503, "Service Unavailable", "Service Unavailable")
        else:
            error = problem(500, "Internal Server Error", "Internal Server Error")
        return json_response(error.body, error.status)

    # OAuth endpoints: the token endpoint is rate-limited per client like the API, but answers OAuth errors.
    @endpoint(limit=300, auth="client")
    def oauth_token(self, call: ApiCall) -> Response:
        return self.token(call.request)

    @endpoint(limit=300, auth="client")
    def oauth_revoke(self, call: ApiCall) -> Response:
        return self.revoke(call.request)

    # ---------------------------------------------------------------------------------- users
    @endpoint(limit=75)
    def get_me(self, call: ApiCall) -> dict:
        check_query(call, {"user.fields", "expansions", "tweet.fields"})
        return {"data": self._render_user(call, self.state["users"][call.user_id], requested_fields(call, "user.fields"))}

    @endpoint(limit=900)
    def get_user(self, call: ApiCall, user_id: str) -> dict:
        check_query(call, {"user.fields", "expansions", "tweet.fields"})
        user = self.state["users"].get(user_id)
        if user is None:
            return {"errors": [not_found_error("user", user_id)]}
        return {"data": self._render_user(call, user, requested_fields(call, "user.fields"))}

    @endpoint(limit=900)
    def get_user_by_username(self, call: ApiCall, username: str) -> dict:
        check_query(call, {"user.fields", "expansions", "tweet.fields"})
        user = self._user_named(username)
        if user is None:
            return {"errors": [not_found_error("user", username, "username")]}
        return {"data": self._render_user(call, user, requested_fields(call, "user.fields"))}

    def set_index_delay(self, request: Request) -> Response:
        """Posts made from now on appear in mention timelines only this many (simulated) seconds later, keeping
        their ids: X's indexing lag, which lets a since_id cursor pass over a post that shows up late."""
        try:
            seconds = max(0.0, float(request_json(request).get("seconds", 0)))
        except (TypeError, ValueError):
            return json_response({"error": "seconds must be a number"}, 400)
        self.state["index_delay"] = seconds
        return json_response({"index_delay": seconds})

    def avatar_image(self, request: Request, user_id: str) -> Response:
        user = self.state["users"].get(user_id)
        initials = "".join(word[0] for word in (user["name"] if user else "?").split()[:2])
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" role="img" aria-label="{html.escape(initials)}">'
               f'<rect width="48" height="48" fill="#1d4f91"/><text x="24" y="30" font-size="18" text-anchor="middle" '
               f'fill="#fff" font-family="sans-serif">{html.escape(initials)}</text></svg>')
        return Response(svg, mimetype="image/svg+xml")

    def _user_named(self, username: str) -> dict | None:
        username = username.lower()
        return next((u for u in self.state["users"].values() if u["username"].lower() == username), None)

    def _render_users(self, call: ApiCall, user_ids: list[str]) -> list[dict]:
        fields = requested_fields(call, "user.fields")
        return [self._render_user(call, self.state["users"][u], fields) for u in unique(user_ids) if u in self.state["users"]]

    def _render_user(self, call: ApiCall, user: dict, fields: set[str]) -> dict:
        out: dict[str, Any] = {"id": user["id"], "name": user["name"], "username": user["username"]}
        if "created_at" in fields:
            out["created_at"] = iso_time(user["created_at"])
        if "description" in fields:
            out["description"] = user["description"]
        if "profile_image_url" in fields:
            out["profile_image_url"] = f"{call.base}/img/avatar/{user['id']}"
        if "protected" in fields:
            out["protected"] = False
        if "verified" in fields:
            out["verified"] = user["organisation"]
        if "verified_type" in fields:
            out["verified_type"] = "government" if user["organisation"] else "none"
        if "url" in fields:
            out["url"] = ""
        if "public_metrics" in fields:
            posts = sum(1 for t in self.state["tweets"].values() if t["author_id"] == user["id"])
            out["public_metrics"] = {"followers_count": user["followers"] + len(user["follower_ids"]),
                                     "following_count": user["following"], "tweet_count": user["tweets"] + posts,
                                     "listed_count": user["listed"]}
        return out

    # ------------------------------------------------------------------------------ public page
    def public_accounts(self) -> list[dict[str, str]]:
        users = [u for u in self.state["users"].values() if not u["organisation"]]
        users.sort(key=lambda u: u["username"] != "citizen")
        return [{"id": u["id"], "handle": f"@{u['username']}"} for u in users]

    def organisation_accounts(self) -> list[dict[str, str]]:
        return [{"id": u["id"], "handle": f"@{u['username']}"} for u in self.state["users"].values() if u["organisation"]]

    def public_write(self, *, kind: str, author_id: str, target_account_id: str, text: str, in_reply_to: str = "") -> str:
        users = self.state["users"]
        if author_id not in users or target_account_id not in users:
            raise KeyError("choose an account to write as and one to write to")
        target = users[target_account_id]
        if kind == "dm":
            return self._add_dm(author_id, self._conversation_with(author_id, target_account_id), text)["id"]
        if kind == "mention":
            if f"@{target['username']}".lower() not in text.lower():
                text = f"@{target['username']} {text}"
            parent = None
        elif kind == "comment":
            if in_reply_to:
                parent = self.state["tweets"].get(in_reply_to)
                if parent is None:
                    raise ValueError(f"there is no post {in_reply_to}")
            else:
                own = sorted((t for t in self.state["tweets"].values() if t["author_id"] == target_account_id), key=id_order)
                if not own:
                    raise ValueError(f"@{target['username']} has not posted anything yet")
                parent = own[-1]
        else:
            raise ValueError(f"unknown kind {kind!r}")
        full_text = self._reply_text(text, parent, author_id)
        if weighted_length(full_text) > MAX_TWEET_WEIGHT:
            raise ValueError("an X post is at most 280 characters as X counts them")
        return self._add_tweet(author_id, full_text, reply_to=parent, auto_prefix=False)["id"]

    def public_react(self, *, kind: str, author_id: str, post_id: str) -> None:
        if author_id not in self.state["users"]:
            raise KeyError("choose an account to act as")
        if kind not in ("like", "repost"):
            raise ValueError(f"unknown reaction {kind!r}")
        tweet = self.state["tweets"].get(post_id)
        if tweet is None:
            raise ValueError(f"there is no post {post_id}")
        reactions = tweet["likes" if kind == "like" else "retweets"]
        if author_id not in reactions:
            reactions.append(author_id)

    def recent_activity(self, target_account_id: str, limit: int = 20) -> list[dict[str, str]]:
        items = [
            {"id": t["id"], "text": t["text"], "kind": "reply" if t.get("in_reply_to_user_id") else "post",
             "created_at": iso_time(t["created_at"])}
            for t in self.state["tweets"].values() if t["author_id"] == target_account_id
        ]
        items += [
            {"id": e["id"], "text": e["text"], "kind": "dm", "created_at": iso_time(e["created_at"])}
            for e in self.state["dm_events"].values() if e["sender_id"] == target_account_id
        ]
        items.sort(key=lambda item: (item["created_at"], int(item["id"])), reverse=True)
        return items[:limit]
