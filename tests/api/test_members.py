"""/api/v1/members/: every member reads the list; admins change role, departments and whether a member is active."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import ApiToken, Department, Membership
from audit.models import AuditEvent, EventType
from tests.conftest import ROLES, Org, add_member

LIST_URL = "/api/v1/members/"
ME_URL = "/api/v1/me/"
NON_ADMINS = [role for role in ROLES if role != "admin"]


def detail_url(membership: Membership | int) -> str:
    return f"{LIST_URL}{getattr(membership, 'pk', membership)}/"


def _state(membership: Membership) -> tuple:
    membership.refresh_from_db()
    return membership.role, membership.is_active, sorted(membership.departments.values_list("name", flat=True))


def _member_events(membership: Membership | None = None):
    events = AuditEvent.objects.filter(event_type__startswith="member.", actor__isnull=False)
    if membership is not None:
        events = events.filter(target_type="accounts.membership", target_id=str(membership.pk))
    return events


# --------------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize("role", ROLES)
def test_every_member_lists_all_members_of_their_organisation_only(personas, api_for, role):
    response = api_for(personas.a.members[role]).get(LIST_URL)

    assert response.status_code == 200
    emails = sorted(m["email"] for m in response.json()["results"])
    assert emails == sorted(f"{r}@alpha.example" for r in ROLES)
    assert "admin@bravo.example" not in emails


def test_list_includes_deactivated_members(personas, api_for):
    viewer = personas.a.members["viewer"]
    Membership.objects.filter(pk=viewer.pk).update(is_active=False, deactivated_at=timezone.now())

    results = api_for(personas.a.members["admin"]).get(LIST_URL).json()["results"]

    assert {m["email"]: m["is_active"] for m in results}["viewer@alpha.example"] is False


def test_member_detail_has_role_departments_and_state(personas, api_for):
    agent = personas.a.members["agent"]

    response = api_for(personas.a.members["viewer"]).get(detail_url(agent))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == agent.pk
    assert body["email"] == "agent@alpha.example"
    assert body["full_name"] == "Agent"
    assert body["role"] == "agent"
    assert body["departments"] == [personas.a.departments["Customer Services"].pk]
    assert body["is_active"] is True
    assert "created_at" in body


def test_member_of_another_organisation_is_404(personas, api_for):
    response = api_for(personas.a.members["admin"]).get(detail_url(personas.outsider))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_outsider_gets_404_for_organisation_a_member(personas, api_for):
    assert api_for(personas.outsider).get(detail_url(personas.a.members["viewer"])).status_code == 404


# --------------------------------------------------------------------------------------- changing role
def test_admin_changes_a_role_and_it_is_audited(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]

    response = api_for(admin).patch(detail_url(editor), {"role": "approver"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "approver"
    assert _state(editor) == ("approver", True, ["Communications"])
    event = _member_events(editor).get()
    assert event.event_type == EventType.MEMBER_ROLE_CHANGED
    assert event.actor == admin.user
    assert event.organisation == personas.a.organisation
    assert event.target_repr == editor.user.label
    assert event.changes == {"role": {"from": "editor", "to": "approver"}}


def test_unknown_role_is_400_naming_role(personas, api_for):
    editor = personas.a.members["editor"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(editor), {"role": "superuser"}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()["errors"]
    assert _state(editor)[0] == "editor"


def test_the_only_admin_cannot_demote_themself(personas, api_for):
    admin = personas.a.members["admin"]

    response = api_for(admin).patch(detail_url(admin), {"role": "manager"}, format="json")

    assert response.status_code == 400
    assert "role" in response.json()["errors"]
    assert _state(admin) == ("admin", True, [])
    assert not _member_events().exists()


def test_an_admin_can_be_demoted_while_another_active_admin_remains(personas, api_for):
    admin = personas.a.members["admin"]
    second = add_member(Org(personas.a.organisation, personas.a.departments), "admin", "second@alpha.example", [])

    response = api_for(admin).patch(detail_url(second), {"role": "viewer"}, format="json")

    assert response.status_code == 200
    assert _state(second)[0] == "viewer"


def test_a_deactivated_admin_does_not_count_as_the_remaining_admin(personas, api_for):
    admin = personas.a.members["admin"]
    dormant = add_member(Org(personas.a.organisation, personas.a.departments), "admin", "dormant@alpha.example", [])
    Membership.objects.filter(pk=dormant.pk).update(is_active=False)

    response = api_for(admin).patch(detail_url(admin), {"role": "manager"}, format="json")

    assert response.status_code == 400
    assert _state(admin)[0] == "admin"


# ---------------------------------------------------------------------------------- changing departments
def test_admin_changes_departments_and_it_is_audited(personas, api_for):
    admin, viewer = personas.a.members["admin"], personas.a.members["viewer"]
    departments = personas.a.departments

    response = api_for(admin).patch(
        detail_url(viewer),
        {"departments": [departments["Customer Services"].pk, departments["Communications"].pk]},
        format="json",
    )

    assert response.status_code == 200
    assert sorted(response.json()["departments"]) == sorted(d.pk for d in departments.values())
    assert _state(viewer) == ("viewer", True, ["Communications", "Customer Services"])
    event = _member_events(viewer).get()
    assert event.event_type == EventType.MEMBER_DEPARTMENTS_CHANGED
    assert event.actor == admin.user
    assert event.changes == {
        "departments": {"from": ["Communications"], "to": ["Communications", "Customer Services"]}
    }


def test_departments_can_be_emptied(personas, api_for):
    viewer = personas.a.members["viewer"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(viewer), {"departments": []}, format="json")

    assert response.status_code == 200
    assert _state(viewer)[2] == []


def test_role_and_departments_in_one_patch_record_one_event(personas, api_for):
    agent = personas.a.members["agent"]

    response = api_for(personas.a.members["admin"]).patch(
        detail_url(agent),
        {"role": "editor", "departments": [personas.a.departments["Communications"].pk]},
        format="json",
    )

    assert response.status_code == 200
    assert _state(agent) == ("editor", True, ["Communications"])
    # One request, one event (issue 6 §1): member.role_changed, naming the departments too.
    [event] = _member_events(agent)
    assert event.event_type == EventType.MEMBER_ROLE_CHANGED
    assert event.changes == {"role": {"from": "agent", "to": "editor"},
                             "departments": {"from": ["Customer Services"], "to": ["Communications"]}}


def test_changing_only_the_role_keeps_a_department_archived_since(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    services.department_set_archived(actor=admin, department=personas.a.departments["Communications"], archived=True)

    response = api_for(admin).patch(detail_url(editor), {"role": "approver"}, format="json")

    assert response.status_code == 200
    assert _state(editor) == ("approver", True, ["Communications"])
    assert list(_member_events(editor).values_list("event_type", flat=True)) == [EventType.MEMBER_ROLE_CHANGED]


def test_departments_are_compared_by_id_not_by_name(personas, api_for):
    # An archived "Communications" and a new live one share the name; moving the member is a change.
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    old = personas.a.departments["Communications"]
    services.department_set_archived(actor=admin, department=old, archived=True)
    new = services.department_create(actor=admin, name="Communications")

    response = api_for(admin).patch(detail_url(editor), {"departments": [new.pk]}, format="json")

    assert response.status_code == 200
    assert set(editor.departments.values_list("pk", flat=True)) == {new.pk}
    event = _member_events(editor).get()
    assert event.event_type == EventType.MEMBER_DEPARTMENTS_CHANGED
    assert event.changes == {"departments": {"from": ["Communications"], "to": ["Communications"]}}


def test_a_members_departments_sent_back_as_read_are_accepted_archived_ones_included(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    services.department_set_archived(actor=admin, department=personas.a.departments["Communications"], archived=True)
    api = api_for(admin)
    read = api.get(detail_url(editor)).json()

    response = api.patch(detail_url(editor), {"role": "approver", "departments": read["departments"]}, format="json")

    assert response.status_code == 200
    assert _state(editor) == ("approver", True, ["Communications"])
    assert list(_member_events(editor).values_list("event_type", flat=True)) == [EventType.MEMBER_ROLE_CHANGED]


def test_patch_with_the_current_values_records_nothing(personas, api_for):
    editor = personas.a.members["editor"]

    response = api_for(personas.a.members["admin"]).patch(
        detail_url(editor), {"role": "editor", "departments": [personas.a.departments["Communications"].pk]}, format="json"
    )

    assert response.status_code == 200
    assert not _member_events().exists()


def test_another_organisations_department_is_400_not_silently_accepted(personas, api_for):
    viewer = personas.a.members["viewer"]
    foreign = personas.b.departments["Digital Desk"]

    response = api_for(personas.a.members["admin"]).patch(
        detail_url(viewer), {"departments": [personas.a.departments["Customer Services"].pk, foreign.pk]}, format="json"
    )

    assert response.status_code == 400
    assert "departments" in response.json()["errors"]
    assert _state(viewer) == ("viewer", True, ["Communications"])
    assert not foreign.members.exists()
    assert not _member_events().exists()


def test_an_archived_department_cannot_be_given(personas, api_for):
    viewer = personas.a.members["viewer"]
    archived = Department.objects.create(organisation=personas.a.organisation, name="Old", archived_at=timezone.now())

    response = api_for(personas.a.members["admin"]).patch(detail_url(viewer), {"departments": [archived.pk]}, format="json")

    assert response.status_code == 400
    assert "departments" in response.json()["errors"]
    assert _state(viewer)[2] == ["Communications"]


@pytest.mark.parametrize("departments", [[999999999], ["abc"], "Communications", [None]])
def test_malformed_departments_are_400(personas, api_for, departments):
    viewer = personas.a.members["viewer"]

    response = api_for(personas.a.members["admin"]).patch(detail_url(viewer), {"departments": departments}, format="json")

    assert response.status_code == 400
    assert "departments" in response.json()["errors"]
    assert _state(viewer)[2] == ["Communications"]


# ------------------------------------------------------------------------------------------ deactivating
def test_deactivating_a_member_ends_their_api_tokens_and_is_audited(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    editor_api = api_for(editor)
    assert editor_api.get(ME_URL).status_code == 200

    response = api_for(admin).patch(detail_url(editor), {"is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    editor.refresh_from_db()
    assert editor.is_active is False
    assert editor.deactivated_at is not None
    assert not ApiToken.objects.filter(user=editor.user).exists()
    after = editor_api.get(ME_URL)
    assert after.status_code == 401
    assert "detail" in after.json()
    event = _member_events(editor).get()
    assert event.event_type == EventType.MEMBER_DEACTIVATED
    assert event.actor == admin.user
    assert event.changes["active"] == {"from": True, "to": False}


def test_deactivation_in_one_organisation_leaves_the_persons_token_for_another_working(personas, api_for):
    editor = personas.a.members["editor"]
    in_bravo = add_member(personas.b, "viewer", "editor@alpha.example", ["Digital Desk"])
    bravo_api = api_for(in_bravo)

    api_for(personas.a.members["admin"]).patch(detail_url(editor), {"is_active": False}, format="json")

    response = bravo_api.get(ME_URL)
    assert response.status_code == 200
    assert response.json()["organisation"]["slug"] == "bravo"


def test_reactivating_a_member_is_audited(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    api = api_for(admin)
    api.patch(detail_url(editor), {"is_active": False}, format="json")

    response = api.patch(detail_url(editor), {"is_active": True}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is True
    editor.refresh_from_db()
    assert (editor.is_active, editor.deactivated_at) == (True, None)
    assert _member_events(editor).filter(event_type=EventType.MEMBER_REACTIVATED).count() == 1


def test_deactivating_an_inactive_member_again_records_nothing_more(personas, api_for):
    api = api_for(personas.a.members["admin"])
    editor = personas.a.members["editor"]
    api.patch(detail_url(editor), {"is_active": False}, format="json")

    response = api.patch(detail_url(editor), {"is_active": False}, format="json")

    assert response.status_code == 200
    assert _member_events(editor).filter(event_type=EventType.MEMBER_DEACTIVATED).count() == 1


def test_the_last_active_admin_cannot_be_deactivated(personas, api_for):
    admin = personas.a.members["admin"]
    api = api_for(admin)

    response = api.patch(detail_url(admin), {"is_active": False}, format="json")

    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
    assert _state(admin) == ("admin", True, [])
    assert ApiToken.objects.filter(user=admin.user).exists()
    assert api.get(ME_URL).status_code == 200
    assert not _member_events().exists()


def test_a_refused_deactivation_leaves_the_rest_of_the_patch_unapplied(personas, api_for):
    admin = personas.a.members["admin"]

    response = api_for(admin).patch(
        detail_url(admin),
        {"departments": [personas.a.departments["Communications"].pk], "is_active": False},
        format="json",
    )

    assert response.status_code == 400
    assert _state(admin) == ("admin", True, [])
    assert not _member_events().exists()


def test_another_admin_can_be_deactivated_while_one_remains(personas, api_for):
    second = add_member(Org(personas.a.organisation, personas.a.departments), "admin", "second@alpha.example", [])

    response = api_for(personas.a.members["admin"]).patch(detail_url(second), {"is_active": False}, format="json")

    assert response.status_code == 200
    assert _state(second)[1] is False


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("role", NON_ADMINS)
@pytest.mark.parametrize("payload", [{"role": "admin"}, {"is_active": False}, {"departments": []}])
def test_non_admin_cannot_change_members(personas, api_for, role, payload):
    target = personas.a.members["editor" if role != "editor" else "viewer"]
    before = _state(target)

    response = api_for(personas.a.members[role]).patch(detail_url(target), payload, format="json")

    assert response.status_code == 403
    assert "detail" in response.json()
    assert _state(target) == before
    assert not _member_events().exists()


def test_non_admin_cannot_promote_themself(personas, api_for):
    viewer = personas.a.members["viewer"]

    response = api_for(viewer).patch(detail_url(viewer), {"role": "admin"}, format="json")

    assert response.status_code == 403
    assert _state(viewer)[0] == "viewer"


def test_non_admin_gets_404_for_another_organisations_member(personas, api_for):
    response = api_for(personas.a.members["viewer"]).patch(detail_url(personas.outsider), {"role": "viewer"}, format="json")

    assert response.status_code == 404


def test_admin_cannot_change_a_member_of_another_organisation(personas, api_for):
    outsider = personas.outsider
    api = api_for(personas.a.members["admin"])

    for payload in ({"role": "viewer"}, {"is_active": False}, {"departments": []}):
        assert api.patch(detail_url(outsider), payload, format="json").status_code == 404

    assert _state(outsider) == ("admin", True, [])


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_members_are_not_created_replaced_or_deleted_through_the_api(personas, api_for, method):
    api = api_for(personas.a.members["admin"])
    url = LIST_URL if method == "post" else detail_url(personas.a.members["viewer"])

    response = getattr(api, method)(url, {"role": "viewer"}, format="json")

    assert response.status_code == 405
    assert Membership.objects.filter(organisation=personas.a.organisation).count() == len(ROLES)


# ---------------------------------------------------------------------------------------- concurrency
def _waiting_backends() -> int:
    """How many connections to this test database are waiting for a lock."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps its first look at pg_stat_activity unless told to look again.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        return cursor.fetchone()[0]


