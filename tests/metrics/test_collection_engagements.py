"""Per-post collection copies every engagement figure a platform reports (issue 7 §1): replies, reposts (retweets,
boosts, shares), quotes, impressions and link clicks land in PostMetricSample and PostPerformance exactly as reported,
and `engagements` is their sum as metrics/definitions.py defines it (likes + replies + reposts or shares + quotes +
link clicks where the platform reports them).

The public acts through the simulator: its public page (the form a person uses as "the public") and, for what that page
cannot do, the platform API with a public or another organisation's token. Each figure gets its own count, so a value
copied into the wrong column shows. The simulator's X and Mastodon report no quotes (quote_count and quotes_count are
always 0 there), so quotes are produced on Bluesky.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from channels_app.connectors import get_connector
from metrics import collection
from metrics.models import PostMetricSample, PostPerformance
from simulator.platforms import bluesky as bsky_sim
from simulator.platforms import graph_api as graph_people
from simulator.platforms import mastodon as mastodon_sim
from simulator.platforms import x as x_sim
from tests.approvals_factories import demo_channel
from tests.inbox.test_reconcile_platforms import MASTODON_CITIZEN_ID
from tests.metrics.test_collection import on_platform, sent_target

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Counts:
    likes: int
    replies: int
    reposts: int
    quotes: int


def public_page(sim, module: str, action: str, author: str, post_id: str, *, target: str = "", text: str = "") -> None:
    """One action on the simulator's public page, as a member of the public (or another account) would do it."""
    form = {"platform": module, "action": action, "author": author, "post": post_id, "target": target, "text": text}
    response = requests.post(f"{sim.url}/", data=form, timeout=5)
    response.raise_for_status()
    assert "Sent (" in response.text or "Done (" in response.text, response.text[-400:]


def api(sim, method: str, path: str, token: str, **kwargs) -> dict:
    response = requests.request(method, f"{sim.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5,
                                **kwargs)
    response.raise_for_status()
    return response.json()


def collect_once(target):
    """Tracks and collects the post once, as the beat tasks do; returns its PostPerformance and its one sample."""
    now = timezone.now()
    collection.track_published_targets(now=now)
    assert collection.collect_due(now=now).collected == 1
    return PostPerformance.objects.get(target=target), PostMetricSample.objects.get(target=target)


def figures(row) -> Counts:
    return Counts(likes=row.likes, replies=row.replies, reposts=row.reposts, quotes=row.quotes)


def published(sim, org, platform: str, text: str):
    channel = demo_channel(org, platform)
    target = sent_target(org, channel, on_platform(sim, channel, text), timezone.now() - timedelta(hours=1))
    return channel, target


# ------------------------------------------------------------------------------------------- per platform
def test_x_replies_retweets_quotes_and_impressions_are_copied(sim, personas):
    channel, target = published(sim, personas.a, "x", "Road resurfacing on the High Street starts on Monday")
    post = target.platform_id
    public_page(sim, "x", "like", x_sim.CITIZEN_ID, post)
    for retweeter in (x_sim.CITIZEN_ID, x_sim.NEIGHBOUR_ID):
        public_page(sim, "x", "repost", retweeter, post)
    for n in range(3):
        public_page(sim, "x", "comment", x_sim.CITIZEN_ID, post, target=channel.account_id, text=f"Which end first? ({n})")
    for n in range(4):  # quote Tweets, posted through the API as a member of the public
        api(sim, "POST", "/x/2/tweets", x_sim.CITIZEN_TOKEN, json={"text": f"Good to know ({n})", "quote_tweet_id": post})
    made = Counts(likes=1, replies=3, reposts=2, quotes=4)

    row, sample = collect_once(target)
    assert figures(sample) == figures(row) == made
    # Impressions as X reports them (the council reading its own post adds none).
    reported = get_connector(channel).post_metrics(post)
    assert row.impressions == sample.impressions == reported.impressions > sum(astuple(made))
    assert row.link_clicks is None and sample.link_clicks is None  # X gives no link clicks
    assert row.engagements == sum(astuple(made)) == 10
    assert row.rate_method == "impressions"
    assert row.engagement_rate == pytest.approx(100 * 10 / reported.impressions)


def test_mastodon_replies_and_boosts_are_copied(sim, personas):
    channel, target = published(sim, personas.a, "mastodon", "The swimming pool is closed for repairs this week")
    post = target.platform_id
    citizen = MASTODON_CITIZEN_ID
    police_token = next(a["credentials"]["access_token"] for a in mastodon_sim.DEMO_ACCOUNTS
                        if a["username"] == "demopolice")
    public_page(sim, "mastodon", "like", citizen, post)
    public_page(sim, "mastodon", "repost", citizen, post)
    # A second boost, by another account on the instance (the public page has one member of the public).
    api(sim, "POST", f"/mastodon/api/v1/statuses/{post}/reblog", police_token)
    for n in range(3):
        public_page(sim, "mastodon", "comment", citizen, post, target=channel.account_id, text=f"Until when? ({n})")
    made = Counts(likes=1, replies=3, reposts=2, quotes=0)

    row, sample = collect_once(target)
    assert figures(sample) == figures(row) == made
    assert (row.impressions, row.link_clicks, sample.impressions, sample.link_clicks) == (None, None, None, None)
    assert row.engagements == sum(astuple(made)) == 6


