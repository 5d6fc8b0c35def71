"""The conversation page and the notifications page in Chromium: axe, keyboard, 320 px, the live character counter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from inbox import services
from inbox.models import Reply, ReplyState, SavedReply
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.browser

AGENT_EMAIL = "alex.agent@westmere.example"
COLLEAGUE_EMAIL = "sam.jones@westmere.example"


@dataclass
class Desk:
    org: Org
    agent: Membership
    colleague: Membership


@pytest.fixture
def westmere(transactional_db) -> Desk:
    org = make_organisation("westmere", "Westmere Council", ["Communications", "Customer Services"])
    agent = add_member(org, "agent", AGENT_EMAIL, ["Customer Services"])
    colleague = add_member(org, "manager", COLLEAGUE_EMAIL, ["Customer Services"])
    return Desk(org=org, agent=agent, colleague=colleague)


def _busy_conversation(desk: Desk):
    """A conversation with something of every kind in its history, so every part of the page is checked."""
    channel = make_channel(desk.org, platform="x")
    contact = make_contact(desk.org, platform="x", name="Priya Shah", handle="@priya")
    make_conversation(desk.org, channel=channel, contact=contact, text="Last month's missed bin",
                      at=timezone.now() - timedelta(days=30))
    conversation = make_conversation(desk.org, channel=channel, contact=contact, flagged=True,
                                     text="My bin has not been emptied for three weeks, this is urgent")
    for state, text, error in [
        (ReplyState.SENT, "Sorry Priya, the crew is on the way.", ""),
        (ReplyState.FAILED, "We will call you today.", "You are not allowed to reply to this conversation."),
        (ReplyState.AWAITING_APPROVAL, "A trainee's draft.", ""),
    ]:
        Reply.objects.create(organisation=desk.org.organisation, conversation=conversation, channel=channel,
                             author=desk.agent.user, text=text, state=state, last_error=error)
    services.note_add(actor=desk.agent, conversation_id=conversation.pk, text="@sam.jones can you chase the crew?")
    services.conversation_assign(actor=desk.agent, conversation_id=conversation.pk, assignee=desk.agent.user)
    services.conversation_set_tags(actor=desk.agent, conversation_id=conversation.pk, names=["Bins"])
    SavedReply.objects.create(organisation=desk.org.organisation, department=conversation.department,
                              title="Apology", body="Hello {contact_name}, we are sorry.")
    return conversation


def _focus_by_tabbing(page, element_id: str, limit: int = 120) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key in {limit} presses")


def test_agent_reaches_the_reply_box_by_keyboard_and_the_counter_follows_the_typing(new_page, live_server, westmere):
    conversation = _busy_conversation(westmere)
    page = new_page()
    sign_in(page, AGENT_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"/inbox/{conversation.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Conversation with Priya Shah"
    check_page(page)

    _focus_by_tabbing(page, "reply-text")
    counter = page.locator("#reply-counter")
    assert "0 of 280 characters" in counter.inner_text()
    page.keyboard.type("Hello")
    assert "5 of 280 characters" in counter.inner_text()
    # As X counts: a link is 23 and a CJK character 2.
    page.keyboard.type(" https://example.org/a/very/long/path/indeed 漢")
    assert "32 of 280 characters" in counter.inner_text()
    # A direct message on X has a limit of its own.
    page.get_by_role("radio", name="Direct message").check()
    assert "of 10000 characters" in counter.inner_text()
    page.get_by_role("radio", name="Public reply").check()

    # The saved reply arrives filled in by the server; Insert adds it at the cursor.
    page.get_by_role("button", name="Insert").click()
    assert page.get_by_label("Your reply to Priya Shah").input_value().endswith("Hello Priya Shah, we are sorry.")
    assert page.evaluate("document.activeElement.id") == "reply-text"

    # Too long for X: the server's verdict comes back with the text kept.
    page.get_by_label("Your reply to Priya Shah").fill("漢" * 141)
    assert "282 of 280 characters" in counter.inner_text()
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_load_state("load")
    assert "Your reply was not sent" in page.get_by_role("alert").first.inner_text()
    assert "282 of 280 characters" in counter.inner_text()
    assert page.get_by_label("Your reply to Priya Shah").input_value() == "漢" * 141
    assert not conversation.replies.filter(text="漢" * 141).exists()


def test_notifications_page_is_accessible_and_marks_read(new_page, live_server, westmere):
    _busy_conversation(westmere)
    page = new_page()
    sign_in(page, COLLEAGUE_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/inbox/notifications/")
    assert page.get_by_role("heading", level=1).inner_text() == "Notifications"
    check_page(page)
    assert "mentioned you in a note" in page.get_by_role("main").inner_text()
    page.get_by_role("button", name="Mark all as read").click()
    page.wait_for_url("**/inbox/notifications/")
    assert "All notifications marked as read." in page.get_by_role("status").first.inner_text()
    check_page(page)
