"""The audit trail page (/audit/), an event's page (/audit/<id>/) and the History tabs of object pages.

Events with chosen times are inserted with the ORM (test set-up: record() stamps the present); events about real
objects come from the real services.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as account_services
from audit.models import AuditEvent, EventType
from audit.queries import AuditFilter, FilterError
from audit.templatetags.audit_history import history_context
from channels_app import services as channel_services
from inbox import services as inbox_services
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel, make_conversation

LONDON = ZoneInfo("Europe/London")
VIEWED = EventType.AUDIT_VIEWED


def _event(org, *, at=None, event_type=EventType.POST_CREATED, department=None, actor=None, label=None, **fields):
    """One event at a chosen time (set-up only: record() always stamps now)."""
    return AuditEvent.objects.create(
        organisation=org.organisation,
        department=org.departments[department] if department else None,
        occurred_at=at or timezone.now(),
        actor=actor.user if actor else None,
        actor_label=label or (actor.user.label if actor else "system: tests"),
        event_type=event_type,
        **fields,
    )


def _ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-event-id="(\d+)"', response.content.decode())]


def _viewed(org) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(organisation=org.organisation, event_type=VIEWED).order_by("id"))


# ------------------------------------------------------------------------------------- access
@pytest.mark.parametrize("role", ["approver", "editor", "agent", "viewer"])
def test_roles_without_view_audit_get_403(role, personas, login):
    client = login(personas.a.members[role])
    assert client.get("/audit/").status_code == 403
    event = _event(personas.a, department="Communications")
    assert client.get(f"/audit/{event.pk}/").status_code == 403
    assert _viewed(personas.a) == []


def test_admin_sees_whole_organisation_newest_first(personas, login):
    now = timezone.now()
    old = _event(personas.a, at=now - timedelta(days=2), department="Communications")
    wide = _event(personas.a, at=now - timedelta(days=1), event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    other = _event(personas.a, at=now - timedelta(hours=1), department="Customer Services")
    response = login(personas.a.members["admin"]).get("/audit/")
    assert response.status_code == 200
    ids = _ids(response)
    assert ids.index(other.pk) < ids.index(wide.pk) < ids.index(old.pk)


def test_manager_sees_only_their_departments_events(personas, login):
    mine = _event(personas.a, department="Communications")
    theirs = _event(personas.a, department="Customer Services")
    wide = _event(personas.a, event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    client = login(personas.a.members["manager"])
    ids = _ids(client.get("/audit/"))
    assert mine.pk in ids
    assert theirs.pk not in ids and wide.pk not in ids
    assert client.get(f"/audit/{theirs.pk}/").status_code == 404
    assert client.get(f"/audit/{wide.pk}/").status_code == 404
    assert client.get(f"/audit/{mine.pk}/").status_code == 200
    # Asking for another department by id finds nothing rather than widening the scope.
    dept = personas.a.departments["Customer Services"].pk
    assert theirs.pk not in _ids(client.get(f"/audit/?department={dept}"))


def test_other_organisation_sees_none_of_its_events(personas, login):
    event = _event(personas.a, department="Communications")
    client = login(personas.outsider)
    assert event.pk not in _ids(client.get("/audit/"))
    assert client.get(f"/audit/{event.pk}/").status_code == 404
    # Filtering by A's actor or department does not reach A's rows either.
    admin_a = personas.a.members["admin"]
    _event(personas.a, actor=admin_a, department="Communications")
    assert _ids(client.get(f"/audit/?actor={admin_a.user_id}")) == []


# ------------------------------------------------------------------------------------- filters
def test_filter_by_actor_and_system(personas, login):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    by_editor = _event(personas.a, actor=editor, department="Communications")
    by_admin = _event(personas.a, actor=admin, department="Communications")
    by_task = _event(personas.a, label="system: publishing.tasks.publish_due", department="Communications")
    client = login(admin)
    ids = _ids(client.get(f"/audit/?actor={editor.user_id}"))
    assert by_editor.pk in ids and by_admin.pk not in ids and by_task.pk not in ids
    ids = _ids(client.get("/audit/?actor=system"))
    assert by_task.pk in ids and by_editor.pk not in ids and by_admin.pk not in ids


def test_filter_by_one_or_several_event_types(personas, login):
    created = _event(personas.a, event_type=EventType.POST_CREATED, department="Communications")
    approved = _event(personas.a, event_type=EventType.POST_APPROVED, department="Communications")
    signed_in = _event(personas.a, event_type=EventType.SIGN_IN)
    client = login(personas.a.members["admin"])
    assert set(_ids(client.get("/audit/?event_type=post.approved"))) == {approved.pk}
    both = set(_ids(client.get("/audit/?event_type=post.approved&event_type=post.created")))
    assert both == {approved.pk, created.pk}
    # (Signing the test client in recorded a sign-in of its own.)
    ids = set(_ids(client.get("/audit/?event_type=post.approved,auth.sign_in")))
    assert {approved.pk, signed_in.pk} <= ids and created.pk not in ids
    assert set(AuditEvent.objects.filter(pk__in=ids).values_list("event_type", flat=True)) == {"post.approved", "auth.sign_in"}


def test_filter_by_target(personas, login):
    one = _event(personas.a, target_type="approvals.post", target_id="17", department="Communications")
    _event(personas.a, target_type="approvals.post", target_id="18", department="Communications")
    _event(personas.a, target_type="inbox.conversation", target_id="17", department="Communications")
    client = login(personas.a.members["admin"])
    assert _ids(client.get("/audit/?target_type=approvals.post&target_id=17")) == [one.pk]
    assert len(_ids(client.get("/audit/?target_type=approvals.post"))) >= 2


def test_filter_by_department_and_organisation_wide(personas, login):
    comms = _event(personas.a, department="Communications")
    customer = _event(personas.a, department="Customer Services")
    wide = _event(personas.a, event_type=EventType.ORGANISATION_SETTINGS_CHANGED)
    client = login(personas.a.members["admin"])
    ids = set(_ids(client.get(f"/audit/?department={personas.a.departments['Communications'].pk}")))
    assert comms.pk in ids and customer.pk not in ids and wide.pk not in ids
    ids = set(_ids(client.get("/audit/?department=none")))
    assert wide.pk in ids and comms.pk not in ids and customer.pk not in ids


def test_date_range_is_whole_days_in_the_organisations_time_zone(personas, login):
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST): it belongs to 1 July.
    late_june_utc = _event(personas.a, at=datetime(2025, 6, 30, 23, 30, tzinfo=ZoneInfo("UTC")), department="Communications")
    june_30 = _event(personas.a, at=datetime(2025, 6, 30, 12, 0, tzinfo=LONDON), department="Communications")
    july_2_end = _event(personas.a, at=datetime(2025, 7, 2, 23, 59, 59, tzinfo=LONDON), department="Communications")
    july_3 = _event(personas.a, at=datetime(2025, 7, 3, 0, 0, tzinfo=LONDON), department="Communications")
    client = login(personas.a.members["admin"])
    ids = set(_ids(client.get("/audit/?from=2025-07-01&to=2025-07-02")))
    assert ids == {late_june_utc.pk, july_2_end.pk}
    assert june_30.pk in _ids(client.get("/audit/?to=2025-06-30"))
    assert july_3.pk not in _ids(client.get("/audit/?to=2025-07-02"))
    assert _ids(client.get("/audit/?from=2025-07-03&to=2025-07-03")) == [july_3.pk]


def test_the_page_shows_times_in_the_organisations_zone_and_changes_readably(personas, login):
    event = _event(
        personas.a,
        at=datetime(2025, 1, 15, 9, 5, 7, tzinfo=LONDON),
        department="Communications",
        event_type=EventType.MEMBER_ROLE_CHANGED,
        changes={"role": {"from": "editor", "to": "approver"}, "reason": "Covering leave"},
        request_id="req-abc123",
    )
    body = login(personas.a.members["admin"]).get("/audit/").content.decode()
    row = body[body.index(f'data-event-id="{event.pk}"'):]
    row = row[: row.index("</tr>")]
    assert "15 Jan 2025 09:05:07" in row
    assert "Member&#x27;s role changed" in row or "Member's role changed" in row
    assert "<strong>role</strong>: editor → approver" in row
    assert "<strong>reason</strong>: Covering leave" in row
    assert "req-abc123" in row


def test_target_links_to_its_page(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    conversation = make_conversation(personas.a, channel=channel)
    _event(personas.a, department="Communications", target_type="inbox.conversation",
           target_id=str(conversation.pk), target_repr="Conversation with a resident")
    body = login(personas.a.members["admin"]).get("/audit/").content.decode()
    assert f'href="/posts/{post.pk}/"' in body
    assert f'href="/inbox/{conversation.pk}/"' in body
    assert f'href="/channels/{channel.pk}/grants/"' in body


# ------------------------------------------------------------------------------------- paging
def test_keyset_paging_newest_first_without_gaps_or_repeats(personas, login):
    base = timezone.now() - timedelta(days=1)
    made = [_event(personas.a, at=base + timedelta(seconds=i // 3), department="Communications") for i in range(120)]
    client = login(personas.a.members["admin"])
    seen, url, pages = [], "/audit/?department=" + str(personas.a.departments["Communications"].pk), 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [pk for pk in _ids(response) if pk in {e.pk for e in made}]
        found = re.search(r'<a href="([^"]+)" id="older-events"', response.content.decode())
        url = ("/audit/" + found.group(1).replace("&amp;", "&")) if found else ""
        pages += 1
        assert pages < 10
    # Same times share a second: ties are ordered by id, still without gaps or repeats.
    expected = [e.pk for e in sorted(made, key=lambda e: (e.occurred_at, e.pk), reverse=True)]
    assert seen == expected
    assert pages >= 3


def test_filter_keeps_paging_when_new_events_arrive(personas):
    for i in range(5):
        _event(personas.a, at=timezone.now() - timedelta(minutes=10 - i), department="Communications")
    scoped = AuditEvent.objects.for_organisation(personas.a.organisation)
    first, cursor = AuditFilter.from_params({"page_size": "2"}).page(AuditFilter().apply(scoped))
    _event(personas.a, department="Communications")  # newer than everything: must not shift page 2
    second, _ = AuditFilter.from_params({"page_size": "2", "cursor": cursor}).page(AuditFilter().apply(scoped))
    assert not {e.pk for e in first} & {e.pk for e in second}
    assert max(e.occurred_at for e in second) <= min(e.occurred_at for e in first)


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("actor=²", "actor"),
        ("actor=someone", "actor"),
        ("actor=99999999999999999999999", "actor"),
        ("department=²", "department"),
        ("department=99999999999999999999999", "department"),
        ("event_type=post.nonsense", "event_type"),
        ("target_id=12", "target_id"),
        ("target_type=Not A Type", "target_type"),
        ("target_type=approvals.post&target_id=" + "9" * 80, "target_id"),
        ("from=9999-12-31", "from"),
        ("to=9999-12-31", "to"),
        ("from=1999-12-31", "from"),
        ("from=2025-02-30", "from"),
        ("from=２０２５-01-01", "from"),
        ("from=yesterday", "from"),
        ("from=2025-03-02&to=2025-03-01", "to"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=WyI5OTk5OS0wMS0wMVQwMDowMDowMCswMDowMCIsIDFd", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=²", "page_size"),
        ("page_size=99999999999999999999", "page_size"),
    ],
)
def test_bad_filters_are_a_400_page_naming_the_field(query, field, personas, login):
    response = login(personas.a.members["admin"]).get(f"/audit/?{query}")
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="filter-errors"' in body
    assert f"<strong>{field}</strong>" in body
    # Nothing was read, so nothing is recorded as read.
    assert _viewed(personas.a) == []


def test_huge_or_odd_event_ids_are_404(personas, login):
    client = login(personas.a.members["admin"])
    assert client.get("/audit/99999999999999999999999/").status_code == 404
    assert client.get("/audit/9223372036854775808/").status_code == 404
    assert client.get("/audit/0/").status_code == 404
    assert client.get("/audit/²/").status_code == 404


def test_a_huge_target_id_is_just_no_match(personas, login):
    response = login(personas.a.members["admin"]).get("/audit/?target_type=approvals.post&target_id=" + "9" * 64)
    assert response.status_code == 200
    assert _ids(response) == []


def test_filter_error_lists_every_bad_field():
    with pytest.raises(FilterError) as caught:
        AuditFilter.from_params({"actor": "x", "from": "9999-01-01", "department": "²", "event_type": "nope"})
    assert set(caught.value.errors) == {"actor", "from", "department", "event_type"}


def test_the_upper_year_bound_does_not_overflow():
    wanted = AuditFilter.from_params({"from": "2100-12-31", "to": "2100-12-31"}, zone="Pacific/Kiritimati")
    start, end = wanted.bounds()
    assert end - start == timedelta(days=1)


# ------------------------------------------------------------------------------------- reading is audited
def test_each_page_view_writes_one_audit_viewed_event_with_its_filters(personas, login):
    admin = personas.a.members["admin"]
    client = login(admin)
    dept = personas.a.departments["Communications"].pk
    client.get("/audit/")
    client.get(f"/audit/?event_type=post.created&department={dept}&from=2025-01-01")
    viewed = _viewed(personas.a)
    assert len(viewed) == 2
    assert viewed[0].actor == admin.user
    assert viewed[0].changes["filters"] == {}
    assert viewed[1].changes["filters"] == {"event_type": ["post.created"], "department": [dept], "from": "2025-01-01"}
    assert viewed[1].changes["view"] == "list"


def test_a_page_never_lists_its_own_read(personas, login):
    client = login(personas.a.members["admin"])
    client.get("/audit/")
    first_read = _viewed(personas.a)[0]
    response = client.get("/audit/")
    # The second view lists the first read, not itself.
    ids = _ids(response)
    assert first_read.pk in ids
    assert _viewed(personas.a)[-1].pk not in ids


def test_event_page_shows_chain_fields_and_is_recorded(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    event = AuditEvent.objects.get(event_type=EventType.POST_CREATED, target_id=str(post.pk))
    response = login(personas.a.members["admin"]).get(f"/audit/{event.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="chain-sequence"' in body and 'id="chain-prev-hash"' in body and 'id="chain-hash"' in body
    if event.hash:
        assert event.hash in body and event.prev_hash in body
    assert f'href="/posts/{post.pk}/"' in body
    viewed = _viewed(personas.a)
    assert len(viewed) == 1
    assert viewed[0].target_type == "audit.auditevent" and viewed[0].target_id == str(event.pk)


# ------------------------------------------------------------------------------------- History tabs
def _history_ids(body: str) -> list[int]:
    if 'id="history"' not in body:
        return []
    section = body[body.index('id="history"'):]
    section = section[: section.index("</section>")]
    return [int(pk) for pk in re.findall(r'data-event-id="(\d+)"', section)]


def test_post_history_tab_lists_the_posts_events_for_view_audit_only(personas, login, client):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    other = make_post(personas.a, [channel], title="Another post")
    own = set(AuditEvent.objects.for_target("approvals.post", post.pk).values_list("pk", flat=True))
    assert own
    for role in ("admin", "manager"):
        the_client = login(personas.a.members[role])
        page = the_client.get(f"/posts/{post.pk}/").content.decode()
        # The post page links to the tab and lists no events itself.
        assert f'href="/posts/{post.pk}/history/"' in page and 'id="history"' not in page, role
        body = the_client.get(f"/posts/{post.pk}/history/").content.decode()
        assert set(_history_ids(body)) == own, role
        assert f"/audit/?target_type=approvals.post&amp;target_id={post.pk}" in body
        assert f'<h1 class="text-break">{post.title}</h1>' in body
        assert f'aria-current="page" href="/posts/{post.pk}/history/"' in body
        assert not set(_history_ids(body)) & set(
            AuditEvent.objects.for_target("approvals.post", other.pk).values_list("pk", flat=True)
        )
    for role in ("editor", "approver", "viewer"):
        the_client = login(personas.a.members[role])
        body = the_client.get(f"/posts/{post.pk}/").content.decode()
        assert "/history/" not in body and 'id="history-link"' not in body, role
        assert the_client.get(f"/posts/{post.pk}/history/").status_code == 403, role


def test_opening_a_history_tab_is_recorded_once_and_the_page_alone_is_not(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    admin = login(personas.a.members["admin"])
    admin.get(f"/posts/{post.pk}/")
    assert _viewed(personas.a) == []
    body = admin.get(f"/posts/{post.pk}/history/").content.decode()
    (read,) = _viewed(personas.a)
    assert read.actor_id == personas.a.members["admin"].user_id and read.target_type == ""
    assert read.changes == {
        "view": "history", "filters": {"target_type": "approvals.post", "target_id": str(post.pk)},
        "shown": len(_history_ids(body)),
    }
    # The read is not part of the post's history (no target), and the next opening does not list it either.
    assert read.pk not in _history_ids(admin.get(f"/posts/{post.pk}/history/").content.decode())
    assert len(_viewed(personas.a)) == 2
    # Refused openings read nothing and record nothing.
    login(personas.a.members["editor"]).get(f"/posts/{post.pk}/history/")
    login(personas.outsider).get(f"/posts/{post.pk}/history/")
    assert len(_viewed(personas.a)) == 2 and not _viewed(personas.b)


def test_other_organisations_admin_gets_404_on_every_history_tab(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    conversation = make_conversation(personas.a, channel=channel)
    outsider = login(personas.outsider)
    for url in (
        f"/posts/{post.pk}/history/",
        f"/inbox/{conversation.pk}/history/",
        f"/channels/{channel.pk}/history/",
        f"/settings/members/{personas.a.members['editor'].pk}/history/",
        "/posts/99999999/history/",
    ):
        assert outsider.get(url).status_code == 404, url
    assert not _viewed(personas.b)


def test_manager_gets_404_for_another_departments_history(personas, login):
    channel = make_channel(personas.a, department="Customer Services", platform="mastodon")
    conversation = make_conversation(personas.a, channel=channel)
    manager = login(personas.a.members["manager"])  # Communications only
    assert manager.get(f"/inbox/{conversation.pk}/history/").status_code == 404
    assert manager.get(f"/channels/{channel.pk}/history/").status_code == 404


def test_conversation_history_tab(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    conversation = make_conversation(personas.a, channel=channel)
    admin = personas.a.members["admin"]
    inbox_services.conversation_set_priority(actor=admin, conversation_id=conversation.pk, priority=3)
    own = set(AuditEvent.objects.for_target("inbox.conversation", conversation.pk).values_list("pk", flat=True))
    assert own
    client = login(admin)
    assert f'href="/inbox/{conversation.pk}/history/"' in client.get(f"/inbox/{conversation.pk}/").content.decode()
    body = client.get(f"/inbox/{conversation.pk}/history/").content.decode()
    assert set(_history_ids(body)) == own
    assert "<strong>priority</strong>" in body
    assert f'href="/inbox/{conversation.pk}/">Conversation</a>' in body
    body = login(personas.a.members["viewer"]).get(f"/inbox/{conversation.pk}/").content.decode()
    assert 'id="history-link"' not in body


def test_channel_history_tab(personas, login):
    admin = personas.a.members["admin"]
    channel = channel_services.channel_connect(
        actor=admin, department=personas.a.departments["Communications"], platform="mastodon",
        account_id="109000000000000077", handle="@alpha@social.example", credentials={"access_token": "x"},
    )
    channel_services.channel_grant_set(
        actor=admin, channel=channel, member=personas.a.members["viewer"], grant="reply_channel", allowed=True
    )
    own = set(AuditEvent.objects.for_target("channels_app.channel", channel.pk).values_list("pk", flat=True))
    assert len(own) >= 2
    for role in ("admin", "manager"):
        client = login(personas.a.members[role])
        grants = client.get(f"/channels/{channel.pk}/grants/").content.decode()
        assert f'href="/channels/{channel.pk}/history/"' in grants and 'id="history"' not in grants, role
        body = client.get(f"/channels/{channel.pk}/history/").content.decode()
        assert set(_history_ids(body)) == own, role


def test_member_history_tab(personas, login):
    admin, editor = personas.a.members["admin"], personas.a.members["editor"]
    account_services.member_update(actor=admin, membership=editor, role="approver")
    own = set(AuditEvent.objects.for_target("accounts.membership", editor.pk).values_list("pk", flat=True))
    assert own
    client = login(admin)
    assert f'href="/settings/members/{editor.pk}/history/"' in client.get(f"/settings/members/{editor.pk}/").content.decode()
    body = client.get(f"/settings/members/{editor.pk}/history/").content.decode()
    assert set(_history_ids(body)) == own
    assert "editor → approver" in body
    # A manager may read the trail but not open member settings: the tab has no link back to that page.
    body = login(personas.a.members["manager"]).get(f"/settings/members/{editor.pk}/history/").content.decode()
    assert f'href="/settings/members/{editor.pk}/"' not in body


def test_history_tab_queries_do_not_grow_with_the_events_and_the_list_is_capped(personas, login):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    client = login(personas.a.members["admin"])
    client.get(f"/posts/{post.pk}/history/")  # warm the session and the caches

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/posts/{post.pk}/history/").status_code == 200
        return len(queries)

    few = count()
    for i in range(60):
        _event(personas.a, target_type="approvals.post", target_id=str(post.pk), department="Communications",
               at=timezone.now() - timedelta(seconds=i))
    assert count() == few
    body = client.get(f"/posts/{post.pk}/history/").content.decode()
    assert len(_history_ids(body)) == 50
    assert "Showing the newest 50" in body


def test_history_context_is_one_query(personas, django_assert_num_queries):
    admin = personas.a.members["admin"]
    for i in range(55):
        _event(personas.a, target_type="approvals.post", target_id="4242", department="Communications",
               at=timezone.now() - timedelta(seconds=i))
    with django_assert_num_queries(1):
        context = history_context("approvals.post", 4242, admin)
    assert len(context["events"]) == 50 and context["more"]


def test_history_link_tag_renders_nothing_without_view_audit(personas):
    channel = make_channel(personas.a, department="Communications", platform="mastodon")
    post = make_post(personas.a, [channel])
    template = Template("{% load audit_history %}{% audit_history_link target membership %}")
    html = template.render(Context({"target": post, "membership": personas.a.members["manager"]}))
    assert f'href="/posts/{post.pk}/history/"' in html
    assert template.render(Context({"target": post, "membership": personas.a.members["editor"]})).strip() == ""
