"""Channel shift: digital share and estimated cost avoided, against hand-computed figures.

Costs: the defaults (face to face 8.62, phone 2.83, web forms 0.15, e-mail 2.83, social 0.15) except phone,
which the organisation set to 3.00 ("own figure overrides the default").

| month    | digital (opened in Civic Desk) | offline                                  |
|----------|--------------------------------|------------------------------------------|
| Jan 2026 | 10 (Customer Services)         | phone 100, face to face 50, web forms 50 (Customer Services) |
| Feb 2026 | 20 (Customer Services)         | none recorded                            |
| Mar 2026 | 0                              | phone 30 (Communications)                |

January: alternative cost = (100 × 3.00 + 50 × 8.62 + 50 × 0.15) ÷ 200 = 738.50 ÷ 200 = 3.6925 (shown 3.69);
  avoided = 10 × (3.6925 − 0.15) = 35.425 → 35.43 (half up); share 10 ÷ 210 = 4.76 % → 4.8
February: no offline figures → phone (own 3.00): avoided 20 × (3.00 − 0.15) = 57.00; share 100.0
March: 0 digital → avoided 0.00; share 0 ÷ 30 = 0.0
Period: digital 30, offline 230, share 30 ÷ 260 = 11.54 % → 11.5; avoided 35.43 + 57.00 = 92.43
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.http import QueryDict

from metrics import kpis
from metrics.models import ContactCost, ContactDaily, OfflineContactVolume
from tests.inbox_factories import make_channel


@pytest.fixture
def shift(personas):
    org = personas.a
    service, comms = org.departments["Customer Services"], org.departments["Communications"]
    x = make_channel(org, "Customer Services", "x")
    # Rollup rows as the rollups leave them (counted from conversations in test_kpis_contacts).
    ContactDaily.objects.create(organisation=org.organisation, day=date(2026, 1, 5), channel=x, department=service,
                                platform="x", inbound_messages=14, conversations_opened=6)
    ContactDaily.objects.create(organisation=org.organisation, day=date(2026, 1, 31), channel=x, department=service,
                                platform="x", inbound_messages=4, conversations_opened=4)
    ContactDaily.objects.create(organisation=org.organisation, day=date(2026, 2, 10), channel=x, department=service,
                                platform="x", inbound_messages=25, conversations_opened=20)
    for month, department, channel, volume in [
        (date(2026, 1, 1), service, "phone", 100), (date(2026, 1, 1), service, "face_to_face", 50),
        (date(2026, 1, 1), service, "web_form", 50), (date(2026, 3, 1), comms, "phone", 30),
    ]:
        OfflineContactVolume.objects.create(organisation=org.organisation, department=department, month=month,
                                            channel=channel, volume=volume)
    ContactCost.objects.create(organisation=org.organisation, channel="phone", cost_per_contact=Decimal("3.00"),
                               source="Our contact centre, 2025 budget")
    return org


def quarter(org, member="admin"):
    return kpis.kpi_filter(org.members[member], QueryDict("from=2026-01-01&to=2026-03-31"))


def test_own_cost_overrides_the_default_and_names_its_source(shift):
    costs = kpis.unit_costs(shift.organisation.pk)
    assert (costs["phone"]["cost"], costs["phone"]["default"], costs["phone"]["source"]) == (
        Decimal("3.00"), False, "Our contact centre, 2025 budget")
    assert (costs["face_to_face"]["cost"], costs["face_to_face"]["default"]) == (Decimal("8.62"), True)
    assert "Socitm" in costs["face_to_face"]["source"]


def test_monthly_share_and_cost_avoided(shift):
    result = kpis.channel_shift(quarter(shift))
    months = [(m["month"], m["digital"], m["offline_total"], m["digital_share"], m["alternative_cost"],
               m["cost_avoided"]) for m in result["months"]]
    assert months == [
        (date(2026, 1, 1), 10, 200, 4.8, Decimal("3.69"), Decimal("35.43")),
        (date(2026, 2, 1), 20, 0, 100.0, Decimal("3.00"), Decimal("57.00")),
        (date(2026, 3, 1), 0, 30, 0.0, Decimal("3.00"), Decimal("0.00")),
    ]
    assert result["months"][1]["alternative_basis"].startswith("phone")
    assert result["months"][0]["offline"] == {"phone": 100, "email": 0, "face_to_face": 50, "web_form": 50}
    assert (result["digital"], result["offline"], result["digital_share"], result["cost_avoided"]) == (
        30, 230, 11.5, Decimal("92.43"))


def test_default_phone_cost_when_the_organisation_sets_none(shift):
    ContactCost.objects.filter(organisation=shift.organisation).delete()
    february = kpis.kpi_filter(shift.members["admin"], QueryDict("from=2026-02-01&to=2026-02-28"))
    # 20 × (2.83 − 0.15) = 53.60
    assert kpis.channel_shift(february)["cost_avoided"] == Decimal("53.60")


def test_manager_sees_only_their_departments_figures(shift):
    result = kpis.channel_shift(quarter(shift, "manager"))  # Communications: March's 30 phone calls only
    assert (result["digital"], result["offline"], result["digital_share"], result["cost_avoided"]) == (
        0, 30, 0.0, Decimal("0.00"))


def test_channel_filter_is_reported_as_ignored(shift):
    f = kpis.kpi_filter(shift.members["admin"], QueryDict("from=2026-01-01&to=2026-03-31&platform=x"))
    assert kpis.channel_shift(f)["ignored_filters"] == ["platform"]
