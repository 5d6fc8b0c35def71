"""The conversation page (inbox/views/conversation.py): the timeline, the contact panel, the reply box and the actions."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.roles import Role
from audit.models import AuditEvent, EventType
from inbox import presence, services
from inbox.models import (
    Conversation,
    ConversationKind,
    ConversationStatus,
    Message,
    MessageDirection,
    Priority,
    Reply,
    ReplyState,
    SavedReply,
)
from tests.conftest import add_member
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    # Other test runs share this Redis and number their conversations from 1 too.
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex[:8]}"


def page_url(conversation) -> str:
    return reverse("inbox:conversation", args=[conversation.pk])


def events(conversation, event_type) -> list[AuditEvent]:
    return list(AuditEvent.objects.for_target("inbox.conversation", conversation.pk).filter(event_type=event_type))


def main_text(response) -> str:
    """The page's visible text, tags stripped and white space squeezed, for reading order checks."""
    html = response.content.decode()
    html = re.sub(r"<template.*?</template>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def add_reply(conversation, author, text: str, state: str, at=None, **fields) -> Reply:
    return Reply.objects.create(
        organisation=conversation.organisation, conversation=conversation, channel=conversation.channel,
        author=author, text=text, state=state, created_at=at or timezone.now(), **fields,
    )


@pytest.fixture
def agent(personas):
    return personas.a.members["agent"]


@pytest.fixture
def conversation(personas):
    # Customer Services: the agent's department.
    return make_conversation(personas.a, text="The bins on Elm Street were not collected", flagged=True)


# ------------------------------------------------------------------------------------------ timeline
def test_page_shows_inbound_replies_notes_and_changes_in_time_order(personas, login, agent, conversation):
    base = conversation.messages.get().created_at
    Message.objects.filter(conversation=conversation).update(flagged=True, url="https://x.example/status/1")
    add_reply(conversation, agent.user, "Sorry, we will send the crew back today.", ReplyState.SENT,
              at=base + timedelta(minutes=1), platform_id="out-1", platform_url="https://x.example/status/2")
    add_reply(conversation, agent.user, "Second try that the platform refused.", ReplyState.FAILED,
              at=base + timedelta(minutes=2), last_error="Status is a duplicate.")
    add_reply(conversation, agent.user, "A draft waiting for a manager.", ReplyState.AWAITING_APPROVAL,
              at=base + timedelta(minutes=3))
    add_reply(conversation, agent.user, "Nobody knows if this one arrived.", ReplyState.UNKNOWN,
              at=base + timedelta(minutes=4))
    # Our sent reply as ingestion would see it again: shown once, from the Reply row.
    Message.objects.create(
        organisation=conversation.organisation, channel=conversation.channel, conversation=conversation,
        platform_message_id="out-1", direction=MessageDirection.OUTBOUND, kind="reply",
        text="Sorry, we will send the crew back today.", created_at=base + timedelta(minutes=1),
    )
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    services.note_add(actor=agent, conversation_id=conversation.pk, text="Crew is late, @sam.jones please chase")
    services.conversation_assign(actor=agent, conversation_id=conversation.pk, assignee=colleague.user)
    services.conversation_set_status(actor=agent, conversation_id=conversation.pk, status=ConversationStatus.PENDING)
    services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, names=["Bins"])
    services.conversation_set_priority(actor=agent, conversation_id=conversation.pk, priority=Priority.HIGH)

    response = login(agent).get(page_url(conversation))

    assert response.status_code == 200
    html = response.content.decode()
    text = main_text(response)
    order = [
        "The bins on Elm Street were not collected",
        "Sorry, we will send the crew back today.",
        "Second try that the platform refused.",
        "A draft waiting for a manager.",
        "Nobody knows if this one arrived.",
        "Crew is late,",
        "Assigned to sam.jones@alpha.example",
        "Status changed from Open to Pending",
        "Tagged Bins",
        "Priority changed from Normal to High",
    ]
    positions = [text.find(snippet) for snippet in order]
    assert -1 not in positions, dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    assert text.count("Sorry, we will send the crew back today.") == 1
    # Inbound: its link to the platform and the flagged badge; replies: state, reason, retry.
    assert 'href="https://x.example/status/1"' in html and "Flagged" in text
    assert "Sent" in text and 'href="https://x.example/status/2"' in html
    assert "X said: Status is a duplicate." in text
    retry = reverse("inbox:reply_retry", args=[conversation.replies.get(state=ReplyState.FAILED).pk])
    assert f'action="{retry}"' in html
    assert "Awaiting approval" in text and "Unknown" in text
    # The agent cannot approve; the mention is highlighted; the change rows name who did it.
    assert "inbox:reply_approve" not in html and ">Approve" not in html
    assert '<mark class="mention">@sam.jones</mark>' in html
    assert "by Agent &lt;agent@alpha.example&gt;" in html


