"""/api/v1/conversations/ and /api/v1/saved-replies/: the inbox over the API, scoped and role-checked like the pages."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import yaml
from django.utils import timezone

from accounts.models import Notification
from audit.models import AuditEvent, EventType
from inbox.models import (
    Conversation,
    ConversationStatus,
    Message,
    Note,
    Priority,
    Reply,
    ReplyState,
    SavedReply,
    Tag,
)
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"
SAVED = "/api/v1/saved-replies/"


def url(conversation, action: str = "") -> str:
    pk = getattr(conversation, "pk", conversation)
    return f"{LIST}{pk}/{action + '/' if action else ''}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def events(conversation, event_type):
    return list(AuditEvent.objects.for_target("inbox.conversation", conversation.pk).filter(event_type=event_type))


def _is_json_400(response, field: str | None = None) -> dict:
    assert response.status_code == 400, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "detail" in body
    if field:
        assert field in body.get("errors", {}), body
    return body


@pytest.fixture
def cs(personas):
    """A channel of Customer Services (the agent's department)."""
    return make_channel(personas.a, "Customer Services")


@pytest.fixture
def comms(personas):
    """A channel of Communications (the manager's and viewer's department)."""
    return make_channel(personas.a, "Communications", platform="mastodon")


@pytest.fixture
def agent_api(personas, api_for):
    return api_for(personas.a.members["agent"])


@pytest.fixture
def admin_api(personas, api_for):
    return api_for(personas.a.members["admin"])


# ------------------------------------------------------------------------------------------- scope
def test_list_shows_only_the_members_organisation_and_departments(personas, api_for, cs, comms):
    mine = make_conversation(personas.a, channel=cs)
    other_department = make_conversation(personas.a, channel=comms)
    other_org = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))

    assert ids(api_for(personas.a.members["agent"]).get(LIST)) == [mine.pk]
    assert sorted(ids(api_for(personas.a.members["admin"]).get(LIST))) == sorted([mine.pk, other_department.pk])
    assert ids(api_for(personas.a.members["viewer"]).get(LIST)) == [other_department.pk]
    assert ids(api_for(personas.outsider).get(LIST)) == [other_org.pk]


def test_detail_of_another_organisations_conversation_is_404(personas, api_for):
    other = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))

    response = api_for(personas.a.members["admin"]).get(url(other))

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("action", ["", "messages", "replies", "notes"])
def test_agent_cannot_read_another_departments_conversation(personas, agent_api, comms, action):
    conversation = make_conversation(personas.a, channel=comms)

    response = agent_api.get(url(conversation, action))

    assert response.status_code == 404


@pytest.mark.parametrize("action", ["assign", "status", "tags", "priority", "notes", "replies"])
def test_writing_to_another_organisations_conversation_is_404_and_changes_nothing(personas, admin_api, action):
    other = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))
    body = {
        "assign": {"assignee": "me"},
        "status": {"status": "closed"},
        "tags": {"tags": ["x"]},
        "priority": {"priority": "urgent"},
        "notes": {"text": "hello"},
        "replies": {"text": "hello"},
    }[action]

    response = admin_api.post(url(other, action), body, format="json")

    assert response.status_code == 404
    other.refresh_from_db()
    assert (other.status, other.priority, other.assignee_id) == ("open", Priority.NORMAL, None)
    assert not other.tags.exists()
    assert not Note.objects.filter(conversation=other).exists()
    assert not Reply.objects.filter(conversation=other).exists()


