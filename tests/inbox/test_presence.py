"""Presence: short-lived "viewing"/"replying" entries in Redis (or Django's cache without Redis), and the heartbeat endpoint."""

from __future__ import annotations

import time
import uuid

import pytest

from inbox import presence
from tests.inbox_factories import make_channel, make_conversation


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    # Parallel test runs share one Redis; their presence keys must not meet.
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex}"


@pytest.fixture(params=["redis", "cache"])
def backend(request, settings):
    """Both stores: Redis (REDIS_URL, as in production) and the Django-cache fallback (no REDIS_URL)."""
    if request.param == "redis":
        assert settings.REDIS_URL, "the tests run with REDIS_URL set (make test sets it)"
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture
def people(personas):
    sam, alex = personas.a.user("admin"), personas.a.user("agent")
    sam.full_name, alex.full_name = "Sam Admin", "Alex Agent"
    sam.save()
    alex.save()
    return sam, alex


def test_touch_then_read_shows_who_and_what(backend, people):
    sam, alex = people
    presence.presence_touch(101, sam, "viewing")
    presence.presence_touch(101, alex, "replying")
    assert presence.presence_for([101]) == {
        101: [
            {"user_id": alex.pk, "name": "Alex Agent", "state": "replying"},
            {"user_id": sam.pk, "name": "Sam Admin", "state": "viewing"},
        ]
    }
    assert presence.describe(presence.presence_for([101])[101], exclude_user_id=sam.pk) == "Alex Agent is replying"


def test_entries_expire_after_the_short_expiry(backend, people):
    sam, _ = people
    start = time.time()
    presence.presence_touch(102, sam, "viewing", now=start)
    assert presence.presence_for([102], now=start + presence.EXPIRY_SECONDS - 1)
    assert presence.presence_for([102], now=start + presence.EXPIRY_SECONDS + 1) == {}


def test_a_new_state_replaces_the_old_one(backend, people):
    sam, _ = people
    presence.presence_touch(103, sam, "replying")
    presence.presence_touch(103, sam, "viewing")
    assert presence.presence_for([103]) == {103: [{"user_id": sam.pk, "name": "Sam Admin", "state": "viewing"}]}


def test_heartbeats_keep_the_entry_alive(backend, people):
    sam, _ = people
    start = time.time()
    for beat in range(4):
        presence.presence_touch(104, sam, "viewing", now=start + beat * 8)
    assert presence.presence_for([104], now=start + 24 + presence.EXPIRY_SECONDS - 1)


def test_leave_removes_at_once(backend, people):
    sam, alex = people
    presence.presence_touch(105, sam, "viewing")
    presence.presence_touch(105, alex, "viewing")
    presence.presence_leave(105, sam)
    assert [p["user_id"] for p in presence.presence_for([105])[105]] == [alex.pk]


def test_presence_for_many_conversations_in_one_call(backend, people):
    sam, alex = people
    for pk in range(200, 260):
        presence.presence_touch(pk, sam if pk % 2 else alex, "viewing")
    found = presence.presence_for(range(190, 270))
    assert sorted(found) == list(range(200, 260))
    assert found[201][0]["user_id"] == sam.pk and found[200][0]["user_id"] == alex.pk
    assert presence.presence_for([]) == {}


def test_unknown_state_is_refused(backend, people):
    with pytest.raises(ValueError):
        presence.presence_touch(106, people[0], "typing-furiously")


def test_redis_layout_is_one_sorted_set_per_conversation_that_expires(settings, people):
    import redis

    sam, _ = people
    presence.presence_touch(107, sam, "viewing")
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    key = f"{settings.PRESENCE_KEY_PREFIX}:107"
    assert client.type(key) == "zset"
    assert client.zrange(key, 0, -1) == [f"{sam.pk}:viewing:Sam Admin"]
    assert 0 < client.ttl(key) <= presence.EXPIRY_SECONDS + 5


def test_unreachable_redis_degrades_to_nobody_present(settings, people):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    presence.presence_touch(108, people[0], "viewing")  # logged, not raised
    assert presence.presence_for([108]) == {}


# ------------------------------------------------------------------------------------------ endpoint
def _url(pk: int) -> str:
    return f"/inbox/{pk}/presence/"


def test_heartbeat_records_presence_and_answers_who_else_is_there(personas, login, client, people):
    sam, alex = people
    conversation = make_conversation(personas.a)  # Customer Services: the agent's department
    presence.presence_touch(conversation.pk, sam, "viewing")
    login(personas.a.members["agent"])
    response = client.post(_url(conversation.pk), {"state": "replying"})
    assert response.status_code == 200
    assert response.json() == {
        "others": [{"user_id": sam.pk, "name": "Sam Admin", "state": "viewing"}],
        "text": "Sam Admin is viewing",
    }
    assert {"user_id": alex.pk, "name": "Alex Agent", "state": "replying"} in presence.presence_for([conversation.pk])[
        conversation.pk
    ]


def test_heartbeat_leave_drops_the_person(personas, login, client, people):
    conversation = make_conversation(personas.a)
    login(personas.a.members["agent"])
    client.post(_url(conversation.pk), {"state": "viewing"})
    assert presence.presence_for([conversation.pk])
    client.post(_url(conversation.pk), {"leave": "1"})
    assert presence.presence_for([conversation.pk]) == {}


def test_heartbeat_for_another_organisations_conversation_is_404(personas, login, client):
    conversation = make_conversation(personas.a)
    login(personas.outsider)
    assert client.post(_url(conversation.pk), {"state": "viewing"}).status_code == 404
    assert presence.presence_for([conversation.pk]) == {}


def test_heartbeat_for_another_departments_conversation_is_404(personas, login, client):
    conversation = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    login(personas.a.members["agent"])
    assert client.post(_url(conversation.pk), {"state": "viewing"}).status_code == 404
    assert client.post(_url(999999999), {"state": "viewing"}).status_code == 404


def test_heartbeat_bad_state_is_400_and_get_is_405(personas, login, client):
    conversation = make_conversation(personas.a)
    login(personas.a.members["agent"])
    response = client.post(_url(conversation.pk), {"state": "dancing"})
    assert response.status_code == 400 and "viewing or replying" in response.json()["errors"]["state"]
    assert client.get(_url(conversation.pk)).status_code == 405


def test_viewer_who_cannot_reply_is_only_ever_viewing(personas, login, client):
    viewer = personas.a.members["viewer"]  # Communications
    conversation = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    login(viewer)
    assert client.post(_url(conversation.pk), {"state": "replying"}).status_code == 200
    assert presence.presence_for([conversation.pk])[conversation.pk][0]["state"] == "viewing"
