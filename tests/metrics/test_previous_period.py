"""Comparison with the previous period (issue 7 §3): kpis.overview's `previous` and `change_percent` against
hand-computed figures, with activity in both periods, and the same figures in the API and on /dashboards/.

The period is Monday 9 – Sunday 15 March 2026 (7 days); the previous one (KpiFilter.previous) is Monday 2 –
Sunday 8 March. Before the clock change, so Europe/London is UTC. Both departments have no InboxPolicy: first
response due in 60 office minutes, resolution in 480, Monday–Friday 09:00–17:00; every time below is inside
office hours, so office-hours times equal clock times. "Now" is after every due time.

Previous period
  P1 Customer Services (X): in Mon 2 Mar 10:00 and 10:05; agent reply 10:20 (20 min = 1,200 s); closed 12:00 (2 h)
  P2 Communications (Mastodon): in Tue 3 Mar 10:00; admin reply 11:30 (90 min = 5,400 s; due 11:00: missed)
  P3 Communications (Mastodon): in Wed 4 Mar 10:00; manager reply 10:40 (40 min = 2,400 s)
  P4 Customer Services (X): in Thu 5 Mar 14:00, 14:10, 14:20; never answered (missed)
  one post on X, Tue 3 Mar: 4 likes; no follower snapshots
  → opened 4, inbound 2 + 1 + 1 + 3 = 7, replies 3 (none automatic), closed 1 (P1)
    first response 1,200 · 2,400 · 5,400: median 2,400; p90 at rank 1.8: 2,400 + 0.8 × 3,000 = 4,800
    resolution (P1 only) 7,200; first-response target met P1, P3 of 4 = 50.0 %; resolution met P1 of 4 = 25.0 %
    posts 1, engagements 4, follower growth 0
Current period
  C1 Customer Services (X): in Mon 9 Mar 10:00; agent reply 10:10 (600 s); closed 11:00 (1 h)
  C2 Communications (Mastodon): in Tue 10 Mar 10:00 and 10:30; automatic reply 10:01; admin reply 10:50 (3,000 s);
     never closed (resolution due Wed 11 Mar 10:00: missed)
  posts: X Wed 11 Mar 6 likes, Mastodon Thu 12 Mar 4 likes; Mastodon followers 100 on 9 Mar, 110 on 15 Mar
  → opened 2, inbound 3, replies 3 (1 automatic), closed 1; first response 600 · 3,000: median 1,800,
    p90 600 + 0.9 × 2,400 = 2,760; resolution 3,600; targets: first response 2 of 2 = 100.0 %, resolution 1 of 2
    = 50.0 %; posts 2, engagements 10, follower growth +10
Change (%, one decimal): opened (2 − 4) ÷ 4 = −50.0; inbound (3 − 7) ÷ 7 = −57.1; replies ±0.0; closed ±0.0;
  first-response median (1,800 − 2,400) ÷ 2,400 = −25.0; p90 (2,760 − 4,800) ÷ 4,800 = −42.5; resolution −50.0;
  targets +100.0 and +100.0; posts +100.0; engagements +150.0; automatic replies and follower growth: the
  previous value is 0, so no change (None), although the current one is not.
"""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.http import QueryDict

from metrics import kpis, rollups
from tests.inbox_factories import make_channel
from tests.metrics.factories import published, snapshot, thread, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 3, 20, 12)
PERIOD = {"from": "2026-03-09", "to": "2026-03-15"}

PREVIOUS = {
    "inbound_messages": 7, "outbound_messages": 3, "automatic_replies": 0, "conversations_opened": 4,
    "conversations_closed": 1, "first_response_p50": 2_400, "first_response_office_p50": 2_400,
    "first_response_p90": 4_800, "resolution_p50": 7_200, "first_response_sla_percent": 50.0,
    "resolution_sla_percent": 25.0, "posts": 1, "engagements": 4, "follower_growth": 0,
}
CURRENT = {
    "inbound_messages": 3, "outbound_messages": 3, "automatic_replies": 1, "conversations_opened": 2,
    "conversations_closed": 1, "first_response_p50": 1_800, "first_response_office_p50": 1_800,
    "first_response_p90": 2_760, "resolution_p50": 3_600, "first_response_sla_percent": 100.0,
    "resolution_sla_percent": 50.0, "posts": 2, "engagements": 10, "follower_growth": 10,
}
CHANGE = {
    "inbound_messages": -57.1, "outbound_messages": 0.0, "automatic_replies": None, "conversations_opened": -50.0,
    "conversations_closed": 0.0, "first_response_p50": -25.0, "first_response_office_p50": -25.0,
    "first_response_p90": -42.5, "resolution_p50": -50.0, "first_response_sla_percent": 100.0,
    "resolution_sla_percent": 100.0, "posts": 100.0, "engagements": 150.0, "follower_growth": None,
}


