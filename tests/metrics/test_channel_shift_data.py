"""Issue 7 §2 channel shift: offline contact volumes and costs per contact, entered by people, each save audited;
who may edit what; bad input is a form error, never a 500; another organisation's department is never used."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from metrics import services
from metrics.models import DEFAULT_COSTS, ContactCost, OfflineContactVolume

DATA_URL = "/dashboards/channel-shift/data/"
COSTS_URL = "/dashboards/channel-shift/costs/"


def _this_month(personas) -> date:
    return services.current_month(personas.a.organisation.pk)


def _last_month(personas) -> date:
    return (_this_month(personas) - timedelta(days=1)).replace(day=1)


def _events(target) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
                .order_by("id"))


# ------------------------------------------------------------------------------------ offline volumes
def test_saving_a_volume_creates_it_and_records_one_event_with_before_and_after(personas):
    admin = personas.a.members["admin"]
    department = personas.a.departments["Customer Services"]

    row = services.offline_volume_set(actor=admin, department=department, month=_last_month(personas),
                                      channel="phone", volume=1200)

    assert (row.volume, row.updated_by, row.month) == (1200, admin.user, _last_month(personas))
    [event] = _events(row)
    assert event.changes == {"volume": {"from": None, "to": 1200}}
    assert event.department_id == department.pk and event.actor_id == admin.user.pk
    assert event.event_type == services.OFFLINE_VOLUME_EVENT


def test_overwriting_a_volume_records_the_old_and_new_figure_and_an_unchanged_save_records_nothing(personas):
    admin, manager = personas.a.members["admin"], personas.a.members["manager"]
    department = personas.a.departments["Communications"]
    month = _last_month(personas)
    services.offline_volume_set(actor=admin, department=department, month=month, channel="email", volume=10)

    row = services.offline_volume_set(actor=manager, department=department, month=month.replace(day=1),
                                      channel="email", volume=14)
    services.offline_volume_set(actor=manager, department=department, month=month, channel="email", volume=14)

    assert OfflineContactVolume.objects.filter(department=department).count() == 1
    assert row.volume == 14 and row.updated_by == manager.user
    assert [e.changes for e in _events(row)] == [{"volume": {"from": None, "to": 10}},
                                                 {"volume": {"from": 10, "to": 14}}]


def test_a_day_inside_the_month_is_stored_as_the_month(personas):
    admin = personas.a.members["admin"]
    row = services.offline_volume_set(actor=admin, department=personas.a.departments["Communications"],
                                      month=_last_month(personas) + timedelta(days=9), channel="web_form", volume=3)

    assert row.month == _last_month(personas)


def test_manager_records_volumes_only_for_their_own_departments(personas):
    manager = personas.a.members["manager"]  # Communications

    with pytest.raises(PermissionDenied):
        services.offline_volume_set(actor=manager, department=personas.a.departments["Customer Services"],
                                    month=_last_month(personas), channel="phone", volume=1)
    assert not OfflineContactVolume.objects.exists()
    assert not AuditEvent.objects.filter(target_type="metrics.offlinecontactvolume").exists()


@pytest.mark.parametrize("role", ["agent", "viewer", "editor", "approver"])
def test_roles_without_dashboards_cannot_record_volumes(personas, role):
    member = personas.a.members[role]
    member.departments.add(personas.a.departments["Communications"])

    with pytest.raises(PermissionDenied):
        services.offline_volume_set(actor=member, department=personas.a.departments["Communications"],
                                    month=_last_month(personas), channel="phone", volume=1)


def test_another_organisations_department_is_refused(personas):
    with pytest.raises(PermissionDenied):
        services.offline_volume_set(actor=personas.outsider, department=personas.a.departments["Communications"],
                                    month=_last_month(personas), channel="phone", volume=1)
    assert not OfflineContactVolume.objects.exists()


@pytest.mark.parametrize(("field", "changes"), [
    ("volume", {"volume": -1}),
    ("volume", {"volume": "12"}),
    ("volume", {"volume": services.MAX_VOLUME + 1}),
    ("channel", {"channel": "social"}),
    ("channel", {"channel": "carrier pigeon"}),
    ("month", {"month": "2026-01"}),
    ("month", {"month": date(1999, 12, 1)}),
])
def test_bad_volume_input_is_a_validation_error_naming_the_field(personas, field, changes):
    arguments = {"actor": personas.a.members["admin"], "department": personas.a.departments["Communications"],
                 "month": _last_month(personas), "channel": "phone", "volume": 5, **changes}

    with pytest.raises(ValidationError) as error:
        services.offline_volume_set(**arguments)

    assert field in error.value.message_dict
    assert not OfflineContactVolume.objects.exists()


def test_a_month_after_this_one_is_refused(personas):
    next_month = (_this_month(personas) + timedelta(days=32)).replace(day=1)

    with pytest.raises(ValidationError) as error:
        services.offline_volume_set(actor=personas.a.members["admin"],
                                    department=personas.a.departments["Communications"], month=next_month,
                                    channel="phone", volume=5)

    assert "month" in error.value.message_dict
    # This month itself is allowed (a running count).
    services.offline_volume_set(actor=personas.a.members["admin"], department=personas.a.departments["Communications"],
                                month=_this_month(personas), channel="phone", volume=5)


# ------------------------------------------------------------------------------------------- costs
def test_admin_sets_a_cost_with_its_source_and_the_event_says_what_changed(personas):
    admin = personas.a.members["admin"]

    row = services.contact_cost_set(actor=admin, channel="phone", cost="4.10", source="Our 2025 costing")

    assert (row.cost_per_contact, row.source, row.updated_by) == (Decimal("4.10"), "Our 2025 costing", admin.user)
    [event] = _events(row)
    assert event.changes == {
        "cost_per_contact": {"from": str(DEFAULT_COSTS["phone"][0]), "to": "4.10"},
        "source": {"from": DEFAULT_COSTS["phone"][1], "to": "Our 2025 costing"},
        "default": {"from": True, "to": False},
    }
    row = services.contact_cost_set(actor=admin, channel="phone", cost=Decimal("4.2"), source="Our 2025 costing")
    assert _events(row)[-1].changes == {"cost_per_contact": {"from": "4.10", "to": "4.20"}}


def test_reset_to_default_removes_the_own_figure_once_and_records_it(personas):
    admin = personas.a.members["admin"]
    row = services.contact_cost_set(actor=admin, channel="email", cost="1.00", source="Survey")

    assert services.contact_cost_reset_to_default(actor=admin, channel="email") is True
    assert services.contact_cost_reset_to_default(actor=admin, channel="email") is False

    assert not ContactCost.objects.exists()
    events = _events(row)
    assert len(events) == 2
    assert events[-1].changes["default"] == {"from": False, "to": True}


@pytest.mark.parametrize(("field", "changes"), [
    ("cost", {"cost": "-1"}),
    ("cost", {"cost": "lots"}),
    ("cost", {"cost": "NaN"}),
    ("cost", {"cost": "1000000"}),
    ("source", {"source": "   "}),
    ("source", {"source": "x" * 301}),
    ("channel", {"channel": "fax"}),
])
def test_bad_cost_input_is_a_validation_error_naming_the_field(personas, field, changes):
    arguments = {"actor": personas.a.members["admin"], "channel": "phone", "cost": "1.00", "source": "Study",
                 **changes}

    with pytest.raises(ValidationError) as error:
        services.contact_cost_set(**arguments)

    assert field in error.value.message_dict
    assert not ContactCost.objects.exists()


@pytest.mark.parametrize("role", ["manager", "agent", "viewer"])
def test_only_admins_change_costs(personas, role):
    member = personas.a.members[role]
    with pytest.raises(PermissionDenied):
        services.contact_cost_set(actor=member, channel="phone", cost="1.00", source="Study")
    with pytest.raises(PermissionDenied):
        services.contact_cost_reset_to_default(actor=member, channel="phone")


def test_costs_are_per_organisation(personas):
    services.contact_cost_set(actor=personas.outsider, channel="phone", cost="9.99", source="Bravo study")

    from metrics.kpis import unit_costs

    assert unit_costs(personas.a.organisation.pk)["phone"]["default"] is True
    assert unit_costs(personas.b.organisation.pk)["phone"]["cost"] == Decimal("9.99")


# ------------------------------------------------------------------------------------- volumes page
def test_volumes_page_shows_the_grid_and_who_changed_it(personas, login):
    admin = personas.a.members["admin"]
    department = personas.a.departments["Customer Services"]
    services.offline_volume_set(actor=admin, department=department, month=_last_month(personas), channel="phone",
                                volume=12345)

    response = login(admin).get(DATA_URL, {"department": department.pk})

    assert response.status_code == 200
    page = response.content.decode()
    assert "12,345" in page
    assert admin.user.full_name in page
    assert f"{_last_month(personas):%B %Y}" in page
    assert len(response.context["grid"]) == 12


def test_posting_a_figure_saves_it_and_returns_to_the_grid(personas, login):
    manager = personas.a.members["manager"]
    department = personas.a.departments["Communications"]

    response = login(manager).post(DATA_URL, {"department": department.pk, "month": f"{_last_month(personas):%Y-%m}",
                                              "channel": "face_to_face", "volume": "77"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("metrics:channel_shift_data"))
    row = OfflineContactVolume.objects.get()
    assert (row.department, row.channel, row.volume) == (department, "face_to_face", 77)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("volume", "-5", "greater than or equal to 0"),
    ("volume", "lots", "whole number"),
    ("volume", "1.5", "whole number"),
    ("month", "March", "YYYY-MM"),
    ("month", "2999-01", "this month or an earlier one"),
    ("channel", "social", "Select a valid choice"),
])
def test_bad_input_on_the_page_is_a_form_error(personas, login, field, value, message):
    department = personas.a.departments["Communications"]
    data = {"department": department.pk, "month": f"{_last_month(personas):%Y-%m}", "channel": "phone",
            "volume": "5", field: value}

    response = login(personas.a.members["admin"]).post(DATA_URL, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not OfflineContactVolume.objects.exists()


def test_manager_cannot_post_for_another_department(personas, login):
    services_department = personas.a.departments["Customer Services"]

    response = login(personas.a.members["manager"]).post(DATA_URL, {
        "department": services_department.pk, "month": f"{_last_month(personas):%Y-%m}", "channel": "phone",
        "volume": "5"})

    assert response.status_code == 400
    assert "Choose one of your departments" in response.content.decode()
    assert not OfflineContactVolume.objects.exists()


def test_another_organisations_department_is_a_form_error_and_its_figures_are_never_shown(personas, login):
    department = personas.a.departments["Communications"]
    services.offline_volume_set(actor=personas.a.members["admin"], department=department,
                                month=_last_month(personas), channel="phone", volume=4321)
    outsider = login(personas.outsider)

    page = outsider.get(DATA_URL, {"department": department.pk})
    posted = outsider.post(DATA_URL, {"department": department.pk, "month": f"{_last_month(personas):%Y-%m}",
                                      "channel": "phone", "volume": "1"})

    assert page.status_code == 200
    assert "4,321" not in page.content.decode() and "Choose one of your departments" in page.content.decode()
    assert page.context["department"] == personas.b.departments["Digital Desk"]
    assert posted.status_code == 400
    assert OfflineContactVolume.objects.get().volume == 4321


@pytest.mark.parametrize("role", ["agent", "viewer", "editor", "approver"])
def test_roles_without_dashboards_get_403_on_both_pages(personas, login, role):
    client = login(personas.a.members[role])

    assert client.get(DATA_URL).status_code == 403
    assert client.get(COSTS_URL).status_code == 403


# --------------------------------------------------------------------------------------- costs page
def test_costs_page_shows_each_channel_with_its_source_and_the_default_marker(personas, login):
    services.contact_cost_set(actor=personas.a.members["admin"], channel="phone", cost="3.50", source="Own study")

    response = login(personas.a.members["manager"]).get(COSTS_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert "£3.50" in page and "Own study" in page
    assert DEFAULT_COSTS["face_to_face"][1] in page
    assert page.count(">Default<") == 4
    assert "Only admins can change these figures." in page and "Save cost" not in page


def test_admin_edits_and_resets_a_cost_on_the_page(personas, login):
    client = login(personas.a.members["admin"])

    saved = client.post(COSTS_URL, {"action": "set", "channel": "web_form", "cost": "0.40", "source": "Web team"})
    reset = client.post(COSTS_URL, {"action": "reset", "channel": "web_form"})

    assert saved.status_code == 302 and reset.status_code == 302
    assert not ContactCost.objects.exists()
    assert AuditEvent.objects.filter(target_type="metrics.contactcost").count() == 2


@pytest.mark.parametrize(("data", "message"), [
    ({"channel": "phone", "cost": "2.00", "source": ""}, "This field is required"),
    ({"channel": "phone", "cost": "-2", "source": "x"}, "greater than or equal to 0"),
    ({"channel": "phone", "cost": "two", "source": "x"}, "amount such as 2.83"),
    ({"channel": "fax", "cost": "2", "source": "x"}, "Select a valid choice"),
])
def test_bad_cost_on_the_page_is_a_form_error(personas, login, data, message):
    response = login(personas.a.members["admin"]).post(COSTS_URL, {"action": "set", **data})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ContactCost.objects.exists()


def test_resetting_an_unknown_channel_is_a_message_not_an_error(personas, login):
    client = login(personas.a.members["admin"])

    response = client.post(COSTS_URL, {"action": "reset", "channel": "fax"}, follow=True)

    assert response.status_code == 200
    assert "Choose one of the contact channels" in response.content.decode()


def test_manager_cannot_change_costs_on_the_page(personas, login):
    response = login(personas.a.members["manager"]).post(COSTS_URL, {"action": "set", "channel": "phone",
                                                                     "cost": "1", "source": "x"})

    assert response.status_code == 403
    assert not ContactCost.objects.exists()


def test_costs_page_runs_a_fixed_number_of_queries(personas, login, django_assert_max_num_queries):
    client = login(personas.a.members["admin"])
    client.get(COSTS_URL)

    with django_assert_max_num_queries(14):
        assert client.get(COSTS_URL).status_code == 200
