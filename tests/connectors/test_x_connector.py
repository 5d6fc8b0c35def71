"""The X connector: parsing against the recorded X bodies in shared/platform-fixtures/x, then every operation,
error class and the OAuth helpers over HTTP against the simulator (the `sim` fixture)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from channels_app.connectors import base_url_for, connector_class
from channels_app.connectors.base import (
    AuthExpired,
    DuplicatePost,
    MediaItem,
    PermanentError,
    RateLimited,
    TransientError,
)
from channels_app.connectors.x import (
    XConnector,
    authorize_url,
    endpoint_key,
    error_from_response,
    exchange_code,
    new_pkce,
    parse_account_stats,
    parse_dm_events,
    parse_mentions,
    parse_metrics,
    parse_user,
    refresh,
    revoke,
)
from simulator.platforms.x import CITIZEN_ID, COUNCIL_ID, DEMO_ACCOUNTS, POLICE_ID

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platform-fixtures" / "x"
CASSETTES = FIXTURES / "tweepy__tweepy" / "cassettes"
PYTHON_TWITTER = FIXTURES / "sns-sdks__python-twitter" / "testdata"
XDK = FIXTURES / "xdevplatform__xdk"
COUNCIL = DEMO_ACCOUNTS[0]
CITIZEN = {"Authorization": "Bearer sim-citizen-token"}
REDIRECT_URI = "http://testserver/channels/x/callback"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


# ------------------------------------------------------------------------------------- recorded bodies
def interaction(name: str, index: int = 0) -> dict:
    path = CASSETTES / name
    assert path.is_file(), f"Cassette {path} is missing: shared/platform-fixtures must sit beside the checkout."
    response = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"][index]["response"]
    raw = response["body"]["string"]
    if isinstance(raw, bytes):
        raw = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    response["json"] = json.loads(raw)
    response["headers"] = {k.lower(): v[0] for k, v in response["headers"].items()}
    return response


def body_file(relative: str) -> dict:
    path = PYTHON_TWITTER / relative
    assert path.is_file(), f"Recorded body {path} is missing."
    return json.loads(path.read_text(encoding="utf-8"))


def schema(document: str, name: str) -> dict:
    return json.loads((XDK / document).read_text(encoding="utf-8"))["components"]["schemas"][name]


def http_response(status: int, body: dict, headers: dict | None = None) -> requests.Response:
    """A requests.Response carrying a recorded (or documented) X answer."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update({"content-type": "application/json", **(headers or {})})
    return response


# ------------------------------------------------------------------------------ parsing recorded bodies
def test_recorded_mention_timelines_parse_into_mentions_timed_by_their_snowflake_ids():
    for name in ("test_client_get_users_mentions.yaml", "test_asyncclient_get_users_mentions.yaml"):
        recorded = interaction(name)
        items = parse_mentions(recorded["json"], account_id="783214")
        assert [i.platform_id for i in items] == [t["id"] for t in recorded["json"]["data"]]
        assert {i.kind for i in items} == {"mention"}
        # Default fields carry no created_at: the time inside the id, just before the recording.
        recorded_at = parsedate_to_datetime(recorded["headers"]["date"].replace("UTC", "GMT"))
        for item in items:
            assert timedelta(0) <= recorded_at - item.created_at < timedelta(minutes=30)
            assert item.conversation_key == item.platform_id
            assert item.url == f"https://x.com/i/web/status/{item.platform_id}"
        assert items[0].text == recorded["json"]["data"][0]["text"]


def test_recorded_mentions_with_created_at_and_metrics_parse():
    body = body_file("apis/timeline/timeline_mentions.json")
    items = parse_mentions(body)
    assert len(items) == 5
    assert items[0].created_at == datetime(2021, 2, 24, 2, 13, 43, tzinfo=UTC)
    assert parse_metrics(body["data"][2]["public_metrics"]).replies == 1


