"""Three guarantees of issue 4 (§2 out-of-hours reply, §3 replies sent exactly once) tested end to end:

1. ingestion itself queues the out-of-hours reply after its commit (inbox.ingest._after_commit), once per closed
   period, and not when the reply is disabled or the office is open;
2. a transient failure puts the reply back to pending and queues the resend with a countdown that doubles from
   about ten seconds (with jitter) and never exceeds the cap;
3. a reply is saved as pending in the same transaction as its audit event: when PostgreSQL refuses the event
   (a real trigger, no mock), neither the reply nor its send survives.

The clock is faked where office hours decide (django.utils.timezone.now; default office hours Monday–Friday
09:00–17:00, Europe/London; March 2026 is GMT). Queued tasks are seen as Celery publishes them to the test run's
own queue on the real broker (before_task_publish), as tests/approvals/test_services.py does.
"""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from celery.signals import before_task_publish
from django.db import InternalError, connection
from django.utils import timezone

import tests.inbox.test_replies as r
from audit.models import AuditEvent, EventType
from channels_app.backoff import MAX_BACKOFF_SECONDS, backoff
from channels_app.connectors.base import InboundItem
from inbox.ingest import ingest
from inbox.models import Conversation, OutOfHoursReply, Reply, ReplyMode, ReplyState
from inbox.replies import MAX_ATTEMPTS, reply_create
from inbox.tasks.replies import send_reply
from tests.inbox_factories import make_channel, make_conversation

SATURDAY_MORNING = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
SUNDAY_EVENING = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
MONDAY_MORNING = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
MONDAY_EVENING = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
# The closed periods those fall in began when the office closed: Friday 17:00 and Monday 17:00 (GMT = UTC).
FRIDAY_CLOSING = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
MONDAY_CLOSING = datetime(2026, 3, 9, 17, 0, tzinfo=UTC)
SIGNPOST = "Our office is closed. In an emergency call 999; otherwise we will reply when we reopen."
SEND_REPLY = send_reply.name


# ------------------------------------------------------------------------------------------- set-up
class Clock:
    """The wall clock our code reads (django.utils.timezone.now), frozen where the test puts it."""

    def __init__(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock(MONDAY_MORNING)
    monkeypatch.setattr(timezone, "now", lambda: frozen.at)
    return frozen


@pytest.fixture
def published() -> list[dict]:
    """Every task published to the broker during the test: name, arguments and eta."""
    tasks: list[dict] = []

    def remember(sender=None, body=None, headers=None, **kwargs):
        tasks.append({"task": sender, "args": list(body[0]), "eta": (headers or {}).get("eta")})

    before_task_publish.connect(remember, weak=False)
    yield tasks
    before_task_publish.disconnect(remember)


@pytest.fixture
def no_errors_logged(caplog):
    """An on_commit callback registered robust=True only logs its exception: the test must see none."""
    caplog.set_level(logging.ERROR)
    yield
    assert [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR] == []


def out_of_hours(channel, *, enabled: bool = True) -> OutOfHoursReply:
    return OutOfHoursReply.objects.create(organisation=channel.organisation, channel=channel, enabled=enabled,
                                          text=SIGNPOST)


def item(n: int, at: datetime, *, thread: str = "") -> InboundItem:
    """A mention from one resident (n=1 starts a thread), or a reply in `thread`."""
    return InboundItem(
        platform_id=f"m{n}", kind="reply" if thread else "mention", text=f"@council the bins again #{n}",
        created_at=at - timedelta(minutes=2), author_id="resident-1", author_handle="@resident1",
        author_name="Resident One", conversation_key=thread, in_reply_to_id=thread,
    )  # fmt: skip


# ------------------------------------------------------------------------- 1. out of hours, via ingestion
def test_ingestion_queues_the_out_of_hours_reply_after_commit_once_per_closed_period(
    personas, clock, published, no_errors_logged, django_capture_on_commit_callbacks
):
    channel = make_channel(personas.a)
    out_of_hours(channel)

    clock.at = SATURDAY_MORNING
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(channel, [item(1, SATURDAY_MORNING)])
        # Inside the ingest's transaction nothing is sent: the reply is decided after the commit.
        assert Reply.objects.count() == 0
    conversation = Conversation.objects.get(channel=channel)
    assert result.conversation_ids == [conversation.pk]
    [reply] = Reply.objects.filter(conversation=conversation)
    assert (reply.automatic, reply.author, reply.state, reply.mode, reply.text) == (
        True, None, ReplyState.PENDING, ReplyMode.PUBLIC, SIGNPOST)  # fmt: skip
    assert reply.in_reply_to_id == "m1"
    conversation.refresh_from_db()
    assert conversation.auto_replied_for == FRIDAY_CLOSING
    assert published == [{"task": SEND_REPLY, "args": [reply.pk], "eta": None}]
    assert list(AuditEvent.objects.for_target("inbox.reply", reply.pk).values_list("event_type", flat=True)) == [
        EventType.REPLY_CREATED
    ]

    # The resident writes again in the same closed period (Sunday evening): ingested, but no second reply.
    clock.at = SUNDAY_EVENING
    with django_capture_on_commit_callbacks(execute=True):
        again = ingest(channel, [item(2, SUNDAY_EVENING, thread="m1")])
    assert (again.created, again.conversation_ids) == (1, [conversation.pk])
    assert list(Reply.objects.filter(conversation=conversation)) == [reply]
    assert len(published) == 1

    # Monday evening is a new closed period: one more.
    clock.at = MONDAY_EVENING
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel, [item(3, MONDAY_EVENING, thread="m1")])
    newer = Reply.objects.filter(conversation=conversation).exclude(pk=reply.pk).get()
    assert newer.automatic and newer.in_reply_to_id == "m3"
    conversation.refresh_from_db()
    assert conversation.auto_replied_for == MONDAY_CLOSING
    assert [t["args"] for t in published] == [[reply.pk], [newer.pk]]