def _wait_for_waiting_backends(count: int) -> None:
    deadline = time.monotonic() + 10
    while _waiting_backends() < count:
        assert time.monotonic() < deadline, f"expected {count} requests waiting on a lock"
        time.sleep(0.02)


@pytest.mark.parametrize("payload", [{"role": "viewer"}, {"is_active": False}], ids=["demote", "deactivate"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(transactional_db, personas, api_for, payload):
    first = personas.a.members["admin"]
    second = add_member(Org(personas.a.organisation, personas.a.departments), "admin", "second@alpha.example", [])
    first_api, second_api = api_for(first), api_for(second)
    for api in (first_api, second_api):
        api.get(ME_URL)  # stamps last_used_at now, so the racing requests write nothing to their tokens
    responses = {}

    def patch(name, api, target):
        try:
            responses[name] = api.patch(detail_url(target), payload, format="json").status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=patch, args=("first", first_api, second)),
        threading.Thread(target=patch, args=("second", second_api, first)),
    ]
    try:
        # Hold every audit write, so a request that passed its admin check waits there before it commits.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE audit_auditevent IN SHARE ROW EXCLUSIVE MODE")
            threads[0].start()
            _wait_for_waiting_backends(1)
            threads[1].start()
            _wait_for_waiting_backends(2)
    finally:
        # Leaving the block released the lock: both requests now finish.
        for thread in threads:
            if thread.ident is not None:
                thread.join(timeout=30)

    assert sorted(responses.values()) == [200, 400]
    assert Membership.objects.filter(organisation=personas.a.organisation, role="admin", is_active=True).count() == 1


# -------------------------------------------------------------------------------------------- queries
def _add_members(personas, count: int, prefix: str) -> None:
    org = Org(personas.a.organisation, personas.a.departments)  # a fresh Org, so the personas stay as they are
    for i in range(count):
        add_member(org, "editor", f"{prefix}{i:02d}@alpha.example", ["Communications", "Customer Services"])


def test_member_list_query_count_does_not_grow_with_members(personas, api_for, django_assert_max_num_queries):
    api = api_for(personas.a.members["viewer"])
    api.get(ME_URL)  # the token's last-used stamp is written at most once a minute: take it out of the count
    _add_members(personas, 3, "few")
    with CaptureQueriesContext(connection) as few:
        assert len(api.get(LIST_URL).json()["results"]) == len(ROLES) + 3

    _add_members(personas, 10, "more")

    with django_assert_max_num_queries(len(few)):
        results = api.get(LIST_URL).json()["results"]
    assert len(results) == len(ROLES) + 13
    assert all(len(m["departments"]) == 2 for m in results if m["email"].startswith("more"))
    assert len(few) <= 6
