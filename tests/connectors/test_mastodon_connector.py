"""The Mastodon connector: (a) parsing the recorded Mastodon.py cassettes in shared/platform-fixtures/mastodon (and
replaying their recorded errors over HTTP), and (b) every operation over HTTP against the simulator, as the
citizen writes through Mastodon.py like any real client: inbound with cursors, replies, DMs, publishing with alt
text, Idempotency-Key, metrics, each error class, the quota respected before calling, and the OAuth helpers."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from mastodon import Mastodon
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from channels_app.connectors import base_url_for, connector_class
from channels_app.connectors.base import (
    AuthExpired,
    ConnectorError,
    DuplicatePost,
    MediaItem,
    PermanentError,
    RateLimited,
    TransientError,
    reset_from_iso,
)
from channels_app.connectors.mastodon import (
    SCOPES,
    MastodonConnector,
    account_from,
    authorize_url,
    dm_items,
    exchange_code,
    html_to_text,
    item_from_status,
    mention_items,
    metrics_from_status,
    published_from,
    register_app,
    revoke,
    stats_from_account,
    text_limits,
)
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
# The accounts the cassettes were recorded with.
RECORDED_TEST_ACCOUNT = "117020565966271181"  # mastodonpy_test
RECORDED_ADMIN = "117020565693913441"  # admin
RECORDED_SECOND = "117020566092212359"  # mastodonpy_test_2
COUNCIL = DEMO_ACCOUNTS[0]
CITIZEN_ID = "110000000000000101"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x08\x08\x06\x00\x00\x00" + b"\x00" * 16


def interaction(cassette: str, method: str, path: str, index: int = 0) -> dict:
    file = CASSETTES / cassette
    assert file.is_file(), f"Cassette {file} is missing: shared/platform-fixtures must sit beside the checkout."
    interactions = yaml.safe_load(file.read_text(encoding="utf-8"))["interactions"]
    matches = [
        i
        for i in interactions
        if i["request"]["method"] == method and urlsplit(i["request"]["uri"]).path.rstrip("/") == path.rstrip("/")
    ]
    return matches[index]["response"]


def recorded(cassette: str, method: str, path: str, index: int = 0):
    return json.loads(interaction(cassette, method, path, index)["body"]["string"])


# ===================================================================================== (a) parsing
def test_recorded_mention_notification_becomes_a_mention_item():
    notifications = recorded("test_notifications_mentions_only.yaml", "GET", "/api/v1/notifications")
    [item] = mention_items(notifications, own_account_id=RECORDED_TEST_ACCOUNT)
    assert item.kind == "mention"
    assert item.platform_id == "117020577157693549" == item.conversation_key
    assert item.text == "@mastodonpy_test hello!"
    assert item.created_at == datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC)
    assert (item.author_id, item.author_handle) == (RECORDED_ADMIN, "@admin@localhost:3000")
    assert item.author_avatar_url == "http://localhost:3000/avatars/original/missing.png"
    assert item.url == "http://localhost:3000/@admin/117020577157693549"
    assert item.in_reply_to_id == ""
    json.dumps(item.raw)  # stored as JSON


def test_recorded_reply_becomes_a_reply_keyed_to_its_thread():
    reply = recorded("test_status_reply.yaml", "POST", "/api/v1/statuses", index=1)
    notification = {"id": "30", "type": "mention", "status": reply}
    [item] = mention_items([notification], own_account_id=RECORDED_SECOND)
    assert item.kind == "reply" and item.in_reply_to_id == "117020583245459824"
    # Without a thread lookup the parent is the key; the connector passes the real root (tested over HTTP below).
    assert item.conversation_key == "117020583245459824"
    [rooted] = mention_items([notification], own_account_id=RECORDED_SECOND, root_of=lambda s: "root-1")
    assert rooted.conversation_key == "root-1"
    assert item.text == "@mastodonpy_test_2 same!"


def test_own_statuses_other_notifications_and_direct_mentions_are_not_mention_items():
    notifications = recorded("test_notifications.yaml", "GET", "/api/v1/notifications")
    assert mention_items(notifications, own_account_id=RECORDED_ADMIN) == []  # written by the admin itself
    direct = recorded("test_conversations.yaml", "POST", "/api/v1/statuses")
    assert direct["visibility"] == "direct"
    assert mention_items([{"id": "9", "type": "mention", "status": direct}], own_account_id=RECORDED_ADMIN) == []
    favourite = {**notifications[0], "type": "favourite"}
    assert mention_items([favourite], own_account_id=RECORDED_TEST_ACCOUNT) == []


def test_recorded_conversations_become_direct_messages_keyed_to_the_conversation():
    conversations = recorded("test_conversations.yaml", "GET", "/api/v1/conversations")
    items = dm_items(conversations, own_account_id=RECORDED_ADMIN)
    assert [(i.kind, i.conversation_key, i.platform_id) for i in items] == [
        ("dm", "12", "117020588388552703"),
        ("dm", "15", "117020593780198542"),
    ]
    assert items[1].text == "@admin ilu bby ;3" and items[1].author_handle == "@mastodonpy_test_2@localhost:3000"
    assert items[0].in_reply_to_id == "117020588315335369"
    # Its own messages are not inbound, and the cursor holds back what was already seen.
    assert dm_items(conversations, own_account_id=RECORDED_SECOND) == []
    later = dm_items(conversations, own_account_id=RECORDED_ADMIN, after_id="117020588388552703")
    assert [i.conversation_key for i in later] == ["15"]


def test_html_content_becomes_plain_text():
    reply = recorded("test_status_reply.yaml", "POST", "/api/v1/statuses", index=1)
    assert html_to_text(reply["content"]) == "@mastodonpy_test_2 same!"
    content = (
        '<p>Bins &amp; recycling:<br />Tuesday</p><p>See <a href="https://x.example/bins" rel="nofollow noopener">'
        '<span class="invisible">https://</span><span class="">x.example/bins</span><span class="invisible"></span></a></p>'
    )
    assert html_to_text(content) == "Bins & recycling:\nTuesday\n\nSee https://x.example/bins"
    warned = item_from_status({**reply, "spoiler_text": "Bins"}, kind="reply", conversation_key="1")
    assert warned.text == "Content warning: Bins\n\n@mastodonpy_test_2 same!"


def test_recorded_status_counts_become_post_metrics():
    status = recorded("test_status.yaml", "GET", "/api/v1/statuses/117020583223442465")
    assert metrics_from_status(status).likes == status["favourites_count"]
    favourited = recorded("test_status_fav_unfav.yaml", "POST", "/api/v1/statuses/117020586054490060/favourite")
    reblogged = recorded("test_status_reblog_unreblog.yaml", "POST", "/api/v1/statuses/117020586019094258/reblog")
    assert metrics_from_status(favourited).likes == 1
    assert metrics_from_status(reblogged["reblog"]).reposts == 1
    assert metrics_from_status(status).impressions is None


def test_recorded_accounts_give_identity_and_statistics():
    me = recorded("test_get_pagination_info.yaml", "GET", "/api/v1/accounts/verify_credentials")
    account = account_from(me)
    assert (account.account_id, account.handle, account.display_name) == (
        RECORDED_TEST_ACCOUNT,
        "@mastodonpy_test@localhost:3000",
        "John Lennon",
    )
    stats = stats_from_account(me)
    assert (stats.followers, stats.following, stats.posts) == (
        me["followers_count"],
        me["following_count"],
        me["statuses_count"],
    )


def test_recorded_toot_gives_the_published_id_and_url():
    toot = recorded("test_toot.yaml", "POST", "/api/v1/statuses")
    assert published_from(toot).platform_id == "117020585846976096"
    assert published_from(toot).url == "http://localhost:3000/@mastodonpy_test/117020585846976096"


def test_recorded_instance_gives_the_status_limits():
    v2 = recorded("test_instance.yaml", "GET", "/api/v2/instance")
    v1 = recorded("test_stream_direct.yaml", "GET", "/api/v1/instance")
    assert text_limits(v2) == text_limits(v1) == {"max_characters": 500, "characters_reserved_per_url": 23}
    assert text_limits({"configuration": {"statuses": {"max_characters": True}}}) == {}


def test_recorded_rate_limit_reset_header_is_read_as_iso_8601():
    headers = interaction("test_notifications_mentions_only.yaml", "GET", "/api/v1/notifications")["headers"]
    assert reset_from_iso(headers["x-ratelimit-reset"][0]) == datetime(2026, 8, 1, 13, 55, 0, 940463, tzinfo=UTC)


@pytest.fixture
def replay(settings):
    """Answers with recorded responses, by path (404 otherwise): a stand-in for the server the cassettes were
    recorded from."""
    answers: dict[str, dict] = {}

    def app(environ, start_response):
        request = Request(environ)
        response = answers.get(request.path.rstrip("/"))
        if response is None:
            return Response('{"error":"Not Found"}', status=404, mimetype="application/json")(environ, start_response)
        skip = ("content-length", "content-encoding", "transfer-encoding")
        headers = [(k, v[0]) for k, v in response["headers"].items() if k.lower() not in skip]
        return Response(response["body"]["string"], status=response["status"]["code"], headers=headers)(
            environ, start_response
        )

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    # The replaying server stands in for the platform, as the simulator does.
    settings.SIM_URL = url

    def serve(*recordings: tuple, account_id: str = "1") -> MastodonConnector:
        """Each recording is (cassette, method, recorded path[, path to answer it on])."""
        answers.clear()
        for cassette, method, path, *served in recordings:
            answers[(served[0] if served else path).rstrip("/")] = interaction(cassette, method, path)
        return MastodonConnector(
            base_url=url, credentials={"access_token": "recorded"}, account_id=account_id, timeout=5
        )

    yield serve
    server.shutdown()


def test_recorded_errors_replayed_over_http_map_to_the_error_classes(replay):
    with pytest.raises(AuthExpired) as expired:
        replay(
            (
                "test_home_tl_anonymous_throws.yaml",
                "GET",
                "/api/v1/timelines/home",
                "/api/v1/accounts/verify_credentials",
            )
        ).whoami()
    assert expired.value.status == 401
    with pytest.raises(PermanentError) as missing:
        replay(("test_status_missing.yaml", "GET", "/api/v1/statuses/0")).post_metrics("0")
    assert missing.value.status == 404 and not isinstance(missing.value, DuplicatePost)
    with pytest.raises(PermanentError) as invalid:
        replay(("test_status_empty.yaml", "POST", "/api/v1/statuses")).publish(text="")
    assert invalid.value.status == 422 and not isinstance(invalid.value, DuplicatePost)


def test_recorded_notifications_and_conversations_replayed_over_http_arrive_as_items(replay):
    connector = replay(
        ("test_notifications_mentions_only.yaml", "GET", "/api/v1/notifications"),
        ("test_conversations.yaml", "GET", "/api/v1/conversations"),
        account_id=RECORDED_TEST_ACCOUNT,
    )
    batch = connector.fetch_inbound({})
    assert [(i.kind, i.platform_id) for i in batch.items] == [
        ("mention", "117020577157693549"),
        ("dm", "117020588388552703"),
        ("dm", "117020593780198542"),
    ]
    assert batch.cursor == {"notifications": "21", "conversations": "117020593780198542"}


# ================================================================================ (b) over HTTP
@pytest.fixture
def instance(sim) -> str:
    return f"{sim.url}/mastodon"


@pytest.fixture
def council(instance) -> MastodonConnector:
    return MastodonConnector(base_url=instance, credentials=COUNCIL["credentials"], timeout=5)


@pytest.fixture
def citizen(instance) -> Mastodon:
    return Mastodon(access_token=CITIZEN_TOKEN, api_base_url=instance, ratelimit_method="throw")


def statuses(sim) -> dict:
    return sim.state()["mastodon"]["statuses"]


def test_connector_is_found_by_platform_with_the_channel_instance_url(instance):
    assert connector_class("mastodon") is MastodonConnector
    assert base_url_for("mastodon", instance) == instance


def test_whoami_names_the_connected_account(council, instance):
    account = council.whoami()
    assert account.account_id == COUNCIL["account_id"]
    assert account.handle == f"@democouncil@{urlsplit(instance).netloc}"
    assert account.display_name == "Demo Council" and account.avatar_url.startswith(instance)


def test_citizen_mentions_replies_and_dms_arrive_once(council, citizen):
    mention = citizen.status_post("@democouncil is the tip open today?")
    council_post = council.publish(text="The tip is open until 4pm.")
    reply = citizen.status_post("@democouncil and on Sunday?", in_reply_to_id=council_post.platform_id)
    dm = citizen.status_post("@democouncil my bin was missed", visibility="direct")

    first = council.fetch_inbound({})
    by_kind = {item.kind: item for item in first.items}
    assert set(by_kind) == {"mention", "reply", "dm"} and len(first.items) == 3
    assert by_kind["mention"].platform_id == str(mention["id"]) == by_kind["mention"].conversation_key
    assert by_kind["reply"].platform_id == str(reply["id"])
    assert by_kind["reply"].conversation_key == council_post.platform_id
    assert by_kind["dm"].platform_id == str(dm["id"]) and by_kind["dm"].author_id == CITIZEN_ID
    assert by_kind["dm"].text == "@democouncil my bin was missed"
    assert set(first.cursor) == {"notifications", "conversations"}

    assert council.fetch_inbound(first.cursor).items == []

    follow_up = citizen.status_post("@democouncil still missed", visibility="direct", in_reply_to_id=dm["id"])
    deeper = citizen.status_post("@democouncil deeper", in_reply_to_id=reply["id"])
    second = council.fetch_inbound(first.cursor)
    assert [(i.kind, i.platform_id) for i in second.items] == [
        ("dm", str(follow_up["id"])),
        ("reply", str(deeper["id"])),
    ]
    assert second.items[0].conversation_key == by_kind["dm"].conversation_key
    # A reply deeper in the thread is keyed to the thread's root, our post.
    assert second.items[1].conversation_key == council_post.platform_id


def test_several_direct_messages_between_polls_all_arrive(council, citizen):
    first = citizen.status_post("@democouncil one", visibility="direct")
    cursor = council.fetch_inbound({}).cursor
    sibling = citizen.status_post("@democouncil two", visibility="direct", in_reply_to_id=first["id"])
    # The council answers the first message before seeing the second: the conversation now shows the answer.
    council.send_dm(conversation_key="", recipient_id=CITIZEN_ID, text="Looking into it")
    answer = council.reply(in_reply_to=str(first["id"]), text="We are on it")
    third = citizen.status_post("@democouncil three", visibility="direct", in_reply_to_id=answer.platform_id)
    items = council.fetch_inbound(cursor).items
    assert [i.platform_id for i in items] == [str(sibling["id"]), str(third["id"])]
    assert items[0].conversation_key == items[1].conversation_key


def test_cursor_pages_through_more_than_one_page_without_gaps(council, citizen, sim):
    cursor = council.fetch_inbound({}).cursor
    assert cursor == {"notifications": "0", "conversations": "0"}
    posted = [str(citizen.status_post(f"@democouncil question {n}")["id"]) for n in range(45)]
    batch = council.fetch_inbound(cursor)
    assert [i.platform_id for i in batch.items] == posted
    pages = [c["query"] for c in sim.calls("mastodon", "/api/v1/notifications")][-2:]
    assert all("min_id=" in q and "limit=40" in q for q in pages)
    assert council.fetch_inbound(batch.cursor).items == []


def test_reply_mentions_the_author_threads_under_the_status_and_notifies(council, citizen, sim):
    question = citizen.status_post("@democouncil when are bins collected?")
    published = council.reply(in_reply_to=str(question["id"]), text="On Tuesdays.")
    stored = statuses(sim)[published.platform_id]
    assert stored["text"] == "@citizen On Tuesdays." and stored["in_reply_to_id"] == str(question["id"])
    assert stored["visibility"] == "public"
    assert published.url.endswith(f"/@democouncil/{published.platform_id}")
    assert [n["status"]["id"] for n in citizen.notifications(types=["mention"])] == [published.platform_id]
    # A text that already mentions the author is left as it is.
    again = council.reply(in_reply_to=str(question["id"]), text="Thanks @citizen, and Fridays too.")
    assert statuses(sim)[again.platform_id]["text"] == "Thanks @citizen, and Fridays too."


def test_reply_to_a_direct_message_stays_direct(council, citizen, sim):
    dm = citizen.status_post("@democouncil private question", visibility="direct")
    published = council.reply(in_reply_to=str(dm["id"]), text="Private answer")
    assert statuses(sim)[published.platform_id]["visibility"] == "direct"


def test_publish_uploads_images_with_alt_text_and_adds_the_link(council, sim, instance):
    published = council.publish(
        text="New recycling bins arrive next week.",
        media=[MediaItem(PNG, "image/png", "A green recycling bin on a pavement")],
        link="https://democouncil.example/bins",
    )
    stored = statuses(sim)[published.platform_id]
    assert stored["text"] == "New recycling bins arrive next week.\n\nhttps://democouncil.example/bins"
    [media_id] = stored["media_ids"]
    media = sim.state()["mastodon"]["media"][media_id]
    assert media["description"] == "A green recycling bin on a pavement" and media["mime_type"] == "image/png"
    assert published.url == f"{instance}/@democouncil/{published.platform_id}"
    shown = requests.get(f"{instance}/api/v1/statuses/{published.platform_id}", timeout=5).json()
    assert requests.get(shown["media_attachments"][0]["url"], timeout=5).content == PNG


def test_idempotency_key_prevents_a_duplicate_post_on_retry(council, sim):
    first = council.publish(text="Road closed on Friday.", idempotency_key="post-7")
    retry = MastodonConnector(base_url=council.base_url, credentials=COUNCIL["credentials"]).publish(
        text="Road closed on Friday.", idempotency_key="post-7"
    )
    assert retry == first
    assert sum(s["text"] == "Road closed on Friday." for s in statuses(sim).values()) == 1
    [post] = [c for c in sim.calls("mastodon", "/api/v1/statuses") if c["method"] == "POST"][:1]
    assert post["status"] == 200
    other = council.publish(text="Road closed on Friday.", idempotency_key="post-8")
    assert other.platform_id != first.platform_id


def test_send_dm_continues_the_conversation(council, citizen, sim):
    dm = citizen.status_post("@democouncil help please", visibility="direct")
    [item] = council.fetch_inbound({}).items
    sent = council.send_dm(conversation_key=item.conversation_key, recipient_id=item.author_id, text="How can we help?")
    stored = statuses(sim)[sent.platform_id]
    assert stored["visibility"] == "direct" and stored["text"] == "@citizen How can we help?"
    assert stored["in_reply_to_id"] == str(dm["id"])
    assert stored["conversation_id"] == item.conversation_key
    assert citizen.conversations()[0]["last_status"]["id"] == sent.platform_id


def test_send_dm_without_a_conversation_starts_one_with_the_recipient(council, citizen, sim):
    sent = council.send_dm(conversation_key="", recipient_id=CITIZEN_ID, text="Your permit is ready.")
    stored = statuses(sim)[sent.platform_id]
    assert stored["visibility"] == "direct" and stored["mentions"] == [CITIZEN_ID]
    assert [c["last_status"]["id"] for c in citizen.conversations()] == [sent.platform_id]
    with pytest.raises(PermanentError):
        council.send_dm(conversation_key="", recipient_id="", text="To no one")


def test_delete_removes_the_post_and_a_second_delete_is_harmless(council, sim):
    published = council.publish(text="Posted by mistake")
    council.delete(published.platform_id)
    assert published.platform_id not in statuses(sim)
    council.delete(published.platform_id)


def test_post_metrics_and_account_stats_follow_the_public(council, citizen):
    published = council.publish(text="Library reopens on Monday")
    before = council.account_stats()
    citizen.status_favourite(published.platform_id)
    citizen.status_reblog(published.platform_id)
    citizen.status_post("@democouncil great news", in_reply_to_id=published.platform_id)
    metrics = council.post_metrics(published.platform_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.quotes) == (1, 1, 1, 0)
    assert before.posts == 3 and before.followers > 0
    citizen.account_unfollow(COUNCIL["account_id"])
    assert council.account_stats().followers == before.followers - 1
    unsaved = MastodonConnector(base_url=council.base_url, credentials=COUNCIL["credentials"])
    assert unsaved.account_stats().followers == before.followers - 1


def test_validate_text_uses_the_instance_limit_and_url_weight(council):
    assert council.validate_text("x" * 500).valid
    assert not council.validate_text("x" * 501).valid
    assert council.validate_text("x" * 470 + " https://democouncil.gov.uk/" + "a" * 100).length == 494
    assert council.text_limits() == {"max_characters": 500, "characters_reserved_per_url": 23}


# ================================================================================= (b) error classes
def test_rate_limit_fault_raises_rate_limited_with_the_reset_from_the_header(council, sim):
    sim.fault("mastodon", "rate_limit", reset_in=600)
    with pytest.raises(RateLimited) as caught:
        council.whoami()
    assert timedelta(seconds=580) < caught.value.reset_at - datetime.now(UTC) <= timedelta(seconds=601)
    assert not caught.value.permanent


def test_expired_token_raises_auth_expired(council, sim):
    sim.fault("mastodon", "expired_token")
    with pytest.raises(AuthExpired) as caught:
        council.fetch_inbound({})
    assert caught.value.permanent and caught.value.status == 401


def test_duplicate_post_raises_duplicate_post(council, sim):
    sim.fault("mastodon", "duplicate", path="/api/v1/statuses", method="POST")
    with pytest.raises(DuplicatePost):
        council.publish(text="Hello again")


def test_validation_refusal_is_permanent(council):
    with pytest.raises(PermanentError) as caught:
        council.publish(text="x" * 501)
    assert caught.value.status == 422 and "character limit" in caught.value.message


def test_server_error_and_timeout_are_transient(council, sim, instance):
    sim.fault("mastodon", "server_error")
    with pytest.raises(TransientError) as caught:
        council.whoami()
    assert caught.value.status == 503
    sim.fault("mastodon", "slow", delay=1.5)
    hurried = MastodonConnector(base_url=instance, credentials=COUNCIL["credentials"], timeout=0.5)
    with pytest.raises(TransientError):
        hurried.whoami()
    # Let the slow request finish here, so it does not count in the next test's rate-limit window.
    deadline = time.monotonic() + 5
    while (
        not any(c["status"] == 200 for c in sim.calls("mastodon", "/api/v1/accounts")) and time.monotonic() < deadline
    ):
        time.sleep(0.1)


def test_used_up_quota_is_respected_before_calling(council, sim, instance):
    # Start at the beginning of a five-minute window, so the 300 calls all count in one.
    sim.advance_clock(300 - time.time() % 300 + 1)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {COUNCIL['credentials']['access_token']}"
    for _ in range(299):
        session.get(f"{instance}/api/v1/accounts/verify_credentials", timeout=5)
    council.whoami()  # the 300th call: its answer says nothing is left
    calls = len(sim.calls("mastodon"))
    with pytest.raises(RateLimited) as caught:
        council.post_metrics("1")
    assert len(sim.calls("mastodon")) == calls, "no request was sent"
    assert caught.value.reset_at > datetime.now(UTC)


def test_connector_refuses_to_connect_to_a_private_address(sim):
    port = urlsplit(sim.url).port
    # localhost is the simulator's host by another name: not the configured simulator, and not public.
    connector = MastodonConnector(base_url=f"http://localhost:{port}/mastodon", credentials=COUNCIL["credentials"])
    calls = len(sim.calls("mastodon"))
    with pytest.raises(PermanentError) as caught:
        connector.whoami()
    assert "not a public one" in caught.value.message
    assert len(sim.calls("mastodon")) == calls


def test_error_messages_and_repr_never_contain_the_token(council, sim, instance):
    token = COUNCIL["credentials"]["access_token"]
    errors: list[ConnectorError] = []
    for kind in ("rate_limit", "expired_token", "server_error", "duplicate"):
        sim.fault("mastodon", kind)
        try:
            council.publish(text="hello")
        except ConnectorError as exc:
            errors.append(exc)
    assert len(errors) == 4
    for exc in errors:
        assert token not in exc.message and token not in str(exc) and token not in repr(exc)
    assert token not in repr(council)


# ======================================================================================= (b) OAuth
def test_oauth_helpers_register_authorize_exchange_and_revoke_end_to_end(sim, instance):
    redirect_uri = "http://testserver/channels/connect/mastodon/callback"
    app = register_app(instance_url=instance, redirect_uri=redirect_uri)
    assert set(app) == {"client_id", "client_secret"}
    registered = sim.state()["mastodon"]["apps"][app["client_id"]]
    assert registered["redirect_uris"] == [redirect_uri] and registered["scopes"] == SCOPES

    url = authorize_url(instance_url=instance, client_id=app["client_id"], redirect_uri=redirect_uri, state="st-1")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{instance}/oauth/authorize?")
    assert query["state"] == ["st-1"] and query["scope"] == [" ".join(SCOPES)] and query["force_login"] == ["True"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "Authorize as Demo Council (@democouncil)" in page.text
    approved = requests.post(
        f"{instance}/oauth/authorize",
        data={
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": "st-1",
            "account_id": COUNCIL["account_id"],
            "decision": "approve",
        },
        allow_redirects=False,
        timeout=5,
    )
    returned = parse_qs(urlsplit(approved.headers["Location"]).query)
    assert returned["state"] == ["st-1"]

    credentials = exchange_code(
        instance_url=instance,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        code=returned["code"][0],
        redirect_uri=redirect_uri,
    )
    assert credentials["client_id"] == app["client_id"] and credentials["access_token"]
    connector = MastodonConnector(base_url=instance, credentials=credentials)
    assert connector.whoami().account_id == COUNCIL["account_id"]

    revoke(instance_url=instance, credentials=credentials)
    with pytest.raises(AuthExpired):
        MastodonConnector(base_url=instance, credentials=credentials).whoami()


def test_exchanging_a_bad_code_is_refused_permanently(instance):
    redirect_uri = "http://testserver/cb"
    app = register_app(instance_url=instance, redirect_uri=redirect_uri)
    with pytest.raises(PermanentError) as caught:
        exchange_code(
            instance_url=instance,
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            code="nope",
            redirect_uri=redirect_uri,
        )
    assert caught.value.status == 400 and "nope" not in caught.value.message


def test_registering_on_something_that_is_not_mastodon_is_refused(sim):
    with pytest.raises(PermanentError):
        register_app(instance_url=f"{sim.url}/nowhere", redirect_uri="http://testserver/cb")
    with pytest.raises(PermanentError):
        register_app(instance_url=f"{sim.url}/mastodon", redirect_uri="not a uri")


def test_revoking_without_app_credentials_does_nothing(sim, instance):
    calls = len(sim.calls("mastodon"))
    revoke(instance_url=instance, credentials={"access_token": "only-a-token"})
    assert len(sim.calls("mastodon")) == calls
