"""`manage.py purge_audit` (issue 6, retention of audit events) and verification that starts from its signed anchor.

The old events are set up with a chosen past time (record() stamps the present), correctly chained; the recent
ones come from the real record(). Tampering is real SQL with the append-only trigger disabled, as in test_verify.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import InternalError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department, Organisation
from audit import chain
from audit.models import AuditAnchor, AuditChainHead, AuditCheckpoint, AuditEvent, EventType
from audit.services import checkpoints_write, record
from inbox.models import RetentionPolicy
from tests.audit.test_verify import tamper
from tests.conftest import Org, add_member

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_audit_export.py"
OLD_DAYS = 3000  # past the default audit period of 2,555 days
REFERENCE = "RM/2026/0042 (records archive, box 7)"


def _append_old(organisation, at, i):
    """Set-up only: one correctly chained event at a chosen past time (record() stamps the database's clock)."""
    head, _ = AuditChainHead.objects.get_or_create(organisation=organisation)
    fields = {
        "organisation_id": organisation.pk, "department_id": None, "actor_id": None, "actor_label": "system: tests",
        "event_type": EventType.ORGANISATION_SETTINGS_CHANGED.value, "target_type": "", "target_id": "",
        "target_repr": "", "changes": {"i": i}, "request_id": "", "ip": None, "user_agent": "",
        "occurred_at": at, "sequence": head.sequence + 1, "prev_hash": head.head_hash or chain.GENESIS,
    }
    fields["hash"] = chain.event_hash(fields)
    AuditEvent.objects.create(**fields)
    AuditChainHead.objects.filter(pk=head.pk).update(sequence=fields["sequence"], head_hash=fields["hash"])


def _record(org, i):
    with transaction.atomic():
        return record(organisation=org, event_type=EventType.ORGANISATION_SETTINGS_CHANGED, changes={"i": i})


@pytest.fixture
def oldtown(personas):
    """An organisation whose first 8 events are 3,000 days old (then a checkpoint), followed by five recent ones."""
    organisation = Organisation.objects.create(name="Oldtown Council", slug="oldtown")
    org = Org(organisation, {"Communications": Department.objects.create(organisation=organisation, name="Communications")})
    start = timezone.now() - timedelta(days=OLD_DAYS)
    for i in range(8):
        _append_old(organisation, start + timedelta(minutes=i), i)
    checkpoints_write()
    for i in range(5):
        _record(organisation, 100 + i)
    org.old = 8
    org.total = AuditChainHead.objects.get(organisation=organisation).sequence
    return org


def _before() -> str:
    return (timezone.now() - timedelta(days=OLD_DAYS - 100)).date().isoformat()


def _command(name, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def purge(*extra, org="oldtown", before=None, reference=REFERENCE) -> str:
    return _command("purge_audit", "--org", org, "--before", before or _before(), "--archive-reference", reference, *extra)


def refused(*extra, **kwargs) -> str:
    with pytest.raises(CommandError) as raised:
        purge(*extra, **kwargs)
    return str(raised.value)


def verify_failure(org="oldtown") -> str:
    with pytest.raises(CommandError) as raised:
        _command("verify_audit", "--org", org)
    return str(raised.value)


def _sequences(org) -> list[int]:
    return list(AuditEvent.objects.filter(organisation=org.organisation).order_by("sequence").values_list("sequence", flat=True))


# ------------------------------------------------------------------------------------------------ the purge
def test_purge_removes_the_old_events_leaves_a_signed_anchor_and_records_one_event(oldtown, personas):
    old, total = oldtown.old, oldtown.total
    last_old = AuditEvent.objects.get(organisation=oldtown.organisation, sequence=old)
    alpha_before = AuditEvent.objects.filter(organisation=personas.a.organisation).count()

    out = purge("--yes")

    assert f"oldtown: removed {old} events up to sequence {old}" in out
    assert _sequences(oldtown) == list(range(old + 1, total + 2))
    anchor = AuditAnchor.objects.get(organisation=oldtown.organisation)
    assert (anchor.up_to_sequence, anchor.anchor_hash, anchor.events_removed) == (old, last_old.hash, old)
    assert anchor.archive_reference == REFERENCE
    assert anchor.signature == chain.anchor_signature(
        chain.Anchor(oldtown.organisation.pk, old, last_old.hash, old, REFERENCE, anchor.created_at, "")
    )
    event = AuditEvent.objects.get(organisation=oldtown.organisation, event_type=EventType.AUDIT_PURGED)
    assert event.sequence == total + 1 and event.actor_id is None and event.actor_label == "system: purge_audit"
    assert (event.target_type, event.target_id) == ("audit.auditanchor", str(anchor.pk))
    assert event.changes == {
        "before": _before(), "retention_days": 2555, "from_sequence": 1, "up_to_sequence": old,
        "events_removed": old, "anchor_hash": last_old.hash, "archive_reference": REFERENCE,
    }
    assert AuditEvent.objects.filter(organisation=personas.a.organisation).count() == alpha_before

    out = _command("verify_audit")
    assert f"oldtown: {total - old + 1} events, head {event.hash}, no checkpoint after the anchor yet" in out
    assert f"starts after the anchor at sequence {old}" in out and "4 chain(s) intact" in out
    # The trigger is back on: the application still cannot delete an event.
    with pytest.raises(InternalError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_without_yes_it_only_says_what_it_would_remove(oldtown):
    out = purge()
    assert f"would remove {oldtown.old} events (sequence 1 to {oldtown.old})" in out
    assert "Nothing deleted" in out
    assert _sequences(oldtown) == list(range(1, oldtown.total + 1))
    assert not AuditAnchor.objects.exists()


def test_events_inside_the_retention_period_are_refused(oldtown):
    message = refused("--yes", before=timezone.now().date().isoformat())
    assert "not all past the audit retention period of 2555 days" in message
    # A longer period set by the organisation counts, too.
    RetentionPolicy.objects.create(organisation=oldtown.organisation, audit_retention_days=3650)
    assert "retention period of 3650 days" in refused("--yes")
    assert _sequences(oldtown) == list(range(1, oldtown.total + 1))
    assert not AuditAnchor.objects.exists()


def test_a_chain_that_does_not_verify_is_not_purged(oldtown):
    tamper(
        "UPDATE audit_auditevent SET changes = '{\"i\": 99}' WHERE organisation_id = %s AND sequence = 3",
        params=[oldtown.organisation.pk],
    )
    message = refused("--yes")
    assert "does not verify" in message and "altered event at sequence 3" in message
    assert len(_sequences(oldtown)) == oldtown.total
    assert not AuditAnchor.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"org": "nowhere"}, "No organisation with the slug 'nowhere'"),
        ({"before": "31/12/2010"}, "is not a date"),
        ({"reference": "   "}, "Give --archive-reference"),
        ({"reference": "x" * 301}, "300 characters or fewer"),
        ({"before": "2001-01-01"}, "no audit events before 2001-01-01"),
    ],
)
def test_bad_arguments_are_clear_errors(oldtown, kwargs, expected):
    assert expected in refused("--yes", **kwargs)
    assert not AuditAnchor.objects.exists()


