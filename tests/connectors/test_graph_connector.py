"""The Facebook and Instagram connectors: (a) parsing the recorded Graph API bodies in
shared/platform-fixtures/facebook, and (b) every operation over HTTP against the simulator, including Facebook
Login end to end and each error class."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from channels_app.connectors import base_url_for, connector_class
from channels_app.connectors.base import (
    AuthExpired,
    DuplicatePost,
    MediaItem,
    PermanentError,
    RateLimited,
    TransientError,
)
from channels_app.connectors.graph import (
    FacebookConnector,
    InstagramConnector,
    exchange_code,
    list_pages,
    login_url,
    long_lived,
)
from channels_app.connectors.graph_parsing import (
    Watermark,
    error_from_response,
    parse_facebook_comments,
    parse_instagram_comments,
    parse_instagram_mention,
    parse_media_metrics,
    parse_message,
    parse_page_accounts,
    parse_post_metrics,
    parse_tagged_post,
    scrub,
    usage_wait,
)
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
COUNCIL_FB, COUNCIL_IG, POLICE_FB = DEMO_ACCOUNTS[0], DEMO_ACCOUNTS[1], DEMO_ACCOUNTS[2]
REDIRECT_URI = "http://testserver/channels/facebook/callback"
PICTURE = MediaItem(content=PLACEHOLDER_PNG, mime_type="image/png", alt_text="A map of the new bin routes")


def recorded(relative: str) -> dict:
    path = TESTDATA / relative
    assert path.is_file(), f"Recorded body {path} is missing: shared/platform-fixtures must sit beside the checkout."
    return json.loads(path.read_text(encoding="utf-8"))


# ===================================================================================== (a) parsing
def test_recorded_comments_become_comment_items_threaded_by_post_and_parent():
    items = parse_facebook_comments(recorded("facebook/apidata/comments/comments_p1.json"))
    assert len(items) == 10 and {item.kind for item in items} == {"comment"}
    assert {item.conversation_key for item in items} == {"19292868552_10158407654328553"}
    first = items[0]
    assert first.platform_id == "10158407654328553_10158407835073553" and first.in_reply_to_id == ""
    assert first.created_at == datetime(2021, 8, 10, 18, 45, 3, tzinfo=UTC)
    assert first.text.startswith("Boa noite") and first.url.endswith("comment_id=10158407835073553")
    reply = next(item for item in items if item.text.startswith("Hi, please access the Instagram Help Center"))
    assert reply.platform_id == "10158407654328553_10158409983033553"
    assert reply.in_reply_to_id == "10158407654328553_10158407903973553"


def test_recorded_second_page_of_comments_continues_the_same_thread():
    page_one = {i.platform_id for i in parse_facebook_comments(recorded("facebook/apidata/comments/comments_p1.json"))}
    page_two = parse_facebook_comments(recorded("facebook/apidata/comments/comments_p2.json"))
    assert len(page_two) == 5 and not page_one & {i.platform_id for i in page_two}
    assert page_two[1].in_reply_to_id == page_two[0].platform_id


def test_recorded_comment_with_id_and_the_created_comment_keep_their_ids():
    comment = recorded("facebook/apidata/comments/comment_info.json")
    [item] = parse_facebook_comments({"data": [comment]})
    assert item.platform_id == comment["id"] and item.text == "This is really nice"
    created = recorded("facebook/apidata/comments/create_resp.json")
    [item] = parse_facebook_comments({"data": [created]}, conversation_key="245628824887810_245778718206154")
    assert item.platform_id == created["id"] and item.conversation_key == "245628824887810_245778718206154"


def test_recorded_feed_posts_become_mentions_when_they_tag_the_page():
    feed = recorded("facebook/apidata/posts/feed_fields_p1.json")
    items = [parse_tagged_post(raw) for raw in feed["data"]]
    assert all(item and item.kind == "mention" and item.conversation_key == item.platform_id for item in items)
    assert items[0].platform_id == "4_10113477241177441" and items[0].text == "Happy July 4th! 🇺🇸"
    assert items[0].created_at == datetime(2021, 7, 4, 19, 50, 58, tzinfo=UTC)


def test_recorded_messages_become_direct_messages_from_the_person():
    message = recorded("facebook/apidata/messages/message_info.json")
    item = parse_message(message, conversation_id="t_587956915396498", own_id="2121008874780932")
    assert (item.kind, item.author_id, item.author_name) == ("dm", "2711636948859886", "Kun Liu")
    assert item.conversation_key == "t_587956915396498" and item.created_at == datetime(2021, 7, 23, 9, 50, 48, tzinfo=UTC)
    both = recorded("facebook/apidata/messages/messages_info.json")
    assert len([parse_message(m, conversation_id="t_1") for m in both.values()]) == 2
    # The Page's own messages are not inbound.
    assert parse_message(message, conversation_id="t_1", own_id="2711636948859886") is None


def test_recorded_instagram_comments_and_nested_replies_become_comment_items():
    top = recorded("instagram/apidata/medias/comments_p1.json")
    top["data"][0]["replies"] = recorded("instagram/apidata/comments/replies.json")
    items = parse_instagram_comments(top, media_id="17846368219941692", url="https://www.instagram.com/p/x/")
    assert [i.platform_id for i in items] == ["17858154961981086", "17847314687296283", "17874875428706419"]
    reply = items[1]
    assert reply.in_reply_to_id == "17858154961981086" and reply.text == "@lixiangguodu123 nihao"
    assert all(i.conversation_key == "17846368219941692" and i.kind == "comment" for i in items)
    assert items[0].created_at == datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC)
    [with_author] = parse_instagram_comments({"data": [recorded("instagram/apidata/comments/comment_fields.json")]})
    assert with_author.author_handle == "ikroskun"
    assert len(parse_instagram_comments(recorded("instagram/apidata/medias/comments_p2.json"))) == 2


def test_recorded_mentioned_media_becomes_a_mention():
    media = recorded("instagram/apidata/users/mentioned_media.json")["mentioned_media"]
    item = parse_instagram_mention(media)
    assert (item.kind, item.platform_id, item.text) == ("mention", "17889114512354744", "@ikroskun hey")
    assert item.created_at == datetime(2021, 8, 19, 9, 0, 22, tzinfo=UTC)


def test_recorded_post_and_media_bodies_give_the_metrics():
    post = recorded("facebook/apidata/posts/single_post_data.json")
    assert parse_post_metrics(post) == parse_post_metrics({"reactions": {"summary": {"total_count": 1}},
                                                           "comments": {"summary": {"total_count": 0}}})
    comment = parse_post_metrics(recorded("facebook/apidata/comments/comment_info.json"))
    assert (comment.likes, comment.replies, comment.impressions) == (0, 0, None)
    metrics = parse_media_metrics(recorded("instagram/apidata/medias/media_default.json"),
                                  recorded("instagram/apidata/medias/insights.json"))
    assert (metrics.likes, metrics.replies, metrics.reposts, metrics.impressions) == (1, 0, 0, 8)


def test_recorded_accounts_bodies_give_pages_with_their_tokens():
    pages = parse_page_accounts(recorded("facebook/apidata/users/user_accounts_p1.json"))
    assert [p["id"] for p in pages] == ["123", "1234", "123512", "1234624"]
    assert pages[0] == {"id": "123", "name": "AAAAAAAAA", "page_access_token": "access_token",
                        "instagram_id": "", "instagram_username": ""}
    assert parse_page_accounts(recorded("base/user_accounts_token.json"))[0]["name"] == "MyLife"


@pytest.mark.parametrize("name", ["error.json", "base/error_data.json"])
def test_recorded_error_bodies_are_permanent_errors_with_the_platforms_reason(name):
    error = error_from_response(400, recorded(name))
    assert type(error) is PermanentError and error.platform_code == "100"
    assert recorded(name)["error"]["message"][:40] in error.message


@pytest.mark.parametrize("code, subcode, expected", [
    (4, None, RateLimited), (17, None, RateLimited), (32, None, RateLimited), (613, None, RateLimited),
    (80001, None, RateLimited), (80002, None, RateLimited), (80006, None, RateLimited), (80009, None, RateLimited),
    (190, None, AuthExpired), (190, 463, AuthExpired), (102, None, AuthExpired), (463, None, AuthExpired),
    (467, None, AuthExpired), (506, 1455006, DuplicatePost), (1, None, TransientError), (2, None, TransientError),
    (100, None, PermanentError), (200, None, PermanentError), (10, 2018278, PermanentError),
])  # fmt: skip
def test_graph_error_codes_map_to_the_error_classes(code, subcode, expected):
    body = {"error": {"message": "reason", "type": "OAuthException", "code": code, "fbtrace_id": "A"}}
    if subcode:
        body["error"]["error_subcode"] = subcode
    error = error_from_response(400, body)
    assert type(error) is expected
    assert error.platform_code == (f"{code}/{subcode}" if subcode else str(code))


def test_non_json_answers_map_by_status():
    assert type(error_from_response(503, None)) is TransientError
    assert type(error_from_response(404, "<html>")) is PermanentError
    assert type(error_from_response(429, None)) is RateLimited


def test_rate_limit_waits_as_long_as_the_business_use_case_usage_header_says():
    headers = CaseInsensitiveDict(recorded("instagram/headers.json"))
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    body = {"error": {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32}}
    error = error_from_response(400, body, headers, now=now)
    assert isinstance(error, RateLimited) and error.reset_at == now + timedelta(minutes=20)
    without = error_from_response(400, body, {}, now=now)
    assert without.reset_at == now + timedelta(hours=1)


def test_usage_at_100_percent_means_waiting_even_before_an_error():
    assert usage_wait({"X-Business-Use-Case-Usage": json.dumps({"1": [{"type": "pages", "call_count": 100}]})}) == timedelta(hours=1)
    assert usage_wait({"x-business-use-case-usage": json.dumps({"1": [{"call_count": 12, "estimated_time_to_regain_access": 0}]})}) is None
    assert usage_wait({"X-App-Usage": json.dumps({"call_count": 100, "total_time": 3, "total_cputime": 3})}) == timedelta(hours=1)
    assert usage_wait({"X-Business-Use-Case-Usage": "not json"}) is None


def test_error_messages_never_carry_tokens():
    token = "EAAGm0PX4ZCpsBAKZCZBZBrealLookingToken1234567890"
    body = {"error": {"message": f"Malformed access token {token}", "type": "OAuthException", "code": 190}}
    error = error_from_response(400, body, secrets=[token])
    assert token not in error.message and "Malformed access token" in error.message
    assert token not in scrub(f"see https://graph.facebook.com/me?access_token={token}&x=1")


def test_the_cursor_settles_items_of_the_same_second_by_id_not_by_id_order():
    second = datetime(2026, 1, 5, 10, 0, 0, tzinfo=UTC)
    first_poll = Watermark("")
    first_poll.take(second, "m_zzz")
    assert str(first_poll) == "2026-01-05T10:00:00+0000|m_zzz"
    mark = Watermark(str(first_poll))
    assert not mark.is_new(second, "m_zzz") and mark.is_new(second, "m_aaa")
    assert mark.is_new(second + timedelta(seconds=1), "m_0") and mark.is_before(second - timedelta(seconds=1))
    mark.take(second, "m_aaa")
    assert str(mark) == "2026-01-05T10:00:00+0000|m_aaa,m_zzz"
    assert Watermark("rubbish").started is False


# =================================================================================== (b) over HTTP
def connector(sim, account: dict, **kwargs):
    cls = connector_class(account["platform"])
    return cls(base_url=base_url_for(account["platform"]), credentials=dict(account["credentials"]),
               account_id=account["account_id"], **kwargs)


@pytest.fixture
def council(sim) -> FacebookConnector:
    return connector(sim, COUNCIL_FB)


@pytest.fixture
def council_ig(sim) -> InstagramConnector:
    return connector(sim, COUNCIL_IG)


def as_citizen(sim, method: str, path: str, **kwargs) -> dict:
    response = requests.request(method, f"{sim.url}/graph/v21.0/{path}", headers={"Authorization": f"Bearer {CITIZEN_TOKEN}"},
                                timeout=5, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def public_page(sim, **form) -> str:
    return requests.post(f"{sim.url}/", data={"platform": "graph", "author": CITIZEN_ID, **form}, timeout=5).text


def graph_state(sim) -> dict:
    return sim.state()["graph"]


def newest_post(sim, page_id: str = COUNCIL_PAGE_ID) -> str:
    posts = [p for p in graph_state(sim)["posts"].values() if p["author_id"] == page_id and not p["deleted"]]
    return max(posts, key=lambda p: p["created"])["id"]


def newest_media(sim, ig_id: str = COUNCIL_IG_ID) -> str:
    media = [m for m in graph_state(sim)["ig_media"].values() if m["ig_id"] == ig_id and not m["carousel_parent"]]
    return max(media, key=lambda m: m["created"])["id"]


def test_the_registry_builds_graph_connectors_at_the_configured_host(sim):
    assert connector_class("facebook") is FacebookConnector and connector_class("instagram") is InstagramConnector
    assert base_url_for("facebook") == base_url_for("instagram") == f"{sim.url}/graph"
    assert "page_access_token" not in repr(connector(sim, COUNCIL_FB)) and COUNCIL_FB["credentials"]["page_access_token"] not in repr(connector(sim, COUNCIL_FB))


def test_whoami_names_the_page_and_the_instagram_account(council, council_ig):
    page = council.whoami()
    assert (page.account_id, page.handle, page.display_name) == (COUNCIL_PAGE_ID, "democouncil", "Demo Council")
    assert page.avatar_url.endswith("/graph/media/placeholder.png")
    account = council_ig.whoami()
    assert (account.account_id, account.handle) == (COUNCIL_IG_ID, "democouncil")


# ------------------------------------------------------------------------------------------ Facebook
def test_citizen_comments_and_replies_arrive_once_with_their_thread(sim, council):
    first = council.fetch_inbound({})
    assert first.items == []
    post_id = newest_post(sim)
    comment_id = as_citizen(sim, "POST", f"{post_id}/comments", data={"message": "When do the bins change?"})["id"]
    batch = council.fetch_inbound(first.cursor)
    [item] = batch.items
    assert (item.kind, item.platform_id, item.conversation_key, item.in_reply_to_id) == ("comment", comment_id, post_id, "")
    assert (item.author_id, item.author_name, item.text) == (CITIZEN_ID, "A Citizen", "When do the bins change?")
    assert item.url.endswith(f"comment_id={comment_id.split('_')[1]}") and set(batch.cursor) == {"comments"}
    answer = council.reply(in_reply_to=comment_id, text="From next Tuesday.")
    assert graph_state(sim)["comments"][answer.platform_id]["parent_id"] == comment_id
    assert "reply_comment_id=" in answer.url
    follow_up = as_citizen(sim, "POST", f"{comment_id}/comments", data={"message": "Thanks!"})["id"]
    later = council.fetch_inbound(batch.cursor)
    assert [(i.platform_id, i.in_reply_to_id) for i in later.items] == [(follow_up, comment_id)]
    assert council.fetch_inbound(later.cursor).items == []


def test_a_post_tagging_the_page_is_a_mention_the_page_can_answer(sim, council):
    cursor = council.fetch_inbound({}).cursor
    assert "Sent (mention" in public_page(sim, action="mention", target=COUNCIL_PAGE_ID, text="Thanks for the new bins")
    [mention] = council.fetch_inbound(cursor).items
    assert mention.kind == "mention" and mention.author_id == CITIZEN_ID and "Thanks for the new bins" in mention.text
    answer = council.reply(in_reply_to=mention.platform_id, text="You're welcome!")
    assert graph_state(sim)["comments"][answer.platform_id]["post_id"] == mention.platform_id


def test_messenger_messages_arrive_once_and_the_answer_goes_back_in_the_conversation(sim, council):
    cursor = council.fetch_inbound({}).cursor
    as_citizen(sim, "POST", "me/messages", json={"recipient": {"id": COUNCIL_PAGE_ID}, "message": {"text": "Is the tip open?"}})
    batch = council.fetch_inbound(cursor)
    [dm] = batch.items
    assert (dm.kind, dm.author_id, dm.text) == ("dm", CITIZEN_ID, "Is the tip open?") and dm.conversation_key.startswith("t_")
    sent = council.send_dm(conversation_key=dm.conversation_key, recipient_id="", text="Yes, until 6pm.")
    message = graph_state(sim)["messages"][sent.platform_id]
    assert (message["from_id"], message["to_id"], message["conversation_id"]) == (COUNCIL_PAGE_ID, CITIZEN_ID, dm.conversation_key)
    assert council.fetch_inbound(batch.cursor).items == []
    as_citizen(sim, "POST", "me/messages", json={"recipient": {"id": COUNCIL_PAGE_ID}, "message": {"text": "Thanks"}})
    assert [i.text for i in council.fetch_inbound(batch.cursor).items] == ["Thanks"]


def test_answering_a_message_after_24_hours_is_a_clear_permanent_error(sim, council):
    as_citizen(sim, "POST", "me/messages", json={"recipient": {"id": COUNCIL_PAGE_ID}, "message": {"text": "Hello"}})
    sim.advance_clock(25 * 3600)
    with pytest.raises(PermanentError, match="24 hours") as caught:
        council.send_dm(conversation_key="", recipient_id=CITIZEN_ID, text="Sorry for the wait")
    assert caught.value.platform_code == "10/2018278"


def test_publish_text_with_a_link_returns_the_permalink(sim, council):
    published = council.publish(text="Consultation on the high street", link="https://democouncil.example/consult")
    post = graph_state(sim)["posts"][published.platform_id]
    assert post["message"] == "Consultation on the high street" and post["link"] == "https://democouncil.example/consult"
    assert published.url == f"https://www.facebook.com/{COUNCIL_PAGE_ID}/posts/{published.platform_id.split('_')[1]}"


def test_publish_with_an_image_keeps_the_alt_text_and_puts_the_link_in_the_text(sim, council):
    published = council.publish(text="New bin routes", media=[PICTURE], link="https://democouncil.example/bins")
    state = graph_state(sim)
    post = state["posts"][published.platform_id]
    [photo_id] = post["photo_ids"]
    assert state["photos"][photo_id]["alt_text_custom"] == "A map of the new bin routes"
    assert post["message"] == "New bin routes\n\nhttps://democouncil.example/bins"
    picture_url = f"{sim.url}/graph/media/{state['photos'][photo_id]['image']['blob']}"
    assert requests.get(picture_url, timeout=5).content == PLACEHOLDER_PNG


def test_publish_with_several_images_makes_one_post(sim, council):
    second = MediaItem(content=PLACEHOLDER_PNG, mime_type="image/png", alt_text="The second picture")
    published = council.publish(text="Two pictures", media=[PICTURE, second])
    state = graph_state(sim)
    alts = [state["photos"][p]["alt_text_custom"] for p in state["posts"][published.platform_id]["photo_ids"]]
    assert alts == ["A map of the new bin routes", "The second picture"]


def test_publish_refuses_what_facebook_would_refuse_without_calling_it(sim, council):
    before = len(sim.calls("graph"))
    with pytest.raises(PermanentError, match="can't be empty"):
        council.publish(text="  ")
    with pytest.raises(PermanentError, match="images only"):
        council.publish(text="A film", media=[MediaItem(content=b"...", mime_type="video/mp4", alt_text="")])
    assert len(sim.calls("graph")) == before


def test_publishing_the_same_words_twice_is_a_duplicate_post(council):
    council.publish(text="Road closed on Friday")
    with pytest.raises(DuplicatePost) as caught:
        council.publish(text="Road closed on Friday")
    assert caught.value.platform_code == "506/1455006" and not isinstance(caught.value, RateLimited)


def test_delete_removes_the_post(sim, council):
    published = council.publish(text="Posted by mistake")
    council.delete(published.platform_id)
    assert graph_state(sim)["posts"][published.platform_id]["deleted"] is True
    with pytest.raises(PermanentError):
        council.delete(published.platform_id)


def test_post_metrics_count_reactions_comments_shares_and_insights(sim, council):
    post_id = newest_post(sim)
    before = council.post_metrics(post_id)
    public_page(sim, action="like", post=post_id)
    public_page(sim, action="repost", post=post_id)
    as_citizen(sim, "POST", f"{post_id}/comments", data={"message": "Great"})
    after = council.post_metrics(post_id)
    assert (after.likes, after.replies, after.reposts) == (before.likes + 1, before.replies + 1, before.reposts + 1)
    assert after.impressions > before.impressions and after.link_clicks is not None


def test_metrics_of_a_reply_count_its_likes_and_replies_without_insights(sim, council):
    post_id = newest_post(sim)
    comment = council.reply(in_reply_to=post_id, text="Pinned answer")
    public_page(sim, action="like", post=comment.platform_id)
    as_citizen(sim, "POST", f"{comment.platform_id}/comments", data={"message": "Thanks"})
    before = len(sim.calls("graph", "/v21.0/"))
    metrics = council.post_metrics(comment.platform_id)
    assert (metrics.likes, metrics.replies, metrics.impressions) == (1, 1, None)
    assert len(sim.calls("graph", "/v21.0/")) == before + 1


def test_account_stats_read_the_page_followers(council):
    stats = council.account_stats()
    assert stats.followers == 2613 and stats.posts is None


def test_account_stats_read_the_pages_daily_impressions_and_reach(sim, council):
    """Page insights (period=day): the newest day's value; reach is page_impressions_unique."""
    before = council.account_stats()
    post = council.publish(text="Road closed on Mill Lane")
    as_citizen(sim, "POST", f"{post.platform_id}/likes")
    after = council.account_stats()
    assert before.impressions is not None and before.reach is not None
    assert after.impressions == before.impressions + 10  # a like puts the post on ten more screens (simulator)
    assert after.reach == after.impressions * 4 // 5
    assert len(sim.calls("graph", "/v21.0/102000000000001/insights")) == 2  # one per account_stats()


