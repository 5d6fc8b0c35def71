"""Test data for the inbox: channels, contacts, conversations and messages of one organisation.

Built with the ORM (test setup, not behaviour under test); behaviour is exercised through the services.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from channels_app import services as channel_services
from channels_app.models import Channel
from inbox.models import Contact, Conversation, ConversationKind, Message

_ids = itertools.count(1)


def make_channel(org, department: str = "Customer Services", platform: str = "x", handle: str = "") -> Channel:
    n = next(_ids)
    return channel_services.channel_connect(
        actor=None,
        department=org.departments[department],
        platform=platform,
        account_id=f"acct-{org.organisation.pk}-{n}",
        handle=handle or f"@{org.organisation.slug}{n}",
        credentials={"access_token": f"test-token-{n}"},
    )


def make_contact(org, platform: str = "x", name: str = "", handle: str = "") -> Contact:
    n = next(_ids)
    return Contact.objects.create(
        organisation=org.organisation,
        platform=platform,
        platform_user_id=f"user-{n}",
        handle=handle or f"@resident{n}",
        name=name or f"Resident {n}",
    )


def make_conversation(
    org,
    *,
    channel: Channel | None = None,
    contact: Contact | None = None,
    text: str = "Hello, the bins were not collected",
    at: datetime | None = None,
    kind: str = ConversationKind.PUBLIC,
    messages: int = 1,
    **fields,
) -> Conversation:
    channel = channel or make_channel(org)
    contact = contact or make_contact(org, platform=channel.platform)
    at = at or timezone.now() - timedelta(minutes=5)
    n = next(_ids)
    conversation = Conversation.objects.create(
        organisation=org.organisation,
        channel=channel,
        department=channel.department,
        platform=channel.platform,
        kind=kind,
        key=f"thread-{n}",
        contact=contact,
        waiting_since=at,
        queue_at=at,
        last_message_at=at,
        last_inbound_at=at,
        last_message_preview=text[:280],
        message_count=messages,
        **fields,
    )
    Message.objects.bulk_create(
        Message(
            organisation=org.organisation,
            channel=channel,
            conversation=conversation,
            platform_message_id=f"msg-{n}-{i}",
            kind="mention" if kind == ConversationKind.PUBLIC else "dm",
            text=text,
            author=contact,
            created_at=at + timedelta(seconds=i),
        )
        for i in range(messages)
    )
    return conversation