def test_approvers_see_approve_and_reject_for_a_reply_awaiting_approval(personas, login, conversation):
    admin = personas.a.members["admin"]
    waiting = add_reply(conversation, personas.a.user("agent"), "Needs a look.", ReplyState.AWAITING_APPROVAL)
    html = login(admin).get(page_url(conversation)).content.decode()
    assert f'action="{reverse("inbox:reply_approve", args=[waiting.pk])}"' in html
    assert f'action="{reverse("inbox:reply_reject", args=[waiting.pk])}"' in html


def test_contact_panel_lists_earlier_conversations_this_member_can_see(personas, login, agent, conversation):
    contact = conversation.contact
    now = timezone.now()
    same_department = [
        make_conversation(personas.a, channel=conversation.channel, contact=contact, text=f"Earlier visible {i:02d}",
                          at=now - timedelta(days=i + 1))
        for i in range(12)
    ]
    other_department = make_channel(personas.a, department="Communications", platform="x")
    make_conversation(personas.a, channel=other_department, contact=contact, text="Hidden in Communications")
    make_conversation(personas.b, channel=make_channel(personas.b, department="Digital Desk"), text="Bravo's business")

    response = login(agent).get(page_url(conversation))
    html = response.content.decode()

    links = re.findall(r'<ul class="earlier-list".*?</ul>', html, flags=re.S)[0]
    shown = re.findall(r'href="/inbox/(\d+)/"', links)
    # The newest ten, newest first; not another department's, not another organisation's, not this one.
    assert shown == [str(c.pk) for c in same_department[:10]]
    assert "Hidden in Communications" not in html and "Bravo's business" not in html
    text = main_text(response)
    assert contact.name in text and contact.handle in text and "First seen" in text


# ------------------------------------------------------------------------------------------ actions
def test_assign_to_me_to_a_colleague_and_unassign_audits_each(personas, login, agent, conversation):
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    client = login(agent)
    url = reverse("inbox:assign", args=[conversation.pk])

    response = client.post(url, {"assignee": "me"}, follow=True)
    assert response.redirect_chain[-1][0] == page_url(conversation)
    assert "Assigned to you." in main_text(response)
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.user_id

    client.post(url, {"assignee": str(colleague.user_id)})
    conversation.refresh_from_db()
    assert conversation.assignee_id == colleague.user_id

    client.post(url, {"assignee": "none"})
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert [e.changes["assignee"]["to"] for e in events(conversation, EventType.CONVERSATION_ASSIGNED)][::-1] == [
        "agent@alpha.example", "sam.jones@alpha.example", None,
    ]


def test_moving_to_a_department_the_agent_cannot_see_goes_back_to_the_inbox(personas, login, agent, conversation):
    communications = personas.a.departments["Communications"]
    response = login(agent).post(reverse("inbox:assign", args=[conversation.pk]), {"department": communications.pk})
    assert response.status_code == 302 and response.url == reverse("inbox:list")
    conversation.refresh_from_db()
    assert conversation.department_id == communications.pk
    [event] = events(conversation, EventType.CONVERSATION_ASSIGNED)
    assert event.changes["department"] == {"from": "Customer Services", "to": "Communications"}