@pytest.mark.parametrize("pk", ["abc", "-1", "0", "99999999999999999999999", "1.5"])
@pytest.mark.parametrize("action", ["", "messages", "replies", "notes"])
def test_bad_conversation_ids_are_404_json(admin_api, pk, action):
    response = admin_api.get(f"{LIST}{pk}/{action + '/' if action else ''}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("pk", ["abc", "99999999999999999999999"])
def test_bad_ids_on_writes_are_404_json(admin_api, pk):
    response = admin_api.post(f"{LIST}{pk}/status/", {"status": "closed"}, format="json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# ----------------------------------------------------------------------------------------- shapes
def test_detail_carries_contact_channel_department_assignee_tags_and_service_levels(personas, admin_api, cs):
    contact = make_contact(personas.a, name="Jane Marple", handle="@jane")
    due = timezone.now() - timedelta(minutes=10)
    conversation = make_conversation(
        personas.a, channel=cs, contact=contact, priority=Priority.HIGH, flagged=True, sentiment=-0.7,
        risk_terms=["urgent"], first_response_due_at=due, resolution_due_at=due + timedelta(hours=8),
        assignee=personas.a.user("agent"),
    )
    conversation.tags.add(Tag.objects.create(organisation=personas.a.organisation, name="Potholes"))

    body = admin_api.get(url(conversation)).json()

    assert body["id"] == conversation.pk
    assert body["contact"]["name"] == "Jane Marple"
    assert body["contact"]["handle"] == "@jane"
    assert body["channel"] == {"id": cs.pk, "platform": "x", "handle": cs.handle, "display_name": cs.display_name}
    assert body["department"] == {"id": personas.a.departments["Customer Services"].pk, "name": "Customer Services"}
    assert body["assignee"]["id"] == personas.a.user("agent").pk
    assert body["assignee"]["email"] == "agent@alpha.example"
    assert [t["name"] for t in body["tags"]] == ["Potholes"]
    assert (body["priority"], body["priority_label"]) == (2, "High")
    assert (body["status"], body["flagged"], body["sentiment"]) == ("open", True, -0.7)
    assert body["risk_terms"] == ["urgent"]
    assert body["first_response_due_at"] is not None
    assert body["overdue"] is True


@pytest.mark.parametrize("zone", ["UTC", "Europe/London", "America/St_Johns"])
@pytest.mark.parametrize("assigned", [True, False])
def test_fast_conversation_representation_equals_drfs_field_by_field_output(personas, cs, assigned, zone):
    from inbox.serializers import REPRESENTATION_COLUMNS, ConversationSerializer, represent_rows

    conversation = make_conversation(
        personas.a, channel=cs, assignee=personas.a.user("agent") if assigned else None, sentiment=-0.25,
        first_response_due_at=timezone.now() + timedelta(hours=1), risk_terms=["threat"],
    )
    conversation.tags.add(*[Tag.objects.create(organisation=personas.a.organisation, name=n) for n in ("b", "A")])
    row = Conversation.objects.for_list().get(pk=conversation.pk)
    serializer = ConversationSerializer()

    values = Conversation.objects.filter(pk=conversation.pk).values(*REPRESENTATION_COLUMNS)

    with timezone.override(zone):  # the time stamps in the current zone, "Z" only for UTC, as DRF writes them
        fast = serializer.to_representation(row)
        listed = represent_rows(list(values))  # the list's path: plain values, tags read in one query
        generic = dict(serializer.generic_representation(row))

    assert fast == generic
    assert listed == [generic]
    assert list(fast) == list(ConversationSerializer().fields)
    assert [t["name"] for t in fast["tags"]] == ["A", "b"]
    offset = timezone.localtime(row.created_at, timezone=ZoneInfo(zone)).utcoffset()
    assert fast["created_at"].endswith("Z") == (not offset)


def test_unassigned_conversation_has_null_assignee(personas, admin_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    body = admin_api.get(url(conversation)).json()

    assert body["assignee"] is None
    assert body["overdue"] is False
    assert body["tags"] == []


# ---------------------------------------------------------------------------------------- filters
@pytest.fixture
def spread(personas, cs):
    """Conversations of Customer Services that differ in one way each."""
    now = timezone.now()
    mastodon = make_channel(personas.a, "Customer Services", platform="mastodon")
    agent = personas.a.user("agent")
    tag = Tag.objects.create(organisation=personas.a.organisation, name="Bins")
    c = {
        "plain": make_conversation(personas.a, channel=cs, at=now - timedelta(hours=5)),
        "pending": make_conversation(personas.a, channel=cs, status=ConversationStatus.PENDING, at=now - timedelta(hours=4)),
        "closed": make_conversation(personas.a, channel=cs, status=ConversationStatus.CLOSED, at=now - timedelta(hours=3)),
        "mastodon": make_conversation(personas.a, channel=mastodon, at=now - timedelta(hours=2)),
        "mine": make_conversation(personas.a, channel=cs, assignee=agent, at=now - timedelta(hours=1)),
        "urgent": make_conversation(personas.a, channel=cs, priority=Priority.URGENT, at=now - timedelta(minutes=50)),
        "flagged": make_conversation(personas.a, channel=cs, flagged=True, at=now - timedelta(minutes=40)),
        "overdue": make_conversation(
            personas.a, channel=cs, first_response_due_at=now - timedelta(minutes=1), at=now - timedelta(minutes=30)
        ),
        "pothole": make_conversation(personas.a, channel=cs, text="A pothole on Elm Street", at=now - timedelta(minutes=20)),
        "marple": make_conversation(
            personas.a, channel=cs, contact=make_contact(personas.a, name="Jane Marple"), at=now - timedelta(minutes=10)
        ),
        "tagged": make_conversation(personas.a, channel=cs, at=now - timedelta(minutes=5)),
    }
    c["tagged"].tags.add(tag)
    c["tag"] = tag
    c["mastodon_channel"] = mastodon
    return c


def _named(spread, response) -> set[str]:
    by_id = {v.pk: k for k, v in spread.items() if isinstance(v, Conversation)}
    return {by_id[i] for i in ids(response)}


OPEN_ONES = {"plain", "mastodon", "mine", "urgent", "flagged", "overdue", "pothole", "marple", "tagged"}


def test_default_lists_open_conversations_and_status_filters_the_rest(agent_api, spread):
    assert _named(spread, agent_api.get(LIST)) == OPEN_ONES
    assert _named(spread, agent_api.get(LIST, {"status": "pending"})) == {"pending"}
    assert _named(spread, agent_api.get(LIST, {"status": "closed"})) == {"closed"}
    assert _named(spread, agent_api.get(LIST, {"status": "pending,closed"})) == {"pending", "closed"}
    assert _named(spread, agent_api.get(f"{LIST}?status=pending&status=closed")) == {"pending", "closed"}
    assert _named(spread, agent_api.get(LIST, {"status": "all"})) == OPEN_ONES | {"pending", "closed"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"platform": "mastodon"}, {"mastodon"}),
        ({"assignee": "me"}, {"mine"}),
        ({"priority": "urgent"}, {"urgent"}),
        ({"priority": "3"}, {"urgent"}),
        ({"flagged": "true"}, {"flagged"}),
        ({"overdue": "true"}, {"overdue"}),
        ({"q": "pothole"}, {"pothole"}),
        ({"q": "ELM street"}, {"pothole"}),
        ({"q": "marple"}, {"marple"}),
        ({"q": "nothing like this"}, set()),
    ],
)
def test_each_filter_narrows_the_list(agent_api, spread, params, expected):
    assert _named(spread, agent_api.get(LIST, params)) == expected


