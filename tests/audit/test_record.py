from __future__ import annotations

import pytest
from django.db import transaction

from accounts import services
from audit.context import ActionContext, acting
from audit.models import AuditEvent, EventType
from audit.services import AuditOutsideTransaction, diff, record


def test_record_refuses_to_write_outside_a_transaction(personas):
    with pytest.raises(AuditOutsideTransaction):
        # Not inside transaction.atomic(): pytest-django's test transaction is an atomic block, so leave it.
        connection_atomic = transaction.get_connection().in_atomic_block
        transaction.get_connection().in_atomic_block = False
        try:
            record(organisation=personas.a.organisation, event_type=EventType.SIGN_IN)
        finally:
            transaction.get_connection().in_atomic_block = connection_atomic


def test_audit_event_rolls_back_with_the_change_it_describes(personas):
    admin = personas.a.members["admin"]
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.department_create(actor=admin, name="Housing")
        raise RuntimeError("the change fails after the service wrote")
    assert AuditEvent.objects.count() == before
    assert not personas.a.organisation.departments.filter(name="Housing").exists()


def test_event_carries_actor_label_request_context_and_frozen_target(personas):
    admin = personas.a.members["admin"]
    with acting(ActionContext(request_id="req-12345678", ip="192.0.2.7", user_agent="pytest-agent")):
        department = services.department_create(actor=admin, name="Housing")
    event = AuditEvent.objects.get(event_type=EventType.DEPARTMENT_CREATED, target_id=str(department.pk))
    assert event.actor == admin.user
    assert event.actor_label == admin.user.label
    assert event.organisation == personas.a.organisation
    assert event.department == department
    assert event.target_type == "accounts.department"
    assert event.target_repr == "Housing"
    assert (event.request_id, event.ip, event.user_agent) == ("req-12345678", "192.0.2.7", "pytest-agent")
    assert event.changes == {"name": {"from": None, "to": "Housing"}}


def test_system_actor_is_named_when_no_person_acts(personas):
    with acting(ActionContext(system_actor="system: nightly_task")), transaction.atomic():
        event = record(organisation=personas.a.organisation, event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    assert event.actor is None
    assert event.actor_label == "system: nightly_task"


def test_diff_keeps_only_changed_fields():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": {"from": 2, "to": 3}}


def test_managers_read_only_their_departments_events_and_admins_all(personas):
    admin, manager = personas.a.members["admin"], personas.a.members["manager"]
    comms, customer = personas.a.departments["Communications"], personas.a.departments["Customer Services"]
    services.department_rename(actor=admin, department=comms, name="Comms")
    services.department_rename(actor=admin, department=customer, name="Customer Care")
    renamed = AuditEvent.objects.filter(event_type=EventType.DEPARTMENT_RENAMED)
    assert set(renamed.visible_to(admin).values_list("department_id", flat=True)) == {comms.pk, customer.pk}
    assert set(renamed.visible_to(manager).values_list("department_id", flat=True)) == {comms.pk}
    assert not renamed.visible_to(personas.outsider).exists()
    assert not renamed.visible_to(None).exists()
