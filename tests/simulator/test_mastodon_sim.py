"""The simulator's Mastodon answers like the real server recorded in shared/platform-fixtures/mastodon (Mastodon.py's
cassettes, Mastodon 4.6.4): the same JSON shapes, Link pagination, X-RateLimit-* headers counting down per token,
429 when a window is used up, Idempotency-Key, Doorkeeper's OAuth pages, injected faults and the public page."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from mastodon import Mastodon

from channels_app.connectors.base import reset_from_iso
from simulator.platforms.mastodon import CITIZEN_TOKEN, DEMO_ACCOUNTS

CASSETTES = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "platform-fixtures"
    / "mastodon"
    / "halcy__Mastodon.py"
    / "tests"
    / "cassettes"
)
COUNCIL = DEMO_ACCOUNTS[0]
POLICE = DEMO_ACCOUNTS[1]
COUNCIL_TOKEN = COUNCIL["credentials"]["access_token"]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x08\x08\x06\x00\x00\x00" + b"\x00" * 16


def recorded(cassette: str, method: str, path: str, index: int = 0) -> tuple[int, dict, object]:
    """(status, headers, JSON body) of the index-th recorded answer to `method path` in a cassette."""
    file = CASSETTES / cassette
    assert file.is_file(), f"Cassette {file} is missing: shared/platform-fixtures must sit beside the checkout."
    interactions = yaml.safe_load(file.read_text(encoding="utf-8"))["interactions"]
    matches = [
        i
        for i in interactions
        if i["request"]["method"] == method and urlsplit(i["request"]["uri"]).path.rstrip("/") == path.rstrip("/")
    ]
    response = matches[index]["response"]
    headers = {k.lower(): v[0] for k, v in response["headers"].items()}
    return response["status"]["code"], headers, json.loads(response["body"]["string"])


def assert_same_shape(actual, expected, where: str = "body", ignore: frozenset = frozenset()) -> None:
    """The same keys at every level where both sides have an object (values may differ). `ignore`: keys that
    depend on who is looking (a status shows `pinned` only to its author)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        mine, theirs = set(actual) - ignore, set(expected) - ignore
        assert mine == theirs, f"{where}: missing {sorted(theirs - mine)}, extra {sorted(mine - theirs)}"
        for key in theirs:
            assert_same_shape(actual[key], expected[key], f"{where}.{key}", ignore)
    elif isinstance(expected, list) and isinstance(actual, list) and expected and actual:
        assert_same_shape(actual[0], expected[0], f"{where}[0]", ignore)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(sim):
    base = f"{sim.url}/mastodon"

    class Api:
        url = base

        def get(self, path, token=COUNCIL_TOKEN, **kwargs):
            return requests.get(base + path, headers=auth(token) if token else {}, timeout=5, **kwargs)

        def post(self, path, token=COUNCIL_TOKEN, headers=None, **kwargs):
            return requests.post(
                base + path, headers={**(auth(token) if token else {}), **(headers or {})}, timeout=5, **kwargs
            )

        def delete(self, path, token=COUNCIL_TOKEN):
            return requests.delete(base + path, headers=auth(token), timeout=5)

    return Api()


@pytest.fixture
def citizen(sim) -> Mastodon:
    return Mastodon(access_token=CITIZEN_TOKEN, api_base_url=f"{sim.url}/mastodon", ratelimit_method="throw")


# ============================================================================== shapes like the cassettes
def test_verify_credentials_answers_the_recorded_credential_account_shape(api):
    _, _, expected = recorded("test_verify_credentials.yaml", "GET", "/api/v1/accounts/verify_credentials")
    response = api.get("/api/v1/accounts/verify_credentials")
    assert response.status_code == 200
    assert_same_shape(response.json(), expected)
    assert response.json()["id"] == COUNCIL["account_id"] and response.json()["acct"] == "democouncil"


