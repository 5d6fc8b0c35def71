"""The posts list, calendar (month and week) and feed subscription page in Chromium: axe, keyboard, 320 px."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Membership
from approvals.models import Post, PostStatus, PublishingPause, PublishTarget, TargetState
from tests.browser.checks import NARROW, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

EDITOR_EMAIL = "eve.editor@westmoor.example"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def westmoor(transactional_db) -> tuple[Org, Membership]:
    org = make_organisation("westmoor", "Westmoor Council", ["Communications", "Customer Services"])
    add_member(org, "admin", "ada.admin@westmoor.example", [])
    return org, add_member(org, "editor", EDITOR_EMAIL, ["Communications"])


def _posts_this_month(org: Org) -> list[Post]:
    """Posts on the 2nd, the 9th, today and the 24th of this month at 09:00 London time, one published."""
    from tests.approvals_factories import make_post

    x = make_channel(org, "Communications", platform="x", handle="@Westmoor")
    mastodon = make_channel(org, "Communications", platform="mastodon", handle="@westmoor")
    today = timezone.now().astimezone(LONDON).date()
    days = sorted({today.replace(day=2), today.replace(day=9), today, today.replace(day=24)})
    made = []
    for i, day in enumerate(days):
        post = make_post(org, [x, mastodon] if i % 2 else [x], title=f"Bin collections update {i + 1}")
        at = datetime(day.year, day.month, day.day, 9, 0, tzinfo=LONDON)
        published = day < today
        Post.objects.filter(pk=post.pk).update(
            status=PostStatus.PUBLISHED if published else PostStatus.SCHEDULED, scheduled_at=at,
            published_at=at if published else None,
        )
        PublishTarget.objects.bulk_create(
            PublishTarget(organisation_id=post.organisation_id, post=post, channel_id=cid,
                          revision=post.current_revision, state=TargetState.SENT if published else TargetState.PENDING)
            for cid in post.current_revision.channel_ids
        )
        made.append(post)
    start = datetime(today.year, today.month, 12, 9, 0, tzinfo=LONDON)
    PublishingPause.objects.create(organisation=org.organisation, department=org.departments["Communications"],
                                   reason="Storm response", starts_at=start, ends_at=start + timedelta(days=2))
    # A long unbroken title must wrap, not push the page sideways.
    long = make_post(org, [x], title="Consultation" * 12)
    Post.objects.filter(pk=long.pk).update(status=PostStatus.SCHEDULED,
                                           scheduled_at=datetime(today.year, today.month, 16, 12, 0, tzinfo=LONDON))
    return made


def _sign_in(page, live_server):
    sign_in(page, EDITOR_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")


def test_month_week_list_and_subscribe_pages_pass_axe_keyboard_and_320px(new_page, live_server, westmoor):
    org, _editor = westmoor
    _posts_this_month(org)
    page = new_page()
    _sign_in(page, live_server)

    page.goto("/posts/calendar/")
    assert page.get_by_role("heading", level=1).inner_text() == "Posts calendar"
    table = page.get_by_role("table")
    today = timezone.now().astimezone(LONDON).date()
    assert table.locator("caption").inner_text() == today.strftime("%B %Y")
    assert page.locator('td[aria-current="date"]').count() == 1
    assert "Publishing paused (Communications): Storm response" in table.inner_text()
    check_page(page)

    page.goto("/posts/calendar/?view=week")
    assert page.locator('li[aria-current="date"]').count() == 1
    check_page(page)

    page.goto("/posts/")
    assert page.get_by_role("link", name="New post").is_visible()
    check_page(page)

    page.goto("/posts/calendar/subscribe/")
    feed = page.get_by_label("Feed address for Communications")
    assert "/posts/calendar/" in feed.input_value() and "token=" in feed.input_value()
    check_page(page)


def test_keyboard_reaches_every_post_in_day_order(new_page, live_server, westmoor):
    org, _editor = westmoor
    made = _posts_this_month(org)
    page = new_page()
    _sign_in(page, live_server)
    page.goto("/posts/calendar/")
    page.wait_for_load_state("load")
    reached = []
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const el = document.activeElement;
            return {href: el.getAttribute('href') || '', inTable: !!el.closest('table.cal-month')};
        }""")
        if focused["inTable"] and focused["href"].startswith("/posts/"):
            reached.append(focused["href"])
        elif reached and not focused["inTable"]:
            break
    expected = [f"/posts/{p.pk}/" for p in made]
    assert [h for h in reached if h in expected] == expected
    # Enter on a focused post link opens that post.
    page.keyboard.press("Shift+Tab")
    while page.evaluate("document.activeElement.getAttribute('href')") != expected[-1]:
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{expected[-1]}")


def test_month_becomes_a_list_of_days_at_320px(new_page, live_server, westmoor):
    org, _editor = westmoor
    _posts_this_month(org)
    page = new_page()
    _sign_in(page, live_server)
    page.set_viewport_size(NARROW)
    page.goto("/posts/calendar/")
    cell = page.locator('td[aria-current="date"]')
    assert cell.evaluate("el => getComputedStyle(el).display") == "block"
    outside = page.locator("td.cal-day--outside")
    assert all(outside.nth(i).evaluate("el => getComputedStyle(el).display") == "none" for i in range(outside.count()))
    # The weekday and month, read out beside the column header on wide screens, are shown in the list.
    assert cell.locator(".cal-day__long").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