def test_recorded_replies_keep_their_thread_and_authors_from_includes():
    body = body_file("apis/searches/search_tweets_query.json")
    items = parse_mentions(body)
    first = items[0]
    assert first.kind == "reply"
    assert first.in_reply_to_id == "1275653067283759104"
    assert first.author_id == "63046977"
    assert first.author_handle == next(u["username"] for u in body["includes"]["users"] if u["id"] == "63046977")
    assert first.url == f"https://x.com/{first.author_handle}/status/{first.platform_id}"
    assert first.raw["lang"] == "en"

    lookup = parse_mentions(body_file("apis/tweet/tweets_resp.json"))
    assert [(i.author_handle, i.author_name) for i in lookup] == [("TwitterDev", "Twitter Dev"), ("Twitter", "Twitter")]


def test_own_tweets_in_a_recorded_timeline_are_not_inbound():
    body = body_file("apis/tweet/tweets_resp.json")
    assert [i.author_id for i in parse_mentions(body, account_id="783214")] == ["2244994945"]


def test_recorded_dm_events_parse_into_direct_messages():
    body = body_file("apis/dm_events/events.json")
    (item,) = parse_dm_events(body, account_id="1")
    assert item.kind == "dm"
    assert item.conversation_key == "1585094756761149440"
    assert item.author_id == "906948460078698496"
    assert item.created_at == datetime(2022, 10, 26, 17, 24, 21, tzinfo=UTC)
    assert item.text == "Another photo https://t.co/J5KotyeIyd"
    # A message we sent ourselves is not inbound.
    assert parse_dm_events(body, account_id="906948460078698496") == []


def test_recorded_default_field_dm_listing_and_empty_listing_parse():
    listing = interaction("test_manage_and_lookup_direct_messages.yaml", 4)["json"]
    items = parse_dm_events(listing)
    assert [i.text for i in items] == ["Testing 2", "Testing 1"]
    assert items[0].created_at.year == 2022
    assert parse_dm_events(interaction("test_manage_and_lookup_direct_messages.yaml", 3)["json"]) == []


@pytest.mark.parametrize(("document", "name"), [("latest-openapi.json", "Tweet"), ("specs/openapi.json", "PostPublicMetrics")])
def test_metrics_accept_both_retweet_and_repost_spellings(document, name):
    definition = schema(document, name)
    metrics_schema = definition["properties"].get("public_metrics", definition)
    body = {field: position + 1 for position, field in enumerate(sorted(metrics_schema["properties"]))}
    metrics = parse_metrics(body)
    assert metrics.reposts == body.get("retweet_count", body.get("repost_count"))
    assert (metrics.likes, metrics.replies, metrics.impressions) == (body["like_count"], body["reply_count"], body["impression_count"])


def test_recorded_user_and_both_user_metric_spellings_parse():
    me = parse_user(interaction("test_client_get_me.yaml")["json"]["data"])
    assert (me.account_id, me.handle, me.display_name) == ("1072250532645998596", "TweepyDev", "Tweepy Testing")
    for document, name in (("latest-openapi.json", "User"), ("specs/openapi.json", "UserPublicMetrics")):
        definition = schema(document, name)
        fields = definition["properties"].get("public_metrics", definition)["properties"]
        metrics = {field: 10 + n for n, field in enumerate(sorted(fields))}
        stats = parse_account_stats({"public_metrics": metrics})
        assert (stats.followers, stats.following) == (metrics["followers_count"], metrics["following_count"])
        assert stats.posts == metrics.get("tweet_count", metrics.get("post_count"))


def test_recorded_invalid_request_error_is_permanent_and_says_why():
    error = error_from_response(http_response(400, body_file("streams/delete_error.json")))
    assert type(error) is PermanentError and error.status == 400
    assert "JSON doesn't match expected schema" in error.message


def test_rate_limit_endpoints_are_keyed_like_xs_windows():
    assert endpoint_key("get", "/2/users/1496010482915196929/mentions") == "GET /2/users/:id/mentions"
    assert endpoint_key("POST", "/2/dm_conversations/1-2/messages") == "POST /2/dm_conversations/:id/messages"