def test_public_account_has_the_recorded_account_shape_and_counts(api):
    _, _, expected = recorded("test_conversations.yaml", "GET", "/api/v1/conversations")
    body = api.get(f"/api/v1/accounts/{COUNCIL['account_id']}", token="").json()
    assert_same_shape(body, expected[0]["accounts"][0])
    assert body["followers_count"] > 0 and body["statuses_count"] == 2


def test_posting_deleting_and_reading_a_status_answer_like_the_recorded_toot(api):
    _, _, posted = recorded("test_toot.yaml", "POST", "/api/v1/statuses")
    _, _, deleted = recorded("test_toot.yaml", "DELETE", "/api/v1/statuses/117020585846976096")
    response = api.post("/api/v1/statuses", data={"status": "Toot!"})
    assert response.status_code == 200
    assert_same_shape(response.json(), posted)
    status_id = response.json()["id"]

    _, _, shown = recorded("test_status.yaml", "GET", "/api/v1/statuses/117020583223442465")
    assert_same_shape(api.get(f"/api/v1/statuses/{status_id}").json(), shown)

    gone = api.delete(f"/api/v1/statuses/{status_id}")
    # The deleted status comes back with its source `text` (for "delete and redraft") instead of `content`.
    assert_same_shape(gone.json(), deleted)
    assert gone.json()["text"] == "Toot!" and "content" not in gone.json()
    assert api.get(f"/api/v1/statuses/{status_id}").status_code == 404


def test_mention_notification_has_the_recorded_shape_and_html_content(api, citizen):
    _, headers, expected = recorded("test_notifications_mentions_only.yaml", "GET", "/api/v1/notifications")
    citizen.status_post("@democouncil hello! See https://democouncil.example/bins #Bins")
    response = api.get("/api/v1/notifications", params={"types[]": "mention"})
    assert_same_shape(response.json(), expected)
    status = response.json()[0]["status"]
    assert status["account"]["acct"] == "citizen"
    assert '<span class="h-card" translate="no"><a href="' in status["content"]
    assert 'class="u-url mention">@<span>democouncil</span></a></span> hello!' in status["content"]
    assert '<a href="https://democouncil.example/bins" target="_blank" rel="nofollow noopener"' in status["content"]
    assert status["mentions"][0]["acct"] == "democouncil" and status["tags"] == [
        {"name": "bins", "url": f"{api.url}/tags/bins"}
    ]
    assert re.fullmatch(r'<[^>]+max_id=\d+[^>]*>; rel="next", <[^>]+min_id=\d+[^>]*>; rel="prev"', headers["link"])
    assert re.fullmatch(
        r'<[^>]+max_id=\d+[^>]*>; rel="next", <[^>]+min_id=\d+[^>]*>; rel="prev"', response.headers["Link"]
    )


def test_reply_carries_in_reply_to_and_counts_on_the_parent(api, citizen):
    _, _, expected = recorded("test_status_reply.yaml", "POST", "/api/v1/statuses", index=1)
    post = api.post("/api/v1/statuses", data={"status": "Bins go out on Tuesday"}).json()
    reply = citizen.status_post("@democouncil which bins?", in_reply_to_id=post["id"])
    body = api.get(f"/api/v1/statuses/{reply['id']}").json()
    assert_same_shape(body, expected, ignore=frozenset({"pinned"}))
    assert body["in_reply_to_id"] == post["id"] and body["in_reply_to_account_id"] == COUNCIL["account_id"]
    assert api.get(f"/api/v1/statuses/{post['id']}").json()["replies_count"] == 1