def test_status_tags_and_priority_change_and_audit(login, agent, conversation):
    client = login(agent)
    response = client.post(reverse("inbox:status", args=[conversation.pk]), {"status": "closed"}, follow=True)
    assert "Status set to Closed." in main_text(response)
    client.post(reverse("inbox:tags", args=[conversation.pk]), {"tags": "Bins, potholes , ,bins"})
    client.post(reverse("inbox:priority", args=[conversation.pk]), {"priority": str(Priority.URGENT.value)})
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED and conversation.closed_at is not None
    assert sorted(t.name for t in conversation.tags.all()) == ["Bins", "potholes"]
    assert conversation.priority == Priority.URGENT
    assert len(events(conversation, EventType.CONVERSATION_STATUS_CHANGED)) == 1
    assert events(conversation, EventType.CONVERSATION_TAGS_CHANGED)[0].changes["tags"]["to"] == ["Bins", "potholes"]
    assert events(conversation, EventType.CONVERSATION_PRIORITY_CHANGED)[0].changes["priority"]["to"] == "Urgent"


@pytest.mark.parametrize(
    ("route", "data", "error"),
    [
        ("inbox:status", {"status": "archived"}, "Choose one of: open, pending, closed."),
        ("inbox:priority", {"priority": "very"}, "Choose low, normal, high or urgent."),
        ("inbox:priority", {"priority": "99"}, "Choose low, normal, high or urgent."),
        ("inbox:tags", {"tags": "x" * 61}, "A tag can be at most 60 characters."),
        ("inbox:assign", {"assignee": "abc"}, "Choose an active member of this organisation."),
        ("inbox:assign", {"department": "nope"}, "Choose a department of this organisation."),
        # str.isdigit() says yes to these, int() says no: an error message, never a 500.
        ("inbox:priority", {"priority": "²"}, "Choose low, normal, high or urgent."),
        ("inbox:priority", {"priority": "-²"}, "Choose low, normal, high or urgent."),
        ("inbox:priority", {"priority": "١"}, "Choose low, normal, high or urgent."),
        ("inbox:priority", {"priority": "9" * 30}, "Choose low, normal, high or urgent."),
        ("inbox:priority", {"priority": ""}, "Choose low, normal, high or urgent."),
        ("inbox:assign", {"assignee": "²"}, "Choose an active member of this organisation."),
        ("inbox:assign", {"assignee": "9" * 30}, "Choose an active member of this organisation."),
        ("inbox:assign", {"assignee": "-1"}, "Choose an active member of this organisation."),
        ("inbox:assign", {"department": "²"}, "Choose a department of this organisation."),
        ("inbox:assign", {"department": "9" * 30}, "Choose a department of this organisation."),
    ],
)
def test_bad_input_to_an_action_comes_back_as_an_error_message(login, agent, conversation, route, data, error):
    response = login(agent).post(reverse(route, args=[conversation.pk]), data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == page_url(conversation)
    assert error in main_text(response)
    assert not AuditEvent.objects.for_target("inbox.conversation", conversation.pk).exists()


def test_cannot_assign_to_another_organisations_member_or_department(personas, login, agent, conversation):
    client = login(agent)
    outsider = personas.outsider
    response = client.post(reverse("inbox:assign", args=[conversation.pk]), {"assignee": outsider.user_id}, follow=True)
    assert "Choose an active member of this organisation." in main_text(response)
    digital_desk = personas.b.departments["Digital Desk"]
    response = client.post(reverse("inbox:assign", args=[conversation.pk]), {"department": digital_desk.pk}, follow=True)
    assert "Choose a department of this organisation." in main_text(response)
    conversation.refresh_from_db()
    assert conversation.assignee_id is None and conversation.department.name == "Customer Services"


def test_assigning_someone_outside_the_department_is_refused(personas, login, agent, conversation):
    editor = personas.a.members["editor"]  # works in Communications only
    response = login(agent).post(reverse("inbox:assign", args=[conversation.pk]), {"assignee": editor.user_id},
                                 follow=True)
    assert "Choose an active member who works in this conversation" in main_text(response)
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_an_empty_note_shows_the_error_and_keeps_nothing(login, agent, conversation):
    response = login(agent).post(reverse("inbox:note", args=[conversation.pk]), {"text": "   "})
    assert response.status_code == 400
    assert "Write the note first." in main_text(response)
    assert not conversation.notes.exists()


def test_a_note_that_mentions_a_colleague_notifies_them_in_app_and_by_email(
    personas, login, agent, conversation, django_capture_on_commit_callbacks
):
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    client = login(agent)
    page = client.get(page_url(conversation)).content.decode()
    assert "@sam.jones@example.org" in page  # the syntax hint beside the note box

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("inbox:note", args=[conversation.pk]), {"text": "@sam.jones can you call them?"})
    assert response.status_code == 302
    [notice] = Notification.objects.for_user(colleague.user)
    assert notice.link == f"/inbox/{conversation.pk}/" and "mentioned you" in notice.text
    [event] = events(conversation, EventType.NOTE_ADDED)
    assert event.changes["mentions"] == ["sam.jones@alpha.example"]
    # The e-mail is queued after commit, never before.
    assert len(callbacks) == 1 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_the_mention_email_is_sent_by_the_worker_after_commit(personas, login, agent, celery_worker):
    conversation = make_conversation(personas.a)
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    login(agent).post(reverse("inbox:note", args=[conversation.pk]), {"text": "@sam.jones@alpha.example FYI"})
    deadline = time.monotonic() + 15
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    [message] = mail.outbox
    assert message.to == [colleague.user.email]
    assert f"http://testserver/inbox/{conversation.pk}/" in message.body


