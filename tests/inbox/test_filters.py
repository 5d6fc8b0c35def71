"""inbox.filters edge cases the list and API share."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox.filters import MAX_ID, ConversationFilter, FilterError, count_label, status_counts
from inbox.models import Conversation, ConversationStatus, Tag
from tests.inbox_factories import make_channel, make_conversation

pytestmark = pytest.mark.django_db


def test_several_tags_match_a_conversation_once(personas):
    both = make_conversation(personas.a)
    one = make_conversation(personas.a, channel=both.channel)
    make_conversation(personas.a, channel=both.channel)
    bins = Tag.objects.create(organisation=personas.a.organisation, name="Bins")
    roads = Tag.objects.create(organisation=personas.a.organisation, name="Roads")
    both.tags.set([bins, roads])
    one.tags.set([roads])
    admin = personas.a.members["admin"]
    f = ConversationFilter.from_params({"tag": f"{bins.pk},{roads.pk}"})
    qs = f.apply(Conversation.objects.visible_to(admin), admin)
    rows, _ = f.page(qs)
    assert sorted(r.pk for r in rows) == sorted([both.pk, one.pk])
    assert status_counts(qs) == {"open": 2, "pending": 0, "closed": 0}


@pytest.mark.parametrize(
    "params, field",
    [({"status": "archived"}, "status"), ({"priority": "9"}, "priority"), ({"channel": "x"}, "channel"),
     ({"q": "a"}, "q"), ({"sort": "random"}, "sort"), ({"page_size": "0"}, "page_size"),
     ({"assignee": "someone"}, "assignee"), ({"flagged": "maybe"}, "flagged"), ({"platform": "myspace"}, "platform"),
     # Digits int() refuses although str.isdigit() accepts them.
     ({"channel": "²"}, "channel"), ({"assignee": "²"}, "assignee"), ({"page_size": "²"}, "page_size"),
     ({"priority": "²"}, "priority"), ({"tag": "1,²"}, "tag"),
     # One past PostgreSQL's bigint: a clear error, not a database error (a 500).
     ({"channel": str(MAX_ID + 1)}, "channel"), ({"tag": f"1,{MAX_ID + 1}"}, "tag"),
     ({"department": str(MAX_ID + 1)}, "department"), ({"assignee": str(MAX_ID + 1)}, "assignee")],
)
def test_bad_parameters_are_named(params, field):
    with pytest.raises(FilterError) as error:
        ConversationFilter.from_params(params)
    assert field in error.value.errors


def test_a_cursor_of_another_sort_or_garbage_is_refused(personas):
    admin = personas.a.members["admin"]
    for _ in range(3):
        make_conversation(personas.a)
    newest = ConversationFilter.from_params({"sort": "newest", "page_size": "1", "status": "all"})
    _, cursor = newest.page(newest.apply(Conversation.objects.visible_to(admin), admin))
    assert cursor
    for bad in (cursor, "garbage", "e30"):
        oldest = ConversationFilter.from_params({"cursor": bad})
        with pytest.raises(FilterError):
            oldest.page(oldest.apply(Conversation.objects.visible_to(admin), admin))


def test_the_largest_bigint_id_is_a_valid_filter_that_matches_nothing(personas):
    admin = personas.a.members["admin"]
    make_conversation(personas.a)
    for name in ("channel", "tag", "department", "assignee"):
        f = ConversationFilter.from_params({name: str(MAX_ID)})
        assert f.page(f.apply(Conversation.objects.visible_to(admin), admin)) == ([], None)


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_keyset_pages_cross_the_flagged_rows_and_ties_without_gaps(personas, sort):
    # Several flagged rows with equal times, so cursors land inside the flagged rows, on ties and on the
    # boundary between flagged and unflagged (each cursor condition starts with an index bound).
    admin = personas.a.members["admin"]
    channel = make_channel(personas.a)
    tie = timezone.now() - timedelta(minutes=30)
    for n in range(4):
        make_conversation(personas.a, channel=channel, at=tie, flagged=True)
        make_conversation(personas.a, channel=channel, at=tie)
        make_conversation(personas.a, channel=channel, at=tie - timedelta(minutes=n + 1), flagged=n % 2 == 0)
    visible = Conversation.objects.visible_to(admin)
    everything, none_left = ConversationFilter.from_params({"sort": sort, "page_size": "50"}).page(visible)
    assert none_left is None and len(everything) == 12
    for size in ("1", "2", "5"):
        seen, cursor = [], ""
        while True:
            f = ConversationFilter.from_params({"sort": sort, "page_size": size, "cursor": cursor})
            rows, cursor = f.page(f.apply(visible, admin))
            seen += rows
            if not cursor:
                break
        assert [r.pk for r in seen] == [r.pk for r in everything]
    if sort == "oldest":
        assert [r.flagged for r in everything] == [True] * 6 + [False] * 6


@pytest.mark.parametrize("key", [["oldest", 0, "2026-01-01T00:00:00+00:00", 2**63], ["newest", "2026-01-01T00:00:00", 1]])
def test_a_cursor_past_bigint_or_without_a_time_zone_is_refused(personas, key):
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    f = ConversationFilter.from_params({"cursor": cursor, "sort": key[0]})
    with pytest.raises(FilterError) as error:
        f.page(f.apply(Conversation.objects.visible_to(personas.a.members["admin"]), personas.a.members["admin"]))
    assert "cursor" in error.value.errors


def test_status_counts_stop_past_the_limit_in_one_query(personas, django_assert_num_queries):
    admin = personas.a.members["admin"]
    channel = make_channel(personas.a)
    for _ in range(4):
        make_conversation(personas.a, channel=channel)
    for _ in range(2):
        make_conversation(personas.a, channel=channel, status=ConversationStatus.PENDING)
    qs = Conversation.objects.visible_to(admin)
    with django_assert_num_queries(1):
        # Counted up to the limit + 1: "more than 2" open, exactly 2 pending.
        assert status_counts(qs, limit=2) == {"open": 3, "pending": 2, "closed": 0}
    assert status_counts(qs) == {"open": 4, "pending": 2, "closed": 0}
    assert status_counts(qs.none()) == {"open": 0, "pending": 0, "closed": 0}


def test_count_labels():
    assert count_label(1001) == "1,000+"
    assert count_label(1000) == "1,000"
    assert count_label(3, limit=2) == "2+"
    assert count_label(2312, limit=5000, more=True) == "2,312+"


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_a_search_pages_the_same_through_the_walk_and_the_index(personas, monkeypatch, django_assert_num_queries, sort):
    """ConversationFilter._search_page (walk the list's order, check each conversation) must give exactly the pages
    of the plain query; a walk that finds less than a page hands over to the plain query."""
    from inbox import filters

    channel = make_channel(personas.a)
    start = timezone.now() - timedelta(days=1)
    matching = []
    for i in range(12):
        text = "Pothole_50% on Mill Lane" if i % 3 else "Bins not collected"
        conversation = make_conversation(
            personas.a, channel=channel, text=text, at=start + timedelta(minutes=i), flagged=i in (4, 7)
        )
        if i % 3:
            matching.append(conversation)
    make_conversation(personas.a, channel=channel, text="pothole_50x, not a match: _ and % are not wildcards")
    admin = personas.a.members["admin"]

    def pages(walk: int, more: int | None = None) -> list[list[int]]:
        monkeypatch.setattr(filters, "SEARCH_WALK", walk)
        monkeypatch.setattr(filters, "SEARCH_WALK_MORE", walk if more is None else more)
        found, cursor = [], ""
        while True:
            f = ConversationFilter.from_params({"q": "POTHOLE_50%", "page_size": "3", "sort": sort, "cursor": cursor})
            rows, cursor = f.page(f.apply(Conversation.objects.visible_to(admin), admin))
            found.append([r.pk for r in rows])
            if not cursor:
                return found

    # walk=1: the plain query; walk=2, more=1000: the first walk finds less than a page, the second walks on.
    walked, plain, walked_on = pages(walk=1000), pages(walk=1), pages(walk=2, more=1000)
    assert walked == plain == walked_on
    assert sorted(pk for page in walked for pk in page) == sorted(c.pk for c in matching)
    # The walk answered (walk + the page's rows), without the plain query.
    monkeypatch.setattr(filters, "SEARCH_WALK", 1000)
    f = ConversationFilter.from_params({"q": "pothole_50%", "page_size": "3", "sort": sort})
    with django_assert_num_queries(2):
        rows, _ = f.page(f.apply(Conversation.objects.visible_to(admin), admin))
    assert len(rows) == 3
    # Walking on costs no query more: the second walk is inside the query that reads the rows.
    monkeypatch.setattr(filters, "SEARCH_WALK", 2)
    with django_assert_num_queries(2):
        rows_walked_on, _ = f.page(f.apply(Conversation.objects.visible_to(admin), admin))
    assert [r.pk for r in rows_walked_on] == [r.pk for r in rows]


def test_a_search_walk_keeps_the_other_filters_and_the_members_scope(personas):
    channel = make_channel(personas.a)
    mine = [make_conversation(personas.a, channel=channel, text="pothole", status="pending") for _ in range(3)]
    make_conversation(personas.a, channel=channel, text="pothole")  # open: another status
    other = make_channel(personas.b, next(iter(personas.b.departments)))
    make_conversation(personas.b, channel=other, text="pothole")  # another organisation
    admin = personas.a.members["admin"]
    f = ConversationFilter.from_params({"q": "pothole", "status": "pending", "page_size": "2"})
    rows, cursor = f.page(f.apply(Conversation.objects.visible_to(admin), admin))
    f2 = ConversationFilter.from_params({"q": "pothole", "status": "pending", "page_size": "2", "cursor": cursor})
    rest, _ = f2.page(f2.apply(Conversation.objects.visible_to(admin), admin))
    assert sorted(r.pk for r in rows + rest) == sorted(c.pk for c in mine)


@pytest.mark.parametrize("direct", [True, False])
def test_tag_counts_from_the_tags_side_match_counting_each_status(personas, monkeypatch, django_assert_num_queries,
                                                                   direct):
    """ConversationFilter.counts with a tag filter counts from the tags' conversations when they are few
    (TAG_COUNT_DIRECT), else each status's queue: both in one query, with the other filters and the member's scope,
    a conversation with two of the tags counted once, and capped like status_counts."""
    from inbox import filters

    monkeypatch.setattr(filters, "TAG_COUNT_DIRECT", 1000 if direct else 2)
    customer, comms = make_channel(personas.a), make_channel(personas.a, "Communications")
    bins = Tag.objects.create(organisation=personas.a.organisation, name="Bins")
    roads = Tag.objects.create(organisation=personas.a.organisation, name="Roads")
    made = [
        make_conversation(personas.a, channel=customer),  # both tags: counted once
        make_conversation(personas.a, channel=customer),
        make_conversation(personas.a, channel=customer, status=ConversationStatus.PENDING),
        make_conversation(personas.a, channel=customer, status=ConversationStatus.CLOSED, flagged=True),
        make_conversation(personas.a, channel=comms),  # another department: not the agent's
        make_conversation(personas.a, channel=customer),  # untagged
    ]
    made[0].tags.set([bins, roads])
    for conversation in made[1:5]:
        conversation.tags.set([roads])
    outsider = make_conversation(personas.b, channel=make_channel(personas.b, next(iter(personas.b.departments))))
    their_roads = Tag.objects.create(organisation=personas.b.organisation, name="Roads")
    outsider.tags.set([their_roads])
    admin, agent = personas.a.members["admin"], personas.a.members["agent"]
    assert agent.department_ids  # (read once per request, before the counts)
    tags = f"{bins.pk},{roads.pk}"

    def counts(member, params: dict) -> dict[str, int]:
        f = ConversationFilter.from_params(params)
        with django_assert_num_queries(1):
            found = f.counts(Conversation.objects.visible_to(member), member)
        # The same as status_counts over the filter's own EXISTS, with any status.
        f.status = []
        assert found == status_counts(f.apply(Conversation.objects.visible_to(member), member))
        return found

    assert counts(admin, {"tag": tags}) == {"open": 3, "pending": 1, "closed": 1}
    assert counts(agent, {"tag": tags}) == {"open": 2, "pending": 1, "closed": 1}
    assert counts(admin, {"tag": tags, "flagged": "true"}) == {"open": 0, "pending": 0, "closed": 1}
    assert counts(admin, {"tag": str(bins.pk), "status": "closed"}) == {"open": 1, "pending": 0, "closed": 0}
    # Another organisation's tag finds none of its conversations.
    assert counts(admin, {"tag": str(their_roads.pk)}) == {"open": 0, "pending": 0, "closed": 0}
    monkeypatch.setattr(filters, "COUNT_LIMIT", 1)
    assert counts(admin, {"tag": tags}) == {"open": 2, "pending": 1, "closed": 1}


def test_a_tag_page_pages_like_any_filter(personas):
    """The tag filter's page is picked from the queue index first (ids), then read whole: same rows, same order."""
    channel = make_channel(personas.a)
    roads = Tag.objects.create(organisation=personas.a.organisation, name="Roads")
    start = timezone.now() - timedelta(days=1)
    tagged = []
    for i in range(9):
        conversation = make_conversation(personas.a, channel=channel, at=start + timedelta(minutes=i), flagged=i == 6)
        if i % 2 == 0:
            conversation.tags.add(roads)
            tagged.append(conversation)
    admin = personas.a.members["admin"]
    found, cursor = [], ""
    while True:
        f = ConversationFilter.from_params({"tag": str(roads.pk), "page_size": "2", "cursor": cursor})
        rows, cursor = f.page(f.apply(Conversation.objects.visible_to(admin), admin))
        found += [r.pk for r in rows]
        assert all(r.channel.pk == channel.pk and r.contact.pk for r in rows)
        if not cursor:
            break
    # Flagged first, then the longest waiting.
    assert found == [tagged[3].pk] + [c.pk for c in tagged if c.pk != tagged[3].pk]
