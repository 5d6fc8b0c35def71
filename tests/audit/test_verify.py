"""`manage.py verify_audit` (issue 6 §3): tampering done as the database superuser, with the append-only
trigger disabled, is caught: an edited, deleted, reordered or forged link, and the newest events deleted."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit import chain
from audit.management.commands.verify_audit import Command
from audit.models import AuditChainHead, AuditEvent, EventType
from audit.services import checkpoints_write, record


@pytest.fixture
def trail(personas):
    """Organisation A with a few dozen chained events; returns (organisation, length of its chain)."""
    org = personas.a.organisation
    for i in range(20):
        with transaction.atomic():
            record(organisation=org, event_type=EventType.ORGANISATION_SETTINGS_CHANGED, changes={"i": i})
    with transaction.atomic():
        record(organisation=None, event_type=EventType.SIGN_IN_FAILED, changes={"email": "nobody@example.org"})
    return org, AuditChainHead.objects.get(organisation=org).sequence


def tamper(*statements, params=()):
    """Run SQL as the superuser with the append-only trigger off (inside the test's transaction)."""
    with connection.cursor() as cursor:
        disable_trigger(cursor)
        for sql in statements:
            cursor.execute(sql, params)
        enable_trigger(cursor)


def disable_trigger(cursor):
    # ALTER TABLE refuses while foreign-key checks are deferred in this transaction: check them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")


def enable_trigger(cursor):
    cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def verify(*args) -> str:
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def failure(*args) -> str:
    with pytest.raises(CommandError) as raised:
        verify(*args)
    return str(raised.value)


def test_an_intact_trail_verifies_and_reports_counts_and_heads(trail):
    org, length = trail
    checkpoints_write()
    head = AuditChainHead.objects.get(organisation=org)
    out = verify()
    assert f"alpha: {length} events, head {head.head_hash}, checkpoint at sequence {length} matches" in out
    assert "bravo: " in out and "(no organisation): 1 events" in out
    assert "3 chain(s) intact" in out


def test_an_edited_event_is_caught_at_its_sequence(trail):
    org, length = trail
    tamper(
        "UPDATE audit_auditevent SET changes = '{\"i\": 99}' WHERE organisation_id = %s AND sequence = %s",
        params=[org.pk, length - 5],
    )
    message = failure()
    assert f"alpha: altered event at sequence {length - 5}" in message
    assert "bravo" not in message


def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_link(trail):
    org, length = trail
    row = AuditEvent.objects.filter(organisation=org, sequence=length - 5).values(*chain.HASHED_FIELDS).get()
    row["actor_label"] = "someone innocent"
    tamper(
        "UPDATE audit_auditevent SET actor_label = %s, hash = %s WHERE organisation_id = %s AND sequence = %s",
        params=[row["actor_label"], chain.event_hash(row), org.pk, length - 5],
    )
    assert f"broken link at sequence {length - 4}" in failure("--org", "alpha")


def test_a_deleted_middle_event_is_caught_as_a_missing_link(trail):
    org, length = trail
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = %s", params=[org.pk, length - 7])
    assert f"missing link: sequence {length - 7} not found" in failure()


def test_deleting_the_newest_events_is_caught_by_the_checkpoint(trail):
    org, length = trail
    checkpoints_write()
    # A careful tamperer also winds the chain head back to the last remaining event.
    last = AuditEvent.objects.get(organisation=org, sequence=length - 3)
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence > %s", params=[org.pk, length - 3])
    AuditChainHead.objects.filter(organisation=org).update(sequence=length - 3, head_hash=last.hash)
    message = failure()
    assert "alpha: missing newest events: the checkpoint of" in message
    assert f"signed sequence {length}, the chain ends at sequence {length - 3}" in message


def test_deleting_the_newest_events_before_any_checkpoint_is_caught_by_the_head(trail):
    org, length = trail
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence > %s", params=[org.pk, length - 2])
    assert f"the chain head records sequence {length} but the chain ends at sequence {length - 2}" in failure()


def test_swapped_events_are_caught_as_a_reordered_link(trail):
    org, length = trail
    k = length - 6
    tamper(
        "UPDATE audit_auditevent SET sequence = -1 WHERE organisation_id = %(org)s AND sequence = %(k)s",
        "UPDATE audit_auditevent SET sequence = %(k)s WHERE organisation_id = %(org)s AND sequence = %(k)s + 1",
        "UPDATE audit_auditevent SET sequence = %(k)s + 1 WHERE organisation_id = %(org)s AND sequence = -1",
        params={"org": org.pk, "k": k},
    )
    assert f"broken link at sequence {k}" in failure()


def test_a_rewritten_tail_is_caught_by_the_checkpoint(trail):
    # Without the key a tamperer can rebuild every later hash, but not the signed checkpoint.
    org, length = trail
    checkpoints_write()
    rows = list(
        AuditEvent.objects.filter(organisation=org, sequence__gte=length - 4)
        .order_by("sequence")
        .values("id", *chain.HASHED_FIELDS)
    )
    rows[0]["target_repr"] = "rewritten"
    previous = rows[0]["prev_hash"]
    with connection.cursor() as cursor:
        disable_trigger(cursor)
        for row in rows:
            row["prev_hash"] = previous
            previous = chain.event_hash(row)
            cursor.execute(
                "UPDATE audit_auditevent SET target_repr = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [row["target_repr"], row["prev_hash"], previous, row["id"]],
            )
        enable_trigger(cursor)
    AuditChainHead.objects.filter(organisation=org).update(head_hash=previous)
    assert f"checkpoint mismatch: the event at sequence {length} is not the one the checkpoint signed" in failure()


def test_a_forged_checkpoint_is_caught(trail):
    org, length = trail
    checkpoints_write()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditcheckpoint (organisation_id, sequence, head_hash, signature, created_at)"
            " VALUES (%s, %s, %s, %s, now())",
            [org.pk, length + 5, "f" * 64, "0" * 64],
        )
    assert f"checkpoint at sequence {length + 5} has a bad signature" in failure()


def test_an_event_outside_the_chain_is_caught(trail):
    org, _ = trail
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditevent (organisation_id, occurred_at, actor_label, event_type, target_type, target_id,"
            " target_repr, changes, request_id, user_agent, prev_hash, hash)"
            " VALUES (%s, now(), 'intruder', 'auth.sign_in', '', '', '', '{}', '', '', '', '')",
            [org.pk],
        )
    assert "alpha: 1 event(s) have no sequence" in failure()


def test_only_the_named_organisation_is_checked(trail):
    org, length = trail
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = 3", params=[org.pk])
    out = verify("--org", "bravo")
    assert "bravo: " in out and "alpha" not in out
    assert "missing link: sequence 3" in failure("--org", "alpha")


def test_an_unknown_organisation_is_a_clear_error(trail):
    assert "No organisation with the slug 'nowhere'" in failure("--org", "nowhere")


def test_the_command_exits_non_zero_when_a_link_is_broken(trail, capsys):
    org, length = trail
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = %s", params=[org.pk, length])
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "verify_audit"])
    assert exited.value.code == 1
    assert "Audit trail verification FAILED" in capsys.readouterr().err
