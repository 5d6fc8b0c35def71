"""The inbox list page: scoping, every filter, sorts, keyset pages, counts, live updates and bulk actions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from audit.models import AuditEvent, EventType
from inbox import presence
from inbox.models import Conversation, ConversationStatus, Priority, Tag
from inbox.services import conversation_set_status
from tests.inbox_factories import make_channel, make_contact, make_conversation

LIST = "/inbox/"
UPDATES = "/inbox/updates/"
BULK = "/inbox/bulk/"


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    # Parallel test runs share one Redis; their presence keys must not meet.
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex}"


@pytest.fixture
def agent(personas, login):
    """Organisation A's agent (Customer Services), signed in."""
    login(personas.a.members["agent"])
    return personas.a.members["agent"]


@pytest.fixture
def admin(personas, login):
    login(personas.a.members["admin"])
    return personas.a.members["admin"]


def ids(response) -> list[int]:
    return [row.pk for row in response.context["rows"]]


def ago(minutes: int):
    return timezone.now() - timedelta(minutes=minutes)


# ------------------------------------------------------------------------------------------ scoping
def test_list_shows_open_conversations_oldest_waiting_first(personas, agent, client):
    newer = make_conversation(personas.a, at=ago(5))
    older = make_conversation(personas.a, at=ago(50))
    make_conversation(personas.a, at=ago(20), status=ConversationStatus.CLOSED)
    response = client.get(LIST)
    assert response.status_code == 200
    assert ids(response) == [older.pk, newer.pk]
    html = response.content.decode()
    assert f'href="/inbox/{older.pk}/"' in html or f'href="{_conversation_href(older.pk)}"' in html


def _conversation_href(pk: int) -> str:
    from inbox.views.inbox_list import conversation_url

    return conversation_url(pk)


def test_agent_cannot_see_other_department_conversation(personas, agent, client):
    mine = make_conversation(personas.a, channel=make_channel(personas.a, "Customer Services"))
    theirs = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"), text="Comms only")
    response = client.get(LIST)
    assert ids(response) == [mine.pk]
    assert "Comms only" not in response.content.decode()
    # Asking for the other department by id gives nothing either.
    response = client.get(LIST, {"department": theirs.department_id})
    assert ids(response) == []


def test_other_organisation_sees_none_of_alphas_conversations(personas, login, client):
    make_conversation(personas.a, text="Alpha secret bins")
    bravo = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))
    login(personas.outsider)
    response = client.get(LIST, {"status": "all"})
    assert ids(response) == [bravo.pk]
    assert "Alpha secret bins" not in response.content.decode()
    assert _counts(response) == {"open": 1, "pending": 0, "closed": 0, "all": 1}


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))


# ------------------------------------------------------------------------------------------ filters
def test_filter_by_channel(personas, agent, client):
    one, two = make_channel(personas.a), make_channel(personas.a)
    wanted = make_conversation(personas.a, channel=one)
    make_conversation(personas.a, channel=two)
    assert ids(client.get(LIST, {"channel": one.pk})) == [wanted.pk]


def test_filter_by_platform(personas, agent, client):
    mastodon = make_conversation(personas.a, channel=make_channel(personas.a, platform="mastodon"))
    make_conversation(personas.a, channel=make_channel(personas.a, platform="x"))
    assert ids(client.get(LIST, {"platform": "mastodon"})) == [mastodon.pk]


def test_filter_by_department(personas, admin, client):
    comms = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    make_conversation(personas.a, channel=make_channel(personas.a, "Customer Services"))
    assert ids(client.get(LIST, {"department": comms.department_id})) == [comms.pk]


def test_filter_by_status(personas, agent, client):
    channel = make_channel(personas.a)
    open_ = make_conversation(personas.a, channel=channel, at=ago(3))
    pending = make_conversation(personas.a, channel=channel, at=ago(2), status=ConversationStatus.PENDING)
    closed = make_conversation(personas.a, channel=channel, at=ago(1), status=ConversationStatus.CLOSED)
    assert ids(client.get(LIST)) == [open_.pk]
    assert ids(client.get(LIST, {"status": "pending"})) == [pending.pk]
    assert ids(client.get(LIST, {"status": "closed"})) == [closed.pk]
    assert ids(client.get(LIST, {"status": "all"})) == [open_.pk, pending.pk, closed.pk]