def test_filters_by_channel_tag_assignee_id_and_unassigned(personas, agent_api, spread):
    assert _named(spread, agent_api.get(LIST, {"channel": spread["mastodon_channel"].pk})) == {"mastodon"}
    assert _named(spread, agent_api.get(LIST, {"tag": spread["tag"].pk})) == {"tagged"}
    assert _named(spread, agent_api.get(LIST, {"assignee": personas.a.user("agent").pk})) == {"mine"}
    assert _named(spread, agent_api.get(LIST, {"assignee": "unassigned"})) == OPEN_ONES - {"mine"}
    assert _named(spread, agent_api.get(LIST, {"flagged": "false"})) == OPEN_ONES - {"flagged"}
    assert _named(spread, agent_api.get(LIST, {"overdue": "false"})) == OPEN_ONES - {"overdue"}


def test_department_filter(personas, admin_api, cs, comms):
    in_cs = make_conversation(personas.a, channel=cs)
    in_comms = make_conversation(personas.a, channel=comms)

    assert ids(admin_api.get(LIST, {"department": personas.a.departments["Communications"].pk})) == [in_comms.pk]
    assert ids(admin_api.get(LIST, {"department": personas.a.departments["Customer Services"].pk})) == [in_cs.pk]


def test_filters_combine(agent_api, spread):
    assert _named(spread, agent_api.get(LIST, {"platform": "x", "priority": "urgent", "status": "all"})) == {"urgent"}
    assert _named(spread, agent_api.get(LIST, {"platform": "mastodon", "priority": "urgent"})) == set()


def test_oldest_sort_puts_flagged_first_then_longest_waiting(agent_api, spread):
    order = ids(agent_api.get(LIST))

    assert order[0] == spread["flagged"].pk
    rest = [spread[n] for n in OPEN_ONES - {"flagged"}]
    assert order[1:] == [c.pk for c in sorted(rest, key=lambda c: c.queue_at)]


def test_newest_sort_is_latest_message_first(agent_api, spread):
    order = ids(agent_api.get(LIST, {"sort": "newest"}))

    expected = sorted((spread[n] for n in OPEN_ONES), key=lambda c: c.last_message_at, reverse=True)
    assert order == [c.pk for c in expected]


def test_counts_per_status_follow_the_other_filters(agent_api, spread):
    body = agent_api.get(LIST).json()
    assert body["counts"] == {"open": len(OPEN_ONES), "pending": 1, "closed": 1}

    body = agent_api.get(LIST, {"platform": "mastodon", "status": "closed"}).json()
    assert body["counts"] == {"open": 1, "pending": 0, "closed": 0}
    assert body["results"] == []

    assert agent_api.get(LIST, {"counts": "false"}).json()["counts"] is None