# ------------------------------------------------------------------------------------ replies
def test_reply_box_has_the_platforms_limit_modes_and_filled_saved_replies(personas, login, agent):
    channel = make_channel(personas.a, platform="mastodon")
    contact = make_contact(personas.a, platform="mastodon", name="Priya Shah")
    conversation = make_conversation(personas.a, channel=channel, contact=contact)
    SavedReply.objects.create(organisation=personas.a.organisation, department=conversation.department,
                              title="Bins apology", body="Hello {contact_name}, sorry about the bins.")
    SavedReply.objects.create(organisation=personas.a.organisation, department=personas.a.departments["Communications"],
                              title="Press office", body="Not for Customer Services.")
    html = login(agent).get(page_url(conversation)).content.decode()
    assert 'data-limit="500"' in html and 'data-counter-method="urls"' in html
    assert 'value="public"' in html and 'value="dm"' in html
    assert "Bins apology" in html and "Press office" not in html
    assert "Hello Priya Shah, sorry about the bins." in html

    dm = make_conversation(personas.a, kind=ConversationKind.PRIVATE)
    html = login(agent).get(page_url(dm)).content.decode()
    assert 'name="mode" value="dm"' in html and 'value="public"' not in html
    assert 'data-limit="10000"' in html


def test_insert_without_javascript_puts_the_filled_saved_reply_in_the_box(personas, login, agent):
    contact = make_contact(personas.a, name="Priya Shah")
    conversation = make_conversation(personas.a, contact=contact)
    saved = SavedReply.objects.create(organisation=personas.a.organisation, department=None,
                                      title="Thanks", body="Thanks {contact_name}!")
    response = login(agent).post(reverse("inbox:reply", args=[conversation.pk]),
                                 {"text": "Hi.", "mode": "public", "saved_reply": saved.pk, "insert": "1"})
    assert response.status_code == 200
    textarea = re.search(r'<textarea[^>]*id="reply-text"[^>]*>(.*?)</textarea>', response.content.decode(), re.S)
    assert textarea.group(1) == "Hi.\n\nThanks Priya Shah!"
    assert not conversation.replies.exists()


def test_sending_a_reply_queues_it_and_shows_it_on_the_page(login, agent, conversation, django_capture_on_commit_callbacks):
    client = login(agent)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("inbox:reply", args=[conversation.pk]),
                               {"text": "We are sending the crew back today.", "mode": "public"})
    assert response.status_code == 302 and response.url == page_url(conversation)
    reply = conversation.replies.get()
    assert reply.author_id == agent.user_id and reply.text == "We are sending the crew back today."
    assert AuditEvent.objects.filter(event_type=EventType.REPLY_CREATED).count() == 1
    assert "We are sending the crew back today." in main_text(client.get(page_url(conversation)))