def test_context_lists_ancestors_and_descendants_like_the_recorded_thread(api, citizen):
    _, _, expected = recorded("test_status_context.yaml", "GET", "/api/v1/statuses/117020585487094447/context")
    root = api.post("/api/v1/statuses", data={"status": "Root"}).json()
    lone = api.get(f"/api/v1/statuses/{root['id']}/context").json()
    assert lone == expected == {"ancestors": [], "descendants": []}
    middle = citizen.status_post("@democouncil middle", in_reply_to_id=root["id"])
    leaf = api.post("/api/v1/statuses", data={"status": "@citizen leaf", "in_reply_to_id": middle["id"]}).json()
    context = api.get(f"/api/v1/statuses/{leaf['id']}/context").json()
    assert [s["id"] for s in context["ancestors"]] == [root["id"], str(middle["id"])]
    assert [s["id"] for s in api.get(f"/api/v1/statuses/{root['id']}/context").json()["descendants"]] == [
        str(middle["id"]),
        leaf["id"],
    ]


def test_direct_message_shows_as_a_conversation_like_the_recorded_one(api, citizen):
    _, headers, expected = recorded("test_conversations.yaml", "GET", "/api/v1/conversations")
    dm = citizen.status_post("@democouncil my bin was not collected", visibility="direct")
    response = api.get("/api/v1/conversations")
    assert_same_shape(response.json(), expected)
    conversation = response.json()[0]
    assert conversation["last_status"]["id"] == str(dm["id"]) and conversation["unread"] is True
    assert [a["acct"] for a in conversation["accounts"]] == ["citizen"]
    # Fewer than a page: only rel="prev", paged by the last status id, as recorded.
    assert headers["link"].endswith('>; rel="prev"') and 'rel="next"' not in headers["link"]
    assert response.headers["Link"] == f'<{api.url}/api/v1/conversations?min_id={dm["id"]}>; rel="prev"'
    # A direct status is private to its participants.
    assert api.get(f"/api/v1/statuses/{dm['id']}", token=POLICE["credentials"]["access_token"]).status_code == 404
    assert api.post(f"/api/v1/conversations/{conversation['id']}/read").json()["unread"] is False


def test_favourite_and_reblog_answer_like_the_recorded_ones(api, citizen):
    _, _, favourited = recorded("test_status_fav_unfav.yaml", "POST", "/api/v1/statuses/117020586054490060/favourite")
    _, _, reblogged = recorded("test_status_reblog_unreblog.yaml", "POST", "/api/v1/statuses/117020586019094258/reblog")
    post = api.post("/api/v1/statuses", data={"status": "Library reopens Monday"}).json()
    fav = api.post(f"/api/v1/statuses/{post['id']}/favourite", token=CITIZEN_TOKEN).json()
    boost = api.post(f"/api/v1/statuses/{post['id']}/reblog", token=CITIZEN_TOKEN).json()
    # The recording reblogged its own post, so it saw `pinned`; the citizen does not.
    assert_same_shape(fav, favourited, ignore=frozenset({"pinned"}))
    assert_same_shape(boost, reblogged, ignore=frozenset({"pinned"}))
    assert fav["favourited"] is True and boost["reblog"]["id"] == post["id"] and boost["content"] == ""
    counts = api.get(f"/api/v1/statuses/{post['id']}").json()
    assert (counts["favourites_count"], counts["reblogs_count"]) == (1, 1)
    kinds = [n["type"] for n in api.get("/api/v1/notifications").json()]
    assert kinds == ["reblog", "favourite"]


def test_instance_answers_the_recorded_v1_and_v2_shapes_with_the_status_limits(api):
    _, _, v2 = recorded("test_instance.yaml", "GET", "/api/v2/instance")
    _, _, v1 = recorded("test_stream_direct.yaml", "GET", "/api/v1/instance")
    body2 = api.get("/api/v2/instance", token="").json()
    body1 = api.get("/api/v1/instance", token="").json()
    assert_same_shape(body2, v2)
    assert_same_shape(body1, v1)
    for body in (body1, body2):
        assert body["configuration"]["statuses"] == {
            "max_characters": 500,
            "max_media_attachments": 4,
            "characters_reserved_per_url": 23,
        }
    assert body2["domain"] == urlsplit(api.url).netloc