def test_counts_past_the_limit_are_the_limit_and_listed_as_over_it(agent_api, spread, monkeypatch):
    # Each status is counted up to filters.COUNT_LIMIT (1,000; 1 here, so the test stays small).
    monkeypatch.setattr("inbox.filters.COUNT_LIMIT", 1)
    body = agent_api.get(LIST).json()
    assert len(OPEN_ONES) > 1
    assert body["counts"] == {"open": 1, "pending": 1, "closed": 1}
    assert body["counts_over_limit"] == ["open"]
    assert agent_api.get(LIST, {"counts": "false"}).json()["counts_over_limit"] is None


def test_a_conversation_with_several_of_the_filtered_tags_is_listed_and_counted_once(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)
    tags = [Tag.objects.create(organisation=personas.a.organisation, name=n) for n in ("Bins", "Roads")]
    conversation.tags.add(*tags)

    body = agent_api.get(f"{LIST}?tag={tags[0].pk}&tag={tags[1].pk}").json()

    assert [row["id"] for row in body["results"]] == [conversation.pk]
    assert body["counts"] == {"open": 1, "pending": 0, "closed": 0}


def test_counts_do_not_include_other_departments(personas, agent_api, cs, comms):
    make_conversation(personas.a, channel=cs)
    make_conversation(personas.a, channel=comms)

    assert agent_api.get(LIST).json()["counts"] == {"open": 1, "pending": 0, "closed": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"priority": "extreme"}, "priority"),
        ({"priority": "9"}, "priority"),
        ({"assignee": "bob"}, "assignee"),
        ({"flagged": "maybe"}, "flagged"),
        ({"overdue": "2"}, "overdue"),
        ({"q": "x"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "random"}, "sort"),
        ({"platform": "myspace"}, "platform"),
        ({"channel": "abc"}, "channel"),
        ({"channel": "99999999999999999999999"}, "channel"),
        ({"tag": "1;drop"}, "tag"),
        ({"department": "x"}, "department"),
        ({"assignee": "99999999999999999999999"}, "assignee"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "!!!!"}, "cursor"),
    ],
)
def test_bad_filter_values_are_400_json_naming_the_field(agent_api, params, field):
    _is_json_400(agent_api.get(LIST, params), field)


# ------------------------------------------------------------------------------------------ paging
def _walk(api, first_url, params=None, limit=50):
    seen, pages, next_url = [], 0, None
    response = api.get(first_url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        pages += 1
        if pages > 1:
            assert body.get("counts") is None
        next_url = body["next"]
        if not next_url:
            return seen, pages
        assert pages < limit, "paging does not end"
        response = api.get(next_url)


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_walking_next_links_lists_every_conversation_once_in_order(personas, agent_api, cs, sort):
    base = timezone.now() - timedelta(days=1)
    conversations = [
        make_conversation(personas.a, channel=cs, at=base + timedelta(minutes=i % 3), flagged=(i % 4 == 0))
        for i in range(9)
    ]

    seen, pages = _walk(agent_api, LIST, {"page_size": 2, "sort": sort})

    if sort == "oldest":
        expected = sorted(conversations, key=lambda c: (not c.flagged, c.queue_at, c.pk))
    else:
        expected = sorted(conversations, key=lambda c: (c.last_message_at, c.pk), reverse=True)
    assert seen == [c.pk for c in expected]
    assert pages == 5


def test_next_link_keeps_the_filters(personas, agent_api, cs):
    for _ in range(3):
        make_conversation(personas.a, channel=cs, priority=Priority.HIGH)
    make_conversation(personas.a, channel=cs)

    body = agent_api.get(LIST, {"page_size": 2, "priority": "high"}).json()

    query = parse_qs(urlsplit(body["next"]).query)
    assert query["priority"] == ["high"]
    assert query["page_size"] == ["2"]
    assert len(agent_api.get(body["next"]).json()["results"]) == 1


def test_a_cursor_of_the_other_sort_is_400(personas, agent_api, cs):
    for _ in range(3):
        make_conversation(personas.a, channel=cs)
    next_url = agent_api.get(LIST, {"page_size": 1}).json()["next"]
    cursor = parse_qs(urlsplit(next_url).query)["cursor"][0]

    _is_json_400(agent_api.get(LIST, {"cursor": cursor, "sort": "newest"}), "cursor")


def test_a_cursor_does_not_leak_another_organisations_rows(personas, agent_api, api_for, cs):
    for _ in range(3):
        make_conversation(personas.a, channel=cs)
    theirs = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))
    alpha_next = agent_api.get(LIST, {"page_size": 1, "sort": "newest"}).json()["next"]

    assert ids(api_for(personas.outsider).get(alpha_next)) in ([], [theirs.pk])