def test_a_reply_too_long_for_x_comes_back_with_the_servers_count(login, agent, conversation):
    text = "漢" * 141  # 282 as X counts it
    response = login(agent).post(reverse("inbox:reply", args=[conversation.pk]), {"text": text, "mode": "public"})
    assert response.status_code == 400
    body = main_text(response)
    assert "Your reply was not sent" in body and "282 of 280 characters" in body
    assert text in response.content.decode()  # the text is kept
    assert not conversation.replies.exists()


def test_an_empty_reply_is_an_error_not_a_crash(login, agent, conversation):
    response = login(agent).post(reverse("inbox:reply", args=[conversation.pk]), {"text": "", "mode": "carrier-pigeon"})
    assert response.status_code == 400
    assert "Your reply was not sent" in main_text(response)


def test_retry_approve_and_reject_go_through_the_reply_services(personas, login, agent, conversation,
                                                                django_capture_on_commit_callbacks):
    failed = add_reply(conversation, agent.user, "Refused once.", ReplyState.FAILED, last_error="Try later.")
    waiting = add_reply(conversation, agent.user, "Please approve.", ReplyState.AWAITING_APPROVAL)
    unwanted = add_reply(conversation, agent.user, "Please reject.", ReplyState.AWAITING_APPROVAL)
    with django_capture_on_commit_callbacks(execute=False):
        response = login(agent).post(reverse("inbox:reply_retry", args=[failed.pk]))
        assert response.status_code == 302 and response.url == page_url(conversation)
        admin_client = login(personas.a.members["admin"])
        admin_client.post(reverse("inbox:reply_approve", args=[waiting.pk]))
        admin_client.post(reverse("inbox:reply_reject", args=[unwanted.pk]), {"reason": "Wrong tone"})
    failed.refresh_from_db()
    waiting.refresh_from_db()
    unwanted.refresh_from_db()
    assert failed.state == ReplyState.PENDING
    assert waiting.state == ReplyState.PENDING and waiting.approved_by_id == personas.a.user("admin").pk
    assert unwanted.state == ReplyState.REJECTED


def test_approving_a_reply_that_is_not_waiting_is_an_error_message(personas, login, conversation):
    sent = add_reply(conversation, personas.a.user("agent"), "Already out.", ReplyState.SENT, platform_id="p-1")
    response = login(personas.a.members["admin"]).post(reverse("inbox:reply_approve", args=[sent.pk]), follow=True)
    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.state == ReplyState.SENT
    assert "Reply approved" not in main_text(response)


# ---------------------------------------------------------------------------------- roles, tenants
def test_viewer_sees_the_page_but_no_reply_box_and_cannot_act(personas, login):
    viewer = personas.a.members["viewer"]
    conversation = make_conversation(personas.a, channel=make_channel(personas.a, department="Communications"))
    failed = add_reply(conversation, personas.a.user("agent"), "Refused.", ReplyState.FAILED)
    client = login(viewer)
    response = client.get(page_url(conversation))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hello, the bins were not collected" in html
    assert 'id="reply-text"' not in html and 'id="note-text"' not in html and "Retry" not in html
    for route, data in [("inbox:reply", {"text": "hi"}), ("inbox:note", {"text": "hi"}),
                        ("inbox:assign", {"assignee": "me"}), ("inbox:status", {"status": "closed"}),
                        ("inbox:tags", {"tags": "x"}), ("inbox:priority", {"priority": "3"})]:
        assert client.post(reverse(route, args=[conversation.pk]), data).status_code == 403, route
    assert client.post(reverse("inbox:reply_retry", args=[failed.pk])).status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN and not conversation.notes.exists()


def test_another_organisation_gets_404_for_the_page_and_every_action(personas, login, conversation):
    client = login(personas.outsider)
    reply = add_reply(conversation, personas.a.user("agent"), "Ours.", ReplyState.AWAITING_APPROVAL)
    assert client.get(page_url(conversation)).status_code == 404
    for route in ["inbox:reply", "inbox:note", "inbox:assign", "inbox:status", "inbox:tags", "inbox:priority"]:
        assert client.post(reverse(route, args=[conversation.pk]), {"assignee": "me"}).status_code == 404, route
    for route in ["inbox:reply_retry", "inbox:reply_approve", "inbox:reply_reject"]:
        assert client.post(reverse(route, args=[reply.pk])).status_code == 404, route


