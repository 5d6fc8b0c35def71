"""The KPI dashboard pages (/dashboards/...): figures from the rollups, department scoping, roles, bad filters, CSV
of every table, and query counts that do not grow with the days or channels in the period.

The data: organisation A (personas) has an X channel in Communications and a Mastodon channel in Customer Services.
In the week below, Communications has 2 contacts (one answered by the admin after 30 minutes, one not answered) and
Customer Services 3 (one answered by the agent after 2 hours and closed the next day). One post was published on
each channel. Rollups are built by metrics.rollups.refresh, as beat's task does.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import Conversation, Message, MessageDirection
from metrics import rollups
from tests.inbox_factories import make_channel, make_conversation
from tests.metrics.factories import published

pytestmark = pytest.mark.django_db

PAGES = {
    "overview": "/dashboards/",
    "inbox": "/dashboards/inbox/",
    "engagement": "/dashboards/engagement/",
    "channel_shift": "/dashboards/channel-shift/",
}


def _noon(days_ago: int) -> datetime:
    """12:00 UTC some days ago: the same date in Europe/London, whatever the season."""
    today = timezone.now().astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)


def _period(days_back: int = 20) -> dict:
    today = timezone.now().astimezone(UTC).date()
    return {"from": (today - timedelta(days=days_back)).isoformat(), "to": today.isoformat()}


def _reply(conversation: Conversation, at: datetime, user, *, close_at: datetime | None = None) -> None:
    Message.objects.create(organisation=conversation.organisation, channel=conversation.channel,
                           conversation=conversation, platform_message_id=f"ours-{conversation.pk}",
                           direction=MessageDirection.OUTBOUND, kind="reply", text="On it", sent_by=user,
                           created_at=at)
    conversation.first_responded_at = at
    if close_at:
        conversation.status, conversation.closed_at = "closed", close_at
    conversation.save()


@pytest.fixture
def data(personas):
    org = personas.a
    comms = make_channel(org, "Communications", "x", handle="@alpha_comms")
    service = make_channel(org, "Customer Services", "mastodon", handle="@alpha_service")
    answered = make_conversation(org, channel=comms, at=_noon(6))
    _reply(answered, _noon(6) + timedelta(minutes=30), org.user("admin"))
    make_conversation(org, channel=comms, at=_noon(5))
    helped = make_conversation(org, channel=service, at=_noon(4))
    _reply(helped, _noon(4) + timedelta(hours=2), org.user("agent"), close_at=_noon(3))
    make_conversation(org, channel=service, at=_noon(4))
    make_conversation(org, channel=service, at=_noon(2))
    published(org, comms, _noon(5), likes=6, replies=2, impressions=400, rate=2.0, method="impressions")
    published(org, service, _noon(3), likes=3, followers=300, rate=1.0, method="followers")
    rollups.refresh(org.organisation.pk)
    return {"comms": comms, "service": service}


def _cards(response) -> dict:
    return {card["key"]: card for card in response.context["cards"]}


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


# ------------------------------------------------------------------------------------------- figures
def test_admin_sees_the_whole_organisations_figures(personas, login, data):
    client = login(personas.a.members["admin"])
    response = client.get(PAGES["overview"], {**_period(), "compare": "1"})
    assert response.status_code == 200
    cards = _cards(response)
    assert cards["conversations_opened"]["value"] == "5"
    assert cards["outbound_messages"]["value"] == "2"
    assert cards["conversations_closed"]["value"] == "1"
    assert cards["posts"]["value"] == "2"
    assert cards["engagements"]["value"] == "11"
    # Median of 30 min and 2 h: 1 h 15 min.
    assert cards["first_response_p50"]["value"] == "1 h 15 min"
    html = response.content.decode()
    assert re.search(r'id="figure-conversations_opened">\s*<h3[^>]*>[^<]+</h3>\s*<p class="dash-card__value">5</p>',
                     html)
    # The definition is beside the figure, and the previous period's value (nothing then) and the change.
    assert "Conversations whose first message from the public" in html
    assert "Previous period: 0" in html
    assert client.get(PAGES["overview"]).context["form"].compare is True  # a fresh visit compares
    assert 'role="img"' in html and "chart-contacts-data" in html

    inbox = client.get(PAGES["inbox"], _period())
    assert inbox.status_code == 200
    channels = {row["channel"]: row for row in inbox.context["tables"]["per_channel"].rows}
    assert {h: r["conversations_opened"] for h, r in channels.items()} == {"@alpha_comms": 2, "@alpha_service": 3}
    agents = {row["agent"]: row["replies_sent"] for row in inbox.context["tables"]["per_agent"].rows}
    assert sorted(agents.values()) == [1, 1]
    assert "the most came through @alpha_service (Mastodon): 3, 60 % of all" in inbox.content.decode()

    engagement = client.get(PAGES["engagement"], _period())
    assert engagement.status_code == 200
    rows = {row["handle"]: row for row in engagement.context["tables"]["channels"].rows}
    assert rows["@alpha_comms"]["rate_method"] == "impressions"
    assert rows["@alpha_service"]["rate_method"] == "followers"
    text = engagement.content.decode()
    assert "per impressions" in text and "per followers" in text

    shift = client.get(PAGES["channel_shift"], _period())
    assert shift.status_code == 200
    assert shift.context["shift"]["digital"] == 5
    assert 'href="/dashboards/channel-shift/data/"' in shift.content.decode()


def test_manager_sees_only_their_departments(personas, login, data):
    client = login(personas.a.members["manager"])  # Communications only
    overview = client.get(PAGES["overview"], _period())
    assert overview.status_code == 200
    cards = _cards(overview)
    assert cards["conversations_opened"]["value"] == "2"
    assert cards["outbound_messages"]["value"] == "1"
    assert cards["posts"]["value"] == "1"
    for page in ("inbox", "engagement"):
        response = client.get(PAGES[page], _period())
        assert response.status_code == 200
        html = response.content.decode()
        assert "@alpha_comms" in html
        # Customer Services' channel, its agent and its department are nowhere on the page.
        assert "@alpha_service" not in html
        assert "Customer Services" not in html
        assert personas.a.user("agent").email not in html
    inbox = client.get(PAGES["inbox"], _period())
    assert [row["conversations_opened"] for row in inbox.context["tables"]["per_channel"].rows] == [2]


@pytest.mark.parametrize("role", ["agent", "editor", "viewer", "approver"])
def test_members_without_dashboards_are_refused(personas, login, role):
    client = login(personas.a.members[role])
    for url in PAGES.values():
        assert client.get(url).status_code == 403
        assert client.get(url, {"format": "csv", "table": "headline"}).status_code == 403


def test_nav_link_only_for_members_who_may_see_dashboards(personas, login):
    assert 'href="/dashboards/"' in login(personas.a.members["manager"]).get("/").content.decode()
    assert 'href="/dashboards/"' not in login(personas.a.members["agent"]).get("/").content.decode()


# ---------------------------------------------------------------------------------------- bad filters
def test_another_organisations_department_or_channel_is_an_error_not_data(personas, login, data):
    other_department = personas.b.departments["Digital Desk"]
    other_channel = make_channel(personas.b, "Digital Desk", "x")
    client = login(personas.a.members["admin"])
    for params, message in [({"department": other_department.pk}, f"No department {other_department.pk}"),
                            ({"channel": other_channel.pk}, f"No channel {other_channel.pk}")]:
        for url in PAGES.values():
            response = client.get(url, {**_period(), **params})
            assert response.status_code == 400, url
            html = response.content.decode()
            assert message in html
            assert 'id="filter-errors"' in html
            assert "dash-card__value" not in html and "<table" not in html
            # The form is still there to correct the filter.
            assert 'aria-label="Dashboard period and filters"' in html


def test_manager_asking_for_another_department_gets_an_error(personas, login, data):
    client = login(personas.a.members["manager"])
    service = personas.a.departments["Customer Services"]
    response = client.get(PAGES["inbox"], {"department": service.pk})
    assert response.status_code == 400
    assert f"No department {service.pk} that you can see" in response.content.decode()
    response = client.get(PAGES["inbox"], {"channel": data["service"].pk})
    assert response.status_code == 400


@pytest.mark.parametrize(("params", "message"), [
    ({"preset": "custom", "from": "2026-13-01"}, "is not a date"),
    ({"from": "2026-05-10", "to": "2026-05-01"}, "The start date is after the end date."),
    ({"preset": "custom"}, "Give a start date for custom dates"),
    ({"preset": "fortnight"}, "Unknown period"),
    ({"platform": "myspace"}, "Unknown platform"),
    ({"department": "abc"}, "is not an id"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "Choose at most"),
    ({"grain": "fortnight"}, "Unknown grain"),
    ({"by": "colour"}, "Unknown breakdown"),
])
def test_bad_filters_show_the_form_with_a_message_and_400(personas, login, params, message):
    client = login(personas.a.members["admin"])
    for url in PAGES.values():
        response = client.get(url, params)
        assert response.status_code == 400, (url, params)
        assert message in response.content.decode()
        assert response.context["form"].errors
    csv_response = client.get(PAGES["overview"], {**params, "format": "csv", "table": "headline"})
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_contacts_per_week_and_month_broken_down_by_channel_platform_or_department(personas, login, data):
    """The fixture: contacts 6 and 5 days ago on @alpha_comms (Communications, X), 4 (twice) and 2 days ago on
    @alpha_service (Customer Services, Mastodon). Per month and department the counts add up to 2 and 3, split
    over the months those days fall in; per day each day holds exactly its contacts."""
    client = login(personas.a.members["admin"])
    by_month = client.get(PAGES["inbox"], {**_period(), "grain": "month", "by": "department"})
    assert by_month.status_code == 200
    table = by_month.context["tables"]["contacts_per_month_by_department"]
    totals: dict[str, int] = {}
    for row in table.rows:
        assert row["period"].day == 1
        totals[row["name"]] = totals.get(row["name"], 0) + row["conversations_opened"]
    assert totals == {"Communications": 2, "Customer Services": 3}
    months = by_month.context["tables"]["contacts_per_month"].rows
    assert all(row["period"].day == 1 for row in months) and sum(r["conversations_opened"] for r in months) == 5

    by_day = client.get(PAGES["inbox"], {**_period(), "grain": "day", "by": "platform"})
    rows = by_day.context["tables"]["contacts_per_day_by_platform"].rows
    got = {(row["period"], row["name"]): row["conversations_opened"] for row in rows if row["conversations_opened"]}
    assert got == {(_noon(6).date(), "X"): 1, (_noon(5).date(), "X"): 1, (_noon(4).date(), "Mastodon"): 2,
                   (_noon(2).date(), "Mastodon"): 1}
    weekly = client.get(PAGES["inbox"], {**_period(), "grain": "week", "by": "channel", "format": "csv",
                                         "table": "contacts_per_week_by_channel"})
    assert weekly.status_code == 200
    body = _csv(weekly)
    assert body[0][:2] == ["Week starting", "Channel"]
    assert sum(int(line[2]) for line in body[1:]) == 5


def test_presets_choose_the_period(personas, login):
    client = login(personas.a.members["admin"])
    today = timezone.now().astimezone(UTC).date()
    response = client.get(PAGES["overview"], {"preset": "7d", "from": "2020-01-01"})  # the preset wins
    assert response.status_code == 200
    kpi = response.context["form"].kpi
    assert (kpi.end - kpi.start).days == 6
    assert abs((kpi.end - today).days) <= 1
    response = client.get(PAGES["overview"], {"preset": "custom", "from": "2026-01-05", "to": "2026-01-11"})
    kpi = response.context["form"].kpi
    assert (kpi.start.isoformat(), kpi.end.isoformat()) == ("2026-01-05", "2026-01-11")
    # An unticked comparison (the form was sent) shows no previous period.
    response = client.get(PAGES["overview"], {"preset": "28d"})
    assert response.context["form"].compare is False
    assert "Previous period:" not in response.content.decode()


# ---------------------------------------------------------------------------------------------- CSV
def test_every_table_downloads_as_csv_with_the_pages_numbers(personas, login, data):
    client = login(personas.a.members["admin"])
    seen = 0
    for page, url in PAGES.items():
        response = client.get(url, _period())
        tables = response.context["tables"]
        html = response.content.decode()
        assert tables, page
        for name, table in tables.items():
            # The page links to it.
            assert f"format=csv&amp;table={name}" in html, (page, name)
            download = client.get(url, {**_period(), "format": "csv", "table": name})
            assert download.status_code == 200, (page, name)
            assert re.fullmatch(rf'attachment; filename="alpha-{page}-{name}-'
                                r'\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv"', download["Content-Disposition"])
            rows = _csv(download)
            assert rows[0] == [column.header() for column in table.columns]
            assert len(rows) == len(table.rows) + 1
            assert rows == [[str(cell) for cell in row] for row in table.csv_rows()]
            seen += 1
    assert seen >= 12

    # Spot checks against the hand-counted figures.
    headline = _csv(client.get(PAGES["overview"], {**_period(), "format": "csv", "table": "headline"}))
    by_key = {row[1]: row for row in headline[1:]}
    assert by_key["conversations_opened"][3] == "5"
    assert by_key["first_response_p50"][2:4] == ["seconds", "4500"]
    per_channel = _csv(client.get(PAGES["inbox"], {**_period(), "format": "csv", "table": "per_channel"}))
    assert [row[:3] for row in per_channel[1:]] == [["'@alpha_service", "Mastodon", "3"], ["'@alpha_comms", "X", "2"]]
    per_day = _csv(client.get(PAGES["inbox"], {**_period(), "format": "csv", "table": "contacts_per_day"}))
    assert len(per_day) == 1 + 21  # a row for every day, quiet days too
    assert sum(int(row[1]) for row in per_day[1:]) == 5
    channels = _csv(client.get(PAGES["engagement"], {**_period(), "format": "csv", "table": "channels"}))
    header = channels[0]
    methods = {row[0]: row[header.index("Rate method")] for row in channels[1:]}
    assert methods == {"'@alpha_comms": "impressions", "'@alpha_service": "followers"}


def test_csv_of_a_managers_table_has_only_their_departments(personas, login, data):
    client = login(personas.a.members["manager"])
    rows = _csv(client.get(PAGES["inbox"], {**_period(), "format": "csv", "table": "per_channel"}))
    # A cell starting with @ gets an apostrophe: spreadsheets would run it as a formula.
    assert [row[0] for row in rows[1:]] == ["'@alpha_comms"]


def test_unknown_table_or_format_is_refused_with_a_message(personas, login, data):
    client = login(personas.a.members["admin"])
    response = client.get(PAGES["inbox"], {"format": "csv", "table": "secrets"})
    assert response.status_code == 404
    assert "No table “secrets” on this page" in response.content.decode()
    assert "per_channel" in response.content.decode()
    response = client.get(PAGES["inbox"], {"format": "xlsx"})
    assert response.status_code == 400
    assert "Unknown format" in response.content.decode()


# ------------------------------------------------------------------------------------------ queries
def _queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_days_or_channels(personas, login, data, django_assert_max_num_queries):
    org = personas.a
    client = login(org.members["admin"])
    short = _period(6)
    baseline = {page: _queries(client, url, short) for page, url in PAGES.items()}
    # Four more channels (two per department) with contacts, replies and posts spread over 80 days.
    for index in range(4):
        department = ("Communications", "Customer Services")[index % 2]
        channel = make_channel(org, department, ("bluesky", "facebook", "mastodon", "x")[index])
        sender = org.user("admin") if department == "Communications" else org.user("agent")
        for days_ago in range(1, 80, 9):
            conversation = make_conversation(org, channel=channel, at=_noon(days_ago))
            _reply(conversation, _noon(days_ago) + timedelta(minutes=15 + index), sender)
            published(org, channel, _noon(days_ago), likes=index + 1, impressions=100 + days_ago, rate=1.5,
                      method="impressions")
    rollups.refresh(org.organisation.pk)
    long = _period(89)
    for page, url in PAGES.items():
        with django_assert_max_num_queries(baseline[page]):
            assert client.get(url, long).status_code == 200
    assert max(baseline.values()) <= 60, baseline
