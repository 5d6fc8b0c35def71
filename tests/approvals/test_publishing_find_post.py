"""Reading our own posts back (connector.find_post), on every platform, against the simulator (issue 5 §3).

An ambiguous publish is settled by reading the account's recent posts before anything is sent again, so each
connector must find the post it published (same platform id), and nothing for words never posted, for a post older
than `since`, or for a reply. Also: the Mastodon Idempotency-Key, and X's t.co links put back when matching."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app import services as channel_services
from channels_app.connectors import get_connector
from channels_app.connectors.base import MediaItem, same_post_text
from channels_app.connectors.x import expanded_text
from simulator.platforms import bluesky as bsky_sim
from simulator.platforms import graph as graph_sim
from simulator.platforms import mastodon as mastodon_sim
from simulator.platforms import x as x_sim

pytestmark = pytest.mark.django_db

PLATFORMS = ["x", "facebook", "instagram", "mastodon", "bluesky"]
PICTURE = MediaItem(content=graph_sim.PLACEHOLDER_PNG, mime_type="image/png", alt_text="The new recycling bins")


def connect(org, sim, platform: str):
    """The council's account on the simulator, connected to Communications."""
    if platform == "x":
        account, instance = x_sim.DEMO_ACCOUNTS[0], ""
    elif platform in ("facebook", "instagram"):
        account, instance = next(a for a in graph_sim.DEMO_ACCOUNTS if a["platform"] == platform), ""
    elif platform == "mastodon":
        account, instance = mastodon_sim.DEMO_ACCOUNTS[0], f"{sim.url}/mastodon"
    else:
        account, instance = bsky_sim.DEMO_ACCOUNTS[0], ""
    return channel_services.channel_connect(
        actor=None, department=org.departments["Communications"], platform=platform, account_id=account["account_id"],
        handle=account["handle"], credentials=dict(account["credentials"]), instance_url=instance,
    )


@pytest.mark.parametrize("platform", PLATFORMS)
def test_find_post_finds_the_published_post_and_nothing_else(personas, sim, platform):
    channel = connect(personas.a, sim, platform)
    connector = get_connector(channel)
    text = f"Recycling centre opening hours change on Monday ({platform}). https://council.example/recycling"
    media = [PICTURE] if platform == "instagram" else []
    before = timezone.now() - timedelta(minutes=1)

    assert connector.find_post(text=text, since=before) is None
    posted = connector.publish(text=text, media=media, link="https://council.example/recycling")
    assert posted.platform_id

    found = get_connector(channel).find_post(text=text, since=before)
    assert found is not None and found.platform_id == posted.platform_id
    assert found.url
    assert connector.find_post(text="Words we never posted.", since=before) is None
    assert connector.find_post(text=text.replace("Monday", "Tuesday"), since=before) is None
    # Posted before the window that is read: not the attempt being settled.
    assert connector.find_post(text=text, since=timezone.now() + timedelta(minutes=5)) is None


@pytest.mark.parametrize("platform", ["x", "mastodon", "bluesky", "facebook"])
def test_find_post_does_not_take_a_reply_with_the_same_words_for_the_post(personas, sim, platform):
    channel = connect(personas.a, sim, platform)
    connector = get_connector(channel)
    first = connector.publish(text=f"Road closures this weekend ({platform}).")
    text = f"Thanks for asking, the list is online ({platform})."
    connector.reply(in_reply_to=first.platform_id, text=text)
    assert connector.find_post(text=text, since=timezone.now() - timedelta(minutes=1)) is None


def test_mastodon_idempotency_key_returns_the_first_status_instead_of_a_second(personas, sim):
    channel = connect(personas.a, sim, "mastodon")
    connector = get_connector(channel)
    text = "Council meeting tonight at 7pm, streamed online."
    first = connector.publish(text=text, idempotency_key="target-key-1")
    again = get_connector(channel).publish(text=text, idempotency_key="target-key-1")
    assert again.platform_id == first.platform_id
    statuses = [s for s in sim.state()["mastodon"]["statuses"].values() if s["text"] == text]
    assert len(statuses) == 1
    other = connector.publish(text=text, idempotency_key="target-key-2")
    assert other.platform_id != first.platform_id


def test_x_read_back_puts_short_links_back_and_drops_the_picture_link():
    # The shape X gives a post with a link and a picture (entities.urls), text as X stores it.
    tweet = {
        "id": "1800000000000000001",
        "text": "Bins move to Tuesday https://t.co/abc123 https://t.co/pic999",
        "entities": {"urls": [
            {"start": 21, "end": 44, "url": "https://t.co/abc123", "expanded_url": "https://council.example/bins",
             "display_url": "council.example/bins"},
            {"start": 45, "end": 68, "url": "https://t.co/pic999", "expanded_url": "https://x.com/democouncil/status/1/photo/1",
             "display_url": "pic.x.com/pic999", "media_key": "3_1"},
        ]},
    }
    assert expanded_text(tweet) == "Bins move to Tuesday https://council.example/bins"
    assert same_post_text("Bins move to Tuesday\nhttps://council.example/bins", expanded_text(tweet))
    assert not same_post_text("Bins move to Wednesday https://council.example/bins", expanded_text(tweet))
    # Only the link differs (X rewrote it beyond recognition): the words still decide.
    assert same_post_text("Bins move to Tuesday https://council.example/bins", "Bins move to Tuesday https://t.co/zz")
    assert not same_post_text("https://council.example/bins", "https://t.co/zz")


def test_bluesky_author_feed_on_the_simulator_lists_only_the_accounts_own_posts(personas, sim):
    channel = connect(personas.a, sim, "bluesky")
    connector = get_connector(channel)
    connector.publish(text="Library opening hours are longer from Monday.")
    connector._ensure_session()
    response = requests.get(f"{sim.url}/bsky/xrpc/app.bsky.feed.getAuthorFeed",
                            params={"actor": bsky_sim.COUNCIL_DID, "filter": "posts_no_replies", "limit": 5}, timeout=5)
    assert response.status_code == 200
    feed = response.json()["feed"]
    assert feed and all(item["post"]["author"]["did"] == bsky_sim.COUNCIL_DID for item in feed)
    assert feed[0]["post"]["record"]["text"] == "Library opening hours are longer from Monday."
    bad = requests.get(f"{sim.url}/bsky/xrpc/app.bsky.feed.getAuthorFeed", params={"actor": bsky_sim.COUNCIL_DID,
                                                                                   "filter": "everything"}, timeout=5)
    assert bad.status_code == 400