def test_another_departments_conversation_is_404_for_an_agent(personas, login, agent):
    hidden = make_conversation(personas.a, channel=make_channel(personas.a, department="Communications"))
    assert login(agent).get(page_url(hidden)).status_code == 404


# ------------------------------------------------------------------------------------------ speed
def _history(personas, conversation, agent, size: int) -> None:
    base = timezone.now() - timedelta(hours=2)
    Message.objects.bulk_create(
        Message(organisation=conversation.organisation, channel=conversation.channel, conversation=conversation,
                platform_message_id=f"more-{conversation.pk}-{i}", kind="reply", text=f"Inbound {i}",
                author=conversation.contact, created_at=base + timedelta(seconds=i))
        for i in range(size)
    )
    for i in range(size):
        add_reply(conversation, agent.user, f"Reply {i}", ReplyState.SENT, platform_id=f"r-{conversation.pk}-{i}")
        services.note_add(actor=agent, conversation_id=conversation.pk, text=f"Note {i} for @admin")
        services.conversation_set_priority(actor=agent, conversation_id=conversation.pk, priority=i % 4)
        services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, names=[f"tag{i}"])


def test_the_page_costs_the_same_queries_for_a_short_and_a_long_history(
    personas, login, agent, django_assert_max_num_queries
):
    channel = make_channel(personas.a)
    short = make_conversation(personas.a, channel=channel)
    long = make_conversation(personas.a, channel=channel)
    for other in range(3):
        make_conversation(personas.a, channel=channel, contact=long.contact, text=f"Earlier {other}")
    SavedReply.objects.create(organisation=personas.a.organisation, title="One", body="Hi {contact_name}")
    SavedReply.objects.create(organisation=personas.a.organisation, title="Two", body="Bye {contact_name}")
    _history(personas, short, agent, 1)
    _history(personas, long, agent, 15)
    client = login(agent)
    client.get(page_url(short))  # warm the session and any per-process caches

    counts = []
    for conversation in (short, long):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url(conversation)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(counts[0]):
        assert client.get(page_url(long)).status_code == 200


# ---------------------------------------------------------------------------------- service levels
def _sla_text(response) -> tuple[str, str, str]:
    html = response.content.decode()
    first = re.search(r'<dd class="sla-first">(.*?)</dd>', html, re.S).group(1)
    resolution = re.search(r'<dd class="sla-resolution">(.*?)</dd>', html, re.S).group(1)
    squeeze = lambda fragment: " ".join(re.sub(r"<[^>]+>", "", fragment).split())  # noqa: E731
    overdue = re.search(r'<p class="sla-overdue"[^>]*>(.*?)</p>', html, re.S)
    return squeeze(first), squeeze(resolution), squeeze(overdue.group(1)) if overdue else ""


def _set_sla(conversation, **fields):
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    conversation.refresh_from_db()


def test_the_page_shows_first_response_and_resolution_due_times(settings, login, agent, conversation):
    settings.TIME_ZONE = "UTC"
    now = timezone.now()
    first_due = (now + timedelta(hours=2)).replace(year=2099, month=3, day=4, hour=10, minute=15)
    resolution_due = first_due.replace(hour=16, minute=45)
    _set_sla(conversation, first_response_due_at=first_due, resolution_due_at=resolution_due,
             first_responded_at=None, status=ConversationStatus.OPEN)
    first, resolution, overdue = _sla_text(login(agent).get(page_url(conversation)))
    assert first == "Due by 4 Mar 2099 10:15"
    assert resolution == "Due by 4 Mar 2099 16:45"
    assert overdue == ""
    assert "Overdue" not in main_text(login(agent).get(page_url(conversation)))


def test_a_met_first_response_shows_when_and_whether_it_was_in_time(settings, login, agent, conversation):
    settings.TIME_ZONE = "UTC"
    due = timezone.now().replace(year=2020, month=5, day=6, hour=9, minute=30, second=0, microsecond=0)
    _set_sla(conversation, first_response_due_at=due, first_responded_at=due - timedelta(minutes=20),
             resolution_due_at=due.replace(year=2099))
    first, _, overdue = _sla_text(login(agent).get(page_url(conversation)))
    assert first == "Answered 6 May 2020 09:10, within the target"
    assert overdue == ""  # the first-response target is past, but it was met

    _set_sla(conversation, first_responded_at=due + timedelta(minutes=50))
    first, _, overdue = _sla_text(login(agent).get(page_url(conversation)))
    assert first == "Answered 6 May 2020 10:20, after it was due at 6 May 2020 09:30"
    assert overdue == ""


