"""The conversation page and the notifications page in Chromium: axe, keyboard, 320 px, the live character counter."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from inbox import services
from inbox.models import Conversation, Reply, ReplyState, SavedReply
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.browser

AGENT_EMAIL = "alex.agent@westmere.example"
COLLEAGUE_EMAIL = "sam.jones@westmere.example"
SECOND_AGENT_EMAIL = "kim.lee@westmere.example"


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    # Other test runs share this Redis and number their conversations from 1 too.
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex}"


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
    # The page as it comes back with the errors: the alert, the invalid box and its description pass too.
    assert page.get_by_label("Your reply to Priya Shah").get_attribute("aria-invalid") == "true"
    check_page(page)


def _simple_conversation(desk: Desk, text: str = "The streetlight on Mill Lane is out"):
    channel = make_channel(desk.org, platform="x")
    contact = make_contact(desk.org, platform="x", name="Priya Shah", handle="@priya")
    return make_conversation(desk.org, channel=channel, contact=contact, text=text)


def _sign_in(new_page, live_server, email: str):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_a_failed_reply_shows_the_platforms_reason_and_a_retry_button(new_page, live_server, westmere):
    conversation = _simple_conversation(westmere)
    reason = "You are not allowed to reply to this conversation."
    Reply.objects.create(organisation=westmere.org.organisation, conversation=conversation,
                         channel=conversation.channel, author=westmere.agent.user, text="We will call you today.",
                         state=ReplyState.FAILED, last_error=reason)
    # Overdue too, so the badge is checked with the rest of this state.
    Conversation.objects.filter(pk=conversation.pk).update(
        first_response_due_at=timezone.now() - timedelta(minutes=30), first_responded_at=None,
        resolution_due_at=timezone.now() + timedelta(hours=5),
    )
    page = _sign_in(new_page, live_server, AGENT_EMAIL)
    page.goto(f"/inbox/{conversation.pk}/")
    history = page.get_by_role("region", name="History", exact=True)
    assert f"X said: {reason}" in history.inner_text()
    retry = history.get_by_role("button", name="Retry sending this reply")
    assert retry.is_visible()
    assert "Failed" in history.inner_text()
    assert page.locator("#sla-overdue").inner_text() == "Overdue The first response is past due."
    check_page(page)


def test_an_approver_sees_approve_and_reject_on_a_reply_awaiting_approval(new_page, live_server, westmere):
    conversation = _simple_conversation(westmere)
    draft = Reply.objects.create(organisation=westmere.org.organisation, conversation=conversation,
                                 channel=conversation.channel, author=westmere.agent.user,
                                 text="A trainee's draft about the streetlight.", state=ReplyState.AWAITING_APPROVAL)
    page = _sign_in(new_page, live_server, COLLEAGUE_EMAIL)  # a manager: may approve, does not work the inbox
    page.goto(f"/inbox/{conversation.pk}/")
    history = page.get_by_role("region", name="History", exact=True)
    assert history.get_by_role("button", name="Approve this reply").is_visible()
    assert history.get_by_role("button", name="Reject this reply").is_visible()
    assert history.get_by_label("Reason for rejecting").is_visible()
    check_page(page)

    history.get_by_label("Reason for rejecting").fill("Please name the street team.")
    history.get_by_role("button", name="Reject this reply").click()
    page.wait_for_url(f"**/inbox/{conversation.pk}/")
    assert "Reply rejected" in page.get_by_role("status").first.inner_text()
    draft.refresh_from_db()
    assert draft.state == ReplyState.REJECTED
    assert "Please name the street team." in page.get_by_role("region", name="History", exact=True).inner_text()
    check_page(page)


def test_typing_a_reply_shows_a_second_agent_that_someone_is_replying(new_page, live_server, westmere):
    second = add_member(westmere.org, "agent", SECOND_AGENT_EMAIL, ["Customer Services"])
    conversation = _simple_conversation(westmere)
    watcher = _sign_in(new_page, live_server, SECOND_AGENT_EMAIL)
    watcher.goto(f"/inbox/{conversation.pk}/")
    presence_text = watcher.locator("#presence-text")

    typist = _sign_in(new_page, live_server, AGENT_EMAIL)
    typist.goto(f"/inbox/{conversation.pk}/")
    # The typist sees the watcher (the watcher's page has sent "viewing" already).
    typist.locator("#presence-text").filter(has_text=f"{second.user.full_name} is viewing").wait_for(timeout=8000)
    assert not presence_text.inner_text().endswith("is replying")

    started = time.monotonic()
    typist.get_by_label("Your reply to Priya Shah").press_sequentially("Hello Priya, ")
    name = westmere.agent.user.full_name
    presence_text.filter(has_text=f"{name} is replying").wait_for(timeout=8000)
    assert time.monotonic() - started <= 7, time.monotonic() - started
    assert presence_text.get_attribute("role") == "status" and presence_text.is_visible()


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
