"""The inbox API's query counts do not grow with the data: the same ceiling for 5 and for 100 rows.

Each case builds rows that differ wherever a lazy relation would cost a query per row (contact, channel,
assignee, tags, authors), then pins the whole request, authentication included.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.models import Message, Note, Reply, ReplyState, Tag
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"
# Token and membership (2), the token's last-used touch (1, at most once a minute), the member's departments
# (1), then the endpoint's own: list = page + tags prefetch + status counts; a deep page has no counts;
# detail = one row + tags; timelines = the conversation + one page + one prefetch (or none).
LIST_QUERIES = 7
# A search's page may take one more: the walk in the list's order (inbox.filters._search_page), then the plain
# query when the walk found less than a page.
SEARCH_LIST_QUERIES = LIST_QUERIES + 1
DEEP_PAGE_QUERIES = 6
# The inbox page (session sign-in): session, user, the member's memberships (the acting one and the others the
# layout's switcher offers, one query: accounts.middleware), the member's departments (4); the filter form's choices
# in one query; the live list's fingerprint, page, tag names and status counts (4); the layout's unread
# notifications (1). No session write: last_seen is written at most once a minute (accounts.middleware), so a page
# view right after another writes nothing.
PAGE_QUERIES = 10
DETAIL_QUERIES = 6
TIMELINE_QUERIES = 6


def _conversations(personas, n: int) -> list:
    channels = [make_channel(personas.a, "Customer Services", platform=p) for p in ("x", "mastodon", "bluesky")]
    tags = [Tag.objects.create(organisation=personas.a.organisation, name=f"Tag {i}") for i in range(4)]
    agent = personas.a.user("agent")
    start = timezone.now() - timedelta(days=2)
    made = []
    for i in range(n):
        conversation = make_conversation(
            personas.a,
            channel=channels[i % 3],
            contact=make_contact(personas.a, platform=channels[i % 3].platform),
            at=start + timedelta(minutes=i),
            assignee=agent if i % 2 else None,
            flagged=i % 5 == 0,
        )
        conversation.tags.add(tags[i % 4], tags[(i + 1) % 4])
        made.append(conversation)
    return made


@pytest.mark.parametrize("n", [5, 100])
@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 200},
        {"page_size": 200, "sort": "newest"},
        {"page_size": 200, "status": "all", "assignee": "unassigned", "flagged": "false", "q": "bins"},
        {"page_size": 200, "tag": "placeholder"},
    ],
)
def test_conversation_list_queries_do_not_grow(personas, api_for, django_assert_max_num_queries, n, params):
    made = _conversations(personas, n)
    if params.get("tag"):
        params = {**params, "tag": made[0].tags.first().pk}
    api = api_for(personas.a.members["agent"])

    with django_assert_max_num_queries(SEARCH_LIST_QUERIES if "q" in params else LIST_QUERIES):
        response = api.get(LIST, params)

    assert response.status_code == 200
    assert len(response.json()["results"]) >= (n // 2 if "tag" in params else 1)


def test_a_deep_page_costs_the_same(personas, api_for, django_assert_max_num_queries):
    _conversations(personas, 30)
    api = api_for(personas.a.members["agent"])
    next_url = api.get(LIST, {"page_size": 5}).json()["next"]
    for _ in range(3):
        next_url = api.get(next_url).json()["next"]

    with django_assert_max_num_queries(DEEP_PAGE_QUERIES):
        response = api.get(next_url)

    assert len(response.json()["results"]) == 5


@pytest.mark.parametrize("n", [5, 100])
def test_conversation_detail_queries_do_not_grow(personas, api_for, django_assert_max_num_queries, n):
    conversation = make_conversation(
        personas.a, channel=make_channel(personas.a, "Customer Services"), messages=n, assignee=personas.a.user("agent")
    )
    conversation.tags.add(*[Tag.objects.create(organisation=personas.a.organisation, name=f"T{i}") for i in range(n)])
    api = api_for(personas.a.members["agent"])

    with django_assert_max_num_queries(DETAIL_QUERIES):
        response = api.get(f"{LIST}{conversation.pk}/")

    assert response.status_code == 200
    assert len(response.json()["tags"]) == n


@pytest.mark.parametrize("n", [5, 100])
def test_messages_queries_do_not_grow(personas, api_for, django_assert_max_num_queries, n):
    channel = make_channel(personas.a, "Customer Services")
    conversation = make_conversation(personas.a, channel=channel, messages=n)
    # Every other message is ours, sent by a person, and each inbound has its own author.
    agent = personas.a.user("agent")
    messages = list(Message.objects.filter(conversation=conversation))
    for i, message in enumerate(messages):
        if i % 2:
            message.direction, message.author, message.sent_by = "out", None, agent
        else:
            message.author = make_contact(personas.a)
    Message.objects.bulk_update(messages, ["direction", "author", "sent_by"])
    api = api_for(personas.a.members["agent"])

    with django_assert_max_num_queries(TIMELINE_QUERIES):
        response = api.get(f"{LIST}{conversation.pk}/messages/", {"page_size": 200})

    assert len(response.json()["results"]) == n


@pytest.mark.parametrize("n", [5, 100])
def test_replies_and_notes_queries_do_not_grow(personas, api_for, django_assert_max_num_queries, n):
    channel = make_channel(personas.a, "Customer Services")
    conversation = make_conversation(personas.a, channel=channel)
    org = personas.a.organisation
    people = [personas.a.user(r) for r in ("agent", "admin")]
    Reply.objects.bulk_create(
        Reply(organisation=org, conversation=conversation, channel=channel, author=people[i % 2], text=f"r{i}",
              state=ReplyState.SENT, approved_by=people[(i + 1) % 2])
        for i in range(n)
    )
    notes = Note.objects.bulk_create(
        Note(organisation=org, conversation=conversation, author=people[i % 2], text=f"n{i}") for i in range(n)
    )
    for note in notes:
        note.mentions.add(*people)
    api = api_for(personas.a.members["agent"])

    with django_assert_max_num_queries(TIMELINE_QUERIES):
        replies = api.get(f"{LIST}{conversation.pk}/replies/", {"page_size": 200})
    with django_assert_max_num_queries(TIMELINE_QUERIES):
        notes_response = api.get(f"{LIST}{conversation.pk}/notes/", {"page_size": 200})

    assert len(replies.json()["results"]) == n
    assert len(notes_response.json()["results"]) == n
    assert len(notes_response.json()["results"][0]["mentions"]) == 2


@pytest.mark.parametrize("n", [5, 100])
@pytest.mark.parametrize("params", [{}, {"tag": "placeholder"}, {"q": "bins"}])
def test_inbox_page_queries_do_not_grow(personas, login, client, django_assert_max_num_queries, n, params):
    made = _conversations(personas, n)
    if params.get("tag"):
        params = {**params, "tag": made[0].tags.first().pk}
    login(personas.a.members["agent"])
    assert client.get("/inbox/").status_code == 200  # the first request of the session records last_seen

    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get("/inbox/", params)

    assert response.status_code == 200
    assert response.content.count(b'class="inbox-row') >= (n // 2 if "tag" in params else 1)
