"""The simulator's Bluesky answers like a PDS: the recorded bodies and lexicons in shared/platform-fixtures/bluesky
are the reference for shapes; sessions, cursors, rate limits, faults and the public page are checked over HTTP."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import requests

from simulator.platforms.bluesky import CITIZEN_DID, COUNCIL_DID, DEMO_ACCOUNTS, POLICE_DID

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platform-fixtures" / "bluesky"
LEXICONS = FIXTURES / "bluesky-social__atproto" / "lexicons"
DART = FIXTURES / "myConsciousness__atproto.dart" / "packages"
CITIZEN = {"Authorization": "Bearer sim-citizen-token"}
COUNCIL_PASSWORD = DEMO_ACCOUNTS[0]["credentials"]["app_password"]


def fixture(relative: str) -> dict:
    path = DART / relative
    assert path.is_file(), f"Recorded body {path} is missing: shared/platform-fixtures must sit beside the checkout."
    return json.loads(path.read_text(encoding="utf-8"))


def lexicon(nsid: str) -> dict:
    path = LEXICONS.joinpath(*nsid.split(".")).with_suffix(".json")
    assert path.is_file(), f"Lexicon {path} is missing."
    return json.loads(path.read_text(encoding="utf-8"))["defs"]


def required(nsid: str, definition: str = "main") -> set[str]:
    defs = lexicon(nsid)[definition]
    schema = defs.get("output", {}).get("schema", defs) if definition == "main" else defs
    return set(schema.get("required", []))


def xrpc(sim, method: str, nsid: str, *, token: str = "", headers: dict | None = None, **kwargs) -> requests.Response:
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{sim.url}/bsky/xrpc/{nsid}", headers=headers, timeout=5, **kwargs)


def login(sim, identifier: str = "democouncil.bsky.social", password: str = COUNCIL_PASSWORD) -> dict:
    response = xrpc(sim, "POST", "com.atproto.server.createSession", json={"identifier": identifier, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def citizen_post(sim, record: dict) -> dict:
    response = xrpc(sim, "POST", "com.atproto.repo.createRecord", headers=CITIZEN,
                    json={"repo": CITIZEN_DID, "collection": record.get("$type", "app.bsky.feed.post"), "record": record})
    assert response.status_code == 200, response.text
    return response.json()


def mention(text: str, handle: str, did: str) -> dict:
    start = text.encode().index(f"@{handle}".encode())
    return {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-05T10:00:00.000Z", "facets": [
        {"index": {"byteStart": start, "byteEnd": start + len(handle) + 1},
         "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]}]}


def council_post_uri(sim) -> str:
    records = sim.state()["bsky"]["records"]
    return next(uri for uri, r in records.items() if r["did"] == COUNCIL_DID and r["collection"] == "app.bsky.feed.post")


# ------------------------------------------------------------------------------------------ sessions
def test_create_session_answers_with_the_recorded_session_shape(sim):
    recorded = fixture("atproto_core/test/src/sessions/data/create_session.json")
    session = login(sim)
    # `status` appears only for inactive accounts.
    assert set(recorded) - {"status"} <= set(session)
    assert required("com.atproto.server.createSession") <= set(session)
    assert session["did"] == COUNCIL_DID and session["handle"] == "democouncil.bsky.social" and session["active"] is True
    assert set(session["didDoc"]) == set(recorded["didDoc"])
    assert session["didDoc"]["service"][0]["serviceEndpoint"] == f"{sim.url}/bsky"


def test_session_tokens_are_jwt_shaped_with_subject_and_expiry(sim):
    session = login(sim)
    header, payload, signature = session["accessJwt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == COUNCIL_DID
    assert 7100 < claims["exp"] - time.time() < 7300
    assert session["refreshJwt"].count(".") == 2 and session["refreshJwt"] != session["accessJwt"]


def test_create_session_accepts_the_did_as_identifier(sim):
    assert login(sim, identifier=COUNCIL_DID)["handle"] == "democouncil.bsky.social"


def test_wrong_app_password_is_authentication_required(sim):
    response = xrpc(sim, "POST", "com.atproto.server.createSession",
                    json={"identifier": "democouncil.bsky.social", "password": "wrong-wrong-wrong-wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}


def test_get_session_answers_with_the_recorded_shape(sim):
    recorded = fixture("atproto/test/src/services/suite/com/atproto/server/getSession.json")
    response = xrpc(sim, "GET", "com.atproto.server.getSession", token=login(sim)["accessJwt"])
    assert response.status_code == 200
    assert set(recorded) - {"status"} <= set(response.json())


def test_refresh_session_returns_a_new_pair_and_the_old_refresh_token_is_single_use(sim):
    first = login(sim)
    refreshed = xrpc(sim, "POST", "com.atproto.server.refreshSession", token=first["refreshJwt"])
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert required("com.atproto.server.refreshSession") <= set(body)
    assert set(fixture("atproto_core/test/src/sessions/data/refresh_session.json")) - {"status"} <= set(body)
    assert body["refreshJwt"] != first["refreshJwt"] and body["accessJwt"] != first["accessJwt"]

    again = xrpc(sim, "POST", "com.atproto.server.refreshSession", token=first["refreshJwt"])
    assert again.status_code == 400 and again.json()["error"] == "ExpiredToken"
    assert xrpc(sim, "GET", "com.atproto.server.getSession", token=body["accessJwt"]).status_code == 200


def test_access_token_expires_after_two_hours_of_simulator_time(sim):
    session = login(sim)
    sim.advance_clock(2 * 3600 + 1)
    expired = xrpc(sim, "GET", "com.atproto.server.getSession", token=session["accessJwt"])
    assert expired.status_code == 400
    assert expired.json() == {"error": "ExpiredToken", "message": "Token has expired"}
    assert xrpc(sim, "POST", "com.atproto.server.refreshSession", token=session["refreshJwt"]).status_code == 200


def test_delete_session_revokes_the_refresh_token(sim):
    session = login(sim)
    assert xrpc(sim, "POST", "com.atproto.server.deleteSession", token=session["refreshJwt"]).status_code == 200
    assert xrpc(sim, "POST", "com.atproto.server.refreshSession", token=session["refreshJwt"]).status_code == 400


@pytest.mark.parametrize(
    "token, status, error",
    [("", 401, "AuthenticationRequired"), ("not-a-token", 401, "InvalidToken")],
)
def test_requests_without_a_valid_token_are_refused(sim, token, status, error):
    response = xrpc(sim, "GET", "app.bsky.notification.listNotifications", token=token)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["message"]


def test_refresh_token_is_not_accepted_as_an_access_token(sim):
    response = xrpc(sim, "GET", "com.atproto.server.getSession", token=login(sim)["refreshJwt"])
    assert response.status_code == 400
    assert response.json() == {"error": "InvalidToken", "message": "Bad token scope"}


def test_citizen_token_is_always_accepted_and_the_citizen_can_sign_in(sim):
    response = xrpc(sim, "GET", "com.atproto.server.getSession", headers=CITIZEN)
    assert response.json()["handle"] == "citizen.bsky.social"
    assert login(sim, "citizen.bsky.social", "sim-citizen-password")["did"] == CITIZEN_DID


def test_demo_accounts_sign_in_with_their_app_passwords(sim):
    assert [a["handle"] for a in DEMO_ACCOUNTS] == ["democouncil.bsky.social", "demopolice.bsky.social"]
    for account in DEMO_ACCOUNTS:
        assert account["account_id"].startswith("did:plc:") and account["display_name"]
        credentials = account["credentials"]
        assert login(sim, credentials["identifier"], credentials["app_password"])["did"] == account["account_id"]


def test_resolve_handle_gives_the_did_or_handle_not_found(sim):
    found = xrpc(sim, "GET", "com.atproto.identity.resolveHandle", params={"handle": "citizen.bsky.social"})
    assert found.json() == {"did": CITIZEN_DID}
    missing = xrpc(sim, "GET", "com.atproto.identity.resolveHandle", params={"handle": "nobody.bsky.social"})
    assert missing.status_code == 400 and missing.json()["error"] == "HandleNotFound"


def test_unknown_method_is_not_implemented(sim):
    response = xrpc(sim, "GET", "app.bsky.unspecced.whatever")
    assert response.status_code == 501 and response.json()["error"] == "MethodNotImplemented"


def test_a_query_called_with_post_is_an_invalid_request(sim):
    response = xrpc(sim, "POST", "app.bsky.actor.getProfile", params={"actor": COUNCIL_DID})
    assert response.status_code == 400 and response.json()["error"] == "InvalidRequest"


# ---------------------------------------------------------------------------------- notifications
def test_list_notifications_matches_the_recorded_body(sim):
    recorded = fixture("bluesky/test/src/services/suite/app/bsky/notification/listNotifications.json")
    recorded_reply = next(n for n in recorded["notifications"] if n["reason"] == "reply")
    body = xrpc(sim, "GET", "app.bsky.notification.listNotifications", token=login(sim)["accessJwt"]).json()
    assert required("app.bsky.notification.listNotifications") <= set(body)
    reply = next(n for n in body["notifications"] if n["reason"] == "reply")
    assert set(recorded_reply) == set(reply)
    assert required("app.bsky.notification.listNotifications", "notification") <= set(reply)
    assert set(recorded_reply["author"]) <= set(reply["author"])
    assert set(recorded_reply["record"]["reply"]) == set(reply["record"]["reply"])
    assert reply["reasonSubject"] == reply["record"]["reply"]["parent"]["uri"]
    assert {n["reason"] for n in body["notifications"]} == {"reply", "follow", "like"}


def test_mentions_replies_and_quotes_become_notifications_of_the_right_reason(sim):
    post = council_post_uri(sim)
    cid = sim.state()["bsky"]["records"][post]["cid"]
    citizen_post(sim, mention("Hello @democouncil.bsky.social", "democouncil.bsky.social", COUNCIL_DID))
    citizen_post(sim, {"text": "Quoting this", "createdAt": "2026-01-05T10:00:00Z",
                  "embed": {"$type": "app.bsky.embed.record", "record": {"uri": post, "cid": cid}}})
    body = xrpc(sim, "GET", "app.bsky.notification.listNotifications", token=login(sim)["accessJwt"],
                params={"reasons": ["mention", "quote"]}).json()
    assert [n["reason"] for n in body["notifications"]] == ["quote", "mention"]
    assert body["notifications"][0]["reasonSubject"] == post


def test_notifications_come_newest_first_in_cursor_pages_without_repeats(sim):
    for number in range(5):
        citizen_post(sim, mention(f"Note {number} for @democouncil.bsky.social", "democouncil.bsky.social", COUNCIL_DID))
    token = login(sim)["accessJwt"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "reasons": "mention", **({"cursor": cursor} if cursor else {})}
        body = xrpc(sim, "GET", "app.bsky.notification.listNotifications", token=token, params=params).json()
        seen += [n["record"]["text"] for n in body["notifications"]]
        cursor = body.get("cursor")
        if not cursor:
            break
        assert "::" in cursor  # <ms>::<cid>, as the AppView writes it
    assert seen == [f"Note {number} for @democouncil.bsky.social" for number in reversed(range(5))]


def test_update_seen_marks_notifications_read(sim):
    token = login(sim)["accessJwt"]
    assert xrpc(sim, "GET", "app.bsky.notification.getUnreadCount", token=token).json()["count"] == 3
    xrpc(sim, "POST", "app.bsky.notification.updateSeen", token=token, json={"seenAt": "2999-01-01T00:00:00.000Z"})
    body = xrpc(sim, "GET", "app.bsky.notification.listNotifications", token=token).json()
    assert all(n["isRead"] for n in body["notifications"]) and body["seenAt"]


# ---------------------------------------------------------------------------------------- posts
def test_get_posts_matches_the_recorded_post_view_and_counts_reactions(sim):
    recorded = fixture("bluesky/test/src/services/suite/app/bsky/feed/getPosts.json")["posts"][0]
    post = council_post_uri(sim)
    ref = {"uri": post, "cid": sim.state()["bsky"]["records"][post]["cid"]}
    citizen_post(sim, {"$type": "app.bsky.feed.like", "subject": ref, "createdAt": "2026-01-05T10:00:00Z"})
    citizen_post(sim, {"$type": "app.bsky.feed.repost", "subject": ref, "createdAt": "2026-01-05T10:00:00Z"})
    citizen_post(sim, {"text": "Quote", "createdAt": "2026-01-05T10:00:00Z", "embed": {"$type": "app.bsky.embed.record", "record": ref}})

    body = xrpc(sim, "GET", "app.bsky.feed.getPosts", params={"uris": [post, "at://did:plc:none/app.bsky.feed.post/x"]}).json()
    [view] = body["posts"]
    # A threadgate and an embed appear only when the post has them.
    assert set(recorded) - {"threadgate", "embed"} <= set(view)
    assert required("app.bsky.feed.defs", "postView") <= set(view)
    assert set(recorded["author"]) - {"viewer"} <= set(view["author"])
    # The seed has a like by the neighbour and a reply by the citizen.
    assert (view["likeCount"], view["repostCount"], view["replyCount"], view["quoteCount"]) == (2, 1, 1, 1)


def test_get_post_thread_has_the_recorded_thread_shape_with_parent_and_replies(sim):
    recorded = fixture("bluesky/test/src/services/suite/app/bsky/feed/getPostThread.json")["thread"]
    post = council_post_uri(sim)
    reply_uri = next(uri for uri, r in sim.state()["bsky"]["records"].items()
                     if r["did"] == CITIZEN_DID and r["value"].get("reply"))
    thread = xrpc(sim, "GET", "app.bsky.feed.getPostThread", params={"uri": reply_uri}).json()["thread"]
    assert set(recorded) == set(thread)
    assert thread["$type"] == recorded["$type"] == "app.bsky.feed.defs#threadViewPost"
    assert thread["parent"]["post"]["uri"] == post
    root = xrpc(sim, "GET", "app.bsky.feed.getPostThread", params={"uri": post}).json()["thread"]
    assert [r["post"]["uri"] for r in root["replies"]] == [reply_uri]
    missing = xrpc(sim, "GET", "app.bsky.feed.getPostThread", params={"uri": f"at://{COUNCIL_DID}/app.bsky.feed.post/nope"})
    assert missing.status_code == 400 and missing.json()["error"] == "NotFound"


def test_get_profile_counts_followers_follows_and_posts(sim):
    profile = xrpc(sim, "GET", "app.bsky.actor.getProfile", params={"actor": "democouncil.bsky.social"}).json()
    assert {"did", "handle", "displayName", "avatar", "followersCount", "followsCount", "postsCount"} <= set(profile)
    assert (profile["followersCount"], profile["followsCount"], profile["postsCount"]) == (1241, 85, 1)
    citizen_post(sim, {"$type": "app.bsky.graph.follow", "subject": COUNCIL_DID, "createdAt": "2026-01-05T10:00:00Z"})
    assert xrpc(sim, "GET", "app.bsky.actor.getProfile", params={"actor": COUNCIL_DID}).json()["followersCount"] == 1242
    avatar = requests.get(profile["avatar"], timeout=5)
    assert avatar.status_code == 200 and avatar.headers["Content-Type"].startswith("image/")


def test_create_record_answers_like_the_recorded_body_and_delete_removes_it(sim):
    recorded = fixture("atproto/test/src/services/suite/com/atproto/repo/createRecord.json")
    created = citizen_post(sim, {"text": "Hello", "createdAt": "2026-01-05T10:00:00Z"})
    assert set(recorded) <= set(created) and created["cid"].startswith("bafyrei")
    assert created["uri"].startswith(f"at://{CITIZEN_DID}/app.bsky.feed.post/")
    rkey = created["uri"].rsplit("/", 1)[-1]
    assert len(rkey) == 13  # a TID
    record = xrpc(sim, "GET", "com.atproto.repo.getRecord",
                  params={"repo": "citizen.bsky.social", "collection": "app.bsky.feed.post", "rkey": rkey}).json()
    assert record["value"]["$type"] == "app.bsky.feed.post"  # the PDS fills in a missing $type
    deleted = xrpc(sim, "POST", "com.atproto.repo.deleteRecord", headers=CITIZEN,
                   json={"repo": CITIZEN_DID, "collection": "app.bsky.feed.post", "rkey": rkey})
    assert deleted.status_code == 200 and created["uri"] not in sim.state()["bsky"]["records"]


def test_create_record_refuses_text_over_300_graphemes_and_another_accounts_repo(sim):
    too_long = xrpc(sim, "POST", "com.atproto.repo.createRecord", headers=CITIZEN, json={
        "repo": CITIZEN_DID, "collection": "app.bsky.feed.post", "record": {"text": "a" * 301, "createdAt": "2026-01-05T10:00:00Z"}})
    assert too_long.status_code == 400 and too_long.json()["error"] == "InvalidRequest"
    assert "300 graphemes" in too_long.json()["message"]
    not_mine = xrpc(sim, "POST", "com.atproto.repo.createRecord", headers=CITIZEN, json={
        "repo": COUNCIL_DID, "collection": "app.bsky.feed.post", "record": {"text": "hi", "createdAt": "2026-01-05T10:00:00Z"}})
    assert not_mine.status_code == 400


def test_uploaded_blob_embeds_as_an_image_with_alt_text(sim):
    uploaded = xrpc(sim, "POST", "com.atproto.repo.uploadBlob", headers={**CITIZEN, "Content-Type": "image/png"},
                    data=b"\x89PNG fake image")
    blob = uploaded.json()["blob"]
    assert blob["$type"] == "blob" and blob["mimeType"] == "image/png" and blob["size"] == 15
    assert blob["ref"]["$link"].startswith("bafkrei")
    created = citizen_post(sim, {"text": "", "createdAt": "2026-01-05T10:00:00Z",
                            "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "A pothole", "image": blob}]}})
    [view] = xrpc(sim, "GET", "app.bsky.feed.getPosts", params={"uris": created["uri"]}).json()["posts"]
    assert view["embed"]["$type"] == "app.bsky.embed.images#view"
    assert view["embed"]["images"][0]["alt"] == "A pothole"
    assert requests.get(view["embed"]["images"][0]["fullsize"], timeout=5).content == b"\x89PNG fake image"


def test_an_image_embed_must_reference_an_uploaded_blob(sim):
    response = xrpc(sim, "POST", "com.atproto.repo.createRecord", headers=CITIZEN, json={
        "repo": CITIZEN_DID, "collection": "app.bsky.feed.post", "record": {
            "text": "", "createdAt": "2026-01-05T10:00:00Z", "embed": {"$type": "app.bsky.embed.images", "images": [
                {"alt": "", "image": {"$type": "blob", "ref": {"$link": "bafkreinope"}, "mimeType": "image/png", "size": 1}}]}}})
    assert response.status_code == 400 and "blob" in response.json()["message"]


# ----------------------------------------------------------------------------------------- chat
def test_chat_answers_match_the_recorded_convo_bodies(sim):
    recorded_convos = fixture("bluesky/test/src/services/suite/chat/bsky/convo/listConvos.json")
    recorded_messages = fixture("bluesky/test/src/services/suite/chat/bsky/convo/getMessages.json")
    recorded_sent = fixture("bluesky/test/src/services/suite/chat/bsky/convo/sendMessage.json")
    token = login(sim)["accessJwt"]

    convos = xrpc(sim, "GET", "chat.bsky.convo.listConvos", token=token).json()
    [convo] = convos["convos"]
    assert set(recorded_convos["convos"][0]) <= set(convo)
    assert required("chat.bsky.convo.defs", "convoView") <= set(convo)
    assert set(recorded_convos["convos"][0]["members"][0]) <= set(convo["members"][0])
    assert set(recorded_convos["convos"][0]["lastMessage"]) == set(convo["lastMessage"])
    assert convo["unreadCount"] == 1

    sent = xrpc(sim, "POST", "chat.bsky.convo.sendMessage", token=token,
                json={"convoId": convo["id"], "message": {"text": "Please call 0300 123 4567."}}).json()
    assert set(recorded_sent) == set(sent) and sent["$type"] == "chat.bsky.convo.defs#messageView"
    assert sent["sender"] == {"did": COUNCIL_DID}

    messages = xrpc(sim, "GET", "chat.bsky.convo.getMessages", token=token, params={"convoId": convo["id"]}).json()
    assert set(recorded_messages["messages"][0]) == set(messages["messages"][0])
    assert [m["text"] for m in messages["messages"]] == [
        "Please call 0300 123 4567.", "Hello, who do I ask about a missed bin collection at 4 Elm Road?"]


def test_get_messages_pages_with_a_cursor_and_refuses_non_members(sim):
    convo = xrpc(sim, "GET", "chat.bsky.convo.getConvoForMembers", headers=CITIZEN, params={"members": POLICE_DID}).json()["convo"]
    for number in range(3):
        xrpc(sim, "POST", "chat.bsky.convo.sendMessage", headers=CITIZEN, json={"convoId": convo["id"], "message": {"text": f"m{number}"}})
    token = login(sim, "demopolice.bsky.social", DEMO_ACCOUNTS[1]["credentials"]["app_password"])["accessJwt"]
    first = xrpc(sim, "GET", "chat.bsky.convo.getMessages", token=token, params={"convoId": convo["id"], "limit": 2}).json()
    second = xrpc(sim, "GET", "chat.bsky.convo.getMessages", token=token,
                  params={"convoId": convo["id"], "limit": 2, "cursor": first["cursor"]}).json()
    assert [m["text"] for m in first["messages"] + second["messages"]] == ["m2", "m1", "m0"]
    assert "cursor" not in second
    outsider = xrpc(sim, "GET", "chat.bsky.convo.getMessages", token=login(sim)["accessJwt"], params={"convoId": convo["id"]})
    assert outsider.status_code == 400 and outsider.json()["error"] == "InvalidConvo"


def test_get_convo_for_members_reuses_the_existing_conversation(sim):
    token = login(sim)["accessJwt"]
    first = xrpc(sim, "GET", "chat.bsky.convo.getConvoForMembers", token=token, params={"members": CITIZEN_DID}).json()
    again = xrpc(sim, "GET", "chat.bsky.convo.getConvoForMembers", token=token, params={"members": [CITIZEN_DID, COUNCIL_DID]}).json()
    assert first["convo"]["id"] == again["convo"]["id"]
    assert {m["did"] for m in first["convo"]["members"]} == {CITIZEN_DID, COUNCIL_DID}


# ----------------------------------------------------------------------------- rate limits, faults
def test_rate_limit_headers_count_down_within_the_window(sim):
    token = login(sim)["accessJwt"]
    first = xrpc(sim, "GET", "com.atproto.server.getSession", token=token).headers
    second = xrpc(sim, "GET", "com.atproto.server.getSession", token=token).headers
    assert first["RateLimit-Limit"] == "3000" and first["RateLimit-Policy"] == "3000;w=300"
    assert int(second["RateLimit-Remaining"]) == int(first["RateLimit-Remaining"]) - 1
    assert time.time() < int(first["RateLimit-Reset"]) <= time.time() + 301


def test_create_session_is_limited_to_thirty_per_five_minutes(sim):
    for _ in range(30):
        login(sim)
    refused = xrpc(sim, "POST", "com.atproto.server.createSession",
                   json={"identifier": "democouncil.bsky.social", "password": COUNCIL_PASSWORD})
    assert refused.status_code == 429
    assert refused.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert refused.headers["RateLimit-Remaining"] == "0" and refused.headers["RateLimit-Policy"] == "30;w=300"
    sim.advance_clock(301)
    assert login(sim)["did"] == COUNCIL_DID


def test_rate_limit_fault_answers_429_with_the_reset_time(sim):
    sim.fault("bsky", "rate_limit", reset_in=120)
    response = xrpc(sim, "GET", "app.bsky.actor.getProfile", params={"actor": COUNCIL_DID})
    assert response.status_code == 429
    assert response.json() == {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
    assert response.headers["RateLimit-Remaining"] == "0"
    assert abs(int(response.headers["RateLimit-Reset"]) - (time.time() + 120)) < 5
    assert xrpc(sim, "GET", "app.bsky.actor.getProfile", params={"actor": COUNCIL_DID}).status_code == 200


@pytest.mark.parametrize(
    "kind, status, error, words",
    [("expired_token", 400, "ExpiredToken", "Token has expired"),
     ("duplicate", 400, "InvalidRequest", "Duplicate"),
     ("server_error", 503, None, "")],
)
def test_faults_answer_with_the_platforms_error_body(sim, kind, status, error, words):
    sim.fault("bsky", kind, path="/xrpc/app.bsky.actor")
    response = xrpc(sim, "GET", "app.bsky.actor.getProfile", params={"actor": COUNCIL_DID})
    assert response.status_code == status
    if error:
        assert response.json()["error"] == error and words in response.json()["message"]


def test_error_bodies_have_the_recorded_error_shape(sim):
    recorded = fixture("atproto_core/test/src/sessions/data/error.json")
    response = xrpc(sim, "GET", "app.bsky.feed.getPosts")
    assert response.status_code == 400 and set(response.json()) == set(recorded)


# ---------------------------------------------------------------------------------- public page
def act(sim, **form) -> str:
    response = requests.post(f"{sim.url}/", data={"platform": "bsky", "author": CITIZEN_DID, **form}, timeout=5)
    assert response.status_code == 200
    return response.text


def test_public_page_mention_becomes_a_post_with_a_mention_facet(sim):
    page = act(sim, action="mention", target=COUNCIL_DID, text="Is the tip open on Sunday? ✅")
    assert "Sent (mention" in page
    post = next(r for r in sim.state()["bsky"]["records"].values() if "tip open" in r["value"].get("text", ""))
    text = post["value"]["text"]
    assert text.startswith("@democouncil.bsky.social ")
    [facet] = post["value"]["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end] == b"@democouncil.bsky.social"
    assert facet["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": COUNCIL_DID}]


def test_public_page_comment_replies_to_the_accounts_latest_post(sim):
    post = council_post_uri(sim)
    act(sim, action="comment", target=COUNCIL_DID, text="Thanks!")
    reply = next(r for r in sim.state()["bsky"]["records"].values() if r["value"].get("text") == "Thanks!")
    assert reply["value"]["reply"]["parent"]["uri"] == post and reply["value"]["reply"]["root"]["uri"] == post


def test_public_page_dm_likes_and_reposts_show_up_for_the_organisation(sim):
    post = council_post_uri(sim)
    act(sim, action="dm", target=COUNCIL_DID, text="Private question")
    act(sim, action="like", post=post.rsplit("/", 1)[-1])
    act(sim, action="repost", post=post)
    state = sim.state()["bsky"]
    [convo] = [c for c in state["convos"].values() if COUNCIL_DID in c["members"]]
    assert convo["messages"][-1]["text"] == "Private question"
    [view] = xrpc(sim, "GET", "app.bsky.feed.getPosts", params={"uris": post}).json()["posts"]
    assert (view["likeCount"], view["repostCount"]) == (2, 1)


def test_public_page_lists_what_the_organisation_published(sim):
    token = login(sim)["accessJwt"]
    xrpc(sim, "POST", "com.atproto.repo.createRecord", token=token, json={
        "repo": COUNCIL_DID, "collection": "app.bsky.feed.post",
        "record": {"text": "Library opens late on Thursdays", "createdAt": "2026-01-05T10:00:00Z"}})
    page = requests.get(f"{sim.url}/", timeout=5).text
    assert "Library opens late on Thursdays" in page and "democouncil.bsky.social" in page