# ----------------------------------------------------------------------------------------- Instagram
def test_instagram_publish_needs_an_image_and_says_so_without_calling(sim, council_ig):
    before = len(sim.calls("graph"))
    with pytest.raises(PermanentError, match="Instagram posts need an image"):
        council_ig.publish(text="Just words")
    assert len(sim.calls("graph")) == before


def test_instagram_publish_with_an_image_and_alt_text(sim, council_ig):
    published = council_ig.publish(text="Spring planting #community", media=[PICTURE])
    media = graph_state(sim)["ig_media"][published.platform_id]
    assert media["caption"] == "Spring planting #community" and media["alt_text"] == "A map of the new bin routes"
    assert published.url.startswith("https://www.instagram.com/p/")
    served = requests.get(f"{sim.url}/graph/media/{media['image']['blob']}", timeout=5)
    assert served.content == PLACEHOLDER_PNG
    assert council_ig.account_stats().posts == 2


def test_instagram_publish_with_several_images_is_a_carousel(sim, council_ig):
    published = council_ig.publish(text="Album", media=[PICTURE, PICTURE], link="https://democouncil.example/a")
    media = graph_state(sim)["ig_media"][published.platform_id]
    assert media["media_type"] == "CAROUSEL_ALBUM" and len(media["children"]) == 2
    assert media["caption"] == "Album\n\nhttps://democouncil.example/a"


