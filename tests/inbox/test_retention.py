"""Retention of message content (issue 6 §6): the nightly run redacts content past the organisation's period,
keeps what the KPIs count, respects legal holds, audits one event per organisation, and is idempotent."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent, EventType
from inbox import retention
from inbox.models import Contact, Conversation, Message, Note, Reply, ReplyState, RetentionPolicy
from tests.inbox_factories import make_channel, make_contact, make_conversation

OLD = timedelta(days=800)  # past the default 730
RECENT = timedelta(days=10)
_ids = itertools.count(1)

KPI_MESSAGE_FIELDS = [
    "id", "conversation_id", "channel_id", "author_id", "direction", "kind", "created_at", "received_at",
    "sentiment", "flagged", "platform_message_id",
]  # fmt: skip
KPI_CONVERSATION_FIELDS = [
    "id", "status", "platform", "kind", "channel_id", "department_id", "message_count", "flagged", "sentiment",
    "first_responded_at", "first_response_due_at", "closed_at", "created_at", "last_message_at", "waiting_since",
]  # fmt: skip
KPI_REPLY_FIELDS = ["id", "state", "sent_at", "created_at", "author_id", "mode", "platform_id", "attempts"]


def _old_conversation(org, now, *, age=OLD, **kwargs):
    conversation = make_conversation(org, at=now - age, messages=2, **kwargs)
    Message.objects.filter(conversation=conversation).update(url="https://x.example/resident/status/1", sentiment=-0.6, flagged=True)
    return conversation


def _reply(conversation, created_at, state=ReplyState.SENT, text="Hi Jane, we have booked the collection."):
    return Reply.objects.create(
        organisation=conversation.organisation, conversation=conversation, channel=conversation.channel, text=text,
        state=state, created_at=created_at, sent_at=created_at + timedelta(minutes=3) if state == ReplyState.SENT else None,
        platform_id=f"p-{next(_ids)}" if state == ReplyState.SENT else "",
    )  # fmt: skip


def _note(conversation, created_at, text="Jane lives at 4 Mill Lane."):
    return Note.objects.create(organisation=conversation.organisation, conversation=conversation, text=text, created_at=created_at)


def _snapshot(model, fields, **filters):
    return sorted(model.objects.filter(**filters).values_list(*fields))


def test_messages_past_retention_are_redacted_and_recent_ones_kept(personas):
    now = timezone.now()
    old = _old_conversation(personas.a, now)
    recent = make_conversation(personas.a, at=now - RECENT, text="Pothole on Station Road")

    result = retention.run_retention(now=now)

    for message in Message.objects.filter(conversation=old):
        assert message.text == retention.REDACTED_TEXT
        assert message.url == ""
        assert message.redacted_at == now
    assert Message.objects.get(conversation=recent).text == "Pothole on Station Road"
    assert Message.objects.get(conversation=recent).redacted_at is None
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.last_message_preview == ""
    assert recent.last_message_preview == "Pothole on Station Road"
    assert result[personas.a.organisation.pk]["messages_redacted"] == 2


def test_kpi_fields_stay_the_same(personas):
    now = timezone.now()
    conversation = _old_conversation(personas.a, now)
    Conversation.objects.filter(pk=conversation.pk).update(first_responded_at=now - OLD + timedelta(minutes=3), flagged=True)
    _reply(conversation, now - OLD + timedelta(minutes=1))
    before = (
        _snapshot(Message, KPI_MESSAGE_FIELDS, organisation=personas.a.organisation),
        _snapshot(Conversation, KPI_CONVERSATION_FIELDS, organisation=personas.a.organisation),
        _snapshot(Reply, KPI_REPLY_FIELDS, organisation=personas.a.organisation),
        Contact.objects.filter(organisation=personas.a.organisation).count(),
    )

    retention.run_retention(now=now)

    after = (
        _snapshot(Message, KPI_MESSAGE_FIELDS, organisation=personas.a.organisation),
        _snapshot(Conversation, KPI_CONVERSATION_FIELDS, organisation=personas.a.organisation),
        _snapshot(Reply, KPI_REPLY_FIELDS, organisation=personas.a.organisation),
        Contact.objects.filter(organisation=personas.a.organisation).count(),
    )
    assert after == before
    assert Message.objects.filter(conversation=conversation, redacted_at__isnull=True).count() == 0


def test_settled_replies_and_notes_past_retention_are_redacted(personas):
    now = timezone.now()
    conversation = _old_conversation(personas.a, now)
    sent = _reply(conversation, now - OLD)
    rejected = _reply(conversation, now - OLD, state=ReplyState.REJECTED)
    # A reply still on its way keeps its text (the platform gets what was approved).
    pending = _reply(conversation, now - OLD, state=ReplyState.PENDING)
    recent_reply = _reply(conversation, now - RECENT)
    old_note = _note(conversation, now - OLD)
    recent_note = _note(conversation, now - RECENT)

    counts = retention.run_retention(now=now)[personas.a.organisation.pk]

    for row in (sent, rejected, old_note):
        row.refresh_from_db()
        assert (row.text, row.redacted_at) == (retention.REDACTED_TEXT, now)
    for row in (pending, recent_reply, recent_note):
        row.refresh_from_db()
        assert row.redacted_at is None
        assert row.text != retention.REDACTED_TEXT
    assert (counts["replies_redacted"], counts["notes_redacted"]) == (2, 1)


def test_legal_hold_on_a_conversation_suspends_retention(personas):
    now = timezone.now()
    held = _old_conversation(personas.a, now)
    other = _old_conversation(personas.a, now)
    note = _note(held, now - OLD)
    reply = _reply(held, now - OLD)
    retention.conversation_legal_hold(
        actor=personas.a.members["admin"], conversation_id=held.pk, hold=True, reason="Complaint ref CMP-2291"
    )

    retention.run_retention(now=now)

    assert not Message.objects.filter(conversation=held, redacted_at__isnull=False).exists()
    assert Message.objects.filter(conversation=other, redacted_at__isnull=True).count() == 0
    note.refresh_from_db()
    reply.refresh_from_db()
    held.refresh_from_db()
    assert note.redacted_at is None and reply.redacted_at is None
    assert held.last_message_preview != ""
    contact = held.contact
    contact.refresh_from_db()
    assert contact.name and contact.redacted_at is None  # their messages are kept, so is their profile

    # Released: the next run catches up.
    retention.conversation_legal_hold(
        actor=personas.a.members["admin"], conversation_id=held.pk, hold=False, reason="Complaint CMP-2291 closed"
    )
    retention.run_retention(now=now + timedelta(days=1))
    assert Message.objects.filter(conversation=held, redacted_at__isnull=True).count() == 0


def test_legal_hold_on_a_contact_suspends_retention_everywhere(personas):
    now = timezone.now()
    channel = make_channel(personas.a)
    person = make_contact(personas.a, name="Jane Resident")
    theirs = _old_conversation(personas.a, now, channel=channel, contact=person)
    # Their comment in someone else's public thread is theirs too.
    someone_elses = _old_conversation(personas.a, now, channel=channel)
    Message.objects.create(
        organisation=personas.a.organisation, channel=channel, conversation=someone_elses, platform_message_id="c-1",
        kind="comment", text="Me too, Jane from Mill Lane", author=person, created_at=now - OLD,
    )  # fmt: skip
    retention.contact_legal_hold(actor=personas.a.members["admin"], contact_id=person.pk, hold=True, reason="Litigation hold LH-7")

    retention.run_retention(now=now)

    assert not Message.objects.filter(conversation=theirs, redacted_at__isnull=False).exists()
    assert Message.objects.get(platform_message_id="c-1").text == "Me too, Jane from Mill Lane"
    # The other person's own messages in that thread are redacted.
    assert not Message.objects.filter(conversation=someone_elses, redacted_at__isnull=True).exclude(author=person).exists()
    person.refresh_from_db()
    assert person.name == "Jane Resident"


def test_contact_profile_goes_once_all_their_messages_are_redacted(personas):
    now = timezone.now()
    channel = make_channel(personas.a)
    gone = make_contact(personas.a, name="Old Resident")
    Contact.objects.filter(pk=gone.pk).update(last_seen_at=now - OLD, avatar_url="https://cdn.example/a.png")
    _old_conversation(personas.a, now, channel=channel, contact=gone)
    still_writing = make_contact(personas.a, name="Current Resident")
    Contact.objects.filter(pk=still_writing.pk).update(last_seen_at=now - RECENT)
    _old_conversation(personas.a, now, channel=channel, contact=still_writing)
    make_conversation(personas.a, channel=channel, contact=still_writing, at=now - RECENT)

    counts = retention.run_retention(now=now)[personas.a.organisation.pk]

    gone.refresh_from_db()
    still_writing.refresh_from_db()
    assert (gone.name, gone.handle, gone.avatar_url, gone.redacted_at) == ("", "", "", now)
    assert gone.platform_user_id  # kept: a returning person is still one contact (counted once)
    assert still_writing.name == "Current Resident" and still_writing.redacted_at is None
    assert counts["contacts_redacted"] == 1


def test_a_second_run_changes_nothing(personas):
    now = timezone.now()
    conversation = _old_conversation(personas.a, now)
    _note(conversation, now - OLD)
    _reply(conversation, now - OLD)
    first = retention.run_retention(now=now)[personas.a.organisation.pk]
    stamps = _snapshot(Message, ["id", "text", "redacted_at"], organisation=personas.a.organisation)

    second = retention.run_retention(now=now + timedelta(hours=24))[personas.a.organisation.pk]

    assert first["messages_redacted"] == 2 and first["notes_redacted"] == 1 and first["replies_redacted"] == 1
    for key in ("messages_redacted", "replies_redacted", "notes_redacted", "previews_cleared", "contacts_redacted"):
        assert second[key] == 0, key
    assert _snapshot(Message, ["id", "text", "redacted_at"], organisation=personas.a.organisation) == stamps


def test_one_audit_event_per_organisation_with_the_counts(personas):
    now = timezone.now()
    _old_conversation(personas.a, now)
    before = AuditEvent.objects.filter(event_type=EventType.RETENTION_RUN).count()

    result = retention.run_retention(now=now)

    events = AuditEvent.objects.filter(event_type=EventType.RETENTION_RUN)
    assert events.count() == before + 2  # organisations A and B
    a_event = events.get(organisation=personas.a.organisation)
    b_event = events.get(organisation=personas.b.organisation)
    assert a_event.actor_id is None and a_event.actor_label == "system: run_retention"
    assert a_event.changes["messages_redacted"] == 2 == result[personas.a.organisation.pk]["messages_redacted"]
    assert a_event.changes["message_retention_days"] == 730
    assert b_event.changes["messages_redacted"] == 0
    assert "Hello" not in str(a_event.changes)  # counts, never content


def test_policy_period_is_the_organisations(personas):
    now = timezone.now()
    with transaction.atomic():
        RetentionPolicy.objects.create(organisation=personas.a.organisation, message_retention_days=30)
    month_old = make_conversation(personas.a, at=now - timedelta(days=40))
    b_month_old = make_conversation(personas.b, at=now - timedelta(days=40), channel=make_channel(personas.b, "Digital Desk"))

    retention.run_retention(now=now)

    assert Message.objects.get(conversation=month_old).redacted_at == now
    assert Message.objects.get(conversation=b_month_old).redacted_at is None  # B keeps the default two years


def test_query_count_does_not_grow_with_the_number_of_rows(personas):
    now = timezone.now()
    channel = make_channel(personas.a)

    def add(n):
        for _ in range(n):
            conversation = _old_conversation(personas.a, now, channel=channel)
            _reply(conversation, now - OLD)
            _note(conversation, now - OLD)

    add(2)
    with CaptureQueriesContext(connection) as few:
        small = retention.run_retention(now=now)[personas.a.organisation.pk]
    add(30)
    with CaptureQueriesContext(connection) as many:
        large = retention.run_retention(now=now)[personas.a.organisation.pk]

    assert (small["messages_redacted"], large["messages_redacted"]) == (4, 60)
    assert large["notes_redacted"] == 30 and large["replies_redacted"] == 30
    assert len(many.captured_queries) == len(few.captured_queries)
    updates = [q["sql"] for q in many.captured_queries if q["sql"].startswith('UPDATE "inbox_message"')]
    assert len(updates) == 2  # one set-based UPDATE per organisation (A and B), for all 60 of A's messages


def test_batches_are_bounded_and_the_rest_is_left_for_the_next_run(personas):
    now = timezone.now()
    channel = make_channel(personas.a)
    for _ in range(3):
        _old_conversation(personas.a, now, channel=channel)  # 6 messages

    first = retention.run_retention(now=now, batch_size=2, max_batches=2)[personas.a.organisation.pk]
    second = retention.run_retention(now=now, batch_size=2, max_batches=2)[personas.a.organisation.pk]

    assert (first["messages_redacted"], first["more_remaining"]) == (4, True)
    assert (second["messages_redacted"], second["more_remaining"]) == (2, False)


def test_audit_events_past_their_period_are_counted_never_deleted(personas):
    total = AuditEvent.objects.filter(organisation=personas.a.organisation).count()
    far_future = timezone.now() + timedelta(days=2556)

    counts = retention.run_retention(now=far_future)[personas.a.organisation.pk]

    assert counts["audit_events_past_retention"] == total
    assert AuditEvent.objects.filter(organisation=personas.a.organisation).count() == total + 1  # the run's own event


def test_the_celery_task_names_the_system_actor(personas):
    from inbox.tasks import run_retention

    make_conversation(personas.a, at=timezone.now() - OLD)
    result = run_retention.apply().get()

    assert result[str(personas.a.organisation.pk)]["messages_redacted"] == 1
    event = AuditEvent.objects.filter(organisation=personas.a.organisation, event_type=EventType.RETENTION_RUN).get()
    assert event.actor_label == "system: run_retention"


# --------------------------------------------------------------------------------- settings service
def test_admin_changes_the_retention_periods_audited(personas):
    admin = personas.a.members["admin"]

    retention.retention_policy_update(actor=admin, message_retention_days="365", audit_retention_days=3650)

    policy = RetentionPolicy.objects.get(organisation=personas.a.organisation)
    assert (policy.message_retention_days, policy.audit_retention_days) == (365, 3650)
    event = AuditEvent.objects.get(event_type=EventType.RETENTION_SETTINGS_CHANGED)
    assert event.changes["message_retention_days"] == {"from": 730, "to": 365}
    assert event.actor_id == admin.user_id


@pytest.mark.parametrize(
    "message_days, audit_days, field",
    [
        ("29", "2555", "message_retention_days"),
        ("²", "2555", "message_retention_days"),
        ("730", "364", "audit_retention_days"),
        (str(2**70), "2555", "message_retention_days"),
        (True, "2555", "message_retention_days"),
        ("730", "", "audit_retention_days"),
        ("730", None, "audit_retention_days"),
    ],
)
def test_bad_retention_periods_are_refused_with_a_message(personas, message_days, audit_days, field):
    with pytest.raises(ValidationError) as error:
        retention.retention_policy_update(
            actor=personas.a.members["admin"], message_retention_days=message_days, audit_retention_days=audit_days
        )
    assert field in error.value.message_dict
    assert not RetentionPolicy.objects.exists()


@pytest.mark.parametrize("role", ["manager", "approver", "editor", "agent", "viewer"])
def test_only_admins_change_retention(personas, role):
    with pytest.raises(PermissionDenied):
        retention.retention_policy_update(actor=personas.a.members[role], message_retention_days=365, audit_retention_days=2555)


def test_legal_hold_is_audited_with_its_reason_and_needs_one(personas):
    conversation = make_conversation(personas.a)
    admin = personas.a.members["admin"]
    with pytest.raises(ValidationError):
        retention.conversation_legal_hold(actor=admin, conversation_id=conversation.pk, hold=True, reason="short")

    retention.conversation_legal_hold(actor=admin, conversation_id=conversation.pk, hold=True, reason="FOI request 2291 pending")

    conversation.refresh_from_db()
    assert conversation.legal_hold and conversation.legal_hold_reason == "FOI request 2291 pending"
    event = AuditEvent.objects.get(event_type=EventType.LEGAL_HOLD_SET)
    assert event.changes["reason"] == "FOI request 2291 pending"
    assert event.department_id == conversation.department_id
    with pytest.raises(ValidationError):  # already held
        retention.conversation_legal_hold(actor=admin, conversation_id=conversation.pk, hold=True, reason="FOI request 2291 again")


def test_legal_holds_are_for_admins_of_the_same_organisation(personas):
    conversation = make_conversation(personas.a)
    with pytest.raises(PermissionDenied):
        retention.conversation_legal_hold(
            actor=personas.a.members["manager"], conversation_id=conversation.pk, hold=True, reason="Complaint CMP-1"
        )
    with pytest.raises(Conversation.DoesNotExist):
        retention.conversation_legal_hold(actor=personas.outsider, conversation_id=conversation.pk, hold=True, reason="Complaint CMP-1")
    with pytest.raises(Contact.DoesNotExist):
        retention.contact_legal_hold(actor=personas.outsider, contact_id=conversation.contact_id, hold=True, reason="Complaint CMP-1")
    assert not AuditEvent.objects.filter(event_type=EventType.LEGAL_HOLD_SET).exists()
