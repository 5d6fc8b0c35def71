"""Dashboards never scan raw messages (issue 7 §2): every KPI function, the four dashboard pages and the four KPI
API endpoints read the rollup tables only, never the inbox's raw tables (messages and conversations).

The SQL each one runs is captured (CaptureQueriesContext) and searched for the raw tables' names as whole words,
quoted or not, so a join, a subquery or hand-written SQL is caught as well as a model query. Each capture must
also have read the rollup table that figure comes from, so an empty or cached capture cannot pass unseen: the
times cache is cleared before every capture. Had a KPI counted Message rows (for instance contact_totals doing
`Message.objects.filter(...).count()`, or a page joining to Conversation for a name), its SQL would name
"inbox_message" (or "inbox_conversation") and the test would fail; the first test shows the search sees
exactly such a query.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from inbox.models import Conversation, Message
from metrics import kpis, rollups
from metrics.models import (
    AgentDaily,
    ChannelSnapshot,
    ContactDaily,
    OfflineContactVolume,
    PostPerformance,
    ResponseFact,
)
from metrics.urls import urlpatterns
from tests.inbox_factories import make_channel
from tests.metrics.factories import published, snapshot, thread, utc

pytestmark = pytest.mark.django_db

RAW_TABLES = (Message._meta.db_table, Conversation._meta.db_table)
PERIOD = {"from": "2026-03-01", "to": "2026-03-31"}
NOW = utc(2026, 4, 1, 12)
API = ["/api/v1/kpis/overview/", "/api/v1/kpis/inbox/", "/api/v1/kpis/engagement/", "/api/v1/kpis/channel-shift/"]
# The KPI dashboards of metrics/urls.py (the channel-shift data entry pages are forms, not dashboards), and the
# rollup table each must have read.
PAGES = {
    "/dashboards/": [ContactDaily, ResponseFact, PostPerformance],
    "/dashboards/inbox/": [ContactDaily, ResponseFact, AgentDaily],
    "/dashboards/engagement/": [PostPerformance, ChannelSnapshot],
    "/dashboards/channel-shift/": [ContactDaily, OfflineContactVolume],
}


def _word(table: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(table)}\b")


RAW = [_word(table) for table in RAW_TABLES]


def raw_reads(captured) -> list[str]:
    """The captured statements that name a raw inbox table."""
    return [query["sql"] for query in captured.captured_queries if any(p.search(query["sql"]) for p in RAW)]


def reads(captured, model) -> bool:
    pattern = _word(model._meta.db_table)
    return any(pattern.search(query["sql"]) for query in captured.captured_queries)


@pytest.fixture
def activity(personas):
    """A month of contacts, replies, closings, posts, snapshots and offline volumes in both departments."""
    org = personas.a
    x = make_channel(org, "Customer Services", "x")
    mastodon = make_channel(org, "Communications", "mastodon")
    agent, admin = org.user("agent"), org.user("admin")
    for day in range(2, 28, 3):
        at = utc(2026, 3, day, 10)
        thread(org, x, [at, at + timedelta(minutes=5)], [(at + timedelta(minutes=30 + day), agent)],
               closed_at=at + timedelta(hours=3) if day % 2 else None)
        thread(org, mastodon, [at + timedelta(hours=1)], [(at + timedelta(hours=2), admin)])
        published(org, x, at, likes=day, impressions=100 * day, rate=1.0, method="impressions")
        published(org, mastodon, at + timedelta(hours=day % 5), likes=2, followers=200, rate=1.0, method="followers")
    snapshot(org, mastodon, date(2026, 3, 1), 200)
    snapshot(org, mastodon, date(2026, 3, 31), 230)
    OfflineContactVolume.objects.create(organisation=org.organisation, department=org.departments["Customer Services"],
                                        month=date(2026, 3, 1), channel="phone", volume=120)
    rollups.refresh(org.organisation.pk, now=NOW)
    return org


def _filter(org, member="admin"):
    query = QueryDict(mutable=True)
    query.update(PERIOD)
    return replace(kpis.kpi_filter(org.members[member], query), now=NOW)


def _capture(call, *args, **kwargs):
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        result = call(*args, **kwargs)
    return captured, result


def test_the_search_sees_a_query_on_the_raw_tables(activity):
    """The check itself: a count of Message rows, or a join through Conversation, is found."""
    captured, count = _capture(Message.objects.filter(organisation=activity.organisation).count)
    assert count == 9 * 3 + 9 * 2  # 2 inbound and 1 reply per X thread, 1 and 1 per Mastodon thread
    assert len(raw_reads(captured)) == 1
    captured, _ = _capture(list, ContactDaily.objects.filter(channel__conversations__status="open").values("pk"))
    assert raw_reads(captured)


KPI_CALLS = {
    "overview": (lambda f: kpis.overview(f), [ContactDaily, ResponseFact, PostPerformance, ChannelSnapshot]),
    "response_times": (lambda f: kpis.response_times(f), [ResponseFact]),
    "response_times by agent": (lambda f: kpis.response_times(f, by="agent"), [ResponseFact]),
    "response_times by department": (lambda f: kpis.response_times(f, by="department"), [ResponseFact]),
    "contact_totals": (lambda f: kpis.contact_totals(f), [ContactDaily]),
    "contacts_by channel per day": (lambda f: kpis.contacts_by(f, "channel", "day"), [ContactDaily]),
    "contacts_by department per week": (lambda f: kpis.contacts_by(f, "department", "week"), [ContactDaily]),
    "contacts_by platform per month": (lambda f: kpis.contacts_by(f, "platform", "month"), [ContactDaily]),
    "channel_engagement": (lambda f: kpis.channel_engagement(f), [PostPerformance, ChannelSnapshot]),
    "best_hours": (lambda f: kpis.best_hours(f), [PostPerformance]),
    "channel_shift": (lambda f: kpis.channel_shift(f), [ContactDaily, OfflineContactVolume]),
    "post_rates": (lambda f: kpis.post_rates(f), [PostPerformance]),
    "agent_workload": (lambda f: kpis.agent_workload(f), [AgentDaily, ResponseFact]),
}


@pytest.mark.parametrize("name", list(KPI_CALLS))
def test_kpi_functions_read_only_rollups(activity, name):
    call, sources = KPI_CALLS[name]
    for member in ("admin", "manager"):
        captured, result = _capture(call, _filter(activity, member))
        assert result, (name, member)  # figures, not an empty answer
        assert raw_reads(captured) == [], (name, member)
        for model in sources:
            assert reads(captured, model), (name, member, model.__name__)


def test_agent_workload_with_a_channel_filter_reads_only_rollups(activity):
    """With a channel filter the workload comes from the response facts alone: still no raw messages."""
    channel = activity.organisation.channels.order_by("pk").first()  # X: Customer Services, the agent
    f = replace(_filter(activity), channel_ids=(channel.pk,))
    captured, rows = _capture(kpis.agent_workload, f)
    assert rows and raw_reads(captured) == []


def test_the_dashboard_urls_are_the_ones_checked():
    dashboards = {f"/{pattern.pattern}" for pattern in urlpatterns if not str(pattern.pattern).endswith(
        ("/data/", "/costs/"))}
    assert dashboards == set(PAGES)


@pytest.mark.parametrize("url", list(PAGES))
def test_dashboard_pages_read_only_rollups(personas, login, activity, url):
    client = login(personas.a.members["admin"])
    for params in ({"preset": "custom", **PERIOD, "compare": "1"},
                   {"preset": "custom", **PERIOD, "compare": "1", "grain": "week", "by": "department"}):
        captured, response = _capture(client.get, url, params)
        assert response.status_code == 200
        assert raw_reads(captured) == [], url
        for model in PAGES[url]:
            assert reads(captured, model), (url, model.__name__)
    for table in response.context["tables"]:
        captured, download = _capture(client.get, url, {**params, "format": "csv", "table": table})
        assert download.status_code == 200 and raw_reads(captured) == [], (url, table)


@pytest.mark.parametrize("url", API)
def test_kpi_api_reads_only_rollups(personas, api_for, activity, url):
    for member in ("admin", "manager"):
        api = api_for(personas.a.members[member])
        captured, response = _capture(api.get, url, PERIOD)
        assert response.status_code == 200, response.content
        assert raw_reads(captured) == [], (url, member)
        assert reads(captured, ContactDaily) or reads(captured, PostPerformance), url