def _bluesky_quote(sim, post_uri: str, text: str) -> None:
    """The citizen quotes the post: a post of theirs embedding it (app.bsky.embed.record), through the PDS."""
    cid = sim.state()["bsky"]["records"][post_uri]["cid"]
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": timezone.now().isoformat(),
              "embed": {"$type": "app.bsky.embed.record", "record": {"uri": post_uri, "cid": cid}}}
    api(sim, "POST", "/bsky/xrpc/com.atproto.repo.createRecord", bsky_sim.CITIZEN_TOKEN,
        json={"repo": bsky_sim.CITIZEN_DID, "collection": "app.bsky.feed.post", "record": record})


def test_bluesky_replies_reposts_and_quotes_are_copied(sim, personas):
    channel, target = published(sim, personas.a, "bluesky", "Recycling centre opening hours change in June")
    post = target.platform_id
    public_page(sim, "bsky", "like", bsky_sim.CITIZEN_DID, post)
    for reposter in (bsky_sim.CITIZEN_DID, bsky_sim.NEIGHBOUR_DID):
        public_page(sim, "bsky", "repost", reposter, post)
    for n in range(3):
        public_page(sim, "bsky", "comment", bsky_sim.CITIZEN_DID, post, target=channel.account_id,
                    text=f"Weekends too? ({n})")
    for n in range(4):
        _bluesky_quote(sim, post, f"Worth knowing, neighbours ({n})")
    made = Counts(likes=1, replies=3, reposts=2, quotes=4)

    row, sample = collect_once(target)
    assert figures(sample) == figures(row) == made
    assert (row.impressions, row.link_clicks, sample.impressions, sample.link_clicks) == (None, None, None, None)
    assert row.engagements == sum(astuple(made)) == 10


def test_facebook_comments_shares_impressions_and_link_clicks_are_copied(sim, personas):
    channel, target = published(sim, personas.a, "facebook", "Have your say on the new cycle lanes")
    post = target.platform_id
    citizen = graph_people.CITIZEN_ID
    public_page(sim, "graph", "like", citizen, post)
    for _ in range(2):
        public_page(sim, "graph", "repost", citizen, post)  # a share each time
    for n in range(3):
        public_page(sim, "graph", "comment", citizen, post, target=channel.account_id, text=f"Which roads? ({n})")
    made = Counts(likes=1, replies=3, reposts=2, quotes=0)

    row, sample = collect_once(target)
    assert figures(sample) == figures(row) == made
    # The post's insights, as Facebook reports them to the Page.
    reported = get_connector(channel).post_metrics(post)
    assert reported.link_clicks and reported.impressions
    assert row.link_clicks == sample.link_clicks == reported.link_clicks
    assert row.impressions == sample.impressions == reported.impressions
    assert row.engagements == sum(astuple(made)) + reported.link_clicks
    assert row.rate_method == "impressions"
    assert row.engagement_rate == pytest.approx(100 * row.engagements / reported.impressions)


# ------------------------------------------------------------------------------------------ later collections
def test_a_later_collection_stores_the_new_figures_and_keeps_the_earlier_sample(sim, personas):
    channel, target = published(sim, personas.a, "bluesky", "Street party applications are open")
    post = target.platform_id
    public_page(sim, "bsky", "repost", bsky_sim.CITIZEN_DID, post)
    _bluesky_quote(sim, post, "Let's do one on Elm Road")
    row, first = collect_once(target)
    assert figures(row) == Counts(likes=0, replies=0, reposts=1, quotes=1)

    public_page(sim, "bsky", "repost", bsky_sim.NEIGHBOUR_DID, post)
    public_page(sim, "bsky", "comment", bsky_sim.NEIGHBOUR_DID, post, target=channel.account_id, text="Count us in")
    for n in range(2):
        _bluesky_quote(sim, post, f"Elm Road is in ({n})")
    assert collection.collect_due(now=row.next_collect_at).collected == 1

    row.refresh_from_db()
    first.refresh_from_db()
    later = PostMetricSample.objects.filter(target=target).exclude(pk=first.pk).get()
    assert figures(row) == figures(later) == Counts(likes=0, replies=1, reposts=2, quotes=3)
    assert row.engagements == 6 and row.collections == 2
    assert figures(first) == Counts(likes=0, replies=0, reposts=1, quotes=1)  # the time series keeps the first