# ------------------------------------------------------------------------------------ over HTTP: reads
@pytest.fixture
def connector(sim, settings):
    return XConnector(base_url=settings.X_API_URL, credentials=dict(COUNCIL["credentials"]), account_id=COUNCIL_ID, timeout=5)


def citizen_post(sim, text: str, **extra) -> str:
    response = requests.post(f"{sim.url}/x/2/tweets", json={"text": text, **extra}, headers=CITIZEN, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def citizen_dm(sim, text: str, to: str = COUNCIL_ID) -> str:
    response = requests.post(f"{sim.url}/x/2/dm_conversations/with/{to}/messages", json={"text": text}, headers=CITIZEN, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["data"]["dm_event_id"]


def test_connector_is_chosen_by_platform_and_configured_base_url(sim, settings):
    assert connector_class("x") is XConnector
    assert base_url_for("x") == settings.X_API_URL == f"{sim.url}/x"


def test_whoami_names_the_connected_account(connector):
    account = connector.whoami()
    assert (account.account_id, account.handle, account.display_name) == (COUNCIL_ID, "democouncil", "Demo Council")
    assert account.avatar_url.endswith(f"/x/img/avatar/{COUNCIL_ID}")


def test_citizen_mentions_and_dms_arrive_and_the_cursor_moves_past_them(sim, connector):
    first = connector.fetch_inbound({})
    seeded = {(i.kind, i.text) for i in first.items}
    assert ("reply", "@democouncil Will the brown bins be collected on the bank holiday?") in seeded
    assert ("dm", "Hello, who do I ask about a missed bin collection at 4 Elm Road?") in seeded
    assert set(first.cursor) == {"mentions", "dms"}

    mention = citizen_post(sim, "@democouncil the streetlights on Elm Road are out")
    dm = citizen_dm(sim, "My bin was missed again")
    second = connector.fetch_inbound(first.cursor)
    assert [(i.platform_id, i.kind) for i in second.items] == [(mention, "mention"), (dm, "dm")]
    item = second.items[0]
    assert (item.author_id, item.author_handle, item.author_name) == (CITIZEN_ID, "citizen", "Casey Citizen")
    assert item.conversation_key == mention and item.url == f"https://x.com/citizen/status/{mention}"
    assert second.items[1].conversation_key == f"{COUNCIL_ID}-{CITIZEN_ID}"
    assert second.cursor == {"mentions": mention, "dms": dm}

    third = connector.fetch_inbound(second.cursor)
    assert third.items == [] and third.cursor == second.cursor


def test_a_long_backlog_is_read_across_pages_without_gaps(sim, connector):
    cursor = connector.fetch_inbound({}).cursor
    made = [citizen_post(sim, f"@democouncil fly-tipping report {n}") for n in range(130)]
    batch = connector.fetch_inbound(cursor)
    assert sorted(i.platform_id for i in batch.items if i.kind == "mention") == sorted(made)
    assert batch.cursor["mentions"] == made[-1]


def test_our_own_dm_replies_move_the_cursor_but_are_not_inbound(sim, connector):
    cursor = connector.fetch_inbound({}).cursor
    connector.send_dm(conversation_key=f"{COUNCIL_ID}-{CITIZEN_ID}", recipient_id="", text="Please send us your address.")
    batch = connector.fetch_inbound(cursor)
    assert batch.items == [] and batch.cursor["dms"] != cursor["dms"]


def test_post_metrics_and_account_stats_come_from_public_metrics(sim, connector):
    post = connector.publish(text="Polling stations open 7am to 10pm.")
    for endpoint in ("likes", "retweets"):
        requests.post(f"{sim.url}/x/2/users/{CITIZEN_ID}/{endpoint}", json={"tweet_id": post.platform_id}, headers=CITIZEN, timeout=5)
    citizen_post(sim, "Where is mine?", reply={"in_reply_to_tweet_id": post.platform_id})
    metrics = connector.post_metrics(post.platform_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.quotes) == (1, 1, 1, 0)
    assert metrics.impressions is not None and metrics.impressions > 0

    stats = connector.account_stats()
    user = sim.state()["x"]["users"][COUNCIL_ID]
    assert stats.followers == user["followers"] + len(user["follower_ids"])
    assert stats.following == user["following"] and stats.posts > user["tweets"]


# ----------------------------------------------------------------------------------- over HTTP: writes
def test_reply_publish_and_delete_are_visible_in_the_simulator(sim, connector):
    mention = citizen_post(sim, "@democouncil is the tip open today?")
    reply = connector.reply(in_reply_to=mention, text="Yes, until 4pm.")
    tweets = sim.state()["x"]["tweets"]
    assert tweets[reply.platform_id]["text"] == "@citizen Yes, until 4pm."
    assert tweets[reply.platform_id]["referenced_tweets"] == [{"type": "replied_to", "id": mention}]
    assert reply.url == f"https://x.com/democouncil/status/{reply.platform_id}"

    post = connector.publish(text="Road works on the A1 this weekend.", link="https://council.example/roadworks")
    assert sim.state()["x"]["tweets"][post.platform_id]["text"] == "Road works on the A1 this weekend.\n\nhttps://council.example/roadworks"
    connector.delete(post.platform_id)
    assert post.platform_id not in sim.state()["x"]["tweets"]
    # Deleting again is not an error: the post is gone either way.
    connector.delete(post.platform_id)


def test_publish_with_images_uploads_them_with_alt_text(sim, connector):
    media = [MediaItem(content=PNG, mime_type="image/png", alt_text="Map of the diversion"),
             MediaItem(content=PNG, mime_type="image/png", alt_text="")]
    post = connector.publish(text="Diversion map", media=media)
    state = sim.state()["x"]
    keys = state["tweets"][post.platform_id]["media_keys"]
    assert len(keys) == 2
    by_key = {m["media_key"]: m for m in state["media"].values()}
    assert [by_key[k]["alt_text"] for k in keys] == ["Map of the diversion", ""]

    with pytest.raises(PermanentError):
        connector.publish(text="Too many", media=[media[0]] * 5)
    with pytest.raises(PermanentError):
        connector.publish(text="Not an image", media=[MediaItem(content=b"%PDF", mime_type="application/pdf", alt_text="")])


def test_send_dm_by_conversation_and_by_recipient(sim, connector):
    sent = connector.send_dm(conversation_key=f"{COUNCIL_ID}-{CITIZEN_ID}", recipient_id=CITIZEN_ID, text="We have booked a collection.")
    events = sim.state()["x"]["dm_events"]
    assert events[sent.platform_id]["text"] == "We have booked a collection."
    assert sent.url == f"https://x.com/messages/{COUNCIL_ID}-{CITIZEN_ID}"

    police = XConnector(base_url=connector.base_url, credentials=dict(DEMO_ACCOUNTS[1]["credentials"]), account_id=POLICE_ID)
    first_contact = police.send_dm(conversation_key="", recipient_id=CITIZEN_ID, text="Thanks for your report.")
    assert sim.state()["x"]["dm_events"][first_contact.platform_id]["dm_conversation_id"] == f"{POLICE_ID}-{CITIZEN_ID}"


def test_too_long_text_is_refused_before_calling_x(sim, connector):
    calls = len(sim.calls("x"))
    with pytest.raises(PermanentError) as refused:
        connector.publish(text="a" * 281)
    assert "281" in refused.value.message
    assert len(sim.calls("x")) == calls


# ------------------------------------------------------------------------------------------- errors
def test_rate_limit_fault_raises_rate_limited_with_the_reset_time_and_later_calls_wait(sim, connector):
    sim.fault("x", "rate_limit", path=f"/2/users/{COUNCIL_ID}/mentions", reset_in=300)
    with pytest.raises(RateLimited) as limited:
        connector.fetch_inbound({})
    assert abs(limited.value.reset_at.timestamp() - (time.time() + 300)) <= 2
    calls = len(sim.calls("x", path=f"/2/users/{COUNCIL_ID}/mentions"))
    with pytest.raises(RateLimited) as again:
        connector.fetch_inbound({})
    assert again.value.reset_at == limited.value.reset_at
    assert len(sim.calls("x", path=f"/2/users/{COUNCIL_ID}/mentions")) == calls
    # Other endpoints have their own windows.
    assert connector.whoami().handle == "democouncil"


def test_spent_quota_from_headers_is_respected_without_calling(sim, connector):
    for _ in range(75):
        connector.whoami()
    calls = len(sim.calls("x", path="/2/users/me"))
    with pytest.raises(RateLimited) as limited:
        connector.whoami()
    assert len(sim.calls("x", path="/2/users/me")) == calls
    assert limited.value.reset_at > datetime.now(UTC)


def test_expired_token_fault_raises_auth_expired(sim, connector):
    sim.fault("x", "expired_token")
    with pytest.raises(AuthExpired) as expired:
        connector.whoami()
    assert expired.value.status == 401 and expired.value.permanent


def test_duplicate_posts_raise_duplicate_post(sim, connector):
    sim.fault("x", "duplicate", path="/2/tweets", method="POST")
    with pytest.raises(DuplicatePost):
        connector.publish(text="Bin day reminder")
    connector.publish(text="Bin day changes")
    with pytest.raises(DuplicatePost) as duplicate:
        connector.publish(text="Bin day changes")
    assert duplicate.value.permanent and duplicate.value.status == 403


def test_server_errors_and_unreachable_hosts_raise_transient_error(sim, connector, settings):
    sim.fault("x", "server_error")
    with pytest.raises(TransientError) as server:
        connector.account_stats()
    assert server.value.status == 503 and not server.value.permanent

    with socket_closed_port() as port:
        offline = XConnector(base_url=f"http://127.0.0.1:{port}/x", credentials=dict(COUNCIL["credentials"]), account_id=COUNCIL_ID, timeout=2)
        with pytest.raises(TransientError):
            offline.fetch_inbound({})


def test_slow_answers_time_out_as_transient_errors(sim, settings):
    sim.fault("x", "slow", delay=2)
    slow = XConnector(base_url=settings.X_API_URL, credentials=dict(COUNCIL["credentials"]), account_id=COUNCIL_ID, timeout=0.5)
    with pytest.raises(TransientError) as timed_out:
        slow.whoami()
    assert "0.5 seconds" in timed_out.value.message
    # The simulator still answers the abandoned request; let it finish here rather than inside the next test.
    deadline = time.time() + 5
    while not sim.calls("x", path="/2/users/me") and time.time() < deadline:
        time.sleep(0.1)
    assert sim.calls("x", path="/2/users/me")


def test_unknown_post_metrics_and_refused_requests_are_permanent(sim, connector):
    with pytest.raises(PermanentError) as missing:
        connector.post_metrics("123")
    assert missing.value.status == 404
    with pytest.raises(PermanentError) as refused:
        connector.reply(in_reply_to="123", text="Hello")
    assert refused.value.status == 403 and not isinstance(refused.value, (AuthExpired, DuplicatePost))


def test_token_past_its_expiry_needs_refreshing_before_any_call(sim, settings):
    credentials = {**COUNCIL["credentials"], "expires_at": int(time.time()) - 1}
    stale = XConnector(base_url=settings.X_API_URL, credentials=credentials, account_id=COUNCIL_ID)
    calls = len(sim.calls("x"))
    with pytest.raises(AuthExpired):
        stale.whoami()
    assert len(sim.calls("x")) == calls


def test_error_messages_never_contain_credentials(sim, connector):
    token = COUNCIL["credentials"]["access_token"]
    messages = []
    for kind, action in (("expired_token", connector.whoami), ("rate_limit", connector.account_stats),
                         ("server_error", lambda: connector.post_metrics("1"))):
        sim.fault("x", kind)
        with pytest.raises(Exception) as raised:
            action()
        messages += [raised.value.message, str(raised.value), repr(raised.value)]
    echoed = http_response(400, {"title": "Invalid Request", "detail": f"Bad token {token} here"})
    messages.append(error_from_response(echoed, [token]).message)
    assert messages and not any(token in message for message in messages)
    assert token not in repr(connector)


# -------------------------------------------------------------------------------------------- OAuth
class Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"fields": {}})
        elif tag in ("input", "button") and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")