def test_filter_by_assignee_mine_unassigned_and_a_member(personas, agent, client):
    channel = make_channel(personas.a)
    mine = make_conversation(personas.a, channel=channel, at=ago(3), assignee=agent.user)
    nobody = make_conversation(personas.a, channel=channel, at=ago(2))
    admins = make_conversation(personas.a, channel=channel, at=ago(1), assignee=personas.a.user("admin"))
    assert ids(client.get(LIST, {"assignee": "me"})) == [mine.pk]
    assert ids(client.get(LIST, {"assignee": "unassigned"})) == [nobody.pk]
    assert ids(client.get(LIST, {"assignee": personas.a.user("admin").pk})) == [admins.pk]


def test_filter_by_tag(personas, agent, client):
    bins = Tag.objects.create(organisation=personas.a.organisation, name="Bins")
    roads = Tag.objects.create(organisation=personas.a.organisation, name="Roads")
    tagged = make_conversation(personas.a)
    tagged.tags.add(bins, roads)
    other = make_conversation(personas.a)
    other.tags.add(roads)
    make_conversation(personas.a)
    assert ids(client.get(LIST, {"tag": bins.pk})) == [tagged.pk]


def test_filter_by_priority_name_or_number(personas, agent, client):
    urgent = make_conversation(personas.a, priority=Priority.URGENT)
    make_conversation(personas.a, priority=Priority.NORMAL)
    assert ids(client.get(LIST, {"priority": "urgent"})) == [urgent.pk]
    assert ids(client.get(LIST, {"priority": str(Priority.URGENT.value)})) == [urgent.pk]


def test_filter_by_flagged_tone(personas, agent, client):
    flagged = make_conversation(personas.a, flagged=True, risk_terms=["threat"], at=ago(1))
    calm = make_conversation(personas.a, at=ago(9))
    assert ids(client.get(LIST, {"flagged": "true"})) == [flagged.pk]
    assert ids(client.get(LIST, {"flagged": "false"})) == [calm.pk]


def test_filter_by_overdue(personas, agent, client):
    late = make_conversation(personas.a, first_response_due_at=ago(10))
    answered = make_conversation(personas.a, first_response_due_at=ago(10), first_responded_at=ago(20))
    in_time = make_conversation(personas.a, first_response_due_at=timezone.now() + timedelta(hours=1))
    assert ids(client.get(LIST, {"overdue": "true"})) == [late.pk]
    assert set(ids(client.get(LIST, {"overdue": "false"}))) == {answered.pk, in_time.pk}


def test_text_search_over_messages_and_contact_names(personas, agent, client):
    pothole = make_conversation(personas.a, text="There is a pothole on Mill Lane")
    named = make_conversation(personas.a, contact=make_contact(personas.a, name="Priya Millward"))
    handle = make_conversation(personas.a, contact=make_contact(personas.a, handle="@millie_k"))
    make_conversation(personas.a, text="Bins not collected")
    assert set(ids(client.get(LIST, {"q": "mill"}))) == {pothole.pk, named.pk, handle.pk}
    assert ids(client.get(LIST, {"q": "pothole"})) == [pothole.pk]


def test_a_search_shows_no_counts_and_says_so(personas, agent, client):
    make_conversation(personas.a, text="There is a pothole on Mill Lane")
    response = client.get(LIST, {"q": "pothole"})
    body = response.content.decode()
    assert [tab["count"] for tab in response.context["tabs"]] == [None, None, None, None]
    assert "inbox-tabs__count" not in body
    assert "Counts are not shown while searching." in body
    assert "Counts are not shown" not in client.get(LIST).content.decode()


