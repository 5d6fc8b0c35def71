"""inbox.filters edge cases the list and API share."""

import pytest

from inbox.filters import ConversationFilter, FilterError, status_counts
from inbox.models import Conversation, Tag
from tests.inbox_factories import make_conversation

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
     ({"priority": "²"}, "priority"), ({"tag": "1,²"}, "tag")],
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
