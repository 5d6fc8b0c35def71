"""KPI test data: conversations with messages at chosen instants, published posts with their metrics, snapshots.

Built with the ORM (test set-up, not behaviour under test): what the rollups and KPIs read, exactly as
ingest, replies and the collection would have left it. Times are UTC instants; the KPI tests say in
their comments what each is in Europe/London.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from approvals.models import Post, PublishTarget
from inbox.models import Conversation, ConversationStatus, Message, MessageDirection
from metrics.models import ChannelSnapshot, PostPerformance
from tests.inbox_factories import make_contact

LONDON = ZoneInfo("Europe/London")
_ids = itertools.count(1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def thread(org, channel, inbound: list[datetime], replies: list[tuple[datetime, object]] = (), *,
           closed_at: datetime | None = None, department=None) -> Conversation:
    """A conversation on `channel` with inbound messages and our replies ((at, user or None for automatic)).

    first_responded_at is the first reply by a person, as inbox.replies records it; closed when closed_at is set.
    """
    n = next(_ids)
    contact = make_contact(org, platform=channel.platform)
    first = min(inbound)
    human = sorted(at for at, user in replies if user is not None)
    conversation = Conversation.objects.create(
        organisation=org.organisation, channel=channel, department=department or channel.department,
        platform=channel.platform, kind="public", key=f"kpi-{n}", contact=contact,
        status=ConversationStatus.CLOSED if closed_at else ConversationStatus.OPEN, closed_at=closed_at,
        first_responded_at=human[0] if human else None, queue_at=first, last_message_at=max(inbound),
        last_inbound_at=max(inbound), message_count=len(inbound) + len(replies), created_at=first,
    )
    for i, at in enumerate(inbound):
        add_message(conversation, at, f"kpi-{n}-in-{i}")
    for i, (at, user) in enumerate(replies):
        add_message(conversation, at, f"kpi-{n}-out-{i}", sent_by=user, outbound=True)
    return conversation


def add_message(conversation: Conversation, at: datetime, platform_id: str = "", *, sent_by=None,
                outbound: bool = False, touch: bool = False) -> Message:
    """One message; `touch` bumps the conversation's updated_at as ingest and the reply path do."""
    message = Message.objects.create(
        organisation_id=conversation.organisation_id, channel_id=conversation.channel_id, conversation=conversation,
        platform_message_id=platform_id or f"kpi-m-{next(_ids)}",
        direction=MessageDirection.OUTBOUND if outbound else MessageDirection.INBOUND,
        kind="reply" if outbound else "mention", text="Thanks" if outbound else "Help please",
        author=None if outbound else conversation.contact, sent_by=sent_by, created_at=at,
    )
    if touch:
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return message


def published(org, channel, at: datetime, *, likes=0, replies=0, reposts=0, quotes=0, impressions=None,
              followers=None, rate=None, method="") -> PostPerformance:
    """A published post on one channel with the metrics the collection stored (rate given by the test)."""
    n = next(_ids)
    post = Post.objects.create(organisation=org.organisation, department=channel.department, title=f"Post {n}",
                               status="published", published_at=at)
    target = PublishTarget.objects.create(organisation=org.organisation, post=post, channel=channel,
                                          state="sent", platform_id=f"p{n}", published_at=at,
                                          platform_url=f"https://example.org/p{n}")
    local = at.astimezone(LONDON)
    return PostPerformance.objects.create(
        target=target, organisation=org.organisation, post=post, channel=channel, department=channel.department,
        platform=channel.platform, platform_id=f"p{n}", published_at=at, published_hour=local.hour,
        published_weekday=local.weekday(), likes=likes, replies=replies, reposts=reposts, quotes=quotes,
        impressions=impressions, engagements=likes + replies + reposts + quotes, followers=followers,
        engagement_rate=rate, rate_method=method,
    )


def snapshot(org, channel, day, followers: int) -> ChannelSnapshot:
    return ChannelSnapshot.objects.create(organisation=org.organisation, channel=channel,
                                          department=channel.department, platform=channel.platform, day=day,
                                          followers=followers)
