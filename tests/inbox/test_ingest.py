"""inbox.ingest: idempotent batches, threading, contacts, quarantine, reopening, tone, and a query count that does
not grow with the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent, EventType
from channels_app.connectors.base import InboundItem
from inbox import services
from inbox.ingest import Malformed, ingest
from inbox.models import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Message,
    MessageDirection,
    QuarantinedItem,
    RiskKeyword,
)
from tests.inbox_factories import make_channel

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, inside office hours


def mention(n: int, *, author: str = "u1", key: str = "", at: datetime | None = None, text: str = "", **kw) -> InboundItem:
    return InboundItem(
        platform_id=f"m{n}", kind=kw.pop("kind", "mention"), text=text or f"@council bins not collected #{n}",
        created_at=at or T0 + timedelta(seconds=n), author_id=author, author_handle=f"@{author}",
        author_name=kw.pop("name", f"Person {author}"), conversation_key=key, **kw,
    )  # fmt: skip


def dm(n: int, *, author: str = "u1", key: str = "dm-1", at: datetime | None = None) -> InboundItem:
    return InboundItem(
        platform_id=f"d{n}", kind="dm", text=f"private message {n}", created_at=at or T0 + timedelta(seconds=n),
        author_id=author, author_handle=f"@{author}", conversation_key=key,
    )  # fmt: skip


@pytest.fixture
def channel(personas):
    return make_channel(personas.a, "Customer Services", platform="x")


def test_the_same_batch_twice_stores_each_message_once(channel):
    batch = [mention(1), mention(2, author="u2"), dm(3)]
    first = ingest(channel, batch)
    second = ingest(channel, batch)
    assert (first.created, first.duplicates) == (3, 0)
    assert (second.created, second.duplicates, second.conversation_ids) == (0, 3, [])
    assert Message.objects.filter(channel=channel).count() == 3
    assert sorted(Conversation.objects.filter(channel=channel).values_list("message_count", flat=True)) == [1, 1, 1]


def test_an_item_twice_in_one_batch_is_stored_once(channel):
    result = ingest(channel, [mention(1), mention(1)])
    assert (result.created, result.duplicates) == (1, 1)
    assert Message.objects.filter(channel=channel).count() == 1


def test_our_own_outbound_message_is_not_ingested_again(channel):
    ingest(channel, [mention(1)])
    conversation = Conversation.objects.get(channel=channel)
    Message.objects.create(
        organisation=channel.organisation, channel=channel, conversation=conversation, platform_message_id="ours-1",
        direction=MessageDirection.OUTBOUND, kind="reply", text="We are on it", created_at=T0 + timedelta(minutes=1),
    )  # fmt: skip
    result = ingest(channel, [InboundItem(platform_id="ours-1", kind="reply", text="We are on it", created_at=T0,
                                          author_id="council", author_handle="@council", conversation_key="m1")])
    assert (result.created, result.duplicates) == (0, 1)
    assert Message.objects.get(platform_message_id="ours-1").direction == MessageDirection.OUTBOUND


def test_a_malformed_item_is_quarantined_with_its_payload_and_the_rest_goes_in(channel):
    naive = InboundItem(platform_id="bad-1", kind="mention", text="x", created_at=datetime(2026, 3, 2, 10, 0),
                        author_id="u9", author_handle="@u9", raw={"id": "bad-1", "text": "x"})
    no_author = mention(5, author="", raw={"id": "m5", "note": "no author"})
    unknown_kind = mention(6, kind="like")
    result = ingest(channel, [mention(1), naive, no_author, unknown_kind, Malformed(raw={"odd": [1, 2]}, error="unreadable event"), mention(2)])
    assert (result.created, result.quarantined) == (2, 4)
    assert set(Message.objects.filter(channel=channel).values_list("platform_message_id", flat=True)) == {"m1", "m2"}
    quarantined = {q.platform_message_id: q for q in QuarantinedItem.objects.filter(channel=channel)}
    assert quarantined["bad-1"].raw == {"id": "bad-1", "text": "x"} and "time zone" in quarantined["bad-1"].error
    assert quarantined["m5"].raw == {"id": "m5", "note": "no author"} and "author id is missing" in quarantined["m5"].error
    assert "unknown kind 'like'" in quarantined["m6"].error
    assert quarantined[""].raw == {"odd": [1, 2]} and quarantined[""].error == "unreadable event"
    assert {q.source for q in quarantined.values()} == {"poll"}
    event = AuditEvent.objects.get(event_type=EventType.INBOUND_QUARANTINED)
    assert event.changes["count"] == 4 and event.actor_label == "system: ingest (poll)"

    # The overlap window reads the same malformed items again: they are not quarantined twice.
    again = ingest(channel, [naive, no_author, unknown_kind, Malformed(raw={"odd": [1, 2]}, error="unreadable event")])
    assert again.quarantined == 0
    assert QuarantinedItem.objects.filter(channel=channel).count() == 4


def test_text_with_nul_characters_is_cleaned_not_refused(channel):
    ingest(channel, [mention(1, text="bins\x00 missed")])
    assert Message.objects.get(platform_message_id="m1").text == "bins missed"


def test_replies_under_one_of_our_posts_share_a_conversation_and_dms_thread_by_conversation_id(channel):
    ours = "post-100"
    ingest(channel, [
        mention(1, author="u1", key=ours, kind="reply", in_reply_to_id=ours),
        mention(2, author="u2", key=ours, kind="reply", in_reply_to_id=ours),
        mention(3, author="u3"),  # a mention of its own: its own thread
        dm(4, author="u1", key="dm-a"), dm(5, author="u1", key="dm-a"), dm(6, author="u2", key="dm-b"),
    ])  # fmt: skip
    threads = {(c.kind, c.key): c for c in Conversation.objects.filter(channel=channel)}
    assert set(threads) == {("public", ours), ("public", "m3"), ("private", "dm-a"), ("private", "dm-b")}
    assert threads[("public", ours)].message_count == 2
    assert threads[("public", ours)].contact.platform_user_id == "u1"  # who started it
    assert threads[("private", "dm-a")].message_count == 2
    # A later reply that names only the message it answers joins that message's conversation.
    ingest(channel, [mention(7, author="u4", kind="reply", in_reply_to_id="m2"),
                     mention(8, author="u5", kind="reply", in_reply_to_id="m7")])
    assert Message.objects.get(platform_message_id="m7").conversation_id == threads[("public", ours)].pk
    assert Message.objects.get(platform_message_id="m8").conversation_id == threads[("public", ours)].pk
    # Nothing stored to answer: the post it answers is the thread (our post, polled or pushed alike).
    ingest(channel, [mention(9, kind="reply", in_reply_to_id="post-200")])
    assert Message.objects.get(platform_message_id="m9").conversation.key == "post-200"


def test_contacts_are_one_per_platform_user_and_keep_their_latest_details(channel, personas):
    ingest(channel, [mention(1, author="u1", name="Casey"), mention(2, author="u1", name="Casey C")])
    contact = Contact.objects.get(organisation=personas.a.organisation, platform="x", platform_user_id="u1")
    assert contact.name == "Casey C" and contact.first_seen_at == T0 + timedelta(seconds=1)
    # A second channel of the same platform in the same organisation meets the same person.
    other = make_channel(personas.a, "Communications", platform="x")
    ingest(other, [mention(3, author="u1", name="", author_avatar_url="https://img.example/casey.png")])
    contact.refresh_from_db()
    assert Contact.objects.filter(platform_user_id="u1").count() == 1
    assert contact.name == "Casey C" and contact.avatar_url == "https://img.example/casey.png"
    assert contact.last_seen_at == T0 + timedelta(seconds=3)
    # Another organisation's person with the same platform id is another contact.
    ingest(make_channel(personas.b, "Digital Desk", platform="x"), [mention(4, author="u1")])
    assert Contact.objects.filter(platform_user_id="u1").count() == 2


def test_new_inbound_on_a_closed_conversation_reopens_it_and_is_audited(channel, personas):
    ingest(channel, [mention(1)])
    conversation = Conversation.objects.get(channel=channel)
    services.conversation_set_status(actor=personas.a.members["agent"], conversation_id=conversation.pk, status="closed")
    conversation.refresh_from_db()
    assert conversation.waiting_since is None and conversation.status == ConversationStatus.CLOSED

    later = T0 + timedelta(hours=2)
    result = ingest(channel, [mention(2, key="m1", kind="reply", in_reply_to_id="m1", at=later)])
    conversation.refresh_from_db()
    assert result.reopened == 1 and result.conversation_ids == [conversation.pk]
    assert conversation.status == ConversationStatus.OPEN and conversation.closed_at is None
    assert conversation.waiting_since == later and conversation.queue_at == later
    assert conversation.first_response_due_at == later + timedelta(minutes=60)
    assert conversation.message_count == 2 and conversation.last_message_at == later
    event = AuditEvent.objects.get(event_type=EventType.CONVERSATION_REOPENED)
    assert event.target_id == str(conversation.pk) and event.actor is None
    assert event.actor_label.startswith("system:")
    # Already open: nothing to reopen, nothing audited.
    ingest(channel, [mention(3, key="m1", at=later + timedelta(minutes=1))])
    assert AuditEvent.objects.filter(event_type=EventType.CONVERSATION_REOPENED).count() == 1


def test_aggregates_track_the_newest_message_and_the_oldest_waiting(channel):
    ingest(channel, [mention(2, key="t"), mention(1, key="t")])
    conversation = Conversation.objects.get(channel=channel)
    assert conversation.waiting_since == T0 + timedelta(seconds=1)
    assert conversation.last_message_at == T0 + timedelta(seconds=2)
    assert conversation.last_message_preview == "@council bins not collected #2"
    assert conversation.first_response_due_at is not None and conversation.resolution_due_at is not None
    # An older item arriving late (the overlap window) does not replace the preview.
    before = conversation.updated_at
    ingest(channel, [mention(0, key="t", at=T0 - timedelta(minutes=5))])
    conversation.refresh_from_db()
    assert conversation.message_count == 3 and conversation.last_message_preview.endswith("#2")
    assert conversation.updated_at > before


def test_risk_keywords_and_anger_flag_the_conversation(channel, personas):
    RiskKeyword.objects.create(organisation=personas.a.organisation, phrase="self-harm")
    ingest(channel, [mention(1, key="calm", text="Thanks, lovely service today!"),
                     mention(2, key="risk", text="I am thinking about self-harm"),
                     mention(3, key="angry", text="This is a disgrace, terrible useless awful council, I hate you")])
    flags = {c.key: (c.flagged, c.risk_terms) for c in Conversation.objects.filter(channel=channel)}
    assert flags["calm"] == (False, [])
    assert flags["risk"] == (True, ["self-harm"])
    assert flags["angry"][0] is True
    assert Message.objects.get(platform_message_id="m2").flagged is True


def _burst(n: int, start: int) -> list[InboundItem]:
    # Half in new threads, half replies into threads of the first batch, spread over many authors.
    return [
        mention(start + i, author=f"a{i % 37}", key=f"t{i % 5}" if i % 2 else "", kind="reply" if i % 2 else "mention")
        for i in range(n)
    ]


def test_ingest_query_count_does_not_grow_with_the_batch(channel, django_assert_max_num_queries):
    ingest(channel, _burst(10, 0))
    for size, start in ((10, 1000), (200, 2000)):
        with django_assert_max_num_queries(15):
            result = ingest(channel, _burst(size, start))
        assert result.created == size
    with django_assert_max_num_queries(6):
        assert ingest(channel, _burst(200, 2000)).duplicates == 200


def test_an_empty_batch_touches_nothing(channel, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert ingest(channel, []).created == 0


def test_timestamps_are_kept_as_the_platform_gave_them(channel):
    at = timezone.now().replace(microsecond=0) - timedelta(days=1)
    ingest(channel, [dm(1, at=at)])
    message = Message.objects.get(platform_message_id="d1")
    assert message.created_at == at and message.conversation.kind == ConversationKind.PRIVATE