def test_instagram_comments_replies_mentions_and_messages_arrive_once(sim, council_ig):
    cursor = council_ig.fetch_inbound({}).cursor
    media_id = newest_media(sim)
    comment_id = as_citizen(sim, "POST", f"{media_id}/comments", data={"message": "Which park is this?"})["id"]
    public_page(sim, action="mention", target=COUNCIL_IG_ID, text="Love this town")
    public_page(sim, action="dm", target=COUNCIL_IG_ID, text="Can I volunteer?")
    batch = council_ig.fetch_inbound(cursor)
    by_kind = {item.kind: item for item in batch.items}
    assert set(by_kind) == {"comment", "mention", "dm"} and set(batch.cursor) == {"comments", "mentions", "dms"}
    comment = by_kind["comment"]
    assert (comment.platform_id, comment.conversation_key, comment.author_handle) == (comment_id, media_id, "citizen")
    assert comment.author_id == CITIZEN_IG_ID and comment.url.startswith("https://www.instagram.com/p/")
    assert by_kind["mention"].text == "@democouncil Love this town" and by_kind["mention"].author_handle == "citizen"
    assert by_kind["dm"].author_id == CITIZEN_IG_ID and by_kind["dm"].author_handle == "citizen"
    assert council_ig.fetch_inbound(batch.cursor).items == []
    council_ig.reply(in_reply_to=comment_id, text="Victoria Park.")
    as_citizen(sim, "POST", f"{comment_id}/replies", data={"message": "Thank you"})
    [reply] = council_ig.fetch_inbound(batch.cursor).items
    assert reply.in_reply_to_id == comment_id and reply.text == "Thank you"