# --------------------------------------------------------------------------------- sorts and pages
def test_flagged_sort_first_then_oldest_and_newest_sort(personas, agent, client):
    channel = make_channel(personas.a)
    old = make_conversation(personas.a, channel=channel, at=ago(60))
    new = make_conversation(personas.a, channel=channel, at=ago(1))
    flagged = make_conversation(personas.a, channel=channel, at=ago(5), flagged=True, sentiment=-0.9)
    assert ids(client.get(LIST)) == [flagged.pk, old.pk, new.pk]
    assert ids(client.get(LIST, {"sort": "newest"})) == [new.pk, flagged.pk, old.pk]


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_keyset_pages_have_no_duplicates_or_gaps_even_with_ties(personas, agent, client, sort):
    channel = make_channel(personas.a)
    tie = ago(30)
    made = [make_conversation(personas.a, channel=channel, at=tie) for _ in range(5)]
    made += [make_conversation(personas.a, channel=channel, at=ago(40 + i)) for i in range(3)]
    made += [make_conversation(personas.a, channel=channel, at=tie, flagged=True)]
    seen: list[int] = []
    url = f"{LIST}?sort={sort}&page_size=2"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += ids(response)
        pages += 1
        url = (LIST + response.context["next_url"]) if response.context["next_url"] else ""
        if url:
            assert "Next page" in response.content.decode()
    assert len(seen) == len(set(seen)) == len(made)
    assert pages == 5
    everything = ids(client.get(LIST, {"sort": sort, "page_size": 50}))
    assert seen == everything


def test_status_counts_follow_the_other_filters(personas, agent, client):
    x, mastodon = make_channel(personas.a, platform="x"), make_channel(personas.a, platform="mastodon")
    for status, n in ((ConversationStatus.OPEN, 3), (ConversationStatus.PENDING, 2), (ConversationStatus.CLOSED, 1)):
        for _ in range(n):
            make_conversation(personas.a, channel=x, status=status)
    make_conversation(personas.a, channel=mastodon)
    response = client.get(LIST, {"platform": "x"})
    assert _counts(response) == {"open": 3, "pending": 2, "closed": 1, "all": 6}
    assert "Pending <span class=\"inbox-tabs__count\">(2)</span>" in response.content.decode()
    assert _counts(client.get(LIST)) == {"open": 4, "pending": 2, "closed": 1, "all": 7}


def test_counts_past_the_limit_show_a_plus(personas, agent, client, monkeypatch):
    # The tabs count each status up to filters.COUNT_LIMIT (1,000; 2 here, so the test stays small).
    monkeypatch.setattr("inbox.filters.COUNT_LIMIT", 2)
    channel = make_channel(personas.a)
    for _ in range(3):
        make_conversation(personas.a, channel=channel)
    make_conversation(personas.a, channel=channel, status=ConversationStatus.PENDING)
    response = client.get(LIST)
    assert _counts(response) == {"open": 2, "pending": 1, "closed": 0, "all": 3}
    body = response.content.decode()
    assert "Open <span class=\"inbox-tabs__count\">(2+)</span>" in body
    assert "Pending <span class=\"inbox-tabs__count\">(1)</span>" in body
    assert "All <span class=\"inbox-tabs__count\">(3+)</span>" in body