def test_recorded_errors_have_the_same_status_and_body(api):
    code, headers, body = recorded("test_status_missing.yaml", "GET", "/api/v1/statuses/0")
    missing = api.get("/api/v1/statuses/0")
    assert (missing.status_code, missing.json()) == (code, body) == (404, {"error": "Not Found"})

    code, headers, body = recorded("test_home_tl_anonymous_throws.yaml", "GET", "/api/v1/timelines/home")
    anonymous = api.get("/api/v1/accounts/verify_credentials", token="")
    assert (anonymous.status_code, anonymous.json()) == (code, body) == (401, {"error": "The access token is invalid"})
    assert anonymous.headers["WWW-Authenticate"] == headers["www-authenticate"]
    assert api.get("/api/v1/accounts/verify_credentials", token="not-a-token").status_code == 401

    code, _, body = recorded("test_status_empty.yaml", "POST", "/api/v1/statuses")
    empty = api.post("/api/v1/statuses", data={"status": ""})
    assert empty.status_code == code == 422 and set(empty.json()) == set(body) == {"error"}
    assert empty.json()["error"].startswith("Validation failed: ")


def test_status_longer_than_500_is_refused_counting_each_url_as_23(api):
    url = "https://democouncil.example/" + "a" * 200
    assert api.post("/api/v1/statuses", data={"status": "x" * 476 + " " + url}).status_code == 200
    too_long = api.post("/api/v1/statuses", data={"status": "x" * 501})
    assert too_long.status_code == 422
    assert too_long.json() == {"error": "Validation failed: Text character limit of 500 exceeded"}


# ============================================================================================= media
def test_media_upload_gives_an_attachment_with_its_description_and_serves_the_file(api):
    response = api.post(
        "/api/v2/media", files={"file": ("bins.png", PNG, "image/png")}, data={"description": "A green bin"}
    )
    assert response.status_code == 200
    media = response.json()
    assert set(media) >= {"id", "type", "url", "preview_url", "description", "meta", "blurhash"}
    assert media["type"] == "image" and media["description"] == "A green bin"
    assert media["meta"]["original"]["width"] == 16 and media["meta"]["original"]["height"] == 8
    served = requests.get(media["url"], timeout=5)
    assert served.content == PNG and served.headers["Content-Type"] == "image/png"
    status = api.post("/api/v1/statuses", data={"status": "New bins", "media_ids[]": [media["id"]]}).json()
    assert [m["id"] for m in status["media_attachments"]] == [media["id"]]
    # An attachment belongs to one status.
    assert api.post("/api/v1/statuses", data={"status": "Again", "media_ids[]": [media["id"]]}).status_code == 422