def test_purging_again_finds_nothing_at_or_below_the_anchor(oldtown):
    purge("--yes")
    assert "no audit events before" in refused("--yes")
    assert AuditAnchor.objects.count() == 1


def test_only_the_table_owner_may_purge(oldtown):
    # A role like the deployment's app role: reads and writes rows, owns nothing (rolled back with the test).
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE cd_h3_purge_app NOLOGIN")
        cursor.execute("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO cd_h3_purge_app")
        cursor.execute("GRANT DELETE ON audit_auditevent TO cd_h3_purge_app")
        cursor.execute("SET ROLE cd_h3_purge_app")
        try:
            message = refused("--yes")
        finally:
            cursor.execute("RESET ROLE")
    assert "Only the owner of the audit tables" in message and "must be owner" in message
    assert len(_sequences(oldtown)) == oldtown.total
    assert not AuditAnchor.objects.exists()


# ------------------------------------------------------------------------------- verification from the anchor
@pytest.fixture
def purged(oldtown):
    purge("--yes")
    return oldtown


def test_a_checkpoint_at_or_below_the_anchor_is_ignored_and_a_new_one_counts(purged):
    assert AuditCheckpoint.objects.get(organisation=purged.organisation).sequence == purged.old
    assert "no checkpoint after the anchor yet" in _command("verify_audit", "--org", "oldtown")
    checkpoints_write()
    assert f"checkpoint at sequence {purged.total + 1} matches" in _command("verify_audit", "--org", "oldtown")


def test_deleting_the_first_event_after_the_anchor_is_caught(purged):
    tamper(
        "DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = %s",
        params=[purged.organisation.pk, purged.old + 1],
    )
    assert f"oldtown: missing link: sequence {purged.old + 1} not found" in verify_failure()


