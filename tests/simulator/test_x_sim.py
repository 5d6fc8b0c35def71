"""The simulator's X answers like api.x.com: the tweepy cassettes and python-twitter bodies in
shared/platform-fixtures/x are the reference for shapes and rate-limit headers; pagination, rate-limit windows,
OAuth 2.0 with PKCE, single-use refresh tokens, faults and the public page are checked over HTTP."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from simulator.platforms.x import CITIZEN_ID, COUNCIL_ID, DEMO_ACCOUNTS, POLICE_ID

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platform-fixtures" / "x"
CASSETTES = FIXTURES / "tweepy__tweepy" / "cassettes"
PYTHON_TWITTER = FIXTURES / "sns-sdks__python-twitter" / "testdata"
COUNCIL_TOKEN = DEMO_ACCOUNTS[0]["credentials"]["access_token"]
POLICE_TOKEN = DEMO_ACCOUNTS[1]["credentials"]["access_token"]
CITIZEN_TOKEN = "sim-citizen-token"
CLIENT = ("sim-x-client", "sim-x-secret")
REDIRECT_URI = "http://testserver/channels/x/callback"
MENTION_FIELDS = "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,public_metrics"


# ------------------------------------------------------------------------------------------ fixtures
def cassette(name: str) -> list[dict]:
    """The interactions of a tweepy cassette, each response body decoded (base64 + gzip in the YAML files)."""
    path = CASSETTES / name
    assert path.is_file(), f"Cassette {path} is missing: shared/platform-fixtures must sit beside the checkout."
    interactions = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    for interaction in interactions:
        raw = interaction["response"]["body"]["string"]
        if isinstance(raw, bytes):
            raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            raw = raw.decode("utf-8")
        interaction["response"]["json"] = json.loads(raw) if raw else None
    return interactions


def recorded(name: str, index: int = 0) -> dict:
    return cassette(name)[index]["response"]["json"]


def recorded_limit(name: str, index: int = 0) -> str:
    headers = {k.lower(): v for k, v in cassette(name)[index]["response"]["headers"].items()}
    return headers["x-rate-limit-limit"][0]


def body_file(relative: str) -> dict:
    path = PYTHON_TWITTER / relative
    assert path.is_file(), f"Recorded body {path} is missing."
    return json.loads(path.read_text(encoding="utf-8"))


def item_keys(items: list[dict]) -> set[str]:
    return set().union(*(set(item) for item in items))


# ------------------------------------------------------------------------------------------- helpers
def api(sim, method: str, path: str, *, token: str = COUNCIL_TOKEN, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{sim.url}/x{path}", headers=headers, timeout=5, **kwargs)


def citizen_tweet(sim, text: str, **extra) -> dict:
    response = api(sim, "POST", "/2/tweets", token=CITIZEN_TOKEN, json={"text": text, **extra})
    assert response.status_code == 201, response.text
    return response.json()["data"]


def mentions(sim, user_id: str = COUNCIL_ID, **params) -> dict:
    response = api(sim, "GET", f"/2/users/{user_id}/mentions", params=params)
    assert response.status_code == 200, response.text
    return response.json()


class Forms(HTMLParser):
    """The forms of a page: action, method, fields and the submit button's name/value and label."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get"), "fields": {}, "buttons": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and self.forms:
            self._button = {"name": attrs.get("name", ""), "value": attrs.get("value", ""), "label": "",
                            "describedby": attrs.get("aria-describedby", "")}
            self.forms[-1]["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["label"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


def authorize_params(challenge: str, **overrides) -> dict:
    return {"response_type": "code", "client_id": CLIENT[0], "redirect_uri": REDIRECT_URI,
            "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access", "state": "state-123",
            "code_challenge": challenge, "code_challenge_method": "S256", **overrides}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def authorize_as(sim, account_id: str, challenge: str) -> dict:
    """Opens the authorise page, presses "Authorize app" for the account and returns the redirect's query."""
    page = requests.get(f"{sim.url}/x/i/oauth2/authorize", params=authorize_params(challenge), timeout=5)
    assert page.status_code == 200, page.text
    parser = Forms()
    parser.feed(page.text)
    form = next(f for f in parser.forms if f["fields"].get("account") == account_id)
    button = form["buttons"][0]
    assert button["label"] == "Authorize app"
    response = requests.post(page.url.split("?")[0], data={**form["fields"], button["name"]: button["value"]},
                             allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_request(sim, auth=CLIENT, **form) -> requests.Response:
    return requests.post(f"{sim.url}/x/2/oauth2/token", data=form, auth=auth, timeout=5)


def connect(sim, account_id: str = COUNCIL_ID) -> dict:
    verifier, challenge = pkce()
    query = authorize_as(sim, account_id, challenge)
    response = token_request(sim, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT_URI,
                             code_verifier=verifier, client_id=CLIENT[0])
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------------ users and shapes
def test_users_me_answers_with_the_recorded_shape_and_limit(sim):
    before = time.time()
    response = api(sim, "GET", "/2/users/me")
    body = response.json()
    assert response.status_code == 200
    assert set(recorded("test_client_get_me.yaml")) == set(body)
    assert set(recorded("test_client_get_me.yaml")["data"]) == set(body["data"])
    assert body["data"] == {"id": COUNCIL_ID, "name": "Demo Council", "username": "democouncil"}
    assert response.headers["x-rate-limit-limit"] == recorded_limit("test_client_get_me.yaml") == "75"
    assert response.headers["x-rate-limit-remaining"] == "74"
    assert before < int(response.headers["x-rate-limit-reset"]) <= time.time() + 901


def test_user_lookup_gives_public_metrics_and_partial_error_for_unknown_user(sim):
    body = api(sim, "GET", f"/2/users/{POLICE_ID}", params={"user.fields": "public_metrics,profile_image_url"}).json()
    assert set(body["data"]["public_metrics"]) == {"followers_count", "following_count", "tweet_count", "listed_count"}
    assert body["data"]["username"] == "demopolice"
    assert body["data"]["profile_image_url"].startswith(f"{sim.url}/x/img/avatar/")
    assert requests.get(body["data"]["profile_image_url"], timeout=5).headers["Content-Type"].startswith("image/svg+xml")

    missing = api(sim, "GET", "/2/users/123").json()
    assert "data" not in missing
    assert missing["errors"][0]["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert missing["errors"][0]["resource_type"] == "user"


# ----------------------------------------------------------------------------------------- mentions
def test_mention_timeline_default_fields_match_the_recorded_timeline(sim):
    for n in range(6):
        citizen_tweet(sim, f"@democouncil pothole number {n} on Station Road")
    body = mentions(sim, max_results=5)
    reference = recorded("test_client_get_users_mentions.yaml")
    assert set(body) == set(reference)
    assert set(body["meta"]) == set(reference["meta"])
    assert item_keys(body["data"]) == item_keys(reference["data"])
    assert body["meta"]["result_count"] == 5 == len(body["data"])
    assert body["meta"]["newest_id"] == body["data"][0]["id"] and body["meta"]["oldest_id"] == body["data"][-1]["id"]


def test_mention_timeline_fields_match_the_recorded_bodies(sim):
    body = mentions(sim, **{"tweet.fields": MENTION_FIELDS, "expansions": "author_id",
                            "user.fields": "username,name,profile_image_url,verified"})
    reference = body_file("apis/timeline/timeline_mentions.json")
    assert item_keys(reference["data"]) <= item_keys(body["data"])
    assert item_keys(r["public_metrics"] for r in reference["data"]) <= item_keys(t["public_metrics"] for t in body["data"])
    lookup = body_file("apis/tweet/tweets_resp.json")
    assert item_keys(lookup["includes"]["users"]) <= item_keys(body["includes"]["users"])
    reply = body["data"][0]
    assert reply["in_reply_to_user_id"] == COUNCIL_ID
    assert reply["referenced_tweets"][0]["type"] == "replied_to"
    assert reply["author_id"] == CITIZEN_ID and reply["conversation_id"] == reply["referenced_tweets"][0]["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", reply["created_at"])
    assert body["includes"]["users"][0]["username"] == "citizen"


def test_mentions_page_with_next_token_and_since_id_without_overlap(sim):
    made = [citizen_tweet(sim, f"@democouncil bin {n} missed")["id"] for n in range(12)]
    first = mentions(sim, max_results=5)
    second = mentions(sim, max_results=5, pagination_token=first["meta"]["next_token"])
    seen = [t["id"] for t in first["data"] + second["data"]]
    assert len(seen) == len(set(seen)) == 10
    assert [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)
    assert seen[:10] == list(reversed(made))[:10]

    newer = mentions(sim, since_id=made[-3])
    assert [t["id"] for t in newer["data"]] == [made[-1], made[-2]]
    assert mentions(sim, since_id=made[-1]) == {"meta": {"result_count": 0}}


def test_out_of_range_max_results_is_an_invalid_request_shaped_like_the_recorded_error(sim):
    response = api(sim, "GET", f"/2/users/{COUNCIL_ID}/mentions", params={"max_results": 3})
    reference = body_file("streams/delete_error.json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == set(reference)
    assert set(body["errors"][0]) == set(reference["errors"][0])
    assert body["title"] == reference["title"] and body["type"] == reference["type"]
    assert "max_results" in body["errors"][0]["parameters"]


def test_unknown_query_parameter_is_refused(sim):
    response = api(sim, "GET", "/2/users/me", params={"colour": "blue"})
    assert response.status_code == 400
    assert "colour" in response.json()["errors"][0]["message"]


# ------------------------------------------------------------------------------------------- tweets
def test_create_and_delete_tweet_answer_like_the_recorded_cassette(sim):
    recorded_create, recorded_delete = (i["response"] for i in cassette("test_client_create_and_delete_tweet.yaml"))
    created = api(sim, "POST", "/2/tweets", json={"text": "Library opening hours change next week."})
    assert created.status_code == recorded_create["status"]["code"] == 201
    assert set(recorded_create["json"]["data"]) <= set(created.json()["data"])
    assert created.json()["data"]["edit_history_tweet_ids"] == [created.json()["data"]["id"]]
    assert created.headers["x-rate-limit-limit"] == recorded_limit("test_client_create_and_delete_tweet.yaml", 0)

    deleted = api(sim, "DELETE", f"/2/tweets/{created.json()['data']['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == recorded_delete["json"] == {"data": {"deleted": True}}
    assert deleted.headers["x-rate-limit-limit"] == recorded_limit("test_client_create_and_delete_tweet.yaml", 1)
    assert created.json()["data"]["id"] not in sim.state()["x"]["tweets"]


def test_duplicate_tweet_is_refused_with_xs_forbidden_problem(sim):
    api(sim, "POST", "/2/tweets", json={"text": "Council tax bills are on their way."})
    again = api(sim, "POST", "/2/tweets", json={"text": "Council tax bills are on their way."})
    assert again.status_code == 403
    assert again.json() == {"title": "Forbidden", "detail": "You are not allowed to create a Tweet with duplicate content.",
                            "type": "about:blank", "status": 403}


def test_reply_is_prefixed_with_the_parent_author_and_joins_the_conversation(sim):
    mention = citizen_tweet(sim, "@democouncil is the tip open on Sunday?")
    reply = api(sim, "POST", "/2/tweets", json={"text": "Yes, 9 to 4.", "reply": {"in_reply_to_tweet_id": mention["id"]}}).json()
    assert reply["data"]["text"] == "@citizen Yes, 9 to 4."
    stored = sim.state()["x"]["tweets"][reply["data"]["id"]]
    assert stored["conversation_id"] == mention["id"] and stored["in_reply_to_user_id"] == CITIZEN_ID

    gone = api(sim, "POST", "/2/tweets", json={"text": "Hello", "reply": {"in_reply_to_tweet_id": "42"}})
    assert gone.status_code == 403 and "deleted or not visible" in gone.json()["detail"]


def test_a_quote_tweet_references_the_quoted_one_and_counts_in_its_metrics(sim):
    post = api(sim, "POST", "/2/tweets", json={"text": "Library opening hours change in May."}).json()["data"]["id"]
    quote = api(sim, "POST", "/2/tweets", token=CITIZEN_TOKEN, json={"text": "About time!", "quote_tweet_id": post})
    assert quote.status_code == 201
    shown = api(sim, "GET", f"/2/tweets/{quote.json()['data']['id']}", params={"tweet.fields": "referenced_tweets"})
    assert shown.json()["data"]["referenced_tweets"] == [{"type": "quoted", "id": post}]
    metrics = api(sim, "GET", f"/2/tweets/{post}", params={"tweet.fields": "public_metrics"}).json()["data"]["public_metrics"]
    assert (metrics["quote_count"], metrics["reply_count"]) == (1, 0)

    missing = api(sim, "POST", "/2/tweets", token=CITIZEN_TOKEN, json={"text": "Hm", "quote_tweet_id": "42"})
    assert missing.status_code == 400
    assert missing.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"


def test_too_long_tweet_is_an_invalid_request(sim):
    response = api(sim, "POST", "/2/tweets", json={"text": "x" * 281})
    assert response.status_code == 400
    assert response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"


def test_tweet_lookups_match_the_recorded_bodies_and_report_missing_ids(sim):
    mine = api(sim, "POST", "/2/tweets", json={"text": "Recycling centre closed for maintenance."}).json()["data"]["id"]
    single = api(sim, "GET", f"/2/tweets/{mine}").json()
    assert set(single["data"]) == set(recorded("test_client_get_tweet.yaml")["data"])

    batch = api(sim, "GET", "/2/tweets", params={"ids": f"{mine},999", "tweet.fields": "public_metrics"}).json()
    assert item_keys(batch["data"]) >= item_keys(recorded("test_client_get_tweets.yaml")["data"])
    metrics = batch["data"][0]["public_metrics"]
    assert {"retweet_count", "reply_count", "like_count", "quote_count", "impression_count"} <= set(metrics)
    assert batch["errors"][0]["resource_id"] == "999" and batch["errors"][0]["title"] == "Not Found Error"


def test_likes_and_retweets_answer_like_the_recorded_cassettes_and_count_in_metrics(sim):
    post = api(sim, "POST", "/2/tweets", json={"text": "Free swimming for under 16s this summer."}).json()["data"]["id"]
    liked = api(sim, "POST", f"/2/users/{CITIZEN_ID}/likes", token=CITIZEN_TOKEN, json={"tweet_id": post})
    retweeted = api(sim, "POST", f"/2/users/{CITIZEN_ID}/retweets", token=CITIZEN_TOKEN, json={"tweet_id": post})
    assert liked.json() == recorded("test_client_like_and_unlike.yaml", 0)
    assert retweeted.json() == recorded("test_client_retweet_and_unretweet.yaml", 0)
    metrics = api(sim, "GET", f"/2/tweets/{post}", params={"tweet.fields": "public_metrics"}).json()["data"]["public_metrics"]
    assert (metrics["like_count"], metrics["retweet_count"]) == (1, 1)

    on_behalf = api(sim, "POST", f"/2/users/{COUNCIL_ID}/likes", token=CITIZEN_TOKEN, json={"tweet_id": post})
    assert on_behalf.status_code == 403
    unliked = api(sim, "DELETE", f"/2/users/{CITIZEN_ID}/likes/{post}", token=CITIZEN_TOKEN)
    assert unliked.json() == recorded("test_client_like_and_unlike.yaml", 1)


def test_media_upload_and_alt_text_attach_to_a_tweet(sim):
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    upload = api(sim, "POST", "/2/media/upload", files={"media": ("dot.png", png, "image/png")}, data={"media_category": "tweet_image"})
    assert upload.status_code == 200, upload.text
    media = upload.json()["data"]
    assert {"id", "media_key", "size", "expires_after_secs"} <= set(media) and media["size"] == len(png)
    alt = api(sim, "POST", "/2/media/metadata", json={"id": media["id"], "metadata": {"alt_text": {"text": "A road sign"}}})
    assert alt.json() == {"data": {"id": media["id"], "associated_metadata": {"alt_text": {"text": "A road sign"}}}}

    post = api(sim, "POST", "/2/tweets", json={"text": "New signs", "media": {"media_ids": [media["id"]]}}).json()["data"]["id"]
    body = api(sim, "GET", f"/2/tweets/{post}", params={"tweet.fields": "attachments", "expansions": "attachments.media_keys",
                                                         "media.fields": "alt_text"}).json()
    reference = body_file("apis/tweet/tweet_resp.json")
    assert set(reference) == set(body) and set(reference["data"]) <= set(body["data"])
    assert body["includes"]["media"] == [{"media_key": media["media_key"], "type": "photo", "alt_text": "A road sign"}]

    foreign = api(sim, "POST", "/2/tweets", token=CITIZEN_TOKEN, json={"text": "mine now", "media": {"media_ids": [media["id"]]}})
    assert foreign.status_code == 400


# -------------------------------------------------------------------------------------------- DMs
def test_dm_events_with_fields_match_the_recorded_bodies(sim):
    body = api(sim, "GET", "/2/dm_events", params={
        "dm_event.fields": "id,text,event_type,dm_conversation_id,created_at,sender_id", "expansions": "sender_id",
        "user.fields": "username,name,profile_image_url"}).json()
    reference = body_file("apis/dm_events/events.json")
    assert set(reference["data"][0]) == set(body["data"][0])
    event = body["data"][0]
    assert event["sender_id"] == CITIZEN_ID and event["dm_conversation_id"] == f"{COUNCIL_ID}-{CITIZEN_ID}"
    assert body["includes"]["users"][0]["username"] == "citizen"

    default = api(sim, "GET", f"/2/dm_conversations/{COUNCIL_ID}-{CITIZEN_ID}/dm_events").json()
    recorded_listing = recorded("test_manage_and_lookup_direct_messages.yaml", 4)
    assert item_keys(default["data"]) == item_keys(recorded_listing["data"])
    assert set(default["meta"]) <= set(recorded_listing["meta"]) | {"next_token"}


def test_account_without_messages_gets_the_recorded_empty_listing(sim):
    assert api(sim, "GET", "/2/dm_events", token=POLICE_TOKEN).json() == recorded("test_manage_and_lookup_direct_messages.yaml", 3)


def test_sending_dms_answers_like_the_recorded_cassette(sim):
    by_participant = api(sim, "POST", f"/2/dm_conversations/with/{CITIZEN_ID}/messages", token=POLICE_TOKEN,
                         json={"text": "Thanks, we have passed this on."})
    reference = recorded("test_manage_and_lookup_direct_messages.yaml", 0)
    assert by_participant.status_code == 201
    assert set(by_participant.json()["data"]) == set(reference["data"])
    conversation = by_participant.json()["data"]["dm_conversation_id"]
    assert conversation == f"{POLICE_ID}-{CITIZEN_ID}"

    in_conversation = api(sim, "POST", f"/2/dm_conversations/{conversation}/messages", token=CITIZEN_TOKEN, json={"text": "Thank you"})
    assert in_conversation.status_code == 201 and in_conversation.json()["data"]["dm_conversation_id"] == conversation
    outsider = api(sim, "POST", f"/2/dm_conversations/{conversation}/messages", token=COUNCIL_TOKEN, json={"text": "Hi"})
    assert outsider.status_code == 403


def test_dm_events_page_newest_first(sim):
    for n in range(5):
        api(sim, "POST", f"/2/dm_conversations/with/{COUNCIL_ID}/messages", token=CITIZEN_TOKEN, json={"text": f"message {n}"})
    first = api(sim, "GET", "/2/dm_events", params={"max_results": 4}).json()
    rest = api(sim, "GET", "/2/dm_events", params={"max_results": 4, "pagination_token": first["meta"]["next_token"]}).json()
    texts = [e["text"] for e in first["data"] + rest["data"]]
    assert texts[:5] == [f"message {n}" for n in range(4, -1, -1)]
    assert len(texts) == 6 and "next_token" not in rest["meta"]


# ------------------------------------------------------------------------------------- rate limits
def test_rate_limit_window_counts_down_per_token_and_endpoint_then_answers_429(sim):
    remaining = [int(api(sim, "GET", "/2/users/me").headers["x-rate-limit-remaining"]) for _ in range(75)]
    assert remaining == list(range(74, -1, -1))
    spent = api(sim, "GET", "/2/users/me")
    assert spent.status_code == 429
    assert spent.json() == {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    assert spent.headers["x-rate-limit-remaining"] == "0"

    assert api(sim, "GET", "/2/users/me", token=POLICE_TOKEN).status_code == 200
    assert api(sim, "GET", f"/2/users/{COUNCIL_ID}").status_code == 200

    sim.advance_clock(int(spent.headers["x-rate-limit-reset"]) - time.time() + 1)
    fresh = api(sim, "GET", "/2/users/me")
    assert fresh.status_code == 200 and fresh.headers["x-rate-limit-remaining"] == "74"


# -------------------------------------------------------------------------------------------- auth
def test_missing_unknown_and_expired_tokens_get_401_problem(sim):
    unauthorized = {"title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank", "status": 401}
    assert api(sim, "GET", "/2/users/me", token="").json() == unauthorized
    assert api(sim, "GET", "/2/users/me", token="not-a-token").status_code == 401

    token = connect(sim)["access_token"]
    assert api(sim, "GET", "/2/users/me", token=token).status_code == 200
    sim.advance_clock(7201)
    expired = api(sim, "GET", "/2/users/me", token=token)
    assert expired.status_code == 401 and expired.json() == unauthorized
    assert "x-rate-limit-remaining" in expired.headers
    # Demo and citizen tokens outlive any test clock.
    assert api(sim, "GET", "/2/users/me").status_code == 200
    assert api(sim, "GET", "/2/users/me", token=CITIZEN_TOKEN).json()["data"]["username"] == "citizen"


def test_authorize_page_lists_organisation_accounts_and_redirects_with_code_and_state(sim):
    _, challenge = pkce()
    page = requests.get(f"{sim.url}/x/i/oauth2/authorize", params=authorize_params(challenge), timeout=5)
    assert page.status_code == 200 and '<html lang="en-GB">' in page.text
    parser = Forms()
    parser.feed(page.text)
    accounts = [f["fields"]["account"] for f in parser.forms if "account" in f["fields"]]
    assert accounts == [COUNCIL_ID, POLICE_ID]
    assert "@citizen" not in page.text
    for form in parser.forms:
        if "account" in form["fields"]:
            assert f'id="{form["buttons"][0]["describedby"]}"' in page.text

    query = authorize_as(sim, POLICE_ID, challenge)
    assert query["state"] == "state-123" and query["code"]


def test_authorize_page_refuses_an_unknown_client_and_cancel_reports_access_denied(sim):
    _, challenge = pkce()
    wrong = requests.get(f"{sim.url}/x/i/oauth2/authorize", params=authorize_params(challenge, client_id="someone-else"), timeout=5)
    assert wrong.status_code == 400
    cancelled = requests.post(f"{sim.url}/x/i/oauth2/authorize", data={**authorize_params(challenge), "decision": "cancel"},
                              allow_redirects=False, timeout=5)
    assert cancelled.status_code == 302
    assert parse_qs(urlsplit(cancelled.headers["Location"]).query) == {"error": ["access_denied"], "state": ["state-123"]}


def test_token_exchange_gives_xs_token_answer_and_the_code_is_single_use(sim):
    verifier, challenge = pkce()
    code = authorize_as(sim, COUNCIL_ID, challenge)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    response = token_request(sim, **form)
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "access_token", "scope", "refresh_token"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert body["scope"] == "tweet.read tweet.write users.read dm.read dm.write offline.access"
    assert api(sim, "GET", "/2/users/me", token=body["access_token"]).json()["data"]["id"] == COUNCIL_ID
    assert token_request(sim, **form).status_code == 400


def test_token_exchange_rejects_a_verifier_that_does_not_match_the_challenge(sim):
    _, challenge = pkce()
    code = authorize_as(sim, COUNCIL_ID, challenge)["code"]
    response = token_request(sim, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI,
                             code_verifier=secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_endpoint_requires_the_clients_basic_credentials(sim):
    verifier, challenge = pkce()
    code = authorize_as(sim, COUNCIL_ID, challenge)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}
    assert token_request(sim, auth=None, **form).status_code == 401
    assert token_request(sim, auth=(CLIENT[0], "wrong"), **form).json()["error"] == "unauthorized_client"


def test_refresh_tokens_are_single_use(sim):
    first = connect(sim)
    refreshed = token_request(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != first["refresh_token"]
    reused = token_request(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
    assert token_request(sim, grant_type="refresh_token", refresh_token=refreshed.json()["refresh_token"]).status_code == 200


def test_revoke_ends_the_grant(sim):
    tokens = connect(sim)
    revoked = requests.post(f"{sim.url}/x/2/oauth2/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"},
                            auth=CLIENT, timeout=5)
    assert revoked.json() == {"revoked": True}
    assert api(sim, "GET", "/2/users/me", token=tokens["access_token"]).status_code == 401
    assert token_request(sim, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 400


# ------------------------------------------------------------------------------------------ faults
@pytest.mark.parametrize(
    ("kind", "status", "detail"),
    [
        ("expired_token", 401, "Unauthorized"),
        ("duplicate", 403, "You are not allowed to create a Tweet with duplicate content."),
        ("server_error", 503, None),
    ],
)
def test_faults_answer_with_xs_own_error_bodies(sim, kind, status, detail):
    sim.fault("x", kind, path="/2/tweets", method="POST")
    response = api(sim, "POST", "/2/tweets", json={"text": "Faulty"})
    assert response.status_code == status
    if detail:
        assert response.json()["detail"] == detail and response.json()["type"] == "about:blank"
    assert api(sim, "POST", "/2/tweets", json={"text": "Works again"}).status_code == 201


def test_rate_limit_fault_answers_429_with_the_reset_time(sim):
    sim.fault("x", "rate_limit", path="/2/users/me", reset_in=120)
    response = api(sim, "GET", "/2/users/me")
    assert response.status_code == 429
    assert response.headers["x-rate-limit-remaining"] == "0"
    assert abs(int(response.headers["x-rate-limit-reset"]) - (time.time() + 120)) <= 2
    assert response.json()["title"] == "Too Many Requests"


# ------------------------------------------------------------------------------------- public page
def test_public_page_mention_comment_like_and_dm_reach_the_api(sim):
    page = requests.get(sim.url, timeout=5)
    assert 'id="h-x"' in page.text and "@citizen" in page.text and "@democouncil" in page.text
    council_post = next(t for t in sim.state()["x"]["tweets"].values() if t["author_id"] == COUNCIL_ID)["id"]

    def act(**form):
        response = requests.post(sim.url, data={"platform": "x", "author": CITIZEN_ID, "target": COUNCIL_ID, **form}, timeout=5)
        assert response.status_code == 200 and ("Sent (" in response.text or "Done (" in response.text), response.text

    act(action="mention", text="the park gate is broken")
    act(action="comment", post=council_post, text="Thanks for the reminder")
    act(action="like", post=council_post)
    act(action="dm", text="Can I have a new recycling box?")

    texts = [t["text"] for t in mentions(sim)["data"]]
    assert "@democouncil the park gate is broken" in texts and "@democouncil Thanks for the reminder" in texts
    assert api(sim, "GET", f"/2/tweets/{council_post}", params={"tweet.fields": "public_metrics"}).json()["data"]["public_metrics"]["like_count"] == 2
    assert api(sim, "GET", "/2/dm_events").json()["data"][0]["text"] == "Can I have a new recycling box?"


def test_public_page_shows_what_the_organisation_replied(sim):
    mention = citizen_tweet(sim, "@democouncil when is the next council meeting?")
    api(sim, "POST", "/2/tweets", json={"text": "Tuesday at 7pm.", "reply": {"in_reply_to_tweet_id": mention["id"]}})
    assert "@citizen Tuesday at 7pm." in requests.get(sim.url, timeout=5).text


def test_citizen_token_posts_mentions_through_the_real_endpoint(sim):
    made = citizen_tweet(sim, "Hey @DemoCouncil, the library wifi is down")
    body = mentions(sim, **{"tweet.fields": "entities"})
    assert body["data"][0]["id"] == made["id"]
    assert body["data"][0]["entities"]["mentions"] == [{"start": 4, "end": 16, "username": "DemoCouncil", "id": COUNCIL_ID}]


def test_demo_accounts_connect_without_a_browser(sim):
    for account in DEMO_ACCOUNTS:
        me = api(sim, "GET", "/2/users/me", token=account["credentials"]["access_token"]).json()["data"]
        assert (me["id"], me["username"], me["name"]) == (account["account_id"], account["handle"], account["display_name"])
        assert account["credentials"]["expires_at"] > time.time() + 10 * 365 * 86400