def _counts(response) -> dict[str, int]:
    return {tab["label"].lower(): tab["count"] for tab in response.context["tabs"]}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"priority": "sky-high"}, "Choose from: low, normal, high, urgent."),
        ({"status": "nonsense"}, "Choose from: open, pending, closed or all."),
        ({"cursor": "not-a-cursor"}, "Not a cursor this list gave out."),
        ({"channel": "abc"}, "Must be whole numbers."),
        ({"q": "x"}, "Search for 2 to 200 characters."),
    ],
)
def test_bad_filters_show_the_errors_with_400(personas, agent, client, params, message):
    make_conversation(personas.a)
    response = client.get(LIST, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "These filters could not be used" in response.content.decode()


def test_query_count_does_not_grow_with_rows(personas, agent, client, django_assert_max_num_queries):
    tag = Tag.objects.create(organisation=personas.a.organisation, name="Bins")

    def make(n):
        for i in range(n):
            conversation = make_conversation(
                personas.a, channel=make_channel(personas.a), assignee=agent.user, at=ago(i + 1)
            )
            conversation.tags.add(tag)

    make(5)
    with django_assert_max_num_queries(100) as few:
        assert len(ids(client.get(LIST))) == 5
    make(55)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(ids(client.get(LIST))) == 50


def test_row_tags_are_listed_by_name_ignoring_case(personas, agent, client):
    conversation = make_conversation(personas.a)
    for name in ("zebra crossing", "Apple", "mango"):
        conversation.tags.add(Tag.objects.create(organisation=personas.a.organisation, name=name))
    html = client.get(LIST).content.decode()
    positions = [html.index(f"Tag: {name}<") for name in ("Apple", "mango", "zebra crossing")]
    assert positions == sorted(positions)


def test_filter_form_marks_the_chosen_options_and_offers_only_this_organisations(personas, agent, client):
    channel = make_channel(personas.a, "Customer Services", platform="mastodon", handle="@council")
    tag = Tag.objects.create(organisation=personas.a.organisation, name="Potholes")
    Tag.objects.create(organisation=personas.b.organisation, name="Elsewhere")
    admin_user = personas.a.members["admin"].user
    params = {"status": "all", "assignee": admin_user.pk, "channel": channel.pk, "tag": tag.pk, "priority": "3",
              "platform": "mastodon"}
    html = client.get(LIST, params).content.decode()
    assert '<option value="all" selected>All</option>' in html
    assert f'<option value="{admin_user.pk}" selected>{admin_user}</option>' in html
    assert f'<option value="{channel.pk}" selected>Mastodon @council</option>' in html
    assert f'<option value="{tag.pk}" selected>Potholes</option>' in html
    assert '<option value="3" selected>Urgent</option>' in html
    assert '<option value="mastodon" selected>Mastodon</option>' in html
    assert '<option value="">Open (default)</option>' in html
    assert "Elsewhere" not in html
    # The bulk form offers everyone but the member themself, who is "Me"; nothing is pre-selected there.
    bulk = html[html.index('id="bulk-assignee"'):]
    bulk = bulk[: bulk.index("</select>")]
    assert f'value="{agent.user.pk}"' not in bulk and f'<option value="{admin_user.pk}">{admin_user}</option>' in bulk
    assert " selected" not in bulk


# ------------------------------------------------------------------------------------- row content
def test_rows_show_flags_overdue_priority_tags_assignee_and_presence(personas, agent, client):
    at_risk = make_conversation(
        personas.a, flagged=True, risk_terms=["self-harm"], sentiment=-0.2, priority=Priority.URGENT,
        first_response_due_at=ago(5), assignee=agent.user,
    )
    angry = make_conversation(personas.a, flagged=True, sentiment=-0.8)
    at_risk.tags.add(Tag.objects.create(organisation=personas.a.organisation, name="Housing"))
    colleague = personas.a.members["admin"].user
    colleague.full_name = "Sam Colleague"
    colleague.save()
    presence.presence_touch(at_risk.pk, colleague, "replying")
    presence.presence_touch(angry.pk, agent.user, "viewing")  # one's own presence is not shown
    html = client.get(LIST).content.decode()
    assert "At risk: self-harm" in html
    assert "Flagged: angry" in html
    assert "Overdue" in html and "Priority: Urgent" in html
    assert "Tag: Housing" in html and f"Assigned to {agent.user}" in html
    assert "Sam Colleague is replying" in html
    assert f"{agent.user} is viewing" not in html


def test_nav_has_inbox_link_and_a_notifications_link_with_the_unread_count(personas, agent, client):
    conversation = make_conversation(personas.a)
    Notification.objects.create(organisation=personas.a.organisation, user=agent.user, link=f"/inbox/{conversation.pk}/", text="x")
    Notification.objects.create(
        organisation=personas.a.organisation, user=agent.user, link=f"/inbox/{conversation.pk}/", text="y", read_at=timezone.now()
    )
    html = client.get(LIST).content.decode()
    assert 'aria-current="page">Inbox' in html
    assert 'href="/inbox/notifications/">Notifications <span class="badge rounded-pill text-bg-dark">1<span' in html
    Notification.objects.update(read_at=timezone.now())
    assert "/inbox/notifications/" not in client.get(LIST).content.decode()


# ------------------------------------------------------------------------------------ live updates
def _token(client, params=None) -> str:
    return client.get(LIST, params or {}).context["token"]


def test_updates_answer_204_when_nothing_changed(personas, agent, client):
    make_conversation(personas.a)
    token = _token(client)
    response = client.get(UPDATES, {"since": token})
    assert response.status_code == 204


def test_updates_send_new_rows_and_counts_when_a_conversation_arrives(personas, agent, client):
    first = make_conversation(personas.a, at=ago(10))
    token = _token(client)
    arrived = make_conversation(personas.a, at=ago(1), text="Streetlight is out on Elm Road")
    response = client.get(UPDATES, {"since": token})
    assert response.status_code == 200
    body = response.json()
    assert body["ids"] == [first.pk, arrived.pk]
    assert "Streetlight is out on Elm Road" in body["results_html"]
    assert "Open <span class=\"inbox-tabs__count\">(2)</span>" in body["tabs_html"]
    # The new token knows about it: nothing more to send.
    assert client.get(UPDATES, {"since": body["token"]}).status_code == 204


def test_updates_notice_a_conversation_leaving_the_filtered_list(personas, agent, client):
    conversation = make_conversation(personas.a)
    token = _token(client)
    conversation_set_status(actor=agent, conversation_id=conversation.pk, status=ConversationStatus.CLOSED)
    body = client.get(UPDATES, {"since": token}).json()
    assert body["ids"] == []


def test_updates_ignore_changes_the_member_cannot_see(personas, agent, client):
    make_conversation(personas.a, channel=make_channel(personas.a, "Customer Services"))
    token = _token(client)
    make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))
    assert client.get(UPDATES, {"since": token}).status_code == 204


