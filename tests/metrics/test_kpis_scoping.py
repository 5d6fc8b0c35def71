"""Department scoping and parameter validation of kpi_filter: a manager's figures are their departments' only.

Fixture: one conversation in each department on 2 March 2026 (Customer Services: 2 inbound on X; Communications:
1 inbound on Mastodon). The manager works in Communications only.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict

from metrics import kpis, rollups
from tests.inbox_factories import make_channel
from tests.metrics.factories import thread, utc

MARCH = "from=2026-03-01&to=2026-03-31"


@pytest.fixture
def scoped(personas):
    org = personas.a
    org.x = make_channel(org, "Customer Services", "x")
    org.mastodon = make_channel(org, "Communications", "mastodon")
    thread(org, org.x, [utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)])
    thread(org, org.mastodon, [utc(2026, 3, 2, 12)])
    rollups.refresh(org.organisation.pk)
    return org


def totals(membership, query=MARCH):
    f = kpis.kpi_filter(membership, QueryDict(query))
    return kpis.contact_totals(f)["inbound_messages"], kpis.response_times(f)["conversations"]


def test_admin_sees_every_department_and_can_narrow(scoped):
    admin = scoped.members["admin"]
    assert totals(admin) == (3, 2)
    assert totals(admin, f"{MARCH}&department={scoped.departments['Customer Services'].pk}") == (2, 1)


def test_manager_sees_only_their_departments(scoped):
    manager = scoped.members["manager"]
    assert kpis.kpi_filter(manager, QueryDict(MARCH)).department_ids == (scoped.departments["Communications"].pk,)
    assert totals(manager) == (1, 1)
    assert totals(manager, f"{MARCH}&department={scoped.departments['Communications'].pk}") == (1, 1)


def test_manager_asking_for_another_department_gets_a_validation_error(scoped):
    other = scoped.departments["Customer Services"].pk
    with pytest.raises(ValidationError) as caught:
        kpis.kpi_filter(scoped.members["manager"], QueryDict(f"{MARCH}&department={other}"))
    assert "department" in caught.value.message_dict


def test_another_organisations_department_or_channel_is_an_error(scoped, personas):
    from tests.inbox_factories import make_channel as channel_in

    foreign_department = personas.b.departments["Digital Desk"].pk
    foreign_channel = channel_in(personas.b, "Digital Desk", "x").pk
    with pytest.raises(ValidationError) as caught:
        kpis.kpi_filter(scoped.members["admin"],
                        QueryDict(f"{MARCH}&department={foreign_department}&channel={foreign_channel}"))
    assert set(caught.value.message_dict) == {"department", "channel"}


def test_outsider_sees_nothing_of_organisation_a(scoped, personas):
    assert totals(personas.outsider) == (0, 0)


@pytest.mark.parametrize("query, field", [
    ("from=2026-13-01", "from"), ("from=2026-03-31&to=2026-03-01", "from"), ("from=2020-01-01&to=2026-01-01", "from"),
    ("preset=fortnight", "preset"), ("platform=myspace", "platform"), ("department=abc", "department"),
    ("channel=1;2", "channel"),
])
def test_bad_parameters_name_the_field(scoped, query, field):
    with pytest.raises(ValidationError) as caught:
        kpis.kpi_filter(scoped.members["admin"], QueryDict(query))
    assert field in caught.value.message_dict


def test_grain_is_validated(scoped):
    with pytest.raises(ValidationError) as caught:
        kpis.contacts_by(kpis.kpi_filter(scoped.members["admin"], QueryDict(MARCH)), "channel", "hour")
    assert "grain" in caught.value.message_dict


def test_unknown_grouping_is_a_validation_error(scoped):
    with pytest.raises(ValidationError) as caught:
        kpis.contacts_by(kpis.kpi_filter(scoped.members["admin"], QueryDict(MARCH)), "colour")
    assert "by" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        kpis.response_times(kpis.kpi_filter(scoped.members["admin"], QueryDict(MARCH)), by="colour")
    assert "by" in caught.value.message_dict
