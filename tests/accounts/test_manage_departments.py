"""The departments settings page (/settings/departments/): admins create, rename, archive and restore."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import Department
from audit.models import AuditEvent, EventType
from tests.conftest import ROLES

LIST_URL = reverse("accounts:department_list")
NON_ADMINS = [role for role in ROLES if role != "admin"]


def edit_url(department: Department) -> str:
    return reverse("accounts:department_edit", args=[department.pk])


def archive_url(department: Department) -> str:
    return reverse("accounts:department_archive", args=[department.pk])


def field_errors(response, field: str) -> str:
    """The text of the error list the form renders beside a field (id `id_<field>_error`), or ''."""
    match = re.search(rf'<ul class="field-errors" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S)
    return match.group(1) if match else ""


def _events(event_type: EventType):
    return AuditEvent.objects.filter(event_type=event_type, actor__isnull=False)


@pytest.fixture
def admin_client(personas, login):
    return login(personas.a.members["admin"])


# --------------------------------------------------------------------------------------------- the list
def test_admin_sees_the_organisations_departments_and_not_anothers(personas, admin_client):
    Department.objects.filter(pk=personas.a.departments["Customer Services"].pk).update(archived_at="2024-01-01T00:00Z")

    response = admin_client.get(LIST_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Communications" in page
    assert "Customer Services" in page
    assert "Digital Desk" not in page
    assert "Archived" in page
    assert f'action="{archive_url(personas.a.departments["Communications"])}"' in page
    assert f'href="{edit_url(personas.a.departments["Communications"])}"' in page
    # An archived department is restored, not renamed.
    assert f'href="{edit_url(personas.a.departments["Customer Services"])}"' not in page
    assert f'action="{archive_url(personas.a.departments["Customer Services"])}"' in page


# -------------------------------------------------------------------------------------------- creating
def test_admin_creates_a_department_with_a_message_and_an_audit_event(personas, admin_client):
    response = admin_client.post(LIST_URL, {"name": "Housing"}, follow=True)

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Department “Housing” created." in response.content.decode()
    department = Department.objects.get(organisation=personas.a.organisation, name="Housing")
    event = _events(EventType.DEPARTMENT_CREATED).get()
    assert event.target_id == str(department.pk)
    assert event.actor == personas.a.user("admin")
    assert event.organisation == personas.a.organisation


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_shows_the_error_beside_the_field_and_saves_nothing(personas, admin_client, name):
    response = admin_client.post(LIST_URL, {"name": name})

    assert response.status_code == 200
    assert "required" in field_errors(response, "name")
    assert personas.a.organisation.departments.count() == 2
    assert not _events(EventType.DEPARTMENT_CREATED).exists()


@pytest.mark.parametrize("name", ["Communications", "communications", "  COMMUNICATIONS  "])
def test_duplicate_name_shows_the_error_beside_the_field_and_saves_nothing(personas, admin_client, name):
    response = admin_client.post(LIST_URL, {"name": name})

    assert response.status_code == 200
    assert "already exists" in field_errors(response, "name")
    assert 'aria-invalid="true"' in response.content.decode()
    assert personas.a.organisation.departments.count() == 2
    assert not _events(EventType.DEPARTMENT_CREATED).exists()


def test_overlong_name_is_refused(personas, admin_client):
    response = admin_client.post(LIST_URL, {"name": "x" * 121})

    assert response.status_code == 200
    assert field_errors(response, "name")
    assert personas.a.organisation.departments.count() == 2


def test_department_created_on_the_page_belongs_to_the_admins_organisation(personas, login):
    login(personas.outsider).post(LIST_URL, {"name": "Housing"})

    assert Department.objects.get(name="Housing").organisation == personas.b.organisation


# ---------------------------------------------------------------------------------------------- renaming
def test_rename_page_shows_the_current_name(personas, admin_client):
    response = admin_client.get(edit_url(personas.a.departments["Communications"]))

    assert response.status_code == 200
    assert 'value="Communications"' in response.content.decode()


def test_admin_renames_a_department_with_a_message_and_an_audit_event(personas, admin_client):
    department = personas.a.departments["Communications"]

    response = admin_client.post(edit_url(department), {"name": "Press Office"}, follow=True)

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Department renamed." in response.content.decode()
    department.refresh_from_db()
    assert department.name == "Press Office"
    event = _events(EventType.DEPARTMENT_RENAMED).get()
    assert event.changes == {"name": {"from": "Communications", "to": "Press Office"}}


@pytest.mark.parametrize(("name", "error"), [("Customer Services", "already exists"), ("", "required")])
def test_rename_to_a_taken_or_empty_name_shows_the_error_and_saves_nothing(personas, admin_client, name, error):
    department = personas.a.departments["Communications"]

    response = admin_client.post(edit_url(department), {"name": name})

    assert response.status_code == 200
    assert error in field_errors(response, "name")
    department.refresh_from_db()
    assert department.name == "Communications"
    assert not _events(EventType.DEPARTMENT_RENAMED).exists()


# ----------------------------------------------------------------------------------- archiving, restoring
def test_admin_archives_and_restores_with_messages_and_audit_events(personas, admin_client):
    department = personas.a.departments["Communications"]

    archived = admin_client.post(archive_url(department), {"archived": "1"}, follow=True)

    assert archived.redirect_chain == [(LIST_URL, 302)]
    assert "Department “Communications” archived." in archived.content.decode()
    department.refresh_from_db()
    assert department.archived_at is not None
    assert _events(EventType.DEPARTMENT_ARCHIVED).get().target_id == str(department.pk)

    restored = admin_client.post(archive_url(department), {"archived": "0"}, follow=True)

    assert "Department “Communications” restored." in restored.content.decode()
    department.refresh_from_db()
    assert department.archived_at is None
    assert _events(EventType.DEPARTMENT_RESTORED).get().target_id == str(department.pk)


def test_restoring_when_a_live_department_took_the_name_shows_an_error_not_a_500(personas, admin_client):
    admin = personas.a.members["admin"]
    old = personas.a.departments["Communications"]
    services.department_set_archived(actor=admin, department=old, archived=True)
    services.department_create(actor=admin, name="Communications")

    response = admin_client.post(archive_url(old), {"archived": "0"}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<div class="alert alert-danger">A live department has this name' in page
    assert "Department “Communications” restored." not in page
    old.refresh_from_db()
    assert old.archived_at is not None
    assert not _events(EventType.DEPARTMENT_RESTORED).exists()


def test_archive_needs_a_post(personas, admin_client):
    department = personas.a.departments["Communications"]

    response = admin_client.get(archive_url(department))

    assert response.status_code == 405
    department.refresh_from_db()
    assert department.archived_at is None


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("role", NON_ADMINS)
def test_non_admin_gets_403_on_every_departments_page_and_changes_nothing(personas, login, role):
    client = login(personas.a.members[role])
    department = personas.a.departments["Communications"]

    responses = [
        client.get(LIST_URL),
        client.post(LIST_URL, {"name": "Housing"}),
        client.get(edit_url(department)),
        client.post(edit_url(department), {"name": "Taken"}),
        client.post(archive_url(department), {"archived": "1"}),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    department.refresh_from_db()
    assert (department.name, department.archived_at) == ("Communications", None)
    assert not Department.objects.filter(name="Housing").exists()


def test_departments_page_is_not_in_a_non_admins_navigation(personas, login):
    response = login(personas.a.members["manager"]).get("/")

    assert LIST_URL not in response.content.decode()


def test_outsider_admin_gets_404_for_organisation_a_departments(personas, login):
    client = login(personas.outsider)
    department = personas.a.departments["Communications"]

    responses = [
        client.get(edit_url(department)),
        client.post(edit_url(department), {"name": "Taken"}),
        client.post(archive_url(department), {"archived": "1"}),
    ]

    assert [r.status_code for r in responses] == [404] * 3
    department.refresh_from_db()
    assert (department.name, department.archived_at) == ("Communications", None)


def test_signed_out_visitor_is_sent_to_sign_in(db, client):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