def test_updates_keep_the_filters(personas, agent, client):
    x, mastodon = make_channel(personas.a, platform="x"), make_channel(personas.a, platform="mastodon")
    make_conversation(personas.a, channel=x)
    token = _token(client, {"platform": "x"})
    make_conversation(personas.a, channel=mastodon, text="Mastodon toot")
    body = client.get(UPDATES, {"platform": "x", "since": token}).json()
    assert "Mastodon toot" not in body["results_html"] and len(body["ids"]) == 1


def test_updates_on_a_later_page_offer_the_first_page_instead_of_rows(personas, agent, client):
    channel = make_channel(personas.a)
    for i in range(3):
        make_conversation(personas.a, channel=channel, at=ago(10 + i))
    first = client.get(LIST, {"page_size": 2})
    later = client.get(LIST + first.context["next_url"])
    token = later.context["token"]
    cursor = later.wsgi_request.GET["cursor"]
    make_conversation(personas.a, channel=channel, at=ago(1))
    body = client.get(UPDATES, {"page_size": 2, "cursor": cursor, "since": token}).json()
    assert body["notice"] is True and "results_html" not in body
    assert body["first_url"] == f"{LIST}?page_size=2"
    assert client.get(UPDATES, {"page_size": 2, "cursor": cursor, "since": body["token"]}).status_code == 204


def test_updates_send_presence_changes_on_the_shown_rows(personas, agent, client):
    conversation = make_conversation(personas.a)
    token = _token(client)
    colleague = personas.a.members["admin"].user
    presence.presence_touch(conversation.pk, colleague, "viewing")
    body = client.get(UPDATES, {"since": token}).json()
    assert body["presence"] == {str(conversation.pk): f"{colleague} is viewing"}
    assert "results_html" not in body
    assert client.get(UPDATES, {"since": body["token"]}).status_code == 204


def test_updates_refuse_a_bad_or_borrowed_token(personas, agent, client, login):
    make_conversation(personas.a)
    assert client.get(UPDATES, {"since": "forged"}).status_code == 400
    assert client.get(UPDATES).status_code == 400
    token = _token(client)
    login(personas.a.members["admin"])
    response = client.get(UPDATES, {"since": token})
    assert response.status_code == 400 and "reload" in response.json()["errors"]["since"]


def test_updates_refuse_bad_filters_with_400(personas, agent, client):
    token = _token(client)
    response = client.get(UPDATES, {"since": token, "priority": "zzz"})
    assert response.status_code == 400 and "priority" in response.json()["errors"]


# ------------------------------------------------------------------------------------- bulk actions
def _events(event_type, conversations) -> int:
    return AuditEvent.objects.filter(event_type=event_type, target_id__in=[str(c.pk) for c in conversations]).count()


def test_bulk_assign_to_me_and_keep_the_filters(personas, agent, client):
    a, b = make_conversation(personas.a), make_conversation(personas.a)
    response = client.post(
        BULK, {"ids": [a.pk, b.pk], "action": "assign", "assignee": "me", "next": "/inbox/?platform=x&sort=newest"}
    )
    assert response.status_code == 302 and response.url == "/inbox/?platform=x&sort=newest"
    assert set(Conversation.objects.filter(pk__in=[a.pk, b.pk]).values_list("assignee_id", flat=True)) == {agent.user_id}
    assert _events(EventType.CONVERSATION_ASSIGNED, [a, b]) == 2
    assert "2 conversations assigned." in client.get(response.url).content.decode()