# ---------------------------------------------------------------------------------------- messages
def test_messages_are_oldest_first_and_keyset_paged(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs, messages=5)
    make_conversation(personas.a, channel=cs, messages=2)  # another conversation's messages stay out

    seen, pages = _walk(agent_api, url(conversation, "messages"), {"page_size": 2})

    expected = Message.objects.filter(conversation=conversation).order_by("created_at", "id")
    assert seen == [m.pk for m in expected]
    assert pages == 3


def test_message_shape(personas, agent_api, cs):
    contact = make_contact(personas.a, name="Jane Marple")
    conversation = make_conversation(personas.a, channel=cs, contact=contact, text="The bins were not collected")

    [message] = agent_api.get(url(conversation, "messages")).json()["results"]

    assert message["text"] == "The bins were not collected"
    assert message["direction"] == "in"
    assert message["author"]["name"] == "Jane Marple"
    assert message["sent_by"] is None
    assert {"created_at", "received_at", "sentiment", "flagged", "url", "kind", "platform_message_id"} <= set(message)


@pytest.mark.parametrize("cursor", ["garbage", "W1s", "WyIyMDI0LTAxLTAxIiwgMV0=", "WyJ4IiwgMV0="])
def test_bad_message_cursor_is_400(personas, agent_api, cs, cursor):
    conversation = make_conversation(personas.a, channel=cs, messages=3)

    _is_json_400(agent_api.get(url(conversation, "messages"), {"cursor": cursor}), "cursor")


# ----------------------------------------------------------------------------------------- replies
def test_replies_list_shows_each_reply_with_its_state(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)
    sent = Reply.objects.create(
        organisation=personas.a.organisation, conversation=conversation, channel=cs, author=personas.a.user("agent"),
        text="Sorry to hear that", state=ReplyState.SENT, platform_id="p-1",
    )
    failed = Reply.objects.create(
        organisation=personas.a.organisation, conversation=conversation, channel=cs, author=personas.a.user("agent"),
        text="Second try", state=ReplyState.FAILED, last_error="The post was deleted",
    )

    rows = agent_api.get(url(conversation, "replies")).json()["results"]

    assert [r["id"] for r in rows] == [sent.pk, failed.pk]
    assert rows[0]["state"] == "sent" and rows[0]["platform_id"] == "p-1"
    assert rows[1]["state"] == "failed" and rows[1]["last_error"] == "The post was deleted"
    assert rows[0]["author"]["email"] == "agent@alpha.example"


def test_agent_replies_and_gets_201_with_the_reply_and_its_state(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, "replies"), {"text": "We are on it", "mode": "public"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    reply = Reply.objects.get(conversation=conversation)
    assert body["id"] == reply.pk
    assert body["text"] == "We are on it"
    assert body["state"] in (ReplyState.PENDING, ReplyState.AWAITING_APPROVAL, ReplyState.SENDING, ReplyState.SENT)
    assert body["state"] == reply.state or reply.state != ReplyState.PENDING
    assert body["author"]["id"] == personas.a.user("agent").pk
    assert AuditEvent.objects.filter(event_type=EventType.REPLY_CREATED).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"text": "hello", "mode": "carrier pigeon"}, "mode"), ({}, "text"), ({"text": ["a"]}, "text")],
)
def test_bad_reply_input_is_400(personas, agent_api, cs, body, field):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "replies"), body, format="json"), field)
    assert not Reply.objects.filter(conversation=conversation).exists()


def test_an_empty_reply_is_400(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "replies"), {"text": "   "}, format="json"))
    assert not Reply.objects.filter(conversation=conversation).exists()


@pytest.mark.parametrize("role", ["viewer", "manager", "editor", "approver"])
@pytest.mark.parametrize("action", ["replies", "notes", "assign", "status", "tags", "priority"])
def test_roles_without_work_inbox_cannot_write(personas, api_for, comms, role, action):
    conversation = make_conversation(personas.a, channel=comms)
    body = {
        "replies": {"text": "hello"}, "notes": {"text": "hello"}, "assign": {"assignee": "me"},
        "status": {"status": "closed"}, "tags": {"tags": ["x"]}, "priority": {"priority": "urgent"},
    }[action]

    response = api_for(personas.a.members[role]).post(url(conversation, action), body, format="json")

    assert response.status_code == 403
    assert "detail" in response.json()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority, conversation.assignee_id) == ("open", Priority.NORMAL, None)
    assert not Reply.objects.exists() and not Note.objects.exists()