@pytest.fixture
def two_periods(personas):
    org = personas.a
    x = make_channel(org, "Customer Services", "x", handle="@alpha_service")
    mastodon = make_channel(org, "Communications", "mastodon", handle="@alpha_comms")
    agent, admin, manager = org.user("agent"), org.user("admin"), org.user("manager")
    # The previous period, 2–8 March.
    thread(org, x, [utc(2026, 3, 2, 10), utc(2026, 3, 2, 10, 5)], [(utc(2026, 3, 2, 10, 20), agent)],
           closed_at=utc(2026, 3, 2, 12))
    thread(org, mastodon, [utc(2026, 3, 3, 10)], [(utc(2026, 3, 3, 11, 30), admin)])
    thread(org, mastodon, [utc(2026, 3, 4, 10)], [(utc(2026, 3, 4, 10, 40), manager)])
    thread(org, x, [utc(2026, 3, 5, 14), utc(2026, 3, 5, 14, 10), utc(2026, 3, 5, 14, 20)])
    published(org, x, utc(2026, 3, 3, 12), likes=4, impressions=200, rate=2.0, method="impressions")
    # This period, 9–15 March.
    thread(org, x, [utc(2026, 3, 9, 10)], [(utc(2026, 3, 9, 10, 10), agent)], closed_at=utc(2026, 3, 9, 11))
    thread(org, mastodon, [utc(2026, 3, 10, 10), utc(2026, 3, 10, 10, 30)],
           [(utc(2026, 3, 10, 10, 1), None), (utc(2026, 3, 10, 10, 50), admin)])
    published(org, x, utc(2026, 3, 11, 12), likes=6, impressions=300, rate=2.0, method="impressions")
    published(org, mastodon, utc(2026, 3, 12, 12), likes=4, followers=100, rate=4.0, method="followers")
    snapshot(org, mastodon, utc(2026, 3, 9).date(), 100)
    snapshot(org, mastodon, utc(2026, 3, 15).date(), 110)
    rollups.refresh(org.organisation.pk, now=NOW)
    return org


def _filter(org, member="admin"):
    return replace(kpis.kpi_filter(org.members[member], QueryDict(urlencode(PERIOD))), now=NOW)


def _approx(expected: dict) -> dict:
    return {key: (pytest.approx(value) if isinstance(value, float | int) else value) for key, value in expected.items()}


def test_previous_period_is_the_seven_days_before(two_periods):
    f = _filter(two_periods)
    previous = f.previous()
    assert (previous.start.isoformat(), previous.end.isoformat()) == ("2026-03-02", "2026-03-08")
    result = kpis.overview(f)
    assert result["previous_period"] == {"from": previous.start, "to": previous.end}


def test_overview_previous_figures_and_change_against_hand_computed_values(two_periods):
    result = kpis.overview(_filter(two_periods))
    assert result["current"] == _approx(CURRENT)
    assert result["previous"] == _approx(PREVIOUS)
    assert result["change_percent"] == CHANGE
    # Spelled out: a fall, a rise, no change, and nothing to compare with.
    assert result["change_percent"]["conversations_opened"] == -50.0
    assert result["change_percent"]["first_response_p50"] == -25.0
    assert result["change_percent"]["engagements"] == 150.0
    assert result["change_percent"]["conversations_closed"] == 0.0
    assert result["previous"]["follower_growth"] == 0 and result["change_percent"]["follower_growth"] is None
    assert result["previous"]["automatic_replies"] == 0 and result["change_percent"]["automatic_replies"] is None


