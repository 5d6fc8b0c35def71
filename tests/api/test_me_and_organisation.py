"""/api/v1/me/ (who am I, where, allowed to do what) and /api/v1/organisation/ (settings, admins only to change)."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Organisation
from accounts.roles import MATRIX, Capability, Role
from audit.models import AuditEvent, EventType
from tests.conftest import ROLES, add_member

ME_URL = "/api/v1/me/"
ORG_URL = "/api/v1/organisation/"
NON_ADMINS = [role for role in ROLES if role != "admin"]


def _settings_of(organisation: Organisation) -> dict:
    organisation.refresh_from_db()
    return {
        "name": organisation.name,
        "timezone": organisation.timezone,
        "two_factor_policy": organisation.two_factor_policy,
        "idle_timeout_minutes": organisation.idle_timeout_minutes,
    }


# ----------------------------------------------------------------------------------------------- me
@pytest.mark.parametrize("role", ROLES)
def test_me_reports_role_and_exactly_the_capabilities_of_that_role(personas, api_for, role):
    response = api_for(personas.a.members[role]).get(ME_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["role"] == role
    assert body["email"] == f"{role}@alpha.example"
    assert body["id"] == personas.a.user(role).pk
    expected = {capability.value for capability in Capability if Role(role) in MATRIX[capability]}
    assert set(body["capabilities"]) == expected


def test_me_lists_the_members_departments_and_organisation(personas, api_for):
    body = api_for(personas.a.members["agent"]).get(ME_URL).json()

    customer_services = personas.a.departments["Customer Services"]
    assert body["departments"] == [{"id": customer_services.pk, "name": "Customer Services"}]
    assert body["organisation"]["slug"] == "alpha"
    assert body["organisation"]["name"] == "Alpha Council"
    assert body["organisation"]["idle_timeout_minutes"] == 30
    assert body["organisations"] == [{"slug": "alpha", "name": "Alpha Council", "role": "agent"}]
    assert body["two_factor_enabled"] is False
    assert body["full_name"] == "Agent"


def test_admin_capabilities_include_managing_the_organisation(personas, api_for):
    body = api_for(personas.a.members["admin"]).get(ME_URL).json()

    assert {"manage_organisation", "manage_members", "manage_departments"} <= set(body["capabilities"])


def test_me_lists_every_active_organisation_of_a_person_in_two(personas, api_for):
    add_member(personas.b, "editor", "viewer@alpha.example", ["Digital Desk"])

    body = api_for(personas.a.members["viewer"]).get(ME_URL).json()

    assert body["organisation"]["slug"] == "alpha"
    assert sorted(body["organisations"], key=lambda o: o["slug"]) == [
        {"slug": "alpha", "name": "Alpha Council", "role": "viewer"},
        {"slug": "bravo", "name": "Bravo Police", "role": "editor"},
    ]


def test_me_leaves_out_organisations_where_the_membership_is_deactivated(personas, api_for):
    other = add_member(personas.b, "editor", "viewer@alpha.example", ["Digital Desk"])
    other.is_active = False
    other.save(update_fields=["is_active"])

    body = api_for(personas.a.members["viewer"]).get(ME_URL).json()

    assert [o["slug"] for o in body["organisations"]] == ["alpha"]


def test_me_says_when_two_factor_is_enabled(personas, api_for):
    TOTPDevice.objects.create(user=personas.a.user("approver"), name="Authenticator app", confirmed=True)

    assert api_for(personas.a.members["approver"]).get(ME_URL).json()["two_factor_enabled"] is True


def test_me_works_with_a_browser_session(personas, login, client):
    login(personas.a.members["manager"])

    response = client.get(ME_URL)

    assert response.status_code == 200
    assert response.json()["role"] == "manager"


def test_me_without_credentials_is_401_json(db, client):
    response = client.get(ME_URL)

    assert response.status_code == 401
    assert "detail" in response.json()


# -------------------------------------------------------------------------------------- organisation
@pytest.mark.parametrize("role", ROLES)
def test_every_member_reads_their_organisation(personas, api_for, role):
    response = api_for(personas.a.members[role]).get(ORG_URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": personas.a.organisation.pk,
        "name": "Alpha Council",
        "slug": "alpha",
        "timezone": "Europe/London",
        "two_factor_policy": "optional",
        "idle_timeout_minutes": 30,
    }


def test_the_organisation_is_the_one_the_token_acts_in(personas, api_for):
    assert api_for(personas.outsider).get(ORG_URL).json()["slug"] == "bravo"


def test_admin_patch_changes_settings_and_records_before_and_after(personas, api_for):
    admin = personas.a.members["admin"]

    response = api_for(admin).patch(
        ORG_URL,
        {"idle_timeout_minutes": 60, "two_factor_policy": "privileged", "timezone": "Europe/Dublin"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["idle_timeout_minutes"] == 60
    assert response.json()["two_factor_policy"] == "privileged"
    assert _settings_of(personas.a.organisation) == {
        "name": "Alpha Council",
        "timezone": "Europe/Dublin",
        "two_factor_policy": "privileged",
        "idle_timeout_minutes": 60,
    }
    event = AuditEvent.objects.get(event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    assert event.organisation == personas.a.organisation
    assert event.actor == admin.user
    assert event.target_id == str(personas.a.organisation.pk)
    assert event.changes == {
        "idle_timeout_minutes": {"from": 30, "to": 60},
        "two_factor_policy": {"from": "optional", "to": "privileged"},
        "timezone": {"from": "Europe/London", "to": "Europe/Dublin"},
    }


def test_patch_records_only_the_settings_that_changed(personas, api_for):
    response = api_for(personas.a.members["admin"]).patch(
        ORG_URL, {"name": "Alpha Borough Council", "idle_timeout_minutes": 30}, format="json"
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    assert event.changes == {"name": {"from": "Alpha Council", "to": "Alpha Borough Council"}}


def test_patch_with_unchanged_values_records_nothing(personas, api_for):
    response = api_for(personas.a.members["admin"]).patch(ORG_URL, {"idle_timeout_minutes": 30}, format="json")

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(event_type=EventType.ORGANISATION_SETTINGS_CHANGED).exists()


def test_slug_and_id_cannot_be_changed(personas, api_for):
    response = api_for(personas.a.members["admin"]).patch(ORG_URL, {"slug": "hijacked", "id": 999}, format="json")

    assert response.status_code == 200
    personas.a.organisation.refresh_from_db()
    assert personas.a.organisation.slug == "alpha"
    assert Organisation.objects.filter(pk=personas.a.organisation.pk, slug="alpha").exists()


def test_admin_patch_changes_only_their_own_organisation(personas, api_for):
    before_a = _settings_of(personas.a.organisation)

    response = api_for(personas.outsider).patch(ORG_URL, {"idle_timeout_minutes": 45}, format="json")

    assert response.status_code == 200
    assert _settings_of(personas.b.organisation)["idle_timeout_minutes"] == 45
    assert _settings_of(personas.a.organisation) == before_a


@pytest.mark.parametrize("role", NON_ADMINS)
def test_patch_by_a_non_admin_is_403_and_changes_nothing(personas, api_for, role):
    before = _settings_of(personas.a.organisation)

    response = api_for(personas.a.members[role]).patch(ORG_URL, {"idle_timeout_minutes": 60, "name": "Taken"}, format="json")

    assert response.status_code == 403
    assert "detail" in response.json()
    assert _settings_of(personas.a.organisation) == before
    assert not AuditEvent.objects.filter(event_type=EventType.ORGANISATION_SETTINGS_CHANGED).exists()


def test_put_is_not_allowed(personas, api_for):
    response = api_for(personas.a.members["admin"]).put(ORG_URL, {"name": "X"}, format="json")

    assert response.status_code == 405
    assert personas.a.organisation.name == "Alpha Council"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"idle_timeout_minutes": 1}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": 4}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": 721}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": -5}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": "abc"}, "idle_timeout_minutes"),
        ({"idle_timeout_minutes": None}, "idle_timeout_minutes"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"two_factor_policy": "sometimes"}, "two_factor_policy"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        # A valid value next to a bad one: neither is applied.
        ({"name": "Renamed", "idle_timeout_minutes": 1}, "idle_timeout_minutes"),
        ({"two_factor_policy": "everyone", "timezone": "Nowhere/Special"}, "timezone"),
    ],
)
def test_patch_with_a_bad_value_is_400_naming_the_field_and_changes_nothing(personas, api_for, payload, field):
    before = _settings_of(personas.a.organisation)

    response = api_for(personas.a.members["admin"]).patch(ORG_URL, payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "detail" in body
    assert field in body["errors"]
    assert _settings_of(personas.a.organisation) == before
    assert not AuditEvent.objects.filter(event_type=EventType.ORGANISATION_SETTINGS_CHANGED).exists()


@pytest.mark.parametrize("minutes", [5, 720])
def test_idle_timeout_accepts_the_ends_of_its_range(personas, api_for, minutes):
    response = api_for(personas.a.members["admin"]).patch(ORG_URL, {"idle_timeout_minutes": minutes}, format="json")

    assert response.status_code == 200
    assert _settings_of(personas.a.organisation)["idle_timeout_minutes"] == minutes
