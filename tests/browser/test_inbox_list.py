"""The inbox list in Chromium: accessible at desktop and 320 px, live without a reload, bulk actions by keyboard."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from inbox.models import Conversation, ConversationStatus
from tests.browser.checks import assert_fits_320px, assert_no_axe_violations, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.browser

AGENT_EMAIL = "alex.agent@westmoor.example"


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex}"


@pytest.fixture
def westmoor(transactional_db) -> tuple[Org, Membership]:
    org = make_organisation("westmoor", "Westmoor Council", ["Communications", "Customer Services"])
    return org, add_member(org, "agent", AGENT_EMAIL, ["Customer Services"])


def _open_inbox(page, live_server):
    sign_in(page, AGENT_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox", exact=True).click()
    page.wait_for_url("**/inbox/")
    assert page.get_by_role("heading", level=1).inner_text() == "Inbox"


def test_new_conversation_appears_without_reload_and_is_announced(new_page, live_server, westmoor):
    org, _agent = westmoor
    channel = make_channel(org, "Customer Services")
    make_conversation(
        org, channel=channel, contact=make_contact(org, name="Jo Resident"), text="Bins missed again",
        at=timezone.now() - timedelta(minutes=30), flagged=True, risk_terms=["urgent"],
    )
    page = new_page()
    _open_inbox(page, live_server)
    check_page(page)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    make_conversation(org, channel=channel, contact=make_contact(org, name="Kim Newcomer"), text="Streetlight out on Elm Road")
    started = time.monotonic()
    page.get_by_role("link", name="Kim Newcomer").wait_for(timeout=5_000)
    assert time.monotonic() - started < 5
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of updating"
    page.wait_for_function("document.getElementById('inbox-live-status').textContent === '1 new conversation'")
    assert "Open (2)" in page.get_by_role("navigation", name="Conversations by status").inner_text()
    # The swapped-in rows pass too (check_page's keyboard check needs a fresh document; this one is not).
    assert_no_axe_violations(page, " after a live update")
    assert_fits_320px(page)


def test_live_update_keeps_ticked_boxes_and_focus(new_page, live_server, westmoor):
    org, _agent = westmoor
    channel = make_channel(org, "Customer Services")
    first = make_conversation(org, channel=channel, contact=make_contact(org, name="Jo Resident"),
                              at=timezone.now() - timedelta(minutes=30))
    page = new_page()
    _open_inbox(page, live_server)
    box = page.get_by_label("Select the conversation with Jo Resident")
    box.check()
    box.focus()
    make_conversation(org, channel=channel, contact=make_contact(org, name="Kim Newcomer"))
    page.get_by_role("link", name="Kim Newcomer").wait_for(timeout=5_000)
    assert page.get_by_label("Select the conversation with Jo Resident").is_checked()
    assert page.evaluate("document.activeElement.id") == f"select-{first.pk}"


def test_select_all_and_close_from_the_list(new_page, live_server, westmoor):
    org, _agent = westmoor
    channel = make_channel(org, "Customer Services")
    made = [make_conversation(org, channel=channel) for _ in range(3)]
    page = new_page()
    _open_inbox(page, live_server)
    page.get_by_label("Select all on this page").check()
    page.get_by_role("button", name="Close selected").click()
    page.wait_for_url("**/inbox/")
    assert "3 conversations closed." in page.get_by_role("status").inner_text()
    assert set(Conversation.objects.filter(pk__in=[c.pk for c in made]).values_list("status", flat=True)) == {
        ConversationStatus.CLOSED
    }
    assert "No conversations match these filters." in page.inner_text("main")
    check_page(page)


def test_bad_filter_page_is_accessible_and_explains(new_page, live_server, westmoor):
    page = new_page()
    _open_inbox(page, live_server)
    response = page.goto("/inbox/?priority=sky-high")
    assert response.status == 400
    assert "Choose from: low, normal, high, urgent." in page.get_by_role("alert").inner_text()
    check_page(page)