def test_instagram_replies_go_to_comments_own_posts_and_mentions(sim, council_ig):
    media_id = newest_media(sim)
    comment_id = as_citizen(sim, "POST", f"{media_id}/comments", data={"message": "Nice"})["id"]
    on_comment = council_ig.reply(in_reply_to=comment_id, text="Thanks!")
    on_post = council_ig.reply(in_reply_to=media_id, text="A note from us")
    public_page(sim, action="mention", target=COUNCIL_IG_ID, text="Look at this")
    mentioning = next(m["id"] for m in graph_state(sim)["ig_media"].values() if m["ig_id"] == CITIZEN_IG_ID)
    on_mention = council_ig.reply(in_reply_to=mentioning, text="Lovely picture!")
    comments = graph_state(sim)["ig_comments"]
    assert comments[on_comment.platform_id]["parent_id"] == comment_id
    assert comments[on_post.platform_id]["media_id"] == media_id and comments[on_post.platform_id]["parent_id"] == ""
    assert comments[on_mention.platform_id]["media_id"] == mentioning
    assert all(comments[p.platform_id]["author_id"] == COUNCIL_IG_ID for p in (on_comment, on_post, on_mention))
    assert on_comment.url.startswith("https://www.instagram.com/p/")


def test_instagram_message_answer_round_trip(sim, council_ig):
    public_page(sim, action="dm", target=COUNCIL_IG_ID, text="Hello")
    [dm] = council_ig.fetch_inbound({}).items
    sent = council_ig.send_dm(conversation_key=dm.conversation_key, recipient_id=dm.author_id, text="Hi there!")
    message = graph_state(sim)["messages"][sent.platform_id]
    assert (message["from_id"], message["to_id"]) == (COUNCIL_IG_ID, CITIZEN_IG_ID)


