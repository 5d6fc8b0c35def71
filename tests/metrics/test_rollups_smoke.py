"""The rollups rebuild what changed and the KPIs read them: one conversation, answered and closed."""

from datetime import UTC, datetime, timedelta

from django.db.models import Sum
from django.http import QueryDict

from inbox.models import Message, MessageDirection
from metrics import kpis, rollups
from metrics.models import ContactDaily, ResponseFact
from tests.inbox_factories import make_channel, make_conversation

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Europe/London = UTC in March before the clock change


def test_refresh_counts_a_conversation_and_its_answer_and_a_second_run_changes_nothing(personas):
    org = personas.a
    channel = make_channel(org)
    conversation = make_conversation(org, channel=channel, at=MONDAY_10, messages=2)
    agent = org.members["agent"].user
    Message.objects.create(organisation=org.organisation, channel=channel, conversation=conversation,
                           platform_message_id="ours-1", direction=MessageDirection.OUTBOUND, kind="reply", text="On it",
                           sent_by=agent, created_at=MONDAY_10 + timedelta(minutes=90))
    conversation.first_responded_at = MONDAY_10 + timedelta(minutes=90)
    conversation.status, conversation.closed_at = "closed", MONDAY_10 + timedelta(days=1)
    conversation.save()

    first = rollups.refresh(org.organisation.pk)
    assert first.conversations == 1
    fact = ResponseFact.objects.get(conversation=conversation)
    assert fact.first_response_seconds == 90 * 60
    assert fact.first_response_office_seconds == 90 * 60
    assert fact.responder_id == agent.pk
    assert fact.resolution_seconds == 24 * 3600
    assert fact.resolution_office_seconds == 8 * 3600  # Monday 10:00 to Tuesday 10:00 in 09:00-17:00 hours
    totals = ContactDaily.objects.filter(organisation=org.organisation).aggregate(
        inbound=Sum("inbound_messages"), outbound=Sum("outbound_messages"), opened=Sum("conversations_opened"),
        closed=Sum("conversations_closed"))
    messages_in = Message.objects.filter(conversation=conversation, direction="in").count()
    assert totals == {"inbound": messages_in, "outbound": 1, "opened": 1, "closed": 1}
    before = list(ContactDaily.objects.order_by("day").values())
    rollups.refresh(org.organisation.pk)
    assert [dict(row, id=None) for row in ContactDaily.objects.order_by("day").values()] == [
        dict(row, id=None) for row in before]

    f = kpis.kpi_filter(org.members["admin"], QueryDict("from=2026-03-01&to=2026-03-31"))
    times = kpis.response_times(f)
    assert times["first_response_seconds_p50"] == 90 * 60
    assert kpis.contact_totals(f)["conversations_opened"] == 1
    assert kpis.overview(f)["current"]["conversations_closed"] == 1
    weekly = kpis.contacts_by(f, "channel", "week")
    assert sum(row["conversations_opened"] for row in weekly) == 1
    assert weekly[0]["period"] == MONDAY_10.date()
    shift = kpis.channel_shift(f)
    assert shift["digital"] == 1 and shift["months"][0]["digital_share"] == 100.0
