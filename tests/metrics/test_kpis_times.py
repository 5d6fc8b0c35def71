"""First-response and resolution times (median, 90th percentile; clock and office hours) and service-level
attainment, against hand-computed figures.

Both departments have no InboxPolicy: the defaults, Monday–Friday 09:00–17:00 Europe/London, first response
due in 60 office minutes, resolution in 480. Bank holiday: Monday 4 May 2026. Clocks: forward Sunday 29 March
2026 (GMT → BST), back Sunday 25 October 2026 (BST → GMT). "Now" is Monday 2 November 2026 10:00 UTC (GMT).

C1 Customer Services, Friday evening answered Monday, across the March change:
   in Fri 27 Mar 18:00 GMT (18:00 UTC); agent reply Mon 30 Mar 09:30 BST (08:30 UTC); closed Mon 16:00 BST (15:00 UTC)
   first response clock: Fri 18:00 → Mon 08:30 UTC = 62.5 h = 225,000 s; office: Mon 09:00–09:30 BST = 1,800 s
   resolution clock: Fri 18:00 → Mon 15:00 UTC = 69 h = 248,400 s; office: Mon 09:00–16:00 = 7 h = 25,200 s
   due: first response Mon 10:00 BST (met), resolution 480 min = Mon 17:00 BST (met)
C2 Customer Services, across the bank holiday, never closed:
   in Fri 1 May 16:30 BST (15:30 UTC); agent reply Tue 5 May 09:30 BST (08:30 UTC)
   clock: 3 days 17 h = 89 h = 320,400 s; office: Fri 16:30–17:00 + Tue 09:00–09:30 = 3,600 s
   due: first response = 30 min Friday + 30 min Tuesday = Tue 09:30 BST: answered exactly then (met);
        resolution = 30 min Friday + 450 min Tuesday = Tue 16:30 BST, not closed by now (missed)
C3 Communications, Saturday across the October change, answered and closed late:
   in Sat 24 Oct 12:00 BST (11:00 UTC); manager reply Mon 26 Oct 10:30 GMT (10:30 UTC); closed Mon 17:30 GMT
   first response clock: Sat 11:00 → Mon 10:30 UTC = 47.5 h = 171,000 s (the wall clock says 46.5 h);
   office: Mon 09:00–10:30 = 5,400 s; due Mon 10:00 (missed)
   resolution clock: Sat 11:00 → Mon 17:30 UTC = 54.5 h = 196,200 s; office 09:00–17:00 = 28,800 s;
   due Mon 17:00 (missed)
C5 Customer Services, never answered: in Wed 4 Mar 10:00 GMT; first response due 11:00, resolution due
   Thu 5 Mar 10:00: both past by now (missed)
C6 Customer Services, just arrived: in Mon 2 Nov 09:50 GMT; due 10:50 and later: not yet due (excluded)

All five:  first response (C1, C2, C3) clock sorted 171,000 · 225,000 · 320,400:
   p50 225,000; p90 at rank 0.9 × 2 = 1.8: 225,000 + 0.8 × 95,400 = 301,320
   office 1,800 · 3,600 · 5,400: p50 3,600; p90 3,600 + 0.8 × 1,800 = 5,040
   resolution (C1, C3) clock 196,200 · 248,400: p50 222,300; p90 196,200 + 0.9 × 52,200 = 243,180
   office 25,200 · 28,800: p50 27,000; p90 25,200 + 0.9 × 3,600 = 28,440
   first-response SLA: met C1, C2; missed C3, C5; C6 excluded → 2 of 4 = 50.0 %
   resolution SLA: met C1; missed C2, C3, C5; C6 excluded → 1 of 4 = 25.0 %
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from django.http import QueryDict

from inbox.models import BankHoliday
from metrics import kpis, rollups
from metrics.models import ResponseFact
from tests.inbox_factories import make_channel
from tests.metrics.factories import thread, utc

NOW = utc(2026, 11, 2, 10)


@pytest.fixture
def times(personas):
    org = personas.a
    BankHoliday.objects.create(organisation=org.organisation, date=date(2026, 5, 4), name="Early May bank holiday")
    x = make_channel(org, "Customer Services", "x")
    mastodon = make_channel(org, "Communications", "mastodon")
    agent, manager = org.user("agent"), org.user("manager")
    org.c1 = thread(org, x, [utc(2026, 3, 27, 18)], [(utc(2026, 3, 30, 8, 30), agent)], closed_at=utc(2026, 3, 30, 15))
    org.c2 = thread(org, x, [utc(2026, 5, 1, 15, 30)], [(utc(2026, 5, 5, 8, 30), agent)])
    org.c3 = thread(org, mastodon, [utc(2026, 10, 24, 11)], [(utc(2026, 10, 26, 10, 30), manager)],
                    closed_at=utc(2026, 10, 26, 17, 30))
    org.c5 = thread(org, x, [utc(2026, 3, 4, 10)])
    org.c6 = thread(org, x, [utc(2026, 11, 2, 9, 50)])
    rollups.refresh(org.organisation.pk, now=NOW)
    return org


def period(org, member="admin", query="from=2026-03-01&to=2026-11-02"):
    return replace(kpis.kpi_filter(org.members[member], QueryDict(query)), now=NOW)


def test_facts_in_clock_and_office_hours(times):
    facts = {f.conversation_id: f for f in ResponseFact.objects.all()}
    got = {name: (facts[c.pk].first_response_seconds, facts[c.pk].first_response_office_seconds,
                  facts[c.pk].resolution_seconds, facts[c.pk].resolution_office_seconds)
           for name, c in [("c1", times.c1), ("c2", times.c2), ("c3", times.c3), ("c5", times.c5)]}
    assert got == {
        "c1": (225_000, 1_800, 248_400, 25_200),  # Friday evening → Monday, across the March change
        "c2": (320_400, 3_600, None, None),  # across the bank holiday
        "c3": (171_000, 5_400, 196_200, 28_800),  # across the October change
        "c5": (None, None, None, None),
    }
    assert facts[times.c2.pk].first_response_due_at == utc(2026, 5, 5, 8, 30)
    assert facts[times.c2.pk].resolution_due_at == utc(2026, 5, 5, 15, 30)
    assert facts[times.c3.pk].opened_day == date(2026, 10, 24)


def test_medians_percentiles_and_attainment(times):
    result = kpis.response_times(period(times))
    assert (result["conversations"], result["responded"], result["resolved"]) == (5, 3, 2)
    assert result["first_response_seconds_p50"] == 225_000
    assert result["first_response_seconds_p90"] == pytest.approx(301_320)
    assert result["first_response_office_seconds_p50"] == 3_600
    assert result["first_response_office_seconds_p90"] == pytest.approx(5_040)
    assert result["resolution_seconds_p50"] == pytest.approx(222_300)
    assert result["resolution_seconds_p90"] == pytest.approx(243_180)
    assert result["resolution_office_seconds_p50"] == pytest.approx(27_000)
    assert result["resolution_office_seconds_p90"] == pytest.approx(28_440)
    assert result["first_response_sla"] == {"met": 2, "missed": 2, "percent": 50.0}
    assert result["resolution_sla"] == {"met": 1, "missed": 3, "percent": 25.0}


def test_a_conversation_not_yet_due_counts_once_it_is_past_due(times):
    # An hour later C6's first response (due 10:50) is missed: 2 met of 5.
    result = kpis.response_times(replace(period(times), now=utc(2026, 11, 2, 11)))
    assert result["first_response_sla"] == {"met": 2, "missed": 3, "percent": 40.0}


def test_per_department(times):
    rows = {row["department"]: row for row in kpis.response_times(period(times), by="department")}
    service, comms = times.departments["Customer Services"].pk, times.departments["Communications"].pk
    # Customer Services: C1 225,000 and C2 320,400 → median 272,700; p90 225,000 + 0.9 × 95,400 = 310,860.
    assert rows[service]["first_response_seconds_p50"] == pytest.approx(272_700)
    assert rows[service]["first_response_seconds_p90"] == pytest.approx(310_860)
    assert rows[service]["first_response_sla"] == {"met": 2, "missed": 1, "percent": 66.7}
    assert rows[comms]["first_response_seconds_p50"] == 171_000
    assert rows[comms]["first_response_sla"] == {"met": 0, "missed": 1, "percent": 0.0}
    assert rows[comms]["resolution_sla"] == {"met": 0, "missed": 1, "percent": 0.0}


def test_per_agent(times):
    rows = {row["agent"]: row for row in kpis.response_times(period(times), by="agent")}
    agent, manager = times.user("agent"), times.user("manager")
    assert set(rows) == {agent.pk, manager.pk}
    assert rows[agent.pk]["first_response_office_seconds_p50"] == pytest.approx(2_700)  # (1,800 + 3,600) / 2
    assert rows[agent.pk]["conversations"] == 2
    assert rows[manager.pk]["first_response_seconds_p50"] == 171_000


def test_manager_sees_only_their_department(times):
    # The manager works in Communications: only C3.
    result = kpis.response_times(period(times, "manager"))
    assert result["conversations"] == 1
    assert result["first_response_seconds_p50"] == 171_000


def test_times_per_agent_and_department_cost_one_query_however_many_groups(personas):
    """Grouped response times are one query on PostgreSQL: 2 agents and 6 agents cost the same; the per-agent
    medians still come out per person (30 and 90 minutes for the first two)."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.roles import Role
    from metrics import kpis, rollups
    from tests.conftest import add_member
    from tests.inbox_factories import make_channel
    from tests.metrics.factories import thread, utc

    org = personas.a
    channel = make_channel(org)
    start = utc(2026, 3, 2, 10, 0)

    def answer(user, minutes):
        thread(org, channel, [start], [(start + timedelta(minutes=minutes), user)])

    answer(org.user("admin"), 30)
    answer(org.user("agent"), 90)
    f = kpis.KpiFilter(org.organisation.pk, start.date(), start.date(), now=start + timedelta(days=1))

    def grouped_queries() -> tuple[int, list]:
        rollups.refresh(org.organisation.pk)
        with CaptureQueriesContext(connection) as captured:
            rows = kpis.response_times(f, by="agent")
        return len(captured), rows

    few, rows = grouped_queries()
    medians = {row["agent"]: row["first_response_seconds_p50"] for row in rows}
    assert medians == {org.user("admin").pk: 30 * 60, org.user("agent").pk: 90 * 60}
    for i in range(4):
        member = add_member(org, Role.AGENT, f"extra{i}@alpha.example", ["Customer Services"])
        answer(member.user, 10 + i)
    many, rows = grouped_queries()
    assert len(rows) == 6 and many == few