def authorize_in_page(url: str, account_id: str) -> dict:
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    assert "Authorize app" in page.text
    parser = Forms()
    parser.feed(page.text)
    form = next(f for f in parser.forms if f["fields"].get("account") == account_id)
    answer = requests.post(url.split("?")[0], data=form["fields"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_oauth_helpers_connect_refresh_once_and_revoke_end_to_end(sim, settings):
    verifier, challenge = new_pkce()
    assert 43 <= len(verifier) <= 128 and re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)
    url = authorize_url(state="st4te", code_challenge=challenge, redirect_uri=REDIRECT_URI)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(settings.X_AUTHORIZE_URL)
    assert query["scope"] == ["tweet.read tweet.write users.read dm.read dm.write media.write offline.access"]
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [settings.X_CLIENT_ID]

    callback = authorize_in_page(url, POLICE_ID)
    assert callback["state"] == "st4te"
    credentials = exchange_code(code=callback["code"], code_verifier=verifier, redirect_uri=REDIRECT_URI)
    assert set(credentials) >= {"access_token", "refresh_token", "expires_at"}
    assert 7100 < credentials["expires_at"] - time.time() <= 7200
    connected = XConnector(base_url=settings.X_API_URL, credentials=credentials)
    assert connected.whoami().account_id == POLICE_ID

    renewed = refresh(credentials)
    assert renewed["access_token"] != credentials["access_token"] and renewed["refresh_token"] != credentials["refresh_token"]
    with pytest.raises(AuthExpired) as spent:
        refresh(credentials)
    assert credentials["refresh_token"] not in spent.value.message

    revoke(renewed)
    with pytest.raises(AuthExpired):
        XConnector(base_url=settings.X_API_URL, credentials=renewed).whoami()
    with pytest.raises(AuthExpired):
        refresh(renewed)


def test_exchange_with_the_wrong_verifier_is_refused(sim):
    _, challenge = new_pkce()
    other_verifier, _ = new_pkce()
    callback = authorize_in_page(authorize_url(state="s", code_challenge=challenge, redirect_uri=REDIRECT_URI), COUNCIL_ID)
    with pytest.raises(PermanentError) as refused:
        exchange_code(code=callback["code"], code_verifier=other_verifier, redirect_uri=REDIRECT_URI)
    assert refused.value.status == 400 and not isinstance(refused.value, AuthExpired)
    assert callback["code"] not in refused.value.message


def test_wrong_client_secret_is_a_permanent_error(sim, settings):
    settings.X_CLIENT_SECRET = "not-the-secret"
    with pytest.raises(PermanentError) as refused:
        refresh(COUNCIL["credentials"])
    assert "X_CLIENT_ID" in refused.value.message and "not-the-secret" not in refused.value.message


# ------------------------------------------------------------------------------------------ helpers
class socket_closed_port:
    """A local port with nothing listening on it."""

    def __enter__(self) -> int:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return self._socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self._socket.close()


def test_a_write_accepted_without_an_id_is_ambiguous_not_refused():
    """2xx with no id: the post may exist. Ambiguous makes the reply flow read it back instead of failing it
    (a failed reply offers a retry button, which would post a second copy)."""
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from channels_app.connectors.base import Ambiguous

    @Request.application
    def accepts_without_id(request):
        return Response(json.dumps({"data": {}}), status=201, content_type="application/json")

    server = make_server("127.0.0.1", 0, accepts_without_id)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        odd = XConnector(base_url=f"http://127.0.0.1:{server.server_port}", credentials=dict(COUNCIL["credentials"]),
                         account_id=COUNCIL_ID, timeout=2)
        with pytest.raises(Ambiguous):
            odd.reply(in_reply_to="1", text="Thanks, we are on it.")
        with pytest.raises(Ambiguous):
            odd.send_dm(conversation_key=f"{COUNCIL_ID}-{CITIZEN_ID}", recipient_id="", text="Hello")
    finally:
        server.shutdown()