@pytest.mark.parametrize(
    ("first_late", "resolution_late", "expected"),
    [
        (True, False, "Overdue The first response is past due."),
        (False, True, "Overdue The resolution is past due."),
        (True, True, "Overdue The first response and the resolution are past due."),
    ],
)
def test_an_overdue_conversation_carries_a_badge_in_words(
    login, agent, conversation, first_late, resolution_late, expected
):
    now = timezone.now()
    past, future = now - timedelta(minutes=5), now + timedelta(days=1)
    _set_sla(conversation, first_response_due_at=past if first_late else future,
             resolution_due_at=past if resolution_late else future + timedelta(days=1), first_responded_at=None)
    response = login(agent).get(page_url(conversation))
    first, resolution, overdue = _sla_text(response)
    assert overdue == expected
    assert first.endswith("(past due)") is first_late
    assert resolution.endswith("(past due)") is resolution_late
    # The same rule as the inbox's overdue filter.
    from inbox.filters import ConversationFilter

    flt = ConversationFilter.from_params({"overdue": "1"})
    assert flt.apply(Conversation.objects.visible_to(agent), agent).filter(pk=conversation.pk).exists()


def test_a_closed_conversation_is_never_overdue_and_shows_when_it_closed(settings, login, agent, conversation):
    settings.TIME_ZONE = "UTC"
    past = timezone.now() - timedelta(days=2)
    closed_at = past.replace(year=2024, month=1, day=2, hour=3, minute=4)
    _set_sla(conversation, first_response_due_at=past, resolution_due_at=past, first_responded_at=None,
             status=ConversationStatus.CLOSED, closed_at=closed_at)
    first, resolution, overdue = _sla_text(login(agent).get(page_url(conversation)))
    assert overdue == "" and "(past due)" not in first
    assert resolution == "Closed 2 Jan 2024 03:04"


def test_nothing_waiting_means_no_due_time(login, agent, conversation):
    _set_sla(conversation, first_response_due_at=None, resolution_due_at=None, first_responded_at=None)
    first, resolution, overdue = _sla_text(login(agent).get(page_url(conversation)))
    assert (first, resolution, overdue) == ("No due time", "No due time", "")


# --------------------------------------------------------------------------------------- presence
def test_a_colleague_viewing_the_conversation_is_shown(personas, login, agent, conversation):
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    presence.presence_touch(conversation.pk, colleague.user, "replying")
    text = main_text(login(agent).get(page_url(conversation)))
    assert f"{colleague.user} is replying" in text
    # The page itself counts as viewing.
    assert any(p["user_id"] == agent.user_id for p in presence.presence_for([conversation.pk])[conversation.pk])


# ---------------------------------------------------------------------------------- notifications
def test_notifications_page_lists_only_my_own_and_marks_them_read(personas, login, agent, conversation):
    colleague = add_member(personas.a, Role.AGENT, "sam.jones@alpha.example", ["Customer Services"])
    services.note_add(actor=agent, conversation_id=conversation.pk, text="@sam.jones look")
    services.note_add(actor=colleague, conversation_id=conversation.pk, text="@agent done")
    client = login(colleague)
    response = client.get(reverse("inbox:notifications"))
    body = main_text(response)
    assert response.status_code == 200
    assert body.count("mentioned you") == 1 and "Agent mentioned you in a note" in body
    assert f'href="{page_url(conversation)}"' in response.content.decode()

    response = client.post(reverse("inbox:notifications_read"), follow=True)
    assert "All notifications marked as read." in main_text(response)
    assert not Notification.objects.for_user(colleague.user).unread().exists()
    # Someone else's stay unread.
    assert Notification.objects.for_user(agent.user).unread().count() == 1
    assert Conversation.objects.filter(pk=conversation.pk).exists()