def test_ingestion_sends_no_out_of_hours_reply_while_it_is_disabled(
    personas, clock, published, no_errors_logged, django_capture_on_commit_callbacks
):
    channel = make_channel(personas.a)
    setting = out_of_hours(channel, enabled=False)

    clock.at = SATURDAY_MORNING
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(channel, [item(1, SATURDAY_MORNING)])
    assert result.created == 1
    assert Reply.objects.count() == 0 and published == []
    assert Conversation.objects.get(channel=channel).auto_replied_for is None

    # Control: the same channel, closed office, once the reply is switched on.
    setting.enabled = True
    setting.save(update_fields=["enabled"])
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel, [item(2, SATURDAY_MORNING, thread="m1")])
    [reply] = Reply.objects.all()
    assert reply.automatic and [t["args"] for t in published] == [[reply.pk]]


def test_ingestion_sends_no_out_of_hours_reply_while_the_office_is_open(
    personas, clock, published, no_errors_logged, django_capture_on_commit_callbacks
):
    channel = make_channel(personas.a)
    out_of_hours(channel)

    clock.at = MONDAY_MORNING
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(channel, [item(1, MONDAY_MORNING)])
    assert result.created == 1
    assert Reply.objects.count() == 0 and published == []
    assert Conversation.objects.get(channel=channel).auto_replied_for is None

    # Control: the same conversation after closing time gets it.
    clock.at = MONDAY_EVENING
    with django_capture_on_commit_callbacks(execute=True):
        ingest(channel, [item(2, MONDAY_EVENING, thread="m1")])
    [reply] = Reply.objects.all()
    assert reply.automatic and [t["args"] for t in published] == [[reply.pk]]


# ------------------------------------------------------------------------------- 2. retry with backoff
def jitter_bounds(attempts: int) -> tuple[float, float]:
    """backoff()'s documented range: about 10 s, 20 s, 40 s … (±20 % jitter), at most MAX_BACKOFF_SECONDS."""
    base = 10 * 2 ** (attempts - 1)
    return 0.8 * min(base, MAX_BACKOFF_SECONDS), min(1.2 * base, MAX_BACKOFF_SECONDS)