def test_previous_period_is_scoped_to_the_managers_departments(two_periods):
    # The manager sees Communications only: P2 and P3 before (90 and 40 min), C2 now (50 min, 2 inbound).
    result = kpis.overview(_filter(two_periods, "manager"))
    previous, change = result["previous"], result["change_percent"]
    assert (previous["conversations_opened"], previous["inbound_messages"]) == (2, 2)
    assert previous["first_response_p50"] == pytest.approx(3_900)  # (2,400 + 5,400) ÷ 2
    assert previous["posts"] == 0
    assert change["conversations_opened"] == -50.0  # 1 against 2
    assert change["inbound_messages"] == 0.0  # 2 against 2
    assert change["first_response_p50"] == -23.1  # (3,000 − 3,900) ÷ 3,900 = −23.08
    assert change["posts"] is None  # 1 against 0


def test_api_overview_gives_the_same_previous_period(personas, api_for, two_periods):
    response = api_for(personas.a.members["admin"]).get("/api/v1/kpis/overview/", PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["previous_period"] == {"from": "2026-03-02", "to": "2026-03-08", "days": 7}
    assert body["current"] == _approx(CURRENT)
    assert body["previous"] == _approx(PREVIOUS)
    assert body["change_percent"] == CHANGE


class _Cards(HTMLParser):
    """The text of each overview card's value and previous-period paragraphs, by card id (figure-<key>)."""

    def __init__(self):
        super().__init__()
        self.cards: dict[str, dict[str, list[str]]] = {}
        self._card = None
        self._part = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and (attrs.get("id") or "").startswith("figure-"):
            self._card = attrs["id"].removeprefix("figure-")
            self.cards[self._card] = {"value": [], "previous": []}
        elif self._card and tag == "p":
            classes = (attrs.get("class") or "").split()
            self._part = ("value" if "dash-card__value" in classes else
                          "previous" if "dash-card__previous" in classes else None)

    def handle_endtag(self, tag):
        if tag == "p":
            self._part = None
        elif tag == "li":
            self._card = None

    def handle_data(self, data):
        if self._card and self._part and data.strip():
            self.cards[self._card][self._part].append(data.strip())


def test_dashboard_overview_shows_the_previous_period_and_change(personas, login, two_periods):
    client = login(personas.a.members["admin"])
    response = client.get("/dashboards/", {"preset": "custom", **PERIOD, "compare": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    parser = _Cards()
    parser.feed(html)
    shown = {key: (" ".join(card["value"]), card["previous"]) for key, card in parser.cards.items()}
    # Durations as hours and minutes, changes signed with a real minus sign, "–" where there is nothing to compare.
    assert shown["conversations_opened"] == ("2", ["Previous period: 4", "Change: −50.0 %"])
    assert shown["inbound_messages"] == ("3", ["Previous period: 7", "Change: −57.1 %"])
    assert shown["outbound_messages"] == ("3", ["Previous period: 3", "Change: ±0.0 %"])
    assert shown["first_response_p50"] == ("30 min", ["Previous period: 40 min", "Change: −25.0 %"])
    assert shown["first_response_p90"] == ("46 min", ["Previous period: 1 h 20 min", "Change: −42.5 %"])
    assert shown["resolution_p50"] == ("1 h 00 min", ["Previous period: 2 h 00 min", "Change: −50.0 %"])
    assert shown["first_response_sla_percent"] == ("100.0 %", ["Previous period: 50.0 %", "Change: +100.0 %"])
    assert shown["engagements"] == ("10", ["Previous period: 4", "Change: +150.0 %"])
    assert shown["follower_growth"] == ("10", ["Previous period: 0", "Change: –"])
    assert "compared with the 7 days before" in html
    # The contacts chart's text summary names the previous period's count and the change too.
    assert "The previous period had 4 (−50.0 %)." in html


def test_dashboard_headline_csv_carries_the_previous_period(personas, login, two_periods):
    import csv
    import io

    client = login(personas.a.members["admin"])
    response = client.get("/dashboards/", {"preset": "custom", **PERIOD, "compare": "1", "format": "csv",
                                           "table": "headline"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = rows[0]
    by_key = {row[header.index("Key")]: row for row in rows[1:]}
    previous, change = header.index("Previous period"), header.index("Change (%)")
    assert by_key["first_response_p50"][previous] == "2400"
    assert by_key["conversations_opened"][previous] == "4"
    assert by_key["inbound_messages"][change] == "-57.1"
    assert by_key["follower_growth"][change] == ""
