"""/api/v1/departments/: every member lists and reads them; admins create, rename, archive and restore."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Department
from audit.models import AuditEvent, EventType
from tests.conftest import ROLES

LIST_URL = "/api/v1/departments/"
NON_ADMINS = [role for role in ROLES if role != "admin"]


def detail_url(department: Department | int) -> str:
    return f"{LIST_URL}{getattr(department, 'pk', department)}/"


def _events(event_type: EventType, department: Department | None = None):
    events = AuditEvent.objects.filter(event_type=event_type)
    if department is not None:
        events = events.filter(target_type="accounts.department", target_id=str(department.pk))
    return events


def _archive(department: Department) -> Department:
    Department.objects.filter(pk=department.pk).update(archived_at=timezone.now())
    department.refresh_from_db()
    return department


# --------------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize("role", ROLES)
def test_every_member_lists_all_departments_of_their_organisation_only(personas, api_for, role):
    response = api_for(personas.a.members[role]).get(LIST_URL)

    assert response.status_code == 200
    results = response.json()["results"]
    assert sorted(d["name"] for d in results) == ["Communications", "Customer Services"]
    assert response.json()["next"] is None


def test_list_items_carry_id_name_archived_and_created_at(personas, api_for):
    housing = _archive(Department.objects.create(organisation=personas.a.organisation, name="Housing"))

    results = api_for(personas.a.members["viewer"]).get(LIST_URL).json()["results"]

    by_name = {d["name"]: d for d in results}
    assert set(by_name["Housing"]) == {"id", "name", "archived", "created_at"}
    assert by_name["Housing"]["id"] == housing.pk
    assert by_name["Housing"]["archived"] is True
    assert by_name["Communications"]["archived"] is False


def test_outsider_lists_only_their_own_departments(personas, api_for):
    results = api_for(personas.outsider).get(LIST_URL).json()["results"]

    assert [d["name"] for d in results] == ["Digital Desk"]


def test_detail_by_id(personas, api_for):
    communications = personas.a.departments["Communications"]

    response = api_for(personas.a.members["agent"]).get(detail_url(communications))

    assert response.status_code == 200
    assert response.json()["id"] == communications.pk
    assert response.json()["name"] == "Communications"
    assert response.json()["archived"] is False


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_detail_of_another_organisations_department_is_404(personas, api_for, role):
    response = api_for(personas.a.members[role]).get(detail_url(personas.b.departments["Digital Desk"]))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_options_and_head_of_another_organisations_department_are_404(personas, api_for):
    api = api_for(personas.outsider)
    url = detail_url(personas.a.departments["Communications"])
    assert api.options(url).status_code == 404
    assert api.head(url).status_code == 404


def test_options_of_an_own_department_describes_it(personas, api_for):
    response = api_for(personas.a.members["viewer"]).options(detail_url(personas.a.departments["Communications"]))
    assert response.status_code == 200
    assert response.json()["name"]


def test_outsider_gets_404_for_organisation_a_department(personas, api_for):
    response = api_for(personas.outsider).get(detail_url(personas.a.departments["Communications"]))

    assert response.status_code == 404


# -------------------------------------------------------------------------------------------- creating
def test_admin_creates_a_department_and_it_is_audited(personas, api_for):
    admin = personas.a.members["admin"]

    response = api_for(admin).post(LIST_URL, {"name": "  Housing  "}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Housing"
    assert body["archived"] is False
    department = Department.objects.get(pk=body["id"])
    assert department.organisation == personas.a.organisation
    assert department.name == "Housing"
    event = _events(EventType.DEPARTMENT_CREATED, department).get()
    assert event.actor == admin.user
    assert event.organisation == personas.a.organisation
    assert event.department == department
    assert event.changes == {"name": {"from": None, "to": "Housing"}}


def test_created_department_belongs_to_the_tokens_organisation(personas, api_for):
    response = api_for(personas.outsider).post(LIST_URL, {"name": "Housing"}, format="json")

    assert response.status_code == 201
    assert Department.objects.get(pk=response.json()["id"]).organisation == personas.b.organisation
    assert not personas.a.organisation.departments.filter(name="Housing").exists()


def test_create_ignores_an_organisation_in_the_body(personas, api_for):
    response = api_for(personas.a.members["admin"]).post(
        LIST_URL, {"name": "Housing", "organisation": personas.b.organisation.pk}, format="json"
    )

    assert response.status_code == 201
    assert Department.objects.get(pk=response.json()["id"]).organisation == personas.a.organisation


@pytest.mark.parametrize("role", NON_ADMINS)
def test_non_admin_cannot_create_a_department(personas, api_for, role):
    response = api_for(personas.a.members[role]).post(LIST_URL, {"name": "Housing"}, format="json")

    assert response.status_code == 403
    assert "detail" in response.json()
    assert not Department.objects.filter(name="Housing").exists()
    assert not _events(EventType.DEPARTMENT_CREATED).filter(organisation=personas.a.organisation, actor__isnull=False).exists()


@pytest.mark.parametrize("name", ["Communications", "communications", " COMMUNICATIONS "])
def test_duplicate_live_name_is_400_naming_name(personas, api_for, name):
    response = api_for(personas.a.members["admin"]).post(LIST_URL, {"name": name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert personas.a.organisation.departments.count() == 2


def test_same_name_as_another_organisations_department_is_allowed(personas, api_for):
    response = api_for(personas.a.members["admin"]).post(LIST_URL, {"name": "Digital Desk"}, format="json")

    assert response.status_code == 201


def test_name_of_an_archived_department_can_be_reused(personas, api_for):
    _archive(personas.a.departments["Communications"])

    response = api_for(personas.a.members["admin"]).post(LIST_URL, {"name": "Communications"}, format="json")

    assert response.status_code == 201
    assert personas.a.organisation.departments.filter(name="Communications").count() == 2


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 121}, {"name": None}])
def test_missing_blank_or_overlong_name_is_400_naming_name(personas, api_for, payload):
    response = api_for(personas.a.members["admin"]).post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    assert personas.a.organisation.departments.count() == 2


# ---------------------------------------------------------------------------------------------- renaming
def test_admin_renames_a_department_and_it_is_audited(personas, api_for):
    admin = personas.a.members["admin"]
    department = personas.a.departments["Communications"]

    response = api_for(admin).patch(detail_url(department), {"name": "Press Office"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Press Office"
    department.refresh_from_db()
    assert department.name == "Press Office"
    event = _events(EventType.DEPARTMENT_RENAMED, department).get()
    assert event.actor == admin.user
    assert event.changes == {"name": {"from": "Communications", "to": "Press Office"}}


def test_renaming_to_the_same_name_records_nothing(personas, api_for):
    department = personas.a.departments["Communications"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(department), {"name": "Communications"}, format="json")

    assert response.status_code == 200
    assert not _events(EventType.DEPARTMENT_RENAMED).exists()


@pytest.mark.parametrize("name", ["Customer Services", "customer services"])
def test_renaming_to_another_live_departments_name_is_400_and_changes_nothing(personas, api_for, name):
    department = personas.a.departments["Communications"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(department), {"name": name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    department.refresh_from_db()
    assert department.name == "Communications"
    assert not _events(EventType.DEPARTMENT_RENAMED).exists()


def test_renaming_to_a_blank_name_is_400(personas, api_for):
    department = personas.a.departments["Communications"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(department), {"name": "  "}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    department.refresh_from_db()
    assert department.name == "Communications"


# ----------------------------------------------------------------------------------- archiving, restoring
def test_admin_archives_and_restores_a_department_with_audit(personas, api_for):
    admin = personas.a.members["admin"]
    api = api_for(admin)
    department = personas.a.departments["Communications"]

    archived = api.patch(detail_url(department), {"archived": True}, format="json")

    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    department.refresh_from_db()
    assert department.archived_at is not None
    event = _events(EventType.DEPARTMENT_ARCHIVED, department).get()
    assert event.actor == admin.user
    assert event.changes == {"archived": {"from": False, "to": True}}

    restored = api.patch(detail_url(department), {"archived": False}, format="json")

    assert restored.status_code == 200
    assert restored.json()["archived"] is False
    department.refresh_from_db()
    assert department.archived_at is None
    event = _events(EventType.DEPARTMENT_RESTORED, department).get()
    assert event.changes == {"archived": {"from": True, "to": False}}


def test_archiving_twice_records_one_event(personas, api_for):
    api = api_for(personas.a.members["admin"])
    department = personas.a.departments["Communications"]

    api.patch(detail_url(department), {"archived": True}, format="json")
    second = api.patch(detail_url(department), {"archived": True}, format="json")

    assert second.status_code == 200
    assert second.json()["archived"] is True
    assert _events(EventType.DEPARTMENT_ARCHIVED, department).count() == 1


def test_archived_department_still_listed_as_archived(personas, api_for):
    department = personas.a.departments["Communications"]
    api_for(personas.a.members["admin"]).patch(detail_url(department), {"archived": True}, format="json")

    results = api_for(personas.a.members["viewer"]).get(LIST_URL).json()["results"]

    assert {d["name"]: d["archived"] for d in results} == {"Communications": True, "Customer Services": False}


def test_restoring_when_a_live_department_took_the_name_is_400_not_500(personas, api_for):
    admin = personas.a.members["admin"]
    old = personas.a.departments["Communications"]
    services.department_set_archived(actor=admin, department=old, archived=True)
    services.department_create(actor=admin, name="Communications")

    response = api_for(admin).patch(detail_url(old), {"archived": False}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    old.refresh_from_db()
    assert old.archived_at is not None
    assert not _events(EventType.DEPARTMENT_RESTORED).exists()


def test_rename_and_restore_in_one_patch_apply_together_or_not_at_all(personas, api_for):
    admin = personas.a.members["admin"]
    old = personas.a.departments["Communications"]
    services.department_set_archived(actor=admin, department=old, archived=True)

    # Renaming an archived department to a live name is allowed; restoring it then clashes.
    response = api_for(admin).patch(detail_url(old), {"name": "Customer Services", "archived": False}, format="json")

    assert response.status_code == 400
    old.refresh_from_db()
    assert old.name == "Communications"
    assert old.archived_at is not None
    assert not _events(EventType.DEPARTMENT_RENAMED).exists()


def test_rename_and_archive_in_one_patch(personas, api_for):
    department = personas.a.departments["Communications"]

    response = api_for(personas.a.members["admin"]).patch(
        detail_url(department), {"name": "Old Communications", "archived": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {**response.json(), "name": "Old Communications", "archived": True}
    assert _events(EventType.DEPARTMENT_RENAMED, department).count() == 1
    assert _events(EventType.DEPARTMENT_ARCHIVED, department).count() == 1


def test_archived_must_be_a_boolean(personas, api_for):
    department = personas.a.departments["Communications"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(department), {"archived": "maybe"}, format="json")

    assert response.status_code == 400
    assert "archived" in response.json()["errors"]
    department.refresh_from_db()
    assert department.archived_at is None


# ------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("role", NON_ADMINS)
def test_non_admin_cannot_rename_or_archive(personas, api_for, role):
    department = personas.a.departments["Communications"]
    api = api_for(personas.a.members[role])

    renamed = api.patch(detail_url(department), {"name": "Taken"}, format="json")
    archived = api.patch(detail_url(department), {"archived": True}, format="json")

    assert renamed.status_code == archived.status_code == 403
    department.refresh_from_db()
    assert (department.name, department.archived_at) == ("Communications", None)


def test_non_admin_gets_404_not_403_for_another_organisations_department(personas, api_for):
    response = api_for(personas.a.members["viewer"]).patch(
        detail_url(personas.b.departments["Digital Desk"]), {"name": "Taken"}, format="json"
    )

    assert response.status_code == 404


def test_admin_cannot_change_another_organisations_department(personas, api_for):
    foreign = personas.b.departments["Digital Desk"]
    api = api_for(personas.a.members["admin"])

    renamed = api.patch(detail_url(foreign), {"name": "Taken"}, format="json")
    archived = api.patch(detail_url(foreign), {"archived": True}, format="json")

    assert renamed.status_code == archived.status_code == 404
    foreign.refresh_from_db()
    assert (foreign.name, foreign.archived_at) == ("Digital Desk", None)


@pytest.mark.parametrize("method", ["put", "delete"])
def test_departments_cannot_be_replaced_or_deleted(personas, api_for, method):
    department = personas.a.departments["Communications"]

    response = getattr(api_for(personas.a.members["admin"]), method)(detail_url(department), {"name": "X"}, format="json")

    assert response.status_code == 405
    assert Department.objects.filter(pk=department.pk, name="Communications").exists()