def test_media_upload_refuses_what_is_not_an_image(api):
    response = api.post("/api/v2/media", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert response.status_code == 422 and response.json()["error"].startswith("Validation failed: File content type")


# ======================================================================================== pagination
def test_link_header_pages_notifications_with_max_id_min_id_and_since_id(api, citizen):
    ids = [str(citizen.status_post(f"@democouncil question {n}")["id"]) for n in range(5)]
    first = api.get("/api/v1/notifications", params={"limit": 2})
    assert [n["status"]["id"] for n in first.json()] == ids[4:2:-1]
    links = requests.utils.parse_header_links(first.headers["Link"])
    by_rel = {link["rel"]: link["url"] for link in links}
    older = requests.get(by_rel["next"], headers=auth(COUNCIL_TOKEN), timeout=5).json()
    assert [n["status"]["id"] for n in older] == ids[2:0:-1]
    assert requests.get(by_rel["prev"], headers=auth(COUNCIL_TOKEN), timeout=5).json() == []
    assert "limit=2" in by_rel["next"] and parse_qs(urlsplit(by_rel["next"]).query)["max_id"] == [
        first.json()[-1]["id"]
    ]

    oldest_id = older[-1]["id"]
    # min_id: the page just above the cursor (oldest first window), newest first; since_id: the newest page.
    above = api.get("/api/v1/notifications", params={"min_id": oldest_id, "limit": 2}).json()
    assert [n["status"]["id"] for n in above] == [ids[3], ids[2]]
    newest = api.get("/api/v1/notifications", params={"since_id": oldest_id, "limit": 2}).json()
    assert [n["status"]["id"] for n in newest] == [ids[4], ids[3]]
    assert api.get("/api/v1/notifications", params={"since_id": first.json()[0]["id"]}).json() == []


def test_notifications_filter_by_type(api, citizen):
    status = citizen.status_post("@democouncil hello")
    citizen.status_favourite(api.post("/api/v1/statuses", data={"status": "Mine"}).json()["id"])
    assert [n["type"] for n in api.get("/api/v1/notifications", params={"types[]": "mention"}).json()] == ["mention"]
    assert [n["type"] for n in api.get("/api/v1/notifications", params={"exclude_types[]": "mention"}).json()] == [
        "favourite"
    ]
    assert api.get("/api/v1/notifications", params={"types[]": "mention"}).json()[0]["status"]["id"] == str(
        status["id"]
    )


# ========================================================================================= rate limits
def start_of_window(sim) -> None:
    """Move the simulator's clock to just after a five-minute boundary, so a burst of calls counts in one window."""
    sim.advance_clock(300 - time.time() % 300 + 1)


def test_rate_limit_headers_count_down_per_token_with_an_iso_reset(sim, api):
    start_of_window(sim)
    first = api.get("/api/v1/accounts/verify_credentials")
    second = api.get("/api/v1/accounts/verify_credentials")
    other = api.get("/api/v1/accounts/verify_credentials", token=CITIZEN_TOKEN)
    assert first.headers["X-RateLimit-Limit"] == "300"
    assert (first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]) == ("299", "298")
    assert other.headers["X-RateLimit-Remaining"] == "299"
    _, recorded_headers, _ = recorded("test_verify_credentials.yaml", "GET", "/api/v1/accounts/verify_credentials")
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(pattern, recorded_headers["x-ratelimit-reset"])
    assert re.fullmatch(pattern, first.headers["X-RateLimit-Reset"])
    reset = reset_from_iso(first.headers["X-RateLimit-Reset"])
    # The general window is five minutes, aligned like the recorded 13:50:00 / 13:55:00.
    assert reset.minute % 5 == 0 and reset.second == 0
    assert timedelta(minutes=4) < reset - datetime.now(UTC) <= timedelta(minutes=10)


def test_posting_and_deleting_have_their_own_windows_like_the_recording(api):
    post = api.post("/api/v1/statuses", data={"status": "Counted"})
    # As recorded: posting counts 300 per three hours, deleting 30 per half hour.
    assert post.headers["X-RateLimit-Limit"] == "300" and post.headers["X-RateLimit-Remaining"] == "299"
    assert reset_from_iso(post.headers["X-RateLimit-Reset"]).hour % 3 == 0
    gone = api.delete(f"/api/v1/statuses/{post.json()['id']}")
    assert (gone.headers["X-RateLimit-Limit"], gone.headers["X-RateLimit-Remaining"]) == ("30", "29")
    assert reset_from_iso(gone.headers["X-RateLimit-Reset"]).minute in (0, 30)


def test_used_up_window_answers_429_until_it_resets(sim, api):
    start_of_window(sim)
    session = requests.Session()
    session.headers.update(auth(COUNCIL_TOKEN))
    for _ in range(300):
        last = session.get(f"{api.url}/api/v1/accounts/verify_credentials", timeout=5)
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    refused = session.get(f"{api.url}/api/v1/accounts/verify_credentials", timeout=5)
    assert refused.status_code == 429 and refused.json() == {"error": "Too many requests"}
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == last.headers["X-RateLimit-Reset"]
    # Other tokens have their own window.
    assert api.get("/api/v1/accounts/verify_credentials", token=CITIZEN_TOKEN).status_code == 200
    sim.advance_clock(300)
    assert session.get(f"{api.url}/api/v1/accounts/verify_credentials", timeout=5).status_code == 200


