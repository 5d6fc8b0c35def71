"""Records request for a conversation (issue 6 §6): a ZIP with readable HTML and complete JSON (messages, replies
with delivery state, notes, assignments, audit events with their chain fields), admins only, audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.chain import event_hash
from audit.models import AuditEvent, EventType
from inbox import records, replies, services
from inbox.models import Conversation, Message, Reply, ReplyState
from tests.inbox_factories import make_channel, make_conversation


@pytest.fixture
def conversation(personas):
    org = personas.a
    conversation = make_conversation(org, channel=make_channel(org, department="Communications"), text="Bins missed on Mill Lane", messages=2)
    admin = org.members["admin"]
    services.conversation_assign(actor=admin, conversation_id=conversation.pk, assignee=org.members["editor"].user)
    services.note_add(actor=admin, conversation_id=conversation.pk, text="Checked the round sheet.")
    reply = replies.reply_create(actor=admin, conversation_id=conversation.pk, text="Sorry, booked for Monday.")
    Reply.objects.filter(pk=reply.pk).update(state=ReplyState.SENT, sent_at=timezone.now(), platform_id="sent-9")
    return conversation


def _open(body: bytes) -> tuple[dict, str, str]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["SHA256SUMS", "conversation.html", "conversation.json"]
    sums = archive.read("SHA256SUMS").decode()
    for name in ("conversation.html", "conversation.json"):
        assert f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}" in sums
    return json.loads(archive.read("conversation.json")), archive.read("conversation.html").decode(), sums


def test_bundle_holds_every_record_and_the_audit_chain(personas, conversation):
    data, html, _ = _open(records.conversation_bundle(personas.a.members["admin"], conversation.pk))

    assert data["format"] == "civic-desk-records-bundle" and data["conversation"]["id"] == conversation.pk
    assert [m["text"] for m in data["messages"]] == ["Bins missed on Mill Lane"] * 2
    assert data["replies"][0]["text"] == "Sorry, booked for Monday."
    assert data["replies"][0]["delivery"]["state"] == "sent" and data["replies"][0]["delivery"]["platform_id"] == "sent-9"
    assert data["notes"][0]["text"] == "Checked the round sheet."
    assert len(data["assignments"]) == 1
    types = [event["event_type"] for event in data["audit_events"]]
    for expected in (EventType.CONVERSATION_ASSIGNED, EventType.NOTE_ADDED, EventType.REPLY_CREATED):
        assert expected in types
    # The export's own event is written after the bundle is built (it carries the bundle's hash): not in it.
    assert EventType.RECORDS_REQUEST_EXPORTED not in types
    for event in data["audit_events"]:
        assert event["hash"] and event["prev_hash"] and event["sequence"]
        assert event_hash(event) == event["hash"]  # every hashed field is there, in the hashed form
    # Readable and self-contained: the text is there, nothing is loaded from elsewhere.
    assert "Bins missed on Mill Lane" in html and "Sorry, booked for Monday." in html
    assert "<script" not in html and "<link" not in html and "src=" not in html


def test_redacted_content_shows_as_redacted(personas, conversation):
    Message.objects.filter(conversation=conversation).update(text="[removed after the retention period]", redacted_at=timezone.now())
    data, html, _ = _open(records.conversation_bundle(personas.a.members["admin"], conversation.pk))
    assert all(m["redacted_at"] for m in data["messages"])
    assert "Bins missed" not in html


def test_export_is_audited_once(personas, conversation):
    records.conversation_bundle(personas.a.members["admin"], conversation.pk)
    event = AuditEvent.objects.get(event_type=EventType.RECORDS_REQUEST_EXPORTED)
    assert (event.target_type, event.target_id) == ("inbox.conversation", str(conversation.pk))
    assert event.actor_id == personas.a.members["admin"].user_id


@pytest.mark.parametrize("role", ["manager", "approver", "editor", "agent", "viewer"])
def test_only_admins_export(personas, conversation, role):
    with pytest.raises(PermissionDenied):
        records.conversation_bundle(personas.a.members[role], conversation.pk)


def test_download_view(personas, conversation, login, client):
    url = f"/inbox/{conversation.pk}/records.zip"
    login(personas.a.members["admin"])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment;" in response["Content-Disposition"]
    data, _, _ = _open(response.content)
    assert data["conversation"]["id"] == conversation.pk
    # The one export event names exactly the bytes served.
    event = AuditEvent.objects.get(event_type=EventType.RECORDS_REQUEST_EXPORTED)
    assert event.changes["sha256"] == hashlib.sha256(response.content).hexdigest()
    assert event.changes["bytes"] == len(response.content)

    login(personas.a.members["manager"])
    assert client.get(url).status_code == 403
    login(personas.outsider)
    assert client.get(url).status_code == 404
    assert client.get("/inbox/999999999/records.zip").status_code == 404
    assert AuditEvent.objects.filter(event_type=EventType.RECORDS_REQUEST_EXPORTED).count() == 1


def test_another_organisation_cannot_export(personas, conversation):
    with pytest.raises(Conversation.DoesNotExist):
        records.conversation_bundle(personas.outsider, conversation.pk)
    assert not AuditEvent.objects.filter(event_type=EventType.RECORDS_REQUEST_EXPORTED).exists()


def test_a_second_export_holds_the_first_exports_event(personas, conversation):
    admin = personas.a.members["admin"]
    first = records.conversation_bundle(admin, conversation.pk)
    data, _, _ = _open(records.conversation_bundle(admin, conversation.pk))
    exported = [e for e in data["audit_events"] if e["event_type"] == EventType.RECORDS_REQUEST_EXPORTED]
    assert len(exported) == 1 and exported[0]["changes"]["sha256"] == hashlib.sha256(first).hexdigest()
    assert event_hash(exported[0]) == exported[0]["hash"]


def reads_after_the_chain_lock(queries: list[str], data_tables: tuple[str, ...]) -> list[str]:
    """The statements after the first that touches the audit chain head which read the bundle's own tables."""
    locked = next((i for i, sql in enumerate(queries) if "audit_auditchainhead" in sql), None)
    assert locked is not None, "the export recorded no audit event"
    return [sql for sql in queries[locked:] if any(f'"{table}' in sql for table in data_tables)]


def test_building_the_bundle_does_not_hold_the_audit_chain_lock(personas, conversation):
    """record() locks the organisation's chain head until commit: every read of the bundle comes before it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        body = records.conversation_bundle(personas.a.members["admin"], conversation.pk)
    queries = [q["sql"] for q in captured.captured_queries]
    assert any('"inbox_message"' in sql for sql in queries)  # the bundle was read in this call
    assert reads_after_the_chain_lock(queries, ("inbox_", "accounts_", "channels_app_")) == []
    event = AuditEvent.objects.get(event_type=EventType.RECORDS_REQUEST_EXPORTED)
    assert event.changes["sha256"] == hashlib.sha256(body).hexdigest()