def test_instagram_posts_cannot_be_deleted_but_replies_can(sim, council_ig):
    with pytest.raises(PermanentError, match="does not let apps delete posts"):
        council_ig.delete(newest_media(sim))
    comment_id = as_citizen(sim, "POST", f"{newest_media(sim)}/comments", data={"message": "Hi"})["id"]
    ours = council_ig.reply(in_reply_to=comment_id, text="Posted in error")
    council_ig.delete(ours.platform_id)
    assert graph_state(sim)["ig_comments"][ours.platform_id]["deleted"] is True


def test_instagram_metrics_and_account_stats(sim, council_ig):
    media_id = newest_media(sim)
    public_page(sim, action="like", post=media_id)
    as_citizen(sim, "POST", f"{media_id}/comments", data={"message": "Great"})
    metrics = council_ig.post_metrics(media_id)
    assert (metrics.likes, metrics.replies, metrics.reposts) == (1, 1, 0) and metrics.impressions > 0
    stats = council_ig.account_stats()
    assert (stats.followers, stats.following, stats.posts) == (1830, 120, 1)
    assert stats.impressions is not None and stats.reach is not None


# -------------------------------------------------------------------------------------------- errors
def test_rate_limit_is_read_from_the_usage_header_and_the_next_call_waits_without_asking(sim, council):
    sim.fault("graph", "rate_limit", reset_in=600)
    started = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        council.account_stats()
    assert timedelta(minutes=9) < caught.value.reset_at - started <= timedelta(minutes=10, seconds=5)
    assert caught.value.platform_code == "32"
    before = len(sim.calls("graph"))
    with pytest.raises(RateLimited):
        council.whoami()
    assert len(sim.calls("graph")) == before


