"""The out-of-hours automatic reply (issue 4 §2): sent when the department is closed, at most once per
conversation per closed period, even when two ingests ask at the same moment. The clock is frozen by passing
`at` (default office hours: Monday–Friday 09:00–17:00, Europe/London; March 2026 is GMT)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

import tests.inbox.test_replies as r
from audit.models import AuditEvent, EventType
from inbox.models import ConversationKind, InboxPolicy, Message, MessageDirection, OutOfHoursReply, Reply, ReplyState
from inbox.replies import auto_reply_if_closed
from inbox.tasks.replies import send_reply
from tests.inbox_factories import make_channel, make_conversation

SATURDAY_MORNING = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
SUNDAY_EVENING = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
MONDAY_EVENING = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
SIGNPOST = "Our office is closed. In an emergency call 999; otherwise we will reply when we reopen."


def out_of_hours(channel, *, enabled: bool = True, text: str = SIGNPOST) -> OutOfHoursReply:
    return OutOfHoursReply.objects.create(organisation=channel.organisation, channel=channel, enabled=enabled, text=text)


def test_closed_office_sends_the_out_of_hours_reply_once_per_closed_period(personas, sim):
    a = personas.a
    channel = r.x_channel(a)
    out_of_hours(channel)
    conversation = r.x_conversation(a, sim, channel=channel)

    assert auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING) == 1
    reply = Reply.objects.get(conversation=conversation)
    assert (reply.automatic, reply.author, reply.state, reply.text) == (True, None, ReplyState.PENDING, SIGNPOST)
    assert reply.in_reply_to_id == conversation.key
    # More messages in the same weekend: no second automatic reply.
    assert auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING) == 0
    assert auto_reply_if_closed([conversation.pk], at=SUNDAY_EVENING) == 0
    # Open on Monday morning: nothing.
    assert auto_reply_if_closed([conversation.pk], at=MONDAY_MORNING) == 0
    # Monday evening is a new closed period.
    assert auto_reply_if_closed([conversation.pk], at=MONDAY_EVENING) == 1
    assert Reply.objects.filter(conversation=conversation, automatic=True).count() == 2
    conversation.refresh_from_db()
    assert conversation.auto_replied_for is not None
    created = AuditEvent.objects.for_target("inbox.reply", reply.pk).get(event_type=EventType.REPLY_CREATED)
    assert created.actor is None and created.changes["author"] == "automatic out-of-hours reply"
    assert created.changes["closed_period_start"].startswith("2026-03-06T17:00")


def test_the_automatic_reply_is_sent_but_the_conversation_still_waits_for_a_person(personas, sim):
    a = personas.a
    channel = r.x_channel(a)
    out_of_hours(channel)
    conversation = r.x_conversation(a, sim, channel=channel)
    auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING)
    reply = Reply.objects.get(conversation=conversation)

    assert send_reply(reply.pk) == "sent"
    posted = r.council_replies(sim)
    assert len(posted) == 1 and posted[0]["text"].endswith(SIGNPOST)
    outbound = Message.objects.get(conversation=conversation, direction=MessageDirection.OUTBOUND)
    assert outbound.sent_by is None
    conversation.refresh_from_db()
    # Signposting is not an answer: the service-level clock keeps running.
    assert conversation.waiting_since is not None and conversation.first_responded_at is None


def test_direct_message_conversations_get_it_by_direct_message(personas, sim):
    a = personas.a
    channel = r.x_channel(a)
    out_of_hours(channel)
    conversation = r.x_conversation(a, sim, channel=channel, kind=ConversationKind.PRIVATE)
    assert auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING) == 1
    reply = Reply.objects.get(conversation=conversation)
    assert reply.mode == "dm"
    assert send_reply(reply.pk) == "sent"
    assert [d["text"] for d in r.council_dms(sim)] == [SIGNPOST]


def test_no_automatic_reply_when_disabled_absent_or_open(personas):
    a = personas.a
    disabled = make_channel(a)
    out_of_hours(disabled, enabled=False)
    without = make_channel(a)
    c1 = make_conversation(a, channel=disabled)
    c2 = make_conversation(a, channel=without)
    assert auto_reply_if_closed([c1.pk, c2.pk], at=SATURDAY_MORNING) == 0
    enabled = make_channel(a)
    out_of_hours(enabled)
    c3 = make_conversation(a, channel=enabled)
    assert auto_reply_if_closed([c3.pk], at=MONDAY_MORNING) == 0
    assert auto_reply_if_closed([], at=SATURDAY_MORNING) == 0
    assert Reply.objects.count() == 0


def test_the_departments_own_office_hours_decide(personas):
    a = personas.a
    channel = make_channel(a)
    out_of_hours(channel)
    conversation = make_conversation(a, channel=channel)
    # A weekend desk: open on Saturdays.
    hours = {"mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [["09:00", "17:00"]], "sun": []}
    InboxPolicy.objects.create(organisation=a.organisation, department=channel.department, office_hours=hours)
    assert auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING) == 0
    assert auto_reply_if_closed([conversation.pk], at=MONDAY_MORNING) == 1


def test_text_the_platform_would_refuse_is_not_queued(personas):
    a = personas.a
    channel = make_channel(a, platform="x")
    out_of_hours(channel, text="x" * 300)
    conversation = make_conversation(a, channel=channel)
    assert auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING) == 0
    assert Reply.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_ingests_at_the_same_moment_queue_it_once(personas):
    a = personas.a
    channel = make_channel(a)
    out_of_hours(channel)
    conversation = make_conversation(a, channel=channel)
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def ingest_worker():
        try:
            barrier.wait()
            counts.append(auto_reply_if_closed([conversation.pk], at=SATURDAY_MORNING))
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest_worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 0, 0, 1]
    assert Reply.objects.filter(conversation=conversation).count() == 1
