"""The posts list, the month and week calendar, the JSON feed and the per-department iCalendar feed.

Posts are made with the real services (tests/approvals_factories.make_post) and then put at a time and
status with the ORM (test set-up: the publishing path has its own tests). Europe/London changes its clocks
on Sunday 30 March 2025 (01:00 GMT → 02:00 BST) and Sunday 26 October 2025 (02:00 BST → 01:00 GMT).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Membership
from approvals import calendar as cal
from approvals.models import Post, PostStatus, PublishingPause, PublishTarget, TargetState
from audit.context import ActionContext, acting
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.django_db

CALENDAR = "/posts/calendar/"
FEED = "/posts/calendar/feed.json"
LIST = "/posts/"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def place(post: Post, at: datetime, *, status: str = PostStatus.SCHEDULED, channels=()) -> Post:
    """Put a post at a time: scheduled (pending targets) or published (sent targets), as the services would."""
    published = status in (PostStatus.PUBLISHED, PostStatus.PARTLY_PUBLISHED, PostStatus.FAILED)
    Post.objects.filter(pk=post.pk).update(
        status=status, scheduled_at=at, published_at=at if status != PostStatus.FAILED and published else None,
    )
    ids = post.current_revision.channel_ids if not channels else [c.pk for c in channels]
    PublishTarget.objects.bulk_create(
        PublishTarget(
            organisation_id=post.organisation_id, post=post, channel_id=cid, revision=post.current_revision,
            state=TargetState.SENT if published else TargetState.PENDING,
        )
        for cid in ids
    )
    post.refresh_from_db()
    return post


def fresh(membership: Membership) -> Membership:
    """The membership as a request sees it (organisation loaded, departments not yet)."""
    return Membership.objects.select_related("organisation", "user").get(pk=membership.pk)


@pytest.fixture
def comms(personas):
    a = personas.a
    return {
        "mastodon": make_channel(a, department="Communications", platform="mastodon", handle="@alpha"),
        "x": make_channel(a, department="Communications", platform="x", handle="@AlphaCouncil"),
    }


@pytest.fixture
def services_channel(personas):
    return make_channel(personas.a, department="Customer Services", platform="x", handle="@AlphaHelp")


def customer_services_post(personas, channel, title="Help desk hours", at=None):
    post = make_post(personas.a, [channel], author_role="admin", department="Customer Services", title=title)
    return place(post, at or utc(2025, 10, 14, 9, 0))


def day_of(view: cal.CalendarView, d: date) -> cal.Day:
    return next(day for week in view.weeks for day in week if day.day == d)


# ------------------------------------------------------------------------------------- bucketing
def test_posts_fall_on_the_organisations_local_day_across_both_clock_changes(personas, comms):
    a = personas.a
    viewer = fresh(a.members["viewer"])
    # 00:30 BST on Sunday 26 October (clocks go back that night) is still Saturday 25 October in UTC.
    early = place(make_post(a, [comms["x"]], title="Half past midnight"), utc(2025, 10, 25, 23, 30))
    # 23:30 GMT on the 25-hour Sunday 26 October: the same local day.
    late = place(make_post(a, [comms["x"]], title="Late on the long day"), utc(2025, 10, 26, 23, 30),
                 status=PostStatus.PUBLISHED)
    # 00:30 on Monday 27 October (GMT again).
    monday = place(make_post(a, [comms["x"]], title="Monday morning"), utc(2025, 10, 27, 0, 30))

    month = cal.build_calendar(viewer, "month", date(2025, 10, 1), cal.PostFilter(), now=utc(2025, 10, 26, 12))
    assert [e.post.pk for e in day_of(month, date(2025, 10, 25)).events] == []
    sunday = day_of(month, date(2025, 10, 26))
    assert [e.post.pk for e in sunday.events] == [early.pk, late.pk]
    assert [e.at.strftime("%H:%M %Z") for e in sunday.events] == ["00:30 BST", "23:30 GMT"]
    assert sunday.is_today and sunday.events[1].published
    assert [e.post.pk for e in day_of(month, date(2025, 10, 27)).events] == [monday.pk]

    # The spring change: 23:30 GMT on Saturday 29 March and 00:30 BST on Monday 31 March (= 23:30 UTC Sunday).
    saturday = place(make_post(a, [comms["x"]], title="Saturday night"), utc(2025, 3, 29, 23, 30))
    after = place(make_post(a, [comms["x"]], title="Just after midnight"), utc(2025, 3, 30, 23, 30))
    week = cal.build_calendar(viewer, "week", date(2025, 3, 30), cal.PostFilter())
    assert [d.day for d in week.days] == [date(2025, 3, 24) + timedelta(days=i) for i in range(7)]
    assert [e.post.pk for e in day_of(week, date(2025, 3, 29)).events] == [saturday.pk]
    assert day_of(week, date(2025, 3, 30)).events == []
    march = cal.build_calendar(viewer, "month", date(2025, 3, 5), cal.PostFilter())
    assert [e.post.pk for e in day_of(march, date(2025, 3, 31)).events] == [after.pk]
    assert day_of(march, date(2025, 3, 31)).events[0].at.strftime("%H:%M %Z") == "00:30 BST"


def test_month_page_is_a_table_with_caption_headers_links_and_local_times(personas, comms, login):
    a = personas.a
    post = place(make_post(a, [comms["x"], comms["mastodon"]], title="Clocks go back, bins do not"),
                 utc(2025, 10, 25, 23, 30))
    page = login(a.members["viewer"]).get(CALENDAR, {"date": "2025-10-14"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<caption>October 2025</caption>" in html
    assert html.count('<th scope="col"') == 7
    cell = html.split('datetime="2025-10-26"')[1].split("</td>")[0]
    assert f'href="{reverse("approvals:post_detail", args=[post.pk])}"' in cell
    assert ">00:30</time> Clocks go back, bins do not</a>" in cell
    assert "Mastodon @alpha" in cell and "X @AlphaCouncil" in cell and "Scheduled" in cell
    assert '<a href="?date=2025-09-01" rel="prev">Previous month</a>' in html
    assert '<a href="?date=2025-11-01" rel="next">Next month</a>' in html
    assert "Times are in Europe/London" in html
    # Days of the neighbouring months are shown greyed, without posts; nothing is marked today in October 2025.
    assert 'aria-current="date"' not in html


def test_this_month_marks_today(personas, login):
    html = login(personas.a.members["viewer"]).get(CALENDAR).content.decode()
    london_today = timezone.now().astimezone(cal.ZoneInfo("Europe/London")).date()
    assert html.count('aria-current="date"') == 1
    assert re.search(r'aria-current="date">\s*<p class="cal-day__date"><time datetime="' + london_today.isoformat(), html)


def test_week_page_lists_each_day_with_its_posts(personas, comms, login):
    a = personas.a
    place(make_post(a, [comms["mastodon"]], title="Road closure"), utc(2025, 10, 21, 8, 15))
    html = login(a.members["viewer"]).get(CALENDAR, {"view": "week", "date": "2025-10-22"}).content.decode()
    assert "<table" not in html
    assert html.count('<li class="cal-day') == 7
    assert "Week of 20 October 2025 to 26 October 2025" in html
    tuesday = html.split("Tuesday 21 October")[1].split("</li>\n  \n  <li")[0]
    assert ">09:15</time> Road closure</a>" in tuesday and "Mastodon @alpha" in tuesday
    assert html.count("No posts.") == 6
    assert "date=2025-10-15" in html and "date=2025-10-29" in html


def test_pauses_are_shown_on_the_days_they_cover(personas, comms, login):
    a = personas.a
    org = a.organisation
    PublishingPause.objects.create(organisation=org, department=None, reason="Pre-election period",
                                   starts_at=utc(2025, 10, 20, 9), ends_at=utc(2025, 10, 22, 17))
    PublishingPause.objects.create(organisation=org, department=a.departments["Communications"],
                                   reason="Flooding incident", starts_at=utc(2025, 10, 28, 12))
    PublishingPause.objects.create(organisation=org, department=a.departments["Customer Services"],
                                   reason="Phone system outage", starts_at=utc(2025, 10, 10, 12))
    # Lifted on the day it began: shown that day only.
    PublishingPause.objects.create(organisation=org, reason="False alarm", starts_at=utc(2025, 10, 5, 9),
                                   lifted_at=utc(2025, 10, 5, 10))
    viewer = fresh(a.members["viewer"])
    month = cal.build_calendar(viewer, "month", date(2025, 10, 1), cal.PostFilter())

    def reasons(d):
        return [b.pause.reason for b in day_of(month, d).pauses]

    assert reasons(date(2025, 10, 19)) == []
    assert reasons(date(2025, 10, 20)) == reasons(date(2025, 10, 22)) == ["Pre-election period"]
    assert reasons(date(2025, 10, 23)) == []
    assert reasons(date(2025, 10, 28)) == reasons(date(2025, 10, 31)) == ["Flooding incident"]
    assert reasons(date(2025, 10, 5)) == ["False alarm"] and reasons(date(2025, 10, 6)) == []
    # Another department's pause is not the viewer's business.
    assert "Phone system outage" not in {b.pause.reason for b in month.pauses}

    html = login(a.members["viewer"]).get(CALENDAR, {"date": "2025-10-01"}).content.decode()
    assert "Publishing paused during this month" in html
    assert "Publishing paused (Communications): Flooding incident" in html
    assert "until an admin or manager lifts it" in html
    assert "Phone system outage" not in html
    admin_html = login(a.members["admin"]).get(CALENDAR, {"date": "2025-10-01"}).content.decode()
    assert "Phone system outage" in admin_html


# ---------------------------------------------------------------------------- filters and scoping
def test_department_and_channel_filters(personas, comms, services_channel, login):
    a = personas.a
    on_x = place(make_post(a, [comms["x"]], title="On X"), utc(2025, 10, 14, 9))
    on_mastodon = place(make_post(a, [comms["mastodon"]], title="On Mastodon"), utc(2025, 10, 14, 10))
    help_desk = customer_services_post(personas, services_channel, at=utc(2025, 10, 14, 11))
    admin = fresh(a.members["admin"])

    def titles(**params):
        flt = cal.PostFilter.from_params(params, admin)
        view = cal.build_calendar(admin, "month", date(2025, 10, 1), flt)
        return [e.post.pk for e in day_of(view, date(2025, 10, 14)).events]

    assert titles() == [on_x.pk, on_mastodon.pk, help_desk.pk]
    assert titles(department=str(a.departments["Customer Services"].pk)) == [help_desk.pk]
    assert titles(department=str(a.departments["Communications"].pk)) == [on_x.pk, on_mastodon.pk]
    assert titles(channel=str(comms["mastodon"].pk)) == [on_mastodon.pk]
    html = login(a.members["admin"]).get(CALENDAR, {"date": "2025-10-14", "channel": comms["x"].pk}).content.decode()
    assert "On X" in html and "On Mastodon" not in html and "Help desk hours" not in html


@pytest.mark.parametrize("params", [
    {"view": "year"}, {"date": "2025-02-30"}, {"date": "14/10/2025"}, {"date": "２０２５-10-14"},
    {"department": "²"}, {"channel": "x"}, {"department": "99999999999999999999"},
])
def test_bad_calendar_parameters_are_a_400_page_not_a_500(personas, login, params):
    page = login(personas.a.members["viewer"]).get(CALENDAR, params)
    assert page.status_code == 400
    assert "This calendar could not be shown" in page.content.decode()


def test_non_admins_see_only_their_departments_posts(personas, comms, services_channel, login):
    a = personas.a
    mine = place(make_post(a, [comms["x"]], title="Communications post"), utc(2025, 10, 14, 9))
    customer_services_post(personas, services_channel, title="Customer Services post")
    html = login(a.members["viewer"]).get(CALENDAR, {"date": "2025-10-14"}).content.decode()
    assert "Communications post" in html and "Customer Services post" not in html
    # Asking for the other department by id is refused, not quietly answered.
    other = login(a.members["viewer"]).get(CALENDAR, {"date": "2025-10-14",
                                                      "department": a.departments["Customer Services"].pk})
    assert other.status_code == 400
    agent_html = login(a.members["agent"]).get(CALENDAR, {"date": "2025-10-14"}).content.decode()
    assert "Customer Services post" in agent_html and "Communications post" not in agent_html
    listing = login(a.members["viewer"]).get(LIST).content.decode()
    assert "Communications post" in listing and "Customer Services post" not in listing
    assert mine.pk


def test_another_organisation_sees_none_of_these_posts(personas, comms, login):
    a = personas.a
    place(make_post(a, [comms["x"]], title="Alpha only"), utc(2025, 10, 14, 9))
    outsider = login(personas.outsider)
    assert "Alpha only" not in outsider.get(CALENDAR, {"date": "2025-10-14"}).content.decode()
    assert "Alpha only" not in outsider.get(LIST).content.decode()
    # An admin of B may name any department id; A's department just holds nothing for them.
    body = outsider.get(FEED, {"start": "2025-10-01", "end": "2025-11-01",
                               "department": a.departments["Communications"].pk}).json()
    assert body["events"] == []


# ------------------------------------------------------------------------------------- JSON feed
def test_json_feed_lists_events_with_local_times_channels_and_urls(personas, comms, login):
    a = personas.a
    post = place(make_post(a, [comms["x"], comms["mastodon"]], title="Half past midnight"),
                 utc(2025, 10, 25, 23, 30), status=PostStatus.PUBLISHED)
    PublishingPause.objects.create(organisation=a.organisation, reason="Purdah", starts_at=utc(2025, 10, 27, 9))
    body = login(a.members["viewer"]).get(FEED, {"start": "2025-10-26", "end": "2025-10-27"}).json()
    assert body["timezone"] == "Europe/London"
    assert body["start"] == "2025-10-26T00:00:00+01:00" and body["end"] == "2025-10-27T00:00:00+00:00"
    [event] = body["events"]
    assert event == {
        "id": post.pk, "title": "Half past midnight", "start": "2025-10-26T00:30:00+01:00",
        "status": "published", "status_label": "Published", "published": True,
        "department": {"id": a.departments["Communications"].pk, "name": "Communications"},
        "channels": [
            {"id": comms["mastodon"].pk, "platform": "mastodon", "name": "Mastodon @alpha"},
            {"id": comms["x"].pk, "platform": "x", "name": "X @AlphaCouncil"},
        ],
        "url": f"http://testserver/posts/{post.pk}/",
    }
    assert body["pauses"] == []
    later = login(a.members["viewer"]).get(FEED, {"start": "2025-10-26T23:00:00Z", "end": "2025-10-28"}).json()
    assert later["events"] == [] and [p["reason"] for p in later["pauses"]] == ["Purdah"]


@pytest.mark.parametrize(("params", "field"), [
    ({}, "start"),
    ({"start": "2025-10-01"}, "end"),
    ({"start": "2025-13-01", "end": "2025-10-02"}, "start"),
    ({"start": "2025-10-01", "end": "tomorrow"}, "end"),
    ({"start": "２０２５-10-01", "end": "2025-10-02"}, "start"),
    ({"start": "2025-10-02", "end": "2025-10-01"}, "end"),
    ({"start": "2025-10-01", "end": "2025-10-01"}, "end"),
    ({"start": "2025-01-01", "end": "2025-04-12"}, "end"),
    ({"start": "2025-10-01", "end": "2025-10-02", "department": "²"}, "department"),
    ({"start": "2025-10-01", "end": "2025-10-02", "channel": "-1"}, "channel"),
])
def test_json_feed_refuses_bad_ranges_with_a_400_saying_why(personas, login, params, field):
    response = login(personas.a.members["viewer"]).get(FEED, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["errors"]


def test_json_feed_accepts_exactly_100_days_and_refuses_another_departments_filter(personas, login):
    viewer = login(personas.a.members["viewer"])
    assert viewer.get(FEED, {"start": "2025-01-01", "end": "2025-04-11"}).status_code == 200
    refused = viewer.get(FEED, {"start": "2025-10-01", "end": "2025-10-02",
                                "department": personas.a.departments["Customer Services"].pk})
    assert refused.status_code == 400 and "department" in refused.json()["errors"]


# ------------------------------------------------------------------------------------- iCalendar
def unfold(body: bytes) -> list[str]:
    """RFC 5545 parsing: every physical line ends CRLF and is at most 75 octets; continuation lines join."""
    assert body.endswith(b"\r\n")
    physical = body[:-2].split(b"\r\n")
    for raw in physical:
        assert len(raw) <= 75, raw
        assert b"\n" not in raw and b"\r" not in raw
        raw.decode("utf-8")  # a fold never splits a character
    logical: list[str] = []
    for raw in physical:
        text = raw.decode("utf-8")
        if text.startswith(" "):
            logical[-1] += text[1:]
        else:
            logical.append(text)
    return logical


def unescape_text(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def events(lines: list[str]) -> list[dict[str, str]]:
    found, current = [], None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            found.append(current)
            current = None
        elif current is not None:
            name, _, value = line.partition(":")
            current[name] = value
    return found


def feed_url(client, department) -> str:
    html = client.get(reverse("approvals:calendar_subscribe")).content.decode()
    match = re.search(rf'id="feed-{department.pk}" value="([^"]+)"', html)
    assert match, html
    return unescape(match.group(1))


def test_ics_feed_from_the_subscribe_page_is_valid_escaped_and_folded(personas, comms, login):
    a = personas.a
    title = "Road works, Elm St; diversions \\ buses — " + "é" * 60 + " 🚌" * 10
    # The feed covers 90 days back and 400 ahead of today.
    when = (timezone.now() - timedelta(days=3)).replace(hour=23, minute=30, second=0, microsecond=0)
    post = place(make_post(a, [comms["x"]], title=title), when, status=PostStatus.PUBLISHED)
    failed = place(make_post(a, [comms["mastodon"]], title="Failed one"), when, status=PostStatus.FAILED)
    too_old = place(make_post(a, [comms["x"]], title="Long ago"), timezone.now() - timedelta(days=91))
    PublishingPause.objects.create(organisation=a.organisation, department=a.departments["Communications"],
                                   reason="Incident, do not post", starts_at=timezone.now() + timedelta(days=1))
    url = feed_url(login(a.members["viewer"]), a.departments["Communications"])
    assert url.startswith(f"http://testserver/posts/calendar/{a.departments['Communications'].pk}.ics?token=")

    response = Client().get(url)  # a calendar app: no session
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    lines = unfold(response.content)
    assert lines[:2] == ["BEGIN:VCALENDAR", "VERSION:2.0"] and lines[-1] == "END:VCALENDAR"
    assert any(line.startswith("PRODID:") for line in lines)
    found = {e["UID"]: e for e in events(lines)}
    first = found[f"post-{post.pk}@testserver"]
    assert first["SUMMARY"] == "Road works\\, Elm St\\; diversions \\\\ buses — " + "é" * 60 + " 🚌" * 10
    assert unescape_text(first["SUMMARY"]) == title
    assert first["DTSTART"] == when.strftime("%Y%m%dT233000Z") and first["DTEND"] == when.strftime("%Y%m%dT234500Z")
    assert re.fullmatch(r"\d{8}T\d{6}Z", first["DTSTAMP"])
    assert first["URL"] == f"http://testserver/posts/{post.pk}/"
    assert first["STATUS"] == "CONFIRMED"
    assert unescape_text(first["DESCRIPTION"]) == "Published. Channels: X @AlphaCouncil."
    assert unescape_text(found[f"post-{failed.pk}@testserver"]["SUMMARY"]) == "Failed one (failed)"
    assert f"post-{too_old.pk}@testserver" not in found
    [pause] = [e for uid, e in found.items() if uid.startswith("pause-")]
    assert unescape_text(pause["SUMMARY"]) == "Publishing paused (Communications): Incident, do not post"
    assert "DTEND" not in pause
    # The long title was folded: more physical lines than logical ones.
    assert response.content.count(b"\r\n") > len(lines)


def test_ics_text_escaping_and_folding_rules():
    assert cal.ics_escape("a,b;c\\d\ne\r\nf") == "a\\,b\\;c\\\\d\\ne\\nf"
    assert cal.ics_escape("bell\x07") == "bell"
    folded = cal.ics_fold("SUMMARY:" + "€" * 40)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts) and all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == "SUMMARY:" + "€" * 40
    assert cal.ics_fold("x" * 75) == "x" * 75


def test_ics_shows_only_that_department(personas, comms, services_channel):
    a = personas.a
    place(make_post(a, [comms["x"]], title="Comms post"), timezone.now() + timedelta(days=2))
    customer_services_post(personas, services_channel, title="Help desk post", at=timezone.now() + timedelta(days=2))
    admin = a.members["admin"]
    comms_dept = a.departments["Communications"]
    body = Client().get(f"/posts/calendar/{comms_dept.pk}.ics", {"token": cal.ics_token(admin, comms_dept.pk)})
    text = b"".join(body.content.split(b"\r\n "))
    assert b"Comms post" in text and b"Help desk post" not in text


def ics(department, token):
    return Client().get(f"/posts/calendar/{department.pk}.ics", {"token": token})


def test_ics_token_for_another_organisation_department_or_member_is_a_404(personas):
    a, b = personas.a, personas.b
    comms, desk = a.departments["Communications"], b.departments["Digital Desk"]
    viewer, outsider = a.members["viewer"], personas.outsider
    assert ics(comms, cal.ics_token(viewer, comms.pk)).status_code == 200
    # B's admin, with a valid token for their own department, cannot point it at A's department.
    assert ics(desk, cal.ics_token(outsider, desk.pk)).status_code == 200
    assert ics(comms, cal.ics_token(outsider, desk.pk)).status_code == 404
    assert ics(comms, cal.ics_token(outsider, comms.pk)).status_code == 404
    # A token claiming A's organisation for B's admin (who has no membership there).
    forged = signing.dumps({"u": outsider.user_id, "o": a.organisation.pk, "d": comms.pk}, salt="approvals.ics")
    assert ics(comms, forged).status_code == 404
    # The viewer's token for Communications does not open Customer Services, nor does one they were never given.
    services = a.departments["Customer Services"]
    assert ics(services, cal.ics_token(viewer, comms.pk)).status_code == 404
    assert ics(services, cal.ics_token(viewer, services.pk)).status_code == 404


def test_ics_stops_when_access_ends(personas):
    a = personas.a
    comms = a.departments["Communications"]
    viewer, editor = a.members["viewer"], a.members["editor"]
    viewer_token, editor_token = cal.ics_token(viewer, comms.pk), cal.ics_token(editor, comms.pk)
    assert ics(comms, viewer_token).status_code == 200
    with acting(ActionContext(system_actor="system: tests")):
        account_services.member_set_active(actor=a.members["admin"], membership=viewer, active=False)
        account_services.member_update(actor=a.members["admin"], membership=editor, role="editor",
                                       departments=[a.departments["Customer Services"]])
    assert ics(comms, viewer_token).status_code == 404
    assert ics(comms, editor_token).status_code == 404


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    lambda t: t.replace(t.split(":")[0], signing.b64_encode(b'{"u":1,"o":1,"d":1}').decode()),
    lambda t: "",
    lambda t: "not-a-token",
    lambda t: signing.dumps({"u": 1}, salt="approvals.ics"),
    lambda t: signing.dumps({"u": "x", "o": 1, "d": 1}, salt="approvals.ics"),
])
def test_tampered_or_malformed_ics_tokens_are_a_404(personas, mangle):
    comms = personas.a.departments["Communications"]
    token = cal.ics_token(personas.a.members["viewer"], comms.pk)
    assert ics(comms, mangle(token)).status_code == 404


def test_a_token_signed_for_something_else_does_not_open_the_feed(personas):
    comms = personas.a.departments["Communications"]
    viewer = personas.a.members["viewer"]
    other_salt = signing.dumps({"u": viewer.user_id, "o": viewer.organisation_id, "d": comms.pk}, salt="inbox.list.updates")
    assert ics(comms, other_salt).status_code == 404


def test_subscribe_page_lists_the_members_departments_and_warns_the_link_is_personal(personas, login):
    a = personas.a
    html = login(a.members["viewer"]).get(reverse("approvals:calendar_subscribe")).content.decode()
    assert "Communications" in html and "Customer Services" not in html
    assert "These links are personal" in html and "stops working when your access ends" in html
    assert "webcal://testserver/posts/calendar/" in html
    admin_html = login(a.members["admin"]).get(reverse("approvals:calendar_subscribe")).content.decode()
    assert f'id="feed-{a.departments["Customer Services"].pk}"' in admin_html


# ----------------------------------------------------------------------------------------- lists
def test_list_filters_by_status_department_channel_and_author(personas, comms, services_channel, login):
    a = personas.a
    draft = make_post(a, [comms["mastodon"]], title="A draft")
    scheduled = place(make_post(a, [comms["x"]], title="A scheduled post"), utc(2030, 1, 1, 9))
    help_desk = customer_services_post(personas, services_channel)
    admin = login(a.members["admin"])

    def ids(**params):
        html = admin.get(LIST, params).content.decode()
        return sorted(int(i) for i in re.findall(r'class="posts-row" data-id="(\d+)"', html))

    assert ids() == sorted([draft.pk, scheduled.pk, help_desk.pk])
    assert ids(status="draft") == [draft.pk]
    assert ids(status="scheduled") == sorted([scheduled.pk, help_desk.pk])
    assert ids(department=a.departments["Customer Services"].pk) == [help_desk.pk]
    # A draft goes to the channels its revision names; a scheduled post to its targets.
    assert ids(channel=comms["mastodon"].pk) == [draft.pk]
    assert ids(channel=comms["x"].pk) == [scheduled.pk]
    assert ids(author="mine") == [help_desk.pk]
    editor_html = login(a.members["editor"], Client()).get(LIST, {"author": "mine"}).content.decode()
    assert "A draft" in editor_html and "Help desk hours" not in editor_html

    html = admin.get(LIST, {"status": "scheduled"}).content.decode()
    assert 'aria-current="page">Scheduled <span class="posts-tabs__count">(2)</span>' in html
    assert "Draft <span class=\"posts-tabs__count\">(1)</span>" in html
    assert "Scheduled for <time datetime=\"2030-01-01T09:00:00+00:00\">Tue 1 Jan 2030, 09:00 GMT</time>" in html
    assert f'href="/posts/{scheduled.pk}/"' in html and "Channels: X @AlphaCouncil" in html
    drafts = admin.get(LIST, {"status": "draft"}).content.decode()
    assert "Channels: Mastodon @alpha" in drafts and "goes as soon as approved" in drafts


def test_new_post_link_only_for_members_who_can_edit(personas, login):
    assert ">New post</a>" in login(personas.a.members["editor"]).get(LIST).content.decode()
    assert ">New post</a>" not in login(personas.a.members["viewer"]).get(LIST).content.decode()


@pytest.mark.parametrize("params", [
    {"status": "nonsense"}, {"author": "someone"}, {"cursor": "garbage"}, {"cursor": "WyJ4IiwgMV0"},
    {"department": "１"},
])
def test_bad_list_parameters_are_a_400_page(personas, login, params):
    page = login(personas.a.members["viewer"]).get(LIST, params)
    assert page.status_code == 400
    assert "These filters could not be used" in page.content.decode()


def test_list_pages_by_keyset_without_gaps_or_repeats(personas, comms, login):
    a = personas.a
    made = [make_post(a, [comms["x"]], title=f"Post {i}") for i in range(7)]
    same = timezone.now() - timedelta(hours=1)
    # Ties on updated_at are broken by id.
    Post.objects.filter(pk__in=[p.pk for p in made[:4]]).update(updated_at=same)
    viewer = fresh(a.members["viewer"])
    seen, cursor = [], ""
    while True:
        rows, cursor = cal.list_posts(viewer, cal.PostFilter(), cursor, page_size=3)
        seen += [r.pk for r in rows]
        if not cursor:
            break
    expected = list(Post.objects.filter(pk__in=[p.pk for p in made]).order_by("-updated_at", "-id").values_list("pk", flat=True))
    assert seen == expected and len(seen) == 7

    client = login(a.members["viewer"])
    first = client.get(LIST).content.decode()
    assert "Next page" not in first
    many = [make_post(a, [comms["x"]], title=f"More {i}") for i in range(cal.LIST_PAGE_SIZE)]
    first = client.get(LIST).content.decode()
    next_url = unescape(re.search(r'<a href="(\?[^"]+)" rel="next">', first).group(1))
    second = client.get(LIST + next_url).content.decode()
    on_second = re.findall(r'data-id="(\d+)"', second)
    assert len(on_second) == 7 + len(many) - cal.LIST_PAGE_SIZE
    assert not set(on_second) & set(re.findall(r'data-id="(\d+)"', first))
    assert "First page" in second


# ---------------------------------------------------------------------------------- query counts
def _spread(personas, comms, services_channel, n: int) -> None:
    a = personas.a
    start = utc(2025, 10, 1, 8)
    for i in range(n):
        if i % 3 == 2:
            customer_services_post(personas, services_channel, title=f"Help {i}", at=start + timedelta(hours=17 * i))
        else:
            channels = [comms["x"], comms["mastodon"]][: 1 + i % 2]
            post = make_post(a, channels, title=f"Post {i}")
            place(post, start + timedelta(hours=17 * i), status=PostStatus.PUBLISHED if i % 2 else PostStatus.SCHEDULED)
    PublishingPause.objects.create(organisation=a.organisation, reason="Purdah", starts_at=utc(2025, 10, 20, 9))


def test_calendar_reads_a_fixed_number_of_queries(personas, comms, services_channel, django_assert_max_num_queries):
    _spread(personas, comms, services_channel, 40)
    for role in ("admin", "viewer"):
        member = fresh(personas.a.members[role])
        # The member's departments (non-admins), posts, targets with their channels, pauses.
        with django_assert_max_num_queries(5):
            view = cal.build_calendar(member, "month", date(2025, 10, 1), cal.PostFilter())
            events = [(e.channel_names, e.post.department.name) for w in view.weeks for d in w for e in d.events]
        assert len(events) == (27 if role == "viewer" else 40)
        member = fresh(personas.a.members[role])
        with django_assert_max_num_queries(5):
            body = cal.feed(member, {"start": "2025-10-01", "end": "2025-11-20"})
        assert body["events"]


def _count(client, url, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    return len(queries)


@pytest.mark.parametrize(("url", "params"), [
    (CALENDAR, {"date": "2025-10-01"}),
    (CALENDAR, {"date": "2025-10-01", "view": "week"}),
    (FEED, {"start": "2025-10-01", "end": "2025-12-01"}),
    (LIST, {}),
    (LIST, {"status": "published"}),
])
def test_pages_cost_the_same_queries_for_one_post_and_for_forty(personas, comms, services_channel, login, url, params):
    client = login(personas.a.members["admin"])
    # Two posts (one scheduled, one published), so every prefetch already runs once.
    _spread(personas, comms, services_channel, 2)
    few = _count(client, url, params)
    _spread(personas, comms, services_channel, 40)
    assert _count(client, url, params) == few


def test_ics_costs_the_same_queries_for_one_post_and_for_forty(personas, comms, services_channel):
    comms_dept = personas.a.departments["Communications"]
    token = cal.ics_token(personas.a.members["viewer"], comms_dept.pk)
    now = timezone.now()
    place(make_post(personas.a, [comms["x"]], title="One"), now + timedelta(days=1))
    few = _count(Client(), f"/posts/calendar/{comms_dept.pk}.ics", {"token": token})
    for i in range(40):
        place(make_post(personas.a, [comms["x"], comms["mastodon"]], title=f"Post {i}"), now + timedelta(hours=i))
    assert _count(Client(), f"/posts/calendar/{comms_dept.pk}.ics", {"token": token}) == few


# ------------------------------------------------------------------------------------ the calendar's edges
def _in_zone(personas, zone: str) -> None:
    personas.a.organisation.timezone = zone
    personas.a.organisation.save(update_fields=["timezone"])


def _cursor(at: str, pk) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, pk]).encode()).decode().rstrip("=")


EDGE_RANGES = [
    # Year 9999 at -12:00 is year 10000 in UTC; year 1 at +05:00 is before year 1 in UTC.
    ({"start": "9999-12-31", "end": "9999-12-31T23:59:59-12:00"}, "start"),
    ({"start": "0001-01-01T00:00:00+05:00", "end": "0001-01-02"}, "start"),
    ({"start": "2025-10-01", "end": "9999-12-31T23:59:59-12:00"}, "end"),
    ({"start": "0001-01-01", "end": "2025-10-01"}, "start"),
    ({"start": "2101-01-01", "end": "2101-01-02"}, "start"),
]


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Etc/GMT-14"])
@pytest.mark.parametrize(("params", "field"), EDGE_RANGES)
def test_feeds_refuse_dates_at_the_edges_of_the_calendar_with_a_400(personas, login, api_for, zone, params, field):
    _in_zone(personas, zone)
    viewer = personas.a.members["viewer"]
    for response in (login(viewer).get(FEED, params), api_for(viewer).get("/api/v1/posts/calendar/", params)):
        assert response.status_code == 400
        assert response.json()["errors"][field] in (
            ["Choose a date between 1900 and 2100."], "Choose a date between 1900 and 2100.")


def test_feed_still_answers_ranges_near_the_window_edges(personas, login):
    _in_zone(personas, "America/New_York")
    viewer = login(personas.a.members["viewer"])
    assert viewer.get(FEED, {"start": "2100-12-01", "end": "2100-12-31T23:59:59-12:00"}).status_code == 200
    assert viewer.get(FEED, {"start": "1900-01-01T00:00:00+05:00", "end": "1900-01-02"}).status_code == 200


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
@pytest.mark.parametrize("params", [
    {"date": "9999-12-31"}, {"date": "9999-12-31", "view": "week"}, {"date": "0001-01-01"},
    {"date": "0001-01-01", "view": "week"}, {"date": "2101-01-01"},
])
def test_calendar_pages_refuse_dates_at_the_edges_with_a_400(personas, login, zone, params):
    _in_zone(personas, zone)
    page = login(personas.a.members["viewer"]).get(CALENDAR, params)
    assert page.status_code == 400
    html = page.content.decode()
    assert "This calendar could not be shown" in html and "Choose a date between 1900 and 2100." in html


def test_calendar_pages_show_the_first_and_last_months_of_the_window(personas, login):
    _in_zone(personas, "Etc/GMT+12")
    viewer = login(personas.a.members["viewer"])
    for params in ({"date": "2100-12-31"}, {"date": "2100-12-31", "view": "week"}, {"date": "1900-01-01"},
                   {"date": "1900-01-01", "view": "week"}):
        assert viewer.get(CALENDAR, params).status_code == 200, params


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
@pytest.mark.parametrize("cursor", [
    _cursor("9999-12-31T23:59:59-12:00", 1),
    _cursor("0001-01-01T00:00:00+05:00", 1),
    _cursor("2025-10-01T00:00:00+00:00", 2**70),
    _cursor("2025-10-01T00:00:00+00:00", 0),
    _cursor("2025-10-01T00:00:00+00:00", True),
    _cursor("2025-10-01T00:00:00+00:00", 1.5),
])
def test_list_refuses_cursors_at_the_edges_with_a_400(personas, comms, login, zone, cursor):
    _in_zone(personas, zone)
    page = login(personas.a.members["viewer"]).get(LIST, {"cursor": cursor})
    assert page.status_code == 400
    assert "These filters could not be used" in page.content.decode()
    with pytest.raises(cal.CalendarError):
        cal.decode_cursor(cursor)
