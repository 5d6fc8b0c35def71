"""Working a conversation through inbox.services: assign, status, tags, priority, notes, bulk."""

from __future__ import annotations

import pytest
from celery.signals import before_task_publish
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Notification
from accounts.roles import Role
from audit.models import AuditEvent, EventType
from inbox import services
from inbox.models import Conversation, ConversationStatus, Priority, Tag
from inbox.tasks import send_mention_emails
from tests.conftest import add_member
from tests.inbox_factories import make_channel, make_conversation

pytestmark = pytest.mark.django_db


def events(conversation, event_type):
    return list(AuditEvent.objects.for_target("inbox.conversation", conversation.pk).filter(event_type=event_type))


@pytest.fixture
def conversation(personas):
    return make_conversation(personas.a)


def test_assign_to_agent_audits_and_bumps_updated_at(personas, conversation):
    agent = personas.a.members["agent"]
    before = conversation.updated_at
    services.conversation_assign(actor=agent, conversation_id=conversation.pk, assignee=agent.user)
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.user_id
    assert conversation.updated_at > before
    [event] = events(conversation, EventType.CONVERSATION_ASSIGNED)
    assert event.changes["assignee"] == {"from": None, "to": agent.user.email}
    assert event.actor_id == agent.user_id


def test_cannot_assign_to_someone_outside_the_department(personas, conversation):
    # The editor works in Communications; the conversation belongs to Customer Services.
    with pytest.raises(ValidationError):
        services.conversation_assign(
            actor=personas.a.members["admin"], conversation_id=conversation.pk, assignee=personas.a.user("editor")
        )
    with pytest.raises(ValidationError):
        services.conversation_assign(
            actor=personas.a.members["admin"], conversation_id=conversation.pk, assignee=personas.outsider.user
        )
    assert not events(conversation, EventType.CONVERSATION_ASSIGNED)


def test_moving_to_another_department_drops_an_assignee_who_cannot_see_it(personas, conversation):
    admin, agent = personas.a.members["admin"], personas.a.members["agent"]
    services.conversation_assign(actor=admin, conversation_id=conversation.pk, assignee=agent.user)
    services.conversation_assign(
        actor=admin, conversation_id=conversation.pk, department=personas.a.departments["Communications"]
    )
    conversation.refresh_from_db()
    assert conversation.department == personas.a.departments["Communications"]
    assert conversation.assignee is None
    # And the agent (Customer Services only) no longer sees it.
    assert not Conversation.objects.visible_to(agent).filter(pk=conversation.pk).exists()


def test_roles_and_tenants(personas, conversation):
    with pytest.raises(PermissionDenied):
        services.conversation_set_status(
            actor=personas.a.members["viewer"], conversation_id=conversation.pk, status="closed"
        )
    with pytest.raises(Conversation.DoesNotExist):
        services.conversation_set_status(actor=personas.outsider, conversation_id=conversation.pk, status="closed")
    # An agent of Customer Services cannot touch a Communications conversation.
    other = make_conversation(personas.a, channel=make_channel(personas.a, department="Communications"))
    with pytest.raises(Conversation.DoesNotExist):
        services.conversation_set_priority(actor=personas.a.members["agent"], conversation_id=other.pk, priority=3)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_status_close_clears_waiting_and_reopen(personas, conversation):
    agent = personas.a.members["agent"]
    services.conversation_set_status(actor=agent, conversation_id=conversation.pk, status="closed")
    conversation.refresh_from_db()
    assert conversation.status == "closed" and conversation.closed_at and conversation.waiting_since is None
    services.conversation_set_status(actor=agent, conversation_id=conversation.pk, status="open")
    conversation.refresh_from_db()
    assert conversation.closed_at is None
    changes = [e.changes["status"] for e in events(conversation, EventType.CONVERSATION_STATUS_CHANGED)]
    assert {"from": "open", "to": "closed"} in changes and {"from": "closed", "to": "open"} in changes
    with pytest.raises(ValidationError):
        services.conversation_set_status(actor=agent, conversation_id=conversation.pk, status="archived")


def test_priority_accepts_numbers_only_in_range(personas, conversation):
    agent = personas.a.members["agent"]
    services.conversation_set_priority(actor=agent, conversation_id=conversation.pk, priority="3")
    conversation.refresh_from_db()
    assert conversation.priority == Priority.URGENT
    for bad in ("9", "high", None):
        with pytest.raises(ValidationError):
            services.conversation_set_priority(actor=agent, conversation_id=conversation.pk, priority=bad)
    [event] = events(conversation, EventType.CONVERSATION_PRIORITY_CHANGED)
    assert event.changes == {"priority": {"from": "Normal", "to": "Urgent"}}