# ------------------------------------------------------------------------------------------- notes
def test_agent_adds_a_note_that_mentions_a_colleague(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, "notes"), {"text": "Over to you @admin"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    note = Note.objects.get(conversation=conversation)
    assert body["id"] == note.pk
    assert body["text"] == "Over to you @admin"
    assert [m["email"] for m in body["mentions"]] == ["admin@alpha.example"]
    assert Notification.objects.filter(user=personas.a.user("admin"), link=f"/inbox/{conversation.pk}/").count() == 1
    assert len(events(conversation, EventType.NOTE_ADDED)) == 1


def test_notes_are_listed_oldest_first(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)
    for text in ["first", "second", "third"]:
        agent_api.post(url(conversation, "notes"), {"text": text}, format="json")

    seen, _ = _walk(agent_api, url(conversation, "notes"), {"page_size": 2})

    assert [Note.objects.get(pk=i).text for i in seen] == ["first", "second", "third"]


def test_an_empty_note_is_400(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "notes"), {"text": "  "}, format="json"), "text")
    assert not Note.objects.exists()


# -------------------------------------------------------------------------------------- assignment
def test_assign_to_me_then_to_a_colleague_then_unassign(personas, admin_api, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)
    agent = personas.a.user("agent")

    response = agent_api.post(url(conversation, "assign"), {"assignee": "me"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["id"] == agent.pk

    admin = personas.a.user("admin")
    response = agent_api.post(url(conversation, "assign"), {"assignee": admin.pk}, format="json")
    assert response.json()["assignee"]["id"] == admin.pk

    response = agent_api.post(url(conversation, "assign"), {"assignee": None}, format="json")
    assert response.json()["assignee"] is None
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert len(events(conversation, EventType.CONVERSATION_ASSIGNED)) == 3


def test_assign_to_a_department_moves_the_conversation(personas, admin_api, cs):
    conversation = make_conversation(personas.a, channel=cs)
    comms_department = personas.a.departments["Communications"]

    response = admin_api.post(url(conversation, "assign"), {"department": comms_department.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["department"]["id"] == comms_department.pk
    conversation.refresh_from_db()
    assert conversation.department_id == comms_department.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "assignee"),
        ({"assignee": "someone"}, "assignee"),
        ({"assignee": True}, "assignee"),
        ({"assignee": -3}, "assignee"),
        ({"assignee": [1]}, "assignee"),
        ({"department": "x"}, "department"),
        ({"department": 99999999999999999999}, "department"),
    ],
)
def test_bad_assignment_input_is_400(personas, agent_api, cs, body, field):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "assign"), body, format="json"), field)


def test_cannot_assign_to_another_organisations_person_or_department(personas, admin_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(admin_api.post(url(conversation, "assign"), {"assignee": personas.outsider.user_id}, format="json"), "assignee")
    _is_json_400(
        admin_api.post(url(conversation, "assign"), {"department": personas.b.departments["Digital Desk"].pk}, format="json"),
        "department",
    )
    conversation.refresh_from_db()
    assert (conversation.assignee_id, conversation.department_id) == (None, cs.department_id)


def test_cannot_assign_to_someone_outside_the_department(personas, admin_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    # The editor works in Communications; the conversation belongs to Customer Services.
    _is_json_400(admin_api.post(url(conversation, "assign"), {"assignee": personas.a.user("editor").pk}, format="json"))


# ---------------------------------------------------------------------------- status, tags, priority
def test_close_and_reopen(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, "status"), {"status": "closed"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closed_at"] is not None

    response = agent_api.post(url(conversation, "status"), {"status": "open"}, format="json")
    assert response.json()["status"] == "open"
    assert len(events(conversation, EventType.CONVERSATION_STATUS_CHANGED)) == 2


@pytest.mark.parametrize("body", [{"status": "archived"}, {}, {"status": None}, {"status": ["closed"]}])
def test_bad_status_is_400(personas, agent_api, cs, body):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "status"), body, format="json"), "status")
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_replace_tags_then_add_and_remove(personas, agent_api, cs):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, "tags"), {"tags": ["Bins", "potholes"]}, format="json")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["tags"]] == ["Bins", "potholes"]

    response = agent_api.post(url(conversation, "tags"), {"add": ["Roads"], "remove": ["bins"]}, format="json")
    assert [t["name"] for t in response.json()["tags"]] == ["potholes", "Roads"]

    response = agent_api.post(url(conversation, "tags"), {"tags": []}, format="json")
    assert response.json()["tags"] == []
    assert len(events(conversation, EventType.CONVERSATION_TAGS_CHANGED)) == 3


