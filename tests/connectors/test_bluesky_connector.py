"""The Bluesky connector: (a) parsing the recorded bodies in shared/platform-fixtures/bluesky, and (b) every operation
over HTTP against the simulator, including session renewal and each error class."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from channels_app.connectors import base_url_for, connector_class
from channels_app.connectors.base import (
    AuthExpired,
    DuplicatePost,
    MediaItem,
    PermanentError,
    RateLimited,
    TransientError,
)
from channels_app.connectors.bluesky import (
    BlueskyConnector,
    create_session,
    error_from_response,
    parse_account_stats,
    parse_messages,
    parse_notifications,
    parse_post_metrics,
    parse_session,
    post_url,
)
from simulator.platforms.bluesky import CITIZEN_DID, COUNCIL_DID, DEMO_ACCOUNTS

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platform-fixtures" / "bluesky"
DART = FIXTURES / "myConsciousness__atproto.dart" / "packages"
SUITE = DART / "bluesky" / "test" / "src" / "services" / "suite"
FIXTURE_OWNER = "did:plc:iijrtk7ocored6zuziwmqq3c"  # the account the atproto.dart bodies were recorded for
CITIZEN = {"Authorization": "Bearer sim-citizen-token"}
COUNCIL = DEMO_ACCOUNTS[0]


def recorded(path: Path) -> dict:
    assert path.is_file(), f"Recorded body {path} is missing: shared/platform-fixtures must sit beside the checkout."
    return json.loads(path.read_text(encoding="utf-8"))


# ===================================================================================== (a) parsing
def test_recorded_notifications_give_the_mentions_replies_and_quotes_only():
    body = recorded(SUITE / "app/bsky/notification/listNotifications.json")
    items = parse_notifications(body, own_did=FIXTURE_OWNER)
    reasons = [n["reason"] for n in body["notifications"]]
    assert len(items) == reasons.count("reply") + reasons.count("mention") + reasons.count("quote") == 24
    assert {item.kind for item in items} == {"reply", "mention"}
    assert all(item.created_at.tzinfo is not None and item.author_handle and item.text for item in items)


def test_recorded_reply_points_at_its_thread_root_and_parent():
    body = recorded(SUITE / "app/bsky/notification/listNotifications.json")
    reply = next(item for item in parse_notifications(body, own_did=FIXTURE_OWNER) if item.kind == "reply")
    assert reply.platform_id == "at://did:plc:wpmuup4caccl3a726wdni6wj/app.bsky.feed.post/3k6k4as23yu2g"
    assert reply.conversation_key == "at://did:plc:wpmuup4caccl3a726wdni6wj/app.bsky.feed.post/3k6k3k3gwjt2q"
    assert reply.in_reply_to_id == "at://did:plc:iijrtk7ocored6zuziwmqq3c/app.bsky.feed.post/3k6k42e25xo2i"
    assert reply.author_handle == "maccalennon.bsky.social" and reply.author_name == "まかれの"
    assert reply.url == "https://bsky.app/profile/maccalennon.bsky.social/post/3k6k4as23yu2g"
    assert reply.created_at == datetime(2023, 9, 4, 4, 0, 35, 516000, tzinfo=UTC)


def test_recorded_mention_and_quote_are_mentions_keyed_by_their_thread():
    body = recorded(SUITE / "app/bsky/notification/listNotifications.json")
    items = {item.platform_id: item for item in parse_notifications(body, own_did=FIXTURE_OWNER)}
    mention = items["at://did:plc:w342borqxtyo2pul67ec2pwt/app.bsky.feed.post/3k6hfx327b52b"]
    assert mention.kind == "mention" and "@shinyakato.dev" in mention.text
    assert mention.conversation_key == "at://did:plc:bctrmry4fjnsko4gvqshrh2l/app.bsky.feed.post/3k6fxd7givg2q"
    quote = items["at://did:plc:w342borqxtyo2pul67ec2pwt/app.bsky.feed.post/3k6inieast22e"]
    assert quote.kind == "mention" and quote.conversation_key == quote.platform_id and quote.in_reply_to_id == ""


def test_notifications_by_the_account_itself_are_not_inbound():
    body = recorded(SUITE / "app/bsky/notification/listNotifications.json")
    author = body["notifications"][1]["author"]["did"]
    assert all(item.author_id != author for item in parse_notifications(body, own_did=author))


def test_recorded_post_views_give_the_metrics():
    [post] = recorded(SUITE / "app/bsky/feed/getPosts.json")["posts"]
    assert parse_post_metrics(post) == parse_post_metrics({"likeCount": 7, "replyCount": 8, "repostCount": 0})
    thread_post = recorded(SUITE / "app/bsky/feed/getPostThread.json")["thread"]["post"]
    metrics = parse_post_metrics(thread_post)
    assert (metrics.likes, metrics.replies, metrics.reposts) == (
        thread_post["likeCount"], thread_post["replyCount"], thread_post["repostCount"])


def test_recorded_chat_bodies_give_one_direct_message_skipping_the_deleted_one():
    convo = recorded(SUITE / "chat/bsky/convo/listConvos.json")["convos"][0]
    messages = recorded(SUITE / "chat/bsky/convo/getMessages.json")
    [item] = parse_messages(messages, convo)
    assert (item.kind, item.text, item.conversation_key, item.platform_id) == ("dm", "Hi", "1234", "1234")
    assert item.author_handle == "shinyakato.dev" and item.author_name == "Shinya Kato 🤯"
    assert item.created_at == datetime(2023, 5, 21, 0, 48, 1, 666000, tzinfo=UTC)
    assert parse_messages(messages, convo, own_did=FIXTURE_OWNER) == []


@pytest.mark.parametrize("name", ["create_session.json", "refresh_session.json"])
def test_recorded_session_bodies_give_the_credentials_to_keep(name):
    session = parse_session(recorded(DART / "atproto_core/test/src/sessions/data" / name))
    assert session == {"did": FIXTURE_OWNER, "handle": "shinyakato.dev", "accessJwt": "eeeeeeeeeeeee",
                       "refreshJwt": "uuuuuuuuuuuuuuuu"}


def test_recorded_error_body_is_a_permanent_error_with_the_platforms_message():
    error = error_from_response(400, recorded(DART / "atproto_core/test/src/sessions/data/error.json"))
    assert type(error) is PermanentError and error.permanent
    assert "parameter is missing" in error.message and error.platform_code == "InvalidRequestError"


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (400, {"error": "ExpiredToken", "message": "Token has expired"}, AuthExpired),
        (401, {"error": "AuthenticationRequired", "message": "Authentication Required"}, AuthExpired),
        (401, {"error": "InvalidToken", "message": "Token could not be verified"}, AuthExpired),
        (400, {"error": "AccountTakedown", "message": "Account has been taken down"}, AuthExpired),
        (400, {"error": "InvalidRequest", "message": "Duplicate post: this record already exists"}, DuplicatePost),
        (400, {"error": "InvalidRequest", "message": "Record/text must not be longer than 300 graphemes"}, PermanentError),
        (502, None, TransientError),
        (503, {"error": "simulated server error"}, TransientError),
    ],
)
def test_error_answers_map_to_the_error_classes(status, body, expected):
    error = error_from_response(status, body)
    assert isinstance(error, expected)
    assert isinstance(error, DuplicatePost) == (expected is DuplicatePost)
    assert error.permanent == (expected is not TransientError)


def test_429_is_rate_limited_until_the_ratelimit_reset_header():
    error = error_from_response(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                                {"ratelimit-reset": "1767225600", "RateLimit-Remaining": "0"})
    assert isinstance(error, RateLimited) and error.reset_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_error_messages_never_carry_credentials():
    error = error_from_response(400, {"error": "InvalidRequest", "message": "bad token abc.def.ghi"}, secrets=["abc.def.ghi"])
    assert "abc.def.ghi" not in error.message and "[redacted]" in error.message


def test_profile_and_post_url_helpers():
    stats = parse_account_stats({"followersCount": 10, "followsCount": 2, "postsCount": 7})
    assert (stats.followers, stats.following, stats.posts) == (10, 2, 7)
    assert post_url("a.bsky.social", "at://did:plc:x/app.bsky.feed.post/3k") == "https://bsky.app/profile/a.bsky.social/post/3k"


# ======================================================================================= (b) HTTP
@pytest.fixture
def council(sim) -> BlueskyConnector:
    return BlueskyConnector(base_url=f"{sim.url}/bsky", credentials=dict(COUNCIL["credentials"]), account_id=COUNCIL_DID)


def citizen(sim, method: str, nsid: str, **kwargs) -> dict:
    response = requests.request(method, f"{sim.url}/bsky/xrpc/{nsid}", headers=CITIZEN, timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def citizen_posts(sim, text: str, **extra) -> str:
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-05T10:00:00.000Z", **extra}
    return citizen(sim, "POST", "com.atproto.repo.createRecord",
                   json={"repo": CITIZEN_DID, "collection": "app.bsky.feed.post", "record": record})["uri"]


def citizen_mentions_council(sim, text: str) -> str:
    start = text.encode().index(b"@democouncil.bsky.social")
    facet = {"index": {"byteStart": start, "byteEnd": start + 24},
             "features": [{"$type": "app.bsky.richtext.facet#mention", "did": COUNCIL_DID}]}
    return citizen_posts(sim, text, facets=[facet])


def record(sim, uri: str) -> dict:
    return sim.state()["bsky"]["records"][uri]["value"]


def calls_to(sim, nsid: str) -> int:
    return len(sim.calls("bsky", f"/xrpc/{nsid}"))


def test_the_registry_points_bluesky_at_the_configured_service(sim):
    assert connector_class("bluesky") is BlueskyConnector
    assert base_url_for("bluesky") == f"{sim.url}/bsky"


def test_whoami_signs_in_with_the_app_password_and_names_the_account(sim, council):
    account = council.whoami()
    assert (account.account_id, account.handle, account.display_name) == (COUNCIL_DID, "democouncil.bsky.social", "Demo Council")
    assert account.avatar_url.startswith(sim.url)
    stored = council.updated_credentials
    assert stored["did"] == COUNCIL_DID and stored["accessJwt"] and stored["refreshJwt"]
    assert stored["app_password"] == COUNCIL["credentials"]["app_password"]
    assert "accessJwt" not in repr(council) and stored["accessJwt"] not in repr(council)


def test_create_session_returns_credentials_to_store(sim):
    credentials = create_session(service_url=f"{sim.url}/bsky", identifier="@democouncil.bsky.social",
                                 app_password=COUNCIL["credentials"]["app_password"])
    assert credentials["did"] == COUNCIL_DID and credentials["handle"] == "democouncil.bsky.social"
    assert {"accessJwt", "refreshJwt", "identifier", "app_password"} <= set(credentials)


def test_wrong_app_password_gives_a_clear_error_without_the_password(sim):
    with pytest.raises(AuthExpired) as caught:
        create_session(service_url=f"{sim.url}/bsky", identifier="democouncil.bsky.social", app_password="wrong-pass-word-1234")
    assert "app password" in caught.value.message and "wrong-pass-word-1234" not in caught.value.message


def test_first_poll_takes_the_seeded_reply_and_dm_and_the_cursor_prevents_repeats(sim, council):
    first = council.fetch_inbound({})
    assert sorted(item.kind for item in first.items) == ["dm", "reply"]
    assert set(first.cursor) == {"notifications", "dms"}
    again = council.fetch_inbound(first.cursor)
    assert again.items == [] and again.cursor == first.cursor


def test_new_mentions_replies_and_dms_from_the_citizen_arrive_once(sim, council):
    cursor = council.fetch_inbound({}).cursor
    council_post = council.publish(text="Bin collections are back to normal.").platform_id
    mention = citizen_mentions_council(sim, "@democouncil.bsky.social my bin was missed")
    reply = citizen_posts(sim, "Not on our street", reply={"root": {"uri": council_post, "cid": _cid(sim, council_post)},
                                                        "parent": {"uri": council_post, "cid": _cid(sim, council_post)}})
    convo = citizen(sim, "GET", "chat.bsky.convo.getConvoForMembers", params={"members": COUNCIL_DID})["convo"]["id"]
    citizen(sim, "POST", "chat.bsky.convo.sendMessage", json={"convoId": convo, "message": {"text": "My address is 4 Elm Road"}})

    batch = council.fetch_inbound(cursor)
    by_kind = {item.kind: item for item in batch.items}
    assert sorted(by_kind) == ["dm", "mention", "reply"] and len(batch.items) == 3
    assert by_kind["mention"].platform_id == mention and by_kind["mention"].conversation_key == mention
    assert by_kind["mention"].author_handle == "citizen.bsky.social" and by_kind["mention"].author_id == CITIZEN_DID
    assert by_kind["reply"].platform_id == reply
    assert by_kind["reply"].in_reply_to_id == council_post and by_kind["reply"].conversation_key == council_post
    assert by_kind["dm"].conversation_key == convo and by_kind["dm"].text == "My address is 4 Elm Road"
    assert [item.created_at for item in batch.items] == sorted(item.created_at for item in batch.items)
    assert council.fetch_inbound(batch.cursor).items == []


def test_reply_carries_root_and_parent_references_fetched_from_the_platform(sim, council):
    batch = council.fetch_inbound({})
    citizen_reply = next(item for item in batch.items if item.kind == "reply")
    published = council.reply(in_reply_to=citizen_reply.platform_id, text="Yes, as normal.")
    sent = record(sim, published.platform_id)
    assert sent["reply"]["parent"] == {"uri": citizen_reply.platform_id, "cid": _cid(sim, citizen_reply.platform_id)}
    assert sent["reply"]["root"]["uri"] == citizen_reply.conversation_key
    assert sent["reply"]["root"]["cid"] == _cid(sim, citizen_reply.conversation_key)
    assert published.url == f"https://bsky.app/profile/democouncil.bsky.social/post/{published.platform_id.rsplit('/', 1)[-1]}"


def test_reply_to_a_post_that_is_gone_is_a_permanent_error(sim, council):
    with pytest.raises(PermanentError):
        council.reply(in_reply_to=f"at://{CITIZEN_DID}/app.bsky.feed.post/3zzzzzzzzzzzz", text="Hello")


def test_publish_puts_mention_link_and_tag_facets_at_utf8_byte_offsets(sim, council):
    text = "Café update ✅ thanks @citizen.bsky.social and @nobody.bsky.social: see https://council.example/bins #recycling"
    published = council.publish(text=text)
    sent = record(sim, published.platform_id)
    encoded = sent["text"].encode()
    spans = {encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(): f["features"][0] for f in sent["facets"]}
    assert spans == {
        "@citizen.bsky.social": {"$type": "app.bsky.richtext.facet#mention", "did": CITIZEN_DID},
        "https://council.example/bins": {"$type": "app.bsky.richtext.facet#link", "uri": "https://council.example/bins"},
        "#recycling": {"$type": "app.bsky.richtext.facet#tag", "tag": "recycling"},
    }
    mentioned = citizen(sim, "GET", "app.bsky.notification.listNotifications", params={"reasons": "mention"})
    assert [n["uri"] for n in mentioned["notifications"]] == [published.platform_id]


def test_publish_with_an_image_uploads_the_blob_and_keeps_the_alt_text(sim, council):
    image = MediaItem(content=b"\x89PNG\r\n\x1a\n fake", mime_type="image/png", alt_text="Map of the new cycle lane")
    published = council.publish(text="New cycle lane opens today", media=[image])
    sent = record(sim, published.platform_id)
    [embedded] = sent["embed"]["images"]
    assert sent["embed"]["$type"] == "app.bsky.embed.images" and embedded["alt"] == "Map of the new cycle lane"
    blob = sim.state()["bsky"]["blobs"][embedded["image"]["ref"]["$link"]]
    assert (blob["mimeType"], blob["size"], blob["did"]) == ("image/png", len(image.content), COUNCIL_DID)


def test_publish_with_a_link_embeds_a_link_card(sim, council):
    published = council.publish(text="Consultation now open", link="https://council.example/consult")
    embed = record(sim, published.platform_id)["embed"]
    assert embed["$type"] == "app.bsky.embed.external"
    assert embed["external"]["uri"] == "https://council.example/consult" and embed["external"]["title"]


def test_publish_with_image_and_link_keeps_the_link_in_the_text(sim, council):
    image = MediaItem(content=b"jpeg", mime_type="image/jpeg", alt_text="Poster")
    sent = record(sim, council.publish(text="Fair on Saturday", media=[image], link="https://council.example/fair").platform_id)
    assert sent["text"].endswith("https://council.example/fair")
    assert sent["embed"]["$type"] == "app.bsky.embed.images"
    assert any(f["features"][0].get("uri") == "https://council.example/fair" for f in sent["facets"])


def test_publish_refuses_text_bluesky_would_refuse_without_calling_it(sim, council):
    council.whoami()
    before = calls_to(sim, "com.atproto.repo.createRecord")
    with pytest.raises(PermanentError) as caught:
        council.publish(text="a" * 301)
    assert "300" in caught.value.message
    assert calls_to(sim, "com.atproto.repo.createRecord") == before


def test_delete_removes_the_post(sim, council):
    published = council.publish(text="Posted by mistake")
    council.delete(published.platform_id)
    assert published.platform_id not in sim.state()["bsky"]["records"]


def test_post_metrics_count_likes_reposts_replies_and_quotes(sim, council):
    published = council.publish(text="Road resurfacing starts Monday")
    ref = {"uri": published.platform_id, "cid": _cid(sim, published.platform_id)}
    for collection in ("app.bsky.feed.like", "app.bsky.feed.repost"):
        citizen(sim, "POST", "com.atproto.repo.createRecord", json={
            "repo": CITIZEN_DID, "collection": collection, "record": {"subject": ref, "createdAt": "2026-01-05T10:00:00Z"}})
    citizen_posts(sim, "Which roads?", reply={"root": ref, "parent": ref})
    citizen_posts(sim, "Finally", embed={"$type": "app.bsky.embed.record", "record": ref})
    metrics = council.post_metrics(published.platform_id)
    assert (metrics.likes, metrics.reposts, metrics.replies, metrics.quotes) == (1, 1, 1, 1)


def test_account_stats_read_the_profile_counts(sim, council):
    stats = council.account_stats()
    assert (stats.followers, stats.following, stats.posts) == (1241, 85, 1)


def test_dm_round_trip_answers_in_the_conversation_and_is_not_read_back_as_inbound(sim, council):
    batch = council.fetch_inbound({})
    dm = next(item for item in batch.items if item.kind == "dm")
    text = "Please see https://council.example/bins"
    sent = council.send_dm(conversation_key=dm.conversation_key, recipient_id=dm.author_id, text=text)
    convo = sim.state()["bsky"]["convos"][dm.conversation_key]
    assert convo["messages"][-1]["id"] == sent.platform_id and convo["messages"][-1]["sender"]["did"] == COUNCIL_DID
    assert convo["messages"][-1]["facets"][0]["features"][0]["uri"] == "https://council.example/bins"
    assert sent.url == f"https://bsky.app/messages/{dm.conversation_key}"
    citizen_view = citizen(sim, "GET", "chat.bsky.convo.getMessages", params={"convoId": dm.conversation_key})
    assert citizen_view["messages"][0]["text"] == text
    assert council.fetch_inbound(batch.cursor).items == []


def test_dm_to_a_recipient_without_a_conversation_opens_one(sim):
    police = BlueskyConnector(base_url=f"{sim.url}/bsky", credentials=dict(DEMO_ACCOUNTS[1]["credentials"]))
    sent = police.send_dm(conversation_key="", recipient_id=CITIZEN_DID, text="Thanks for your report.")
    convos = citizen(sim, "GET", "chat.bsky.convo.listConvos")["convos"]
    assert any(c["lastMessage"]["id"] == sent.platform_id for c in convos)


# ------------------------------------------------------------------------------ sessions, errors
def test_revoke_ends_the_session_at_the_platform(sim, council):
    council.whoami()
    refresh = council.credentials["refreshJwt"]
    council.revoke()
    assert sim.state()["bsky"]["sessions"][refresh]["revoked"] is True
    council.revoke()  # a second disconnect is harmless


def test_expired_access_token_is_refreshed_once_and_the_call_succeeds(sim, council):
    council.whoami()
    old = dict(council.updated_credentials)
    sim.advance_clock(2 * 3600 + 60)
    assert council.account_stats().followers == 1241
    assert calls_to(sim, "com.atproto.server.refreshSession") == 1
    assert calls_to(sim, "com.atproto.server.createSession") == 1
    assert council.updated_credentials["accessJwt"] != old["accessJwt"]
    assert council.updated_credentials["refreshJwt"] != old["refreshJwt"]


def test_expired_token_answer_is_renewed_and_retried(sim, council):
    council.whoami()
    sim.fault("bsky", "expired_token", path="/xrpc/app.bsky.actor.getProfile")
    assert council.account_stats().followers == 1241
    assert calls_to(sim, "com.atproto.server.refreshSession") == 1


def test_a_refresh_token_spent_by_another_worker_falls_back_to_a_new_session(sim, council):
    council.whoami()
    other = BlueskyConnector(base_url=f"{sim.url}/bsky", credentials=dict(council.updated_credentials))
    sim.advance_clock(2 * 3600 + 60)
    other.account_stats()  # spends the shared refresh token
    assert council.account_stats().followers == 1241
    assert calls_to(sim, "com.atproto.server.createSession") == 2


def test_a_session_that_cannot_be_renewed_is_auth_expired(sim, council):
    council.whoami()
    sim.fault("bsky", "expired_token", times=0)
    with pytest.raises(AuthExpired) as caught:
        council.account_stats()
    assert caught.value.permanent
    for secret in (council.credentials["accessJwt"], council.credentials["refreshJwt"], council.credentials["app_password"]):
        assert secret not in caught.value.message


def test_a_revoked_app_password_is_auth_expired(sim):
    connector = BlueskyConnector(base_url=f"{sim.url}/bsky",
                                 credentials={"identifier": "democouncil.bsky.social", "app_password": "revoked-0000-0000-0000"})
    with pytest.raises(AuthExpired) as caught:
        connector.fetch_inbound({})
    assert "revoked-0000-0000-0000" not in caught.value.message


def test_an_unknown_token_is_auth_expired(sim):
    connector = BlueskyConnector(base_url=f"{sim.url}/bsky", credentials={"did": COUNCIL_DID, "accessJwt": "a.b.c"})
    with pytest.raises(AuthExpired):
        connector.account_stats()


def test_429_is_rate_limited_and_the_next_call_waits_without_asking(sim, council):
    council.whoami()
    sim.fault("bsky", "rate_limit", reset_in=600)
    with pytest.raises(RateLimited) as caught:
        council.account_stats()
    assert abs(caught.value.reset_at - (datetime.now(UTC) + timedelta(seconds=600))) < timedelta(seconds=10)
    before = len(sim.calls("bsky"))
    with pytest.raises(RateLimited):
        council.fetch_inbound({})
    assert len(sim.calls("bsky")) == before


def test_server_errors_and_timeouts_are_transient(sim, council):
    council.whoami()
    sim.fault("bsky", "server_error")
    with pytest.raises(TransientError):
        council.account_stats()
    impatient = BlueskyConnector(base_url=f"{sim.url}/bsky", credentials=dict(council.updated_credentials), timeout=0.2)
    sim.fault("bsky", "slow", delay=0.8)
    answered = calls_to(sim, "app.bsky.actor.getProfile")
    with pytest.raises(TransientError):
        impatient.account_stats()
    # Let the slow request finish here, not in the next test's freshly reset simulator.
    deadline = time.monotonic() + 5
    while calls_to(sim, "app.bsky.actor.getProfile") == answered and time.monotonic() < deadline:
        time.sleep(0.05)


def test_unreachable_service_is_transient(council):
    connector = BlueskyConnector(base_url="http://127.0.0.1:9/bsky", credentials=dict(COUNCIL["credentials"]), timeout=1)
    with pytest.raises(TransientError):
        connector.whoami()


def test_duplicate_answer_is_a_duplicate_post(sim, council):
    council.whoami()
    sim.fault("bsky", "duplicate", path="/xrpc/com.atproto.repo.createRecord")
    with pytest.raises(DuplicatePost):
        council.publish(text="Same again")


def test_validate_text_uses_the_bluesky_rules(council):
    assert council.validate_text("a" * 300).valid and not council.validate_text("a" * 301).valid


def _cid(sim, uri: str) -> str:
    return sim.state()["bsky"]["records"][uri]["cid"]