# ================================================================================== Idempotency-Key
def test_idempotency_key_returns_the_same_status_within_an_hour(sim, api):
    key = {"Idempotency-Key": "publish-42"}
    first = api.post("/api/v1/statuses", data={"status": "Once only"}, headers=key).json()
    again = api.post("/api/v1/statuses", data={"status": "Once only"}, headers=key).json()
    assert again["id"] == first["id"]
    assert sum(s["text"] == "Once only" for s in sim.state()["mastodon"]["statuses"].values()) == 1
    # The key belongs to the account: another account's key of the same name is its own.
    other = api.post("/api/v1/statuses", data={"status": "Once only"}, headers=key, token=CITIZEN_TOKEN).json()
    assert other["id"] != first["id"]
    sim.advance_clock(3601)
    later = api.post("/api/v1/statuses", data={"status": "Once only"}, headers=key).json()
    assert later["id"] != first["id"]


# ============================================================================================= faults
def test_faults_answer_as_mastodon_does(sim, api):
    sim.fault("mastodon", "rate_limit", path="/api/v1/statuses", reset_in=120)
    limited = api.post("/api/v1/statuses", data={"status": "hello"})
    assert limited.status_code == 429 and limited.json() == {"error": "Too many requests"}
    reset = reset_from_iso(limited.headers["X-RateLimit-Reset"])
    assert timedelta(seconds=100) < reset - datetime.now(UTC) <= timedelta(seconds=121)

    sim.fault("mastodon", "expired_token")
    expired = api.get("/api/v1/accounts/verify_credentials")
    assert expired.status_code == 401 and expired.json() == {"error": "The access token is invalid"}

    sim.fault("mastodon", "duplicate", method="POST")
    duplicate = api.post("/api/v1/statuses", data={"status": "hello"})
    assert duplicate.status_code == 422 and "duplicate" in duplicate.json()["error"]

    sim.fault("mastodon", "server_error")
    assert api.get("/api/v1/accounts/verify_credentials").status_code == 503
    assert api.get("/api/v1/accounts/verify_credentials").status_code == 200


# ============================================================================================== OAuth
def test_oauth_app_authorize_page_token_and_revoke_run_end_to_end(api):
    redirect_uri = "http://testserver/channels/connect/mastodon/callback"
    registered = api.post(
        "/api/v1/apps",
        token="",
        data={"client_name": "Civic Desk", "redirect_uris": redirect_uri, "scopes": "read write", "website": ""},
    )
    assert registered.status_code == 200
    app = registered.json()
    _, _, verified_app = recorded("test_app_verify_credentials.yaml", "GET", "/api/v1/apps/verify_credentials")
    assert set(app) == set(verified_app) | {"client_id", "client_secret", "client_secret_expires_at"}
    assert app["redirect_uris"] == [redirect_uri] and app["scopes"] == ["read", "write"]

    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": redirect_uri,
        "scope": "read write",
        "state": "s-123",
    }
    page = api.get("/oauth/authorize", token="", params=query)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="en-GB">' in page.text and "<h1>Authorize Civic Desk</h1>" in page.text
    assert 'aria-label="Authorize as Demo Council (@democouncil)">Authorize</button>' in page.text
    assert 'aria-label="Authorize as Demo Police (@demopolice)">Authorize</button>' in page.text

    approved = api.post(
        "/oauth/authorize",
        token="",
        data={**query, "account_id": POLICE["account_id"], "decision": "approve"},
        allow_redirects=False,
    )
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    returned = parse_qs(location.query)
    assert returned["state"] == ["s-123"]

    exchange = {
        "grant_type": "authorization_code",
        "code": returned["code"][0],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": redirect_uri,
    }
    token = api.post("/oauth/token", token="", data=exchange).json()
    assert set(token) == {"access_token", "token_type", "scope", "created_at"} and token["token_type"] == "Bearer"
    assert api.get("/api/v1/accounts/verify_credentials", token=token["access_token"]).json()["acct"] == "demopolice"
    # A code works once.
    reused = api.post("/oauth/token", token="", data=exchange)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    revoke = {"token": token["access_token"], "client_id": app["client_id"], "client_secret": app["client_secret"]}
    assert api.post("/oauth/revoke", token="", data=revoke).json() == {}
    assert api.get("/api/v1/accounts/verify_credentials", token=token["access_token"]).status_code == 401


