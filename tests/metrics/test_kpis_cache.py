"""The period's response times are cached per filter and rollup run (metrics.kpis._cached_times): a cached
figure is never another member's (department scoping) and never outlives the run after which it was computed.

Fixture: Customer Services (X) has one conversation and Communications (Mastodon) one, both opened on
2 March 2026; the manager works in Communications only.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.cache import cache
from django.http import QueryDict

from metrics import kpis, rollups
from tests.inbox_factories import make_channel
from tests.metrics.factories import thread, utc

MARCH = "from=2026-03-01&to=2026-03-31"
NOW = utc(2026, 3, 20, 12)


@pytest.fixture
def org(personas):
    cache.clear()
    org = personas.a
    org.x = make_channel(org, "Customer Services", "x")
    org.mastodon = make_channel(org, "Communications", "mastodon")
    thread(org, org.x, [utc(2026, 3, 2, 10)], [(utc(2026, 3, 2, 10, 30), org.user("agent"))])
    thread(org, org.mastodon, [utc(2026, 3, 2, 12)])
    rollups.refresh(org.organisation.pk, now=NOW)
    yield org
    cache.clear()


def times(membership, query=MARCH):
    return kpis.response_times(replace(kpis.kpi_filter(membership, QueryDict(query)), now=NOW))


def test_a_managers_cached_figures_are_never_served_to_the_admin_or_back(org):
    manager, admin = org.members["manager"], org.members["admin"]
    assert times(manager)["conversations"] == 1  # cached for the manager's departments
    assert times(admin)["conversations"] == 2
    assert times(admin)["responded"] == 1
    assert times(manager)["conversations"] == 1
    assert times(manager)["responded"] == 0  # Communications' conversation is unanswered


def test_the_next_rollup_run_replaces_cached_figures_even_with_the_same_now(org):
    admin = org.members["admin"]
    assert times(admin)["conversations"] == 2
    thread(org, org.x, [utc(2026, 3, 3, 9)])
    assert times(admin)["conversations"] == 2  # the rollups have not seen it yet
    rollups.refresh(org.organisation.pk, now=NOW)
    assert times(admin)["conversations"] == 3


def test_a_cached_period_costs_one_query(org, django_assert_num_queries):
    f = replace(kpis.kpi_filter(org.members["admin"], QueryDict(MARCH)), now=NOW)
    with django_assert_num_queries(2):  # the cursor's version, then the facts
        first = kpis.response_times(f)
    with django_assert_num_queries(1):  # the cursor's version only
        assert kpis.response_times(f) == first
    with django_assert_num_queries(2):  # another period is computed
        kpis.response_times(replace(f, start=f.start.replace(day=2)))