@pytest.mark.parametrize(
    "body", [{}, {"tags": "Bins"}, {"tags": ["a"], "add": ["b"]}, {"tags": [{"name": "x"}]}, {"tags": ["x" * 61]}]
)
def test_bad_tags_are_400(personas, agent_api, cs, body):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "tags"), body, format="json"))
    assert not conversation.tags.exists()


@pytest.mark.parametrize(("value", "stored"), [("urgent", 3), ("Low", 0), (2, 2), ("2", 2)])
def test_set_priority_by_name_or_number(personas, agent_api, cs, value, stored):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, "priority"), {"priority": value}, format="json")

    assert response.status_code == 200
    assert response.json()["priority"] == stored
    conversation.refresh_from_db()
    assert conversation.priority == stored


@pytest.mark.parametrize("value", ["extreme", 7, -1, True, None, 1.5])
def test_bad_priority_is_400(personas, agent_api, cs, value):
    conversation = make_conversation(personas.a, channel=cs)

    _is_json_400(agent_api.post(url(conversation, "priority"), {"priority": value}, format="json"), "priority")


@pytest.mark.parametrize("action", ["replies", "notes", "assign", "status", "tags", "priority"])
@pytest.mark.parametrize("body", ['{"text": ', "not json", "[]", "null", '"closed"', "\xff\xfe"])
def test_malformed_or_non_object_json_is_400_never_500(personas, agent_api, cs, action, body):
    conversation = make_conversation(personas.a, channel=cs)

    response = agent_api.post(url(conversation, action), data=body.encode("latin-1"), content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


# ----------------------------------------------------------------------------------- saved replies
@pytest.fixture
def saved(personas):
    org = personas.a.organisation
    return {
        "everyone": SavedReply.objects.create(organisation=org, title="Thanks", body="Thank you {contact_name}."),
        "cs": SavedReply.objects.create(
            organisation=org, department=personas.a.departments["Customer Services"], title="Bins", body="Bins text"
        ),
        "comms": SavedReply.objects.create(
            organisation=org, department=personas.a.departments["Communications"], title="Press", body="Press text"
        ),
        "theirs": SavedReply.objects.create(organisation=personas.b.organisation, title="Other", body="Other text"),
    }


def _titles(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["title"] for row in response.json()["results"]}


def test_saved_replies_listed_for_the_members_departments_and_everyone(personas, api_for, saved):
    assert _titles(api_for(personas.a.members["agent"]).get(SAVED)) == {"Thanks", "Bins"}
    assert _titles(api_for(personas.a.members["viewer"]).get(SAVED)) == {"Thanks", "Press"}
    assert _titles(api_for(personas.a.members["admin"]).get(SAVED)) == {"Thanks", "Bins", "Press"}
    assert _titles(api_for(personas.outsider).get(SAVED)) == {"Other"}


def test_saved_replies_for_one_department(personas, admin_api, saved):
    response = admin_api.get(SAVED, {"department": personas.a.departments["Communications"].pk})

    assert _titles(response) == {"Thanks", "Press"}


@pytest.mark.parametrize("value", ["x", "-1", "99999999999999999999999"])
def test_bad_saved_reply_department_filter_is_400(personas, admin_api, saved, value):
    _is_json_400(admin_api.get(SAVED, {"department": value}), "department")


def test_another_organisations_saved_reply_is_404(personas, admin_api, saved):
    theirs = saved["theirs"]

    assert admin_api.get(f"{SAVED}{theirs.pk}/").status_code == 404
    assert admin_api.patch(f"{SAVED}{theirs.pk}/", {"title": "Mine now"}, format="json").status_code == 404
    assert admin_api.delete(f"{SAVED}{theirs.pk}/").status_code == 404
    assert SavedReply.objects.get(pk=theirs.pk).title == "Other"


def test_manager_creates_changes_and_deletes_a_saved_reply_of_their_department(personas, api_for):
    api = api_for(personas.a.members["manager"])
    comms_department = personas.a.departments["Communications"]

    response = api.post(SAVED, {"title": "Roadworks", "body": "Hello {contact_name}", "department": comms_department.pk},
                        format="json")
    assert response.status_code == 201, response.content
    created = SavedReply.objects.get(pk=response.json()["id"])
    assert (created.title, created.department_id, created.created_by_id) == (
        "Roadworks", comms_department.pk, personas.a.user("manager").pk,
    )
    assert response.json()["department_name"] == "Communications"

    response = api.patch(f"{SAVED}{created.pk}/", {"body": "Hi {contact_name}"}, format="json")
    assert response.status_code == 200, response.content
    created.refresh_from_db()
    assert (created.title, created.body) == ("Roadworks", "Hi {contact_name}")

    assert api.delete(f"{SAVED}{created.pk}/").status_code == 204
    assert not SavedReply.objects.filter(pk=created.pk).exists()
    assert AuditEvent.objects.filter(event_type=EventType.SAVED_REPLY_CHANGED).count() == 3


def test_manager_cannot_write_saved_replies_of_other_departments_or_the_whole_organisation(personas, api_for, saved):
    api = api_for(personas.a.members["manager"])
    cs_department = personas.a.departments["Customer Services"]

    assert api.post(SAVED, {"title": "A", "body": "B", "department": cs_department.pk}, format="json").status_code == 403
    assert api.post(SAVED, {"title": "A", "body": "B", "department": None}, format="json").status_code == 403
    assert api.patch(f"{SAVED}{saved['everyone'].pk}/", {"title": "Mine"}, format="json").status_code == 403
    # Moving their own department's reply to a department they do not manage is refused too.
    response = api.patch(f"{SAVED}{saved['comms'].pk}/", {"department": cs_department.pk}, format="json")
    assert response.status_code == 403
    assert SavedReply.objects.get(pk=saved["comms"].pk).department_id == personas.a.departments["Communications"].pk


def test_admin_creates_an_organisation_wide_saved_reply(personas, admin_api):
    response = admin_api.post(SAVED, {"title": "Hello", "body": "Hello there"}, format="json")

    assert response.status_code == 201
    assert response.json()["department"] is None


@pytest.mark.parametrize("role", ["agent", "viewer", "editor", "approver"])
def test_members_without_manage_inbox_cannot_change_saved_replies(personas, api_for, saved, role):
    api = api_for(personas.a.members[role])
    mine = saved["cs"] if role == "agent" else saved["comms"]

    assert api.post(SAVED, {"title": "A", "body": "B"}, format="json").status_code == 403
    assert api.patch(f"{SAVED}{mine.pk}/", {"title": "Changed"}, format="json").status_code == 403
    assert api.delete(f"{SAVED}{mine.pk}/").status_code == 403
    assert SavedReply.objects.get(pk=mine.pk).title == mine.title


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "text"}, "title"),
        ({"title": "x" * 121, "body": "text"}, "title"),
        ({"title": "Title"}, "body"),
        ({"title": "Title", "body": "Hello {unknown}"}, "body"),
        ({"title": "Thanks", "body": "duplicate title"}, "title"),
        ({"title": "T", "body": "B", "department": 99999999}, "department"),
        ({"title": "T", "body": "B", "department": "x"}, "department"),
    ],
)
def test_bad_saved_reply_input_is_400(personas, admin_api, saved, body, field):
    before = SavedReply.objects.count()

    _is_json_400(admin_api.post(SAVED, body, format="json"), field)
    assert SavedReply.objects.count() == before


