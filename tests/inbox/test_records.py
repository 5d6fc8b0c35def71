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
    for expected in (EventType.CONVERSATION_ASSIGNED, EventType.NOTE_ADDED, EventType.REPLY_CREATED,
                     EventType.RECORDS_REQUEST_EXPORTED):  # fmt: skip
        assert expected in types
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
