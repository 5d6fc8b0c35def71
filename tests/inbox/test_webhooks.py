"""Webhook receivers: Meta's verify-token handshake and X-Hub-Signature-256, X's CRC and signature; deliveries go
through the same ingestion as polling; bad signatures are refused and logged, garbage never answers 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from channels_app import services as channel_services
from inbox.ingest import ingest
from inbox.models import Conversation, Message, QuarantinedItem
from inbox.views.webhooks import hub_signature

APP_SECRET = "test-app-secret"
VERIFY = "test-verify-token"
X_SECRET = "test-consumer-secret"
PAGE_ID = "1029384756"
IG_ID = "17841400000000001"
X_ID = "1496010482915196929"


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.FACEBOOK_APP_SECRET = APP_SECRET
    settings.FACEBOOK_WEBHOOK_VERIFY_TOKEN = VERIFY
    settings.X_CONSUMER_SECRET = X_SECRET


def connect(personas, platform: str, account_id: str):
    return channel_services.channel_connect(
        actor=None, department=personas.a.departments["Customer Services"], platform=platform, account_id=account_id,
        handle=f"@{platform}-account", credentials={"page_access_token": "t", "access_token": "t"},
    )  # fmt: skip


def post_meta(client, payload, *, secret: str = APP_SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(reverse("inbox:webhook_facebook"), body, content_type="application/json",
                       headers={"X-Hub-Signature-256": hub_signature(secret, body)})


def x_sign(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_x(client, payload, *, secret: str = X_SECRET, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(reverse("inbox:webhook_x"), body, content_type="application/json",
                       headers={"x-twitter-webhooks-signature": x_sign(secret, body)})


def feed_comment(comment_id: str, text: str, *, post_id: str = f"{PAGE_ID}_555", author: str = "4455") -> dict:
    return {"field": "feed", "value": {
        "item": "comment", "verb": "add", "comment_id": comment_id, "post_id": post_id, "parent_id": post_id,
        "from": {"id": author, "name": "Casey Citizen"}, "message": text, "created_time": 1772445600,
    }}  # fmt: skip


# ------------------------------------------------------------------------------------------------ Meta
def test_meta_handshake_echoes_the_challenge_only_for_our_verify_token(client):
    url = reverse("inbox:webhook_facebook")
    ok = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    wrong = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403 and wrong.json()["error"]


def test_meta_handshake_is_refused_while_no_verify_token_is_configured(client, settings):
    settings.FACEBOOK_WEBHOOK_VERIFY_TOKEN = ""
    response = client.get(reverse("inbox:webhook_facebook"), {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert response.status_code == 403


def test_a_signed_page_comment_and_message_are_ingested(client, personas):
    channel = connect(personas, "facebook", PAGE_ID)
    payload = {"object": "page", "entry": [{
        "id": PAGE_ID, "time": 1772445601,
        "changes": [feed_comment(f"{PAGE_ID}_555_1", "The park gate is broken")],
        "messaging": [{"sender": {"id": "7788"}, "recipient": {"id": PAGE_ID}, "timestamp": 1772445602000,
                       "message": {"mid": "m_abc", "text": "Can I book a bulky waste collection?"}},
                      {"sender": {"id": PAGE_ID}, "recipient": {"id": "7788"}, "timestamp": 1772445603000,
                       "message": {"mid": "m_echo", "text": "Yes", "is_echo": True}}],
    }]}  # fmt: skip
    response = post_meta(client, payload)
    assert response.status_code == 200 and response.json()["created"] == 2
    comment = Message.objects.get(channel=channel, platform_message_id=f"{PAGE_ID}_555_1")
    assert comment.conversation.key == f"{PAGE_ID}_555" and comment.kind == "comment"
    assert comment.author.name == "Casey Citizen"
    dm = Message.objects.get(channel=channel, platform_message_id="m_abc")
    assert dm.conversation.kind == "private" and dm.conversation.key == "user:7788"
    assert not Message.objects.filter(platform_message_id="m_echo").exists()
    # Delivered again (Meta retries): stored once.
    assert post_meta(client, payload).json() == {"created": 0, "duplicates": 2, "quarantined": 0}


def test_a_pushed_dm_joins_the_conversation_polling_started(client, personas):
    channel = connect(personas, "facebook", PAGE_ID)
    from datetime import UTC, datetime

    from channels_app.connectors.base import InboundItem

    ingest(channel, [InboundItem(platform_id="m_1", kind="dm", text="hello", created_at=datetime(2026, 3, 2, tzinfo=UTC),
                                 author_id="7788", author_handle="Casey", conversation_key="t_10001")])
    post_meta(client, {"object": "page", "entry": [{"id": PAGE_ID, "messaging": [
        {"sender": {"id": "7788"}, "recipient": {"id": PAGE_ID}, "timestamp": 1772445602000, "message": {"mid": "m_2", "text": "anyone?"}}]}]})
    assert Message.objects.get(platform_message_id="m_2").conversation.key == "t_10001"
    assert Conversation.objects.filter(channel=channel).count() == 1


def test_a_signed_instagram_comment_is_ingested_for_the_instagram_channel(client, personas):
    channel = connect(personas, "instagram", IG_ID)
    payload = {"object": "instagram", "entry": [{"id": IG_ID, "time": 1772445601, "changes": [{"field": "comments", "value": {
        "id": "17890000001", "text": "When does the pool reopen?", "from": {"id": "5566", "username": "casey"},
        "media": {"id": "18000000009", "media_product_type": "FEED"}}}]}]}  # fmt: skip
    assert post_meta(client, payload).json()["created"] == 1
    message = Message.objects.get(channel=channel)
    assert message.conversation.key == "18000000009" and message.author.handle == "casey"


def test_a_bad_meta_signature_is_refused_logged_and_writes_nothing(client, personas, caplog):
    connect(personas, "facebook", PAGE_ID)
    payload = {"object": "page", "entry": [{"id": PAGE_ID, "changes": [feed_comment("c1", "hi")]}]}
    audit_before = AuditEvent.objects.count()
    with caplog.at_level(logging.WARNING, logger="inbox.views.webhooks"):
        forged = post_meta(client, payload, secret="not-the-secret")
        unsigned = client.post(reverse("inbox:webhook_facebook"), json.dumps(payload), content_type="application/json")
    assert forged.status_code == 403 and unsigned.status_code == 403
    assert "signature" in forged.json()["error"]
    assert sum("Facebook webhook refused" in r.getMessage() for r in caplog.records) == 2
    assert not Message.objects.exists() and AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b"\xff\xfe", b'{"object": "page", "entry": 5}',
                                 b'{"object": "page", "entry": [{"id": "1029384756", "changes": "x", "messaging": [7]}]}',
                                 b'{"object": "page", "entry": [{"id": {"a": 1}}]}'])
def test_signed_garbage_is_never_a_server_error(client, personas, raw):
    connect(personas, "facebook", PAGE_ID)
    response = post_meta(client, None, raw=raw)
    assert response.status_code in (200, 400)


def test_an_unreadable_signed_event_is_quarantined_and_the_rest_goes_in(client, personas):
    channel = connect(personas, "facebook", PAGE_ID)
    broken = {"field": "feed", "value": {"item": "comment", "verb": "add", "message": "no id", "created_time": 1772445600}}
    payload = {"object": "page", "entry": [{"id": PAGE_ID, "changes": [broken, feed_comment("c2", "fine")]}]}
    assert post_meta(client, payload).json() == {"created": 1, "duplicates": 0, "quarantined": 1}
    item = QuarantinedItem.objects.get(channel=channel)
    assert item.source == "webhook" and item.raw == broken and "comment_id" in item.error


# --------------------------------------------------------------------------------------------------- X
def test_x_crc_answers_with_the_hmac_of_the_token(client):
    response = client.get(reverse("inbox:webhook_x"), {"crc_token": "challenge-123"})
    expected = base64.b64encode(hmac.new(X_SECRET.encode(), b"challenge-123", hashlib.sha256).digest()).decode()
    assert response.status_code == 200 and response.json() == {"response_token": f"sha256={expected}"}
    assert client.get(reverse("inbox:webhook_x")).status_code == 400


def test_x_refuses_everything_without_a_consumer_secret(client, settings):
    settings.X_CONSUMER_SECRET = ""
    assert client.get(reverse("inbox:webhook_x"), {"crc_token": "c"}).status_code == 403
    body = json.dumps({"for_user_id": X_ID}).encode()
    response = client.post(reverse("inbox:webhook_x"), body, content_type="application/json",
                           headers={"x-twitter-webhooks-signature": x_sign("", body)})
    assert response.status_code == 403


def tweet(tweet_id: str, text: str, *, user: str = "1501384926170447873", reply_to: str = "") -> dict:
    return {"id_str": tweet_id, "text": text, "created_at": "Mon Mar 02 10:00:00 +0000 2026",
            "in_reply_to_status_id_str": reply_to or None,
            "user": {"id_str": user, "screen_name": "citizen", "name": "Casey Citizen",
                     "profile_image_url_https": "https://pbs.example/casey.jpg"}}


def test_x_deliveries_thread_like_polling_and_skip_our_own_posts(client, personas):
    channel = connect(personas, "x", X_ID)
    payload = {
        "for_user_id": X_ID,
        "tweet_create_events": [
            tweet("2001", "@democouncil bins?"),
            tweet("2002", "@citizen we'll check", user=X_ID, reply_to="2001"),
            tweet("2003", "@democouncil still nothing", reply_to="2001"),
        ],
        "direct_message_events": [{"type": "message_create", "id": "3001", "created_timestamp": "1772445600000",
                                   "message_create": {"target": {"recipient_id": X_ID}, "sender_id": "1501384926170447873",
                                                      "message_data": {"text": "my address is 4 Elm Road"}}}],
        "users": {"1501384926170447873": {"screen_name": "citizen", "name": "Casey Citizen"}},
    }  # fmt: skip
    assert post_x(client, payload).json()["created"] == 3
    public = Conversation.objects.get(channel=channel, kind="public")
    assert public.key == "2001" and public.message_count == 2
    assert not Message.objects.filter(platform_message_id="2002").exists()
    private = Conversation.objects.get(channel=channel, kind="private")
    assert private.key == f"{X_ID}-1501384926170447873"  # as GET /2/dm_events names it


def test_a_bad_x_signature_is_refused(client, personas, caplog):
    connect(personas, "x", X_ID)
    with caplog.at_level(logging.WARNING, logger="inbox.views.webhooks"):
        response = post_x(client, {"for_user_id": X_ID, "tweet_create_events": [tweet("1", "hi")]}, secret="wrong")
    assert response.status_code == 403 and not Message.objects.exists()
    assert any("X webhook refused" in r.getMessage() for r in caplog.records)
