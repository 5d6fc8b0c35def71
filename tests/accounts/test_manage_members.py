"""The members settings pages (/settings/members/): the list, editing role and departments, (de)activating."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, Department, Invitation, Membership
from audit.models import AuditEvent, EventType
from tests.conftest import ROLES, Org, add_member

LIST_URL = reverse("accounts:member_list")
NON_ADMINS = [role for role in ROLES if role != "admin"]


def edit_url(membership: Membership) -> str:
    return reverse("accounts:member_edit", args=[membership.pk])


def active_url(membership: Membership) -> str:
    return reverse("accounts:member_set_active", args=[membership.pk])


def field_errors(response, field: str) -> str:
    match = re.search(rf'<ul class="field-errors" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S)
    return match.group(1) if match else ""


def offered_department_ids(response) -> set[int]:
    page = response.content.decode()
    checkboxes = re.findall(r'<input[^>]*type="checkbox"[^>]*>', page)
    return {int(re.search(r'value="(\d+)"', box).group(1)) for box in checkboxes if 'name="departments"' in box}


def _state(membership: Membership) -> tuple:
    membership.refresh_from_db()
    return membership.role, membership.is_active, sorted(membership.departments.values_list("name", flat=True))


def _member_events():
    return AuditEvent.objects.filter(event_type__startswith="member.", actor__isnull=False)


@pytest.fixture
def admin_client(personas, login):
    return login(personas.a.members["admin"])


# --------------------------------------------------------------------------------------------- the list
def test_member_list_shows_every_member_of_the_organisation_and_no_outsider(personas, admin_client):
    response = admin_client.get(LIST_URL)

    assert response.status_code == 200
    page = response.content.decode()
    for role in ROLES:
        assert f"{role}@alpha.example" in page
        assert f'href="{edit_url(personas.a.members[role])}"' in page
    assert "admin@bravo.example" not in page
    assert "No pending invitations." in page


def test_member_list_shows_role_departments_and_status(personas, admin_client):
    Membership.objects.filter(pk=personas.a.members["viewer"].pk).update(is_active=False)

    page = admin_client.get(LIST_URL).content.decode()

    agent_row = re.search(r"<tr>\s*<td><a[^>]*>Agent</a></td>.*?</tr>", page, re.S).group(0)
    assert "Customer Services" in agent_row
    assert "Active" in agent_row
    viewer_row = re.search(r"<tr>\s*<td><a[^>]*>Viewer</a></td>.*?</tr>", page, re.S).group(0)
    assert "Deactivated" in viewer_row


def test_member_list_shows_pending_invitations_only(personas, admin_client):
    admin = personas.a.members["admin"]
    services.invitation_create(
        actor=admin, email="new.starter@alpha.example", role="editor", departments=[personas.a.departments["Communications"]]
    )
    revoked, _ = services.invitation_create(actor=admin, email="changed.mind@alpha.example", role="viewer", departments=[])
    services.invitation_revoke(actor=admin, invitation=revoked)
    Invitation.objects.create(
        organisation=personas.a.organisation,
        email="too.late@alpha.example",
        role="viewer",
        token_digest="0" * 64,
        expires_at=timezone.now() - timedelta(days=1),
    )
    services.invitation_create(actor=personas.outsider, email="someone@bravo.example", role="viewer", departments=[])

    page = admin_client.get(LIST_URL).content.decode()

    assert "new.starter@alpha.example" in page
    assert "changed.mind@alpha.example" not in page
    assert "too.late@alpha.example" not in page
    assert "someone@bravo.example" not in page
    assert "No pending invitations." not in page


# ---------------------------------------------------------------------------------------------- editing
def test_edit_page_offers_only_this_organisations_live_departments(personas, admin_client):
    archived = Department.objects.create(organisation=personas.a.organisation, name="Old Team", archived_at=timezone.now())

    response = admin_client.get(edit_url(personas.a.members["viewer"]))

    assert response.status_code == 200
    assert offered_department_ids(response) == {d.pk for d in personas.a.departments.values()}
    assert personas.b.departments["Digital Desk"].pk not in offered_department_ids(response)
    assert archived.pk not in offered_department_ids(response)
    page = response.content.decode()
    assert "Digital Desk" not in page
    assert "Old Team" not in page


def test_edit_page_shows_the_current_role_and_departments(personas, admin_client):
    page = admin_client.get(edit_url(personas.a.members["agent"])).content.decode()

    assert re.search(r'<option value="agent"[^>]*selected', page)
    customer_services = personas.a.departments["Customer Services"].pk
    assert re.search(rf'<input[^>]*name="departments"[^>]*value="{customer_services}"[^>]*checked', page)


def test_admin_changes_role_and_departments_with_a_message_and_audit_events(personas, admin_client):
    agent = personas.a.members["agent"]
    departments = personas.a.departments

    response = admin_client.post(
        edit_url(agent),
        {"role": "editor", "departments": [departments["Communications"].pk, departments["Customer Services"].pk]},
        follow=True,
    )

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Agent updated." in response.content.decode()
    assert _state(agent) == ("editor", True, ["Communications", "Customer Services"])
    # One save, one event: the role change names the departments too (issue 6 §1).
    [event] = _member_events()
    assert event.event_type == EventType.MEMBER_ROLE_CHANGED
    assert event.changes == {
        "role": {"from": "agent", "to": "editor"},
        "departments": {"from": ["Customer Services"], "to": ["Communications", "Customer Services"]},
    }
    assert event.actor == personas.a.user("admin")


def test_unticking_every_department_empties_them(personas, admin_client):
    viewer = personas.a.members["viewer"]

    admin_client.post(edit_url(viewer), {"role": "viewer"})

    assert _state(viewer) == ("viewer", True, [])


def test_another_organisations_department_posted_anyway_is_a_form_error_and_saves_nothing(personas, admin_client):
    viewer = personas.a.members["viewer"]
    foreign = personas.b.departments["Digital Desk"]

    response = admin_client.post(
        edit_url(viewer), {"role": "editor", "departments": [personas.a.departments["Communications"].pk, foreign.pk]}
    )

    assert response.status_code == 200
    assert "valid choice" in field_errors(response, "departments")
    assert _state(viewer) == ("viewer", True, ["Communications"])
    assert not foreign.members.exists()
    assert not _member_events().exists()


def test_an_archived_department_posted_anyway_is_a_form_error(personas, admin_client):
    viewer = personas.a.members["viewer"]
    archived = Department.objects.create(organisation=personas.a.organisation, name="Old Team", archived_at=timezone.now())

    response = admin_client.post(edit_url(viewer), {"role": "viewer", "departments": [archived.pk]})

    assert response.status_code == 200
    assert field_errors(response, "departments")
    assert _state(viewer)[2] == ["Communications"]


def test_changing_only_the_role_on_the_page_keeps_an_archived_department(personas, admin_client):
    # The form offers live departments only; the member's archived one must not be dropped silently.
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    customer_services = personas.a.departments["Customer Services"]
    editor.departments.add(customer_services)
    services.department_set_archived(actor=admin, department=personas.a.departments["Communications"], archived=True)
    page = admin_client.get(edit_url(editor)).content.decode()
    assert "Archived departments kept: Communications" in page

    response = admin_client.post(edit_url(editor), {"role": "approver", "departments": [customer_services.pk]})

    assert response.status_code == 302
    assert _state(editor) == ("approver", True, ["Communications", "Customer Services"])
    assert list(_member_events().values_list("event_type", flat=True)) == [EventType.MEMBER_ROLE_CHANGED]


def test_unknown_role_is_a_form_error(personas, admin_client):
    viewer = personas.a.members["viewer"]

    response = admin_client.post(edit_url(viewer), {"role": "superuser"})

    assert response.status_code == 200
    assert field_errors(response, "role")
    assert _state(viewer)[0] == "viewer"


def test_the_only_admin_cannot_demote_themself_on_the_page(personas, admin_client):
    admin = personas.a.members["admin"]

    response = admin_client.post(edit_url(admin), {"role": "manager"})

    assert response.status_code == 200
    assert "at least one active admin" in field_errors(response, "role")
    assert _state(admin) == ("admin", True, [])
    assert not _member_events().exists()


# --------------------------------------------------------------------------------- deactivate, reactivate
def test_deactivating_ends_the_members_sessions_and_tokens_with_a_message(personas, admin_client, login):
    editor = personas.a.members["editor"]
    editor_browser = login(editor, Client())
    assert editor_browser.get("/").status_code == 200
    raw = services.api_token_create(membership=editor)

    response = admin_client.post(active_url(editor), {"active": "0"}, follow=True)

    assert response.redirect_chain == [(LIST_URL, 302)]
    assert "Editor deactivated; they can no longer act in this organisation" in response.content.decode()
    editor.refresh_from_db()
    assert editor.is_active is False
    assert editor.deactivated_at is not None
    event = _member_events().get(event_type=EventType.MEMBER_DEACTIVATED)
    assert event.target_id == str(editor.pk)
    assert event.changes == {"active": {"from": True, "to": False}, "sessions_ended": 1}
    after = editor_browser.get("/")
    assert after.status_code == 302
    assert after["Location"].startswith(reverse("accounts:login"))
    assert not ApiToken.objects.filter(user=editor.user).exists()
    api = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get("/api/v1/me/").status_code == 401


def test_edit_page_of_an_active_member_offers_deactivate(personas, admin_client):
    page = admin_client.get(edit_url(personas.a.members["editor"])).content.decode()

    assert f'action="{active_url(personas.a.members["editor"])}"' in page
    assert "Deactivate" in page


def test_admin_reactivates_a_member_with_a_message_and_audit_event(personas, admin_client):
    editor = personas.a.members["editor"]
    admin_client.post(active_url(editor), {"active": "0"})
    assert "Reactivate" in admin_client.get(edit_url(editor)).content.decode()

    response = admin_client.post(active_url(editor), {"active": "1"}, follow=True)

    assert "Editor reactivated." in response.content.decode()
    editor.refresh_from_db()
    assert (editor.is_active, editor.deactivated_at) == (True, None)
    assert _member_events().filter(event_type=EventType.MEMBER_REACTIVATED, target_id=str(editor.pk)).count() == 1


def test_admin_cannot_deactivate_themself(personas, admin_client):
    admin = personas.a.members["admin"]

    response = admin_client.post(active_url(admin), {"active": "0"}, follow=True)

    assert response.status_code == 200
    assert "You cannot deactivate yourself." in response.content.decode()
    assert _state(admin)[1] is True
    assert not _member_events().exists()


def test_own_edit_page_offers_no_deactivate_button(personas, admin_client):
    admin = personas.a.members["admin"]

    page = admin_client.get(edit_url(admin)).content.decode()

    assert f'action="{active_url(admin)}"' not in page


def test_set_active_needs_a_post(personas, admin_client):
    editor = personas.a.members["editor"]

    assert admin_client.get(active_url(editor)).status_code == 405
    assert _state(editor)[1] is True


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("role", NON_ADMINS)
def test_non_admin_gets_403_on_every_members_page_and_changes_nothing(personas, login, role):
    client = login(personas.a.members[role])
    target = personas.a.members["editor" if role != "editor" else "viewer"]
    before = _state(target)

    responses = [
        client.get(LIST_URL),
        client.get(edit_url(target)),
        client.post(edit_url(target), {"role": "admin"}),
        client.post(active_url(target), {"active": "0"}),
        client.post(edit_url(personas.a.members[role]), {"role": "admin"}),
    ]

    assert [r.status_code for r in responses] == [403] * 5
    assert _state(target) == before
    assert _state(personas.a.members[role])[0] == role
    assert not _member_events().exists()


def test_outsider_admin_gets_404_for_organisation_a_members(personas, login):
    client = login(personas.outsider)
    editor = personas.a.members["editor"]

    responses = [
        client.get(edit_url(editor)),
        client.post(edit_url(editor), {"role": "viewer"}),
        client.post(active_url(editor), {"active": "0"}),
    ]

    assert [r.status_code for r in responses] == [404] * 3
    assert _state(editor) == ("editor", True, ["Communications"])


def test_outsider_admins_list_does_not_show_organisation_a(personas, login):
    page = login(personas.outsider).get(LIST_URL).content.decode()

    assert "admin@bravo.example" in page
    assert "@alpha.example" not in page


# -------------------------------------------------------------------------------------------- queries
def _add_members(personas, count: int, prefix: str) -> None:
    org = Org(personas.a.organisation, personas.a.departments)  # a fresh Org, so the personas stay as they are
    for i in range(count):
        add_member(org, "editor", f"{prefix}{i:02d}@alpha.example", ["Communications", "Customer Services"])
        if i % 3 == 0:
            services.invitation_create(
                actor=personas.a.members["admin"], email=f"{prefix}{i:02d}@invited.example", role="viewer",
                departments=list(personas.a.departments.values()),
            )


def test_member_list_query_count_does_not_grow_with_members(personas, admin_client, django_assert_max_num_queries):
    admin_client.get(LIST_URL)
    _add_members(personas, 3, "few")
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(LIST_URL).status_code == 200

    _add_members(personas, 10, "more")

    with django_assert_max_num_queries(len(few)):
        response = admin_client.get(LIST_URL)
    page = response.content.decode()
    assert all(f"more{i:02d}@alpha.example" in page for i in range(10))
    assert "more09@invited.example" in page
    # The layout's own queries included (session, membership, channel alerts, unread notifications).
    assert len(few) <= 14
