"""Presence: who is looking at (or replying to) a conversation right now, so two agents don't answer one person.

Layout (Redis): one sorted set per conversation, `<prefix>:<conversation id>`, whose members are
"<user id>:<state>:<name>" and whose scores are the moments those entries expire (Unix seconds).
A touch removes the person's other entries and adds the new one; a read trims the expired entries
and returns the rest. Many conversations are read in one pipelined round trip (no SCAN, no KEYS).
Per-field expiry inside a hash would be neater but needs Redis 7.4; scores as expiry times work on
any Redis. The key itself expires too, so a conversation nobody looks at leaves nothing behind.

Conversation ids are unique across organisations, and callers only touch or read conversations
they have already scoped to the member (views use get_visible_or_404 / a visible_to queryset), so
the key needs no organisation.

Without REDIS_URL (`make run` on a bare machine: SQLite and the filesystem broker) presence falls
back to Django's cache. This project does not configure CACHES, so that is Django's default
per-process memory cache: under gunicorn's two workers a colleague shows up only when both
people's requests reach the same worker process, and a read-modify-write of the cached entry can
lose a touch made at the same instant. Presence is a courtesy hint, never a lock, so the fallback
degrades to "sometimes not shown" rather than to anything wrong; set REDIS_URL (or a shared CACHES
backend) wherever several people work the inbox.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

VIEWING = "viewing"
REPLYING = "replying"
STATES = (VIEWING, REPLYING)
# A page that stops sending heartbeats (every ~8 s) drops out after this many seconds.
EXPIRY_SECONDS = 20
NAME_MAX = 80

log = logging.getLogger(__name__)


def _prefix() -> str:
    # Tests set PRESENCE_KEY_PREFIX so parallel runs on one Redis never see each other's keys.
    return getattr(settings, "PRESENCE_KEY_PREFIX", "presence")


def _key(conversation_id: int) -> str:
    return f"{_prefix()}:{int(conversation_id)}"


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, decode_responses=True)


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    return _client(url) if url else None


def _redis_errors() -> tuple[type[Exception], ...]:
    import redis

    return (redis.RedisError, OSError)


def _display_name(user) -> str:
    return (getattr(user, "full_name", "") or getattr(user, "email", "") or f"Member {user.pk}")[:NAME_MAX]


def presence_touch(conversation_id: int, user, state: str = VIEWING, *, now: float | None = None) -> None:
    """Records that `user` is viewing or replying to the conversation, for the next EXPIRY_SECONDS."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    now = time.time() if now is None else now
    expires = now + EXPIRY_SECONDS
    name = _display_name(user)
    client = _redis()
    if client is None:
        _cache_touch(conversation_id, user.pk, state, name, expires, now)
        return
    key = _key(conversation_id)
    pipe = client.pipeline(transaction=True)
    pipe.zrem(key, *(f"{user.pk}:{s}:{name}" for s in STATES))
    pipe.zadd(key, {f"{user.pk}:{state}:{name}": expires})
    pipe.zremrangebyscore(key, "-inf", now)
    # The whole key goes a little after its last entry would; real seconds, whatever `now` says.
    pipe.expire(key, EXPIRY_SECONDS + 5)
    try:
        pipe.execute()
    except _redis_errors() as exc:
        # A hint, not a lock: a Redis outage must not break the page that sends heartbeats.
        log.warning("presence: could not record a touch: %s", exc)


def presence_leave(conversation_id: int, user) -> None:
    """Drops the person at once (the page was closed), instead of waiting for the expiry."""
    client = _redis()
    name = _display_name(user)
    if client is None:
        entries = cache.get(_key(conversation_id)) or {}
        entries.pop(user.pk, None)
        cache.set(_key(conversation_id), entries, EXPIRY_SECONDS + 5)
        return
    try:
        client.zrem(_key(conversation_id), *(f"{user.pk}:{s}:{name}" for s in STATES))
    except _redis_errors() as exc:
        log.warning("presence: could not record a leave: %s", exc)


def presence_for(conversation_ids, *, now: float | None = None) -> dict[int, list[dict]]:
    """{conversation id: [{"user_id", "name", "state"}, ...]} for those with anyone present, in one round trip.

    One entry per person; "replying" wins over "viewing" when both are live (two tabs).
    """
    ids = sorted({int(i) for i in conversation_ids})
    if not ids:
        return {}
    now = time.time() if now is None else now
    client = _redis()
    if client is None:
        return _cache_for(ids, now)
    pipe = client.pipeline(transaction=False)
    for pk in ids:
        key = _key(pk)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrangebyscore(key, now, "+inf")
    try:
        results = pipe.execute()
    except _redis_errors() as exc:
        log.warning("presence: could not read: %s", exc)
        return {}
    found: dict[int, list[dict]] = {}
    for pk, members in zip(ids, results[1::2], strict=True):
        people: dict[int, dict] = {}
        for member in members:
            user_id, state, name = _parse(member)
            if user_id is None:
                continue
            if user_id not in people or state == REPLYING:
                people[user_id] = {"user_id": user_id, "name": name, "state": state}
        if people:
            found[pk] = sorted(people.values(), key=lambda p: (p["name"].lower(), p["user_id"]))
    return found


def _parse(member: str) -> tuple[int | None, str, str]:
    parts = member.split(":", 2)
    if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in STATES:
        return None, "", ""
    return int(parts[0]), parts[1], parts[2]


# ---------------------------------------------------------------------- fallback: Django's cache
def _cache_touch(conversation_id: int, user_id: int, state: str, name: str, expires: float, now: float) -> None:
    key = _key(conversation_id)
    entries = {uid: e for uid, e in (cache.get(key) or {}).items() if e[0] > now}
    entries[user_id] = (expires, state, name)
    cache.set(key, entries, EXPIRY_SECONDS + 5)


def _cache_for(ids: list[int], now: float) -> dict[int, list[dict]]:
    stored = cache.get_many([_key(pk) for pk in ids])
    found: dict[int, list[dict]] = {}
    for pk in ids:
        entries = stored.get(_key(pk)) or {}
        people = [
            {"user_id": uid, "name": name, "state": state}
            for uid, (expires, state, name) in entries.items()
            if expires > now
        ]
        if people:
            found[pk] = sorted(people, key=lambda p: (p["name"].lower(), p["user_id"]))
    return found


def describe(people: list[dict], exclude_user_id: int | None = None) -> str:
    """ "Sam is viewing", "Sam is replying; Alex is viewing" — what the list and the conversation show."""
    others = [p for p in people if p["user_id"] != exclude_user_id]
    return "; ".join(f"{p['name']} is {p['state']}" for p in others)