def test_bulk_assign_to_a_member_and_unassign(personas, agent, client):
    conversation = make_conversation(personas.a)
    admin = personas.a.user("admin")
    client.post(BULK, {"ids": [conversation.pk], "action": "assign", "assignee": admin.pk})
    conversation.refresh_from_db()
    assert conversation.assignee_id == admin.pk
    client.post(BULK, {"ids": [conversation.pk], "action": "assign", "assignee": "none"})
    conversation.refresh_from_db()
    assert conversation.assignee_id is None
    assert _events(EventType.CONVERSATION_ASSIGNED, [conversation]) == 2


def test_bulk_tag_and_close(personas, agent, client):
    a, b = make_conversation(personas.a), make_conversation(personas.a)
    client.post(BULK, {"ids": [a.pk, b.pk], "action": "tag", "tag_name": "Flooding"})
    assert sorted(Conversation.objects.filter(tags__name="Flooding").values_list("pk", flat=True)) == sorted([a.pk, b.pk])
    assert _events(EventType.CONVERSATION_TAGS_CHANGED, [a, b]) == 2
    client.post(BULK, {"ids": [a.pk, b.pk], "action": "close"})
    assert set(Conversation.objects.filter(pk__in=[a.pk, b.pk]).values_list("status", flat=True)) == {"closed"}
    assert _events(EventType.CONVERSATION_STATUS_CHANGED, [a, b]) == 2


def test_bulk_refuses_another_organisations_ids_and_changes_nothing(personas, agent, client):
    ours = make_conversation(personas.a)
    theirs = make_conversation(personas.b, channel=make_channel(personas.b, "Digital Desk"))
    response = client.post(BULK, {"ids": [ours.pk, theirs.pk], "action": "close"}, follow=True)
    assert "no longer available to you. Nothing was changed." in response.content.decode()
    assert Conversation.objects.filter(status=ConversationStatus.CLOSED).count() == 0
    assert AuditEvent.objects.filter(event_type=EventType.CONVERSATION_STATUS_CHANGED).count() == 0


def test_bulk_refuses_another_departments_ids(personas, agent, client):
    comms = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    client.post(BULK, {"ids": [comms.pk], "action": "assign", "assignee": "me"})
    comms.refresh_from_db()
    assert comms.assignee_id is None


def test_viewer_cannot_use_bulk_actions(personas, login, client):
    conversation = make_conversation(personas.a, channel=make_channel(personas.a, "Communications"))
    login(personas.a.members["viewer"])
    assert client.post(BULK, {"ids": [conversation.pk], "action": "close"}).status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    # And the page offers them no checkboxes or bulk buttons.
    html = client.get(LIST).content.decode()
    assert 'name="ids"' not in html and "Close selected" not in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "close"}, "Choose at least one conversation."),
        ({"ids": ["abc"], "action": "close"}, "Choose conversations from the list."),
        ({"ids": ["{pk}"], "action": "explode"}, "Choose assign, tag or close."),
        ({"ids": ["{pk}"], "action": "tag", "tag_name": "  "}, "Name the tag to add."),
        ({"ids": ["{pk}"], "action": "assign", "assignee": "999999"}, "Choose an active member of this organisation."),
    ],
)
def test_bulk_bad_input_is_a_message_not_an_error(personas, agent, client, data, message):
    conversation = make_conversation(personas.a)
    data = {k: [v.format(pk=conversation.pk) for v in v] if isinstance(v, list) else v for k, v in data.items()}
    response = client.post(BULK, data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()


@pytest.mark.parametrize("next_url", ["https://evil.example/inbox/", "//evil.example/", "/accounts/logout/", ""])
def test_bulk_redirects_only_back_to_the_list(personas, agent, client, next_url):
    conversation = make_conversation(personas.a)
    response = client.post(BULK, {"ids": [conversation.pk], "action": "close", "next": next_url})
    assert response.status_code == 302 and response.url == "/inbox/"