def test_transient_failures_queue_the_resend_with_a_doubling_countdown(
    personas, sim, settings, published, no_errors_logged, django_capture_on_commit_callbacks
):
    a = personas.a
    conversation = r.x_conversation(a, sim)
    reply = reply_create(actor=a.members["agent"], conversation_id=conversation.pk, text="We will call you back.")
    # Nothing listens there: refused before any byte is sent, a transient error that is safe to retry.
    settings.X_API_URL = "http://127.0.0.1:9/x"

    countdowns: list[float] = []
    for attempt in range(1, MAX_ATTEMPTS):
        with django_capture_on_commit_callbacks(execute=True):
            assert send_reply(reply.pk) == "retrying"
            before_publish = datetime.now(UTC)  # the resend is published as this block ends (after commit)
        after_publish = datetime.now(UTC)
        reply.refresh_from_db()
        assert (reply.state, reply.attempts) == (ReplyState.PENDING, attempt)

        [resend] = published[attempt - 1:]
        assert (resend["task"], resend["args"]) == (SEND_REPLY, [reply.pk])
        eta = datetime.fromisoformat(resend["eta"])
        low, high = jitter_bounds(attempt)
        # Celery sets eta = (publish time) + countdown, and the publish time lies between the two readings.
        assert (eta - before_publish).total_seconds() >= low
        assert (eta - after_publish).total_seconds() <= high
        countdowns.append((eta - before_publish).total_seconds())

    retried = AuditEvent.objects.for_target("inbox.reply", reply.pk).filter(event_type=EventType.REPLY_RETRIED)
    said = [e.changes["retry_in_seconds"] for e in retried.order_by("sequence")]
    assert len(said) == MAX_ATTEMPTS - 1
    for attempt, seconds in enumerate(said, start=1):
        low, high = jitter_bounds(attempt)
        assert round(low) <= seconds <= round(high)
    # Grows with every attempt (the jitter never makes a later wait shorter than an earlier one).
    assert countdowns == sorted(countdowns) and said == sorted(said) and len(set(said)) == len(said)

    # The last attempt gives up: failed, and no further resend is queued.
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reply(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.state == ReplyState.FAILED
    assert len(published) == MAX_ATTEMPTS - 1


def test_backoff_doubles_from_ten_seconds_with_jitter_and_never_exceeds_the_cap():
    state = random.getstate()
    random.seed(20260307)
    try:
        samples = {attempts: [backoff(attempts) for _ in range(400)] for attempts in range(0, 13)}
    finally:
        random.setstate(state)
    # Attempt 0 (never tried) waits like the first.
    assert 8 <= min(samples[0]) and max(samples[0]) <= 12
    for attempts in range(1, 13):
        low, high = jitter_bounds(attempts)
        assert low <= min(samples[attempts]) and max(samples[attempts]) <= high, attempts
        assert max(samples[attempts]) <= MAX_BACKOFF_SECONDS == 600  # "at most ten minutes"
    for attempts in (1, 2, 3, 4, 5, 6):
        # Real jitter, both ways around the nominal 10 s × 2^(n-1), not a fixed wait.
        nominal = 10 * 2 ** (attempts - 1)
        assert min(samples[attempts]) < nominal < max(samples[attempts])
        assert min(samples[attempts]) < 0.85 * nominal and max(samples[attempts]) > 1.15 * nominal
    # Capped: from the seventh attempt on (10 × 2^6 = 640 s) the wait stays within the last stretch below ten minutes.
    for attempts in range(7, 13):
        assert 0.8 * MAX_BACKOFF_SECONDS <= min(samples[attempts]) and max(samples[attempts]) <= MAX_BACKOFF_SECONDS


# ------------------------------------------------------------------------ 3. reply and audit: one transaction
REFUSE_FUNCTION = "civicdesk_test_refuse_audit_event"
REFUSE_TRIGGER = "civicdesk_test_refuse_reply_created"


@contextmanager
def audit_refuses(event_type: EventType):
    """A real database fault: PostgreSQL raises on inserting an audit event of this type, until the block ends."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE FUNCTION {REFUSE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'test fault: the audit trail refuses %', NEW.event_type; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER {REFUSE_TRIGGER} BEFORE INSERT ON {table} FOR EACH ROW "
            f"WHEN (NEW.event_type = '{EventType(event_type).value}') EXECUTE FUNCTION {REFUSE_FUNCTION}()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {REFUSE_TRIGGER} ON {table}")
            cursor.execute(f"DROP FUNCTION {REFUSE_FUNCTION}()")
            cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = %s", [REFUSE_TRIGGER])
            assert cursor.fetchone() == (0,)


def test_a_reply_whose_audit_event_fails_is_neither_saved_nor_queued(
    personas, published, django_capture_on_commit_callbacks
):
    a = personas.a
    agent = a.members["agent"]
    conversation = make_conversation(a, channel=make_channel(a))
    touched = conversation.updated_at

    with audit_refuses(EventType.REPLY_CREATED):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(InternalError, match="the audit trail refuses reply.created"):
                reply_create(actor=agent, conversation_id=conversation.pk, text="Sorry, a crew is on its way.")
        # Everything reply_create wrote went with the refused event: no reply, no send, no touched conversation.
        assert callbacks == [] and published == []
        assert Reply.objects.count() == 0
        assert not AuditEvent.objects.filter(event_type=EventType.REPLY_CREATED).exists()
        conversation.refresh_from_db()
        assert conversation.updated_at == touched

    # Control: without the trigger the same call saves the pending reply, its one event, and queues one send.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        reply = reply_create(actor=agent, conversation_id=conversation.pk, text="Sorry, a crew is on its way.")
    assert Reply.objects.get().pk == reply.pk and reply.state == ReplyState.PENDING
    assert list(AuditEvent.objects.for_target("inbox.reply", reply.pk).values_list("event_type", flat=True)) == [
        EventType.REPLY_CREATED
    ]
    assert len(callbacks) == 1 and published == [{"task": SEND_REPLY, "args": [reply.pk], "eta": None}]
