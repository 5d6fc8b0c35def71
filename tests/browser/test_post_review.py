"""The post page, the approval queue and the pauses page in Chromium: axe, keyboard and 320 px in each state a
reviewer meets, and approving from the queue with the keyboard alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import Post, PostStatus, PublishTarget, TargetState
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

ADMIN = "ada.admin@eastfield.example"
MANAGER = "morgan.manager@eastfield.example"
APPROVER = "pat.approver@eastfield.example"
EDITOR = "eli.editor@eastfield.example"


@dataclass
class Desk:
    org: Org

    def member(self, role: str):
        return self.org.members[role]


@pytest.fixture
def eastfield(transactional_db) -> Desk:
    org = make_organisation("eastfield", "Eastfield Council", ["Communications", "Customer Services"])
    add_member(org, "admin", ADMIN, [])
    add_member(org, "manager", MANAGER, ["Communications"])
    add_member(org, "approver", APPROVER, ["Communications"])
    add_member(org, "editor", EDITOR, ["Communications"])
    return Desk(org)


def _post(desk: Desk, title: str = "Bin collections", *, channels=None, submit: bool = False) -> Post:
    channels = channels or [make_channel(desk.org, department="Communications", platform="mastodon")]
    post = services.post_create(
        actor=desk.member("editor"), department=desk.org.departments["Communications"],
        draft=services.Draft(title=title, body="Bins are collected on Monday. Put them out by 7am.",
                             channel_ids=[c.pk for c in channels]),
    )
    if submit:
        services.post_submit(actor=desk.member("editor"), post_id=post.pk)
    return post


def _signed_in(new_page, live_server, email: str):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def _tab_to(page, element_id: str, limit: int = 150) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key in {limit} presses")


def test_post_page_passes_in_each_state(new_page, live_server, eastfield):
    desk = eastfield
    draft = _post(desk, "A draft")
    services.comment_add(actor=desk.member("editor"), post_id=draft.pk, text="@pat.approver is Monday right?")

    editor = _signed_in(new_page, live_server, EDITOR)
    editor.goto(f"/posts/{draft.pk}/")
    assert editor.get_by_role("heading", level=1).inner_text() == "A draft"
    assert editor.get_by_role("button", name="Submit for approval").is_visible()
    check_page(editor)

    in_review = _post(desk, "In review", submit=True)
    services.comment_add(actor=desk.member("approver"), post_id=in_review.pk, text="One question.")
    approver = _signed_in(new_page, live_server, APPROVER)
    approver.goto(f"/posts/{in_review.pk}/")
    assert approver.get_by_role("button", name="Approve revision 1").is_visible()
    assert approver.get_by_role("button", name="Request changes").is_visible()
    check_page(approver)

    # Approve through the page; it comes back scheduled.
    approver.get_by_label("Comment with your approval (optional)").fill("Fine by me.")
    approver.get_by_role("button", name="Approve revision 1").click()
    approver.wait_for_url(f"**/posts/{in_review.pk}/")
    assert approver.locator("#post-status").inner_text() == "Scheduled"
    approver.goto(f"/posts/{in_review.pk}/")
    check_page(approver)

    # Published on one channel with a link, failed on another with the platform's reason.
    second = make_channel(desk.org, department="Communications", platform="x")
    mixed = _post(desk, "Partly published", channels=[second, make_channel(desk.org, "Communications", "mastodon")])
    services.post_submit(actor=desk.member("editor"), post_id=mixed.pk)
    services.post_approve(actor=desk.member("approver"), post_id=mixed.pk)
    PublishTarget.objects.filter(post=mixed).exclude(channel=second).update(
        state=TargetState.SENT, platform_id="42", platform_url="https://social.example/@eastfield/42",
        published_at=timezone.now())
    PublishTarget.objects.filter(post=mixed, channel=second).update(
        state=TargetState.FAILED, last_error="You are not permitted to perform this action.")
    Post.objects.filter(pk=mixed.pk).update(status=PostStatus.PARTLY_PUBLISHED)
    approver.goto(f"/posts/{mixed.pk}/")
    publishing = approver.get_by_role("region", name="Publishing")
    assert publishing.get_by_role("link", name="View on Mastodon").get_attribute("href") == \
        "https://social.example/@eastfield/42"
    assert "said: You are not permitted to perform this action." in publishing.inner_text()
    check_page(approver)

    # The approval came after its time: the choice is offered, prominent and keyboard-usable.
    late = _post(desk, "Late", submit=True)
    Post.objects.filter(pk=late.pk).update(scheduled_at=timezone.now() - timedelta(minutes=10))
    services.post_approve(actor=desk.member("approver"), post_id=late.pk)
    approver.goto(f"/posts/{late.pk}/")
    assert approver.locator("#needs-new-time").is_visible()
    check_page(approver)

    # Break glass, with the pause banner too.
    glass = _post(desk, "Flood warning", submit=True)
    services.post_break_glass(actor=desk.member("admin"), post_id=glass.pk,
                              reason="Flood warning for the river area, cannot wait")
    services.pause_start(actor=desk.member("manager"), reason="Pre-election period",
                         department=desk.org.departments["Communications"])
    admin = _signed_in(new_page, live_server, ADMIN)
    admin.goto(f"/posts/{glass.pk}/")
    banner = admin.get_by_role("region", name="Published without approval (break glass)")
    assert "Flood warning for the river area, cannot wait" in banner.inner_text()
    assert admin.get_by_role("region", name="Publishing is paused").is_visible()
    check_page(admin)

    # An admin on a post in review: the break-glass form with its warning, opened.
    other = _post(desk, "Another one", submit=True)
    admin.goto(f"/posts/{other.pk}/")
    admin.get_by_text("Emergency: publish without approval").click()
    assert admin.get_by_label("Why this cannot wait for approval (required)").is_visible()
    admin.goto(f"/posts/{other.pk}/")
    check_page(admin)


def test_approver_approves_from_the_queue_with_the_keyboard(new_page, live_server, eastfield):
    desk = eastfield
    first = _post(desk, "Road closures", submit=True)
    second = _post(desk, "Library hours", submit=True)
    Post.objects.filter(pk=first.pk).update(scheduled_at=timezone.now() - timedelta(minutes=5))
    page = _signed_in(new_page, live_server, APPROVER)
    page.goto("/posts/queue/")
    assert page.get_by_role("heading", level=1).inner_text() == "Approval queue"
    assert "Overdue" in page.get_by_role("table").inner_text()
    check_page(page)

    _tab_to(page, f"queue-post-{second.pk}")
    page.keyboard.press("Space")
    assert page.locator(f"#queue-post-{second.pk}").is_checked()
    page.keyboard.press("Tab")
    while page.evaluate("document.activeElement.tagName") != "BUTTON":
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Approve chosen posts"
    page.keyboard.press("Enter")
    page.wait_for_url("**/posts/queue/")
    assert "Approved 1 post." in page.get_by_role("status").first.inner_text()
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == PostStatus.SCHEDULED and first.status == PostStatus.IN_REVIEW
    page.goto("/posts/queue/")
    assert "Library hours" not in page.get_by_role("table").inner_text()
    check_page(page)


def test_pauses_page_passes_empty_with_errors_and_with_pauses(new_page, live_server, eastfield):
    desk = eastfield
    page = _signed_in(new_page, live_server, MANAGER)
    page.goto("/posts/pauses/")
    check_page(page)

    page.get_by_role("button", name="Pause publishing").click()  # no reason: the browser asks for one
    assert page.url.endswith("/posts/pauses/")
    page.get_by_label("Reason (required)").fill("Major incident")
    page.get_by_label("Ends (optional, Europe/London)").fill("2001-01-01T09:00")
    page.get_by_role("button", name="Pause publishing").click()
    page.wait_for_load_state("load")
    assert "The end must be in the future." in page.get_by_role("alert").inner_text()
    check_page(page)

    page.get_by_label("Ends (optional, Europe/London)").fill("")
    page.get_by_role("button", name="Pause publishing").click()
    page.wait_for_url("**/posts/pauses/")
    services.pause_start(actor=desk.member("admin"), reason="Pre-election period")
    page.goto("/posts/pauses/")
    assert page.get_by_role("button", name="Lift this pause (Communications)").is_visible()
    assert "Only an admin can lift this pause." in page.get_by_role("region", name="Active pauses").inner_text()
    check_page(page)
    page.get_by_role("button", name="Lift this pause (Communications)").click()
    page.wait_for_url("**/posts/pauses/")
    page.goto("/posts/pauses/")
    assert "Major incident" in page.get_by_role("region", name="Past pauses").inner_text()
    check_page(page)
