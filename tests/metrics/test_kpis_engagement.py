"""Engagement per post and per channel (the method switch), follower growth, top and bottom posts, best hours.

Fixture, March 2026 (GMT = UTC, so local hours are the UTC hours), all in Communications:

| post | channel  | published (UTC)  | engagements              | impressions | followers | stored rate |
|------|----------|------------------|--------------------------|-------------|-----------|-------------|
| P1   | X        | Mon 2 Mar 10:15  | 30+5+10+5 = 50           | 1,000       | –         | 5.0 (impr.) |
| P2   | X        | Tue 3 Mar 14:00  | 20                       | 2,000       | –         | 1.0 (impr.) |
| P3   | Mastodon | Wed 4 Mar 10:40  | 12                       | –           | 400       | 3.0 (foll.) |
| P4   | Mastodon | Thu 5 Mar 16:00  | 2                        | –           | 400       | 0.5 (foll.) |
| P6   | Facebook | Fri 6 Mar 09:10  | 10                       | 500         | 1,000     | 2.0 (impr.) |
| P7   | Facebook | Mon 9 Mar 09:45  | 6                        | – (missing) | 1,000     | 0.6 (foll.) |
| P5   | X        | Wed 1 Apr 08:30 UTC = 09:30 BST: outside March | 30 | 1,000 | – | 3.0 |

Per channel in March:
  X: every post has impressions → (50 + 20) ÷ (1,000 + 2,000) = 2.33 %, method impressions
  Mastodon: no impressions → (12 + 2) ÷ (400 + 400) = 1.75 %, method followers
  Facebook: one post lacks impressions → followers for the channel: (10 + 6) ÷ (1,000 + 1,000) = 0.8 %
Followers (snapshots): X 1,000 on 1 Mar, 1,100 on 15 Mar, 1,150 on 31 Mar → +150, +15.0 %;
  Mastodon 400 → 380 → −20, −5.0 %; Facebook has no snapshots → no growth figure.
Best hours: 09 (P6 2.0, P7 0.6) → 2 posts, 1.3; 10 (P1 5.0, P3 3.0) → 2, 4.0; 14 (P2) → 1.0; 16 (P4) → 0.5.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.http import QueryDict

from metrics import kpis
from tests.inbox_factories import make_channel
from tests.metrics.factories import published, snapshot, utc


@pytest.fixture
def engagement(personas):
    org = personas.a
    x = make_channel(org, "Communications", "x", "@alpha_x")
    mastodon = make_channel(org, "Communications", "mastodon", "@alpha_md")
    facebook = make_channel(org, "Communications", "facebook", "@alpha_fb")
    org.p1 = published(org, x, utc(2026, 3, 2, 10, 15), likes=30, replies=5, reposts=10, quotes=5, impressions=1000,
                       rate=5.0, method="impressions")
    org.p2 = published(org, x, utc(2026, 3, 3, 14), likes=20, impressions=2000, rate=1.0, method="impressions")
    org.p3 = published(org, mastodon, utc(2026, 3, 4, 10, 40), likes=12, followers=400, rate=3.0, method="followers")
    org.p4 = published(org, mastodon, utc(2026, 3, 5, 16), likes=2, followers=400, rate=0.5, method="followers")
    org.p6 = published(org, facebook, utc(2026, 3, 6, 9, 10), likes=10, impressions=500, followers=1000, rate=2.0,
                       method="impressions")
    org.p7 = published(org, facebook, utc(2026, 3, 9, 9, 45), likes=6, followers=1000, rate=0.6, method="followers")
    published(org, x, utc(2026, 4, 1, 8, 30), likes=30, impressions=1000, rate=3.0, method="impressions")
    for day, followers in [(1, 1000), (15, 1100), (31, 1150)]:
        snapshot(org, x, date(2026, 3, day), followers)
    snapshot(org, mastodon, date(2026, 3, 1), 400)
    snapshot(org, mastodon, date(2026, 3, 31), 380)
    org.channels = {"x": x, "mastodon": mastodon, "facebook": facebook}
    return org


def march(org, member="admin"):
    return kpis.kpi_filter(org.members[member], QueryDict("from=2026-03-01&to=2026-03-31"))


def test_channel_rate_switches_method_and_shows_it(engagement):
    rows = {row["handle"]: row for row in kpis.channel_engagement(march(engagement))}
    got = {handle: (row["posts"], row["engagements"], row["engagement_rate"], row["rate_method"])
           for handle, row in rows.items()}
    assert got == {
        "@alpha_x": (2, 70, 2.33, "impressions"),
        "@alpha_md": (2, 14, 1.75, "followers"),
        "@alpha_fb": (2, 16, 0.8, "followers"),  # one post without impressions: the channel falls back
    }


def test_follower_growth_net_and_percent(engagement):
    rows = {row["handle"]: row for row in kpis.channel_engagement(march(engagement))}
    assert (rows["@alpha_x"]["follower_growth"], rows["@alpha_x"]["follower_growth_percent"]) == (150, 15.0)
    assert (rows["@alpha_md"]["follower_growth"], rows["@alpha_md"]["follower_growth_percent"]) == (-20, -5.0)
    assert (rows["@alpha_fb"]["follower_growth"], rows["@alpha_fb"]["follower_growth_percent"]) == (None, None)


def test_top_and_bottom_posts(engagement):
    top = kpis.post_rates(march(engagement), limit=2)
    bottom = kpis.post_rates(march(engagement), order="engagement_rate", limit=2)
    assert [row["target_id"] for row in top] == [engagement.p1.pk, engagement.p3.pk]
    assert [row["target_id"] for row in bottom] == [engagement.p4.pk, engagement.p7.pk]
    assert (top[0]["engagement_rate"], top[0]["rate_method"], top[1]["rate_method"]) == (5.0, "impressions",
                                                                                         "followers")


def test_best_hours(engagement):
    assert kpis.best_hours(march(engagement)) == [
        {"hour": 9, "posts": 2, "average_rate": 1.3},
        {"hour": 10, "posts": 2, "average_rate": 4.0},
        {"hour": 14, "posts": 1, "average_rate": 1.0},
        {"hour": 16, "posts": 1, "average_rate": 0.5},
    ]


def test_post_published_after_midnight_london_on_the_first_is_in_april(engagement):
    # P5 at 08:30 UTC on 1 April is 09:30 BST on 1 April: not March, and in April's best hour 9.
    april = kpis.kpi_filter(engagement.members["admin"], QueryDict("from=2026-04-01&to=2026-04-30"))
    assert kpis.best_hours(april) == [{"hour": 9, "posts": 1, "average_rate": 3.0}]


def test_overview_engagement_headlines(engagement):
    current = kpis.overview(march(engagement))["current"]
    # 6 posts; 50 + 20 + 12 + 2 + 10 + 6 = 100 engagements; +150 − 20 followers.
    assert (current["posts"], current["engagements"], current["follower_growth"]) == (6, 100, 130)


def test_platform_filter(engagement):
    f = kpis.kpi_filter(engagement.members["admin"], QueryDict("from=2026-03-01&to=2026-03-31&platform=mastodon"))
    assert [row["handle"] for row in kpis.channel_engagement(f)] == ["@alpha_md"]
    assert [row["target_id"] for row in kpis.post_rates(f)] == [engagement.p3.pk, engagement.p4.pk]
