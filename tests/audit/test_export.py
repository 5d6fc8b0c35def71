"""Audit export (issue 6 §5): CSV and JSON Lines of a filtered range, streamed over a server-side cursor, with the
chain head and checkpoint, verified offline by scripts/verify_audit_export.py (run here as a subprocess)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.urls import NoReverseMatch, include, path, reverse

from audit import chain, export
from audit.models import AuditChainHead, AuditEvent, EventType
from audit.services import checkpoints_write, record

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_audit_export.py"


# Until the lead adds audit.export_views.urls to audit/urls.py, these tests serve them from this module.
def _urlpatterns():
    from audit import export_views, views
    from smm import urls as project

    kept = [p for p in project.urlpatterns if getattr(p, "app_name", None) != "audit"]
    return [*kept, path("", include(([*views.urls, *export_views.urls], "audit"), namespace="audit"))]


try:
    reverse("audit:export_jsonl")
except NoReverseMatch:
    urlpatterns = _urlpatterns()
    pytestmark = pytest.mark.urls(__name__)


# ----------------------------------------------------------------------------------------------- helpers
def _event(org, department=None, event_type=EventType.POST_CREATED, target_repr="A post", changes=None):
    with transaction.atomic():
        return record(
            organisation=org.organisation,
            event_type=event_type,
            department=department,
            target_repr=target_repr,
            changes=changes or {},
        )


def _get(client, fmt="jsonl", **params):
    return client.get(reverse(f"audit:export_{fmt}"), params)


def _body(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode("utf-8")


def _jsonl(response) -> tuple[dict, list[dict], dict]:
    lines = [json.loads(line) for line in _body(response).splitlines()]
    return lines[0], lines[1:-1], lines[-1]


def _verify(tmp_path, text: str, *args: str, name="export.jsonl") -> subprocess.CompletedProcess:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8", newline="")
    # -I: isolated from the project (no PYTHONPATH, no current directory): the script needs nothing of ours.
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(file), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


@pytest.fixture
def trail(personas):
    """Events in both of A's departments, organisation-wide ones, a checkpoint, and B's own events."""
    a, b = personas.a, personas.b
    comms, customer = a.departments["Communications"], a.departments["Customer Services"]
    for i in range(3):
        _event(a, comms, target_repr=f"Comms post {i}", changes={"title": {"from": None, "to": f"Bins {i} – café"}})
        _event(a, customer, EventType.CONVERSATION_ASSIGNED, target_repr=f"Customer conversation {i}")
    _event(a, None, EventType.ORGANISATION_SETTINGS_CHANGED, target_repr="Alpha Council")
    checkpoints_write()
    _event(a, comms, target_repr="After the checkpoint")
    _event(b, b.departments["Digital Desk"], target_repr="Bravo secret")
    return personas


# --------------------------------------------------------------------------------------------- formats
def test_jsonl_export_is_the_whole_chain_in_order_with_header_and_trailer(trail, login):
    admin = trail.a.members["admin"]
    header, events, trailer = _jsonl(_get(login(admin)))
    organisation = trail.a.organisation

    assert header["type"] == "header" and header["format"] == "civic-desk-audit-export"
    assert header["organisation"] == {"id": organisation.pk, "slug": "alpha", "name": organisation.name}
    assert header["filters"] == {} and header["complete"] is True and header["departments"] is None
    assert header["exported_by"] == admin.user.label
    assert set(header["hashed_fields"]) == set(chain.HASHED_FIELDS)

    head = AuditChainHead.objects.get(organisation=organisation)
    assert [e["sequence"] for e in events] == list(range(1, head.sequence + 1))
    assert all(e["type"] == "event" and e["organisation_id"] == organisation.pk for e in events)
    for event in events:
        assert set(chain.HASHED_FIELDS) | {"hash", "type"} == set(event)
        assert chain.event_hash(event) == event["hash"]
    assert events[0]["prev_hash"] == chain.GENESIS
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(events, events[1:], strict=False))
    # The export's own event is committed before streaming, so it is the last link in the file.
    assert events[-1]["event_type"] == EventType.AUDIT_EXPORTED
    assert "Bravo secret" not in json.dumps(events)

    assert trailer["type"] == "trailer" and trailer["count"] == len(events)
    assert trailer["chain_head"] == {"sequence": head.sequence, "hash": head.head_hash}
    checkpoint = trailer["checkpoint"]
    assert checkpoint["sequence"] < head.sequence
    assert events[checkpoint["sequence"] - 1]["hash"] == checkpoint["head_hash"]


def test_csv_export_has_columns_header_row_events_and_trailer_row(trail, login):
    _event(trail.a, None, target_repr='=HYPERLINK("http://evil.example","x")')
    response = _get(login(trail.a.members["admin"]), "csv")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-alpha-')
    rows = list(csv.reader(io.StringIO(_body(response).removeprefix("\ufeff"))))

    assert tuple(rows[0]) == export.CSV_COLUMNS
    assert rows[1][0] == "header" and json.loads(rows[1][1])["complete"] is True
    events = [dict(zip(rows[0], row, strict=True)) for row in rows[2:-1]]
    assert all(e["record_type"] == "event" for e in events)
    assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))
    assert rows[-1][0] == "trailer" and json.loads(rows[-1][1])["count"] == len(events)
    # A formula is not run by a spreadsheet; the verifier removes the apostrophe again.
    assert '\'=HYPERLINK("http://evil.example","x")' in [e["target_repr"] for e in events]
    assert "Bins 0 – café" in next(e["changes"] for e in events if e["target_repr"] == "Comms post 0")


# --------------------------------------------------------------------------------------------- filters
def test_filtered_export_holds_only_matching_events_and_says_it_is_not_complete(trail, login):
    comms = trail.a.departments["Communications"]
    header, events, trailer = _jsonl(_get(login(trail.a.members["admin"]), department=comms.pk))
    assert header["filters"] == {"department": [comms.pk]} and header["complete"] is False
    assert events and {e["department_id"] for e in events} == {comms.pk}
    assert trailer["count"] == len(events) == AuditEvent.objects.filter(department=comms).count()

    header, events, _ = _jsonl(_get(login(trail.a.members["admin"]), event_type="conversation.assigned"))
    assert {e["event_type"] for e in events} == {"conversation.assigned"} and len(events) == 3


def test_manager_exports_only_their_departments(trail, login):
    manager = trail.a.members["manager"]
    comms = trail.a.departments["Communications"]
    header, events, trailer = _jsonl(_get(login(manager)))
    assert header["departments"] == [comms.pk] and header["complete"] is False
    assert {e["department_id"] for e in events} == {comms.pk}
    assert not any("Customer conversation" in e["target_repr"] for e in events)
    # Asking for another department gives nothing of it.
    customer = trail.a.departments["Customer Services"]
    _, events, trailer = _jsonl(_get(login(manager), department=customer.pk))
    assert events == [] and trailer["count"] == 0


def test_other_organisation_exports_none_of_alpha(trail, login):
    header, events, _ = _jsonl(_get(login(trail.outsider)))
    assert header["organisation"]["slug"] == "bravo"
    assert {e["organisation_id"] for e in events} == {trail.b.organisation.pk}
    assert not any("Comms post" in e["target_repr"] for e in events)


@pytest.mark.parametrize("role", ["agent", "viewer", "editor", "approver"])
def test_roles_without_view_audit_cannot_export(trail, login, role):
    client = login(trail.a.members[role])
    assert _get(client, "jsonl").status_code == 403
    assert _get(client, "csv").status_code == 403


def test_signed_out_visitor_is_sent_to_sign_in(trail, client):
    response = _get(client)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/sign-in/")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event_type": "no.such"}, "event_type"),
        ({"department": "²"}, "department"),
        ({"department": str(2**63)}, "department"),
        ({"from": "9999-12-31"}, "from"),
        ({"from": "2025-02-30"}, "from"),
        ({"actor": "x"}, "actor"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(trail, login, params, field):
    before = AuditEvent.objects.filter(event_type=EventType.AUDIT_EXPORTED).count()
    response = _get(login(trail.a.members["admin"]), "csv", **params)
    assert response.status_code == 400
    assert f"- {field}:" in response.content.decode()
    assert AuditEvent.objects.filter(event_type=EventType.AUDIT_EXPORTED).count() == before


# ------------------------------------------------------------------------------------------ audited
def test_export_is_audited_with_format_and_filters_before_streaming(trail, login):
    manager = trail.a.members["manager"]
    response = _get(login(manager), "csv", event_type="post.created")
    # Nothing streamed yet: the event is already there.
    event = AuditEvent.objects.filter(event_type=EventType.AUDIT_EXPORTED).latest("sequence")
    assert event.actor == manager.user and event.organisation == trail.a.organisation
    assert event.changes == {
        "format": "csv",
        "filters": {"event_type": ["post.created"]},
        "departments": [trail.a.departments["Communications"].pk],
    }
    _body(response)


# ----------------------------------------------------------------------------------------- streaming
def test_export_streams_from_a_server_side_cursor_in_chunks(personas, login, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(export, "CHUNK", 50)
    monkeypatch.setattr(export, "PIECE", 1)
    for i in range(300):
        _event(personas.a, None, target_repr=f"Event {i}")
    client = login(personas.a.members["admin"])
    # Session, user, membership; the audit event (savepoint, head lock, insert, head update); the session save;
    # the chain head, the checkpoint and one DECLARE for all 300 rows; the pg_cursors look below.
    with django_assert_max_num_queries(17) as captured:
        response = _get(client)
        pieces = iter(response.streaming_content)
        next(pieces)  # the header
        next(pieces)  # the first event: the cursor is open, the rest is still in the database
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
            assert cursor.fetchone()[0] == 1
        rest = b"".join(pieces)
    assert rest.count(b'"type":"event"') >= 300 - 1
    declared = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DECLARE")]
    assert len(declared) == 1 and "WITHOUT HOLD" in declared[0] and declared[0].endswith("ORDER BY 1 ASC")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        assert cursor.fetchone()[0] == 0


def test_query_count_does_not_grow_with_the_number_of_events(personas, login, monkeypatch):
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(export, "CHUNK", 50)
    client = login(personas.a.members["admin"])
    _body(_get(client))  # the first request of a session records last_seen (then at most once a minute)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            _body(_get(client))
        counts.append(len(captured))
        for i in range(200):
            _event(personas.a, None, target_repr=f"Event {i}")
    assert counts[0] == counts[1]


# -------------------------------------------------------------------------------------- offline verify
def test_offline_script_verifies_a_real_jsonl_export_with_its_key(trail, login, tmp_path):
    text = _body(_get(login(trail.a.members["admin"])))
    result = _verify(tmp_path, text, "--key", settings.AUDIT_CHECKPOINT_KEY)
    assert result.returncode == 0, result.stderr
    assert "Complete export" in result.stdout and "checkpoint signature checked" in result.stdout
    assert result.stdout.rstrip().endswith("OK")


def test_offline_script_verifies_a_real_csv_export(trail, login, tmp_path):
    _event(trail.a, None, target_repr="=1+1", changes={"note": "-starts with a minus"})
    text = _body(_get(login(trail.a.members["admin"]), "csv"))
    result = _verify(tmp_path, text, "--key", settings.AUDIT_CHECKPOINT_KEY, name="export.csv")
    assert result.returncode == 0, result.stderr
    tampered = text.replace("Comms post 1", "Comms post 9")
    result = _verify(tmp_path, tampered, name="tampered.csv")
    assert result.returncode == 1 and "altered event" in result.stderr


def test_offline_script_verifies_a_filtered_export_and_says_what_it_proves(trail, login, tmp_path):
    comms = trail.a.departments["Communications"]
    text = _body(_get(login(trail.a.members["manager"]), department=comms.pk))
    result = _verify(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert "Filtered export" in result.stdout and "NOT checked" in result.stdout


def test_offline_script_detects_a_tampered_line(trail, login, tmp_path):
    lines = _body(_get(login(trail.a.members["admin"]))).splitlines(keepends=True)
    lines[3] = lines[3].replace('"target_repr":"', '"target_repr":"X', 1)
    result = _verify(tmp_path, "".join(lines))
    assert result.returncode == 1
    assert "line 4" in result.stderr and "altered event" in result.stderr


def test_offline_script_detects_a_tampered_line_with_its_hash_recomputed(trail, login, tmp_path):
    lines = _body(_get(login(trail.a.members["admin"]))).splitlines(keepends=True)
    event = json.loads(lines[3])
    event["actor_label"] = "Someone else"
    event["hash"] = chain.event_hash(event)
    lines[3] = json.dumps(event, ensure_ascii=False) + "\n"
    result = _verify(tmp_path, "".join(lines))
    assert result.returncode == 1 and "broken link" in result.stderr


def test_offline_script_detects_a_deleted_line(trail, login, tmp_path):
    lines = _body(_get(login(trail.a.members["admin"]))).splitlines(keepends=True)
    del lines[4]
    result = _verify(tmp_path, "".join(lines))
    assert result.returncode == 1 and "missing events" in result.stderr


def test_offline_script_detects_the_newest_events_deleted(trail, login, tmp_path):
    lines = _body(_get(login(trail.a.members["admin"]))).splitlines(keepends=True)
    trailer = json.loads(lines[-1])
    del lines[-3:-1]
    # Even with the trailer rewritten to match, the signed checkpoint still names a later sequence than the file
    # ends at only when it does; here the head says so.
    trailer["count"] -= 2
    lines[-1] = json.dumps(trailer) + "\n"
    result = _verify(tmp_path, "".join(lines))
    assert result.returncode == 1 and "newest events removed" in result.stderr


def test_offline_script_rejects_a_wrong_key(trail, login, tmp_path):
    text = _body(_get(login(trail.a.members["admin"])))
    result = _verify(tmp_path, text, "--key", "not the key " * 4)
    assert result.returncode == 1 and "signature does not match" in result.stderr


def test_offline_script_rejects_a_file_cut_short(trail, login, tmp_path):
    lines = _body(_get(login(trail.a.members["admin"]))).splitlines(keepends=True)
    result = _verify(tmp_path, "".join(lines[:-1]))
    assert result.returncode == 1 and "trailer is missing" in result.stderr
    result = _verify(tmp_path, "not an export\n")
    assert result.returncode == 2