def test_an_expired_token_is_auth_expired(sim, council):
    sim.fault("graph", "expired_token")
    with pytest.raises(AuthExpired) as caught:
        council.fetch_inbound({})
    assert caught.value.platform_code == "190/463" and caught.value.permanent


def test_an_unknown_token_is_auth_expired_and_never_echoed(sim):
    token = "not a real token at all"
    broken = FacebookConnector(base_url=base_url_for("facebook"), credentials={"page_access_token": token},
                               account_id=COUNCIL_PAGE_ID)
    with pytest.raises(AuthExpired) as caught:
        broken.whoami()
    assert token not in caught.value.message and token not in str(caught.value)


def test_a_channel_without_a_token_needs_reconnecting_without_calling(sim):
    before = len(sim.calls("graph"))
    with pytest.raises(AuthExpired):
        FacebookConnector(base_url=base_url_for("facebook"), credentials={}, account_id=COUNCIL_PAGE_ID).whoami()
    assert len(sim.calls("graph")) == before


def test_a_page_token_of_another_page_is_a_permanent_error(sim):
    wrong = FacebookConnector(base_url=base_url_for("facebook"), credentials=dict(POLICE_FB["credentials"]),
                              account_id=COUNCIL_PAGE_ID)
    with pytest.raises(PermanentError) as caught:
        wrong.publish(text="Not our Page")
    assert caught.value.platform_code == "200" and caught.value.status == 403