def test_oauth_refuses_wrong_redirect_uri_wrong_secret_and_records_a_denial(api):
    app = api.post("/api/v1/apps", token="", data={"client_name": "X", "redirect_uris": "https://a.example/cb"}).json()
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": "https://evil.example/cb"}
    assert api.get("/oauth/authorize", token="", params=query).status_code == 400
    assert api.get("/oauth/authorize", token="", params={**query, "client_id": "nobody"}).status_code == 401
    denied = api.post(
        "/oauth/authorize",
        token="",
        data={**query, "redirect_uri": "https://a.example/cb", "state": "s", "decision": "deny"},
        allow_redirects=False,
    )
    assert denied.headers["Location"] == "https://a.example/cb?error=access_denied&state=s"
    wrong = api.post(
        "/oauth/token",
        token="",
        data={"grant_type": "authorization_code", "code": "x", "client_id": app["client_id"], "client_secret": "no"},
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    bad_app = api.post("/api/v1/apps", token="", data={"client_name": "Y", "redirect_uris": "not a uri"})
    assert bad_app.status_code == 422


def test_oauth_server_metadata_names_the_endpoints(api):
    metadata = api.get("/.well-known/oauth-authorization-server", token="").json()
    assert metadata["authorization_endpoint"] == f"{api.url}/oauth/authorize"
    assert metadata["token_endpoint"] == f"{api.url}/oauth/token"
    assert metadata["revocation_endpoint"] == f"{api.url}/oauth/revoke"
    assert "authorization_code" in metadata["grant_types_supported"]


# ======================================================================================== public page
def test_public_page_writes_mentions_comments_and_dms_as_the_citizen(sim, api):
    def act(**form):
        page = requests.post(
            f"{sim.url}/", data={"platform": "mastodon", "author": "110000000000000101", **form}, timeout=5
        )
        assert page.status_code == 200
        return page.text

    target = COUNCIL["account_id"]
    assert "Sent (mention" in act(action="mention", target=target, text="Is the tip open today?")
    assert "Sent (comment" in act(action="comment", target=target, text="Which streets?")
    assert "Sent (dm" in act(action="dm", target=target, text="My bin was missed")
    assert "Sent (dm" in act(action="dm", target=target, text="Still missed")

    notifications = api.get("/api/v1/notifications", params={"types[]": "mention"}).json()
    public = [n["status"] for n in notifications if n["status"]["visibility"] == "public"]
    assert [s["in_reply_to_id"] is not None for s in public] == [True, False], "a comment, then a mention"
    assert all(s["content"].startswith('<p><span class="h-card"') for s in public)
    conversations = api.get("/api/v1/conversations").json()
    assert len(conversations) == 1, "the second DM carries on the same conversation"

    post_id = api.post("/api/v1/statuses", data={"status": "We reply here"}).json()["id"]
    assert "Done (like)" in act(action="like", target=target, post=post_id)
    assert "Done (repost)" in act(action="repost", target=target, post=post_id)
    status = api.get(f"/api/v1/statuses/{post_id}").json()
    assert (status["favourites_count"], status["reblogs_count"]) == (1, 1)
    assert "We reply here" in requests.get(f"{sim.url}/", timeout=5).text