def test_tags_replace_add_remove_case_insensitively(personas, conversation):
    agent = personas.a.members["agent"]
    services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, names=["Bins", " missed  collection "])
    services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, add=["bins", "Potholes"])
    assert sorted((t.name for t in conversation.tags.all()), key=str.lower) == ["Bins", "missed collection", "Potholes"]
    services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, remove=["BINS"])
    assert sorted((t.name for t in conversation.tags.all()), key=str.lower) == ["missed collection", "Potholes"]
    # One tag row per name per organisation, whatever the case.
    assert Tag.objects.for_organisation(personas.a.organisation).filter(name__iexact="bins").count() == 1
    assert len(events(conversation, EventType.CONVERSATION_TAGS_CHANGED)) == 3
    with pytest.raises(ValidationError):
        services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, add=["x" * 61])


def test_note_mentions_notify_only_people_who_can_see_it(personas, conversation, django_capture_on_commit_callbacks):
    agent = personas.a.members["agent"]
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    published = []

    def remember(sender=None, body=None, **kwargs):
        published.append((sender, list(body[0])))

    before_task_publish.connect(remember, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            note = services.note_add(
                actor=agent,
                conversation_id=conversation.pk,
                text="@sam.jones please check; @editor@alpha.example FYI; @nobody",
            )
    finally:
        before_task_publish.disconnect(remember)
    # The e-mail goes out from the worker, after commit, carrying ids only.
    assert published == [("inbox.tasks.notifications.send_mention_emails", [note.pk, personas.a.organisation.pk])]
    assert mail.outbox == []
    assert send_mention_emails(note.pk, personas.b.organisation.pk) == 0
    assert send_mention_emails(note.pk, personas.a.organisation.pk) == 1
    # The editor works in Communications and cannot see this conversation: not mentioned.
    assert list(note.mentions.all()) == [colleague.user]
    [notice] = Notification.objects.for_user(colleague.user)
    assert notice.link == f"/inbox/{conversation.pk}/"
    assert [m.to for m in mail.outbox] == [["sam.jones@alpha.example"]]
    assert f"/inbox/{conversation.pk}/" in mail.outbox[0].body
    [event] = events(conversation, EventType.NOTE_ADDED)
    assert event.changes["mentions"] == ["sam.jones@alpha.example"]
    with pytest.raises(ValidationError):
        services.note_add(actor=agent, conversation_id=conversation.pk, text="   ")


def test_bulk_close_tag_assign(personas):
    agent = personas.a.members["agent"]
    channel = make_channel(personas.a)
    conversations = [make_conversation(personas.a, channel=channel) for _ in range(3)]
    ids = [c.pk for c in conversations]
    assert services.bulk_apply(actor=agent, conversation_ids=ids, action="assign", value="me") == 3
    assert services.bulk_apply(actor=agent, conversation_ids=ids, action="tag", value="Flooding") == 3
    assert services.bulk_apply(actor=agent, conversation_ids=ids[:2], action="close") == 2
    rows = Conversation.objects.filter(pk__in=ids).order_by("pk")
    assert [c.assignee_id for c in rows] == [agent.user_id] * 3
    assert [c.status for c in rows] == ["closed", "closed", "open"]
    assert all([t.name for t in c.tags.all()] == ["Flooding"] for c in rows)


def test_bulk_is_all_or_nothing_and_refuses_foreign_ids(personas):
    agent = personas.a.members["agent"]
    mine = make_conversation(personas.a)
    theirs = make_conversation(personas.b, channel=make_channel(personas.b, department="Digital Desk"))
    with pytest.raises(Conversation.DoesNotExist):
        services.bulk_apply(actor=agent, conversation_ids=[mine.pk, theirs.pk], action="close")
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == theirs.status == "open"
    for ids, action, value in (([], "close", ""), ([mine.pk], "explode", ""), (["x"], "close", ""),
                               ([mine.pk], "assign", "999999"), ([mine.pk], "assign", "²"), ([mine.pk], "tag", "  ")):
        with pytest.raises(ValidationError):
            services.bulk_apply(actor=agent, conversation_ids=ids, action=action, value=value)


def test_closing_ends_the_tone_flag(personas):
    conversation = make_conversation(personas.a, flagged=True, risk_terms=["threat"])
    services.conversation_set_status(actor=personas.a.members["agent"], conversation_id=conversation.pk, status="closed")
    conversation.refresh_from_db()
    assert conversation.flagged is False and conversation.risk_terms == []


def test_bulk_unassign_counts_only_conversations_that_had_someone(personas):
    agent = personas.a.members["agent"]
    channel = make_channel(personas.a)
    assigned = make_conversation(personas.a, channel=channel, assignee=agent.user)
    nobody = make_conversation(personas.a, channel=channel)
    assert services.bulk_apply(actor=agent, conversation_ids=[assigned.pk, nobody.pk], action="assign", value="none") == 1
