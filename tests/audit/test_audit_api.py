"""/api/v1/audit-events/: read only, the audit page's filters and keyset paging, scoped, and itself audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

LIST = "/api/v1/audit-events/"
LONDON = ZoneInfo("Europe/London")


def _event(org, *, at=None, event_type=EventType.POST_CREATED, department="Communications", actor=None, **fields):
    return AuditEvent.objects.create(
        organisation=org.organisation,
        department=org.departments[department] if department else None,
        occurred_at=at or timezone.now(),
        actor=actor.user if actor else None,
        actor_label=actor.user.label if actor else "system: tests",
        event_type=event_type,
        **fields,
    )


def _ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def _viewed(org):
    return list(AuditEvent.objects.filter(organisation=org.organisation, event_type=EventType.AUDIT_VIEWED).order_by("id"))


def test_list_and_detail_with_chain_fields(personas, api_for):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    event = AuditEvent.objects.get(event_type=EventType.POST_CREATED, target_id=str(post.pk))
    api = api_for(personas.a.members["admin"])
    response = api.get(LIST)
    assert response.status_code == 200
    assert event.pk in _ids(response)
    detail = api.get(f"{LIST}{event.pk}/")
    assert detail.status_code == 200
    data = detail.json()
    assert data["event_type"] == "post.created"
    assert data["event_type_label"] == EventType.POST_CREATED.label
    assert data["target_type"] == "approvals.post" and data["target_id"] == str(post.pk)
    assert data["department"] == personas.a.departments["Communications"].pk
    assert data["department_name"] == "Communications"
    for name in ("sequence", "prev_hash", "hash", "request_id", "changes", "actor_label"):
        assert name in data
    assert data["hash"] == event.hash and data["sequence"] == event.sequence


def test_read_only(personas, api_for):
    event = _event(personas.a)
    api = api_for(personas.a.members["admin"])
    assert api.post(LIST, {}, format="json").status_code == 405
    for method in ("put", "patch", "delete"):
        assert getattr(api, method)(f"{LIST}{event.pk}/", {}, format="json").status_code == 405
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("role", ["approver", "editor", "agent", "viewer"])
def test_roles_without_view_audit_get_403(role, personas, api_for):
    event = _event(personas.a)
    member = personas.a.members[role]
    # In the event's department, so the answer is about the role (another department's event is a 404 first).
    member.departments.add(personas.a.departments["Communications"])
    api = api_for(member)
    assert api.get(LIST).status_code == 403
    assert api.get(f"{LIST}{event.pk}/").status_code == 403
    assert _viewed(personas.a) == []


def test_other_organisation_gets_404_and_an_empty_list(personas, api_for):
    event = _event(personas.a)
    api = api_for(personas.outsider)
    assert api.get(f"{LIST}{event.pk}/").status_code == 404
    assert event.pk not in _ids(api.get(LIST))


def test_other_organisations_editor_gets_404_not_403_for_a_foreign_id(personas, api_for):
    from tests.conftest import add_member

    event = _event(personas.a)
    editor_b = add_member(personas.b, "editor", "editor@bravo.example", ["Digital Desk"])
    assert api_for(editor_b).get(f"{LIST}{event.pk}/").status_code == 404


def test_manager_sees_only_their_departments(personas, api_for):
    mine = _event(personas.a, department="Communications")
    theirs = _event(personas.a, department="Customer Services")
    wide = _event(personas.a, department=None, event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    api = api_for(personas.a.members["manager"])
    ids = _ids(api.get(LIST))
    assert mine.pk in ids and theirs.pk not in ids and wide.pk not in ids
    assert api.get(f"{LIST}{theirs.pk}/").status_code == 404


def test_filters(personas, api_for):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    by_editor = _event(personas.a, actor=editor, event_type=EventType.POST_SUBMITTED, target_type="approvals.post",
                       target_id="5", at=datetime(2025, 3, 10, 12, tzinfo=LONDON))
    by_task = _event(personas.a, event_type=EventType.POST_FINISHED, department="Customer Services",
                     at=datetime(2025, 3, 12, 12, tzinfo=LONDON))
    api = api_for(admin)
    assert _ids(api.get(LIST, {"actor": editor.user_id})) == [by_editor.pk]
    assert by_task.pk in _ids(api.get(LIST, {"actor": "system"}))
    assert by_editor.pk not in _ids(api.get(LIST, {"actor": "system"}))
    assert _ids(api.get(LIST, {"event_type": "post.submitted"})) == [by_editor.pk]
    both = set(_ids(api.get(LIST, {"event_type": "post.submitted,post.finished"})))
    assert both == {by_editor.pk, by_task.pk}
    assert _ids(api.get(LIST, {"target_type": "approvals.post", "target_id": "5"})) == [by_editor.pk]
    dept = personas.a.departments["Customer Services"].pk
    assert by_task.pk in _ids(api.get(LIST, {"department": dept}))
    assert by_editor.pk not in _ids(api.get(LIST, {"department": dept}))
    assert _ids(api.get(LIST, {"from": "2025-03-10", "to": "2025-03-11"})) == [by_editor.pk]
    assert _ids(api.get(LIST, {"from": "2025-03-11", "to": "2025-03-12"})) == [by_task.pk]


def test_keyset_paging_follows_next(personas, api_for):
    base = timezone.now() - timedelta(hours=1)
    made = [_event(personas.a, at=base + timedelta(seconds=i // 2)) for i in range(25)]
    api = api_for(personas.a.members["admin"])
    seen, url = [], f"{LIST}?event_type=post.created&page_size=10"
    while url:
        data = api.get(url).json()
        seen += [row["id"] for row in data["results"]]
        url = data["next"]
    assert seen == [e.pk for e in sorted(made, key=lambda e: (e.occurred_at, e.pk), reverse=True)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"actor": "²"}, "actor"),
        ({"actor": str(2**64)}, "actor"),
        ({"department": "²"}, "department"),
        ({"department": str(2**70)}, "department"),
        ({"event_type": "nope"}, "event_type"),
        ({"target_id": "5"}, "target_id"),
        ({"from": "9999-01-01"}, "from"),
        ({"to": "0001-01-01"}, "to"),
        ({"from": "2025-13-01"}, "from"),
        ({"cursor": "garbage"}, "cursor"),
        ({"page_size": "201"}, "page_size"),
    ],
)
def test_bad_filters_are_400_with_field_errors(params, field, personas, api_for):
    response = api_for(personas.a.members["admin"]).get(LIST, params)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert _viewed(personas.a) == []


@pytest.mark.parametrize("pk", ["99999999999999999999999", "9223372036854775808", "0", "abc"])
def test_odd_ids_are_404(pk, personas, api_for):
    assert api_for(personas.a.members["admin"]).get(f"{LIST}{pk}/").status_code == 404


def test_each_call_records_one_audit_viewed_with_its_filters(personas, api_for):
    event = _event(personas.a)
    admin = personas.a.members["admin"]
    api = api_for(admin)
    api.get(LIST, {"event_type": "post.created"})
    api.get(f"{LIST}{event.pk}/")
    viewed = _viewed(personas.a)
    assert len(viewed) == 2
    assert viewed[0].actor == admin.user
    assert viewed[0].changes["filters"] == {"event_type": ["post.created"]}
    assert viewed[0].changes["view"] == "api list"
    assert viewed[1].changes["view"] == "api detail"
    assert viewed[1].target_id == str(event.pk)