def test_a_duplicate_fault_is_a_duplicate_post(sim, council):
    sim.fault("graph", "duplicate", path=f"/v21.0/{COUNCIL_PAGE_ID}/feed", method="POST")
    with pytest.raises(DuplicatePost):
        council.publish(text="Anything")


def test_server_errors_timeouts_and_unreachable_hosts_are_transient(sim, council):
    sim.fault("graph", "server_error")
    with pytest.raises(TransientError):
        council.whoami()
    impatient = connector(sim, COUNCIL_FB, timeout=0.2)
    sim.fault("graph", "slow", delay=0.8)
    started = time.monotonic()
    with pytest.raises(TransientError, match="did not answer in time"):
        impatient.whoami()
    assert time.monotonic() - started < 0.8
    nowhere = FacebookConnector(base_url="http://127.0.0.1:9", credentials=dict(COUNCIL_FB["credentials"]))
    with pytest.raises(TransientError) as caught:
        nowhere.whoami()
    assert "127.0.0.1" not in caught.value.message


# ------------------------------------------------------------------------------------- Facebook Login
def allow_in_dialog(url: str, *, pages=(COUNCIL_PAGE_ID, POLICE_PAGE_ID)) -> dict:
    """Act as the person in the dialog: open it, tick the Pages, press Allow; return the callback's query."""
    dialog = requests.get(url, timeout=5)
    assert dialog.status_code == 200 and ">Allow</button>" in dialog.text
    form = dict(parse_qs(urlsplit(url).query))
    answer = requests.post(url.split("?")[0], data={**{k: v[0] for k, v in form.items()}, "decision": "allow",
                                                     "page": list(pages)}, allow_redirects=False, timeout=5)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def test_facebook_login_end_to_end_gives_page_tokens_that_work(sim):
    url = login_url(state="state-123", redirect_uri=REDIRECT_URI)
    assert url.startswith(f"{sim.url}/graph/dialog/oauth?")
    scopes = parse_qs(urlsplit(url).query)["scope"][0].split(",")
    assert {"pages_show_list", "pages_manage_posts", "pages_messaging", "instagram_content_publish"} <= set(scopes)
    callback = allow_in_dialog(url)
    assert callback["state"] == "state-123"
    short = exchange_code(code=callback["code"], redirect_uri=REDIRECT_URI)
    long = long_lived(short)
    assert long != short
    pages = {p["id"]: p for p in list_pages(long)}
    assert set(pages) == {COUNCIL_PAGE_ID, POLICE_PAGE_ID}
    council = pages[COUNCIL_PAGE_ID]
    assert (council["name"], council["instagram_id"], council["instagram_username"]) == (
        "Demo Council", COUNCIL_IG_ID, "democouncil")
    page = FacebookConnector(base_url=base_url_for("facebook"), credentials={"page_access_token": council["page_access_token"]},
                             account_id=COUNCIL_PAGE_ID)
    assert page.whoami().account_id == COUNCIL_PAGE_ID
    instagram = InstagramConnector(base_url=base_url_for("instagram"), account_id=COUNCIL_IG_ID, credentials={
        "page_access_token": council["page_access_token"], "ig_user_id": COUNCIL_IG_ID, "page_id": COUNCIL_PAGE_ID})
    assert instagram.publish(text="Connected through Facebook Login", media=[PICTURE]).url
    # Page tokens from a long-lived user token keep working after the short-lived one has expired.
    sim.advance_clock(3 * 3600)
    assert page.account_stats().followers > 0


def test_login_only_lists_the_pages_the_person_ticked(sim):
    callback = allow_in_dialog(login_url(state="s", redirect_uri=REDIRECT_URI), pages=[POLICE_PAGE_ID])
    pages = list_pages(long_lived(exchange_code(code=callback["code"], redirect_uri=REDIRECT_URI)))
    assert [p["id"] for p in pages] == [POLICE_PAGE_ID]


def test_a_code_for_another_redirect_uri_is_refused_without_leaking_the_secret(sim, settings):
    callback = allow_in_dialog(login_url(state="s", redirect_uri=REDIRECT_URI))
    with pytest.raises(PermanentError) as caught:
        exchange_code(code=callback["code"], redirect_uri="http://elsewhere.test/cb")
    assert caught.value.platform_code == "100/36008"
    assert settings.FACEBOOK_APP_SECRET not in caught.value.message and callback["code"] not in caught.value.message
    with pytest.raises(AuthExpired):
        long_lived("sim-not-a-token")
