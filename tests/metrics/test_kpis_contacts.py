"""Contact counts per channel, platform and department per day, week and month, against a hand-counted fixture.

The fixture (all 2026, Europe/London; GMT = UTC until Sunday 29 March 01:00 UTC, then BST = UTC+1):

| conversation | channel (department)            | messages (UTC)                                         | closed            |
|--------------|---------------------------------|--------------------------------------------------------|-------------------|
| A            | X (Customer Services)           | in Mon 2 Mar 10:00, in 11:00; agent reply Tue 3 Mar 09:00 | Tue 3 Mar 12:00 |
| B            | X (Customer Services)           | in Sun 29 Mar 23:30 UTC = Mon 30 Mar 00:30 BST; automatic reply 23:31 UTC | open |
| C            | Facebook (Customer Services)    | in Wed 4 Mar 10:00; agent reply 10:30; in Mon 9 Mar 10:00 | Wed 1 Apr 09:00 UTC (10:00 BST) |
| D            | Mastodon (Communications)       | in Tue 3 Mar 10:00; manager reply 11:00                   | open              |

Hand count per local day and channel (in / out / automatic / opened / closed):
  2 Mar X 2/0/0/1/0 · 3 Mar X 0/1/0/0/1, Mastodon 1/1/0/1/0 · 4 Mar Facebook 1/1/0/1/0 · 9 Mar Facebook 1/0/0/0/0
  30 Mar X 1/1/1/1/0 (B's messages fall on the 30th in London, not the 29th) · 1 Apr Facebook 0/0/0/0/1
"""

from __future__ import annotations

from datetime import date

import pytest
from django.http import QueryDict

from metrics import kpis, rollups
from tests.inbox_factories import make_channel
from tests.metrics.factories import thread, utc

FIELDS = ("inbound_messages", "outbound_messages", "automatic_replies", "conversations_opened", "conversations_closed")


def counts(row) -> tuple:
    return tuple(row[name] for name in FIELDS)


@pytest.fixture
def contacts(personas):
    org = personas.a
    x = make_channel(org, "Customer Services", "x", "@alpha_x")
    facebook = make_channel(org, "Customer Services", "facebook", "@alpha_fb")
    mastodon = make_channel(org, "Communications", "mastodon", "@alpha_md")
    agent, manager = org.user("agent"), org.user("manager")
    thread(org, x, [utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)], [(utc(2026, 3, 3, 9), agent)],
           closed_at=utc(2026, 3, 3, 12))
    thread(org, x, [utc(2026, 3, 29, 23, 30)], [(utc(2026, 3, 29, 23, 31), None)])
    thread(org, facebook, [utc(2026, 3, 4, 10), utc(2026, 3, 9, 10)], [(utc(2026, 3, 4, 10, 30), agent)],
           closed_at=utc(2026, 4, 1, 9))
    thread(org, mastodon, [utc(2026, 3, 3, 10)], [(utc(2026, 3, 3, 11), manager)])
    rollups.refresh(org.organisation.pk)
    org.channels = {"x": x, "facebook": facebook, "mastodon": mastodon}
    return org


def admin_filter(org, query="from=2026-03-01&to=2026-04-30"):
    return kpis.kpi_filter(org.members["admin"], QueryDict(query))


def test_totals_over_the_period(contacts):
    # in 2+1+1+1+1 = 6; out 1+1+1+1 = 4 of which 1 automatic; opened A, B, C, D = 4; closed A, C = 2.
    assert kpis.contact_totals(admin_filter(contacts)) == dict(zip(FIELDS, (6, 4, 1, 4, 2), strict=True))


def test_per_day_and_channel_uses_the_london_day(contacts):
    rows = kpis.contacts_by(admin_filter(contacts), "channel", "day")
    got = {(row["period"], row["channel__handle"]): counts(row) for row in rows}
    assert got == {
        (date(2026, 3, 2), "@alpha_x"): (2, 0, 0, 1, 0),
        (date(2026, 3, 3), "@alpha_x"): (0, 1, 0, 0, 1),
        (date(2026, 3, 3), "@alpha_md"): (1, 1, 0, 1, 0),
        (date(2026, 3, 4), "@alpha_fb"): (1, 1, 0, 1, 0),
        (date(2026, 3, 9), "@alpha_fb"): (1, 0, 0, 0, 0),
        (date(2026, 3, 30), "@alpha_x"): (1, 1, 1, 1, 0),
        (date(2026, 4, 1), "@alpha_fb"): (0, 0, 0, 0, 1),
    }


def test_per_week_totals_start_on_monday(contacts):
    rows = kpis.contacts_by(admin_filter(contacts), "", "week")
    # Week of Mon 2 Mar: A 2 in + 1 out + opened + closed; D 1/1/opened; C 1/1/opened → 4/3/0/3/1.
    # Week of Mon 9 Mar: C's second message. Week of Mon 30 Mar: B 1/1/1/opened; C closed on 1 Apr.
    assert [(row["period"], counts(row)) for row in rows] == [
        (date(2026, 3, 2), (4, 3, 0, 3, 1)),
        (date(2026, 3, 9), (1, 0, 0, 0, 0)),
        (date(2026, 3, 30), (1, 1, 1, 1, 1)),
    ]


def test_per_month_and_platform(contacts):
    rows = kpis.contacts_by(admin_filter(contacts), "platform", "month")
    assert {(row["period"], row["platform"]): counts(row) for row in rows} == {
        (date(2026, 3, 1), "x"): (3, 2, 1, 2, 1),
        (date(2026, 3, 1), "facebook"): (2, 1, 0, 1, 0),
        (date(2026, 3, 1), "mastodon"): (1, 1, 0, 1, 0),
        (date(2026, 4, 1), "facebook"): (0, 0, 0, 0, 1),
    }


def test_per_month_and_department(contacts):
    departments = {d.pk: name for name, d in contacts.departments.items()}
    rows = kpis.contacts_by(admin_filter(contacts), "department", "month")
    assert {(row["period"], departments[row["department_id"]]): counts(row) for row in rows} == {
        (date(2026, 3, 1), "Customer Services"): (5, 3, 1, 3, 1),
        (date(2026, 3, 1), "Communications"): (1, 1, 0, 1, 0),
        (date(2026, 4, 1), "Customer Services"): (0, 0, 0, 0, 1),
    }


def test_channel_and_platform_filters(contacts):
    facebook = contacts.channels["facebook"]
    assert kpis.contact_totals(admin_filter(contacts, f"from=2026-03-01&to=2026-04-30&channel={facebook.pk}")) == \
        dict(zip(FIELDS, (2, 1, 0, 1, 1), strict=True))
    assert kpis.contact_totals(admin_filter(contacts, "from=2026-03-01&to=2026-03-31&platform=x")) == \
        dict(zip(FIELDS, (3, 2, 1, 2, 1), strict=True))


def test_agent_workload_per_agent(contacts):
    workload = {row["agent_id"]: row for row in kpis.agent_workload(admin_filter(contacts))}
    agent, manager = contacts.user("agent"), contacts.user("manager")
    # The agent answered A (3 Mar) and C (4 Mar); the manager D. The automatic reply belongs to nobody.
    assert {pk: (row["replies_sent"], row["conversations_replied"], row["first_responses"])
            for pk, row in workload.items()} == {agent.pk: (2, 2, 2), manager.pk: (1, 1, 1)}