def test_a_gap_after_the_anchor_is_caught(purged):
    tamper(
        "DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = %s",
        params=[purged.organisation.pk, purged.old + 3],
    )
    assert f"missing link: sequence {purged.old + 3} not found" in verify_failure()


def tamper_anchor(sql, params):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditanchor DISABLE TRIGGER audit_anchor_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditanchor ENABLE TRIGGER audit_anchor_append_only")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_deleting_the_anchor_leaves_a_chain_that_starts_too_late(purged):
    tamper_anchor("DELETE FROM audit_auditanchor WHERE organisation_id = %s", [purged.organisation.pk])
    assert f"missing link: sequence 1 to {purged.old} not found" in verify_failure()


def test_an_edited_anchor_fails_its_signature(purged):
    # Moving the start: a tamperer who also deletes event old+1 points the anchor at it.
    moved = AuditEvent.objects.get(organisation=purged.organisation, sequence=purged.old + 1)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", params=[moved.pk])
    tamper_anchor(
        "UPDATE audit_auditanchor SET up_to_sequence = %s, anchor_hash = %s, events_removed = events_removed + 1"
        " WHERE organisation_id = %s",
        [purged.old + 1, moved.hash, purged.organisation.pk],
    )
    assert f"anchor at sequence {purged.old + 1} has a bad signature" in verify_failure()


def test_a_forged_newer_anchor_is_caught(purged):
    # Someone with the table but not the key deletes more events and writes an anchor of their own.
    cut = purged.old + 2
    at = AuditEvent.objects.get(organisation=purged.organisation, sequence=cut)
    tamper("DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence <= %s", params=[purged.organisation.pk, cut])
    AuditAnchor.objects.create(
        organisation=purged.organisation, up_to_sequence=cut, anchor_hash=at.hash, events_removed=2,
        archive_reference="none", signature="0" * 64,
    )
    assert f"anchor at sequence {cut} has a bad signature (forged, or another key)" in verify_failure()


def test_anchors_are_append_only(purged):
    for sql in ("UPDATE audit_auditanchor SET events_removed = 1", "DELETE FROM audit_auditanchor"):
        with pytest.raises(InternalError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)


# ----------------------------------------------------------------------------------------- export, offline
def _export(org, login) -> str:
    admin = add_member(org, "admin", "admin@oldtown.example", [])
    response = login(admin).get(reverse("audit:export_jsonl"))
    return b"".join(response.streaming_content).decode()


def _offline(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    file = tmp_path / "export.jsonl"
    file.write_text(text, encoding="utf-8", newline="")
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(file), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_an_export_after_a_purge_carries_the_anchor_and_verifies_offline(purged, login, tmp_path):
    text = _export(purged, login)
    lines = text.splitlines(keepends=True)
    header, first = json.loads(lines[0]), json.loads(lines[1])
    assert header["anchor"]["up_to_sequence"] == purged.old and header["complete"] is True
    assert first["sequence"] == purged.old + 1 and first["prev_hash"] == header["anchor"]["anchor_hash"]
    # The old checkpoint signs purged events: the export leaves it out.
    assert json.loads(lines[-1])["checkpoint"] is None

    result = _offline(tmp_path, text, "--key", settings.AUDIT_CHECKPOINT_KEY)
    assert result.returncode == 0, result.stderr
    assert f"anchor signature checked: the chain starts after sequence {purged.old}" in result.stdout
    assert f"whole chain from the anchor (sequence {purged.old})" in result.stdout

    # The first event after the anchor removed.
    result = _offline(tmp_path, "".join([lines[0], *lines[2:]]))
    assert result.returncode == 1 and f"a complete export starts at sequence {purged.old + 1}" in result.stderr
    # The anchor pointed elsewhere: the first link no longer holds, and its signature fails with the key.
    forged = dict(header, anchor=dict(header["anchor"], anchor_hash="f" * 64))
    text = json.dumps(forged) + "\n" + "".join(lines[1:])
    result = _offline(tmp_path, text)
    assert result.returncode == 1 and "prev_hash is not the anchor's hash" in result.stderr
    forged = dict(header, anchor=dict(header["anchor"], archive_reference="elsewhere"))
    result = _offline(tmp_path, json.dumps(forged) + "\n" + "".join(lines[1:]), "--key", settings.AUDIT_CHECKPOINT_KEY)
    assert result.returncode == 1 and "the anchor was forged" in result.stderr
