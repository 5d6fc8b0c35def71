"""The simulator's Graph API answers like graph.facebook.com: the recorded python-facebook bodies in
shared/platform-fixtures/facebook are the reference for shapes; login, paging, token checks, usage headers,
faults and the public page are checked over HTTP."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator.platforms.graph import (
    CITIZEN_ID,
    CITIZEN_IG_ID,
    CITIZEN_TOKEN,
    COUNCIL_IG_ID,
    COUNCIL_PAGE_ID,
    DEMO_ACCOUNTS,
    PLACEHOLDER_PNG,
    POLICE_PAGE_ID,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "platform-fixtures" / "facebook"
TESTDATA = FIXTURES / "sns-sdks__python-facebook" / "testdata"
COUNCIL_TOKEN = DEMO_ACCOUNTS[0]["credentials"]["page_access_token"]
POLICE_TOKEN = DEMO_ACCOUNTS[2]["credentials"]["page_access_token"]
GRAPH_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
REDIRECT_URI = "http://testserver/channels/facebook/callback"


def recorded(relative: str) -> dict:
    path = TESTDATA / relative
    assert path.is_file(), f"Recorded body {path} is missing: shared/platform-fixtures must sit beside the checkout."
    return json.loads(path.read_text(encoding="utf-8"))


def graph(sim, method: str, path: str, *, token: str | None = COUNCIL_TOKEN, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, f"{sim.url}/graph/v21.0/{path}", headers=headers, timeout=5, **kwargs)


def ok(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response: requests.Response) -> dict:
    assert response.status_code >= 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "code", "fbtrace_id"} <= set(body["error"])
    return body["error"]


def council_post(sim) -> str:
    return ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/feed", params={"limit": 1}))["data"][0]["id"]


def council_media(sim) -> str:
    return ok(graph(sim, "GET", f"{COUNCIL_IG_ID}/media"))["data"][0]["id"]


def citizen_comment(sim, object_id: str, message: str) -> str:
    return ok(graph(sim, "POST", f"{object_id}/comments", token=CITIZEN_TOKEN, data={"message": message}))["id"]


def citizen_message(sim, recipient: str, text: str) -> dict:
    return ok(graph(sim, "POST", "me/messages", token=CITIZEN_TOKEN,
                    json={"recipient": {"id": recipient}, "message": {"text": text}}))


def same_types(ours: dict, theirs: dict, keys) -> None:
    for key in keys:
        assert type(ours[key]) is type(theirs[key]), f"{key}: {ours[key]!r} vs recorded {theirs[key]!r}"


def login(sim, *, scope: str = "pages_show_list,pages_manage_posts,instagram_basic", pages=(COUNCIL_PAGE_ID, POLICE_PAGE_ID)) -> str:
    """Through the dialog as the Demo Admin; returns the authorisation code."""
    params = {"client_id": "sim-facebook-app", "redirect_uri": REDIRECT_URI, "state": "s-1", "scope": scope}
    page = requests.get(f"{sim.url}/graph/dialog/oauth", params=params, timeout=5)
    assert page.status_code == 200 and "Allow" in page.text
    answer = requests.post(f"{sim.url}/graph/dialog/oauth", data={**params, "decision": "allow", "page": list(pages)},
                           allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["s-1"]
    return query["code"][0]


def exchange(sim, code: str, redirect_uri: str = REDIRECT_URI) -> requests.Response:
    return requests.get(f"{sim.url}/graph/v21.0/oauth/access_token", timeout=5, params={
        "client_id": "sim-facebook-app", "client_secret": "sim-facebook-secret", "redirect_uri": redirect_uri, "code": code})


# ----------------------------------------------------------------------------------------------- pages
def test_page_node_answers_with_the_recorded_page_fields(sim):
    page_fixture = recorded("facebook/apidata/pages/single_default_page.json")
    wanted = ["fan_count", "category", "category_list", "engagement", "verification_status", "link", "name", "about",
              "id", "username", "talking_about_count", "picture"]
    page = ok(graph(sim, "GET", COUNCIL_PAGE_ID, params={"fields": ",".join(wanted)}))
    assert set(page) == set(wanted)
    same_types(page, page_fixture, wanted)
    assert set(page["picture"]["data"]) == set(page_fixture["picture"]["data"])
    assert set(page["engagement"]) == set(page_fixture["engagement"])
    assert ok(graph(sim, "GET", COUNCIL_PAGE_ID)) == {"name": "Demo Council", "id": COUNCIL_PAGE_ID}


def test_page_token_me_is_the_page_and_names_its_instagram_account(sim):
    me = ok(graph(sim, "GET", "me", params={"fields": "id,name,followers_count,fan_count,instagram_business_account{id,username}"}))
    assert me["id"] == COUNCIL_PAGE_ID and me["name"] == "Demo Council"
    assert me["instagram_business_account"] == {"id": COUNCIL_IG_ID, "username": "democouncil"}
    assert isinstance(me["followers_count"], int) and isinstance(me["fan_count"], int)


def test_feed_answers_like_the_recorded_feed_and_pages_by_time(sim):
    recorded_feed = recorded("facebook/apidata/posts/feed_fields_p1.json")
    first = ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/feed", params={"fields": "id,message,created_time", "limit": 1}))
    assert set(first) == set(recorded_feed)
    [post] = first["data"]
    assert set(post) == set(recorded_feed["data"][0])
    assert GRAPH_TIME.match(post["created_time"]) and post["id"].startswith(f"{COUNCIL_PAGE_ID}_")
    assert set(first["paging"]) == set(recorded_feed["paging"])
    assert "until=" in first["paging"]["next"] and "__paging_token=" in first["paging"]["next"]
    # Header auth: the token is not copied into the paging links.
    assert "access_token" not in first["paging"]["next"]
    second = requests.get(first["paging"]["next"], headers={"Authorization": f"Bearer {COUNCIL_TOKEN}"}, timeout=5).json()
    assert [p["id"] for p in second["data"]] != [post["id"]] and len(second["data"]) == 1
    assert second["data"][0]["created_time"] <= post["created_time"]
    assert "next" not in second["paging"]


def test_paging_links_keep_a_query_token_as_the_real_api_does(sim):
    body = ok(requests.get(f"{sim.url}/graph/v21.0/{COUNCIL_PAGE_ID}/feed", timeout=5,
                           params={"limit": 1, "access_token": COUNCIL_TOKEN}))
    assert f"access_token={COUNCIL_TOKEN}" in body["paging"]["next"]


def test_comments_answer_like_comments_p1_with_cursor_paging_and_summary(sim):
    recorded_page = recorded("facebook/apidata/comments/comments_p1.json")
    post_id = council_post(sim)
    first_id = citizen_comment(sim, post_id, "When is the library open?")
    graph(sim, "POST", f"{first_id}/comments", data={"message": "From 9 to 5."})
    citizen_comment(sim, post_id, "Thanks!")
    fields = "comment_count,created_time,like_count,message,permalink_url"
    params = {"fields": fields, "filter": "stream", "limit": 2, "summary": "true"}
    page_one = ok(graph(sim, "GET", f"{post_id}/comments", params=params))
    assert set(page_one) == set(recorded_page)
    assert set(page_one["summary"]) == set(recorded_page["summary"]) and page_one["summary"]["total_count"] == 3
    assert set(page_one["paging"]) == set(recorded_page["paging"])
    assert set(page_one["paging"]["cursors"]) == {"before", "after"}
    for ours in page_one["data"]:
        assert set(ours) == set(recorded_page["data"][0]) | {"id"}
        same_types(ours, recorded_page["data"][0], fields.split(","))
    reply = page_one["data"][1]
    assert "reply_comment_id=" in reply["permalink_url"] and reply["message"] == "From 9 to 5."
    page_two = ok(graph(sim, "GET", f"{post_id}/comments", params={**params, "after": page_one["paging"]["cursors"]["after"]}))
    assert [c["message"] for c in page_two["data"]] == ["Thanks!"]
    assert "next" not in page_two["paging"] and "previous" in page_two["paging"]
    top_level = ok(graph(sim, "GET", f"{post_id}/comments", params={"fields": "message", "order": "reverse_chronological"}))
    assert [c["message"] for c in top_level["data"]] == ["Thanks!", "When is the library open?"]


def test_comment_authors_show_only_to_the_page_and_the_author(sim):
    post_id = council_post(sim)
    comment_id = citizen_comment(sim, post_id, "Hello")
    as_page = ok(graph(sim, "GET", comment_id, params={"fields": "from,message"}))
    assert as_page["from"] == {"name": "A Citizen", "id": CITIZEN_ID}
    as_other_page = ok(graph(sim, "GET", comment_id, token=POLICE_TOKEN, params={"fields": "from,message"}))
    assert "from" not in as_other_page
    recorded_comment = recorded("facebook/apidata/comments/comment_info.json")
    full = ok(graph(sim, "GET", comment_id, params={"fields": ",".join(recorded_comment)}))
    assert set(full) == set(recorded_comment)


def test_post_fields_give_engagement_summaries_like_single_post_data(sim):
    recorded_post = recorded("facebook/apidata/posts/single_post_data.json")
    post_id = council_post(sim)
    ok(graph(sim, "POST", f"{post_id}/likes", token=CITIZEN_TOKEN))
    citizen_comment(sim, post_id, "Nice")
    requests.post(f"{sim.url}/", data={"platform": "graph", "action": "repost", "author": CITIZEN_ID, "post": post_id}, timeout=5)
    fields = ("id,message,created_time,updated_time,permalink_url,status_type,reactions.summary(true),"
              "comments.summary(true),likes.summary(true).limit(0),shares,"
              "reactions.type(LIKE).limit(0).summary(total_count).as(like),"
              "reactions.type(LOVE).limit(0).summary(total_count).as(love)")
    post = ok(graph(sim, "GET", post_id, params={"fields": fields}))
    shared = {"id", "message", "created_time", "updated_time", "permalink_url", "status_type", "reactions", "comments",
              "like", "love"}
    assert shared <= set(recorded_post) and shared <= set(post)
    same_types(post, recorded_post, shared)
    assert set(post["comments"]["summary"]) == set(recorded_post["comments"]["summary"])
    assert set(post["reactions"]["summary"]) == set(recorded_post["reactions"]["summary"])
    assert post["like"]["summary"] == {"total_count": 1} and post["love"]["summary"] == {"total_count": 0}
    assert post["reactions"]["data"] == [{"id": CITIZEN_ID, "name": "A Citizen", "type": "LIKE"}]
    assert post["likes"]["summary"]["total_count"] == 1 and post["likes"]["data"] == []
    assert post["comments"]["summary"]["total_count"] == 1 and post["shares"] == {"count": 1}
    assert post["permalink_url"] == f"https://www.facebook.com/{COUNCIL_PAGE_ID}/posts/{post_id.split('_')[1]}"


def test_post_insights_answer_impressions_and_clicks_for_the_page_only(sim):
    post_id = council_post(sim)
    body = ok(graph(sim, "GET", f"{post_id}/insights", params={"metric": "post_impressions,post_clicks"}))
    assert [m["name"] for m in body["data"]] == ["post_impressions", "post_clicks"]
    assert set(body["data"][0]) == set(recorded("instagram/apidata/medias/insights.json")["data"][0])
    assert error_of(graph(sim, "GET", f"{post_id}/insights", token=POLICE_TOKEN, params={"metric": "post_impressions"}))["code"] == 200
    assert error_of(graph(sim, "GET", f"{post_id}/insights", params={"metric": "post_wishes"}))["code"] == 100


def test_publishing_text_link_and_photo_with_alt_text(sim):
    created = ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data={"message": "Roadworks", "link": "https://example.org/r"}))
    post = ok(graph(sim, "GET", created["id"], params={"fields": "message,link,status_type"}))
    assert post["link"] == "https://example.org/r" and post["status_type"] == "shared_story"
    photo = ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/photos", data={"message": "Our new bins", "alt_text_custom": "Two green bins"},
                     files={"source": ("bins.png", PLACEHOLDER_PNG, "image/png")}))
    assert set(photo) == {"id", "post_id"}
    details = ok(graph(sim, "GET", photo["id"], params={"fields": "images,alt_text_custom,page_story_id"}))
    assert details["alt_text_custom"] == "Two green bins" and details["page_story_id"] == photo["post_id"]
    assert requests.get(details["images"][0]["source"], timeout=5).content == PLACEHOLDER_PNG
    assert ok(graph(sim, "GET", photo["post_id"], params={"fields": "message"}))["message"] == "Our new bins"
    bad = graph(sim, "POST", f"{COUNCIL_PAGE_ID}/photos", files={"source": ("x.png", b"not a picture", "image/png")})
    assert error_of(bad)["code"] == 324


def test_unpublished_photos_attach_to_one_post(sim):
    ids = [ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/photos", data={"published": "false", "alt_text_custom": f"Picture {n}"},
                    files={"source": ("p.png", PLACEHOLDER_PNG, "image/png")}))["id"] for n in (1, 2)]
    data = {"message": "Two pictures", **{f"attached_media[{i}]": json.dumps({"media_fbid": p}) for i, p in enumerate(ids)}}
    post_id = ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data=data))["id"]
    assert sim.state()["graph"]["posts"][post_id]["photo_ids"] == ids
    again = graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data=data)
    assert error_of(again)["code"] == 100


def test_the_same_status_twice_is_refused_as_a_duplicate(sim):
    ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data={"message": "Same words"}))
    error = error_of(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data={"message": "Same words"}))
    assert (error["code"], error["error_subcode"], error["message"]) == (506, 1455006, "Duplicate status message")


def test_delete_answers_success_and_the_post_is_gone(sim):
    post_id = ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data={"message": "Short-lived"}))["id"]
    assert ok(graph(sim, "DELETE", post_id)) == {"success": True}
    missing = error_of(graph(sim, "GET", post_id))
    assert (missing["code"], missing["error_subcode"]) == (100, 33)


# --------------------------------------------------------------------------------------------- tokens
def test_a_page_token_cannot_act_for_another_page(sim):
    assert error_of(graph(sim, "POST", f"{POLICE_PAGE_ID}/feed", data={"message": "Not ours"}))["code"] == 200
    assert error_of(graph(sim, "GET", f"{POLICE_PAGE_ID}/conversations"))["code"] == 200
    assert error_of(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/conversations", token=CITIZEN_TOKEN))["code"] == 190
    assert error_of(graph(sim, "POST", f"{COUNCIL_IG_ID}/media", token=POLICE_TOKEN,
                          data={"image_url": "https://example.org/a.jpg"}))["code"] == 200


def test_missing_and_malformed_tokens_answer_like_error_json(sim):
    recorded_error = recorded("error.json")["error"]
    missing = error_of(graph(sim, "GET", COUNCIL_PAGE_ID, token=None))
    assert set(missing) == set(recorded_error) and missing["code"] == 104
    malformed = graph(sim, "GET", "me", token="garbage")
    assert malformed.status_code == 400 and error_of(malformed)["code"] == 190
    assert "invalid_token" in malformed.headers["WWW-Authenticate"]


def test_the_demo_accounts_tokens_reach_their_own_accounts(sim):
    for account in DEMO_ACCOUNTS:
        credentials = account["credentials"]
        if account["platform"] == "facebook":
            me = ok(graph(sim, "GET", "me", token=credentials["page_access_token"], params={"fields": "id,username"}))
            assert (me["id"], me["username"]) == (account["account_id"], account["handle"])
        else:
            ig = ok(graph(sim, "GET", credentials["ig_user_id"], token=credentials["page_access_token"],
                          params={"fields": "id,username"}))
            assert (ig["id"], ig["username"]) == (account["account_id"], account["handle"])
            assert credentials["page_id"] in (COUNCIL_PAGE_ID, POLICE_PAGE_ID)


def test_fields_syntax_errors_and_unknown_fields_are_graph_errors(sim):
    assert error_of(graph(sim, "GET", COUNCIL_PAGE_ID, params={"fields": "name,feed{message"}))["code"] == 100
    unknown = error_of(graph(sim, "GET", COUNCIL_PAGE_ID, params={"fields": "name,shoe_size"}))
    assert "nonexisting field (shoe_size)" in unknown["message"]
    assert error_of(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/nothing_here"))["code"] == 2500


def test_unversioned_paths_answer_like_versioned_ones(sim):
    response = requests.get(f"{sim.url}/graph/me", headers={"Authorization": f"Bearer {COUNCIL_TOKEN}"}, timeout=5)
    assert ok(response)["id"] == COUNCIL_PAGE_ID


# ---------------------------------------------------------------------------------------------- login
def test_login_dialog_is_an_accessible_page_with_an_allow_button(sim):
    params = {"client_id": "sim-facebook-app", "redirect_uri": REDIRECT_URI, "state": "xyz", "scope": "pages_show_list"}
    page = requests.get(f"{sim.url}/graph/dialog/oauth", params=params, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="en-GB">' in page.text and "<h1>" in page.text and "<legend>" in page.text
    assert '<label for="page-' in page.text and '<button type="submit" name="decision" value="allow">Allow</button>' in page.text
    assert requests.get(f"{sim.url}/graph/dialog/oauth", params={**params, "client_id": "nope"}, timeout=5).status_code == 400
    assert requests.get(f"{sim.url}/graph/dialog/oauth", params={**params, "scope": "read_minds"}, timeout=5).status_code == 400


def test_cancelling_the_dialog_redirects_with_access_denied(sim):
    params = {"client_id": "sim-facebook-app", "redirect_uri": REDIRECT_URI, "state": "xyz"}
    answer = requests.post(f"{sim.url}/graph/dialog/oauth", data={**params, "decision": "deny"}, allow_redirects=False, timeout=5)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["error_reason"] == ["user_denied"] and query["state"] == ["xyz"]


def test_code_short_and_long_lived_tokens_and_page_tokens_match_the_recorded_bodies(sim):
    short = ok(exchange(sim, login(sim)))
    assert set(short) == {"access_token", "token_type", "expires_in"} and short["expires_in"] <= 7200
    long_term = ok(requests.get(f"{sim.url}/graph/v21.0/oauth/access_token", timeout=5, params={
        "grant_type": "fb_exchange_token", "client_id": "sim-facebook-app", "client_secret": "sim-facebook-secret",
        "fb_exchange_token": short["access_token"]}))
    recorded_long = recorded("base/long_term_token.json")
    assert set(long_term) == set(recorded_long) and long_term["expires_in"] == recorded_long["expires_in"]
    assert long_term["token_type"] == "bearer"
    accounts = ok(graph(sim, "GET", "me/accounts", token=long_term["access_token"]))
    recorded_accounts = recorded("base/user_accounts_token.json")
    assert set(accounts) == set(recorded_accounts)
    assert set(accounts["data"][0]) == set(recorded_accounts["data"][0])
    same_types(accounts["data"][0], recorded_accounts["data"][0], recorded_accounts["data"][0])
    page_token = accounts["data"][0]["access_token"]
    assert ok(graph(sim, "GET", "me", token=page_token))["id"] == accounts["data"][0]["id"]
    me = ok(graph(sim, "GET", "me", token=long_term["access_token"]))
    assert me == {"name": "Demo Admin", "id": "100000000000900"}


def test_me_accounts_lists_only_the_pages_granted_with_their_instagram_accounts(sim):
    token = ok(exchange(sim, login(sim, pages=[COUNCIL_PAGE_ID])))["access_token"]
    accounts = ok(graph(sim, "GET", "me/accounts", token=token,
                        params={"fields": "id,name,access_token,instagram_business_account"}))
    [page] = accounts["data"]
    assert page["id"] == COUNCIL_PAGE_ID and page["instagram_business_account"] == {"id": COUNCIL_IG_ID}


def test_a_code_works_once_and_only_with_its_redirect_uri(sim):
    code = login(sim)
    wrong = error_of(exchange(sim, code, redirect_uri="http://elsewhere.test/cb"))
    assert (wrong["code"], wrong["error_subcode"]) == (100, 36008)
    ok(exchange(sim, code))
    assert error_of(exchange(sim, code))["error_subcode"] == 36009
    bad_secret = requests.get(f"{sim.url}/graph/v21.0/oauth/access_token", timeout=5, params={
        "client_id": "sim-facebook-app", "client_secret": "wrong", "redirect_uri": REDIRECT_URI, "code": login(sim)})
    assert error_of(bad_secret)["code"] == 1


def test_a_short_lived_token_expires_with_190_463(sim):
    token = ok(exchange(sim, login(sim)))["access_token"]
    sim.advance_clock(2 * 3600)
    error = error_of(graph(sim, "GET", "me", token=token))
    assert (error["code"], error["error_subcode"]) == (190, 463) and "Session has expired" in error["message"]


def test_removing_the_app_invalidates_the_user_and_page_tokens(sim):
    token = ok(exchange(sim, login(sim)))["access_token"]
    page_token = ok(graph(sim, "GET", "me/accounts", token=token))["data"][0]["access_token"]
    assert ok(graph(sim, "DELETE", "me/permissions", token=token)) == {"success": True}
    for revoked in (token, page_token):
        error = error_of(graph(sim, "GET", "me", token=revoked))
        assert (error["code"], error["error_subcode"]) == (190, 458)


def test_debug_token_answers_like_token_info(sim):
    recorded_info = recorded("base/token_info.json")
    body = ok(graph(sim, "GET", "debug_token", token="sim-facebook-app|sim-facebook-secret",
                    params={"input_token": COUNCIL_TOKEN}))
    assert set(recorded_info["data"]) <= set(body["data"]) and body["data"]["type"] == "PAGE"
    assert body["data"]["is_valid"] is True and "pages_manage_posts" in body["data"]["scopes"]


# ------------------------------------------------------------------------------------------ Messenger
def test_conversations_and_messages_answer_like_the_recorded_inbox(sim):
    citizen_message(sim, COUNCIL_PAGE_ID, "My bin was not collected")
    recorded_thread = recorded("facebook/apidata/conversations/cvs_info.json")
    threads = ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/conversations", params={"fields": ",".join(recorded_thread)}))
    [thread] = threads["data"]
    assert set(thread) == set(recorded_thread)
    same_types(thread, recorded_thread, recorded_thread)
    assert thread["id"].startswith("t_") and thread["snippet"] == "My bin was not collected" and thread["unread_count"] == 1
    recorded_message = recorded("facebook/apidata/messages/message_info.json")
    fields = "id,created_time,from,to,message,tags"
    messages = ok(graph(sim, "GET", f"{thread['id']}/messages", params={"fields": fields}))
    [message] = messages["data"]
    assert set(message) - {"message"} <= set(recorded_message)
    assert set(message["from"]) == set(recorded_message["from"]) and message["from"]["id"] == CITIZEN_ID
    assert message["id"].startswith("m_") and GRAPH_TIME.match(message["created_time"])


def test_the_page_answers_within_24_hours_and_not_after(sim):
    citizen_message(sim, COUNCIL_PAGE_ID, "Hello?")
    body = {"recipient": {"id": CITIZEN_ID}, "message": {"text": "Hello, how can we help?"}, "messaging_type": "RESPONSE"}
    sent = ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/messages", json=body))
    assert sent["recipient_id"] == CITIZEN_ID and sent["message_id"].startswith("m_")
    assert error_of(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/messages", json={**body, "messaging_type": None}))["code"] == 100
    sim.advance_clock(25 * 3600)
    late = error_of(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/messages", json=body))
    assert (late["code"], late["error_subcode"]) == (10, 2018278)
    tagged = {**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    assert ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/messages", json=tagged))["recipient_id"] == CITIZEN_ID


def test_instagram_messages_are_their_own_conversations(sim):
    citizen_message(sim, COUNCIL_IG_ID, "Hi on Instagram")
    assert ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/conversations"))["data"] == []
    threads = ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/conversations",
                       params={"platform": "instagram", "fields": "participants,messages{message,from}"}))
    [thread] = threads["data"]
    assert {"username": "citizen", "id": CITIZEN_IG_ID} in thread["participants"]["data"]
    assert thread["messages"]["data"][0]["from"] == {"username": "citizen", "id": CITIZEN_IG_ID}
    body = {"recipient": {"id": CITIZEN_IG_ID}, "message": {"text": "Hello from the council"}, "messaging_type": "RESPONSE"}
    assert ok(graph(sim, "POST", f"{COUNCIL_PAGE_ID}/messages", json=body))["recipient_id"] == CITIZEN_IG_ID


# ------------------------------------------------------------------------------------------- Instagram
def test_instagram_account_answers_like_user_fields(sim):
    recorded_user = recorded("instagram/apidata/users/user_fields.json")
    account = ok(graph(sim, "GET", COUNCIL_IG_ID, params={"fields": ",".join(recorded_user)}))
    assert set(account) == set(recorded_user)
    same_types(account, recorded_user, recorded_user)
    assert account["username"] == "democouncil" and account["media_count"] == 1


def test_instagram_publishing_answers_like_the_recorded_container_and_media(sim):
    container = ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/media",
                         data={"image_url": "https://example.org/park.jpg", "caption": "Park", "alt_text": "A park"}))
    assert set(container) == set(recorded("instagram/apidata/publish/create_photo.json"))
    status = ok(graph(sim, "GET", container["id"], params={"fields": "id,status,status_code"}))
    recorded_status = recorded("instagram/apidata/publish/container_info.json")
    assert set(status) == set(recorded_status) and status["status_code"] == recorded_status["status_code"]
    media = ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/media_publish", data={"creation_id": container["id"]}))
    assert set(media) == set(recorded("instagram/apidata/publish/publish_container.json"))
    recorded_media = recorded("instagram/apidata/medias/media_default.json")
    wanted = sorted(set(recorded_media) - {"children"})
    details = ok(graph(sim, "GET", media["id"], params={"fields": ",".join(wanted) + ",alt_text"}))
    assert set(details) == set(wanted) | {"alt_text"}
    assert details["media_type"] == "IMAGE" and details["alt_text"] == "A park"
    assert details["permalink"].startswith("https://www.instagram.com/p/")
    again = error_of(graph(sim, "POST", f"{COUNCIL_IG_ID}/media_publish", data={"creation_id": container["id"]}))
    assert again["code"] == 9007
    insights = ok(graph(sim, "GET", f"{media['id']}/insights", params={"metric": "impressions,reach"}))
    recorded_insights = recorded("instagram/apidata/medias/insights.json")
    assert set(insights["data"][0]) == set(recorded_insights["data"][0])
    limit = ok(graph(sim, "GET", f"{COUNCIL_IG_ID}/content_publishing_limit"))
    assert limit["data"][0]["quota_usage"] == 1
    assert set(limit["data"][0]) == set(recorded("instagram/apidata/users/content_publish_limit.json")["data"][0])


def test_instagram_carousels_publish_their_children(sim):
    children = [ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/media", data={"image_url": f"https://example.org/{n}.jpg",
                                                                      "is_carousel_item": "true"}))["id"] for n in (1, 2)]
    container = ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/media",
                         data={"media_type": "CAROUSEL", "children": ",".join(children), "caption": "Album"}))
    media_id = ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/media_publish", data={"creation_id": container["id"]}))["id"]
    media = ok(graph(sim, "GET", media_id, params={"fields": "media_type,children{media_type,permalink}"}))
    assert media["media_type"] == "CAROUSEL_ALBUM" and len(media["children"]["data"]) == 2
    assert set(media["children"]["data"][0]) <= set(recorded("instagram/apidata/medias/media_default.json")["children"]["data"][0])


def test_instagram_refuses_an_image_it_cannot_fetch(sim):
    error = error_of(graph(sim, "POST", f"{COUNCIL_IG_ID}/media", data={"image_url": "file:///etc/passwd"}))
    assert (error["code"], error["error_subcode"]) == (9004, 2207052)


def test_instagram_comments_and_replies_answer_like_the_recorded_bodies(sim):
    media_id = council_media(sim)
    first = citizen_comment(sim, media_id, "Lovely flowers")
    citizen_comment(sim, media_id, "Where is this?")
    reply = ok(graph(sim, "POST", f"{first}/replies", data={"message": "Victoria Park!"}))["id"]
    recorded_comments = recorded("instagram/apidata/medias/comments_p1.json")
    comments = ok(graph(sim, "GET", f"{media_id}/comments", params={"limit": 1}))
    assert set(comments) == set(recorded_comments) and set(comments["data"][0]) == set(recorded_comments["data"][0])
    assert comments["data"][0]["text"] == "Where is this?"
    assert set(comments["paging"]["cursors"]) >= set(recorded_comments["paging"]["cursors"])
    rest = ok(graph(sim, "GET", f"{media_id}/comments", params={"after": comments["paging"]["cursors"]["after"]}))
    assert [c["text"] for c in rest["data"]] == ["Lovely flowers"]
    replies = ok(graph(sim, "GET", f"{first}/replies"))
    assert set(replies) <= set(recorded("instagram/apidata/comments/replies.json")) | {"paging"}
    assert [r["id"] for r in replies["data"]] == [reply]
    recorded_comment = recorded("instagram/apidata/comments/comment_fields.json")
    details = ok(graph(sim, "GET", first, params={"fields": ",".join(recorded_comment) + ",from"}))
    assert set(details) == set(recorded_comment) | {"from"} and details["from"] == {"id": CITIZEN_IG_ID, "username": "citizen"}


def test_instagram_mentions_are_listed_under_tags_and_mentioned_media(sim):
    page = requests.post(f"{sim.url}/", timeout=5, data={"platform": "graph", "action": "mention", "author": CITIZEN_ID,
                                                         "target": COUNCIL_IG_ID, "text": "Great work on the park"})
    assert "Sent (mention" in page.text
    [tagged] = ok(graph(sim, "GET", f"{COUNCIL_IG_ID}/tags", params={"fields": "id,caption,username,timestamp"}))["data"]
    assert tagged["caption"] == "@democouncil Great work on the park" and tagged["username"] == "citizen"
    recorded_mention = recorded("instagram/apidata/users/mentioned_media.json")
    fields = ",".join(recorded_mention["mentioned_media"])
    body = ok(graph(sim, "GET", COUNCIL_IG_ID, params={"fields": f"mentioned_media.media_id({tagged['id']}){{{fields}}}"}))
    assert set(body) == set(recorded_mention) and set(body["mentioned_media"]) == set(recorded_mention["mentioned_media"])
    answer = ok(graph(sim, "POST", f"{COUNCIL_IG_ID}/mentions", data={"media_id": tagged["id"], "message": "Thank you!"}))
    assert sim.state()["graph"]["ig_comments"][answer["id"]]["author_id"] == COUNCIL_IG_ID


def test_instagram_media_cannot_be_deleted_but_comments_can(sim):
    media_id = council_media(sim)
    assert error_of(graph(sim, "DELETE", media_id))["code"] == 100
    comment_id = citizen_comment(sim, media_id, "Spam spam")
    assert ok(graph(sim, "DELETE", comment_id)) == {"success": True}
    assert ok(graph(sim, "GET", f"{media_id}/comments"))["data"] == []


# ------------------------------------------------------------------------------------ usage and faults
def test_page_token_calls_carry_app_and_business_usage_headers(sim):
    response = graph(sim, "GET", COUNCIL_PAGE_ID)
    app_usage = json.loads(response.headers["X-App-Usage"])
    assert set(app_usage) == {"call_count", "total_time", "total_cputime"}
    recorded_headers = recorded("instagram/headers.json")
    recorded_entry = next(iter(json.loads(recorded_headers["x-business-use-case-usage"]).values()))[0]
    usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    assert list(usage) == [COUNCIL_PAGE_ID] and set(usage[COUNCIL_PAGE_ID][0]) == set(recorded_entry)
    assert usage[COUNCIL_PAGE_ID][0]["type"] == "pages"
    instagram = json.loads(graph(sim, "GET", COUNCIL_IG_ID).headers["X-Business-Use-Case-Usage"])
    assert instagram[COUNCIL_IG_ID][0]["type"] == "instagram"


def test_rate_limit_fault_answers_code_32_with_the_time_to_regain_access(sim):
    sim.fault("graph", "rate_limit", reset_in=600)
    response = graph(sim, "GET", COUNCIL_PAGE_ID)
    error = error_of(response)
    assert error["code"] == 32 and error["is_transient"] is True
    [entries] = json.loads(response.headers["X-Business-Use-Case-Usage"]).values()
    assert entries[0]["call_count"] == 100 and entries[0]["estimated_time_to_regain_access"] == math.ceil(600 / 60)
    assert "X-App-Usage" in response.headers
    assert graph(sim, "GET", COUNCIL_PAGE_ID).status_code == 200


@pytest.mark.parametrize("kind, status, code, subcode", [
    ("expired_token", 400, 190, 463),
    ("duplicate", 400, 506, 1455006),
])
def test_faults_answer_the_graph_error_bodies(sim, kind, status, code, subcode):
    sim.fault("graph", kind, path=f"/v21.0/{COUNCIL_PAGE_ID}/feed", method="POST")
    response = graph(sim, "POST", f"{COUNCIL_PAGE_ID}/feed", data={"message": "Hello"})
    error = error_of(response)
    assert (response.status_code, error["code"], error["error_subcode"]) == (status, code, subcode)


def test_server_error_fault_is_a_5xx(sim):
    sim.fault("graph", "server_error")
    assert graph(sim, "GET", COUNCIL_PAGE_ID).status_code >= 500


# --------------------------------------------------------------------------------------- public page
def test_the_public_page_lists_the_graph_accounts_and_acts_as_the_citizen(sim):
    page = requests.get(f"{sim.url}/", timeout=5).text
    assert "Demo Council (Facebook Page)" in page and "@democouncil (Instagram)" in page
    post_id = council_post(sim)

    def act(**form) -> str:
        return requests.post(f"{sim.url}/", data={"platform": "graph", "author": CITIZEN_ID, **form}, timeout=5).text

    assert "Sent (comment" in act(action="comment", target=COUNCIL_PAGE_ID, post=post_id, text="Is this still on?")
    assert "Sent (mention" in act(action="mention", target=COUNCIL_PAGE_ID, text="Thanks to the council")
    assert "Sent (dm" in act(action="dm", target=COUNCIL_PAGE_ID, text="A private question")
    assert "Done (like)" in act(action="like", post=post_id)
    assert "Done (repost)" in act(action="repost", post=post_id)
    assert "Instagram has no reposts" in act(action="repost", post=council_media(sim))
    state = sim.state()["graph"]
    assert state["posts"][post_id]["likes"] == [CITIZEN_ID] and state["posts"][post_id]["shares"] == [CITIZEN_ID]
    tagged = ok(graph(sim, "GET", f"{COUNCIL_PAGE_ID}/tagged", params={"fields": "message,from"}))["data"]
    assert tagged[0]["message"] == "Demo Council Thanks to the council" and tagged[0]["from"]["id"] == CITIZEN_ID
    comment_id = next(c["id"] for c in state["comments"].values() if c["message"] == "Is this still on?")
    graph(sim, "POST", f"{comment_id}/comments", data={"message": "Yes, it is."})
    assert "Yes, it is." in requests.get(f"{sim.url}/", timeout=5).text