def test_saved_reply_of_another_organisations_department_is_400(personas, admin_api):
    body = {"title": "T", "body": "B", "department": personas.b.departments["Digital Desk"].pk}

    _is_json_400(admin_api.post(SAVED, body, format="json"), "department")


# ------------------------------------------------------------------------------------------ schema
def test_schema_documents_the_inbox_endpoints(db, client):
    document = yaml.safe_load(client.get("/api/schema/").content)

    paths = document["paths"]
    for path, methods in {
        "/api/v1/conversations/": {"get"},
        "/api/v1/conversations/{id}/": {"get"},
        "/api/v1/conversations/{id}/messages/": {"get"},
        "/api/v1/conversations/{id}/replies/": {"get", "post"},
        "/api/v1/conversations/{id}/notes/": {"get", "post"},
        "/api/v1/conversations/{id}/assign/": {"post"},
        "/api/v1/conversations/{id}/status/": {"post"},
        "/api/v1/conversations/{id}/tags/": {"post"},
        "/api/v1/conversations/{id}/priority/": {"post"},
        "/api/v1/saved-replies/": {"get", "post"},
        "/api/v1/saved-replies/{id}/": {"get", "patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    names = {p["name"] for p in paths["/api/v1/conversations/"]["get"]["parameters"]}
    assert {"channel", "platform", "department", "status", "assignee", "tag", "priority", "flagged", "overdue", "q",
            "sort", "cursor", "page_size"} <= names


def test_no_counts_while_searching(personas, api_for):
    from tests.inbox_factories import make_conversation

    make_conversation(personas.a, text="The pothole on Elm Road is back")
    api = api_for(personas.a.members["admin"])
    body = api.get("/api/v1/conversations/", {"q": "pothole"}).json()
    assert len(body["results"]) == 1 and body["counts"] is None
    assert api.get("/api/v1/conversations/").json()["counts"]["open"] == 1
