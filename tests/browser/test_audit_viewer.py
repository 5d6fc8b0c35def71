"""The audit trail in Chromium: axe, keyboard and 320 px on the list (with and without filters), an event's page,
and a post page with its History tab; the "Older events" link pages on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from audit.models import AuditEvent, EventType
from tests.approvals_factories import make_post
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

ADMIN = "ada.admin@northfield.example"
EDITOR = "eli.editor@northfield.example"


@pytest.fixture
def northfield(transactional_db):
    org = make_organisation("northfield", "Northfield Council", ["Communications", "Customer Services"])
    add_member(org, "admin", ADMIN, [])
    add_member(org, "editor", EDITOR, ["Communications"])
    add_member(org, "manager", "morgan.manager@northfield.example", ["Communications"])
    return org


def _signed_in(new_page, live_server, email: str):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_audit_list_detail_and_post_history_pass_the_checks(new_page, live_server, northfield):
    org = northfield
    channel = make_channel(org, department="Communications", platform="mastodon")
    post = make_post(org, [channel], title="Road closures this weekend")
    account_services.member_update(actor=org.members["admin"], membership=org.members["manager"], role="approver")
    # A long unbroken label and changes must still fit 320 px.
    AuditEvent.objects.create(
        organisation=org.organisation, department=org.departments["Communications"],
        occurred_at=timezone.now() - timedelta(minutes=1), actor_label="system: " + "x" * 120,
        event_type=EventType.PUBLISHING_SETTINGS_CHANGED, target_repr="Publishing settings",
        changes={"blocked_words": {"from": ["alpha"], "to": ["alpha", "beta" * 30]}}, request_id="f" * 32,
    )
    page = _signed_in(new_page, live_server, ADMIN)

    page.goto("/audit/")
    check_page(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Audit trail"
    assert page.locator("#audit-events tbody tr").count() >= 3

    page.goto(f"/audit/?event_type=post.created&target_type=approvals.post&target_id={post.pk}")
    check_page(page)
    assert page.locator("#audit-events tbody tr").count() == 1
    page.get_by_role("link", name="Road closures this weekend").first.wait_for()

    event = AuditEvent.objects.get(event_type=EventType.POST_CREATED, target_id=str(post.pk))
    page.goto(f"/audit/{event.pk}/")
    check_page(page)
    assert page.get_by_role("heading", name="Hash chain").is_visible()

    page.goto(f"/posts/{post.pk}/")
    check_page(page)
    assert page.locator("#history").count() == 0
    # The post page links to its History tab, which lists the events (and passes the same checks).
    page.get_by_role("link", name="History of this post").press("Enter")
    page.wait_for_url(f"**/posts/{post.pk}/history/")
    check_page(page)
    assert page.get_by_role("link", name="History", exact=True).get_attribute("aria-current") == "page"
    history = page.locator("#history")
    assert history.get_by_role("heading", name="Audit history").is_visible()
    assert history.get_by_role("link", name="Post created").count() >= 1

    page.goto("/audit/?from=9999-01-01")
    check_page(page)
    assert page.locator("#filter-errors").is_visible()


def test_filters_form_and_older_events_link_work_with_the_keyboard(new_page, live_server, northfield):
    org = northfield
    base = timezone.now() - timedelta(hours=2)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            organisation=org.organisation, department=org.departments["Communications"],
            occurred_at=base + timedelta(seconds=i), actor_label="system: tests", event_type=EventType.POST_FINISHED,
        )
        for i in range(60)
    )
    page = _signed_in(new_page, live_server, ADMIN)
    page.goto("/audit/")
    page.get_by_text("Filter events").click()
    page.get_by_label("What happened").select_option("post.finished")
    page.get_by_role("button", name="Apply filters").press("Enter")
    page.wait_for_url("**/audit/?*event_type=post.finished*")
    check_page(page)
    assert page.locator("#audit-events tbody tr").count() == 50
    page.get_by_role("link", name="Older events").press("Enter")
    page.wait_for_url("**cursor=*")
    check_page(page)
    assert page.locator("#audit-events tbody tr").count() == 10
    assert page.get_by_role("link", name="Back to the newest events").is_visible()


def test_editor_sees_no_history_tab_link_on_the_post_page(new_page, live_server, northfield):
    channel = make_channel(northfield, department="Communications", platform="mastodon")
    post = make_post(northfield, [channel])
    page = _signed_in(new_page, live_server, EDITOR)
    page.goto(f"/posts/{post.pk}/")
    check_page(page)
    assert page.locator("#history").count() == 0 and page.locator("#history-link").count() == 0
